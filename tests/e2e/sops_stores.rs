//! `clef sops` against the real sops 3.11 (issue 12): the INI and binary
//! stores across formats, `groups add|delete`, and the smaller differences
//! (dotenv number text, list indexes counting comments, multi-document YAML).

use clef_e2e::ok;

use crate::sops_interop::{Env, env, normalize};

/// Runs the same arguments through sops and clef; returns (sops, clef) output.
fn both(e: &Env, args: &[&str]) -> (std::process::Output, std::process::Output) {
    (e.sops(args, &e.k1.file), e.clef(args, &e.k1.file))
}

fn same_stdout(e: &Env, args: &[&str]) -> Vec<u8> {
    let (s, c) = both(e, args);
    assert!(
        s.status.success(),
        "sops {args:?}: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    assert!(
        c.status.success(),
        "clef {args:?}: {}",
        String::from_utf8_lossy(&c.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&s.stdout),
        "clef and sops print different things for {args:?}"
    );
    s.stdout
}

#[test]
fn ini_and_binary_convert_like_sops() {
    let Some(e) = env() else { return };
    let yaml = e.write(
        "conv.yaml",
        b"db:\n    user: admin\n    port: 5432\n    ratio: 1.0\n    big: 1e21\n    tiny: 5e-324\n    on: true\n    none: null\napi:\n    token: abc\n",
    );
    let enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &yaml], &e.k1.file));
    let enc = e.write("conv.enc.yaml", &enc);
    // YAML -> INI and -> dotenv (nested values refused by both, flat ones printed).
    let ini = same_stdout(&e, &["decrypt", "--output-type", "ini", &enc]);
    assert!(String::from_utf8_lossy(&ini).contains("ratio = 1.0"));
    let flat = e.write(
        "flat.yaml",
        b"ratio: 1.0\nbig: 1e21\ntiny: 5e-324\nn: 3\non: true\nnone: null\ns: x\n",
    );
    let flat_enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &flat], &e.k1.file));
    let flat_enc = e.write("flat.enc.yaml", &flat_enc);
    let env_text = same_stdout(&e, &["decrypt", "--output-type", "dotenv", &flat_enc]);
    assert!(
        String::from_utf8_lossy(&env_text)
            .contains("ratio=1.0\nbig=1E+21\ntiny=5E-324\nn=3\non=true\nnone=<nil>\n"),
        "{}",
        String::from_utf8_lossy(&env_text)
    );
    // An INI file encrypted by clef, read by sops as YAML and back.
    let ini_plain = e.write("app.ini", b"[a]\nk = v\n; c\nk2 = w\n");
    let by_clef = ok(e.clef(
        &["encrypt", "--age", &e.k1.recipient, &ini_plain],
        &e.k1.file,
    ));
    let clef_ini = e.write("app.enc.ini", &by_clef);
    same_stdout(&e, &["decrypt", &clef_ini]);
    same_stdout(&e, &["decrypt", "--output-type", "yaml", &clef_ini]);
    same_stdout(&e, &["decrypt", "--output-type", "json", &clef_ini]);
    same_stdout(&e, &["decrypt", "--extract", r#"["a"]["k2"]"#, &clef_ini]);
    // Binary: any bytes in, the same bytes out, with --input-type/--output-type too.
    let blob = e.write("blob.txt", b"line 1\n{\"not\": \"parsed\"}\n\n");
    for (n, (file, extra)) in [(&blob, None), (&yaml, Some("binary"))]
        .into_iter()
        .enumerate()
    {
        let mut args = vec!["encrypt", "--age", &e.k1.recipient];
        if let Some(t) = extra {
            args.extend(["--input-type", t, "--output-type", "json"]);
        }
        args.push(file);
        let by_clef = ok(e.clef(&args, &e.k1.file));
        let by_sops = ok(e.sops(&args, &e.k1.file));
        for (who, bytes) in [("clef", &by_clef), ("sops", &by_sops)] {
            // Any name that is not .yaml/.json/.env/.ini is the binary store.
            let f = e.write(&format!("{who}-blob{n}.enc"), bytes);
            let out = same_stdout(&e, &["decrypt", &f]);
            assert_eq!(out, std::fs::read(file).expect("read"), "{who} binary");
        }
    }
    // A YAML tree has no binary form: both refuse.
    let (s, c) = both(&e, &["decrypt", "--output-type", "binary", &enc]);
    assert!(!s.status.success() && !c.status.success());
    assert_eq!(c.status.code(), s.status.code());
}

#[test]
fn groups_add_and_delete_like_sops() {
    let Some(e) = env() else { return };
    let plain = e.write("g.yaml", b"a: 1\nb: two\n");
    let enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    for who in ["sops", "clef"] {
        let f = e.write(&format!("g-{who}.enc.yaml"), &enc);
        let run = |args: &[&str], key: &std::path::Path| {
            if who == "sops" {
                e.sops(args, key)
            } else {
                e.clef(args, key)
            }
        };
        let add = [
            "groups",
            "add",
            "--file",
            &f,
            "-i",
            "--age",
            &e.k2.recipient,
        ];
        ok(run(&add, &e.k1.file));
        let add3 = [
            "groups",
            "add",
            "--file",
            &f,
            "-i",
            "--age",
            &e.k3.recipient,
            "--shamir-secret-sharing-threshold",
            "2",
        ];
        ok(run(&add3, &e.keys));
        // Three groups, threshold 2: any two keys open it, in both tools.
        let text = std::fs::read_to_string(&f).expect("read");
        assert_eq!(text.matches("- recipient:").count(), 3, "{who}: {text}");
        assert!(text.contains("shamir_threshold: 2"), "{who}: {text}");
        let two = e.dir.join("k1k3.txt");
        std::fs::write(
            &two,
            std::fs::read_to_string(&e.k1.file).expect("k1")
                + &std::fs::read_to_string(&e.k3.file).expect("k3"),
        )
        .expect("write");
        for key in [&two, &e.keys] {
            let s = ok(e.sops(&["decrypt", &f], key));
            let c = ok(e.clef(&["decrypt", &f], key));
            assert_eq!(s, c, "{who}");
            assert_eq!(String::from_utf8_lossy(&s), "a: 1\nb: two\n");
        }
        assert!(!e.sops(&["decrypt", &f], &e.k1.file).status.success());
        // Deleting down to one group below the threshold is refused by both.
        ok(run(&["groups", "delete", "--file", &f, "-i", "2"], &e.keys));
        let refused = run(&["groups", "delete", "--file", &f, "-i", "0"], &e.keys);
        assert_eq!(refused.status.code(), Some(1), "{who}");
        // Without -i the result goes to stdout and the file is unchanged.
        let before = std::fs::read(&f).expect("read");
        let out = ok(run(
            &[
                "groups",
                "delete",
                "--file",
                &f,
                "--shamir-secret-sharing-threshold",
                "1",
                "0",
            ],
            &e.keys,
        ));
        assert_eq!(std::fs::read(&f).expect("read"), before);
        let one = e.write(&format!("g-{who}-one.enc.yaml"), &out);
        let k2only = ok(e.sops(&["decrypt", &one], &e.k2.file));
        assert_eq!(String::from_utf8_lossy(&k2only), "a: 1\nb: two\n");
    }
}

#[test]
fn list_indexes_count_comments_like_sops() {
    let Some(e) = env() else { return };
    let plain = e.write("l.yaml", b"l:\n    # c\n    - a\n    - b\n");
    let enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    same_stdout(
        &e,
        &[
            "decrypt",
            "--extract",
            r#"["l"][1]"#,
            &e.write("l0.enc.yaml", &enc),
        ],
    );
    for (n, args) in [
        vec!["set", "", r#"["l"][0]"#, r#""x""#],
        vec!["set", "", r#"["l"][2]"#, r#""z""#],
        vec!["unset", "", r#"["l"][0]"#],
    ]
    .into_iter()
    .enumerate()
    {
        let fs = e.write(&format!("l{n}-s.enc.yaml"), &enc);
        let fc = e.write(&format!("l{n}-c.enc.yaml"), &enc);
        let mut a: Vec<&str> = args.clone();
        a[1] = &fs;
        ok(e.sops(&a, &e.k1.file));
        a[1] = &fc;
        ok(e.clef(&a, &e.k1.file));
        let s = ok(e.sops(&["decrypt", &fs], &e.k1.file));
        let c = ok(e.sops(&["decrypt", &fc], &e.k1.file));
        assert_eq!(
            String::from_utf8_lossy(&c),
            String::from_utf8_lossy(&s),
            "{args:?}"
        );
    }
}

#[test]
fn extracting_a_comment_item_prints_what_sops_prints() {
    let Some(e) = env() else { return };
    let plain = e.write(
        "lc.yaml",
        b"l:\n    # c\n    - a\n    - b\nm:\n    # only\n    x: 1\n",
    );
    let enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    let f = e.write("lc.enc.yaml", &enc);
    for (path, t) in [
        (r#"["l"][0]"#, "yaml"),
        (r#"["l"][0]"#, "json"),
        (r#"["l"]"#, "yaml"),
        (r#"["l"]"#, "json"),
        (r#"["m"]"#, "yaml"),
        (r#"["m"]"#, "json"),
        (r#"["m"]"#, "dotenv"),
    ] {
        same_stdout(&e, &["decrypt", "--output-type", t, "--extract", path, &f]);
    }
    // dotenv holds only strings (and whole maps): a comment, a list or a
    // number is sops's "error dumping" (4), nothing on stdout.
    for path in [r#"["l"][0]"#, r#"["l"]"#, r#"["m"]["x"]"#] {
        let (s, c) = both(
            &e,
            &["decrypt", "--output-type", "dotenv", "--extract", path, &f],
        );
        assert_eq!(s.status.code(), Some(4), "sops {path}");
        assert_eq!(c.status.code(), Some(4), "clef {path}");
        assert!(c.stdout.is_empty() && s.stdout.is_empty());
    }
}

#[test]
fn multi_document_yaml_to_one_document_formats() {
    let Some(e) = env() else { return };
    // The second document is empty: nothing is lost, so clef prints the first, as sops does.
    let lossless = e.write("m1.yaml", b"a: 1\n---\n{}\n");
    let enc = ok(e.sops(
        &["encrypt", "--age", &e.k1.recipient, &lossless],
        &e.k1.file,
    ));
    let enc = e.write("m1.enc.yaml", &enc);
    same_stdout(&e, &["decrypt", "--output-type", "json", &enc]);
    // Two documents with content: sops drops the second; clef refuses and says so.
    let lossy = e.write("m2.yaml", b"a: 1\n---\nb: 2\n");
    let enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &lossy], &e.k1.file));
    let enc = e.write("m2.enc.yaml", &enc);
    for t in ["json", "dotenv"] {
        let c = e.clef(&["decrypt", "--output-type", t, &enc], &e.k1.file);
        // sops's "error dumping file" code, which it uses when a tree has no form in a format.
        assert_eq!(c.status.code(), Some(4));
        assert!(String::from_utf8_lossy(&c.stderr).contains("several documents"));
        assert!(c.stdout.is_empty());
    }
}

/// A throwaway gpg key in the test's own `$HOME/.gnupg` (sops and clef both
/// run with that HOME); returns its fingerprint, or None without `gpg`.
fn gpg_key(e: &Env) -> Option<String> {
    let gnupg = e.home.join(".gnupg");
    std::fs::create_dir_all(&gnupg).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    let gpg = |args: &[&str]| {
        let mut c = clef_e2e::clean_cmd(std::path::Path::new("gpg"), &e.home);
        c.args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args);
        c.output().ok()
    };
    let made = gpg(&[
        "--quick-gen-key",
        "Clef Test <clef-test@example.invalid>",
        "default",
        "default",
        "never",
    ])?;
    if !made.status.success() {
        return None;
    }
    let list = gpg(&["--with-colons", "--list-keys"])?;
    String::from_utf8_lossy(&list.stdout).lines().find_map(|l| {
        l.strip_prefix("fpr:")
            .map(|r| r.trim_matches(':').to_owned())
    })
}

/// [`gpg_key`], or a skip where gpg is missing; never a silent skip under
/// ./test.sh, which installs gnupg and sets CLEF_REQUIRE_ORACLE.
fn gpg_key_or_skip(e: &Env) -> Option<String> {
    let fp = gpg_key(e);
    if fp.is_none() {
        assert!(
            std::env::var_os("CLEF_REQUIRE_ORACLE").is_none(),
            "gpg is needed for the PGP interop test"
        );
        eprintln!("SKIP: gpg not installed or cannot make a key");
    }
    fp
}

fn stop_gpg_agent(e: &Env) {
    let mut c = clef_e2e::clean_cmd(std::path::Path::new("gpgconf"), &e.home);
    c.args(["--kill", "gpg-agent"]);
    let _ = c.output();
}

#[test]
fn pgp_stanzas_through_gpg_both_ways() {
    let Some(e) = env() else { return };
    let Some(fp) = gpg_key_or_skip(&e) else {
        return;
    };
    let plain = e.write("p.yaml", b"a: 1\nb: secret\n");
    // Encrypted for the PGP key only, by each tool; each decrypts the other's.
    let by_sops = ok(e.sops(&["encrypt", "--pgp", &fp, &plain], &e.k2.file));
    let by_clef = ok(e.clef(&["encrypt", "--pgp", &fp, &plain], &e.k2.file));
    let (fs, fc) = (
        e.write("p-sops.enc.yaml", &by_sops),
        e.write("p-clef.enc.yaml", &by_clef),
    );
    for f in [&fs, &fc] {
        let s = ok(e.sops(&["decrypt", f], &e.k2.file));
        let c = ok(e.clef(&["decrypt", f], &e.k2.file));
        assert_eq!(String::from_utf8_lossy(&s), "a: 1\nb: secret\n");
        assert_eq!(s, c);
    }
    let text = String::from_utf8_lossy(&by_clef);
    assert!(text.contains(&format!("fp: {fp}")) && text.contains("-----BEGIN PGP MESSAGE-----"));
    // A second group with an age key added by clef to sops's PGP file, then rotated.
    ok(e.clef(
        &[
            "groups",
            "add",
            "--file",
            &fs,
            "-i",
            "--age",
            &e.k1.recipient,
        ],
        &e.k2.file,
    ));
    ok(e.clef(&["rotate", "-i", &fs], &e.k1.file));
    let s = ok(e.sops(&["decrypt", &fs], &e.k1.file));
    assert_eq!(String::from_utf8_lossy(&s), "a: 1\nb: secret\n");
    stop_gpg_agent(&e);
}

/// [`normalize`] that also hides what differs between two gpg wrappings of
/// a data key: the PGP armor and its `created_at`.
fn normalize_pgp(text: &str) -> String {
    let mut out = String::new();
    let mut armor = false;
    for l in normalize(text).lines() {
        if l.contains("-----BEGIN PGP MESSAGE-----") {
            armor = true;
        }
        if armor {
            if l.contains("-----END PGP MESSAGE-----") {
                armor = false;
                out.push_str("<pgp armor>\n");
            }
            continue;
        }
        // `created_at:` alone or as a stanza's first field (`- created_at:`);
        // the indentation and the dash are layout and stay
        let field = l.trim_start().trim_start_matches("- ");
        if field.starts_with("created_at:") {
            out.push_str(&l[..l.len() - field.len()]);
            out.push_str("created_at: <time>\n");
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[test]
fn rotate_and_updatekeys_add_and_rm_pgp_like_sops() {
    let Some(e) = env() else { return };
    let Some(fp) = gpg_key_or_skip(&e) else {
        return;
    };
    let plain = e.write("ap.yaml", b"a: 1\nb: secret\n");
    let made = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    let (fs, fc) = (
        e.write("ap-sops.enc.yaml", &made),
        e.write("ap-clef.enc.yaml", &made),
    );
    // k2 is no recipient: with it, only gpg can open the file.
    let opens = |f: &str, key: &std::path::Path| {
        let s = e.sops(&["decrypt", f], key);
        let c = e.clef(&["decrypt", f], key);
        assert_eq!(
            s.status.success(),
            c.status.success(),
            "tools disagree on {f}"
        );
        if s.status.success() {
            assert_eq!(s.stdout, b"a: 1\nb: secret\n");
            assert_eq!(s.stdout, c.stdout);
        }
        s.status.success()
    };
    assert!(!opens(&fc, &e.k2.file));
    // rotate --add-pgp, each tool on its copy.
    ok(e.sops(&["rotate", "-i", "--add-pgp", &fp, &fs], &e.k1.file));
    ok(e.clef(&["rotate", "-i", "--add-pgp", &fp, &fc], &e.k1.file));
    for f in [&fs, &fc] {
        assert!(opens(f, &e.k2.file), "{f}: PGP key added");
        assert!(opens(f, &e.k1.file));
    }
    let text = std::fs::read_to_string(&fc).unwrap();
    assert!(text.contains(&format!("fp: {fp}")), "{text}");
    assert_eq!(
        normalize_pgp(&std::fs::read_to_string(&fs).unwrap()),
        normalize_pgp(&text),
        "layout differs from sops's"
    );
    // Adding it again changes nothing but the data key.
    ok(e.clef(&["rotate", "-i", "--add-pgp", &fp, &fc], &e.k1.file));
    assert_eq!(
        std::fs::read_to_string(&fc)
            .unwrap()
            .matches("fp: ")
            .count(),
        1
    );
    // rotate --rm-pgp: k2 (gpg) no longer opens it, in either tool (clef
    // compares fingerprints without case, as gpg reads them).
    ok(e.sops(&["rotate", "-i", "--rm-pgp", &fp, &fs], &e.k1.file));
    ok(e.clef(
        &["rotate", "-i", "--rm-pgp", &fp.to_lowercase(), &fc],
        &e.k1.file,
    ));
    for f in [&fs, &fc] {
        assert!(!opens(f, &e.k2.file), "{f}: PGP key removed");
        assert!(opens(f, &e.k1.file));
        assert!(!std::fs::read_to_string(f).unwrap().contains("pgp"), "{f}");
    }
    // The legacy form, as scripts write it.
    ok(e.clef(&["-r", "-i", "--add-pgp", &fp, &fc], &e.k1.file));
    assert!(opens(&fc, &e.k2.file));
    ok(e.clef(&["-r", "-i", "--rm-pgp", &fp, &fc], &e.k1.file));
    // clef's updatekeys extension keeps the data key: every ENC[...] stays.
    let before = std::fs::read_to_string(&fc).unwrap();
    ok(e.clef(&["updatekeys", "-y", "--add-pgp", &fp, &fc], &e.k1.file));
    let after = std::fs::read_to_string(&fc).unwrap();
    for l in before.lines().filter(|l| l.contains("ENC[")) {
        assert!(after.contains(l), "updatekeys changed a value: {l}");
    }
    assert!(opens(&fc, &e.k2.file));
    ok(e.clef(&["updatekeys", "-y", "--rm-pgp", &fp, &fc], &e.k1.file));
    assert!(!opens(&fc, &e.k2.file));
    // Removing the last master key is refused, nothing written.
    let before = std::fs::read_to_string(&fc).unwrap();
    let r = e.clef(
        &["updatekeys", "-y", "--rm-age", &e.k1.recipient, &fc],
        &e.k1.file,
    );
    assert!(!r.status.success());
    assert_eq!(std::fs::read_to_string(&fc).unwrap(), before);
    stop_gpg_agent(&e);
}
