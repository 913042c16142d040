//! Bad input: every case gets one clear line on stderr, a specific non-zero
//! exit code, nothing on stdout, and never the secret value.

use std::path::{Path, PathBuf};
use std::process::Output;

use clef_e2e::{TestKey, bin, clean_cmd, ok, run};

const SECRET: &str = "hunter2-s3cr3t-value";

struct Fx {
    _t: tempfile::TempDir,
    dir: PathBuf,
    key: TestKey,
    other: TestKey,
    enc: String,
}

fn clef(dir: &Path, key: &Path, args: &[&str]) -> Output {
    let mut c = clean_cmd(&bin("clef"), dir);
    c.current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key)
        .arg("sops")
        .args(args);
    run(c)
}

fn fixture() -> Fx {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let key = TestKey::new(&dir, "k.txt");
    let other = TestKey::new(&dir, "other.txt");
    let plain = dir.join("p.yaml");
    std::fs::write(
        &plain,
        format!("db:\n    password: {SECRET}\n    port: 5432\nname: app\n"),
    )
    .unwrap();
    let enc = String::from_utf8(ok(clef(
        &dir,
        &key.file,
        &["encrypt", "--age", &key.recipient, plain.to_str().unwrap()],
    )))
    .unwrap();
    std::fs::remove_file(&plain).unwrap();
    Fx {
        _t: t,
        dir,
        key,
        other,
        enc,
    }
}

