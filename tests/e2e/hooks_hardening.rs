//! Issue 11's scanner and hook items, through real `git commit` / `git push`
//! with the hooks installed, real sops and real age: each test failed on the
//! main branch it was written against.

use crate::hooks_util::{allowed, blocked, commit, encrypted_yaml, manifest, repo, token};
use clef_e2e::{GitSandbox, TestKey, bin, ok, run, sops_bin};

fn with_remote(s: &GitSandbox, name: &str) -> std::path::PathBuf {
    let remote = s.home.join(format!("{name}.git"));
    ok(s.git(&["init", "-q", "--bare", remote.to_str().unwrap()]));
    ok(s.git(&["remote", "add", name, remote.to_str().unwrap()]));
    remote
}

fn commit_unchecked(s: &GitSandbox, file: &str, content: impl AsRef<[u8]>) {
    s.write(file, content);
    ok(s.git(&["add", file]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", file]));
}

// item 1: `-diff` / `binary` attributes
#[test]
fn files_marked_minus_diff_or_binary_are_still_checked() {
    let s = repo();
    s.write(".gitattributes", "*.py -diff\n*.lock binary\n");
    ok(s.git(&["add", ".gitattributes"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "attrs"]));
    s.write("app.py", format!("x = 1\nTOKEN = \"{}\"\n", token()));
    ok(s.git(&["add", "app.py"]));
    let err = blocked(commit(&s, "py"));
    assert!(
        err.contains("app.py:2") && err.contains("[github-pat]"),
        "{err}"
    );
    ok(s.git(&["reset", "-q"]));
    std::fs::remove_file(s.root.join("app.py")).unwrap();

    with_remote(&s, "origin");
    allowed(s.git(&["push", "-q", "origin", "main"]));
    commit_unchecked(&s, "deps.lock", format!("a\nb\n{}\n", token()));
    let err = blocked(s.git(&["push", "-q", "origin", "main"]));
    assert!(err.contains("deps.lock:3"), "{err}");
}

// item 2: fail closed over the size limit, and the documented way out
#[test]
fn files_over_the_scan_limit_block_unless_clefignore_allows_them() {
    let s = repo();
    let mut big = vec![b'x'; 34 << 20];
    big.extend(format!("\nTOKEN={}\n", token()).as_bytes());
    s.write("dump.sql", &big);
    ok(s.git(&["add", "dump.sql"]));
    let err = blocked(commit(&s, "big"));
    assert!(
        err.contains("dump.sql") && err.contains("[too-large]"),
        "{err}"
    );
    assert!(err.contains(".clefignore"), "no way out documented: {err}");
    // allowed on purpose
    s.write(".clefignore", "/dump.sql\n");
    ok(s.git(&["add", ".clefignore"]));
    let err = allowed(commit(&s, "big, allowed"));
    assert!(err.contains("dump.sql: not checked"), "{err}");

    // a never-encrypted cell over the limit cannot be allowed away
    let s = repo();
    manifest(&s);
    s.write(".clefignore", "/secrets/\n");
    let mut cell = b"API_KEY: plain\n".to_vec();
    cell.extend(vec![b'#'; 34 << 20]);
    s.write("secrets/api/dev.enc.yaml", &cell);
    ok(s.git(&["add", ".clefignore", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "cell"));
    assert!(
        err.contains("secrets/api/dev.enc.yaml") && err.contains("[too-large]"),
        "{err}"
    );
}

// item 3: linear on one long line (a debug build; quadratic took minutes)
#[test]
fn a_ten_megabyte_line_of_one_character_is_checked_quickly() {
    let s = repo();
    let mut line = vec![b'A'; 10 << 20];
    line.extend(format!("\nTOKEN={}\n", token()).as_bytes());
    s.write("blob.txt", &line);
    ok(s.git(&["add", "blob.txt"]));
    let t = std::time::Instant::now();
    let err = blocked(commit(&s, "long line"));
    let took = t.elapsed();
    assert!(err.contains("blob.txt:2"), "{err}");
    assert!(took.as_secs() < 30, "took {took:?}");
}

// item 4: tags of blobs and trees; other remotes' refs
#[test]
fn pre_push_checks_tags_of_blobs_and_trees() {
    let s = repo();
    with_remote(&s, "origin");
    allowed(s.git(&["push", "-q", "origin", "main"]));
    // a blob and a tree that only a local side branch knows
    ok(s.git(&["checkout", "-q", "-b", "side"]));
    commit_unchecked(&s, "cfg/token.env", format!("TOKEN={}\n", token()));
    ok(s.git(&["checkout", "-q", "main"]));
    ok(s.git(&["tag", "blobtag", "side:cfg/token.env"]));
    let err = blocked(s.git(&["push", "-q", "origin", "blobtag"]));
    assert!(err.contains("refs/tags/blobtag:1"), "{err}");
    ok(s.git(&[
        "tag",
        "-a",
        "-m",
        "annotated",
        "blobtag2",
        "side:cfg/token.env",
    ]));
    blocked(s.git(&["push", "-q", "origin", "blobtag2"]));
    ok(s.git(&["tag", "treetag", "side^{tree}"]));
    let err = blocked(s.git(&["push", "-q", "origin", "treetag"]));
    assert!(err.contains("cfg/token.env:1"), "{err}");
    // a tag of a clean blob goes through
    ok(s.git(&["tag", "readme", "main:README.md"]));
    allowed(s.git(&["push", "-q", "origin", "readme"]));
}

#[test]
fn pre_push_excludes_only_what_the_target_remote_has() {
    let s = repo();
    let origin = with_remote(&s, "origin");
    with_remote(&s, "mirror");
    allowed(s.git(&["push", "-q", "origin", "main"]));
    // a secret that went to the mirror (bypassing the hook) ...
    commit_unchecked(&s, "leak.txt", format!("{}\n", token()));
    ok(s.git(&["push", "-q", "--no-verify", "mirror", "main"]));
    // ... is still new to origin
    let err = blocked(s.git(&["push", "-q", "origin", "main"]));
    assert!(err.contains("leak.txt:1"), "{err}");
    let has = s
        .git_in(&origin, &["rev-parse", "-q", "--verify", "refs/heads/main"])
        .stdout;
    let head = ok(s.git(&["rev-parse", "HEAD"]));
    assert_ne!(has, head, "origin got the secret");
}

// item 11: what the scanner did not read
#[test]
fn utf16_stray_nul_and_lowercase_age_keys_are_checked() {
    let s = repo();
    let text = format!("$token = \"{}\"\r\n", token());
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    s.write("deploy.ps1", &utf16);
    ok(s.git(&["add", "deploy.ps1"]));
    let err = blocked(commit(&s, "utf16"));
    assert!(err.contains("deploy.ps1:1"), "{err}");
    ok(s.git(&["reset", "-q"]));

    s.write("notes.txt", format!("\0\nTOKEN={}\n", token()));
    ok(s.git(&["add", "notes.txt"]));
    let err = blocked(commit(&s, "nul"));
    assert!(err.contains("notes.txt:2"), "{err}");
    ok(s.git(&["reset", "-q"]));
    std::fs::remove_file(s.root.join("notes.txt")).unwrap();
    std::fs::remove_file(s.root.join("deploy.ps1")).unwrap();

    let key = TestKey::new(&s.home, "k.txt");
    let text = std::fs::read_to_string(&key.file).unwrap().to_lowercase();
    s.write("backup/identity.txt", &text);
    ok(s.git(&["add", "backup/identity.txt"]));
    let err = blocked(commit(&s, "age"));
    assert!(err.contains("backup/identity.txt:2"), "{err}");
    let upper_secret = text.lines().nth(1).unwrap().to_uppercase();
    assert!(!err.to_uppercase().contains(&upper_secret), "key leaked");
}

#[test]
fn tokens_in_unencrypted_values_key_names_and_extra_metadata_of_a_cell_are_checked() {
    let s = repo();
    manifest(&s);
    let enc = encrypted_yaml(&s);
    // a plaintext value the crypt rule leaves in clear
    let insert = |line: &str| enc.replacen("sops:\n", &format!("{line}\nsops:\n"), 1);
    s.write(
        "secrets/api/dev.enc.yaml",
        insert(&format!("ci_unencrypted: {}", token())),
    );
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "suffix"));
    assert!(err.contains("[github-pat]"), "{err}");

    // a token as a key name (its value a well-formed envelope)
    let envelope = enc
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("name")
        .to_owned();
    s.write(
        "secrets/api/dev.enc.yaml",
        insert(&format!("{}: {envelope}", token())),
    );
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "key name"));
    assert!(err.contains("[github-pat]"), "{err}");

    // an extra field in the metadata
    let extra = enc.replacen("sops:\n", &format!("sops:\n    note: {}\n", token()), 1);
    s.write("secrets/api/dev.enc.yaml", &extra);
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "meta"));
    assert!(err.contains("[github-pat]"), "{err}");

    // the cell itself is fine
    s.write("secrets/api/dev.enc.yaml", &enc);
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    allowed(commit(&s, "clean cell"));
}

