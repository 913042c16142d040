//! The driver under real git: merge, rebase, cherry-pick, revert, stash pop,
//! pull, criss-cross, add/add, rename, key rotation, recipient changes,
//! sidecars, a missing identity and a missing binary. After every scenario a
//! plaintext canary check greps the work tree, the temp dir and every object
//! in the repository; after every clean merge the real `sops` decrypts.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod common;

use clef_merge::resolve::{Choice, resolve, status};
use clef_merge::tree3::Side;
use clef_sops::Format;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The real sops (the one lookup of the e2e support crate; `sops` on PATH otherwise).
fn sops_bin() -> PathBuf {
    clef_e2e::sops_bin().unwrap_or_else(|| PathBuf::from("sops"))
}

/// A sandbox: the test-support crate's world (a temp dir) with one person
/// (a fixed HOME) and one or more clones beside it.
struct Sandbox {
    _world: clef_e2e::World,
    dev: clef_e2e::Dev,
    /// The temp dir: every clone, HOME and TMPDIR live below it.
    root: PathBuf,
    /// Every plaintext value planted in this sandbox (must never reach disk).
    canaries: Vec<String>,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    fn new(_name: &str) -> Sandbox {
        let world = clef_e2e::World::new();
        let root = world.dir.path().to_path_buf();
        fs::create_dir_all(root.join("tmp")).expect("mkdir");
        let dev = world
            .person("home")
            .with_identity("Test", "test@example.com")
            .with_date("2026-01-01T00:00:00Z");
        Sandbox {
            _world: world,
            dev,
            root,
            canaries: Vec::new(),
        }
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn cmd(&self, dir: &Path, prog: &Path, args: &[&str], key: bool) -> Run {
        // The one sandbox environment of the test-support crate (fixed
        // identity and dates), plus what these scenarios need on top: a
        // TMPDIR the canary check walks, no editor, no prompt.
        let mut c = self.dev.cmd(prog);
        c.args(args)
            .current_dir(dir)
            .env("TMPDIR", self.root.join("tmp"))
            .env("GIT_EDITOR", "true")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        if key {
            c.env("SOPS_AGE_KEY_FILE", key_file(1));
        }
        let Output {
            status,
            stdout,
            stderr,
        } = c.output().expect("spawn");
        Run {
            ok: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.cmd(dir, Path::new("git"), args, true)
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let r = self.git_in(dir, args);
        assert!(r.ok, "git {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r.stdout
    }

    fn init(&self, name: &str) -> PathBuf {
        let dir = self.repo(name);
        fs::create_dir_all(&dir).expect("mkdir");
        self.git(&dir, &["init", "-q", "-b", "main"]);
        self.configure(&dir, env!("CARGO_BIN_EXE_clef-merge"));
        fs::write(
            dir.join(".gitattributes"),
            "*.enc.yaml merge=clef\n*.enc.json merge=clef\n*.clef-meta.yaml merge=clef-meta\n",
        )
        .expect("write");
        self.git(&dir, &["add", ".gitattributes"]);
        self.git(&dir, &["commit", "-q", "-m", "attributes"]);
        dir
    }

    /// What `clef hooks install` will write (with the missing-binary guard).
    fn configure(&self, dir: &Path, binary: &str) {
        let driver = format!(
            "'{binary}' %O %A %B --path %P --marker-size %L --labels %S %X %Y; rc=$?; [ $rc -eq 126 -o $rc -eq 127 ] && rc=255; exit $rc"
        );
        for name in ["clef", "clef-meta"] {
            self.git(
                dir,
                &[
                    "config",
                    &format!("merge.{name}.name"),
                    "Clef SOPS-aware merge driver",
                ],
            );
            self.git(dir, &["config", &format!("merge.{name}.driver"), &driver]);
            self.git(
                dir,
                &["config", &format!("merge.{name}.recursive"), "binary"],
            );
        }
    }

    /// Writes `text` encrypted (as a fresh file, or as a `sops edit` of the
    /// committed version when there is one) and plants its values as canaries.
    fn write_secret(&mut self, dir: &Path, rel: &str, text: &str) {
        self.plant(text);
        let path = dir.join(rel);
        let format = fmt(rel);
        let bytes = match fs::read(&path) {
            Ok(old) if !old.is_empty() => edit(&old, text, format, &ids(&[1])),
            _ => encrypt_new(text, format, &[R1]),
        };
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).expect("mkdir");
        }
        fs::write(&path, bytes).expect("write");
    }

    fn plant(&mut self, text: &str) {
        for line in text.lines() {
            if let Some((_, v)) = line.split_once(": ").or_else(|| line.split_once("\": ")) {
                let v = v.trim().trim_matches(|c| c == '"' || c == ',');
                if v.starts_with("canary") {
                    self.canaries.push(v.to_owned());
                }
            }
        }
    }

    fn commit_all(&self, dir: &Path, msg: &str) {
        self.git(dir, &["add", "-A"]);
        self.git(dir, &["commit", "-q", "-m", msg]);
    }

    /// Checks out `branch` (`["-b", name]` creates it here), commits what
    /// `theirs` changes, then checks out main and commits what `ours`
    /// changes; main stays checked out.
    fn commit_both_sides(
        &mut self,
        dir: &Path,
        branch: &[&str],
        theirs: impl FnOnce(&mut Sandbox),
        ours: impl FnOnce(&mut Sandbox),
    ) {
        self.git(dir, &[&["checkout", "-q"], branch].concat());
        theirs(self);
        self.commit_all(dir, "theirs");
        self.git(dir, &["checkout", "-q", "main"]);
        ours(self);
        self.commit_all(dir, "ours");
    }

    /// [`Sandbox::commit_both_sides`] where each side writes `rel`.
    fn write_both_sides(
        &mut self,
        dir: &Path,
        branch: &[&str],
        rel: &str,
        ours: &str,
        theirs: &str,
    ) {
        self.commit_both_sides(
            dir,
            branch,
            |sb| sb.write_secret(dir, rel, theirs),
            |sb| sb.write_secret(dir, rel, ours),
        );
    }

    fn sops_decrypt(&self, dir: &Path, rel: &str) -> String {
        let r = self.cmd(dir, &sops_bin(), &["decrypt", rel], true);
        assert!(r.ok, "sops decrypt {rel} failed: {}", r.stderr);
        r.stdout
    }

    /// `rel` decrypts (with sops) to values that include each `(key, value)`.
    fn assert_values(&self, dir: &Path, rel: &str, want: &[(&str, &str)]) {
        let out = self.sops_decrypt(dir, rel);
        for (key, value) in want {
            assert_eq!(value_of(&out, key).as_deref(), Some(*value), "{key}: {out}");
        }
    }

    /// No planted plaintext anywhere on disk: work trees, the temp dir, and
    /// every object of every repository (loose, packed, dangling).
    fn assert_no_plaintext(&self) {
        assert!(!self.canaries.is_empty());
        let mut hits = Vec::new();
        walk(&self.root, &mut |p| {
            if p.components().any(|c| c.as_os_str() == "home") {
                return;
            }
            if let Ok(bytes) = fs::read(p) {
                let text = String::from_utf8_lossy(&bytes);
                for c in &self.canaries {
                    if text.contains(c.as_str()) {
                        hits.push(format!("{} contains {c}", p.display()));
                    }
                }
            }
        });
        for entry in fs::read_dir(&self.root).expect("ls").flatten() {
            let dir = entry.path();
            if !dir.join(".git").exists() {
                continue;
            }
            let all = self.git_in(
                &dir,
                &["cat-file", "--batch-all-objects", "--batch", "--unordered"],
            );
            assert!(all.ok);
            for c in &self.canaries {
                if all.stdout.contains(c.as_str()) {
                    hits.push(format!("an object in {} contains {c}", dir.display()));
                }
            }
        }
        assert!(hits.is_empty(), "plaintext leaked:\n{}", hits.join("\n"));
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

fn fmt(rel: &str) -> Format {
    Format::from_path(Path::new(rel)).expect("format")
}

fn value_of(decrypted_yaml: &str, key: &str) -> Option<String> {
    decrypted_yaml.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix(&format!("{key}: "))
            .map(|v| v.trim().to_owned())
    })
}

const BASE: &str = "db_host: db.internal\ndb_password: canary-base-pw-1111\napi_key: canary-api-2222\npool_size: 10\n";

/// `sops updatekeys` of the file at `f`, in place.
fn change_recipients(f: &Path, add: &[&str], remove: &[&str]) {
    let bytes = fs::read(f).expect("read");
    let changed = recipients(&bytes, Format::Yaml, &ids(&[1]), add, remove);
    fs::write(f, changed).expect("write");
}

fn add_recipient(f: &Path, r: &str) {
    change_recipients(f, &[r], &[]);
}

/// main: BASE; branch `feature` and main then diverge.
fn diverged(sb: &mut Sandbox, name: &str, ours: &str, theirs: &str) -> PathBuf {
    let dir = sb.init(name);
    sb.write_secret(&dir, "secrets/dev.enc.yaml", BASE);
    sb.commit_all(&dir, "base");
    sb.write_both_sides(
        &dir,
        &["-b", "feature"],
        "secrets/dev.enc.yaml",
        ours,
        theirs,
    );
    dir
}

const OURS_CLEAN: &str = "db_host: db.internal\ndb_password: canary-base-pw-1111\napi_key: canary-api-2222\npool_size: 25\n";
const THEIRS_CLEAN: &str = "db_host: db.internal\ndb_password: canary-base-pw-1111\napi_key: canary-api-2222\npool_size: 10\ntimeout: canary-timeout-3333\n";
const OURS_CONFLICT: &str = "db_host: db.internal\ndb_password: canary-ours-pw-4444\napi_key: canary-api-2222\npool_size: 25\n";
const THEIRS_CONFLICT: &str = "db_host: db.internal\ndb_password: canary-theirs-pw-5555\napi_key: canary-api-2222\npool_size: 10\ntimeout: canary-timeout-3333\n";

fn assert_clean_result(sb: &Sandbox, dir: &Path) {
    sb.assert_values(
        dir,
        "secrets/dev.enc.yaml",
        &[
            ("pool_size", "25"),
            ("timeout", "canary-timeout-3333"),
            ("db_password", "canary-base-pw-1111"),
        ],
    );
}

#[test]
fn merge_clean_both_strategies_and_directions() {
    let mut sb = Sandbox::new("merge-clean");
    for strategy in ["ort", "recursive"] {
        let dir = diverged(&mut sb, &format!("r-{strategy}"), OURS_CLEAN, THEIRS_CLEAN);
        let before = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
        sb.git(
            &dir,
            &["merge", "-q", "-s", strategy, "--no-edit", "feature"],
        );
        assert_clean_result(&sb, &dir);
        // Only theirs' addition, lastmodified and mac differ from ours.
        let after = String::from_utf8(fs::read(dir.join("secrets/dev.enc.yaml")).expect("read"))
            .expect("utf8");
        let before = String::from_utf8(before).expect("utf8");
        let changed: Vec<&str> = after
            .lines()
            .filter(|l| !before.lines().any(|b| b == *l))
            .collect();
        assert!(
            changed.iter().any(|l| l.starts_with("timeout: ENC[")),
            "{changed:#?}"
        );
        assert!(
            changed.iter().all(|l| l.starts_with("timeout: ENC[")
                || l.starts_with("    mac: ")
                || l.starts_with("    lastmodified: ")),
            "only theirs' key and the MAC lines change: {changed:#?}"
        );
        // And the other direction (feature merges main).
        sb.git(&dir, &["checkout", "-q", "feature"]);
        sb.git(&dir, &["reset", "-q", "--hard", "HEAD"]);
        sb.git(&dir, &["merge", "-q", "-s", strategy, "--no-edit", "main"]);
        assert_clean_result(&sb, &dir);
    }
    sb.assert_no_plaintext();
}

#[test]
fn merge_conflict_then_resolve_each_way() {
    let mut sb = Sandbox::new("merge-conflict");
    for (i, choice) in ["ours", "theirs", "pick"].iter().enumerate() {
        let dir = diverged(&mut sb, &format!("r{i}"), OURS_CONFLICT, THEIRS_CONFLICT);
        let head = sb.git(&dir, &["rev-parse", "HEAD"]);
        let r = sb.git_in(&dir, &["merge", "--no-edit", "feature"]);
        assert!(!r.ok);
        assert!(r.stdout.contains("CONFLICT"), "{}", r.stdout);
        assert!(
            r.stderr.contains("db_password"),
            "stderr names the key: {}",
            r.stderr
        );
        assert!(
            sb.git(&dir, &["status", "--porcelain"])
                .contains("UU secrets/dev.enc.yaml")
        );
        let doc = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
        let text = String::from_utf8_lossy(&doc).into_owned();
        assert!(text.contains("<<<<<<< HEAD\n"), "{text}");
        assert!(text.contains(">>>>>>> feature\n"));
        // sops refuses the conflict document.
        assert!(
            !sb.cmd(
                &dir,
                &sops_bin(),
                &["decrypt", "secrets/dev.enc.yaml"],
                true
            )
            .ok
        );
        let st = status(&doc, Format::Yaml).expect("status");
        assert_eq!(
            st.keys
                .iter()
                .map(|k| k.path.to_string())
                .collect::<Vec<_>>(),
            ["db_password"]
        );
        let c = match *choice {
            "ours" => Choice {
                default: Some(Side::Ours),
                picks: vec![],
            },
            "theirs" => Choice {
                default: Some(Side::Theirs),
                picks: vec![],
            },
            _ => Choice {
                default: None,
                picks: vec![("db_password".into(), Side::Theirs)],
            },
        };
        let res = resolve(&doc, Format::Yaml, &ids(&[1]), &c).expect("resolve");
        fs::write(dir.join("secrets/dev.enc.yaml"), &res.bytes).expect("write");
        sb.git(&dir, &["add", "secrets/dev.enc.yaml"]);
        sb.git(&dir, &["commit", "-q", "--no-edit"]);
        let want = if *choice == "ours" {
            "canary-ours-pw-4444"
        } else {
            "canary-theirs-pw-5555"
        };
        // Clean changes from both sides survived the conflict.
        sb.assert_values(
            &dir,
            "secrets/dev.enc.yaml",
            &[
                ("db_password", want),
                ("pool_size", "25"),
                ("timeout", "canary-timeout-3333"),
            ],
        );
        assert_ne!(sb.git(&dir, &["rev-parse", "HEAD"]), head);
    }
    sb.assert_no_plaintext();
}

#[test]
fn rebase_with_swapped_sides_clean_and_conflicting() {
    let mut sb = Sandbox::new("rebase");
    let dir = diverged(&mut sb, "clean", OURS_CLEAN, THEIRS_CLEAN);
    sb.git(&dir, &["checkout", "-q", "feature"]);
    sb.git(&dir, &["rebase", "-q", "main"]);
    assert_clean_result(&sb, &dir);

    let dir = diverged(&mut sb, "conflict", OURS_CONFLICT, THEIRS_CONFLICT);
    sb.git(&dir, &["checkout", "-q", "feature"]);
    let r = sb.git_in(&dir, &["rebase", "main"]);
    assert!(!r.ok);
    // Mid-rebase: "ours" is main (upstream), "theirs" is the feature commit.
    let doc = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
    let st = status(&doc, Format::Yaml).expect("status");
    assert_eq!(st.keys.len(), 1);
    let res = resolve(
        &doc,
        Format::Yaml,
        &ids(&[1]),
        &Choice {
            default: Some(Side::Theirs),
            picks: vec![],
        },
    )
    .expect("resolve");
    fs::write(dir.join("secrets/dev.enc.yaml"), &res.bytes).expect("write");
    sb.git(&dir, &["add", "secrets/dev.enc.yaml"]);
    sb.git(&dir, &["-c", "core.editor=true", "rebase", "--continue"]);
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[
            ("db_password", "canary-theirs-pw-5555"),
            ("pool_size", "25"),
        ],
    );
    sb.assert_no_plaintext();
}

