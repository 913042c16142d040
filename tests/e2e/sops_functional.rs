//! sops's own functional-test inputs (getsops/sops `functional-tests/res`,
//! its `.sops.yaml` and its published PGP test key; see sops_fixtures/README.md)
//! through the real sops 3.11 and `clef sops`, both ways. PGP goes through gpg
//! in a temporary `$HOME/.gnupg`, as sops does.

use std::path::{Path, PathBuf};

use clef_e2e::{clean_cmd, ok};

use crate::sops_interop::{Env, env};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e/sops_fixtures")
        .join(name)
}

/// Imports sops's test key into the test's `$HOME/.gnupg`; false without gpg.
fn import_sops_test_key(e: &Env) -> bool {
    let gnupg = e.home.join(".gnupg");
    if std::fs::create_dir_all(&gnupg).is_err() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700));
    }
    let mut c = clean_cmd(Path::new("gpg"), &e.home);
    c.args(["--batch", "--import"])
        .arg(fixture("sops_functional_tests_key.asc"));
    let imported = c.output().is_ok_and(|o| o.status.success());
    if !imported {
        assert!(
            std::env::var_os("CLEF_REQUIRE_ORACLE").is_none(),
            "gpg is needed for sops's functional-test fixtures"
        );
        eprintln!("SKIP: gpg not installed");
    }
    imported
}

fn stop_gpg_agent(e: &Env) {
    let mut c = clean_cmd(Path::new("gpgconf"), &e.home);
    c.args(["--kill", "gpg-agent"]);
    let _ = c.output();
}

/// Encrypted layout with the random parts (ciphertexts, armored blocks, times) blanked.
fn layout(text: &str) -> String {
    let mut out = String::new();
    let mut armor = false;
    for l in text.lines() {
        if l.contains("-----END PGP MESSAGE-----") || l.contains("-----END AGE") {
            armor = false;
        }
        if armor {
            continue;
        }
        if l.contains("-----BEGIN PGP MESSAGE-----") || l.contains("-----BEGIN AGE") {
            armor = true;
        }
        let mut l = l.to_owned();
        while let Some(s) = l.find("ENC[AES256_GCM,") {
            let Some(end) = l[s..].find(']') else { break };
            let typ = l[s..s + end]
                .rsplit("type:")
                .next()
                .unwrap_or("")
                .to_owned();
            l.replace_range(s..=s + end, &format!("ENC<{typ}>"));
        }
        for field in ["created_at:", "lastmodified:"] {
            if let Some(p) = l.find(field) {
                l.truncate(p + field.len());
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[test]
fn sops_functional_fixtures_decrypt_alike() {
    let Some(e) = env() else { return };
    if !import_sops_test_key(&e) {
        return;
    }
    // Files sops (3.3.1, PGP) wrote: clef prints exactly what sops prints.
    for (name, extra) in [
        ("comments.enc.yaml", None),
        ("multiple_keys.yaml", None),
        ("comments_unencrypted_comments.yaml", None),
        ("no_mac.yaml", Some("--ignore-mac")),
    ] {
        let f = fixture(name).display().to_string();
        let mut args = vec!["decrypt"];
        args.extend(extra);
        args.push(&f);
        let s = ok(e.sops(&args, &e.k1.file));
        let c = ok(e.clef(&args, &e.k1.file));
        assert_eq!(
            String::from_utf8_lossy(&c),
            String::from_utf8_lossy(&s),
            "{name}"
        );
        // And without --ignore-mac, no_mac.yaml is refused by both with the same code.
        if extra.is_some() {
            let s = e.sops(&["decrypt", &f], &e.k1.file);
            let c = e.clef(&["decrypt", &f], &e.k1.file);
            assert!(!s.status.success());
            assert_eq!(
                c.status.code(),
                s.status.code(),
                "{name} without --ignore-mac"
            );
        }
    }
    stop_gpg_agent(&e);
}

#[test]
fn sops_functional_creation_rules_both_ways() {
    let Some(e) = env() else { return };
    if !import_sops_test_key(&e) {
        return;
    }
    let dir = e.dir.join("functional");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(fixture("sops.yaml"), dir.join(".sops.yaml")).expect("config");
    // The rules of sops's .sops.yaml: two PGP key groups, a group whose key
    // this keyring cannot decrypt, no/zero/empty key groups, and a catch-all.
    for (n, name) in [
        "test_roundtrip_keygroups.yaml",
        "test_roundtrip_keygroups_missing_decryption_key.yaml",
        "test_no_keygroups.yaml",
        "test_zero_keygroups.yaml",
        "test_empty_keygroup.yaml",
        "comments.yaml",
        "comments_list.yaml",
        "plainfile.yaml",
    ]
    .into_iter()
    .enumerate()
    {
        let plain = dir.join(name);
        match std::fs::read(fixture(name)) {
            Ok(b) => std::fs::write(&plain, b).expect("write"),
            Err(_) => std::fs::write(&plain, "a: secret\n").expect("write"),
        }
        let p = plain.display().to_string();
        let s = e.sops_in(&dir, &["encrypt", &p], &e.k1.file);
        let c = e.clef_in(&dir, &["encrypt", &p], &e.k1.file);
        assert_eq!(
            c.status.code(),
            s.status.code(),
            "{name}: encrypt exit code"
        );
        if !s.status.success() {
            continue;
        }
        assert_eq!(
            layout(&String::from_utf8_lossy(&c.stdout)),
            layout(&String::from_utf8_lossy(&s.stdout)),
            "{name}: layout"
        );
        // Each tool decrypts the other's file, with the same result or exit code.
        for (who, bytes) in [("sops", &s.stdout), ("clef", &c.stdout)] {
            let f = dir.join(format!("{n}-{who}.enc.yaml"));
            std::fs::write(&f, bytes).expect("write");
            let f = f.display().to_string();
            let ds = e.sops_in(&dir, &["decrypt", &f], &e.k1.file);
            let dc = e.clef_in(&dir, &["decrypt", &f], &e.k1.file);
            assert_eq!(
                dc.status.code(),
                ds.status.code(),
                "{name} by {who}: decrypt code"
            );
            assert_eq!(dc.stdout, ds.stdout, "{name} by {who}");
        }
    }
    stop_gpg_agent(&e);
}
