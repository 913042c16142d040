//! `clef sops` command-line surface (issue 12): stdin/--output/-i/--output-type,
//! legacy flags, set/unset options, edit, exec-env, exec-file and unknown
//! options, checked against the real sops 3.11 where sops can run.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use clef_e2e::{bin, clean_cmd, ok};

use crate::sops_interop::{Env, env};

/// Runs sops (`clef` = false) or `clef sops` with extra environment and stdin.
fn run_with(e: &Env, clef: bool, args: &[&str], vars: &[(&str, &str)], stdin: &[u8]) -> Output {
    let prog = if clef { bin("clef") } else { e.sops.clone() };
    let mut c = clean_cmd(&prog, &e.home);
    c.current_dir(&e.dir).env("SOPS_AGE_KEY_FILE", &e.k1.file);
    if clef {
        c.arg("sops");
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn both(e: &Env, args: &[&str], vars: &[(&str, &str)], stdin: &[u8]) -> (Output, Output) {
    (
        run_with(e, false, args, vars, stdin),
        run_with(e, true, args, vars, stdin),
    )
}

fn encrypted(e: &Env, name: &str, plain: &str) -> String {
    let p = e.write(&format!("{name}.plain.yaml"), plain.as_bytes());
    let enc = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &p], &e.k1.file));
    e.write(&format!("{name}.enc.yaml"), &enc)
}

#[test]
fn stdin_output_and_legacy_forms_match_sops() {
    let Some(e) = env() else { return };
    let f = encrypted(&e, "io", "a: 1\nb: two\n");
    let expected = ok(e.sops(&["decrypt", &f], &e.k1.file));
    let bytes = std::fs::read(&f).unwrap();
    // stdin with --input-type, and with --filename-override
    for args in [
        vec!["decrypt", "--input-type", "yaml", "--output-type", "yaml"],
        vec!["decrypt", "--filename-override", "x.yaml"],
        vec![
            "-d",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "/dev/stdin",
        ],
    ] {
        let (s, c) = both(&e, &args, &[], &bytes);
        assert_eq!(c.stdout, ok(s), "{args:?}");
    }
    // legacy -d / --decrypt with --output-type
    for flag in ["-d", "--decrypt"] {
        let (s, c) = both(&e, &[flag, "--output-type", "json", &f], &[], b"");
        assert_eq!(ok(c), ok(s), "{flag}");
    }
    // --output writes the file (0600 for plaintext); -i replaces it
    let out = e.dir.join("out.yaml");
    ok(run_with(
        &e,
        true,
        &["decrypt", "--output", out.to_str().unwrap(), &f],
        &[],
        b"",
    ));
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let plain = e.write("legacy.yaml", b"k: v\n");
    ok(run_with(
        &e,
        true,
        &["-e", "-i", "--age", &e.k1.recipient, &plain],
        &[],
        b"",
    ));
    assert_eq!(
        ok(e.sops(&["decrypt", &plain], &e.k1.file)),
        b"k: v\n".to_vec()
    );
    // encrypt --output-type json from stdin, read back by sops
    let (_, c) = both(
        &e,
        &[
            "encrypt",
            "--age",
            &e.k1.recipient,
            "--input-type",
            "yaml",
            "--output-type",
            "json",
        ],
        &[],
        b"x: 1\n",
    );
    let j = e.write("fromstdin.json", &ok(c));
    assert_eq!(
        ok(e.sops(&["decrypt", &j], &e.k1.file)),
        b"{\n\t\"x\": 1\n}\n".to_vec()
    );
}