#[test]
fn cherry_pick_revert_and_stash_pop() {
    let mut sb = Sandbox::new("sequencer");
    let dir = diverged(&mut sb, "r", OURS_CLEAN, THEIRS_CLEAN);
    sb.git(&dir, &["cherry-pick", "feature"]);
    assert_clean_result(&sb, &dir);

    // Revert main's earlier change while the file has moved on since.
    let main_change = sb.git(&dir, &["rev-parse", "HEAD~1"]).trim().to_owned();
    sb.git(&dir, &["revert", "--no-edit", &main_change]);
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[("pool_size", "10"), ("timeout", "canary-timeout-3333")],
    );

    // stash: local edit, upstream edit of another key, pop.
    sb.write_secret(
        &dir,
        "secrets/dev.enc.yaml",
        "db_host: db.internal\ndb_password: canary-stashed-6666\napi_key: canary-api-2222\npool_size: 10\ntimeout: canary-timeout-3333\n",
    );
    sb.git(&dir, &["stash", "-q"]);
    sb.write_secret(
        &dir,
        "secrets/dev.enc.yaml",
        "db_host: db2.internal\ndb_password: canary-base-pw-1111\napi_key: canary-api-2222\npool_size: 10\ntimeout: canary-timeout-3333\n",
    );
    sb.commit_all(&dir, "host change");
    sb.git(&dir, &["stash", "pop", "-q"]);
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[
            ("db_password", "canary-stashed-6666"),
            ("db_host", "db2.internal"),
        ],
    );
    sb.assert_no_plaintext();
}

