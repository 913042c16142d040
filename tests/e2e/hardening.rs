//! Issue 11, the hardening items: each test reproduces what the adversarial
//! trial or the new team did on main, with real git, real binaries and real
//! age keys, and checks the fixed behaviour.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli_support::{Dev, World, stderr};
use clef_e2e::{bin, ok};

/// A developer with an initialised repository (`api` × `dev`, `production`)
/// and one committed key.
fn repo(w: &World, name: &str) -> Dev {
    let d = w.dev(name);
    d.init("api", "dev,production", &["--non-interactive"]);
    d.ok(&["set", "api/dev", "DB_URL", "postgres://base-value"]);
    d.commit_all_unchecked("base");
    d
}

/// Replaces the line of `file` that starts with `prefix` by `line` (what a
/// hand edit or a hostile commit does to a cell).
fn replace_line(file: &std::path::Path, prefix: &str, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.lines().any(|l| l.starts_with(prefix)), "{prefix}");
    let out: String = text
        .split_inclusive('\n')
        .map(|l| {
            if l.starts_with(prefix) {
                format!("{line}\n")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(file, out).unwrap();
}

/// Runs `c`, killing it after `limit`: returns the output and whether it
/// finished in time.
fn run_within(mut c: Command, limit: Duration) -> (std::process::Output, bool) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return (child.wait_with_output().expect("output"), true);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return (child.wait_with_output().expect("output"), false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- item 9

#[test]
fn a_committed_directory_symlink_cannot_lead_writes_out_of_the_work_tree() {
    let w = World::new();
    let d = repo(&w, "mallory");
    let outside = w.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // The attacker's commit: secrets/api is a symlink to a directory elsewhere.
    std::fs::remove_dir_all(d.root.join("secrets/api")).unwrap();
    std::os::unix::fs::symlink(&outside, d.root.join("secrets/api")).unwrap();
    for args in [
        &["set", "api/dev", "NEW_KEY", "value-123456"][..],
        &["set", "api/production", "NEW_KEY", "value-123456"][..],
        &["get", "api/dev", "DB_URL"][..],
    ] {
        let o = d.clef(args);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("resolves outside the repository"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was written outside the work tree"
    );
    // A symlink that stays inside the tree is fine.
    std::fs::remove_file(d.root.join("secrets/api")).unwrap();
    std::fs::create_dir_all(d.root.join("secrets/real-api")).unwrap();
    std::os::unix::fs::symlink("real-api", d.root.join("secrets/api")).unwrap();
    d.ok(&["set", "api/production", "INSIDE", "value-654321"]);
    assert!(
        d.root
            .join("secrets/real-api/production.enc.yaml")
            .is_file()
    );
}

// ---------------------------------------------------------------- item 10

#[test]
fn a_tracked_local_config_is_refused() {
    let w = World::new();
    let d = repo(&w, "pat");
    // What a pulled branch that commits .clef/config.yaml does.
    std::fs::write(
        d.root.join(".clef/config.yaml"),
        "age_key_file: /dev/zero\n",
    )
    .unwrap();
    ok(d.git(&["add", "-f", ".clef/config.yaml"]));
    ok(d.git(&["commit", "-q", "--no-verify", "-m", "team config"]));
    let mut c = d.cmd(bin("clef"));
    c.args(["get", "api/dev", "DB_URL"]);
    let (o, in_time) = run_within(c, Duration::from_secs(20));
    assert!(in_time, "clef hung on the tracked config");
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("tracked by git") && stderr(&o).contains("git rm --cached"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn key_files_must_be_small_regular_files() {
    let w = World::new();
    let d = repo(&w, "quinn");
    let fifo = d.home.join("fifo");
    ok({
        let mut c = Command::new("mkfifo");
        c.arg(&fifo);
        clef_e2e::run(c)
    });
    let big = d.home.join("big-keys.txt");
    std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).unwrap();
    for (path, why) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (d.home.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than"),
    ] {
        // Through the (untracked) local config, and through the environment.
        std::fs::write(
            d.root.join(".clef/config.yaml"),
            format!("age_key_file: {path}\n"),
        )
        .unwrap();
        let mut c = d.cmd(bin("clef"));
        c.args(["get", "api/dev", "DB_URL"]);
        let (o, in_time) = run_within(c, Duration::from_secs(20));
        assert!(in_time, "{path}: clef hung");
        assert!(!o.status.success());
        assert!(stderr(&o).contains(why), "{path}: {}", stderr(&o));
        let mut c = d.cmd(bin("clef"));
        c.env("SOPS_AGE_KEY_FILE", path)
            .args(["sops", "decrypt", "secrets/api/dev.enc.yaml"]);
        let (o, in_time) = run_within(c, Duration::from_secs(20));
        assert!(in_time, "{path}: clef sops hung");
        assert!(stderr(&o).contains(why), "{path}: {}", stderr(&o));
    }
}

// ---------------------------------------------------------------- item 6

#[test]
fn values_and_secret_keys_are_never_echoed_and_names_are_escaped() {
    let w = World::new();
    let d = repo(&w, "rita");
    let o = d.clef(&["set", "api/dev", "DB_PASSWORD=hunter2-canary"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("hunter2"), "{}", stderr(&o));
    assert!(stderr(&o).contains("DB_PASSWORD"), "{}", stderr(&o));

    let key = std::fs::read_to_string(d.identity()).unwrap();
    let secret = key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned();
    for args in [
        vec!["recipients", "add", secret.as_str()],
        vec!["recipients", "add", &secret[..40]],
        vec!["recipients", "remove", secret.as_str()],
    ] {
        let o = d.clef(&args);
        assert!(!o.status.success());
        let all = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
        assert!(!all.contains(&secret[16..40]), "secret key echoed: {all}");
        assert!(!all.contains(&secret[16..40].to_lowercase()), "{all}");
        assert!(all.contains("SECRET key"), "{all}");
    }

    // A key name carrying terminal escapes (written with the sops engine,
    // as a hostile commit could): every listing shows it escaped.
    let mut c = d.cmd(bin("clef"));
    c.env("SOPS_AGE_KEY_FILE", d.identity()).args([
        "sops",
        "set",
        "secrets/api/dev.enc.yaml",
        "[\"EVIL\u{1b}]0;pwned\u{7}\u{1b}[2J\"]",
        "\"x\"",
    ]);
    ok(clef_e2e::run(c));
    let listing = d.clef(&["list", "api/dev"]);
    let diff = d.clef(&["diff", "api", "dev", "production"]);
    for o in [&listing, &diff] {
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
        assert!(!text.contains('\u{1b}'), "raw escape: {text:?}");
        assert!(text.contains("EVIL\\x1b]0;pwned\\x07\\x1b[2J"), "{text}");
    }
}

/// The bytes of `o`'s stdout and stderr, checked for a raw escape and for
/// the escaped form `shown`.
fn assert_escaped(o: &std::process::Output, shown: &str) {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "raw escape: {text:?}"
    );
    assert!(text.contains(shown), "{text}");
}

#[test]
fn clef_sops_messages_escape_file_names() {
    let Some(e) = crate::sops_interop::env() else {
        return;
    };
    let plain = e.write("plain.yaml", b"a: 1\nb: two\n");
    let made = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    e.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {},{}\n",
            e.k1.recipient, e.k2.recipient
        )
        .as_bytes(),
    );
    let evil = e.write("x\u{1b}]0;pwned\u{7}\u{1b}[2J.enc.yaml", &made);
    let shown = "x\\x1b]0;pwned\\x07\\x1b[2J.enc.yaml";
    let o = e.clef(&["updatekeys", "-y", &evil], &e.k1.file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_escaped(&o, shown);
    // Nothing left to do: the "already up to date" line.
    let o = e.clef(&["updatekeys", "-y", &evil], &e.k1.file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_escaped(&o, shown);
    // --ignore-mac's warning names the file.
    let text = std::fs::read_to_string(&evil).unwrap();
    let tampered: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("b: "))
        .collect();
    std::fs::write(&evil, tampered).unwrap();
    let o = e.clef(&["decrypt", "--ignore-mac", &evil], &e.k1.file);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("MAC mismatch ignored"),
        "{}",
        stderr(&o)
    );
    let err = std::process::Output {
        stdout: Vec::new(),
        ..o
    };
    assert_escaped(&err, shown);
}

#[test]
fn service_listings_escape_what_clef_yaml_says() {
    let w = World::new();
    let d = repo(&w, "sven");
    let out = d.ok(&[
        "service",
        "create",
        "gw",
        "--namespaces",
        "api",
        "--description",
        "gate\u{1b}]0;pwned\u{7}\u{1b}[2Jway",
    ]);
    assert!(out.contains("Private keys of 'gw'"), "{out}");
    let shown = "gate\\x1b]0;pwned\\x07\\x1b[2Jway";
    assert_escaped(&d.clef(&["service", "show", "gw"]), shown);
    // JSON keeps the exact text, as JSON escapes.
    let json = d.ok(&["service", "show", "gw", "--json"]);
    assert!(!json.contains('\u{1b}'), "{json:?}");
    assert!(
        json.to_lowercase().contains("gate\\u001b]0;pwned"),
        "{json}"
    );
}

// ---------------------------------------------------------------- item 7

#[test]
fn a_key_the_crypt_rule_leaves_in_clear_needs_a_flag() {
    let w = World::new();
    let d = repo(&w, "sam");
    let o = d.clef(&["set", "api/dev", "TOKEN_unencrypted", "clear-canary-77"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("CLEAR TEXT"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("clear-canary-77"));
    let cell = std::fs::read_to_string(d.root.join("secrets/api/dev.enc.yaml")).unwrap();
    assert!(!cell.contains("TOKEN_unencrypted"), "nothing written");

    let o = d.clef(&[
        "set",
        "api/dev",
        "TOKEN_unencrypted",
        "clear-canary-77",
        "--allow-unencrypted",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("WARNING"), "{}", stderr(&o));
    let cell = std::fs::read_to_string(d.root.join("secrets/api/dev.enc.yaml")).unwrap();
    assert!(cell.contains("TOKEN_unencrypted: clear-canary-77"));
    d.oracle_decrypts_all();

    // import: the same rule, for every key it would write
    let env = d.root.join("in.env");
    std::fs::write(&env, "PLAIN_OK=fine\nOTHER_unencrypted=clear-canary-88\n").unwrap();
    let o = d.clef(&["import", "api/dev", env.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("OTHER_unencrypted would be stored in CLEAR TEXT"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("clear-canary-88"));
    let cell = std::fs::read_to_string(d.root.join("secrets/api/dev.enc.yaml")).unwrap();
    assert!(
        !cell.contains("PLAIN_OK") && !cell.contains("OTHER_unencrypted"),
        "nothing written"
    );
    let o = d.clef(&[
        "import",
        "api/dev",
        env.to_str().unwrap(),
        "--allow-unencrypted",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("WARNING"), "{}", stderr(&o));
    d.oracle_decrypts_all();
}

// ---------------------------------------------------------------- item 12

#[test]
fn clef_sops_set_and_clef_set_do_not_lose_updates() {
    let w = World::new();
    let d = repo(&w, "tess");
    let mut children = Vec::new();
    for i in 0..12 {
        let mut c = d.cmd(bin("clef"));
        if i % 2 == 0 {
            c.args(["set", "api/dev", &format!("K{i}"), &format!("value-{i}")]);
        } else {
            c.env("SOPS_AGE_KEY_FILE", d.identity()).args([
                "sops",
                "set",
                "secrets/api/dev.enc.yaml",
                &format!("[\"K{i}\"]"),
                &format!("\"value-{i}\""),
            ]);
        }
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        children.push(c.spawn().expect("spawn"));
    }
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let keys = d.ok(&["list", "api/dev"]);
    for i in 0..12 {
        assert!(keys.contains(&format!("K{i} ")), "K{i} lost: {keys}");
    }
}

#[test]
fn a_killed_writer_leaves_no_stale_lock_and_no_visible_temp_file() {
    let w = World::new();
    let d = repo(&w, "uma");
    // An older clef killed with -9 left its lock file behind.
    std::fs::write(d.root.join(".git/clef.lock"), b"").unwrap();
    let t = Instant::now();
    d.ok(&["set", "api/dev", "AFTER_CRASH", "value-1"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "waited on a stale lock"
    );

    // A writer holding the lock and killed with -9 (util-linux flock takes
    // the same kind of lock clef does).
    let mut holder = d
        .cmd("flock")
        // -o: the lock stays with flock itself, not with its child.
        .args(["-o", ".git/clef.lock", "sleep", "60"])
        .spawn()
        .expect("util-linux flock");
    std::thread::sleep(Duration::from_millis(300));
    let mut c = d.cmd(bin("clef"));
    c.args(["set", "api/dev", "WAITED", "value-2"]);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let waiting = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let o = waiting.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.ok(&["list", "api/dev"]).contains("WAITED"));

    // The partial temp file a killed write leaves: removed by the next
    // writer of the cell, and ignored by git until then.
    let tmp = d
        .root
        .join("secrets/api/.production.enc.yaml.clef-tmp-0123456789ab");
    std::fs::write(&tmp, b"partial").unwrap();
    let ignored = d.git(&[
        "check-ignore",
        "-q",
        "secrets/api/.production.enc.yaml.clef-tmp-0123456789ab",
    ]);
    assert!(ignored.status.success(), "git sees the temp file");
    ok(d.git(&["add", "-A"]));
    let staged = String::from_utf8(ok(d.git(&["diff", "--cached", "--name-only"]))).unwrap();
    assert!(!staged.contains("clef-tmp"), "{staged}");
    d.ok(&["set", "api/production", "X", "value-3"]);
    assert!(!tmp.exists(), "stale temp file removed");
}

// ---------------------------------------------------------------- items 5, 14

/// A repository mid-merge with a conflict on `A` (and a clean key `CLEAN`).
fn conflicted(w: &World, name: &str) -> Dev {
    let d = diverged(w, name);
    assert!(!d.git(&["merge", "--no-edit", "feature"]).status.success());
    d
}

/// Edits `d`'s conflicted `api/dev` by hand: every line of `key` (one in
/// each variant of the conflict document) deleted. Returns the cell's path
/// and the tampered text.
fn tamper(d: &Dev, key: &str) -> (std::path::PathBuf, String) {
    let path = d.root.join("secrets/api/dev.enc.yaml");
    let doc = std::fs::read_to_string(&path).unwrap();
    let tampered: String = doc
        .split_inclusive('\n')
        .filter(|l| !l.starts_with(&format!("{key}:")))
        .collect();
    assert_ne!(tampered, doc);
    std::fs::write(&path, &tampered).unwrap();
    (path, tampered)
}

/// A conflicted cell whose clean key was then deleted by hand ([`tamper`]).
fn tampered_conflict(w: &World, name: &str) -> (Dev, std::path::PathBuf, String) {
    let d = conflicted(w, name);
    let (path, tampered) = tamper(&d, "CLEAN");
    (d, path, tampered)
}

/// `main` and `feature` both changed `A` since their base (no merge yet).
fn diverged(w: &World, name: &str) -> Dev {
    let d = repo(w, name);
    d.ok(&["set", "api/dev", "A", "base-a-value"]);
    d.ok(&["set", "api/dev", "CLEAN", "clean-value"]);
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "base2"]));
    ok(d.git(&["checkout", "-q", "-b", "feature"]));
    d.ok(&["set", "api/dev", "A", "theirs-a-value"]);
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "feature"]));
    ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["set", "api/dev", "A", "ours-a-value"]);
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "main"]));
    d
}

