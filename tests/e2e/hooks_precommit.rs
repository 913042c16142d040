//! `clef-hook pre-commit` through real `git commit` in temp repositories.

use crate::hooks_util::{allowed, blocked, commit, encrypted_yaml, manifest, repo, token};
use clef_e2e::ok;

#[test]
fn staged_secret_is_blocked_with_location_rule_and_redacted_preview() {
    let s = repo();
    s.write(
        "app/config.py",
        format!("import os\n\nTOKEN = \"{}\"\n", token()),
    );
    ok(s.git(&["add", "app/config.py"]));
    let err = blocked(commit(&s, "add config"));
    assert!(err.contains("app/config.py:3"), "{err}");
    assert!(err.contains("[github-pat]"), "{err}");
    assert!(err.contains("ghp_*****"), "{err}");
    assert!(
        err.contains("clef:ignore") && err.contains(".clefignore"),
        "no suppression hint: {err}"
    );
    assert!(err.contains("git commit --no-verify"), "{err}");
    // no manifest: said once, without pretending anything about secrets
    assert!(err.contains("no clef.yaml"), "{err}");
    // nothing was committed
    let log = String::from_utf8(ok(s.git(&["log", "--oneline"]))).unwrap();
    assert_eq!(log.lines().count(), 1);
}

#[test]
fn staged_then_removed_from_work_tree_is_still_blocked() {
    let s = repo();
    s.write("settings.env", format!("GITHUB_TOKEN={}\n", token()));
    ok(s.git(&["add", "settings.env"]));
    s.write("settings.env", "GITHUB_TOKEN=${GITHUB_TOKEN}\n");
    let err = blocked(commit(&s, "settings"));
    assert!(err.contains("settings.env:1"), "{err}");
}

#[test]
fn secret_only_in_work_tree_is_allowed() {
    let s = repo();
    s.write("settings.env", "GITHUB_TOKEN=${GITHUB_TOKEN}\n");
    ok(s.git(&["add", "settings.env"]));
    s.write("settings.env", format!("GITHUB_TOKEN={}\n", token()));
    allowed(commit(&s, "settings"));
    let committed = ok(s.git(&["show", "HEAD:settings.env"]));
    assert_eq!(committed, b"GITHUB_TOKEN=${GITHUB_TOKEN}\n");
}

#[test]
fn commit_all_checks_the_temporary_index() {
    // `git commit -a` stages into a temporary index (GIT_INDEX_FILE)
    let s = repo();
    s.write("README.md", format!("hello\ntoken {}\n", token()));
    let err = blocked(s.git(&["commit", "-q", "-a", "-m", "all"]));
    assert!(err.contains("README.md:2"), "{err}");
}

#[test]
fn clean_commit_without_manifest_says_nothing() {
    let s = repo();
    s.write("src/main.rs", "fn main() { println!(\"hi\"); }\n");
    ok(s.git(&["add", "src/main.rs"]));
    let err = allowed(commit(&s, "code"));
    assert!(
        err.trim().is_empty(),
        "unexpected output on a clean commit: {err}"
    );
}

#[test]
fn plaintext_enc_yaml_is_blocked_even_when_it_mentions_sops() {
    let s = repo();
    manifest(&s);
    // the old hook's grep for `sops:` passed this file
    s.write(
        "secrets/api/dev.enc.yaml",
        "db_password: hunter2\n# sops: encrypted later\n",
    );
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "cell"));
    assert!(err.contains("secrets/api/dev.enc.yaml"), "{err}");
    assert!(err.contains("[sops-not-encrypted]"), "{err}");

    s.write(
        "secrets/api/dev.enc.yaml",
        "db_password: hunter2\nsops:\n    version: 3.11.0\n",
    );
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "cell"));
    assert!(err.contains("[sops-invalid]"), "{err}");
}