#[test]
fn pull_from_a_second_clone_and_criss_cross() {
    let mut sb = Sandbox::new("pull");
    let a = sb.init("a");
    sb.write_secret(&a, "secrets/dev.enc.yaml", BASE);
    sb.commit_all(&a, "base");
    let b = sb.repo("b");
    sb.git(&sb.root, &["clone", "-q", a.to_str().expect("utf8"), "b"]);
    sb.configure(&b, env!("CARGO_BIN_EXE_clef-merge"));
    sb.write_secret(&b, "secrets/dev.enc.yaml", THEIRS_CLEAN);
    sb.commit_all(&b, "in b");
    sb.write_secret(&a, "secrets/dev.enc.yaml", OURS_CLEAN);
    sb.commit_all(&a, "in a");
    sb.git(&b, &["pull", "-q", "--no-rebase", "--no-edit"]);
    assert_clean_result(&sb, &b);

    // Criss-cross: two merges in opposite directions, then change again and merge.
    let dir = diverged(&mut sb, "criss", OURS_CLEAN, THEIRS_CLEAN);
    let main0 = sb.git(&dir, &["rev-parse", "main"]).trim().to_owned();
    let feat0 = sb.git(&dir, &["rev-parse", "feature"]).trim().to_owned();
    sb.git(&dir, &["merge", "-q", "--no-edit", &feat0]);
    sb.git(&dir, &["checkout", "-q", "feature"]);
    sb.git(&dir, &["merge", "-q", "--no-edit", &main0]);
    sb.write_both_sides(
        &dir,
        &["feature"],
        "secrets/dev.enc.yaml",
        "db_host: db3.internal\ndb_password: canary-base-pw-1111\napi_key: canary-api-2222\npool_size: 25\ntimeout: canary-timeout-3333\n",
        "db_host: db.internal\ndb_password: canary-base-pw-1111\napi_key: canary-api-rotated-7777\npool_size: 25\ntimeout: canary-timeout-3333\n",
    );
    let bases = sb.git(&dir, &["merge-base", "--all", "main", "feature"]);
    assert_eq!(bases.lines().count(), 2, "criss-cross has two merge bases");
    sb.git(&dir, &["merge", "-q", "--no-edit", "feature"]);
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[
            ("api_key", "canary-api-rotated-7777"),
            ("db_host", "db3.internal"),
        ],
    );
    sb.assert_no_plaintext();
}

