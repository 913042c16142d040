//! `clef-hook pre-push` through real `git push` to a local bare remote.

use crate::hooks_util::{allowed, blocked, repo, token, token2};
use clef_e2e::{GitSandbox, ok};

fn with_remote() -> GitSandbox {
    let s = repo();
    let remote = s.home.join("remote.git");
    ok(s.git(&["init", "-q", "--bare", remote.to_str().unwrap()]));
    ok(s.git(&["remote", "add", "origin", remote.to_str().unwrap()]));
    allowed(s.git(&["push", "-q", "origin", "main"]));
    s
}

fn commit_unchecked(s: &GitSandbox, file: &str, content: &str) {
    s.write(file, content);
    ok(s.git(&["add", file]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", file]));
}

fn remote_has(s: &GitSandbox, rev: &str) -> bool {
    let remote = s.home.join("remote.git");
    s.git_in(&remote, &["rev-parse", "-q", "--verify", rev])
        .status
        .success()
}

#[test]
fn new_branch_with_a_secret_in_history_is_blocked() {
    let s = with_remote();
    ok(s.git(&["checkout", "-q", "-b", "feature"]));
    commit_unchecked(&s, "cfg.ini", &format!("token = {}\n", token()));
    // removed again in a later commit: the blob is still pushed
    commit_unchecked(&s, "cfg.ini", "token = ${TOKEN}\n");
    let err = blocked(s.git(&["push", "-q", "origin", "feature"]));
    assert!(
        err.contains("cfg.ini:1") && err.contains("commit:"),
        "{err}"
    );
    assert!(err.contains("git push --no-verify"), "{err}");
    assert!(!remote_has(&s, "refs/heads/feature"));
}

#[test]
fn new_branch_without_secrets_is_allowed() {
    let s = with_remote();
    ok(s.git(&["checkout", "-q", "-b", "clean"]));
    commit_unchecked(&s, "a.txt", "a\n");
    allowed(s.git(&["push", "-q", "origin", "clean"]));
    assert!(remote_has(&s, "refs/heads/clean"));
}

#[test]
fn update_checks_only_commits_the_remote_lacks() {
    let s = with_remote();
    // a secret that is already on the remote (pushed with --no-verify) ...
    commit_unchecked(&s, "old.txt", &format!("{}\n", token()));
    ok(s.git(&["push", "-q", "--no-verify", "origin", "main"]));
    // ... does not block a later clean update
    commit_unchecked(&s, "new.txt", "fine\n");
    allowed(s.git(&["push", "-q", "origin", "main"]));
    // a new secret does
    commit_unchecked(&s, "new.txt", &format!("fine\n{}\n", token2()));
    let err = blocked(s.git(&["push", "-q", "origin", "main"]));
    assert!(err.contains("new.txt:2"), "{err}");
    assert!(!err.contains("old.txt"), "{err}");
}

#[test]
fn force_push_is_checked() {
    let s = with_remote();
    commit_unchecked(&s, "a.txt", "a\n");
    allowed(s.git(&["push", "-q", "origin", "main"]));
    // rewrite the pushed commit so that it carries a secret
    s.write("a.txt", format!("a\n{}\n", token()));
    ok(s.git(&["add", "a.txt"]));
    ok(s.git(&["commit", "-q", "--no-verify", "--amend", "-m", "a"]));
    let err = blocked(s.git(&["push", "-q", "--force", "origin", "main"]));
    assert!(err.contains("a.txt:2"), "{err}");
    // the same rewrite without the secret goes through
    s.write("a.txt", "a2\n");
    ok(s.git(&["add", "a.txt"]));
    ok(s.git(&["commit", "-q", "--no-verify", "--amend", "-m", "a"]));
    allowed(s.git(&["push", "-q", "--force", "origin", "main"]));
}

#[test]
fn tags_are_checked() {
    let s = with_remote();
    // a tag of a commit the remote already has: nothing new
    ok(s.git(&["tag", "-a", "-m", "v1", "v1"]));
    allowed(s.git(&["push", "-q", "origin", "v1"]));
    // an annotated tag on an unpushed commit with a secret
    ok(s.git(&["checkout", "-q", "--detach"]));
    commit_unchecked(&s, "rel.txt", &format!("{}\n", token()));
    ok(s.git(&["tag", "-a", "-m", "v2", "v2"]));
    let err = blocked(s.git(&["push", "-q", "origin", "v2"]));
    assert!(err.contains("rel.txt:1"), "{err}");
    assert!(!remote_has(&s, "refs/tags/v2"));
}

#[test]
fn deletion_push_is_allowed() {
    let s = with_remote();
    ok(s.git(&["checkout", "-q", "-b", "gone"]));
    commit_unchecked(&s, "g.txt", "g\n");
    allowed(s.git(&["push", "-q", "origin", "gone"]));
    allowed(s.git(&["push", "-q", "origin", "--delete", "gone"]));
    assert!(!remote_has(&s, "refs/heads/gone"));
}

#[test]
fn bad_pre_push_input_fails_closed() {
    let s = with_remote();
    let mut c = s.cmd(clef_e2e::bin("clef-hook"));
    c.args(["pre-push", "origin", "x"])
        .stdin(std::process::Stdio::piped());
    let mut child = c.stderr(std::process::Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        i.write_all(b"refs/heads/main not-a-sha refs/heads/main 0000\n")
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
