//! `clef policy` and `compliance.json` end to end: real git, real sops 3.11
//! decrypting the cells, the venv's Python `jsonschema` validating the
//! document against the schema in `crates/clef-core/schema/`, and the
//! scaffolded GitHub workflow's clef steps run in a clean clone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli_support::{Dev, World, stderr};
use clef_e2e::{bin, ok, run};

const DEFAULT_HASH: &str =
    "sha256:9492fa2d421de1eac831678a0ae2719badff1680d73b5a61bb8b4829c0e85086";

/// The test venv's Python ([`crate::pack_artifact::python`]) when it also
/// has `jsonschema` and `yaml` (test.sh installs both); required when
/// CLEF_REQUIRE_ORACLE=1.
fn python() -> Option<PathBuf> {
    let found = crate::pack_artifact::python().filter(|p| {
        Command::new(p)
            .args(["-c", "import jsonschema, yaml"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() && std::env::var("CLEF_REQUIRE_ORACLE").as_deref() == Ok("1") {
        panic!("Python with `jsonschema` and `yaml` is required (CLEF_REQUIRE_ORACLE=1)");
    }
    found
}

/// Runs a Python script with args; returns (success, stdout, stderr).
fn py(script: &str, args: &[&Path]) -> Option<(bool, String, String)> {
    let p = python()?;
    let o = Command::new(p)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    Some((
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/clef-core/schema/compliance-v1.schema.json")
}

/// Validates a document against the schema (returns false without Python).
#[track_caller]
fn assert_valid(doc: &Path) -> bool {
    let script = "import json,sys,jsonschema\nschema=json.load(open(sys.argv[1]))\njsonschema.Draft202012Validator.check_schema(schema)\njsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))\nprint('ok')";
    let Some((ok, out, err)) = py(script, &[&schema_path(), doc]) else {
        return false;
    };
    assert!(
        ok && out.trim() == "ok",
        "{} does not validate: {err}",
        doc.display()
    );
    true
}

/// A repository with one namespace and two environments, committed.
fn repo(w: &World) -> Dev {
    let d = w.dev("pat");
    d.init("api", "dev,production", &[]);
    d.commit_all("init");
    d
}

fn sidecar(d: &Dev, env: &str) -> PathBuf {
    d.root.join(format!("secrets/api/{env}.clef-meta.yaml"))
}

/// Moves every rotation record of a sidecar to `when`.
fn backdate(d: &Dev, env: &str, when: &str) {
    let p = sidecar(d, env);
    let text = std::fs::read_to_string(&p).expect("sidecar");
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.split_once("last_rotated_at: ") {
            Some((head, _)) => format!("{head}last_rotated_at: {when}"),
            None => l.to_owned(),
        })
        .collect();
    std::fs::write(&p, out.join("\n") + "\n").expect("write sidecar");
}

#[test]
fn overdue_fails_check_and_a_new_value_passes_it() {
    let w = World::new();
    let d = repo(&w);
    // Empty cells: vacuously compliant.
    d.ok(&["policy", "check"]);
    d.ok(&["set", "api/dev", "DB_URL", "postgres://one"]);
    d.ok(&["set", "api/production", "DB_URL", "postgres://two"]);
    let text = std::fs::read_to_string(sidecar(&d, "dev")).unwrap();
    assert!(
        text.contains("rotated_by: pat <pat@clef.invalid>"),
        "rotated_by is git's Name <email>: {text}"
    );
    d.ok(&["policy", "check"]);

    backdate(&d, "dev", "2020-01-01T00:00:00Z");
    let o = d.clef(&["policy", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("DB_URL") && out.contains("overdue"), "{out}");
    // -e filters: production alone passes.
    d.ok(&["policy", "check", "-e", "production"]);
    // JSON: the old tool's shape.
    let o = d.clef(&["policy", "check", "--json", "--per-file"]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["passed"], false);
    assert_eq!(j["summary"]["rotation_overdue"], 1);
    assert_eq!(j["summary"]["total_files"], 2);
    // lint warns, and does not fail on it.
    let lint = d.ok(&["lint"]);
    assert!(lint.contains("rotation overdue"), "{lint}");

    // A new value is a rotation: the check passes again.
    d.ok(&["set", "api/dev", "DB_URL", "postgres://three"]);
    d.ok(&["policy", "check"]);

    // A per-environment override makes production overdue at 1 day.
    backdate(&d, "production", "2026-01-01T00:00:00Z");
    std::fs::create_dir_all(d.root.join(".clef")).unwrap();
    std::fs::write(
        d.root.join(".clef/policy.yaml"),
        "version: 1\nrotation:\n  max_age_days: 100000\n  environments:\n    production:\n      max_age_days: 1\n",
    )
    .unwrap();
    let o = d.clef(&["policy", "check", "--per-file"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 overdue"));
    d.ok(&["policy", "check", "-n", "api", "-e", "dev"]);

    // A record from the future (clock skew) and a missing record are unknown.
    std::fs::remove_file(d.root.join(".clef/policy.yaml")).unwrap();
    backdate(&d, "production", "2999-01-01T00:00:00Z");
    let o = d.clef(&["policy", "check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("unknown (the rotation time is in the future")
    );
    std::fs::remove_file(sidecar(&d, "production")).unwrap();
    let o = d.clef(&["policy", "check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("unknown (no rotation record)"));
    d.oracle_decrypts_all();
}

#[test]
fn configuration_errors_exit_2_with_the_line() {
    let w = World::new();
    let d = repo(&w);
    std::fs::create_dir_all(d.root.join(".clef")).unwrap();
    for (text, want) in [
        (
            "version: 1\nrotation:\n  max_age_days: 0\n",
            ".clef/policy.yaml:3: rotation.max_age_days: must be a whole number of days greater than 0",
        ),
        ("version: 1\nrotation:\n  max_age_days: [\n", "invalid YAML"),
        ("version: 3\n", ".clef/policy.yaml:1: version: must be 1"),
        (
            "version: 1\nrotation:\n  max_age_days: 9\n  environments:\n    staging:\n      max_age_days: 2\n",
            "'staging' not declared in clef.yaml",
        ),
    ] {
        std::fs::write(d.root.join(".clef/policy.yaml"), text).unwrap();
        for cmd in [
            &["policy", "check"][..],
            &["policy", "report"],
            &["policy", "show"],
        ] {
            if cmd[1] == "show" && want.contains("staging") {
                continue;
            }
            let o = d.clef(cmd);
            assert_eq!(o.status.code(), Some(2), "{cmd:?} {text}");
            assert!(stderr(&o).contains(want), "{cmd:?}: {}", stderr(&o));
            assert!(o.stdout.is_empty(), "no partial output");
        }
    }
    std::fs::remove_file(d.root.join(".clef/policy.yaml")).unwrap();
    let o = d.clef(&["policy", "check", "-n", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown namespace 'nope'"));
    let o = d.clef(&["policy", "init", "--ci", "jenkins"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("must be one of github, gitlab, bitbucket, circleci"));
    assert!(
        !d.root.join(".clef/policy.yaml").exists(),
        "nothing written"
    );
}

#[test]
fn compliance_json_validates_and_hashes_like_the_old_tool() {
    let w = World::new();
    let d = repo(&w);
    d.ok(&["set", "api/dev", "API_TOKEN", "s3cr3t-value-for-dev"]);
    // A plaintext secret in a tracked file: the in-process scan finds it.
    std::fs::write(
        d.root.join("config.py"),
        "GITHUB = 'ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'\n",
    )
    .unwrap();
    let o = d.clef(&[
        "policy",
        "report",
        "-o",
        "compliance.json",
        "--sha",
        "abc123",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("failed"), "{}", stderr(&o));
    let path = d.root.join("compliance.json");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(j["policy_hash"], DEFAULT_HASH);
    assert_eq!(
        j["policy_snapshot"],
        serde_json::json!({"version": 1, "rotation": {"max_age_days": 90}})
    );
    assert_eq!(j["sha"], "abc123");
    assert_eq!(j["schema_version"], "1");
    assert_eq!(j["summary"]["total_files"], 2);
    assert_eq!(j["summary"]["scan_violations"], 1);
    assert_eq!(j["scan"]["matches"][0]["file"], "config.py");
    assert_eq!(j["scan"]["matches"][0]["patternName"], "github-pat");
    let files = j["files"].as_array().unwrap();
    assert_eq!(files[0]["path"], "secrets/api/dev.enc.yaml");
    assert_eq!(files[0]["keys"][0]["key"], "API_TOKEN");
    assert_eq!(files[0]["keys"][0]["compliant"], true);
    assert_eq!(files[0]["recipients"][0], d.recipient().as_str());
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        !raw.contains("s3cr3t") && !raw.contains("ghp_AbCdEf"),
        "no value in the document"
    );
    assert!(
        !raw.contains(&d.root.display().to_string()),
        "paths are relative"
    );
    assert_valid(&path);

    // An explicit `version: 1` hashes as the absent file; CI variables win over git.
    std::fs::create_dir_all(d.root.join(".clef")).unwrap();
    std::fs::write(d.root.join(".clef/policy.yaml"), "version: 1\n").unwrap();
    std::fs::remove_file(d.root.join("config.py")).unwrap();
    let mut c = d.cmd(bin("clef"));
    c.args(["policy", "report", "--no-scan"])
        .env("GITHUB_SHA", "f00d")
        .env("GITHUB_REPOSITORY", "acme/api");
    let out = ok(run(c));
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(j["policy_hash"], DEFAULT_HASH);
    assert_eq!(j["sha"], "f00d");
    assert_eq!(j["repo"], "acme/api");
    // Without CI variables: git's HEAD and the origin URL.
    ok(d.git(&[
        "remote",
        "add",
        "origin",
        "git@github.com:acme/payments.git",
    ]));
    let j: serde_json::Value =
        serde_json::from_str(&d.ok(&["policy", "report", "--no-scan", "--no-lint"])).unwrap();
    let head = String::from_utf8(ok(d.git(&["rev-parse", "HEAD"]))).unwrap();
    assert_eq!(j["sha"], head.trim());
    assert_eq!(j["repo"], "acme/payments");
    assert_eq!(j["lint"]["issues"], serde_json::json!([]));
    // An overridden policy hashes differently and shows its overrides.
    std::fs::write(
        d.root.join(".clef/policy.yaml"),
        "version: 1\nrotation:\n  max_age_days: 30\n  environments:\n    production:\n      max_age_days: 7\n",
    )
    .unwrap();
    d.ok(&["policy", "report", "-o", "c2.json", "-e", "production"]);
    let p2 = d.root.join("c2.json");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&p2).unwrap()).unwrap();
    assert_ne!(j["policy_hash"], DEFAULT_HASH);
    assert_eq!(
        j["policy_snapshot"]["rotation"]["environments"]["production"]["max_age_days"],
        7
    );
    assert_eq!(j["summary"]["total_files"], 1, "-e filters the files");
    assert_valid(&p2);
    // --repo wins over CI variables and git.
    let j: serde_json::Value = serde_json::from_str(&d.ok(&[
        "policy",
        "report",
        "--no-scan",
        "--no-lint",
        "--repo",
        "acme/flagged",
    ]))
    .unwrap();
    assert_eq!(j["repo"], "acme/flagged");

    // -n/-e filter the scan and lint too, not only the files: a lint error
    // in production only (the schema requires API_TOKEN, which production
    // lacks), and a dev cell in clear text holding a token.
    std::fs::remove_file(d.root.join(".clef/policy.yaml")).unwrap();
    d.ok(&["schema", "new", "api", "--template", "keys"]);
    std::fs::write(
        d.root.join("secrets/api/dev.enc.yaml"),
        "API_TOKEN: ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n",
    )
    .unwrap();
    let report = |env: &str| -> serde_json::Value {
        serde_json::from_str(&d.ok(&["policy", "report", "-e", env])).unwrap()
    };
    let dev = report("dev");
    let prod = report("production");
    let files_of = |j: &serde_json::Value| {
        j["lint"]["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["file"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        dev["scan"]["unencryptedMatrixFiles"],
        serde_json::json!(["secrets/api/dev.enc.yaml"])
    );
    assert_eq!(
        prod["scan"]["unencryptedMatrixFiles"],
        serde_json::json!([])
    );
    assert!(
        !prod["scan"].to_string().contains("secrets/api/dev"),
        "{}",
        prod["scan"]
    );
    assert!(
        files_of(&prod)
            .iter()
            .all(|f| !f.contains("secrets/api/dev")),
        "{:?}",
        files_of(&prod)
    );
    assert!(
        files_of(&prod)
            .iter()
            .any(|f| f == "secrets/api/production.enc.yaml"),
        "{:?}",
        files_of(&prod)
    );
    assert!(
        files_of(&dev)
            .iter()
            .all(|f| !f.contains("secrets/api/production")),
        "{:?}",
        files_of(&dev)
    );
}

#[test]
fn policy_init_scaffolds_a_committable_policy_and_a_workflow_that_runs() {
    let w = World::new();
    let d = repo(&w);
    let out = d.ok(&["policy", "init", "--ci", "github"]);
    assert!(out.contains("created .clef/policy.yaml"), "{out}");
    assert!(
        out.contains("created .github/workflows/clef-compliance.yml"),
        "{out}"
    );
    // The policy is committable: no ignore rule hides it.
    let o = d.git(&["check-ignore", "-q", ".clef/policy.yaml"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        ".clef/policy.yaml must not be ignored"
    );
    let shown = d.ok(&["policy", "show"]);
    assert!(
        shown.contains("max_age_days: 90") && shown.contains(DEFAULT_HASH),
        "{shown}"
    );
    // A second run keeps the files.
    assert!(
        d.ok(&["policy", "init", "--ci", "github"])
            .contains("exists")
    );
    d.ok(&["set", "api/dev", "DB_URL", "postgres://x"]);
    d.commit_all("policy");

    let wf = d.root.join(".github/workflows/clef-compliance.yml");
    // The workflow parses as YAML; its run steps that call clef, in order.
    let script = "import sys,yaml,json\nw=yaml.safe_load(open(sys.argv[1]))\nsteps=w['jobs']['compliance']['steps']\nprint(json.dumps([s['run'] for s in steps if 'run' in s]))";
    let Some((parsed, stdout, err)) = py(script, &[&wf]) else {
        return;
    };
    assert!(parsed, "the workflow does not parse: {err}");
    let runs: Vec<String> = serde_json::from_str(&stdout).unwrap();
    assert!(
        runs.iter()
            .all(|r| !r.contains("npm") && !r.contains("node"))
    );
    let clef_steps: Vec<&String> = runs.iter().filter(|r| r.starts_with("clef ")).collect();
    assert_eq!(clef_steps.len(), 2, "{runs:?}");
    // Run them in a clean clone with no identity (as CI does).
    let ci = w.clone_dev("ci", &d);
    for step in clef_steps {
        let mut c = ci.cmd("sh");
        c.arg("-c").arg(step);
        let o = run(c);
        assert!(o.status.success(), "{step}: {}", stderr(&o));
    }
    let doc = ci.root.join("compliance.json");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&doc).unwrap()).unwrap();
    assert_eq!(j["summary"]["total_files"], 2);
    assert_eq!(j["summary"]["lint_errors"], 0, "{}", j["lint"]);
    assert_valid(&doc);
    d.oracle_decrypts_all();

    // The other providers parse too.
    for p in ["gitlab", "bitbucket", "circleci"] {
        let out = d.ok(&["policy", "init", "--ci", p, "--workflow-only"]);
        let path = out
            .lines()
            .find_map(|l| l.strip_prefix("workflow  created "))
            .unwrap_or_else(|| panic!("{out}"));
        let (ok, _, err) = py(
            "import sys,yaml\nyaml.safe_load(open(sys.argv[1]))",
            &[&d.root.join(path)],
        )
        .expect("python");
        assert!(ok, "{p}: {err}");
    }
}

#[test]
fn policy_help_documents_its_exit_codes() {
    let w = World::new();
    let d = w.dev("hal");
    let help = d.ok(&["policy", "check", "--help"]);
    assert!(
        help.contains("0 every key compliant") && help.contains("2 configuration error"),
        "{help}"
    );
}

/// The rotation record of `key` in a sidecar (its lines), if any.
fn record(d: &Dev, env: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(sidecar(d, env)).ok()?;
    let (_, rotations) = text.split_once("\nrotations:")?;
    rotations
        .split("  - key: ")
        .find(|r| r.starts_with(&format!("{key}\n")))
        .map(str::to_owned)
}

fn enc_line(d: &Dev, env: &str, key: &str) -> String {
    std::fs::read_to_string(d.root.join(format!("secrets/api/{env}.enc.yaml")))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap()
        .to_owned()
}

#[test]
fn rotate_with_keys_records_rotations_and_a_data_key_rotation_does_not() {
    let w = World::new();
    let d = repo(&w);
    d.ok(&["set", "api/dev", "DB_URL", "postgres://one"]);
    d.ok(&["set", "api/dev", "TOKEN", "tok-one-s3cr3t"]);
    d.ok(&["set", "api/production", "DB_URL", "postgres://prod-one"]);
    backdate(&d, "dev", "2020-01-01T00:00:00Z");
    ok(d.git(&["add", "-A"]));
    ok(d.git(&["commit", "-qm", "values"]));
    assert_eq!(d.clef(&["policy", "check"]).status.code(), Some(1));

    // No KEY: a new data key only. The records stay and the user is told
    // that no value was rotated.
    let side = std::fs::read_to_string(sidecar(&d, "dev")).unwrap();
    let enc = enc_line(&d, "dev", "DB_URL");
    let o = d.clef(&["rotate", "api/dev"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("values were not rotated")
            && stderr(&o).contains("clef rotate NS/ENV KEY"),
        "{}",
        stderr(&o)
    );
    assert_ne!(enc_line(&d, "dev", "DB_URL"), enc, "a new data key");
    assert_eq!(std::fs::read_to_string(sidecar(&d, "dev")).unwrap(), side);
    assert_eq!(d.clef(&["policy", "check"]).status.code(), Some(1));
    d.ok(&["rotate", "--all"]);
    assert_eq!(std::fs::read_to_string(sidecar(&d, "dev")).unwrap(), side);

    // One KEY, its value on stdin: new value, new data key, a record.
    let o = d.clef_stdin(&["rotate", "api/dev", "DB_URL"], b"postgres://two\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.ok(&["get", "api/dev", "DB_URL"]), "postgres://two");
    assert_eq!(d.ok(&["get", "api/dev", "TOKEN"]), "tok-one-s3cr3t");
    let r = record(&d, "dev", "DB_URL").unwrap();
    assert!(
        r.contains("rotation_count: 2")
            && r.contains("rotated_by: pat <pat@clef.invalid>")
            && !r.contains("2020-01-01"),
        "{r}"
    );
    let t = record(&d, "dev", "TOKEN").unwrap();
    assert!(
        t.contains("rotation_count: 1") && t.contains("2020-01-01"),
        "only the key named: {t}"
    );
    // TOKEN is still overdue (one row per key).
    let o = d.clef(&["policy", "check", "--per-key"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("KEY"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("TOKEN ") && l.contains("overdue")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("DB_URL ") && !l.contains("overdue")),
        "{out}"
    );

    // --random: a fresh 64-hex value that counts as a rotation, not pending.
    d.ok(&["rotate", "api/dev", "TOKEN", "--random"]);
    let v = d.ok(&["get", "api/dev", "TOKEN"]);
    assert!(
        v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()),
        "{v}"
    );
    assert!(
        record(&d, "dev", "TOKEN")
            .unwrap()
            .contains("rotation_count: 2")
    );
    assert!(
        std::fs::read_to_string(sidecar(&d, "dev"))
            .unwrap()
            .contains("pending: []")
    );
    // The overdue keys are rotated: the check passes.
    d.ok(&["policy", "check"]);

    // A pending placeholder given a real value by rotate is no longer pending.
    d.ok(&["set", "api/dev", "API_KEY", "--random"]);
    assert!(
        std::fs::read_to_string(sidecar(&d, "dev"))
            .unwrap()
            .contains("key: API_KEY")
    );
    let o = d.clef_stdin(&["rotate", "api/dev", "API_KEY"], b"real-api-key-s3cr3t");
    assert!(o.status.success(), "{}", stderr(&o));
    let side = std::fs::read_to_string(sidecar(&d, "dev")).unwrap();
    assert!(side.contains("pending: []"), "{side}");
    assert!(
        record(&d, "dev", "API_KEY")
            .unwrap()
            .contains("rotation_count: 1")
    );
    // import records a changed value as a rotation, and leaves an unchanged one.
    let o = d.clef_stdin(
        &[
            "import",
            "api/dev",
            "--stdin",
            "--format",
            "dotenv",
            "--overwrite",
        ],
        b"DB_URL=postgres://three\nAPI_KEY=real-api-key-s3cr3t\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        record(&d, "dev", "DB_URL")
            .unwrap()
            .contains("rotation_count: 3")
    );
    assert!(
        record(&d, "dev", "API_KEY")
            .unwrap()
            .contains("rotation_count: 1")
    );
    d.oracle_decrypts_all();
    ok(d.git(&["add", "-A"]));
    ok(d.git(&["commit", "-qm", "rotated"]));

    // Bad input: one line, a non-zero exit, nothing changed.
    let cases: [(&[&str], i32, &[&str]); 8] = [
        (
            &["rotate", "api/dev", "NOPE"],
            1,
            &["key 'NOPE' not found in api/dev"],
        ),
        (
            &["rotate", "api/production", "TOKEN", "--yes"],
            1,
            &["key 'TOKEN' not found in api/production"],
        ),
        (
            &["rotate", "api/dev", "DB_URL=postgres://leak"],
            2,
            &["not a valid key name"],
        ),
        (&["rotate", "api/qa", "DB_URL"], 2, &["qa"]),
        (
            &["rotate", "api/production", "DB_URL"],
            4,
            &["api/production is protected", "--yes"],
        ),
        (
            &["rotate", "api/dev", "DB_URL", "TOKEN"],
            2,
            &["no terminal", "--random"],
        ),
        (&["rotate", "--all", "DB_URL"], 2, &["cannot be used with"]),
        (&["rotate", "api/dev", "--random"], 2, &["KEY"]),
    ];
    for (args, code, want) in cases {
        // stdin is not a terminal (and these read none of it)
        let o = d.clef(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        for w in want {
            assert!(err.contains(w), "{args:?}: {err}");
        }
        assert!(!err.contains("leak"), "{args:?} shows a value: {err}");
        if !args.contains(&"--all") && !args.contains(&"--random") {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        }
        let st = String::from_utf8(ok(d.git(&["status", "--porcelain"]))).unwrap();
        assert_eq!(st, "", "{args:?} changed the work tree");
    }

    // A protected environment with --yes.
    let o = d.clef_stdin(
        &["rotate", "api/production", "DB_URL", "--yes"],
        b"postgres://prod-two",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.ok(&["get", "api/production", "DB_URL"]),
        "postgres://prod-two"
    );
    assert!(
        record(&d, "production", "DB_URL")
            .unwrap()
            .contains("rotation_count: 2")
    );

    // On a terminal: one hidden prompt per key (never echoed), and a
    // protected environment asks first.
    let (done, seen) = crate::cli_support::clef_in_pty(
        &d,
        "rotate api/dev DB_URL TOKEN",
        &[
            ("Value for DB_URL (input hidden): ", "typed-db-5150"),
            ("Value for TOKEN (input hidden): ", "typed-tok-5150"),
        ],
    );
    assert!(done, "{seen}");
    assert!(
        !seen.contains("typed-db-5150") && !seen.contains("typed-tok-5150"),
        "{seen}"
    );
    assert_eq!(d.ok(&["get", "api/dev", "DB_URL"]), "typed-db-5150");
    assert_eq!(d.ok(&["get", "api/dev", "TOKEN"]), "typed-tok-5150");
    let cell = std::fs::read(d.root.join("secrets/api/production.enc.yaml")).unwrap();
    let (done, seen) = crate::cli_support::clef_in_pty(
        &d,
        "rotate api/production DB_URL",
        &[("Write to it? [y/N] ", "n")],
    );
    assert!(!done && seen.contains("nothing was written"), "{seen}");
    assert_eq!(
        std::fs::read(d.root.join("secrets/api/production.enc.yaml")).unwrap(),
        cell
    );
    d.oracle_decrypts_all();
}

#[test]
fn clef_report_has_the_old_shape_and_no_key_names() {
    let w = World::new();
    let d = repo(&w);
    d.ok(&["set", "api/dev", "DB_URL", "postgres://s3cr3t"]);
    d.ok(&["set", "api/dev", "API_TOKEN", "--random"]);
    let j: serde_json::Value = serde_json::from_str(&d.ok(&["report"])).expect("json");
    let top: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "schemaVersion",
        "repoIdentity",
        "manifest",
        "matrix",
        "policy",
        "recipients",
    ] {
        assert!(top.contains(&k), "{k} in {top:?}");
    }
    assert_eq!(j["schemaVersion"], 1);
    assert_eq!(j["manifest"]["environments"][1]["name"], "production");
    assert_eq!(j["manifest"]["environments"][1]["protected"], true);
    let dev = j["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["environment"] == "dev")
        .unwrap();
    assert_eq!(dev["keyCount"], 2);
    assert_eq!(dev["pendingCount"], 1);
    assert_eq!(j["recipients"][d.recipient()]["type"], "age");
    let raw = j.to_string();
    for secret in ["DB_URL", "API_TOKEN", "s3cr3t"] {
        assert!(!raw.contains(secret), "{secret} in the report: {raw}");
    }
    // A schema error: exit 1, the issue counted, still no key name.
    d.ok(&["schema", "new", "api", "--template", "keys"]);
    let o = d.clef(&["report"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        j["policy"]["issueCount"]["error"].as_u64().unwrap() >= 1,
        "{j}"
    );
    assert!(!j.to_string().contains("DB_URL"), "{j}");
}