#[test]
fn add_add_and_rename_on_one_side() {
    let mut sb = Sandbox::new("addadd");
    let dir = sb.init("r");
    fs::write(dir.join("README"), "readme\n").expect("write");
    sb.commit_all(&dir, "start");
    sb.write_both_sides(
        &dir,
        &["-b", "feature"],
        "secrets/new.enc.yaml",
        "shared: canary-same-8888\nfrom_ours: canary-o-1010\n",
        "shared: canary-same-8888\nfrom_theirs: canary-t-9999\n",
    );
    sb.git(&dir, &["merge", "-q", "--no-edit", "feature"]);
    sb.assert_values(
        &dir,
        "secrets/new.enc.yaml",
        &[
            ("from_theirs", "canary-t-9999"),
            ("from_ours", "canary-o-1010"),
        ],
    );

    // Rename on one side, modify on the other: %P is the renamed path.
    let dir = diverged(&mut sb, "rename", BASE, THEIRS_CLEAN);
    sb.git(
        &dir,
        &["mv", "secrets/dev.enc.yaml", "secrets/development.enc.yaml"],
    );
    sb.git(&dir, &["commit", "-q", "-m", "rename"]);
    sb.write_secret(&dir, "secrets/development.enc.yaml", OURS_CLEAN);
    sb.commit_all(&dir, "modify renamed");
    sb.git(&dir, &["merge", "-q", "--no-edit", "feature"]);
    assert!(!dir.join("secrets/dev.enc.yaml").exists());
    sb.assert_values(
        &dir,
        "secrets/development.enc.yaml",
        &[("pool_size", "25"), ("timeout", "canary-timeout-3333")],
    );
    sb.assert_no_plaintext();
}