#[test]
fn file_pattern_from_manifest_is_checked_too() {
    let s = repo();
    s.write(
        "clef.yaml",
        "version: 1\nfile_pattern: cfg/{namespace}/{environment}.yaml\n",
    );
    ok(s.git(&["add", "clef.yaml"]));
    allowed(commit(&s, "manifest"));
    s.write("cfg/api/prod.yaml", "password: hunter2\n");
    ok(s.git(&["add", "cfg/api/prod.yaml"]));
    let err = blocked(commit(&s, "cell"));
    assert!(
        err.contains("cfg/api/prod.yaml:1  [sops-not-encrypted]"),
        "{err}"
    );
}

#[test]
fn valid_sops_file_passes_and_one_plaintext_value_in_it_is_blocked() {
    let s = repo();
    manifest(&s);
    let enc = encrypted_yaml(&s);
    s.write("secrets/api/dev.enc.yaml", &enc);
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    allowed(commit(&s, "valid cell"));

    // one value edited to plaintext by hand: structurally still a sops file
    let leaked: String = enc
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("password:") {
                "    password: hunter2".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_ne!(leaked, enc);
    s.write("secrets/api/dev.enc.yaml", &leaked);
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "edit"));
    assert!(
        err.contains("secrets/api/dev.enc.yaml:2  [sops-plaintext-value]"),
        "{err}"
    );
    assert!(err.contains("[\"db\"][\"password\"]"), "{err}");
}

#[test]
fn conflict_document_is_blocked() {
    let s = repo();
    manifest(&s);
    let enc = encrypted_yaml(&s);
    // what clef-merge writes on conflict: markers around ENC lines and the sentinel MAC
    let mut doc = String::new();
    for l in enc.lines() {
        if l.trim_start().starts_with("port:") {
            doc.push_str(&format!(
                "<<<<<<< HEAD\n{l}\n=======\n{l}\n>>>>>>> feature\n"
            ));
        } else if l.trim_start().starts_with("mac:") {
            doc.push_str("    mac: CLEF-CONFLICT-unresolved-merge-do-not-deploy\n");
        } else {
            doc.push_str(l);
            doc.push('\n');
        }
    }
    s.write("secrets/api/dev.enc.yaml", &doc);
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "merge"));
    assert!(err.contains("[conflict-document]"), "{err}");
    assert!(err.contains("clef merge resolve"), "{err}");

    // the sentinel MAC alone (markers removed by hand) is still a conflict document
    let no_markers: String = doc
        .lines()
        .filter(|l| {
            !l.starts_with("<<<<<<<") && !l.starts_with("=======") && !l.starts_with(">>>>>>>")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    s.write("secrets/api/dev.enc.yaml", &no_markers);
    ok(s.git(&["add", "secrets/api/dev.enc.yaml"]));
    let err = blocked(commit(&s, "merge"));
    assert!(err.contains("[conflict-document]"), "{err}");
}

#[test]
fn suppressed_findings_are_allowed() {
    let s = repo();
    s.write(
        "docs/example.py",
        format!("TOKEN = \"{}\"  # clef:ignore\n", token()),
    );
    ok(s.git(&["add", "docs/example.py"]));
    allowed(commit(&s, "inline suppression"));

    s.write(".clefignore", "fixtures/\n");
    s.write("fixtures/token.txt", format!("{}\n", token()));
    ok(s.git(&["add", ".clefignore", "fixtures/token.txt"]));
    allowed(commit(&s, "ignored path"));
}

#[test]
fn key_files_are_blocked_outright() {
    let s = repo();
    s.write("keys.txt", "# nothing secret in here yet\n");
    ok(s.git(&["add", "keys.txt"]));
    let err = blocked(commit(&s, "keys"));
    assert!(err.contains("keys.txt  [private-key-file]"), "{err}");
    ok(s.git(&["rm", "-q", "--cached", "keys.txt"]));

    s.write(".clef/config.yaml", "age_key_file: /home/me/key.txt\n");
    ok(s.git(&["add", "-f", ".clef/config.yaml"]));
    blocked(commit(&s, "local config"));
    ok(s.git(&["rm", "-q", "--cached", ".clef/config.yaml"]));

    // an identity under any name, even with a clef:ignore on it
    let k = clef_e2e::TestKey::new(&s.root, "deploy-identity");
    ok(s.git(&["add", "deploy-identity"]));
    let err = blocked(commit(&s, "identity"));
    assert!(
        err.contains("deploy-identity:2  [private-key-file]"),
        "{err}"
    );
    assert!(
        !err.contains(
            &std::fs::read_to_string(&k.file)
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()[20..]
        )
    );
}

#[test]
fn findings_on_untouched_lines_do_not_block() {
    let s = repo();
    s.write("legacy.cfg", format!("token = {}\nname = a\n", token()));
    ok(s.git(&["add", "legacy.cfg"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "old leak"]));
    s.write("legacy.cfg", format!("token = {}\nname = b\n", token()));
    ok(s.git(&["add", "legacy.cfg"]));
    allowed(commit(&s, "rename"));
}

#[test]
fn amend_checks_the_new_staged_content() {
    let s = repo();
    s.write("a.txt", "a\n");
    ok(s.git(&["add", "a.txt"]));
    allowed(commit(&s, "a"));
    allowed(s.git(&["commit", "-q", "--amend", "-m", "a, reworded"]));
    s.write("a.txt", format!("a\n{}\n", token()));
    ok(s.git(&["add", "a.txt"]));
    let err = blocked(s.git(&["commit", "-q", "--amend", "-m", "a + token"]));
    assert!(err.contains("a.txt:2"), "{err}");
}

#[test]
fn merge_commits_are_checked() {
    let s = repo();
    ok(s.git(&["checkout", "-q", "-b", "feature"]));
    s.write("f.txt", format!("{}\n", token()));
    ok(s.git(&["add", "f.txt"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "leak on a branch"]));
    ok(s.git(&["checkout", "-q", "main"]));
    s.write("m.txt", "main\n");
    ok(s.git(&["add", "m.txt"]));
    allowed(commit(&s, "main work"));
    // a clean (non-fast-forward) merge runs pre-merge-commit
    let err = blocked(s.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]));
    assert!(err.contains("f.txt:1"), "{err}");
    // a conflicted merge is finished with `git commit`, which runs pre-commit
    // whatever state the refused merge left, start over
    let _ = s.git(&["merge", "--abort"]);
    ok(s.git(&["reset", "-q", "--hard", "main"]));
    ok(s.git(&["merge", "-q", "--no-commit", "--no-ff", "feature"]));
    let err = blocked(commit(&s, "merge feature"));
    assert!(err.contains("f.txt:1"), "{err}");
}