#[test]
fn a_merge_nobody_here_can_decrypt_says_who_can() {
    let w = World::new();
    let d = diverged(&w, "dan");
    // This clone has no identity that opens the cell.
    std::fs::rename(d.root.join(".clef/config.yaml"), d.home.join("config.yaml")).unwrap();
    let o = d.git(&["merge", "--no-edit", "feature"]);
    assert!(!o.status.success());
    let err = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    assert!(
        err.contains("only its recipients in clef.yaml (age1")
            && err.contains("clef recipients add"),
        "{err}"
    );
}

#[test]
fn resolve_outside_a_merge_is_refused() {
    let w = World::new();
    let d = conflicted(&w, "vic");
    let doc = std::fs::read(d.root.join("secrets/api/dev.enc.yaml")).unwrap();
    ok(d.git(&["merge", "--abort"]));
    // The conflict document, committed or copied back outside any merge.
    std::fs::write(d.root.join("secrets/api/dev.enc.yaml"), &doc).unwrap();
    let o = d.clef(&["merge", "resolve", "secrets/api/dev.enc.yaml", "--ours"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("no merge"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(d.root.join("secrets/api/dev.enc.yaml")).unwrap(),
        doc,
        "nothing written"
    );
}

#[test]
fn a_tampered_conflict_document_is_refused() {
    let w = World::new();
    let (d, _, _) = tampered_conflict(&w, "wes");
    let o = d.clef(&["merge", "resolve", "secrets/api/dev.enc.yaml", "--ours"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was edited") && stderr(&o).contains("CLEAN"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("clean-value"));
    // Recreated by git, it resolves; without FILE, every unmerged cell.
    ok(d.git(&["checkout", "-m", "secrets/api/dev.enc.yaml"]));
    let o = d.clef(&["merge", "resolve", "--theirs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("A: took theirs: the merged branch feature"),
        "{}",
        stderr(&o)
    );
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "theirs-a-value");
    assert_eq!(d.ok(&["get", "api/dev", "CLEAN"]), "clean-value");
    d.oracle_decrypts_all();
}

// ---------------------------------------------------------------- item 13

#[test]
fn dotenv_import_follows_the_dotenv_conventions() {
    let w = World::new();
    let d = repo(&w, "xena");
    let env = "# migrated from heroku\n\
        DQ=\"double quoted\"\n\
        SQ='single $quoted'\n\
        export EXPORTED=exported-value\n\
        INLINE=inline-value # the comment\n\
        ESCAPES=\"line1\\nline2\\t\\\"q\\\"\"\n\
        MULTI=\"first\n\
        second\"\n";
    std::fs::write(d.root.join(".env"), env).unwrap();
    let dry = d.clef(&["import", "api/dev", ".env", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let shown = String::from_utf8_lossy(&dry.stdout).into_owned();
    for k in ["DQ", "SQ", "EXPORTED", "INLINE", "ESCAPES", "MULTI"] {
        assert!(
            shown
                .lines()
                .any(|l| l.starts_with("add") && l.contains(k) && l.contains("********")),
            "{k}: {shown}"
        );
    }
    for v in [
        "double quoted",
        "single",
        "exported-value",
        "inline-value",
        "line1",
        "first",
    ] {
        assert!(
            !shown.contains(v) && !stderr(&dry).contains(v),
            "value shown: {shown}"
        );
    }
    d.ok(&["import", "api/dev", ".env"]);
    for (k, v) in [
        ("DQ", "double quoted"),
        ("SQ", "single $quoted"),
        ("EXPORTED", "exported-value"),
        ("INLINE", "inline-value"),
        ("ESCAPES", "line1\nline2\t\"q\""),
        ("MULTI", "first\nsecond"),
    ] {
        assert_eq!(d.ok(&["get", "api/dev", k]), v, "{k}");
    }
    // export --format dotenv reads back to the same values.
    let dotenv = d.ok(&["export", "api/dev", "--format", "dotenv"]);
    let o = d.clef_stdin(
        &["import", "api/production", "--stdin", "--format", "dotenv"],
        dotenv.as_bytes(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for k in ["DQ", "SQ", "ESCAPES", "MULTI", "DB_URL"] {
        assert_eq!(
            d.ok(&["get", "api/production", k]),
            d.ok(&["get", "api/dev", k]),
            "{k}"
        );
    }
    // A key that is not a variable name: exec and export --format shell agree.
    d.ok(&["set", "api/dev", "my-key", "dash-value"]);
    let shell = d.clef(&["export", "api/dev", "--format", "shell"]);
    assert!(shell.status.success(), "{}", stderr(&shell));
    assert!(stderr(&shell).contains("'my-key' is not a valid environment variable name; skipped"));
    assert!(String::from_utf8_lossy(&shell.stdout).contains("export DQ="));
    let exec = d.clef(&["exec", "api/dev", "--", "sh", "-c", "printf %s \"$DQ\""]);
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "double quoted");
    assert!(stderr(&exec).contains("'my-key' is not a valid environment variable name; skipped"));
}

// ---------------------------------------------------------------- item 15

#[test]
fn a_second_clone_and_a_worktree_reuse_the_granted_identity() {
    let w = World::new();
    let d = repo(&w, "yuri");
    ok(d.git(&["push", "-q", ".", "HEAD:refs/heads/keep"]));
    // A second clone by the same developer (same HOME).
    let second = d.root.with_file_name("second");
    let mut c = d.cmd("git");
    c.current_dir(&d.home)
        .args(["clone", "-q"])
        .arg(&d.root)
        .arg(&second);
    ok(clef_e2e::run(c));
    let mut c = d.cmd(bin("clef"));
    c.current_dir(&second).args(["init"]);
    let o = clef_e2e::run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("reusing your identity"),
        "{}",
        stderr(&o)
    );
    let stored = std::fs::read_dir(d.home.join(".config/clef/keys"))
        .unwrap()
        .count();
    assert_eq!(stored, 1, "no second identity");
    let mut c = d.cmd(bin("clef"));
    c.current_dir(&second).args(["get", "api/dev", "DB_URL"]);
    assert_eq!(ok(clef_e2e::run(c)), b"postgres://base-value");

    // A linked worktree has no .clef/config.yaml of its own.
    ok(d.git(&["worktree", "add", "-q", "../wt", "keep"]));
    let wt = d.root.with_file_name("wt");
    assert!(!wt.join(".clef/config.yaml").exists());
    let mut c = d.cmd(bin("clef"));
    c.current_dir(&wt).args(["get", "api/dev", "DB_URL"]);
    assert_eq!(ok(clef_e2e::run(c)), b"postgres://base-value");
    // ... and the merge driver there finds the key too.
    let mut c = d.cmd(bin("clef"));
    c.current_dir(&wt)
        .args(["set", "api/dev", "WT_KEY", "from-worktree"]);
    ok(clef_e2e::run(c));
    let mut c = d.cmd("git");
    c.current_dir(&wt)
        .args(["commit", "-q", "--no-verify", "-am", "wt"]);
    ok(clef_e2e::run(c));
    d.ok(&["set", "api/dev", "MAIN_KEY", "from-main"]);
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "main"]));
    let mut c = d.cmd("git");
    c.current_dir(&wt)
        .args(["merge", "-q", "--no-edit", "main"]);
    let o = clef_e2e::run(c);
    assert!(o.status.success(), "merge in the worktree: {}", stderr(&o));
    let mut c = d.cmd(bin("clef"));
    c.current_dir(&wt).args(["get", "api/dev", "MAIN_KEY"]);
    assert_eq!(ok(clef_e2e::run(c)), b"from-main");
}

#[test]
fn a_clone_reuses_a_granted_identity_from_the_sops_locations() {
    let w = World::new();
    let alice = repo(&w, "alice");
    // Bob already uses sops: his age key is not in clef's key store.
    let kf = w.dir.path().join("bob-sops-key.txt");
    let mut c = alice.cmd("age-keygen");
    c.arg("-o").arg(&kf);
    ok(clef_e2e::run(c));
    let key = std::fs::read_to_string(&kf).unwrap();
    let bob = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    alice.ok(&["recipients", "add", &bob, "--label", "bob"]);
    alice.commit_all_unchecked("bob");

    let secret = key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    let cmd = format!("cat '{}'", kf.display());
    // (location, variable to set, whether clef records a file for it)
    let cases = [
        ("default", None, true),
        (
            "file",
            Some(("SOPS_AGE_KEY_FILE", kf.to_str().unwrap())),
            true,
        ),
        ("key", Some(("SOPS_AGE_KEY", &secret)), false),
        ("cmd", Some(("SOPS_AGE_KEY_CMD", &cmd)), false),
    ];
    for (name, var, recorded) in cases {
        let d = w.clone_dev(&format!("bob-{name}"), &alice);
        if var.is_none() {
            let default = d.home.join(".config/sops/age/keys.txt");
            std::fs::create_dir_all(default.parent().unwrap()).unwrap();
            std::fs::copy(&kf, &default).unwrap();
        }
        let with = |args: &[&str], var: Option<(&str, &str)>| {
            let mut c = d.cmd(bin("clef"));
            c.args(args);
            if let Some((k, v)) = var {
                c.env(k, v);
            }
            clef_e2e::run(c)
        };
        let o = with(&["init"], var);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("reusing your sops identity") && err.contains(&bob),
            "{name}: {err}"
        );
        assert!(!err.contains(&secret), "{name}: secret echoed");
        assert!(
            !d.home.join(".config/clef/keys").exists(),
            "{name}: a new identity was made"
        );
        let local = d.root.join(".clef/config.yaml");
        assert_eq!(local.exists(), recorded, "{name}: local config");
        // A recorded file works without the variable (git's merge driver and
        // hooks may run without it); a key with no file needs it.
        let o = with(
            &["get", "api/dev", "DB_URL"],
            if recorded { None } else { var },
        );
        assert_eq!(ok(o), b"postgres://base-value", "{name}");
    }
}

// ---------------------------------------------------------------- item 16

#[test]
fn onboarding_and_everyday_rough_edges() {
    let w = World::new();
    let alice = repo(&w, "alice");
    // Bob's hint carries his name, resolved in his shell.
    let bob = w.clone_dev("bob", &alice);
    ok(bob.git(&["config", "user.name", "Bob O'Brien"]));
    let o = bob.clef(&["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--label 'Bob O'\\''Brien'") && !stderr(&o).contains("$(git config"),
        "{}",
        stderr(&o)
    );

    // Before init, get says to run clef init.
    let carol = w.clone_dev("carol", &alice);
    let o = carol.clef(&["get", "api/dev", "DB_URL"]);
    assert_eq!(o.status.code(), Some(128));
    assert!(stderr(&o).contains("clef init"), "{}", stderr(&o));

    // init in a subdirectory sets up the top of the work tree.
    let dave = w.dev("dave");
    std::fs::create_dir_all(dave.root.join("sub/dir")).unwrap();
    let mut c = dave.cmd(bin("clef"));
    c.current_dir(dave.root.join("sub/dir")).args([
        "init",
        "--namespaces",
        "api",
        "--environments",
        "dev",
    ]);
    ok(clef_e2e::run(c));
    assert!(dave.root.join("clef.yaml").is_file());
    assert!(!dave.root.join("sub/dir/clef.yaml").exists());
    assert!(dave.root.join(".gitattributes").is_file());

    // An empty value at the hidden prompt is refused.
    let (done, text) =
        crate::cli_support::clef_in_pty(&alice, "set api/dev EMPTY", &[("input hidden", "")]);
    assert!(!done, "{text}");
    assert!(text.contains("empty value"), "{text}");
    assert!(!alice.ok(&["list", "api/dev"]).contains("EMPTY"));

    // Words, not internal labels.
    alice.ok(&["set", "api/dev", "ONLY_DEV", "x-value"]);
    let diff = String::from_utf8(alice.clef(&["diff", "api", "dev", "production"]).stdout).unwrap();
    assert!(
        diff.contains("only in dev") && !diff.contains("missing_"),
        "{diff}"
    );

    // lint: a damaged value is not "clear text"; a conflict is not a YAML error.
    let cell = alice.root.join("secrets/api/dev.enc.yaml");
    let text = std::fs::read_to_string(&cell).unwrap();
    replace_line(
        &cell,
        "ONLY_DEV: ENC[",
        "ONLY_DEV: ENC[AES256_GCM,data:broken]",
    );
    let lint = alice.clef(&["lint"]);
    let out = String::from_utf8_lossy(&lint.stdout);
    assert!(
        out.contains("damaged") && !out.contains("clear text"),
        "{out}"
    );
    // ... and its fix is to restore or set it again, not `rotate`
    assert!(
        out.lines()
            .filter(|l| l.contains("ONLY_DEV"))
            .all(|l| !l.contains("rotate")),
        "{out}"
    );
    std::fs::write(
        &cell,
        format!("<<<<<<< ours\n{text}=======\n{text}>>>>>>> theirs\n"),
    )
    .unwrap();
    let lint = alice.clef(&["lint"]);
    let out = String::from_utf8_lossy(&lint.stdout);
    assert!(
        out.contains("unresolved merge conflict") && out.contains("clef merge"),
        "{out}"
    );
}

// ---------------------------------------------------------------- item 17

#[test]
fn hook_advice_is_accurate() {
    use crate::hooks_util::{allowed, blocked, repo as hooked, token};
    let s = hooked();
    let remote = s.home.join("remote.git");
    ok(s.git(&["init", "-q", "--bare", remote.to_str().unwrap()]));
    ok(s.git(&["remote", "add", "origin", remote.to_str().unwrap()]));
    allowed(s.git(&["push", "-q", "origin", "main"]));
    // A secret committed with --no-verify, then pushed: rewrite, not `git add`.
    s.write("cfg.ini", format!("token = {}\n", token()));
    ok(s.git(&["add", "cfg.ini"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "cfg"]));
    let err = blocked(s.git(&["push", "-q", "origin", "main"]));
    assert!(err.contains("git rebase -i origin/main"), "{err}");
    assert!(err.contains("--range origin/main..HEAD"), "{err}");
    assert!(
        !err.contains("<remote>") && !err.contains("then `git add"),
        "{err}"
    );

    // A new baseline that is not committed: the hook says so.
    std::fs::create_dir_all(s.root.join(".clef")).unwrap();
    let mut c = s.cmd(bin("clef-scan"));
    c.current_dir(&s.root)
        .args(["cfg.ini", "--baseline-write", ".clef/scan-baseline.json"]);
    ok(clef_e2e::run(c));
    s.write("notes.txt", "nothing secret\n");
    ok(s.git(&["add", "notes.txt"]));
    let o = s.git(&["commit", "-q", "-m", "x"]);
    assert!(
        stderr(&o).contains(".clef/scan-baseline.json is not committed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_tracked_husky_hook_is_not_renamed() {
    use crate::hooks_util::repo as hooked;
    let s = hooked();
    ok(s.git(&["config", "core.hooksPath", ".husky"]));
    s.write(".husky/pre-commit", "#!/bin/sh\nnpm test\n");
    ok(s.git(&["add", ".husky/pre-commit"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "husky"]));
    let mut c = s.cmd(bin("clef"));
    c.current_dir(&s.root).args(["hooks", "install"]);
    let o = clef_e2e::run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("WARNING") && out.contains("tracked by git"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(s.root.join(".husky/pre-commit")).unwrap(),
        "#!/bin/sh\nnpm test\n"
    );
    let st = String::from_utf8(ok(s.git(&["status", "--porcelain", ".husky/pre-commit"]))).unwrap();
    assert!(st.trim().is_empty(), "the tracked hook changed: {st}");
}

#[test]
fn a_plaintext_value_in_a_cell_gets_a_fix_that_works() {
    let w = World::new();
    let d = repo(&w, "zoe");
    let cell = d.root.join("secrets/api/dev.enc.yaml");
    replace_line(&cell, "DB_URL: ENC[", "DB_URL: plain-hunter2-value");
    ok(d.git(&["add", "-A"]));
    let o = d.git(&["commit", "-q", "-m", "oops"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(!err.contains("clef sops edit"), "{err}");
    assert!(
        err.contains("git restore --source=HEAD --staged --worktree secrets/api/dev.enc.yaml"),
        "{err}"
    );
    // The advice works.
    ok(d.git(&[
        "restore",
        "--source=HEAD",
        "--staged",
        "--worktree",
        "secrets/api/dev.enc.yaml",
    ]));
    d.ok(&["set", "api/dev", "DB_URL", "postgres://new-value"]);
    d.commit_all("fixed");
}

// ---------------------------------------------------------------- item 14

#[test]
fn resolving_conflicts_is_not_a_dead_end() {
    let w = World::new();
    // A one-key `set` resolves the cell and stages it: `git commit` goes on.
    let d = conflicted(&w, "amy");
    let o = d.clef(&["set", "api/dev", "A", "resolved-a-value"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resolved and staged"), "{}", stderr(&o));
    commit_the_merge(&d);
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "resolved-a-value");

    // On a terminal, resolve asks for each key (values are not shown).
    let d = conflicted(&w, "ben");
    let (done, text) = crate::cli_support::clef_in_pty(
        &d,
        "merge resolve",
        &[(
            "keep [o]urs (your branch main) or [t]heirs (the merged branch feature)",
            "t",
        )],
    );
    assert!(done, "{text}");
    assert!(
        !text.contains("theirs-a-value") && !text.contains("ours-a-value"),
        "{text}"
    );
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "theirs-a-value");

    // A clone without the driver: git merges the cell as text; status and
    // resolve say how to redo it with the driver, and that works.
    let d = conflicted_without_driver(&w, "cat");
    let st = d.ok(&["merge", "status"]);
    assert!(st.contains("git checkout -m"), "{st}");
    let o = d.clef(&["merge", "resolve", "secrets/api/dev.enc.yaml", "--ours"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("clef hooks install && git checkout -m"),
        "{}",
        stderr(&o)
    );
    d.ok(&["hooks", "install"]);
    ok(d.git(&["checkout", "-m", "secrets/api/dev.enc.yaml"]));
    d.ok(&["merge", "resolve", "secrets/api/dev.enc.yaml", "--ours"]);
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "ours-a-value");
}

/// Nothing is left unmerged, and the merge commits.
fn commit_the_merge(d: &Dev) {
    let unmerged =
        String::from_utf8(ok(d.git(&["diff", "--name-only", "--diff-filter=U"]))).unwrap();
    assert!(unmerged.trim().is_empty(), "still unmerged: {unmerged}");
    ok(d.git(&["commit", "-q", "--no-verify", "--no-edit"]));
}

/// [`conflicted`], but the merge runs without the clef driver (git's text merge).
fn conflicted_without_driver(w: &World, name: &str) -> Dev {
    let d = diverged(w, name);
    d.ok(&["hooks", "uninstall"]);
    assert!(!d.git(&["merge", "--no-edit", "feature"]).status.success());
    d
}

/// A repository mid-merge where `main` and `feature` both changed `A` and `B`.
fn two_key_conflict(w: &World, name: &str) -> Dev {
    let d = repo(w, name);
    for (k, v) in [("A", "base-a"), ("B", "base-b")] {
        d.ok(&["set", "api/dev", k, v]);
    }
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "base2"]));
    ok(d.git(&["checkout", "-q", "-b", "feature"]));
    for (k, v) in [("A", "theirs-a"), ("B", "theirs-b")] {
        d.ok(&["set", "api/dev", k, v]);
    }
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "feature"]));
    ok(d.git(&["checkout", "-q", "main"]));
    for (k, v) in [("A", "ours-a"), ("B", "ours-b")] {
        d.ok(&["set", "api/dev", k, v]);
    }
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "main"]));
    assert!(!d.git(&["merge", "--no-edit", "feature"]).status.success());
    d
}

