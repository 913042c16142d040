//! `clef namespace|env add|edit|remove` end to end: real git (renames that
//! `git log --follow` follows), real sops 3.11 decrypting every cell after
//! each step, clef.yaml's comments kept, bad input changing nothing.

use crate::cli_support::{Dev, World, stderr};
use clef_e2e::ok;

fn manifest(d: &Dev) -> String {
    std::fs::read_to_string(d.root.join("clef.yaml")).unwrap()
}

fn setup(w: &World) -> Dev {
    let d = w.dev("max");
    d.init("api", "dev,production", &[]);
    let text = manifest(&d);
    std::fs::write(
        d.root.join("clef.yaml"),
        format!("# Our matrix. Keep this comment.\n{text}"),
    )
    .unwrap();
    d.ok(&["set", "api/dev", "DB_URL", "postgres://dev"]);
    d.commit_all("first value");
    d
}

#[test]
fn add_and_rename_namespaces_and_environments_with_history() {
    let w = World::new();
    let d = setup(&w);

    d.ok(&[
        "namespace",
        "add",
        "payments",
        "--description",
        "Payment service",
    ]);
    for env in ["dev", "production"] {
        assert!(
            d.root
                .join(format!("secrets/payments/{env}.enc.yaml"))
                .is_file()
        );
    }
    assert!(manifest(&d).starts_with("# Our matrix. Keep this comment.\n"));
    assert!(manifest(&d).contains("description: Payment service"));
    d.oracle_decrypts_all();
    d.commit_all("payments");

    d.ok(&["env", "add", "staging", "--protect"]);
    assert!(d.root.join("secrets/api/staging.enc.yaml").is_file());
    assert!(d.root.join("secrets/payments/staging.enc.yaml").is_file());
    d.oracle_decrypts_all();
    d.ok(&["lint"]);
    d.commit_all("staging");

    // Rename a namespace: cells and sidecars move, staged as renames.
    d.ok(&["namespace", "edit", "api", "--rename", "core"]);
    assert!(!d.root.join("secrets/api").exists());
    assert!(d.root.join("secrets/core/dev.enc.yaml").is_file());
    assert!(d.root.join("secrets/core/dev.clef-meta.yaml").is_file());
    let status = String::from_utf8(ok(d.git(&["status", "--porcelain"]))).unwrap();
    assert!(
        status.contains("R  secrets/api/dev.enc.yaml -> secrets/core/dev.enc.yaml"),
        "{status}"
    );
    assert_eq!(
        d.ok(&["get", "core/dev", "DB_URL"]).trim(),
        "postgres://dev"
    );
    d.oracle_decrypts_all();
    d.commit_all("rename api to core");

    // Rename an environment.
    d.ok(&[
        "env",
        "edit",
        "dev",
        "--rename",
        "development",
        "--description",
        "Laptops",
    ]);
    assert!(d.root.join("secrets/core/development.enc.yaml").is_file());
    assert!(
        d.root
            .join("secrets/payments/development.enc.yaml")
            .is_file()
    );
    assert!(manifest(&d).contains("  - name: development\n    description: Laptops\n"));
    assert!(manifest(&d).starts_with("# Our matrix. Keep this comment.\n"));
    d.oracle_decrypts_all();
    d.commit_all("rename dev to development");
    let log = String::from_utf8(ok(d.git(&[
        "log",
        "--follow",
        "--format=%s",
        "--",
        "secrets/core/development.enc.yaml",
    ])))
    .unwrap();
    assert!(
        log.contains("first value") && log.contains("rename api to core"),
        "git log --follow must reach the history: {log}"
    );
    let log = String::from_utf8(ok(d.git(&[
        "log",
        "--follow",
        "--format=%s",
        "--",
        "secrets/core/development.clef-meta.yaml",
    ])))
    .unwrap();
    assert!(log.contains("first value"), "{log}");
    d.ok(&["policy", "check"]);
    assert_eq!(
        d.ok(&["get", "core/development", "DB_URL"]).trim(),
        "postgres://dev"
    );

    // Protection and removal.
    let o = d.clef(&["env", "remove", "staging", "--yes"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("protected"));
    d.ok(&["env", "edit", "staging", "--unprotect"]);
    let o = d.clef(&["env", "remove", "staging"]);
    assert_eq!(o.status.code(), Some(2), "remove needs --yes");
    d.ok(&["env", "remove", "staging", "--yes"]);
    assert!(!d.root.join("secrets/core/staging.enc.yaml").exists());
    d.ok(&["namespace", "remove", "payments", "--yes"]);
    assert!(!d.root.join("secrets/payments").exists());
    d.oracle_decrypts_all();
    d.ok(&["lint"]);
}

#[test]
fn bad_structure_edits_change_nothing() {
    let w = World::new();
    let d = setup(&w);
    let before = manifest(&d);
    let cases: [(&[&str], i32, &str); 8] = [
        (&["namespace", "add", "Foo"], 2, "^[a-z][a-z0-9_-]*$"),
        (&["env", "add", "pro d"], 2, "not a valid environment name"),
        (&["namespace", "add", "api"], 2, "already exists"),
        (&["env", "edit", "dev"], 2, "nothing to change"),
        (
            &["env", "edit", "nope", "--rename", "x"],
            2,
            "no environment named 'nope'",
        ),
        (
            &["env", "edit", "dev", "--rename", "production"],
            2,
            "already exists",
        ),
        (&["env", "remove", "production", "--yes"], 4, "protected"),
        (
            &["namespace", "remove", "api", "--yes"],
            4,
            "last namespace",
        ),
    ];
    for (args, code, want) in cases {
        let o = d.clef(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert_eq!(manifest(&d), before, "{args:?} changed clef.yaml");
    }
    let status = String::from_utf8(ok(d.git(&["status", "--porcelain"]))).unwrap();
    assert!(status.is_empty(), "nothing changed: {status}");
}

#[test]
fn init_again_names_what_it_would_add_and_adds_only_with_add() {
    let w = World::new();
    let d = setup(&w);
    let before = manifest(&d);
    let args = [
        "init",
        "--namespaces",
        "api,billing",
        "--environments",
        "dev,production,qa",
    ];
    let o = d.clef(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lacks namespace 'billing', environment 'qa'")
            && stderr(&o).contains("--add"),
        "{}",
        stderr(&o)
    );
    assert_eq!(manifest(&d), before);
    let mut with_add = args.to_vec();
    with_add.push("--add");
    d.ok(&with_add);
    for cell in ["billing/qa", "billing/dev", "api/qa"] {
        assert!(
            d.root.join(format!("secrets/{cell}.enc.yaml")).is_file(),
            "{cell}"
        );
    }
    assert!(manifest(&d).starts_with("# Our matrix. Keep this comment.\n"));
    d.oracle_decrypts_all();
    // Nothing new: init is the second-developer setup, as before.
    d.ok(&["init"]);
}

#[test]
fn drift_and_compare() {
    let w = World::new();
    let a = setup(&w);
    let b = w.clone_dev("bob", &a);
    a.ok(&["drift", b.root.to_str().unwrap()]);
    a.ok(&["set", "api/production", "ONLY_A", "x"]);
    let o = a.clef(&["drift", b.root.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("api/production: ONLY_A only here"), "{out}");
    let o = a.clef(&["drift", "--json", b.root.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["cells"][0]["onlyHere"][0], "ONLY_A");

    assert_eq!(
        a.ok(&["compare", "api/dev", "DB_URL", "postgres://dev"]),
        "match\n"
    );
    let o = a.clef(&["compare", "api/dev", "DB_URL", "postgres://dev2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("postgres"));
    let o = a.clef_stdin(&["compare", "api/dev", "DB_URL"], b"postgres://dev\n");
    assert!(o.status.success(), "{}", stderr(&o));
    // Without VALUE on a terminal: a hidden prompt, the typed value not echoed.
    let (same, seen) = crate::cli_support::clef_in_pty(
        &a,
        "compare api/dev DB_URL",
        &[("Value for DB_URL (input hidden): ", "postgres://dev")],
    );
    assert!(
        same && seen.contains("match") && !seen.contains("postgres://dev"),
        "{seen}"
    );
}

#[test]
fn schema_new_attaches_and_show_prints() {
    let w = World::new();
    let d = setup(&w);
    let o = d.clef(&["schema", "show", "api"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    d.ok(&["schema", "new", "api", "--template", "keys"]);
    assert!(manifest(&d).contains("schema: schemas/api.yaml"));
    assert!(manifest(&d).starts_with("# Our matrix. Keep this comment.\n"));
    let shown = d.ok(&["schema", "show", "api"]);
    assert!(
        shown.contains("  DB_URL:\n    type: string\n    required: true\n"),
        "{shown}"
    );
    // production lacks DB_URL, which the schema now requires; sync fills it.
    let l = d.clef(&["lint"]);
    assert_eq!(l.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&l.stdout).contains("DB_URL: required key is missing"));
    d.ok(&["sync", "api"]);
    d.ok(&["lint"]);
    let o = d.clef(&["schema", "new", "api"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"));
    let o = d.clef(&["schema", "new", "api", "--force", "--template", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    d.ok(&["schema", "new", "api", "--force", "--template", "example"]);
    let l = d.clef(&["lint"]);
    assert!(String::from_utf8_lossy(&l.stdout).contains("DATABASE_URL: required key is missing"));
}

#[test]
fn sync_fills_gaps_with_pending_placeholders() {
    let w = World::new();
    let d = setup(&w);
    let out = d.ok(&["sync", "api", "--dry-run"]);
    assert!(
        out.contains("api/production: DB_URL") && out.contains("1 keys would be added in 1 cells"),
        "{out}"
    );
    assert!(!d.ok(&["list", "api/production"]).contains("DB_URL"));
    let o = d.clef(&["sync", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    d.ok(&["sync", "--all"]);
    assert!(d.ok(&["list", "api/production"]).contains("DB_URL"));
    let side =
        std::fs::read_to_string(d.root.join("secrets/api/production.clef-meta.yaml")).unwrap();
    assert!(side.contains("setBy: clef sync"), "{side}");
    let v = d.ok(&["get", "api/production", "DB_URL"]);
    assert_eq!(v.trim().len(), 64, "a 64-hex placeholder");
    assert!(d.ok(&["lint"]).contains("pending"));
    d.oracle_decrypts_all();
    assert!(
        d.ok(&["sync", "--all"])
            .contains("0 keys missing in 0 cells")
    );
}

fn status(d: &Dev) -> String {
    String::from_utf8(ok(d.git(&["status", "--porcelain"]))).unwrap()
}

#[test]
fn reset_replaces_unreadable_cells_without_decrypting() {
    let w = World::new();
    let d = setup(&w);
    d.ok(&[
        "set",
        "api/production",
        "DB_URL",
        "postgres://prod",
        "--yes",
    ]);
    d.ok(&["schema", "new", "api", "--template", "keys"]);
    d.commit_all("schema");
    let dev = d.root.join("secrets/api/dev.enc.yaml");
    let prod = d.root.join("secrets/api/production.enc.yaml");
    let (dev_before, prod_before) = (std::fs::read(&dev).unwrap(), std::fs::read(&prod).unwrap());

    // Bad input, or no confirmation: one line, a non-zero exit, nothing changed.
    let cases: [(&[&str], i32, &str); 8] = [
        (&["reset", "--cell", "api/dev"], 2, "confirm with --yes"),
        (
            &["reset", "--env", "production"],
            4,
            "environment 'production' is protected",
        ),
        (
            &["reset", "--env", "qa", "--yes"],
            2,
            "no environment named 'qa'",
        ),
        (
            &["reset", "--namespace", "nope", "--yes"],
            2,
            "no namespace named 'nope'",
        ),
        (&["reset", "--cell", "api", "--yes"], 2, "api"),
        (
            &["reset", "--cell", "api/dev", "--keys", "1BAD", "--yes"],
            2,
            "not a valid key name",
        ),
        (
            &["reset", "--env", "dev", "--namespace", "api", "--yes"],
            2,
            "cannot be used with",
        ),
        (&["reset", "--yes"], 2, "required"),
    ];
    for (args, code, want) in cases {
        let o = d.clef(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert_eq!(status(&d), "", "{args:?} changed the work tree");
    }
    let plan = d.ok(&["reset", "--env", "dev", "--dry-run"]);
    assert!(
        plan.contains("api/dev: 1 key(s) (schema schemas/api.yaml): DB_URL")
            && plan.contains("1 cell(s) would be reset"),
        "{plan}"
    );
    assert_eq!(status(&d), "");

    // Disaster: the dev cell is damaged and no identity is at hand.
    std::fs::write(&dev, b"sops: garbage\n").unwrap();
    assert!(!d.clef(&["get", "api/dev", "DB_URL"]).status.success());
    let id = d.identity();
    let away = id.with_extension("away");
    std::fs::rename(&id, &away).unwrap();
    let out = d.ok(&["reset", "--cell", "api/dev", "--yes"]);
    std::fs::rename(&away, &id).unwrap();
    assert!(
        out.contains("reset 1 cell(s); 1 pending placeholder(s)"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&prod).unwrap(),
        prod_before,
        "only the cell named"
    );
    assert_ne!(std::fs::read(&dev).unwrap(), dev_before);
    let v = d.ok(&["get", "api/dev", "DB_URL"]);
    assert!(
        v.trim().len() == 64 && v.trim().bytes().all(|b| b.is_ascii_hexdigit()),
        "a 64-hex placeholder"
    );
    let side = std::fs::read_to_string(d.root.join("secrets/api/dev.clef-meta.yaml")).unwrap();
    assert!(
        side.contains("key: DB_URL")
            && side.contains("setBy: clef reset")
            && side.contains("rotations: []"),
        "{side}"
    );
    assert!(d.ok(&["lint"]).contains("pending"));
    d.oracle_decrypts_all();
    d.ok(&["set", "api/dev", "DB_URL", "postgres://dev-again"]);
    d.commit_all("reset dev");

    // A protected environment with --yes; --keys wins over the schema, and
    // each cell left without a key the schema requires is named on stderr.
    let o = d.clef(&[
        "reset",
        "--namespace",
        "api",
        "--keys",
        "A_KEY,B_KEY",
        "--yes",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let warned: Vec<String> = stderr(&o)
        .lines()
        .filter_map(|l| l.strip_prefix("clef: "))
        .filter(|l| l.starts_with("warning: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        warned,
        [
            "warning: api/dev: --keys leaves out DB_URL, which the namespace's schema requires (`clef lint` will report it until it is set)",
            "warning: api/production: --keys leaves out DB_URL, which the namespace's schema requires (`clef lint` will report it until it is set)",
        ],
        "{}",
        stderr(&o)
    );
    for cell in ["api/dev", "api/production"] {
        let l = d.ok(&["list", cell]);
        assert!(
            l.contains("A_KEY") && l.contains("B_KEY") && !l.contains("DB_URL"),
            "{cell}: {l}"
        );
    }
    let side =
        std::fs::read_to_string(d.root.join("secrets/api/production.clef-meta.yaml")).unwrap();
    assert!(
        !side.contains("DB_URL"),
        "the old records go with the values: {side}"
    );
    d.oracle_decrypts_all();
    // The schema still requires DB_URL, which --keys left out: lint says so.
    let l = d.clef(&["lint"]);
    assert_eq!(l.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&l.stdout).contains("DB_URL: required key is missing"));
}

#[test]
fn renames_reach_identities_and_recipient_lists_and_an_identitys_only_scope_stays() {
    let w = World::new();
    let d = setup(&w);
    d.ok(&["namespace", "add", "web"]);
    d.ok(&["service", "create", "gw", "--namespaces", "web"]);
    let (_, extra) = clef_keys::generate_identity();
    d.ok(&["recipients", "add", &extra, "-e", "production"]);
    d.commit_all("identity, per-environment recipient");

    // Removing web would leave gw with no scope: refused, nothing changed.
    let before = manifest(&d);
    let o = d.clef(&["namespace", "remove", "web", "--yes"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("service identity 'gw'"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).trim_end().lines().count(), 1);
    assert_eq!(manifest(&d), before);
    assert_eq!(status(&d), "");

    // Renames: the identity's namespace and environment keys follow, and
    // the per-environment recipient list moves with its environment.
    d.ok(&["namespace", "edit", "web", "--rename", "www"]);
    d.ok(&["env", "edit", "production", "--rename", "prod"]);
    let shown = d.ok(&["service", "show", "gw", "--json"]);
    assert!(
        shown.contains("\"namespaces\":[\"www\"]")
            && shown.contains("\"prod\":{\"recipient\":\"age1")
            && !shown.contains("production"),
        "{shown}"
    );
    let m = manifest(&d);
    assert!(m.starts_with("# Our matrix. Keep this comment.\n"), "{m}");
    for cell in ["secrets/api/prod.enc.yaml", "secrets/www/prod.enc.yaml"] {
        let text = std::fs::read_to_string(d.root.join(cell)).unwrap();
        assert!(
            text.contains(&extra),
            "{cell} keeps its per-environment recipient"
        );
    }
    // A namespace added now gets cells for each environment's readers.
    d.ok(&["namespace", "add", "billing"]);
    let prod = std::fs::read_to_string(d.root.join("secrets/billing/prod.enc.yaml")).unwrap();
    let dev = std::fs::read_to_string(d.root.join("secrets/billing/dev.enc.yaml")).unwrap();
    assert!(
        prod.contains(&extra) && prod.contains(&d.recipient()),
        "{prod}"
    );
    assert!(
        !dev.contains(&extra) && dev.contains(&d.recipient()),
        "{dev}"
    );
    d.ok(&["lint"]);
    d.oracle_decrypts_all();
}
