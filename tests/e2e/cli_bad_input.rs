//! `clef` on bad input: one clear line on stderr naming the file/key and the
//! reason, a documented non-zero exit code, never a value, nothing changed.

use std::process::Output;

use crate::cli_support::{Dev, World, stderr};

const SECRET: &str = "very-secret-value-9d8c7b";

fn setup(w: &World) -> Dev {
    let d = w.dev("erin");
    d.ok(&[
        "init",
        "--namespaces",
        "api,web",
        "--environments",
        "dev,production",
    ]);
    d.ok(&["set", "api/dev", "PASSWORD", SECRET]);
    d.ok(&["set", "api/dev", "OTHER", "another-secret-value-1"]);
    d
}

#[track_caller]
fn one_line_failure(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
    assert!(
        !err.contains(SECRET) && !String::from_utf8_lossy(&o.stdout).contains(SECRET),
        "value leaked"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
}

#[test]
fn unknown_targets_and_keys() {
    let w = World::new();
    let d = setup(&w);
    one_line_failure(
        &d.clef(&["get", "payments/dev", "PASSWORD"]),
        2,
        &["unknown namespace 'payments'", "api, web"],
    );
    one_line_failure(
        &d.clef(&["get", "api/qa", "PASSWORD"]),
        2,
        &["unknown environment 'qa'"],
    );
    one_line_failure(
        &d.clef(&["get", "api", "PASSWORD"]),
        2,
        &["namespace/environment"],
    );
    one_line_failure(
        &d.clef(&["get", "api/dev", "NOPE"]),
        1,
        &["secrets/api/dev.enc.yaml", "key 'NOPE' not found"],
    );
    for bad in ["A=B", "LINE\nBREAK", "ünï", "sops", "1ABC"] {
        one_line_failure(
            &d.clef(&["set", "api/dev", bad, "x"]),
            2,
            &["not a valid key name"],
        );
    }
    one_line_failure(
        &d.clef(&["delete", "api/dev", "NOPE"]),
        1,
        &["key 'NOPE' not found"],
    );
}

#[test]
fn values_with_newlines_unicode_and_equals_round_trip() {
    let w = World::new();
    let d = setup(&w);
    let v = "a=b=c\nsecond line ünïcödé ✓ 'q' \"dq\" \\n literal\n\ttab";
    d.ok(&["set", "api/dev", "ODD", v]);
    assert_eq!(d.ok(&["get", "api/dev", "ODD"]), v);
    let mut c = d.cmd("sh");
    c.arg("-c").arg(format!(
        "{}\nprintf '%s' \"$ODD\"",
        d.ok(&["export", "api/dev"])
    ));
    assert_eq!(String::from_utf8_lossy(&clef_e2e::ok(clef_e2e::run(c))), v);
    assert!(d.oracle_decrypts_all() == 0 || d.cells().len() == 4);
}

#[test]
fn malformed_manifest_names_line_and_reason() {
    let w = World::new();
    let d = setup(&w);
    let path = d.root.join("clef.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{good}colour: blue\n")).unwrap();
    one_line_failure(
        &d.clef(&["get", "api/dev", "PASSWORD"]),
        2,
        &["clef.yaml:", "colour: unknown key"],
    );
    std::fs::write(&path, good.replace("name: production", "name: Production")).unwrap();
    one_line_failure(
        &d.clef(&["list", "api/dev"]),
        2,
        &["clef.yaml:5: environments[1].name: 'Production' is not a valid name"],
    );
    std::fs::write(&path, "version: 1\nenvironments: [dev\n").unwrap();
    one_line_failure(&d.clef(&["lint"]), 2, &["clef.yaml:", "invalid YAML"]);
}

#[test]
fn missing_identity() {
    let w = World::new();
    let d = setup(&w);
    std::fs::remove_file(d.root.join(".clef/config.yaml")).unwrap();
    one_line_failure(
        &d.clef(&["get", "api/dev", "PASSWORD"]),
        128,
        &["secrets/api/dev.enc.yaml", "no identity"],
    );
    let mut c = d.cmd(clef_e2e::bin("clef"));
    c.env("SOPS_AGE_KEY_FILE", d.home.join("does-not-exist.txt"))
        .args(["get", "api/dev", "PASSWORD"]);
    one_line_failure(&clef_e2e::run(c), 128, &["does-not-exist.txt"]);
}

