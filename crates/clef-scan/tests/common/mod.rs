//! Test helpers: a sanitized environment for `git` and `clef-scan`, temp
//! repositories with a fixed identity, and fresh fake secrets.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fake GitHub token, fresh per call site (never a real credential).
pub const GHP: &str = "ghp_Zq8mR2vL9xT4nB7cK1pW5sD3fG6hJ0yUeA2b";
/// A fake Stripe key.
pub const STRIPE: &str = "sk_live_9fQ2xLm7Rt4Kp8Zv3Nw6Bc1Y";
/// A fake AWS access key id.
pub const AKIA: &str = "AKIAQ7XZ3KD5MLPW2RTY";

/// A temp directory that the tests own: the test-support crate's one
/// sandbox (a world with one developer, Ada, and her work tree).
pub struct Sandbox {
    _world: clef_e2e::World,
    dev: clef_e2e::Dev,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let world = clef_e2e::World::new();
        let dev = world
            .person("ada")
            .with_identity("Ada Tester", "ada@example.test")
            .with_date("2026-01-02T03:04:05Z");
        std::fs::create_dir_all(&dev.root).expect("mkdir");
        Sandbox { _world: world, dev }
    }

    /// The work tree (the scanned directory).
    pub fn path(&self) -> &Path {
        &self.dev.root
    }

    /// HOME: outside the work tree.
    pub fn home(&self) -> &Path {
        &self.dev.home
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        p
    }

    /// `program` with the sandbox environment (`clef_e2e::sandbox_cmd`:
    /// fixed identity and dates), run in the work tree.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.dev.cmd(program)
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = self.cmd("git").args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn git_init(&self) {
        self.git(&["init", "-q", "-b", "main"]);
        self.git(&["config", "commit.gpgsign", "false"]);
    }

    /// A new repository whose first commit ("init") holds `rel` with `content`.
    pub fn repo_with(rel: &str, content: &str) -> Sandbox {
        let s = Sandbox::new();
        s.git_init();
        s.write(rel, content);
        s.commit_all("init");
        s
    }

    /// Runs `clef-scan ARGS`, which must fail with exit code 2: its stderr.
    pub fn scan_error(&self, args: &[&str]) -> String {
        let out = self.scan(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        stderr
    }

    pub fn commit_all(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Run the `clef-scan` binary in the sandbox.
    pub fn scan(&self, args: &[&str]) -> Output {
        self.scan_with_stdin(args, None)
    }

    /// Run `clef-scan` with extra environment variables.
    pub fn scan_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        self.cmd(env!("CARGO_BIN_EXE_clef-scan"))
            .envs(vars.iter().copied())
            .args(args)
            .output()
            .expect("run clef-scan")
    }

    pub fn scan_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let mut cmd = self.cmd(env!("CARGO_BIN_EXE_clef-scan"));
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn clef-scan");
        if let Some(mut s) = child.stdin.take()
            && let Some(data) = stdin
        {
            s.write_all(data).expect("write stdin");
        }
        child.wait_with_output().expect("wait clef-scan")
    }

    /// Run with `--format json` and parse the report.
    pub fn scan_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut a = vec!["--format", "json"];
        a.extend_from_slice(args);
        let out = self.scan(&a);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "bad json ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }
}

/// The JSON report has exactly one finding: `rule` at `path`, `line`.
pub fn assert_only(v: &serde_json::Value, rule: &str, path: &str, line: u64) {
    assert_eq!(
        rules_of(v),
        vec![(rule.to_string(), path.to_string(), line)],
        "{v}"
    );
}

/// `(rule, path, line)` of every finding in a JSON report.
pub fn rules_of(v: &serde_json::Value) -> Vec<(String, String, u64)> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["rule"].as_str().unwrap_or_default().to_string(),
                        f["path"].as_str().unwrap_or_default().to_string(),
                        f["line"].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
