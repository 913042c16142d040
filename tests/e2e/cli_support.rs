//! Shared pieces of the `clef` CLI tests: a throw-away git repository per
//! developer with a sanitized environment, the real-sops oracle over every
//! cell, and the plaintext canary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clef_e2e::{bin, ok, run, sandbox_cmd, sops_bin};

/// One developer: their own HOME (identity lives under it) and a work tree.
pub struct Dev {
    /// HOME (and XDG_CONFIG_HOME under it).
    pub home: PathBuf,
    /// The work tree.
    pub root: PathBuf,
    /// TMPDIR given to every process.
    pub tmp: PathBuf,
    name: String,
}

/// The test's temp dir; everything of every developer lives below it.
pub struct World {
    /// Keeps the dir alive.
    pub dir: tempfile::TempDir,
}

impl World {
    /// A new empty world.
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A developer with an empty git repository at `<world>/<name>/repo`.
    pub fn dev(&self, name: &str) -> Dev {
        let d = self.dev_without_repo(name);
        std::fs::create_dir_all(&d.root).expect("mkdir repo");
        ok(d.git(&["init", "-q", "-b", "main"]));
        d
    }

    /// A developer whose repository is a clone of `from`'s.
    pub fn clone_dev(&self, name: &str, from: &Dev) -> Dev {
        let d = self.dev_without_repo(name);
        let mut c = d.cmd("git");
        c.current_dir(&d.home)
            .args(["clone", "-q"])
            .arg(&from.root)
            .arg(&d.root);
        ok(run(c));
        d
    }

    fn dev_without_repo(&self, name: &str) -> Dev {
        let home = self.dir.path().join(name);
        let tmp = home.join("tmp");
        std::fs::create_dir_all(&tmp).expect("mkdir tmp");
        Dev {
            root: home.join("repo"),
            home,
            tmp,
            name: name.to_owned(),
        }
    }
}

impl Dev {
    /// A command with only this developer's environment.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let email = format!("{}@clef.invalid", self.name);
        let mut c = sandbox_cmd(program, &self.home, &self.name, &email);
        c.env("TMPDIR", &self.tmp).current_dir(&self.root);
        c
    }

    /// Runs git in the work tree.
    pub fn git(&self, args: &[&str]) -> Output {
        let mut c = self.cmd("git");
        c.args(args);
        run(c)
    }

    /// Runs `clef ARGS`.
    pub fn clef(&self, args: &[&str]) -> Output {
        let mut c = self.cmd(bin("clef"));
        c.args(args);
        run(c)
    }

    /// Runs `clef ARGS` with `input` on stdin.
    pub fn clef_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self.cmd(bin("clef"));
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn clef");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait clef")
    }

    /// `clef ARGS` must succeed; returns stdout as text.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        String::from_utf8(ok(self.clef(args))).expect("utf-8 stdout")
    }

    /// The identity file init created under this developer's config dir.
    pub fn identity(&self) -> PathBuf {
        let keys = self.home.join(".config/clef/keys");
        let dir = std::fs::read_dir(&keys)
            .expect("identity dir")
            .next()
            .expect("one identity")
            .expect("entry");
        dir.path().join("keys.txt")
    }

    /// The public recipient of [`Dev::identity`].
    pub fn recipient(&self) -> String {
        let text = std::fs::read_to_string(self.identity()).expect("identity");
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("public key comment")
            .to_owned()
    }

    /// Every `*.enc.yaml` under the work tree.
    pub fn cells(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root.join("secrets"), &mut out);
        out.retain(|p| p.to_string_lossy().ends_with(".enc.yaml"));
        out.sort();
        out
    }

    /// The real sops 3.11 decrypts every cell with this developer's identity,
    /// to exactly what `clef sops decrypt` prints. Returns the number checked
    /// (0 when the oracle is not installed and not required).
    #[track_caller]
    pub fn oracle_decrypts_all(&self) -> usize {
        let Some(sops) = sops_bin() else { return 0 };
        let cells = self.cells();
        assert!(!cells.is_empty(), "no cells to check");
        for f in &cells {
            let mut c = self.cmd(&sops);
            c.env("SOPS_AGE_KEY_FILE", self.identity())
                .arg("decrypt")
                .arg(f);
            let theirs = run(c);
            assert!(
                theirs.status.success(),
                "sops cannot decrypt {}: {}",
                f.display(),
                String::from_utf8_lossy(&theirs.stderr)
            );
            let mut c = self.cmd(bin("clef"));
            c.env("SOPS_AGE_KEY_FILE", self.identity())
                .args(["sops", "decrypt"])
                .arg(f);
            let ours = ok(run(c));
            assert_eq!(
                String::from_utf8_lossy(&theirs.stdout),
                String::from_utf8_lossy(&ours),
                "{}",
                f.display()
            );
        }
        cells.len()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file below `dir`, plus the decompressed content of every git object
/// of every repository found there: no `needle` may appear in any of them.
#[track_caller]
pub fn assert_no_plaintext(dir: &Path, needles: &[&str]) {
    let mut files = Vec::new();
    walk(dir, &mut files);
    assert!(!files.is_empty());
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut git_bytes = 0;
    for f in &files {
        if let Ok(b) = std::fs::read(f) {
            blobs.push((f.display().to_string(), b));
        }
        if f.file_name().is_some_and(|n| n == "HEAD")
            && f.parent().is_some_and(|p| p.ends_with(".git"))
        {
            let git_dir = f.parent().expect("parent");
            let out = Command::new("git")
                .env("GIT_DIR", git_dir)
                .args(["cat-file", "--batch-all-objects", "--batch"])
                .stdin(Stdio::null())
                .output()
                .expect("git cat-file");
            assert!(out.status.success());
            git_bytes += out.stdout.len();
            blobs.push((format!("git objects of {}", git_dir.display()), out.stdout));
        }
    }
    assert!(
        git_bytes > 0,
        "no git objects found below {}",
        dir.display()
    );
    for n in needles {
        assert!(n.len() >= 8, "canary too short to be meaningful");
        for (name, b) in &blobs {
            assert!(
                !b.windows(n.len()).any(|w| w == n.as_bytes()),
                "plaintext canary found in {name}"
            );
        }
    }
}

/// Runs `clef ARGS` under a pseudo-terminal (util-linux `script`): for each
/// `(prompt, answer)`, waits for `prompt` in the output, then types `answer`
/// and a newline. Returns whether clef succeeded and everything it printed.
pub fn clef_in_pty(d: &Dev, args: &str, steps: &[(&str, &str)]) -> (bool, String) {
    use std::io::Read;
    let mut c = d.cmd("script");
    c.arg("-qec")
        .arg(format!("'{}' {args}", bin("clef").display()))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .expect("util-linux `script` is needed for terminal tests");
    let mut out = child.stdout.take().expect("stdout");
    let mut input = child.stdin.take().expect("stdin");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    for (prompt, answer) in steps {
        let start = seen.len();
        while !String::from_utf8_lossy(&seen[start..]).contains(prompt) {
            let n = out.read(&mut buf).expect("read pty");
            assert!(
                n > 0,
                "no prompt '{prompt}': {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        input
            .write_all(format!("{answer}\n").as_bytes())
            .expect("type");
    }
    drop(input);
    out.read_to_end(&mut seen).expect("read pty");
    let ok = child.wait().expect("wait").success();
    (ok, String::from_utf8_lossy(&seen).into_owned())
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