#[track_caller]
fn expect_fail(fx: &Fx, content: &[u8], key: &Path, code: i32, needle: &str) {
    let f = fx.dir.join("bad.enc.yaml");
    std::fs::write(&f, content).unwrap();
    let out = clef(&fx.dir, key, &["decrypt", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(out.stdout.is_empty(), "partial output on stdout");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.contains(needle), "'{needle}' not in: {err}");
    assert!(!err.contains(SECRET), "secret leaked into the error");
    assert!(!err.contains("panicked"), "panic: {err}");
}

fn replace_in_value(enc: &str, key: &str, f: impl Fn(&str) -> String) -> String {
    enc.lines()
        .map(|l| {
            if l.trim_start().starts_with(&format!("{key}:")) {
                f(l)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn tampering_and_corruption() {
    // Exit codes are sops 3.11's (issue 12; each is checked against the real
    // sops in sops_dropin::exit_codes_are_sops_codes).
    let fx = fixture();
    let k = fx.key.file.clone();
    // sanity: the untouched file decrypts
    expect_ok(&fx);
    let truncated = replace_in_value(&fx.enc, "password", |l| l[..l.len() / 2].to_owned());
    expect_fail(&fx, truncated.as_bytes(), &k, 25, "[\"db\"][\"password\"]");
    let bad_b64 = replace_in_value(&fx.enc, "password", |l| l.replacen("data:", "data:!!", 1));
    expect_fail(&fx, bad_b64.as_bytes(), &k, 25, "base64");
    let flipped = replace_in_value(&fx.enc, "password", |l| {
        let i = l.find("data:").unwrap() + 6;
        let mut b = l.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    });
    expect_fail(&fx, flipped.as_bytes(), &k, 25, "authentication failed");
    let bad_tag = replace_in_value(&fx.enc, "password", |l| {
        let i = l.find("tag:").unwrap() + 5;
        let mut b = l.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    });
    expect_fail(&fx, bad_tag.as_bytes(), &k, 25, "[\"db\"][\"password\"]");
    // a value moved to another key fails its AAD check
    let moved = fx.enc.replace("    password:", "    passwd:");
    expect_fail(&fx, moved.as_bytes(), &k, 25, "[\"db\"][\"passwd\"]");
    let bad_mac = replace_in_value(&fx.enc, "mac", |l| l.replacen("data:", "data:AAAA", 1));
    expect_fail(&fx, bad_mac.as_bytes(), &k, 51, "MAC");
    let lm = fx
        .enc
        .lines()
        .find(|l| l.contains("lastmodified"))
        .unwrap()
        .to_owned();
    let bad_time = fx
        .enc
        .replace(&lm, "    lastmodified: \"2001-01-01T00:00:00Z\"");
    expect_fail(&fx, bad_time.as_bytes(), &k, 51, "MAC");
    // reordering keys changes the MAC
    let swapped = {
        let lines: Vec<&str> = fx.enc.lines().collect();
        let pi = lines.iter().position(|l| l.contains("password:")).unwrap();
        let mut v = lines.clone();
        v.swap(pi, pi + 1);
        v.join("\n") + "\n"
    };
    expect_fail(&fx, swapped.as_bytes(), &k, 51, "MAC mismatch");
    expect_fail(
        &fx,
        fx.enc.as_bytes(),
        &fx.other.file,
        128,
        &fx.key.recipient,
    );
    expect_fail(&fx, b"db:\n    password: x\n", &k, 1, "not encrypted");
    let no_version = fx
        .enc
        .lines()
        .filter(|l| !l.contains("version:"))
        .collect::<Vec<_>>()
        .join("\n");
    expect_fail(&fx, no_version.as_bytes(), &k, 1, "version");
    let plaintext_value = replace_in_value(&fx.enc, "name", |_| format!("name: {SECRET}"));
    expect_fail(&fx, plaintext_value.as_bytes(), &k, 25, "clear text");
    expect_fail(&fx, b"\xff\xfe\x00garbage", &k, 2, "UTF-8");
    expect_fail(&fx, b"", &k, 1, "empty");
    expect_fail(&fx, b"a: [unterminated\n", &k, 2, "line");
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    expect_fail(&fx, deep.as_bytes(), &k, 2, "");
}

fn expect_ok(fx: &Fx) {
    let f = fx.dir.join("good.enc.yaml");
    std::fs::write(&f, &fx.enc).unwrap();
    let out = ok(clef(
        &fx.dir,
        &fx.key.file,
        &["decrypt", f.to_str().unwrap()],
    ));
    assert!(String::from_utf8_lossy(&out).contains(SECRET));
}

#[test]
fn encrypting_twice_is_refused() {
    let fx = fixture();
    let f = fx.dir.join("twice.enc.yaml");
    std::fs::write(&f, &fx.enc).unwrap();
    let out = clef(
        &fx.dir,
        &fx.key.file,
        &["encrypt", "--age", &fx.key.recipient, f.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(203));
    assert!(out.stdout.is_empty());
}

#[test]
fn format_never_guessed() {
    let fx = fixture();
    let f = fx.dir.join(".merge_file_AbC123");
    std::fs::write(&f, &fx.enc).unwrap();
    let out = clef(&fx.dir, &fx.key.file, &["decrypt", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input-type"));
    let out = clef(
        &fx.dir,
        &fx.key.file,
        &["decrypt", "--input-type", "yaml", f.to_str().unwrap()],
    );
    assert!(out.status.success());
}

#[test]
fn in_place_writes_are_atomic_and_ciphertext_only() {
    let fx = fixture();
    let f = fx.dir.join("s.enc.yaml");
    std::fs::write(&f, &fx.enc).unwrap();
    ok(clef(
        &fx.dir,
        &fx.key.file,
        &[
            "set",
            f.to_str().unwrap(),
            r#"["db"]["password"]"#,
            "\"n3w-s3cret-v4lue\"",
        ],
    ));
    let after = std::fs::read_to_string(&f).unwrap();
    assert!(!after.contains("n3w-s3cret-v4lue") && !after.contains(SECRET));
    let leftovers: Vec<_> = std::fs::read_dir(&fx.dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("clef-tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // a failing edit leaves the file untouched
    let out = clef(
        &fx.dir,
        &fx.other.file,
        &["set", f.to_str().unwrap(), r#"["x"]"#, "1"],
    );
    assert_eq!(out.status.code(), Some(128));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), after);
}

#[test]
fn self_check_runs_every_binary() {
    let t = tempfile::tempdir().unwrap();
    let out = ok(run({
        let mut c = clean_cmd(&bin("clef"), t.path());
        c.arg("self-check");
        c
    }));
    let text = String::from_utf8_lossy(&out);
    for b in ["sops engine", "clef-merge", "clef-hook", "clef-scan"] {
        assert!(
            text.lines().any(|l| l.starts_with("ok") && l.contains(b)),
            "{b} not checked: {text}"
        );
    }
}