#[test]
fn rotated_key_and_recipient_changes() {
    let mut sb = Sandbox::new("keys");
    let dir = diverged(&mut sb, "rotate", OURS_CLEAN, BASE);
    // theirs: `sops rotate` (new data key) plus a value change.
    sb.git(&dir, &["checkout", "-q", "feature"]);
    let f = dir.join("secrets/dev.enc.yaml");
    let rotated = rotate(&fs::read(&f).expect("read"), Format::Yaml, &ids(&[1]));
    fs::write(&f, rotated).expect("write");
    sb.write_secret(&dir, "secrets/dev.enc.yaml", THEIRS_CLEAN);
    sb.commit_all(&dir, "rotate + add");
    let theirs_key = decrypt(&fs::read(&f).expect("read"), Format::Yaml, &ids(&[1]))
        .data_key()
        .clone();
    sb.git(&dir, &["checkout", "-q", "main"]);
    sb.git(&dir, &["merge", "-q", "--no-edit", "feature"]);
    assert_clean_result(&sb, &dir);
    let merged = decrypt(&fs::read(&f).expect("read"), Format::Yaml, &ids(&[1]));
    assert!(
        *merged.data_key() == theirs_key,
        "the rotated key is adopted"
    );

    // Recipients: theirs adds R2, ours adds R3 and changes a value.
    let dir = diverged(&mut sb, "recipients", OURS_CLEAN, BASE);
    let f = dir.join("secrets/dev.enc.yaml");
    sb.commit_both_sides(
        &dir,
        &["feature"],
        |_| add_recipient(&f, R2),
        |_| add_recipient(&f, R3),
    );
    sb.git(&dir, &["merge", "-q", "--no-edit", "feature"]);
    let bytes = fs::read(&f).expect("read");
    let meta = parse(&bytes, Format::Yaml).meta;
    assert_eq!(meta.age_recipients(), [R1, R3, R2]);
    // Each recipient can decrypt, with the real sops too.
    for k in [2, 3] {
        assert!(
            parse(&bytes, Format::Yaml).decrypt(&ids(&[k])).is_ok(),
            "recipient {k}"
        );
    }
    let r = clef_e2e::clean_cmd(&sops_bin(), &sb.dev.home)
        .args(["decrypt", f.to_str().expect("utf8")])
        .env("SOPS_AGE_KEY_FILE", key_file(3))
        .output()
        .expect("sops");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    // Removal on one side wins.
    let f2 = "secrets/dev.enc.yaml";
    sb.commit_both_sides(
        &dir,
        &["-b", "drop-r3"],
        |_| change_recipients(&f, &[], &[R3]),
        |sb| sb.write_secret(&dir, f2, OURS_CONFLICT),
    );
    sb.git(&dir, &["merge", "-q", "--no-edit", "drop-r3"]);
    let meta = parse(&fs::read(&f).expect("read"), Format::Yaml).meta;
    assert_eq!(meta.age_recipients(), [R1, R2]);
    sb.assert_no_plaintext();
}

