//! Exit codes are a protocol: `clef-hook --help` and `clef-merge --help`
//! print their tables, and each listed code is produced by a real run
//! (arguments, stdin, expected status and output as cases).

use crate::hooks_util::{repo, token};
use clef_e2e::{GitSandbox, bin, ok, run};

/// The codes a help text lists in its `exit codes:` table.
fn listed(help: &str) -> Vec<i32> {
    help.lines()
        .skip_while(|l| !l.starts_with("exit codes:"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn help_of(s: &GitSandbox, prog: &str) -> String {
    let mut c = s.cmd(bin(prog));
    c.arg("--help");
    String::from_utf8(ok(run(c))).unwrap()
}

#[test]
fn clef_hook_produces_exactly_the_codes_its_help_lists() {
    let s = repo();
    let help = help_of(&s, "clef-hook");
    assert!(help.starts_with("usage: clef-hook"), "{help}");
    assert_eq!(listed(&help), [0, 1, 2], "{help}");
    // (arguments, staged file, expected status, expected stderr fragment)
    let cases: [(&[&str], Option<String>, i32, &str); 3] = [
        (&["pre-commit"], None, 0, ""),
        (
            &["pre-commit"],
            Some(format!("TOKEN = \"{}\"\n", token())),
            1,
            "[github-pat]",
        ),
        (&["no-such-command"], None, 2, "unknown command"),
    ];
    for (args, staged, status, stderr) in cases {
        if let Some(text) = staged {
            s.write("app.py", text);
            ok(s.git(&["add", "app.py"]));
        }
        let mut c = s.cmd(bin("clef-hook"));
        c.args(args);
        let o = run(c);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(status), "{args:?}: {err}");
        assert!(err.contains(stderr), "{args:?}: {err}");
    }
    // Outside any repository the check cannot run: fail closed with 2.
    let mut c = s.cmd(bin("clef-hook"));
    c.arg("pre-commit").current_dir(&s.home);
    assert_eq!(run(c).status.code(), Some(2));
}

#[test]
fn clef_merge_help_lists_the_git_driver_protocol() {
    let s = GitSandbox::new();
    let help = help_of(&s, "clef-merge");
    assert!(help.starts_with("usage: clef-merge %O %A %B"), "{help}");
    assert_eq!(listed(&help), [0, 1, 129, 134], "{help}");
    // A command line git would never pass is refused with 129, %A untouched.
    s.write("a.yaml", "a: 1\n");
    let mut c = s.cmd(bin("clef-merge"));
    c.args(["o.yaml", "a.yaml"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(129));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage: clef-merge"));
    assert_eq!(std::fs::read(s.root.join("a.yaml")).unwrap(), b"a: 1\n");
}
