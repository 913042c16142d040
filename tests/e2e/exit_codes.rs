//! Exit codes are a protocol: the `--help` of `clef`, `clef-hook`,
//! `clef-merge`, `clef-scan` and `clef-agent` print their tables (generated
//! from each library's constants), and each listed code is produced by a
//! real run (arguments, stdin, expected status and output as cases).

use crate::hooks_util::{repo, token};
use clef_e2e::{GitSandbox, bin, ok, run};

/// The codes a help text lists in its `exit codes:` table.
fn listed(help: &str) -> Vec<i32> {
    help.lines()
        .skip_while(|l| !l.to_ascii_lowercase().starts_with("exit codes:"))
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

#[test]
fn clef_scan_produces_exactly_the_codes_its_help_lists() {
    let s = GitSandbox::new();
    let help = help_of(&s, "clef-scan");
    assert_eq!(listed(&help), [0, 1, 2], "{help}");
    s.write("clean.txt", "nothing to see here\n");
    s.write("leak.py", format!("TOKEN = \"{}\"\n", token()));
    let cases: [(&str, i32, &str); 3] = [
        ("clean.txt", 0, ""),
        ("leak.py", 1, "github-pat"),
        ("no-such-path", 2, "no-such-path"),
    ];
    for (arg, status, out) in cases {
        let mut c = s.cmd(bin("clef-scan"));
        c.arg(arg);
        let o = run(c);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(status), "{arg}: {all}");
        assert!(all.contains(out), "{arg}: {all}");
    }
}

#[test]
fn clef_agent_help_lists_its_table() {
    let s = GitSandbox::new();
    let help = help_of(&s, "clef-agent");
    // 134 (a panic) no run can produce: clef_sops's tests/panic_hook.rs
    // checks that the hook exits with the code it is given
    assert_eq!(listed(&help), [0, 1, 2, 134], "{help}");
    // 2: bad configuration (a flag it does not know; a bad --debounce)
    for args in [
        &["--no-such-flag"][..],
        &["exec", "--debounce", "-1", "--", "true"],
    ] {
        let mut c = s.cmd(bin("clef-agent"));
        c.args(args);
        assert_eq!(run(c).status.code(), Some(2), "{args:?}");
    }
    // 1 (no valid artifact at start) is a snapshot case
    // (tests/cmd/clef-agent-no-artifact-1.toml); 0 and exec's pass-through
    // are agent.rs's (a SIGTERM, a child's code).
}

/// `clef --help` lists every code of `clef_core::exit::TABLE`, and each is
/// produced by a real run through the same mapping.
#[test]
fn clef_produces_the_codes_its_help_lists() {
    use crate::cli_support::{World, stderr};
    let w = World::new();
    let d = w.dev("erin");
    d.ok(&[
        "init",
        "--namespaces",
        "api,web",
        "--environments",
        "dev,prod",
    ]);
    d.ok(&["set", "api/dev", "PASSWORD", "exit-code-secret-1"]);
    let help = String::from_utf8(ok(d.clef(&["--help"]))).unwrap();
    let listed = listed(&help);
    assert_eq!(
        listed,
        [0, 1, 2, 3, 4, 23, 51, 91, 92, 100, 128, 134, 203],
        "{help}"
    );
    let cell = d.root.join("secrets/api/dev.enc.yaml");
    let good = std::fs::read_to_string(&cell).unwrap();
    let mut seen = Vec::new();
    let expect = |args: &[&str], code: i32, seen: &mut Vec<i32>| {
        let o = d.clef(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        if code != 0 {
            assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
        }
        seen.push(code);
    };
    expect(&["get", "api/dev", "PASSWORD"], 0, &mut seen);
    expect(&["get", "api/dev", "NOPE"], 1, &mut seen);
    expect(&["get", "payments/dev", "PASSWORD"], 2, &mut seen);
    // the namespace directory is a file: the new cell cannot be written
    std::fs::remove_dir_all(d.root.join("secrets/web")).unwrap();
    std::fs::write(d.root.join("secrets/web"), "not a directory").unwrap();
    expect(&["set", "web/prod", "K", "v"], 3, &mut seen);
    std::fs::remove_file(d.root.join("secrets/web")).unwrap();
    // a merge in progress that does not involve the cell
    let merge_head = d.root.join(".git/MERGE_HEAD");
    std::fs::write(&merge_head, "0000000000000000000000000000000000000000\n").unwrap();
    expect(&["set", "api/dev", "PASSWORD", "x"], 4, &mut seen);
    std::fs::remove_file(&merge_head).unwrap();
    // a value cut short
    let cut: String = good
        .lines()
        .map(|l| {
            if l.starts_with("PASSWORD: ENC[") {
                l.replacen("data:", "data:!!", 1)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&cell, cut).unwrap();
    expect(&["get", "api/dev", "PASSWORD"], 23, &mut seen);
    // lastmodified is the MAC's associated data
    let lm = good.lines().find(|l| l.contains("lastmodified")).unwrap();
    std::fs::write(
        &cell,
        good.replace(lm, "    lastmodified: \"2001-01-01T00:00:00Z\""),
    )
    .unwrap();
    expect(&["get", "api/dev", "PASSWORD"], 51, &mut seen);
    std::fs::write(&cell, "").unwrap();
    expect(&["get", "api/dev", "PASSWORD"], 92, &mut seen);
    std::fs::remove_file(&cell).unwrap();
    expect(&["get", "api/dev", "PASSWORD"], 100, &mut seen);
    std::fs::write(&cell, &good).unwrap();
    // another developer's clone: no identity unwraps the data key
    ok(d.git(&["add", "-A"]));
    ok(d.git(&["commit", "-q", "-m", "cells"]));
    let other = w.clone_dev("frank", &d);
    let o = other.clef(&["get", "api/dev", "PASSWORD"]);
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    seen.push(128);
    // 91 (tree path) and 203 (already encrypted) come from the engine's
    // errors through the same mapping; `clef sops` produces them
    // (sops_dropin::exit_codes_are_sops_codes checks them against sops).
    let o = d.clef(&[
        "sops",
        "decrypt",
        "--extract",
        "not-a-path",
        "secrets/api/dev.enc.yaml",
    ]);
    assert_eq!(o.status.code(), Some(91), "{}", stderr(&o));
    seen.push(91);
    let o = d.clef(&[
        "sops",
        "encrypt",
        "--age",
        &d.recipient(),
        "secrets/api/dev.enc.yaml",
    ]);
    assert_eq!(o.status.code(), Some(203), "{}", stderr(&o));
    seen.push(203);
    // 134 (internal error, a panic) no run can produce: the panic hook exits
    // with the code main gives it (clef_sops's tests/panic_hook.rs)
    seen.push(134);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, listed);
}