#[test]
fn no_identity_and_missing_binary_refuse_the_merge() {
    let mut sb = Sandbox::new("refuse");
    let dir = diverged(&mut sb, "noid", OURS_CLEAN, THEIRS_CLEAN);
    let head = sb.git(&dir, &["rev-parse", "HEAD"]);
    let before = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
    let r = sb.cmd(
        &dir,
        Path::new("git"),
        &["merge", "--no-edit", "feature"],
        false,
    );
    assert!(!r.ok);
    assert!(
        r.stderr.contains("no identity can decrypt") && r.stderr.contains(R1),
        "{}",
        r.stderr
    );
    assert_eq!(sb.git(&dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        fs::read(dir.join("secrets/dev.enc.yaml")).expect("read"),
        before,
        "work tree untouched"
    );
    assert!(
        sb.git(&dir, &["status", "--porcelain", "--untracked-files=all"])
            .trim()
            .is_empty()
    );

    // The driver binary is gone: the guard turns sh's 127 into a refusal.
    let dir = diverged(&mut sb, "nobin", OURS_CLEAN, THEIRS_CLEAN);
    sb.configure(&dir, "/nonexistent/clef-merge");
    let head = sb.git(&dir, &["rev-parse", "HEAD"]);
    let before = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
    let r = sb.git_in(&dir, &["merge", "--no-edit", "feature"]);
    assert!(!r.ok);
    assert_eq!(sb.git(&dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        fs::read(dir.join("secrets/dev.enc.yaml")).expect("read"),
        before
    );
    sb.assert_no_plaintext();
}

#[test]
fn keyless_merge_when_one_side_only_resaved() {
    let mut sb = Sandbox::new("keyless");
    // Ours re-saved the file without changing any value: new lastmodified/mac only.
    let dir = diverged(&mut sb, "r", BASE, THEIRS_CLEAN);
    let r = sb.cmd(
        &dir,
        Path::new("git"),
        &["merge", "--no-edit", "feature"],
        false,
    );
    assert!(r.ok, "{}", r.stderr);
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[("timeout", "canary-timeout-3333")],
    );
    // Ours only added a recipient (same data key), theirs changed values: still
    // mergeable without any identity; R2's wrapped key is copied verbatim.
    let dir = diverged(&mut sb, "updatekeys", BASE, THEIRS_CLEAN);
    let f = dir.join("secrets/dev.enc.yaml");
    sb.git(&dir, &["reset", "-q", "--hard", "HEAD~1"]);
    fs::write(
        &f,
        recipients(
            &fs::read(&f).expect("read"),
            Format::Yaml,
            &ids(&[1]),
            &[R2],
            &[],
        ),
    )
    .expect("write");
    sb.commit_all(&dir, "add R2");
    let r = sb.cmd(
        &dir,
        Path::new("git"),
        &["merge", "--no-edit", "feature"],
        false,
    );
    assert!(r.ok, "{}", r.stderr);
    let bytes = fs::read(&f).expect("read");
    assert_eq!(parse(&bytes, Format::Yaml).meta.age_recipients(), [R1, R2]);
    let p = parse(&bytes, Format::Yaml)
        .decrypt(&ids(&[2]))
        .expect("R2 decrypts, MAC valid");
    assert!(p.docs[0].keys().any(|k| k == "timeout"));
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[("timeout", "canary-timeout-3333")],
    );

    // Both sides changed values: refused without an identity.
    let dir = diverged(&mut sb, "both", OURS_CLEAN, THEIRS_CLEAN);
    let r = sb.cmd(
        &dir,
        Path::new("git"),
        &["merge", "--no-edit", "feature"],
        false,
    );
    assert!(!r.ok);
    assert!(r.stderr.contains(R1), "{}", r.stderr);
    sb.assert_no_plaintext();
}

