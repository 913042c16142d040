//! `clef init` writes a `.sops.yaml` that matches clef.yaml, and `clef
//! recipients add|remove` keep it in sync, so plain `sops` (the real 3.11)
//! run inside a clef repository encrypts a cell for exactly its readers.

use std::process::Stdio;

use clef_e2e::{TestKey, sops_bin};

use crate::cli_support::{Dev, World};

/// The age recipients real sops picks for a new file at `cell` (its creation
/// rule, found from the repository root).
fn sops_recipients(d: &Dev, cell: &str) -> Vec<String> {
    let sops = sops_bin().expect("sops");
    let mut c = d.cmd(&sops);
    c.env("SOPS_DISABLE_VERSION_CHECK", "1")
        .args([
            "encrypt",
            "--input-type",
            "yaml",
            "--filename-override",
            cell,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn sops");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"k: v\n")
            .expect("write");
    }
    let out = child.wait_with_output().expect("sops");
    assert!(
        out.status.success(),
        "sops encrypt {cell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    recipients_in(&String::from_utf8_lossy(&out.stdout))
}

fn recipients_in(text: &str) -> Vec<String> {
    let mut r: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: ").map(str::to_owned))
        .collect();
    r.sort();
    r
}

fn cell_recipients(d: &Dev, cell: &str) -> Vec<String> {
    recipients_in(&std::fs::read_to_string(d.root.join(cell)).expect("cell"))
}

#[test]
fn sops_yaml_follows_clef_yaml() {
    if sops_bin().is_none() {
        return;
    }
    let w = World::new();
    let d = w.dev("alice");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev,prod"]);
    let written = std::fs::read_to_string(d.root.join(".sops.yaml")).expect(".sops.yaml");
    assert!(written.starts_with("# Written by clef"), "{written}");
    let (dev, prod) = ("secrets/api/dev.enc.yaml", "secrets/api/prod.enc.yaml");
    for cell in [dev, prod] {
        assert_eq!(
            sops_recipients(&d, cell),
            cell_recipients(&d, cell),
            "{cell}"
        );
    }
    // A reader added for prod only: plain sops follows, for prod only.
    let keys = w.dir.path().join("bob-keys");
    std::fs::create_dir_all(&keys).expect("mkdir");
    let bob = TestKey::new(&keys, "key.txt");
    d.ok(&["recipients", "add", &bob.recipient, "-e", "prod"]);
    assert!(sops_recipients(&d, prod).contains(&bob.recipient));
    assert!(!sops_recipients(&d, dev).contains(&bob.recipient));
    for cell in [dev, prod] {
        assert_eq!(
            sops_recipients(&d, cell),
            cell_recipients(&d, cell),
            "{cell}"
        );
    }
    d.ok(&["recipients", "remove", &bob.recipient, "-e", "prod"]);
    assert!(!sops_recipients(&d, prod).contains(&bob.recipient));
    // A .sops.yaml the user wrote is theirs: clef leaves it alone.
    let own = "creation_rules:\n  - age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n";
    std::fs::write(d.root.join(".sops.yaml"), own).expect("write");
    d.ok(&["recipients", "add", &bob.recipient]);
    assert_eq!(
        std::fs::read_to_string(d.root.join(".sops.yaml")).expect("read"),
        own
    );
}

/// `clef sops` changes to who can unwrap a cell's data key go through
/// clef.yaml: PGP or age keys added by `rotate`/`updatekeys` on a cell are
/// refused, naming `clef recipients`, and the cell is left as it was (key
/// groups: `access::clef_sops_groups_add_and_delete_on_a_cell_are_refused_but_work_on_other_sops_files`).
#[test]
fn clef_sops_cannot_change_a_cells_readers_behind_clef_yaml() {
    let w = World::new();
    let d = w.dev("olga");
    d.ok(&[
        "init",
        "--namespaces",
        "api",
        "--environments",
        "dev",
        "--non-interactive",
    ]);
    d.ok(&["set", "api/dev", "K", "v"]);
    let cell = "secrets/api/dev.enc.yaml";
    let before = std::fs::read(d.root.join(cell)).expect("cell");
    let keys = w.dir.path().join("mallory-keys");
    std::fs::create_dir_all(&keys).expect("mkdir");
    let mallory = TestKey::new(&keys, "key.txt");
    for args in [
        vec![
            "sops",
            "rotate",
            "-i",
            "--add-pgp",
            "0123456789ABCDEF0123456789ABCDEF01234567",
            cell,
        ],
        vec![
            "sops",
            "updatekeys",
            "-y",
            "--add-pgp",
            "0123456789ABCDEF0123456789ABCDEF01234567",
            cell,
        ],
        vec![
            "sops",
            "rotate",
            "-i",
            "--add-age",
            &mallory.recipient,
            cell,
        ],
    ] {
        let mut c = d.cmd(clef_e2e::bin("clef"));
        c.env("SOPS_AGE_KEY_FILE", d.identity()).args(&args);
        let o = clef_e2e::run(c);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains("clef recipients"), "{args:?}: {err}");
        assert_eq!(
            std::fs::read(d.root.join(cell)).expect("cell"),
            before,
            "{args:?}"
        );
    }
}
