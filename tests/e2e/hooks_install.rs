//! `clef-hook install | uninstall | status`: shims, chaining, core.hooksPath,
//! worktrees, merge-driver registration, .gitattributes, idempotence.

use std::path::Path;

use crate::hooks_util::{allowed, blocked, commit, install, repo, stderr, token};
use clef_e2e::{GitSandbox, bin, ok, run};

fn hook_cmd(s: &GitSandbox, args: &[&str]) -> std::process::Output {
    let mut c = s.cmd(bin("clef-hook"));
    c.args(args);
    run(c)
}

fn config(s: &GitSandbox, key: &str) -> Option<String> {
    let o = s.git(&["config", "--get", key]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn install_registers_drivers_attributes_and_shims_idempotently() {
    let s = repo();
    let driver = "clef-merge %O %A %B --path %P --marker-size %L --labels %S %X %Y; rc=$?; [ $rc -eq 126 -o $rc -eq 127 ] && rc=255; exit $rc";
    assert_eq!(config(&s, "merge.clef.driver").as_deref(), Some(driver));
    assert_eq!(
        config(&s, "merge.clef.recursive").as_deref(),
        Some("binary")
    );
    assert_eq!(
        config(&s, "merge.clef-meta.driver").as_deref(),
        Some(driver)
    );
    assert!(config(&s, "merge.clef.name").is_some());
    let attrs = std::fs::read_to_string(s.root.join(".gitattributes")).unwrap();
    for l in [
        "*.enc.yaml merge=clef",
        "*.enc.json merge=clef",
        "*.clef-meta.yaml merge=clef-meta",
    ] {
        assert_eq!(
            attrs.lines().filter(|x| *x == l).count(),
            1,
            "{l} in {attrs}"
        );
    }
    let check = ok(s.git(&[
        "check-attr",
        "merge",
        "--",
        "secrets/a/dev.enc.yaml",
        "x/dev.clef-meta.yaml",
    ]));
    let check = String::from_utf8(check).unwrap();
    assert!(
        check.contains("dev.enc.yaml: merge: clef\n")
            && check.contains("clef-meta.yaml: merge: clef-meta"),
        "{check}"
    );
    let hooks = s.root.join(".git/hooks");
    for h in ["pre-commit", "pre-merge-commit", "pre-push"] {
        let p = hooks.join(h);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../hooks")
                    .join(h)
            )
            .unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o111,
                0o111,
                "{h} not executable"
            );
        }
    }
    let before = (
        snapshot(&hooks),
        attrs.clone(),
        std::fs::read(s.root.join(".git/config")).unwrap(),
    );
    let again = String::from_utf8(install(&s).stdout).unwrap();
    assert!(
        again.contains("up to date") && again.contains("already registered"),
        "{again}"
    );
    assert!(!again.contains("installed"), "{again}");
    let after = (
        snapshot(&hooks),
        std::fs::read_to_string(s.root.join(".gitattributes")).unwrap(),
        std::fs::read(s.root.join(".git/config")).unwrap(),
    );
    assert!(before == after, "second install changed something");
    let st = hook_cmd(&s, &["status"]);
    assert!(
        st.status.success(),
        "status: {}",
        String::from_utf8_lossy(&st.stdout)
    );
}

#[test]
fn attributes_are_appended_to_an_existing_file_once() {
    let s = GitSandbox::new();
    s.write(".gitattributes", "*.png binary\n*.enc.yaml merge=clef");
    install(&s);
    let attrs = std::fs::read_to_string(s.root.join(".gitattributes")).unwrap();
    assert!(
        attrs.starts_with("*.png binary\n*.enc.yaml merge=clef\n"),
        "{attrs}"
    );
    assert_eq!(attrs.matches("*.enc.yaml merge=clef").count(), 1, "{attrs}");
    assert!(
        attrs.contains("*.enc.json merge=clef\n")
            && attrs.contains("*.clef-meta.yaml merge=clef-meta\n")
    );
}

