//! The repository's `.pre-commit-hooks.yaml` run by the real `pre-commit`
//! framework (PyPI `pre-commit`) in a temp repository.
//!
//! The framework is found at `PRE_COMMIT_BIN`, else in the test venv
//! (`~/.cache/clef-test/venv/bin/pre-commit`, installed by test.sh). When it
//! is missing the test is skipped, unless `CLEF_REQUIRE_PRECOMMIT=1` (set by
//! test.sh), which turns its absence into a failure.

use std::path::{Path, PathBuf};

use crate::hooks_util::{allowed, blocked, token};
use clef_e2e::{GitSandbox, ok, run};

fn pre_commit_bin() -> Option<PathBuf> {
    let home_venv =
        |h: std::ffi::OsString| PathBuf::from(h).join(".cache/clef-test/venv/bin/pre-commit");
    let found = [
        std::env::var_os("PRE_COMMIT_BIN").map(PathBuf::from),
        std::env::var_os("CLEF_TEST_CACHE").map(|c| PathBuf::from(c).join("venv/bin/pre-commit")),
        std::env::var_os("HOME").map(home_venv),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file());
    if found.is_none() && std::env::var("CLEF_REQUIRE_PRECOMMIT").as_deref() == Ok("1") {
        panic!(
            "the pre-commit framework is required (CLEF_REQUIRE_PRECOMMIT=1) but was not found; set PRE_COMMIT_BIN"
        );
    }
    found
}

#[test]
fn pre_commit_framework_runs_our_hooks() {
    let Some(pc) = pre_commit_bin() else {
        eprintln!("skipped: pre-commit framework not installed (set PRE_COMMIT_BIN)");
        return;
    };
    let s = GitSandbox::new();
    // a hook repository holding only our .pre-commit-hooks.yaml, at a commit
    let hooks_repo = s.home.join("hooks-repo");
    std::fs::create_dir_all(&hooks_repo).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.pre-commit-hooks.yaml");
    std::fs::copy(&manifest, hooks_repo.join(".pre-commit-hooks.yaml")).unwrap();
    ok(s.git_in(&hooks_repo, &["init", "-q", "-b", "main"]));
    ok(s.git_in(&hooks_repo, &["add", "."]));
    ok(s.git_in(&hooks_repo, &["commit", "-q", "-m", "hooks"]));
    let rev = String::from_utf8(ok(s.git_in(&hooks_repo, &["rev-parse", "HEAD"]))).unwrap();

    s.write(
        ".pre-commit-config.yaml",
        format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: clef-hook\n      - id: clef-hook-pre-push\n",
            hooks_repo.display(),
            rev.trim()
        ),
    );
    ok(s.git(&["add", ".pre-commit-config.yaml"]));
    let mut c = s.cmd(&pc);
    c.args(["install", "-t", "pre-commit", "-t", "pre-push"]);
    ok(run(c));

    ok(s.git(&["commit", "-q", "-m", "config"]));
    s.write("app.env", format!("GITHUB_TOKEN={}\n", token()));
    ok(s.git(&["add", "app.env"]));
    let err = blocked(s.git(&["commit", "-q", "-m", "leak"]));
    assert!(err.contains("app.env:1"), "{err}");

    // pre-push through the framework (it passes refs in PRE_COMMIT_* variables)
    let remote = s.home.join("remote.git");
    ok(s.git(&["init", "-q", "--bare", remote.to_str().unwrap()]));
    ok(s.git(&["remote", "add", "origin", remote.to_str().unwrap()]));
    s.write("app.env", "GITHUB_TOKEN=${GITHUB_TOKEN}\n");
    ok(s.git(&["add", "app.env"]));
    allowed(s.git(&["commit", "-q", "-m", "clean"]));
    allowed(s.git(&["push", "-q", "origin", "main"]));
    s.write("later.txt", format!("{}\n", token()));
    ok(s.git(&["add", "later.txt"]));
    ok(s.git(&["commit", "-q", "--no-verify", "-m", "leak"]));
    // git does not redirect a pre-push hook's stdout, where the framework prints
    let mut o = s.git(&["push", "-q", "origin", "main"]);
    let mut all = std::mem::take(&mut o.stdout);
    all.extend_from_slice(&o.stderr);
    o.stderr = all;
    let err = blocked(o);
    assert!(err.contains("later.txt:1"), "{err}");
    assert!(
        !String::from_utf8(ok(s.git_in(&remote, &["log", "--format=%s", "main"])))
            .unwrap()
            .contains("leak")
    );
}