#[test]
fn set_unset_options_match_sops() {
    let Some(e) = env() else { return };
    let vf = e.write("value.json", b"\"from-file\"");
    for (name, args, stdin) in [
        (
            "value-file",
            vec!["set", "--value-file", vf.as_str(), "FILE", r#"["a"]"#],
            &b""[..],
        ),
        (
            "value-stdin",
            vec!["set", "--value-stdin", "FILE", r#"["a"]"#],
            &b"\"from-stdin\""[..],
        ),
        (
            "unset idempotent",
            vec!["unset", "--idempotent", "FILE", r#"["nope"]"#],
            &b""[..],
        ),
    ] {
        let fs = encrypted(
            &e,
            &format!("so-{}", name.replace(' ', "-")),
            "a: 1\nb: 2\n",
        );
        let fc = e.write(
            &format!("so-{}-clef.enc.yaml", name.replace(' ', "-")),
            &std::fs::read(&fs).unwrap(),
        );
        let argv = |f: &str| -> Vec<String> {
            args.iter()
                .map(|a| {
                    if *a == "FILE" {
                        f.to_owned()
                    } else {
                        (*a).to_owned()
                    }
                })
                .collect()
        };
        let sa = argv(&fs);
        let ca = argv(&fc);
        let s = run_with(
            &e,
            false,
            &sa.iter().map(String::as_str).collect::<Vec<_>>(),
            &[],
            stdin,
        );
        let c = run_with(
            &e,
            true,
            &ca.iter().map(String::as_str).collect::<Vec<_>>(),
            &[],
            stdin,
        );
        assert_eq!(
            s.status.code(),
            c.status.code(),
            "{name}: {}",
            String::from_utf8_lossy(&c.stderr)
        );
        assert_eq!(
            ok(e.sops(&["decrypt", &fs], &e.k1.file)),
            ok(e.sops(&["decrypt", &fc], &e.k1.file)),
            "{name}"
        );
    }
    // --idempotent set of the same value leaves the file byte-identical.
    let f = encrypted(&e, "idem", "a: x\n");
    let before = std::fs::read(&f).unwrap();
    ok(run_with(
        &e,
        true,
        &["set", "--idempotent", &f, r#"["a"]"#, "\"x\""],
        &[],
        b"",
    ));
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

fn write_script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn edit_keeps_unchanged_ciphertext_and_no_plaintext_on_disk() {
    let Some(e) = env() else { return };
    let f = encrypted(&e, "ed", "a: one\nb: two\nc: three\n");
    let before = std::fs::read_to_string(&f).unwrap();
    // An editor that records where it was asked to edit, then changes b.
    let log = e.dir.join("editor.log");
    let editor = write_script(
        &e.dir,
        "editor.sh",
        &format!(
            "echo \"$1\" > '{}'; stat -c %a \"$1\" >> '{}'; stat -f -c %T \"$1\" >> '{}'; sed -i 's/^b: two$/b: TWO/' \"$1\"",
            log.display(),
            log.display(),
            log.display()
        ),
    );
    ok(run_with(
        &e,
        true,
        &["edit", &f],
        &[("EDITOR", &editor)],
        b"",
    ));
    let logged = std::fs::read_to_string(&log).unwrap();
    let mut lines = logged.lines();
    let tmp = lines.next().unwrap();
    assert_eq!(lines.next(), Some("600"), "{logged}");
    assert!(matches!(lines.next(), Some("tmpfs" | "ramfs")), "{logged}");
    assert!(
        !Path::new(tmp).exists(),
        "the plaintext file was not removed"
    );
    assert!(!Path::new(tmp).parent().unwrap().exists());
    let after = std::fs::read_to_string(&f).unwrap();
    assert_eq!(
        ok(e.sops(&["decrypt", &f], &e.k1.file)),
        b"a: one\nb: TWO\nc: three\n".to_vec()
    );
    let line = |t: &str, k: &str| t.lines().find(|l| l.starts_with(k)).unwrap().to_owned();
    assert_eq!(line(&before, "a:"), line(&after, "a:"));
    assert_eq!(line(&before, "c:"), line(&after, "c:"));
    assert_ne!(line(&before, "b:"), line(&after, "b:"));
    // An editor that changes nothing: sops's 200, file untouched, like sops.
    let (s, c) = both(&e, &["edit", &f], &[("EDITOR", "true")], b"");
    assert_eq!(c.status.code(), s.status.code());
    assert_eq!(c.status.code(), Some(200));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), after);
    // Legacy form: `sops FILE` is edit.
    let c = run_with(&e, true, &[&f], &[("EDITOR", "true")], b"");
    assert_eq!(c.status.code(), Some(200));
}

#[test]
fn exec_env_and_exec_file_match_sops() {
    let Some(e) = env() else { return };
    let f = encrypted(&e, "ex", "TOKEN: s3cr3t\nPORT: 8080\nFLAG: true\n");
    let (s, c) = both(
        &e,
        &["exec-env", &f, "echo \"$TOKEN $PORT $FLAG\""],
        &[],
        b"",
    );
    assert_eq!(ok(c), ok(s));
    let (s, c) = both(&e, &["exec-env", &f, "exit 7"], &[], b"");
    assert_eq!(c.status.code(), s.status.code());
    // exec-file: the path is a FIFO, and the content is the plaintext.
    let (s, c) = both(&e, &["exec-file", &f, "test -p {} && cat {}"], &[], b"");
    assert_eq!(ok(c), ok(s));
    // A command that never reads the FIFO does not hang clef.
    ok(run_with(&e, true, &["exec-file", &f, "true"], &[], b""));
    let r = run_with(
        &e,
        true,
        &["exec-file", "--no-fifo", &f, "cat {}"],
        &[],
        b"",
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(r.stdout.is_empty());
}

#[test]
fn unknown_commands_and_options_name_the_sops_equivalent() {
    let Some(e) = env() else { return };
    let f = encrypted(&e, "unk", "a: 1\n");
    for (args, says) in [
        (
            vec![
                "encrypt",
                "--azure-kv",
                "https://v.vault.azure.net/keys/k/1",
                "a.yaml",
            ],
            "Azure Key Vault",
        ),
        (vec!["keyservice"], "sops keyservice"),
        (vec!["-s", &f], "master keys"),
        (
            vec!["decrypt", "--no-such-flag", &f],
            "'--no-such-flag' is not a sops 3.11 command or option either",
        ),
        (vec!["frobnicate"], "'frobnicate' is not a sops 3.11"),
        (
            vec!["decrypt", "--indent", "2", &f],
            "'--indent' is sops 3.11's, but clef sops does not support it",
        ),
        (
            vec!["edit", "--add-pgp", "FP", &f],
            "'--add-pgp' is sops 3.11's, but clef sops does not support it",
        ),
    ] {
        let r = run_with(&e, true, &args, &[], b"");
        let err = String::from_utf8_lossy(&r.stderr);
        assert_ne!(r.status.code(), Some(0), "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

/// A new ssh-ed25519 key pair at `key` (no passphrase); returns its public
/// key as an age recipient (`ssh-ed25519 AAAA…`).
fn ssh_keygen(key: &Path) -> String {
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@example", "-f"])
        .arg(key)
        .output()
        .expect("ssh-keygen");
    assert!(keygen.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn ssh_ed25519_recipients_and_identities_both_ways() {
    let Some(e) = env() else { return };
    let key = e.dir.join("id_ed25519");
    let recipient = ssh_keygen(&key);
    let plain = e.write("ssh.yaml", b"a: via-ssh\n");
    let vars = [("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key.to_str().unwrap())];
    let args = ["encrypt", "--age", &recipient, &plain];
    let (s, c) = both(&e, &args, &[], b"");
    let fs = e.write("ssh.sops.enc.yaml", &ok(s));
    let fc = e.write("ssh.clef.enc.yaml", &ok(c));
    let (a, b) = (
        run_with(&e, true, &["decrypt", &fs], &vars, b""),
        run_with(&e, false, &["decrypt", &fc], &vars, b""),
    );
    assert_eq!(ok(a), b"a: via-ssh\n".to_vec());
    assert_eq!(ok(b), b"a: via-ssh\n".to_vec());
    // Without the SSH key, clef says which stanza failed.
    let r = run_with(&e, true, &["decrypt", &fs], &[], b"");
    assert_eq!(r.status.code(), Some(128));
    assert!(String::from_utf8_lossy(&r.stderr).contains("ssh-ed25519"));
}

#[test]
fn the_default_ssh_key_opens_files_like_sops() {
    let Some(e) = env() else { return };
    let ssh = e.home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let key = ssh.join("id_ed25519");
    let recipient = ssh_keygen(&key);
    let plain = e.write("dssh.yaml", b"a: via-default-ssh\n");
    let (s, c) = both(&e, &["encrypt", "--age", &recipient, &plain], &[], b"");
    let fs = e.write("dssh.sops.enc.yaml", &ok(s));
    let fc = e.write("dssh.clef.enc.yaml", &ok(c));
    // SOPS_AGE_KEY_FILE names k2, no recipient: only ~/.ssh/id_ed25519 opens them.
    let k2 = [("SOPS_AGE_KEY_FILE", e.k2.file.to_str().unwrap())];
    for f in [&fs, &fc] {
        let (s, c) = both(&e, &["decrypt", f], &k2, b"");
        assert_eq!(ok(s), b"a: via-default-ssh\n".to_vec(), "sops {f}");
        assert_eq!(ok(c), b"a: via-default-ssh\n".to_vec(), "clef {f}");
    }
    // Without it, neither can.
    std::fs::rename(&key, e.dir.join("moved")).unwrap();
    let (s, c) = both(&e, &["decrypt", &fc], &k2, b"");
    assert_eq!(s.status.code(), Some(128));
    assert_eq!(c.status.code(), Some(128));
}

#[test]
fn filestatus_matches_sops() {
    let Some(e) = env() else { return };
    let enc = encrypted(&e, "fst", "a: 1\n");
    let plain = e.write("fst.yaml", b"a: 1\n");
    let json = e.write("fst.json", b"{\"a\": 1}\n");
    for f in [&enc, &plain, &json] {
        let (s, c) = both(&e, &["filestatus", f], &[], b"");
        assert_eq!(c.status.code(), s.status.code(), "{f}");
        assert_eq!(
            String::from_utf8_lossy(&c.stdout),
            String::from_utf8_lossy(&s.stdout),
            "{f}"
        );
    }
    let (s, c) = both(
        &e,
        &[
            "filestatus",
            &e.dir.join("absent.yaml").display().to_string(),
        ],
        &[],
        b"",
    );
    assert_eq!(c.status.code(), s.status.code());
    assert!(c.stdout.is_empty());
}
