//! Resolving a real conflict with the everyday commands: the merge driver
//! leaves a ciphertext-only conflict document; `clef get` refuses it with a
//! pointer to `clef merge`; `clef set` on the conflicting key resolves it
//! (mid-merge, unlike the old Clef); `clef merge status|resolve` work too.

use crate::cli_support::{World, stderr};

#[test]
fn set_resolves_a_conflict_mid_merge() {
    let w = World::new();
    let d = w.dev("fay");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev"]);
    d.ok(&["set", "api/dev", "PASSWORD", "base-value-000"]);
    d.ok(&["set", "api/dev", "OTHER", "other-base-000"]);
    clef_e2e::ok(d.git(&["add", "-A"]));
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-m", "base"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "-b", "side"]));
    d.ok(&["set", "api/dev", "PASSWORD", "side-value-111"]);
    d.ok(&["set", "api/dev", "SIDE_ONLY", "side-only-value"]);
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-am", "side"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["set", "api/dev", "PASSWORD", "main-value-222"]);
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-am", "main"]));

    let m = d.git(&["merge", "--no-edit", "side"]);
    assert!(
        !m.status.success(),
        "both sides changed PASSWORD: a conflict"
    );
    // The driver found the identity through .clef/config.yaml: no env needed.
    let doc = String::from_utf8(d.clef(&["doctor"]).stdout).unwrap();
    assert!(
        doc.lines()
            .any(|l| l.starts_with("ok") && l.contains("identity for git merges")),
        "{doc}"
    );
    let doc = d.ok(&["merge", "status"]);
    assert!(doc.contains("1 conflicting key(s)"), "{doc}");
    let cell = d.root.join("secrets/api/dev.enc.yaml");
    let doc = std::fs::read_to_string(&cell).unwrap();
    assert!(
        doc.contains("<<<<<<<"),
        "the driver wrote a conflict document"
    );
    assert!(!doc.contains("main-value-222") && !doc.contains("side-value-111"));

    let g = d.clef(&["get", "api/dev", "PASSWORD"]);
    assert_eq!(g.status.code(), Some(1));
    assert!(stderr(&g).contains("clef merge"), "{}", stderr(&g));
    let st = d.ok(&["merge", "status"]);
    assert!(
        st.contains("secrets/api/dev.enc.yaml: 1 conflicting key(s)") && st.contains("PASSWORD"),
        "{st}"
    );
    // --json: a stable, documented label for the kind (git's words), never
    // the name of a Rust enum variant
    let j: serde_json::Value =
        serde_json::from_str(&d.ok(&["merge", "status", "--json"])).expect("JSON");
    assert_eq!(
        j[0]["keys"],
        serde_json::json!([{"key": "PASSWORD", "kind": "both-modified"}]),
        "{j}"
    );
    assert_eq!(j[0]["conflict"], true, "{j}");
    let other = d.clef(&["set", "api/dev", "OTHER", "x-value-1"]);
    assert_eq!(
        other.status.code(),
        Some(1),
        "a key that is not the conflict does not resolve it"
    );
    assert!(
        stderr(&other).contains("conflict on PASSWORD"),
        "{}",
        stderr(&other)
    );

    d.ok(&["set", "api/dev", "PASSWORD", "resolved-value-333"]);
    assert_eq!(d.ok(&["get", "api/dev", "PASSWORD"]), "resolved-value-333");
    assert_eq!(
        d.ok(&["get", "api/dev", "SIDE_ONLY"]),
        "side-only-value",
        "the clean part of the merge is kept"
    );
    assert_eq!(d.ok(&["get", "api/dev", "OTHER"]), "other-base-000");
    d.oracle_decrypts_all();
    clef_e2e::ok(d.git(&["add", "-A"]));
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "--no-edit"]));
    assert!(d.ok(&["lint"]).contains("0 errors"));
}

#[test]
fn merge_resolve_picks_a_side() {
    let w = World::new();
    let d = w.dev("gus");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev"]);
    d.ok(&["set", "api/dev", "A", "base-a-value"]);
    clef_e2e::ok(d.git(&["add", "-A"]));
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-m", "base"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "-b", "side"]));
    d.ok(&["set", "api/dev", "A", "theirs-a-value"]);
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-am", "side"]));
    clef_e2e::ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["set", "api/dev", "A", "ours-a-value"]);
    clef_e2e::ok(d.git(&["commit", "-q", "--no-verify", "-am", "main"]));
    assert!(!d.git(&["merge", "--no-edit", "side"]).status.success());
    d.ok(&[
        "merge",
        "resolve",
        "secrets/api/dev.enc.yaml",
        "--pick",
        "A=theirs",
    ]);
    assert_eq!(d.ok(&["get", "api/dev", "A"]), "theirs-a-value");
    let unmerged = clef_e2e::ok(d.git(&["diff", "--name-only", "--diff-filter=U"]));
    assert!(
        !String::from_utf8_lossy(&unmerged).contains("dev.enc.yaml"),
        "resolve stages the cell"
    );
    d.oracle_decrypts_all();
}
