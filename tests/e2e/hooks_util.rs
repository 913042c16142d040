//! Shared fixtures for the hooks tests: sandboxes with the hooks installed,
//! a fake-but-detectable token, encrypted files made with `clef sops`.

use std::process::Output;

use clef_e2e::{GitSandbox, TestKey, bin, ok, run};

/// A GitHub token shape the scanner recognises (built at run time so this
/// source file itself does not trip scanners).
pub fn token() -> String {
    format!("ghp_{}", "R8x2Lq9ZkT4vN7mW3pY6sB1cD5fH0jKuE2aQ")
}

/// A second, different token.
pub fn token2() -> String {
    format!("ghp_{}", "Z3k9Wq2Lm8Tn4Rv7Xp1Bc6Dy5Fh0Gj2KsA9u")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a git command failed because the hook blocked it, and that no
/// secret leaked into its output.
#[track_caller]
pub fn blocked(o: Output) -> String {
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "expected the hook to block; stderr:\n{err}"
    );
    assert!(err.contains("blocked"), "not blocked by clef-hook:\n{err}");
    for t in [token(), token2()] {
        assert!(!err.contains(&t), "secret leaked into hook output:\n{err}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains(&t),
            "secret on stdout"
        );
    }
    assert!(!err.contains("hunter2"), "plaintext value leaked:\n{err}");
    err
}

/// Asserts success and that clef-hook said nothing alarming.
#[track_caller]
pub fn allowed(o: Output) -> String {
    let err = stderr(&o);
    assert!(o.status.success(), "expected success; stderr:\n{err}");
    assert!(!err.contains("blocked"), "unexpected block:\n{err}");
    err
}

/// A sandbox with an initial commit and `clef-hook install` done.
pub fn repo() -> GitSandbox {
    let s = GitSandbox::new();
    s.write("README.md", "hello\n");
    ok(s.git(&["add", "README.md"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "init"]));
    install(&s);
    s
}

pub fn install(s: &GitSandbox) -> Output {
    let mut c = s.cmd(bin("clef-hook"));
    c.arg("install");
    let o = run(c);
    assert!(o.status.success(), "install failed: {}", stderr(&o));
    o
}

/// Adds a clef.yaml with the usual file pattern.
pub fn manifest(s: &GitSandbox) {
    s.write(
        "clef.yaml",
        "version: 1\nfile_pattern: secrets/{namespace}/{environment}.enc.yaml\nenvironments:\n  - name: dev\n    description: Local\nnamespaces:\n  - name: api\n    description: API\n",
    );
    ok(s.git(&["add", "clef.yaml"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "manifest"]));
}

/// A real sops YAML file (encrypted by `clef sops encrypt`) holding
/// `db.password = hunter2` and `db.port = 5432`.
pub fn encrypted_yaml(s: &GitSandbox) -> String {
    let key = TestKey::new(&s.home, "key.txt");
    let plain = s.home.join("plain.yaml");
    std::fs::write(
        &plain,
        "db:\n    password: hunter2\n    port: 5432\nname: app\n",
    )
    .unwrap();
    let mut c = s.cmd(bin("clef"));
    c.env("SOPS_AGE_KEY_FILE", &key.file)
        .args(["sops", "encrypt", "--age", &key.recipient])
        .arg(&plain);
    let out = String::from_utf8(ok(run(c))).unwrap();
    std::fs::remove_file(&plain).unwrap();
    assert!(
        out.contains("ENC[AES256_GCM") && out.contains("mac:"),
        "not encrypted:\n{out}"
    );
    assert!(!out.contains("hunter2"));
    out
}

/// Commits with the hooks running.
pub fn commit(s: &GitSandbox, msg: &str) -> Output {
    s.git(&["commit", "-q", "-m", msg])
}