#[test]
fn tampered_mac_is_refused() {
    let w = World::new();
    let d = setup(&w);
    let f = d.root.join("secrets/api/dev.enc.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    // Change `lastmodified`, which the MAC authenticates.
    let lm = text
        .lines()
        .find(|l| l.trim_start().starts_with("lastmodified:"))
        .unwrap();
    let tampered = text.replace(lm, "    lastmodified: \"2001-01-01T00:00:00Z\"");
    std::fs::write(&f, &tampered).unwrap();
    one_line_failure(
        &d.clef(&["get", "api/dev", "PASSWORD"]),
        51,
        &["secrets/api/dev.enc.yaml", "MAC"],
    );
    one_line_failure(
        &d.clef(&["set", "api/dev", "X", "y"]),
        51,
        &["secrets/api/dev.enc.yaml"],
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        tampered,
        "nothing written"
    );
    let l = d.clef(&["lint"]);
    assert_eq!(l.status.code(), Some(1));
    let text = String::from_utf8_lossy(&l.stdout);
    assert!(
        text.lines().any(|x| x.starts_with("error")
            && x.contains("secrets/api/dev.enc.yaml")
            && x.contains("MAC")),
        "{text}"
    );
    // A cell that is not SOPS at all.
    std::fs::write(&f, "PASSWORD: plain\n").unwrap();
    one_line_failure(
        &d.clef(&["get", "api/dev", "PASSWORD"]),
        2,
        &["secrets/api/dev.enc.yaml", "not encrypted"],
    );
}

#[test]
fn unwritable_cell_changes_nothing() {
    let w = World::new();
    let d = setup(&w);
    let f = d.root.join("secrets/api/dev.enc.yaml");
    let before = std::fs::read(&f).unwrap();
    // The cell's directory replaced by a read-only place: the target of the
    // write is under a regular file, which fails for every user (root too).
    let dir = d.root.join("secrets/web");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    one_line_failure(
        &d.clef(&["set", "web/dev", "K", "v"]),
        3,
        &["secrets/web/dev", "cannot write"],
    );
    // A read-only directory, where permissions are enforced (not for root).
    let is_root = String::from_utf8_lossy(
        &std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
        == "0";
    if !is_root {
        use std::os::unix::fs::PermissionsExt;
        let cells = d.root.join("secrets/api");
        std::fs::set_permissions(&cells, std::fs::Permissions::from_mode(0o555)).unwrap();
        let o = d.clef(&["set", "api/dev", "K", "v"]);
        std::fs::set_permissions(&cells, std::fs::Permissions::from_mode(0o755)).unwrap();
        one_line_failure(&o, 3, &["cannot write"]);
    }
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn writes_are_refused_mid_merge_except_for_conflicted_cells() {
    let w = World::new();
    let d = setup(&w);
    clef_e2e::ok(d.git(&["add", "-A"]));
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-m", "base"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "-b", "side"]));
    std::fs::write(d.root.join("notes.txt"), "side\n").unwrap();
    clef_e2e::ok(d.git(&["add", "notes.txt"]));
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-m", "side"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "main"]));
    std::fs::write(d.root.join("notes.txt"), "main\n").unwrap();
    clef_e2e::ok(d.git(&["add", "notes.txt"]));
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-m", "main"]));
    assert!(
        !d.git(&["merge", "-q", "side"]).status.success(),
        "the merge conflicts on notes.txt"
    );
    let f = d.root.join("secrets/api/dev.enc.yaml");
    let before = std::fs::read(&f).unwrap();
    one_line_failure(
        &d.clef(&["set", "api/dev", "K", "v"]),
        4,
        &["secrets/api/dev.enc.yaml", "merge is in progress"],
    );
    one_line_failure(&d.clef(&["rotate", "--all"]), 4, &["merge is in progress"]);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    // Reading is fine mid-merge.
    assert_eq!(d.ok(&["get", "api/dev", "PASSWORD"]), SECRET);
    clef_e2e::ok(d.git(&["merge", "--abort"]));

    // A conflicted cell may be written: that resolves the merge.
    clef_e2e::ok(d.git(&["checkout", "-q", "side"]));
    d.ok(&["set", "api/dev", "PASSWORD", "side-value-111"]);
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-am", "side secret"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["set", "api/dev", "PASSWORD", "main-value-222"]);
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-am", "main secret"]));
    // Without the driver registered, git leaves the cell unmerged.
    clef_e2e::ok(d.git(&["config", "--unset", "merge.clef.driver"]));
    assert!(!d.git(&["merge", "-q", "side"]).status.success());
    clef_e2e::ok(d.git(&["checkout", "--ours", "--", "secrets/api/dev.enc.yaml"]));
    d.ok(&["set", "api/dev", "PASSWORD", "resolved-value-333"]);
    assert_eq!(d.ok(&["get", "api/dev", "PASSWORD"]), "resolved-value-333");
}

#[test]
fn recipients_never_lock_the_owner_out_silently() {
    let w = World::new();
    let d = setup(&w);
    let me = d.recipient();
    one_line_failure(
        &d.clef(&["recipients", "add", "age1notarecipient"]),
        2,
        &["invalid age recipient"],
    );
    one_line_failure(
        &d.clef(&["recipients", "remove", &me]),
        2,
        &["you would lose access", "--force"],
    );
    one_line_failure(
        &d.clef(&["recipients", "remove", &me, "-e", "dev"]),
        2,
        &["you would lose access"],
    );
    let manifest = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    assert_eq!(manifest.matches(&me).count(), 1, "clef.yaml unchanged");
    assert_eq!(d.ok(&["get", "api/dev", "PASSWORD"]), SECRET);
}

#[test]
fn lint_reports_schema_and_recipient_drift_without_values() {
    let w = World::new();
    let d = setup(&w);
    std::fs::create_dir_all(d.root.join("schemas")).unwrap();
    std::fs::write(
        d.root.join("schemas/api.yaml"),
        "keys:\n  PASSWORD:\n    required: true\n    pattern: ^https://\n  PORT:\n    type: integer\n    required: true\n  OTHER:\n",
    )
    .unwrap();
    let m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    let m = m.replace(
        "    description: Api configuration\n",
        "    description: Api configuration\n    schema: schemas/api.yaml\n",
    );
    std::fs::write(d.root.join("clef.yaml"), &m).unwrap();
    d.ok(&["set", "api/production", "PORT", "80x"]);
    let l = d.clef(&["lint", "--json"]);
    assert_eq!(l.status.code(), Some(1), "schema errors fail lint");
    let out = String::from_utf8_lossy(&l.stdout).into_owned();
    assert!(
        out.contains(
            "\"key\":\"PASSWORD\",\"message\":\"value does not match the pattern /^https:///\""
        ),
        "{out}"
    );
    assert!(
        out.contains("\"key\":\"PORT\",\"message\":\"value is not an integer\""),
        "{out}"
    );
    assert!(
        out.contains("\"key\":\"PORT\",\"message\":\"required key is missing\""),
        "{out}"
    );
    assert!(
        !out.contains(SECRET) && !out.contains("80x"),
        "lint must not print values"
    );

    // A recipient added to clef.yaml by hand: lint warns, rotate re-encrypts for it.
    let (_, extra) = clef_keys::generate_identity();
    let m = m.replace(
        "    recipients:\n",
        &format!("    recipients:\n      - {extra}\n"),
    );
    std::fs::write(d.root.join("clef.yaml"), &m).unwrap();
    let text = String::from_utf8(d.clef(&["lint"]).stdout).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("warning")
            && l.contains(&extra)
            && l.contains("cannot decrypt this cell")),
        "{text}"
    );
    d.ok(&["rotate", "--all"]);
    let text = String::from_utf8(d.clef(&["lint"]).stdout).unwrap();
    assert!(!text.contains(&extra), "{text}");

    // A missing cell is an error; --fix scaffolds it.
    std::fs::remove_file(d.root.join("secrets/web/dev.enc.yaml")).unwrap();
    let l = d.clef(&["lint"]);
    assert_eq!(l.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&l.stdout).contains("cell web/dev is missing"));
    let l = d.clef(&["lint", "--fix"]);
    assert!(
        !String::from_utf8_lossy(&l.stdout).contains("cell web/dev is missing"),
        "{}",
        String::from_utf8_lossy(&l.stdout)
    );
    assert!(d.root.join("secrets/web/dev.enc.yaml").is_file());
    d.oracle_decrypts_all();
    assert_eq!(d.ok(&["get", "api/dev", "PASSWORD"]), SECRET);
}