// item 19: files written by the real sops are not findings
#[test]
fn files_sops_writes_are_not_flagged() {
    let Some(sops) = sops_bin() else {
        eprintln!("skipped: no sops binary");
        return;
    };
    let s = GitSandbox::new();
    let key = TestKey::new(&s.home, "key.txt");
    let cases = [
        (
            "app.enc.ini",
            "[database]\nuser = admin\npassword = hunter2hunter2\n\n[app]\nmode = dev\n",
        ),
        (
            "nested.enc.yaml",
            "cfg_unencrypted:\n    host: db.internal\n    list:\n        - a\n        - b\nsecret: hunter2hunter2\ncert: |-\n    line one\n    line two\n",
        ),
        (
            "empty.enc.json",
            "{\n  \"anEmptyValue\": \"\",\n  \"password\": \"hunter2hunter2\"\n}\n",
        ),
    ];
    for (name, plain) in cases {
        let p = s.root.join(name);
        std::fs::write(&p, plain).unwrap();
        let mut c = s.cmd(&sops);
        c.env("SOPS_AGE_KEY_FILE", &key.file).args([
            "encrypt",
            "--age",
            &key.recipient,
            "--in-place",
            name,
        ]);
        let out = run(c);
        assert!(
            out.status.success(),
            "sops {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("hunter2hunter2"), "{name} not encrypted");
    }
    let mut c = s.cmd(bin("clef-scan"));
    c.args(["--format", "json", "."]);
    let out = run(c);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    // and a leak in each is still found
    let ini = std::fs::read_to_string(s.root.join("app.enc.ini")).unwrap();
    let leak = ini.replacen("mode = ENC[", "mode = plain-text-value\n;ENC[", 1);
    assert_ne!(leak, ini);
    std::fs::write(s.root.join("app.enc.ini"), leak).unwrap();
    let mut c = s.cmd(bin("clef-scan"));
    c.args(["--format", "json", "."]);
    let out = run(c);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("sops-plaintext-value"), "{report}");
    assert!(report.contains("app.enc.ini"), "{report}");
}