#[test]
fn unusual_paths_are_reported_and_matched() {
    let s = repo();
    s.write(
        "dir with space/conf ig.env",
        format!("A=1\nT={}\n", token()),
    );
    s.write("données/é\tx.txt", format!("{}\n", token()));
    ok(s.git(&["add", "."]));
    let err = blocked(commit(&s, "paths"));
    assert!(err.contains("dir with space/conf ig.env:2"), "{err}");
    assert!(err.contains("données/é\tx.txt:1"), "{err}");
}

#[test]
fn object_directory_from_the_environment_is_honoured() {
    // GIT_OBJECT_DIRECTORY redirects git's object store: clef-hook must read
    // the staged blobs from there too (it falls back to `git cat-file`)
    let s = repo();
    let moved = s.home.join("objects");
    let objects = s.root.join(".git/objects");
    std::fs::rename(&objects, &moved).expect("move the object store");
    std::fs::create_dir(&objects).expect("empty objects dir");
    let env_git = |args: &[&str]| {
        let mut c = s.cmd("git");
        c.current_dir(&s.root)
            .env("GIT_OBJECT_DIRECTORY", &moved)
            .args(args);
        clef_e2e::run(c)
    };
    s.write("deploy.sh", format!("export GITHUB_TOKEN={}\n", token()));
    ok(env_git(&["add", "deploy.sh"]));
    let err = blocked(env_git(&["commit", "-q", "-m", "deploy"]));
    assert!(err.contains("deploy.sh:1"), "{err}");
    s.write("deploy.sh", "export GITHUB_TOKEN=${GITHUB_TOKEN}\n");
    ok(env_git(&["add", "deploy.sh"]));
    allowed(env_git(&["commit", "-q", "-m", "deploy"]));
}