/// `clef set` without a value on a terminal: a hidden prompt (run under a
/// pseudo-terminal); the typed value is never echoed. Protected environments
/// ask first on a terminal.
#[test]
fn terminal_prompts() {
    let w = World::new();
    let d = setup(&w);
    let typed = "typed-at-the-prompt-5150";
    let (ok, seen) =
        crate::cli_support::clef_in_pty(&d, "set api/dev TYPED", &[("(input hidden): ", typed)]);
    assert!(ok, "{seen}");
    assert!(!seen.contains(typed), "the value was echoed: {seen}");
    assert_eq!(d.ok(&["get", "api/dev", "TYPED"]), typed);

    let cell = d.root.join("secrets/api/production.enc.yaml");
    let before = std::fs::read(&cell).unwrap();
    let (ok, seen) = crate::cli_support::clef_in_pty(
        &d,
        "set api/production K some-value-1",
        &[("Write to it? [y/N] ", "n")],
    );
    assert!(
        !ok && seen.contains("api/production is protected") && seen.contains("nothing was written"),
        "{seen}"
    );
    assert_eq!(std::fs::read(&cell).unwrap(), before);
    let (ok, seen) = crate::cli_support::clef_in_pty(
        &d,
        "set api/production K",
        &[
            ("Write to it? [y/N] ", "y"),
            ("(input hidden): ", "prod-typed-value-7"),
        ],
    );
    assert!(ok && !seen.contains("prod-typed-value-7"), "{seen}");
    assert_eq!(d.ok(&["get", "api/production", "K"]), "prod-typed-value-7");
    let (ok, seen) =
        crate::cli_support::clef_in_pty(&d, "set api/production K v2-value --yes", &[]);
    assert!(ok && !seen.contains("[y/N]"), "{seen}");
}