#[test]
fn json_files_and_sidecars() {
    let mut sb = Sandbox::new("json");
    let dir = sb.init("r");
    let j = |pw: &str, extra: &str| {
        format!("{{\n\t\"password\": \"{pw}\",\n\t\"port\": 8080{extra}\n}}\n")
    };
    sb.write_secret(&dir, "secrets/app.enc.json", &j("canary-json-1212", ""));
    let meta_base = "# Managed by Clef. Do not edit manually.\nversion: 1\npending: []\nrotations:\n  - key: password\n    last_rotated_at: 2026-01-01T00:00:00Z\n    rotated_by: Base <b@x>\n    rotation_count: 3\n";
    fs::write(dir.join("secrets/app.clef-meta.yaml"), meta_base).expect("write");
    sb.commit_all(&dir, "base");
    // A side: the cell's new text, and a rotation of `password` at `at` by `by`.
    let side = |sb: &mut Sandbox, text: &str, at: &str, by: &str| {
        sb.write_secret(&dir, "secrets/app.enc.json", text);
        let meta = meta_base
            .replace("2026-01-01T00:00:00Z", at)
            .replace("Base <b@x>", by)
            .replace(": 3", ": 4");
        fs::write(dir.join("secrets/app.clef-meta.yaml"), meta).expect("write");
    };
    let theirs_text = j(
        "canary-json-1212",
        ",\n\t\"token\": \"canary-json-tok-1313\"",
    );
    let ours_text = j("canary-json-pw2-1414", "");
    sb.commit_both_sides(
        &dir,
        &["-b", "feature"],
        |sb| side(sb, &theirs_text, "2026-03-01T00:00:00Z", "Bob <b@x>"),
        |sb| side(sb, &ours_text, "2026-02-01T00:00:00Z", "Alice <a@x>"),
    );
    sb.git(&dir, &["merge", "-q", "--no-edit", "feature"]);
    let out = sb.sops_decrypt(&dir, "secrets/app.enc.json");
    assert!(
        out.contains("canary-json-pw2-1414") && out.contains("canary-json-tok-1313"),
        "{out}"
    );
    let side = fs::read_to_string(dir.join("secrets/app.clef-meta.yaml")).expect("read");
    assert!(side.contains("rotation_count: 5"), "{side}");
    assert!(side.contains("Bob <b@x>"), "{side}");
    assert!(side.starts_with("# Managed by Clef."), "{side}");
    sb.assert_no_plaintext();
}

