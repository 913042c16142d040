//! The README tutorial flow, end to end, in temp git repositories with no
//! other tool than git: init → set (inline, piped, --random) → get → diff →
//! lint → exec → export/import → a second developer joins (recipients add) →
//! rotate. After each step the real sops decrypts every cell; at the end no
//! plaintext value is anywhere on disk (work trees, git objects, TMPDIR).

use crate::cli_support::{World, assert_no_plaintext, stderr};

const DB_URL: &str = "postgres://app:Sup3r-s3cret-pw@db.internal:5432/app";
const TOKEN: &str = "piped-token-value-0b7e4c2d";
const MULTI: &str = "line one = équipe ✓\nline 'two' \"quoted\" $HOME `x`\n";

#[test]
fn tutorial_flow() {
    let w = World::new();
    let alice = w.dev("alice");

    // init
    let o = alice.clef(&[
        "init",
        "--namespaces",
        "api,web",
        "--environments",
        "dev,production",
        "--backend",
        "age",
        "--non-interactive",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let identity = alice.identity();
    assert!(
        !identity.starts_with(&alice.root),
        "identity must live outside the repo"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "identity file mode");
    }
    let manifest = std::fs::read_to_string(alice.root.join("clef.yaml")).unwrap();
    assert!(manifest.contains(&alice.recipient()));
    assert!(manifest.contains("file_pattern: secrets/{namespace}/{environment}.enc.yaml"));
    let attrs = std::fs::read_to_string(alice.root.join(".gitattributes")).unwrap();
    for l in [
        "*.enc.yaml merge=clef",
        "*.enc.json merge=clef",
        "*.clef-meta.yaml merge=clef-meta",
    ] {
        assert!(
            attrs.lines().any(|x| x == l),
            "{l} missing from .gitattributes"
        );
    }
    assert!(alice.root.join(".clefignore").is_file());
    assert!(
        alice
            .git(&["check-ignore", "-q", ".clef/config.yaml"])
            .status
            .success(),
        ".clef/config.yaml must be ignored"
    );
    assert!(
        !alice
            .git(&["check-ignore", "-q", ".clef/policy.yaml"])
            .status
            .success(),
        "policy files must stay committable"
    );
    assert_eq!(alice.cells().len(), 4, "init scaffolds every cell");
    assert_eq!(alice.oracle_decrypts_all() % 4, 0);
    let doctor = alice.clef(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    for check in [
        "manifest",
        "identity",
        "merge driver (secrets)",
        "merge driver (sidecars)",
        ".gitattributes",
        "hooks",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "doctor: {check} not ok:\n{report}"
        );
    }

    // set: inline, piped, random
    alice.ok(&["set", "api/dev", "DB_URL", DB_URL]);
    let o = alice.clef_stdin(
        &["set", "api/dev", "TOKEN"],
        format!("{TOKEN}\n").as_bytes(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    alice.ok(&["set", "api/dev", "API_KEY", "--random"]);
    let o = alice.clef_stdin(&["set", "api/dev", "MULTI"], MULTI.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    alice.ok(&[
        "set",
        "api/production",
        "DB_URL",
        "postgres://prod-only-value-77",
    ]);
    alice.oracle_decrypts_all();
    let sidecar =
        std::fs::read_to_string(alice.root.join("secrets/api/dev.clef-meta.yaml")).unwrap();
    assert!(
        sidecar.contains("pending:\n  - key: API_KEY\n"),
        "{sidecar}"
    );
    assert!(
        sidecar.contains("rotated_by: alice <alice@clef.invalid>"),
        "{sidecar}"
    );

    // get
    assert_eq!(alice.ok(&["get", "api/dev", "DB_URL"]), DB_URL);
    assert_eq!(
        alice.ok(&["get", "api/dev", "TOKEN"]),
        TOKEN,
        "one trailing newline of piped input is dropped"
    );
    assert_eq!(
        alice.ok(&["get", "api/dev", "MULTI"]),
        MULTI.trim_end_matches('\n')
    );
    let random = alice.ok(&["get", "api/dev", "API_KEY"]);
    assert_eq!(random.len(), 64);
    assert!(random.bytes().all(|b| b.is_ascii_hexdigit()));
    let j = alice.ok(&["get", "api/dev", "DB_URL", "--json"]);
    assert!(
        j.contains("\"key\":\"DB_URL\"") && j.contains("\"namespace\":\"api\""),
        "{j}"
    );
    let listed = alice.ok(&["list", "api/dev"]);
    assert!(
        listed.contains("API_KEY") && listed.contains("(pending)") && !listed.contains(DB_URL),
        "{listed}"
    );

    // diff
    let d = alice.clef(&["diff", "api", "dev", "production"]);
    assert_eq!(d.status.code(), Some(1), "diff exits 1 on difference");
    let text = String::from_utf8_lossy(&d.stdout);
    assert!(
        text.contains("changed") && text.contains("only in dev") && text.contains("TOKEN"),
        "{text}"
    );
    assert!(
        !text.contains(DB_URL) && !text.contains("prod-only-value"),
        "diff must mask values"
    );
    let shown = alice.clef(&["diff", "api", "dev", "production", "--show-values"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("prod-only-value-77"));
    assert_eq!(
        alice
            .clef(&["diff", "web", "dev", "production"])
            .status
            .code(),
        Some(0)
    );

    // lint: warns on the pending placeholder, never prints values
    let l = alice.clef(&["lint"]);
    let text = String::from_utf8_lossy(&l.stdout).into_owned();
    assert_eq!(l.status.code(), Some(0), "only warnings: {text}");
    assert!(
        text.lines()
            .any(|x| x.starts_with("warning") && x.contains("API_KEY") && x.contains("pending")),
        "{text}"
    );
    assert!(!text.contains(DB_URL) && !text.contains(TOKEN) && !text.contains(&random));
    let lj = alice.ok(&["lint", "--json"]);
    assert!(
        lj.contains("\"pendingCount\":1") && lj.contains("\"fileCount\":4"),
        "{lj}"
    );

    // exec: variables visible, exit code passed through, --only/--prefix/--no-override
    let script = format!("test \"$DB_URL\" = '{DB_URL}' && test \"$TOKEN\" = '{TOKEN}' && exit 7");
    assert_eq!(
        alice
            .clef(&["exec", "api/dev", "--", "sh", "-c", &script])
            .status
            .code(),
        Some(7)
    );
    let o = alice.clef(&[
        "exec",
        "api/dev",
        "--only",
        "TOKEN",
        "--prefix",
        "APP_",
        "--",
        "sh",
        "-c",
        "test -z \"$DB_URL\" && test -z \"$APP_DB_URL\" && printf %s \"$APP_TOKEN\"",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), TOKEN, "{}", stderr(&o));
    let mut c = alice.cmd(clef_e2e::bin("clef"));
    c.env("TOKEN", "from-env").args([
        "exec",
        "api/dev",
        "--no-override",
        "--",
        "sh",
        "-c",
        "printf %s \"$TOKEN\"",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&clef_e2e::ok(clef_e2e::run(c))),
        "from-env"
    );
    let o = alice.clef(&[
        "exec",
        "api/production",
        "--also",
        "api/dev",
        "--",
        "sh",
        "-c",
        "printf '%s|%s' \"$DB_URL\" \"$TOKEN\"",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("postgres://prod-only-value-77|{TOKEN}"),
        "main target wins, --also fills in"
    );

    // export / import round trips (json and dotenv), and shell export eval'd by sh
    let json = alice.ok(&["export", "api/dev", "--format", "json"]);
    let o = alice.clef_stdin(
        &["import", "web/production", "--stdin", "--format", "json"],
        json.as_bytes(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for k in ["DB_URL", "TOKEN", "MULTI", "API_KEY"] {
        assert_eq!(
            alice.ok(&["get", "web/production", k]),
            alice.ok(&["get", "api/dev", k]),
            "{k} after json round trip"
        );
    }
    let dotenv = alice.ok(&["export", "api/dev", "--format", "dotenv"]);
    let dry = alice.clef_stdin(
        &[
            "import",
            "web/dev",
            "--stdin",
            "--format",
            "dotenv",
            "--dry-run",
        ],
        dotenv.as_bytes(),
    );
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("add"),
        "{}",
        stderr(&dry)
    );
    assert_eq!(alice.ok(&["list", "web/dev"]), "", "dry run writes nothing");
    let o = alice.clef_stdin(&["import", "web/dev", "--stdin"], dotenv.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        alice.ok(&["get", "web/dev", "MULTI"]),
        alice.ok(&["get", "api/dev", "MULTI"])
    );
    let o = alice.clef_stdin(
        &["import", "web/dev", "--stdin", "--format", "json"],
        b"{\"TOKEN\":\"other-value-123\"}",
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("skipped: exists"),
        "no overwrite by default"
    );
    assert_eq!(alice.ok(&["get", "web/dev", "TOKEN"]), TOKEN);
    let o = alice.clef_stdin(
        &[
            "import", "web/dev", "--stdin", "--format", "yaml", "--keys", "A,C", "--prefix",
            "LEGACY_",
        ],
        b"A: 1\nB: two-b-value\nC: true\nD:\n  nested: x\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(alice.ok(&["get", "web/dev", "LEGACY_A"]), "1");
    assert_eq!(alice.ok(&["get", "web/dev", "LEGACY_C"]), "true");
    assert_eq!(
        alice.clef(&["get", "web/dev", "LEGACY_B"]).status.code(),
        Some(1),
        "--keys filters"
    );
    let shell = alice.ok(&["export", "api/dev", "--format", "shell"]);
    let mut c = alice.cmd("sh");
    c.arg("-c").arg(format!("{shell}\nprintf '%s' \"$MULTI\""));
    assert_eq!(
        String::from_utf8_lossy(&clef_e2e::ok(clef_e2e::run(c))),
        MULTI.trim_end_matches('\n'),
        "shell quoting is safe"
    );
    alice.oracle_decrypts_all();

    // commit; a second developer clones, runs init, gets their own identity only
    clef_e2e::ok(alice.git(&["add", "-A"]));
    clef_e2e::ok(alice.git(&["commit", "-q", "-m", "clef init and first secrets"]));
    let bob = w.clone_dev("bob", &alice);
    let o = bob.clef(&["init", "--non-interactive"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bob_r = bob.recipient();
    assert!(
        stderr(&o).contains(&format!("clef recipients add {bob_r}")),
        "bob is told what to ask for: {}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(bob.root.join("clef.yaml")).unwrap(),
        manifest,
        "second init leaves clef.yaml alone"
    );
    let denied = bob.clef(&["get", "api/dev", "DB_URL"]);
    assert_eq!(denied.status.code(), Some(128), "{}", stderr(&denied));
    assert!(!String::from_utf8_lossy(&denied.stdout).contains(DB_URL));

    // recipients add: alice re-wraps the data keys for bob; bob pulls and reads
    alice.ok(&["recipients", "add", &bob_r, "--label", "bob"]);
    assert!(alice.ok(&["recipients", "list"]).contains(&bob_r));
    assert_eq!(
        alice.ok(&["get", "api/dev", "DB_URL"]),
        DB_URL,
        "alice keeps access"
    );
    alice.oracle_decrypts_all();
    clef_e2e::ok(alice.git(&["commit", "-q", "-am", "add bob"]));
    clef_e2e::ok(bob.git(&["pull", "-q", "--no-rebase"]));
    assert_eq!(bob.ok(&["get", "api/dev", "DB_URL"]), DB_URL);
    bob.oracle_decrypts_all();

    // per-environment recipient: carol on production only; alice and bob keep access
    let carol = w.dev("carol");
    carol.clef(&["init", "--namespaces", "x", "--environments", "dev"]);
    let carol_r = carol.recipient();
    alice.ok(&["recipients", "add", &carol_r, "-e", "production"]);
    assert_eq!(
        alice.ok(&["get", "api/production", "DB_URL"]),
        "postgres://prod-only-value-77",
        "the owner is not locked out"
    );
    let m = std::fs::read_to_string(alice.root.join("clef.yaml")).unwrap();
    assert!(
        m.contains(&carol_r) && m.matches(&bob_r).count() == 2,
        "per-env list = current recipients + carol:\n{m}"
    );
    alice.oracle_decrypts_all();

    // rotate: new data key, same values, still readable by sops
    let before = std::fs::read_to_string(alice.root.join("secrets/api/dev.enc.yaml")).unwrap();
    alice.ok(&["rotate", "api/dev"]);
    let after = std::fs::read_to_string(alice.root.join("secrets/api/dev.enc.yaml")).unwrap();
    let enc_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("DB_URL:"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        enc_line(&before),
        enc_line(&after),
        "values re-encrypted under a new data key"
    );
    assert_eq!(alice.ok(&["get", "api/dev", "DB_URL"]), DB_URL);
    alice.ok(&["rotate", "--all"]);
    alice.oracle_decrypts_all();

    // recipients remove: bob loses access to new data keys
    alice.ok(&["recipients", "remove", &bob_r]);
    assert_eq!(alice.ok(&["get", "api/dev", "TOKEN"]), TOKEN);
    alice.oracle_decrypts_all();
    clef_e2e::ok(alice.git(&["add", "-A"]));
    clef_e2e::ok(alice.git(&["commit", "-q", "-m", "rotate, remove bob"]));

    // delete
    alice.ok(&["delete", "api", "TOKEN", "--all-envs"]);
    assert_eq!(
        alice.clef(&["get", "api/dev", "TOKEN"]).status.code(),
        Some(1)
    );
    let sidecar =
        std::fs::read_to_string(alice.root.join("secrets/api/dev.clef-meta.yaml")).unwrap();
    assert!(!sidecar.contains("TOKEN"));

    // The canary: no plaintext value anywhere on disk or in git objects.
    assert_no_plaintext(
        w.dir.path(),
        &[
            DB_URL,
            TOKEN,
            &random,
            "prod-only-value-77",
            "équipe ✓",
            "other-value-123",
        ],
    );
}

#[test]
fn every_command_documents_itself() {
    let w = World::new();
    let d = w.dev("dora");
    for cmd in [
        "init", "set", "get", "delete", "list", "exec", "export", "import", "diff", "lint",
        "rotate", "doctor",
    ] {
        let help = d.ok(&[cmd, "--help"]);
        assert!(
            help.contains("Exit codes:"),
            "{cmd} --help lacks the exit-code table"
        );
    }
    assert!(d.ok(&["migrate-backend", "--help"]).contains("Exit codes:"));
    for cmd in [
        ["recipients", "list"],
        ["recipients", "add"],
        ["recipients", "remove"],
        ["merge", "status"],
        ["hooks", "install"],
    ] {
        d.ok(&[cmd[0], cmd[1], "--help"]);
    }
    for cmd in ["get", "list", "diff", "lint", "doctor", "import"] {
        assert!(
            d.ok(&[cmd, "--help"]).contains("--json"),
            "{cmd} has --json"
        );
    }
}

#[test]
fn json_cells_follow_file_pattern_and_stay_sops_compatible() {
    let w = World::new();
    let d = w.dev("hal");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev"]);
    let path = d.root.join("clef.yaml");
    let m = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        m.replace("{environment}.enc.yaml", "{environment}.enc.json"),
    )
    .unwrap();
    d.ok(&["set", "api/dev", "JSON_KEY", "json-cell-value-\"q\"-✓"]);
    let cell = d.root.join("secrets/api/dev.enc.json");
    let text = std::fs::read_to_string(&cell).unwrap();
    assert!(
        text.starts_with('{') && text.contains("\"sops\"") && !text.contains("json-cell-value"),
        "{text}"
    );
    assert!(d.root.join("secrets/api/dev.clef-meta.yaml").is_file());
    assert_eq!(
        d.ok(&["get", "api/dev", "JSON_KEY"]),
        "json-cell-value-\"q\"-✓"
    );
    if let Some(sops) = clef_e2e::sops_bin() {
        let mut c = d.cmd(sops);
        c.env("SOPS_AGE_KEY_FILE", d.identity())
            .args(["decrypt", "--extract", "[\"JSON_KEY\"]"])
            .arg(&cell);
        assert_eq!(
            String::from_utf8_lossy(&clef_e2e::ok(clef_e2e::run(c))),
            "json-cell-value-\"q\"-✓"
        );
    }
}

/// `clef scan`, `clef hooks` and `clef doctor` over the other crates.
#[test]
fn scan_and_hooks_fronts() {
    let w = World::new();
    let d = w.dev("ida");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev"]);
    d.ok(&[
        "set",
        "api/dev",
        "GH",
        "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    ]);
    let clean = d.clef(&["scan"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "encrypted cells are not findings: {}",
        String::from_utf8_lossy(&clean.stdout)
    );
    std::fs::write(
        d.root.join("config.py"),
        // not an example-looking value: those are summarised, not listed
        "token = 'ghp_R8kq2ZxW9mTfLp3VnB7cYd5HsJ1gQe6uAo4i'\n",
    )
    .unwrap();
    let found = d.clef(&["scan"]);
    assert_eq!(found.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&found.stdout).contains("config.py"));
    std::fs::remove_file(d.root.join("config.py")).unwrap();

    assert!(
        d.clef(&["hooks", "status"]).status.success(),
        "init installed hooks and drivers"
    );
    d.ok(&["hooks", "uninstall"]);
    let doc = String::from_utf8(d.clef(&["doctor"]).stdout).unwrap();
    assert!(
        doc.lines().any(|l| l.starts_with("FAIL")
            && l.contains("hooks")
            && l.contains("clef hooks install")),
        "{doc}"
    );
    assert!(
        doc.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("merge driver (secrets)")),
        "{doc}"
    );
    d.ok(&["hooks", "install"]);
    let doc = String::from_utf8(d.clef(&["doctor", "--json"]).stdout).unwrap();
    assert!(doc.contains("{\"check\":\"hooks\",\"ok\":true"), "{doc}");
}