#[test]
fn two_conflicting_keys_have_a_way_out() {
    let w = World::new();
    let d = two_key_conflict(&w, "eve");
    let o = d.clef(&["set", "api/dev", "A", "new-a-value"]);
    assert_eq!(o.status.code(), Some(1));
    let hint = "clef merge resolve secrets/api/dev.enc.yaml --pick B=ours|theirs --pick A=ours";
    assert!(stderr(&o).contains(hint), "{}", stderr(&o));
    // Following it works.
    d.ok(&[
        "merge",
        "resolve",
        "secrets/api/dev.enc.yaml",
        "--pick",
        "B=theirs",
        "--pick",
        "A=ours",
    ]);
    d.ok(&["set", "api/dev", "A", "new-a-value"]);
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "new-a-value");
    assert_eq!(d.ok(&["get", "api/dev", "B"]), "theirs-b");
    ok(d.git(&["commit", "-q", "--no-verify", "-am", "merged"]));
}

#[test]
fn set_on_a_terminal_resolves_a_two_key_conflict() {
    let w = World::new();
    let d = two_key_conflict(&w, "fay");
    // `set A` asks which side B keeps (naming the branches, never a value),
    // writes A, and stages the cell: the merge can be committed at once.
    let (done, text) = crate::cli_support::clef_in_pty(
        &d,
        "set api/dev A new-a-value",
        &[(
            "B (changed on both sides): keep [o]urs (your branch main) or [t]heirs (the merged branch feature)",
            "t",
        )],
    );
    assert!(done, "{text}");
    assert!(
        !text.contains("A (changed"),
        "A is being set: not asked: {text}"
    );
    for v in ["theirs-b", "ours-b", "theirs-a", "ours-a", "new-a-value"] {
        assert!(!text.contains(v), "value {v} shown: {text}");
    }
    assert!(text.contains("conflict resolved and staged"), "{text}");
    commit_the_merge(&d);
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "new-a-value");
    assert_eq!(d.ok(&["get", "api/dev", "B"]), "theirs-b");
    assert_eq!(d.ok(&["get", "api/dev", "DB_URL"]), "postgres://base-value");

    // A conflict document edited by hand (a clean key deleted) is refused by
    // `set` too, as by `merge resolve`: nothing is sealed under a fresh MAC.
    let d = two_key_conflict(&w, "gus");
    tamper(&d, "DB_URL");
    let (done, text) = crate::cli_support::clef_in_pty(&d, "set api/dev A new-a-value", &[]);
    assert!(!done, "{text}");
    assert!(
        text.contains("DB_URL") && text.contains("was edited"),
        "{text}"
    );
}