/// Concurrent writers to one cell: the write lock serialises them, so no
/// key is lost (without it, read-modify-write races drop keys).
#[test]
fn concurrent_sets_lose_nothing() {
    let w = World::new();
    let d = setup(&w);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut c = d.cmd(clef_e2e::bin("clef"));
            c.args([
                "set",
                "api/dev",
                &format!("PARALLEL_{i}"),
                &format!("parallel-value-{i}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for ch in children {
        let o = ch.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for i in 0..8 {
        assert_eq!(
            d.ok(&["get", "api/dev", &format!("PARALLEL_{i}")]),
            format!("parallel-value-{i}")
        );
    }
    let side = std::fs::read_to_string(d.root.join("secrets/api/dev.clef-meta.yaml")).unwrap();
    assert_eq!(side.matches("key: PARALLEL_").count(), 8, "{side}");
    assert!(!d.root.join(".git/clef.lock").exists(), "lock released");
}

#[test]
fn init_refuses_unsafe_setups() {
    let w = World::new();
    let d = w.dev("jay");
    // A private key must never land inside the repository.
    let mut c = d.cmd(clef_e2e::bin("clef"));
    c.env("XDG_CONFIG_HOME", d.root.join("cfg")).args([
        "init",
        "--namespaces",
        "api",
        "--environments",
        "dev",
    ]);
    one_line_failure(
        &clef_e2e::run(c),
        2,
        &["refusing to put a private key inside the repository"],
    );
    assert!(!d.root.join("clef.yaml").exists());
    assert!(
        !d.root.join("cfg").exists(),
        "nothing created inside the repository"
    );
    // Not a git repository.
    let outside = w.dir.path().join("jay/plain");
    std::fs::create_dir_all(&outside).unwrap();
    let mut c = d.cmd(clef_e2e::bin("clef"));
    c.current_dir(&outside)
        .env("GIT_CEILING_DIRECTORIES", w.dir.path())
        .args(["init", "--namespaces", "api"]);
    one_line_failure(&clef_e2e::run(c), 2, &["not inside a git work tree"]);
    one_line_failure(
        &d.clef(&["init", "--namespaces", "Api"]),
        2,
        &["namespace 'Api' is not a valid name"],
    );
    one_line_failure(
        &d.clef(&["init", "--namespaces", "api", "--backend", "awskms"]),
        2,
        &["--backend awskms needs --aws-kms-arn"],
    );
    one_line_failure(
        &d.clef(&["init", "--namespaces", "api", "--backend", "pgp"]),
        2,
        &["backend 'pgp' is not supported"],
    );
}