#[test]
fn existing_hook_is_chained_and_restored_by_uninstall() {
    let s = GitSandbox::new();
    s.write("README.md", "x\n");
    ok(s.git(&["add", "README.md"]));
    ok(s.git(&["commit", "-q", "-m", "init"]));
    let hook = s.root.join(".git/hooks/pre-commit");
    let original = "#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/previous-hook-ran\"\nexit ${PREVIOUS_HOOK_EXIT:-0}\n";
    std::fs::write(&hook, original).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = String::from_utf8(install(&s).stdout).unwrap();
    assert!(out.contains("still runs first"), "{out}");
    let marker = s.root.join(".git/previous-hook-ran");

    // clean commit: both hooks run
    s.write("a.txt", "a\n");
    ok(s.git(&["add", "a.txt"]));
    allowed(commit(&s, "a"));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");

    // secret: the previous hook passes, clef blocks
    s.write("b.txt", format!("{}\n", token()));
    ok(s.git(&["add", "b.txt"]));
    blocked(commit(&s, "b"));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\nran\n");

    // the previous hook still has the power to block on its own
    ok(s.git(&["rm", "-q", "--cached", "b.txt"]));
    s.write("c.txt", "c\n");
    ok(s.git(&["add", "c.txt"]));
    let mut c = s.cmd("git");
    c.env("PREVIOUS_HOOK_EXIT", "3")
        .args(["commit", "-q", "-m", "c"]);
    let o = run(c);
    assert!(
        !o.status.success() && !stderr(&o).contains("blocked"),
        "{}",
        stderr(&o)
    );

    // uninstall restores exactly the previous state of the hooks directory
    let out = hook_cmd(&s, &["uninstall"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), original);
    let hooks = s.root.join(".git/hooks");
    assert!(!hooks.join("pre-push").exists() && !hooks.join("pre-commit.clef-chained").exists());
    assert_eq!(config(&s, "merge.clef.driver"), None);
    assert_eq!(config(&s, "merge.clef-meta.driver"), None);
    // and a second uninstall is a no-op
    assert!(hook_cmd(&s, &["uninstall"]).status.success());
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), original);
}

#[test]
fn core_hooks_path_is_honoured() {
    let s = GitSandbox::new();
    ok(s.git(&["config", "core.hooksPath", ".githooks"]));
    install(&s);
    assert!(s.root.join(".githooks/pre-commit").is_file());
    assert!(!s.root.join(".git/hooks/pre-commit").exists());
    s.write("t.txt", format!("{}\n", token()));
    ok(s.git(&["add", "t.txt"]));
    blocked(commit(&s, "t"));
    let st = String::from_utf8(hook_cmd(&s, &["status"]).stdout).unwrap();
    assert!(st.contains(".githooks"), "{st}");
}

#[test]
fn linked_worktree_uses_the_shared_hooks() {
    let s = repo();
    let wt = s.home.join("wt");
    ok(s.git(&["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]));
    // installing from the worktree is a no-op (same hooks, same config)
    let mut c = s.cmd(bin("clef-hook"));
    c.current_dir(&wt).arg("install");
    let out = String::from_utf8(ok(run(c))).unwrap();
    assert!(out.contains("up to date"), "{out}");
    std::fs::write(wt.join("w.txt"), format!("{}\n", token())).unwrap();
    ok(s.git_in(&wt, &["add", "w.txt"]));
    let err = blocked(s.git_in(&wt, &["commit", "-q", "-m", "w"]));
    assert!(err.contains("w.txt:1"), "{err}");
    std::fs::write(wt.join("w.txt"), "fine\n").unwrap();
    ok(s.git_in(&wt, &["add", "w.txt"]));
    allowed(s.git_in(&wt, &["commit", "-q", "-m", "w"]));
}

#[test]
fn foreign_driver_needs_force() {
    let s = GitSandbox::new();
    ok(s.git(&["config", "merge.clef.driver", "other-tool %A"]));
    let o = hook_cmd(&s, &["install"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"));
    assert_eq!(
        config(&s, "merge.clef.driver").as_deref(),
        Some("other-tool %A")
    );
    assert!(
        !s.root.join(".git/hooks/pre-commit").exists(),
        "nothing is installed on refusal"
    );
    let o = hook_cmd(&s, &["install", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        config(&s, "merge.clef.driver")
            .unwrap()
            .starts_with("clef-merge ")
    );
}

#[test]
fn status_reports_missing_pieces() {
    let s = GitSandbox::new();
    let o = hook_cmd(&s, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("pre-commit: missing") && out.contains("not registered"),
        "{out}"
    );
}

#[test]
fn missing_clef_hook_binary_blocks_with_a_clear_message() {
    let s = repo();
    s.write("a.txt", "a\n");
    ok(s.git(&["add", "a.txt"]));
    let mut c = s.cmd("git");
    c.env("PATH", "/usr/bin:/bin")
        .args(["commit", "-q", "-m", "a"]);
    let o = run(c);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("clef-hook is not on PATH"),
        "{}",
        stderr(&o)
    );
}