#[test]
fn during_a_rebase_the_sides_are_named_for_what_they_are() {
    let w = World::new();
    // Rebasing feature onto main: git's "theirs" is your own feature commit
    // being replayed, "ours" is main. The note must say so, not "theirs".
    let d = diverged(&w, "hal");
    ok(d.git(&["checkout", "-q", "feature"]));
    let feature = String::from_utf8(ok(d.git(&["rev-parse", "--short", "HEAD"]))).unwrap();
    assert!(!d.git(&["rebase", "main"]).status.success());
    // status names the conflict in words, not with the engine's label
    let st = d.ok(&["merge", "status"]);
    assert!(
        st.contains("A  (changed on both sides)") && !st.contains("ModifyModify"),
        "{st}"
    );
    let o = d.clef(&["merge", "resolve", "--theirs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "A: took theirs: your commit {} feature being replayed",
            feature.trim()
        )),
        "{err}"
    );
    assert!(!err.contains("merged branch"), "{err}");
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "theirs-a-value");
    ok(d.git(&["-c", "core.editor=true", "rebase", "--continue"]));

    // The same rebase, keeping "ours": main's commit is named.
    let d = diverged(&w, "ida");
    ok(d.git(&["checkout", "-q", "feature"]));
    let main = String::from_utf8(ok(d.git(&["rev-parse", "--short", "main"]))).unwrap();
    assert!(!d.git(&["rebase", "main"]).status.success());
    let o = d.clef(&["merge", "resolve", "--ours"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "A: took ours: the branch being rebased onto (commit {} main)",
            main.trim()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "ours-a-value");
}

#[test]
fn delete_on_a_tampered_conflict_document_is_refused() {
    let w = World::new();
    // `delete` of the conflicting key resolves the cell, so it checks the
    // document against git's index stages as `merge resolve` and `set` do.
    let (d, path, tampered) = tampered_conflict(&w, "joe");
    let o = d.clef(&["delete", "api/dev", "A"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was edited") && stderr(&o).contains("CLEAN"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("clean-value"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        tampered,
        "nothing written"
    );
    // Recreated by git, the same delete resolves the cell; CLEAN stays.
    ok(d.git(&["checkout", "-m", "secrets/api/dev.enc.yaml"]));
    d.ok(&["delete", "api/dev", "A"]);
    assert_eq!(d.ok(&["get", "api/dev", "CLEAN"]), "clean-value");
    assert!(
        !d.ok(&["list", "api/dev"])
            .lines()
            .any(|l| l.starts_with("A "))
    );
    d.oracle_decrypts_all();
}
