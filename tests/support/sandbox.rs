//! The one real-git sandbox of the tests: a [`World`] (a temp dir) holds
//! one [`Dev`] per developer, each with their own HOME, TMPDIR and work
//! tree, every command run with [`sandbox_cmd`]'s environment.
//! [`crate::GitSandbox`] is a world with one developer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::{bin, ok, run, sandbox_cmd, sops_bin};

/// One developer: their own HOME (identity lives under it) and a work tree.
pub struct Dev {
    /// HOME (and XDG_CONFIG_HOME under it).
    pub home: PathBuf,
    /// The work tree.
    pub root: PathBuf,
    /// TMPDIR given to every process.
    pub tmp: PathBuf,
    /// Git author and committer.
    name: String,
    email: String,
    /// Fixed author/committer date, when the scenario wants one.
    date: Option<&'static str>,
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
        let d = self.person(name);
        std::fs::create_dir_all(&d.root).expect("mkdir repo");
        ok(d.git(&["init", "-q", "-b", "main"]));
        d
    }

    /// A developer whose repository is a clone of `from`'s.
    pub fn clone_dev(&self, name: &str, from: &Dev) -> Dev {
        let d = self.person(name);
        let mut c = d.cmd("git");
        c.current_dir(&d.home)
            .args(["clone", "-q"])
            .arg(&from.root)
            .arg(&d.root);
        ok(run(c));
        d
    }

    /// A developer with HOME and TMPDIR at `<world>/<name>` and no
    /// repository yet (`root` is `<world>/<name>/repo`).
    pub fn person(&self, name: &str) -> Dev {
        let home = self.dir.path().join(name);
        let tmp = home.join("tmp");
        std::fs::create_dir_all(&tmp).expect("mkdir tmp");
        Dev {
            root: home.join("repo"),
            home,
            tmp,
            name: name.to_owned(),
            email: format!("{name}@clef.invalid"),
            date: None,
        }
    }
}

impl Dev {
    /// The same developer committing as `name <email>`.
    pub fn with_identity(mut self, name: &str, email: &str) -> Dev {
        self.name = name.to_owned();
        self.email = email.to_owned();
        self
    }

    /// The same developer with every author/committer date fixed to `date`.
    pub fn with_date(mut self, date: &'static str) -> Dev {
        self.date = Some(date);
        self
    }

    /// A command with only this developer's environment ([`sandbox_cmd`],
    /// `TMPDIR`, the fixed dates if any), run in the work tree.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = sandbox_cmd(program, &self.home, &self.name, &self.email);
        c.env("TMPDIR", &self.tmp).current_dir(&self.root);
        if let Some(date) = self.date {
            c.env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date);
        }
        c
    }

    /// Runs git in `dir`.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = self.cmd("git");
        c.current_dir(dir).args(args);
        run(c)
    }

    /// Runs git in the work tree.
    pub fn git(&self, args: &[&str]) -> Output {
        self.git_in(&self.root, args)
    }

    /// Writes a file (creating directories) relative to the work tree.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, content).expect("write file");
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

    /// `clef init --namespaces NAMESPACES --environments ENVIRONMENTS` and
    /// `extra` flags, which must succeed: this developer's new repository.
    #[track_caller]
    pub fn init(&self, namespaces: &str, environments: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "init",
            "--namespaces",
            namespaces,
            "--environments",
            environments,
        ];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// `git add -A`, then `git commit -q -m MSG` with the hooks running;
    /// both must succeed.
    #[track_caller]
    pub fn commit_all(&self, msg: &str) {
        ok(self.git(&["add", "-A"]));
        ok(self.git(&["commit", "-q", "-m", msg]));
    }

    /// [`Dev::commit_all`] with `--no-verify`: the hooks do not run.
    #[track_caller]
    pub fn commit_all_unchecked(&self, msg: &str) {
        ok(self.git(&["add", "-A"]));
        ok(self.git(&["commit", "-q", "--no-verify", "-m", msg]));
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
        files_below(&self.root.join("secrets"), &mut out);
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

/// Appends every file below `dir` (recursively) to `out`.
pub fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_below(&p, out);
        } else {
            out.push(p);
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}