#[test]
#[should_panic(expected = "plaintext leaked")]
fn canary_check_catches_a_leak() {
    let mut sb = Sandbox::new("canary");
    let dir = sb.init("r");
    sb.plant("x: canary-leak-1515\n");
    // A plaintext blob in the object database only (not in the work tree).
    fs::write(dir.join("leak.txt"), "canary-leak-1515\n").expect("write");
    sb.git(&dir, &["add", "leak.txt"]);
    fs::remove_file(dir.join("leak.txt")).expect("rm");
    sb.assert_no_plaintext();
}

#[test]
fn apply_backend_checkout_m_and_refusal_in_the_sequencer() {
    let mut sb = Sandbox::new("apply");
    // `git rebase --apply` goes through apply.c's three-way merge (labels ours/theirs).
    let dir = diverged(&mut sb, "apply", OURS_CLEAN, THEIRS_CLEAN);
    sb.git(&dir, &["checkout", "-q", "feature"]);
    sb.git(&dir, &["rebase", "-q", "--apply", "main"]);
    assert_clean_result(&sb, &dir);

    // `git checkout -m` carries a local edit across branches through the driver.
    let dir = diverged(&mut sb, "checkout-m", OURS_CLEAN, THEIRS_CLEAN);
    sb.git(&dir, &["checkout", "-q", "HEAD~1"]);
    sb.write_secret(
        &dir,
        "secrets/dev.enc.yaml",
        "db_host: db.internal\ndb_password: canary-base-pw-1111\napi_key: canary-local-1616\npool_size: 10\n",
    );
    sb.git(&dir, &["checkout", "-q", "-m", "feature"]);
    sb.assert_values(
        &dir,
        "secrets/dev.enc.yaml",
        &[
            ("api_key", "canary-local-1616"),
            ("timeout", "canary-timeout-3333"),
        ],
    );

    // A refusal (no identity) during cherry-pick and rebase: nothing changes.
    for op in [&["cherry-pick", "feature"][..], &["rebase", "feature"][..]] {
        let dir = diverged(&mut sb, op[0], OURS_CLEAN, THEIRS_CLEAN);
        let head = sb.git(&dir, &["rev-parse", "HEAD"]);
        let before = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
        let r = sb.cmd(&dir, Path::new("git"), op, false);
        assert!(!r.ok, "{op:?} must fail");
        assert!(r.stderr.contains("no identity can decrypt"), "{}", r.stderr);
        // Nothing is staged as conflicted and the file has no markers.
        assert!(
            !sb.git(&dir, &["status", "--porcelain"]).contains("UU "),
            "{op:?}"
        );
        let now = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
        assert!(!String::from_utf8_lossy(&now).contains("<<<<<<<"), "{op:?}");
        let _ = sb.git_in(&dir, &["cherry-pick", "--abort"]);
        let _ = sb.git_in(&dir, &["rebase", "--abort"]);
        let after = fs::read(dir.join("secrets/dev.enc.yaml")).expect("read");
        assert!(after == before, "{op:?}: the file is back as it was");
        assert_eq!(sb.git(&dir, &["rev-parse", "HEAD"]), head, "{op:?}");
        assert!(
            sb.git(&dir, &["status", "--porcelain"]).trim().is_empty(),
            "{op:?}"
        );
    }
    sb.assert_no_plaintext();
}
