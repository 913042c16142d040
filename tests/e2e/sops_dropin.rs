//! `clef sops` as a drop-in for sops 3.11 (issue 12): RE2 patterns, updatekeys
//! from `.sops.yaml`, rotate while swapping keys, `--ignore-mac` without a MAC,
//! and sops's exit codes, each checked against the real sops binary.

use clef_e2e::ok;

use crate::sops_interop::{env, normalize};

/// Keys whose encryption differs between Unicode and ASCII `\w\d\s\b`, or
/// that need RE2-only syntax.
const KEYS: &[&str] = &[
    "Ärger", "٣x", "abc", "a.b", "\u{212a}", "k", "x_1", "Ab", "a b", "éx", "x9",
];

/// Valid RE2 patterns. Each runs as --unencrypted-regex and --encrypted-regex.
const PATTERNS: &[&str] = &[
    r"^\w+$",
    r"^\d",
    r"\d$",
    r"\s",
    r"\bx",
    r"\Bx",
    r"^\W",
    r"^[\w.]+$",
    r"^\p{Lu}",
    r"^\pL+$",
    r"^\p{Latin}+$",
    r"^\p{^Latin}",
    r"^\Qa.b\E$",
    r"(?i)^k$",
    r"^[[:word:]]+$",
    r"^a{1}",
];

fn plain_doc() -> String {
    KEYS.iter()
        .enumerate()
        .map(|(i, k)| format!("\"{k}\": v{i}\n"))
        .collect()
}

#[test]
fn re2_patterns_match_sops_both_ways() {
    let Some(e) = env() else { return };
    let plain = e.write("re2.yaml", plain_doc().as_bytes());
    let mut differ = Vec::new();
    for (n, p) in PATTERNS.iter().enumerate() {
        for flag in ["--unencrypted-regex", "--encrypted-regex"] {
            let args = ["encrypt", "--age", &e.k1.recipient, flag, p, &plain];
            let by_sops = ok(e.sops(&args, &e.k1.file));
            let by_clef = ok(e.clef(&args, &e.k1.file));
            let (ns, nc) = (
                normalize(&String::from_utf8_lossy(&by_sops)),
                normalize(&String::from_utf8_lossy(&by_clef)),
            );
            if ns != nc {
                differ.push(format!("{flag} {p}:\n--- sops\n{ns}--- clef\n{nc}"));
                continue;
            }
            let fs = e.write(&format!("re2-{n}-s{flag}.yaml"), &by_sops);
            let fc = e.write(&format!("re2-{n}-c{flag}.yaml"), &by_clef);
            let a = ok(e.clef(&["decrypt", &fs], &e.k1.file));
            let b = ok(e.sops(&["decrypt", &fc], &e.k1.file));
            assert_eq!(a, b, "{flag} {p}: cross-decrypt differs");
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn re2_invalid_patterns_are_refused_with_the_reason() {
    let Some(e) = env() else { return };
    let plain = e.write("bad-re.yaml", b"a: 1\n");
    for (p, why) in [
        ("(?!x)", "look-around"),
        (r"(a)\1", "backreferences"),
        ("(?x)a", "unsupported"),
    ] {
        let args = [
            "encrypt",
            "--age",
            &e.k1.recipient,
            "--encrypted-regex",
            p,
            &plain,
        ];
        let r = e.clef(&args, &e.k1.file);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{p}: {err}");
        assert!(r.stdout.is_empty(), "{p}: partial output");
        assert!(err.contains("RE2") && err.contains(why), "{p}: {err}");
    }
}

#[test]
fn updatekeys_follows_the_creation_rule_like_sops() {
    let Some(e) = env() else { return };
    let plain = e.write("uk.yaml", b"a: 1\nb: two\n");
    let made = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    let rule = |rs: &[&str]| format!("creation_rules:\n  - age: {}\n", rs.join(","));
    e.write(
        ".sops.yaml",
        rule(&[&e.k1.recipient, &e.k2.recipient]).as_bytes(),
    );
    let fc = e.write("uk.clef.enc.yaml", &made);
    let fs = e.write("uk.sops.enc.yaml", &made);
    ok(e.clef(&["updatekeys", "-y", &fc], &e.k1.file));
    ok(e.sops(&["updatekeys", "-y", &fs], &e.k1.file));
    let before = String::from_utf8_lossy(&made).into_owned();
    let after = std::fs::read_to_string(&fc).unwrap();
    for l in before
        .lines()
        .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
    {
        assert!(after.contains(l), "updatekeys changed a value line: {l}");
    }
    assert_eq!(
        ok(e.sops(&["decrypt", &fc], &e.k2.file)),
        ok(e.sops(&["decrypt", &fs], &e.k2.file))
    );
    // Dropping k1 from the rule removes it, in both tools.
    e.write(".sops.yaml", rule(&[&e.k2.recipient]).as_bytes());
    ok(e.clef(&["updatekeys", "-y", &fc], &e.k2.file));
    ok(e.sops(&["updatekeys", "-y", &fs], &e.k2.file));
    assert!(!e.sops(&["decrypt", &fc], &e.k1.file).status.success());
    assert_eq!(
        normalize(&std::fs::read_to_string(&fc).unwrap()),
        normalize(&std::fs::read_to_string(&fs).unwrap())
    );
    // Already in sync: nothing written, success.
    let same = std::fs::read(&fc).unwrap();
    ok(e.clef(&["updatekeys", "-y", &fc], &e.k2.file));
    assert_eq!(std::fs::read(&fc).unwrap(), same);
}

#[test]
fn rotate_swapping_the_only_held_key() {
    let Some(e) = env() else { return };
    let plain = e.write("sw.yaml", b"a: 1\n");
    let made = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    let f = e.write("sw.enc.yaml", &made);
    let swap = [
        "rotate",
        "--add-age",
        &e.k2.recipient,
        "--rm-age",
        &e.k1.recipient,
    ];
    let mut args = swap.to_vec();
    args.push(&f);
    let by_clef = ok(e.clef(&args, &e.k1.file));
    let by_sops = ok(e.sops(&args, &e.k1.file));
    let fc = e.write("sw.clef.yaml", &by_clef);
    let fs = e.write("sw.sops.yaml", &by_sops);
    assert_eq!(
        ok(e.sops(&["decrypt", &fc], &e.k2.file)),
        ok(e.clef(&["decrypt", &fs], &e.k2.file))
    );
    assert!(!e.sops(&["decrypt", &fc], &e.k1.file).status.success());
    assert_eq!(
        normalize(&String::from_utf8_lossy(&by_clef)),
        normalize(&String::from_utf8_lossy(&by_sops))
    );
}

#[test]
fn ignore_mac_on_a_file_without_a_mac() {
    let Some(e) = env() else { return };
    let plain = e.write("nm.yaml", b"a: secret\nb: 2\n");
    let made = ok(e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file));
    let text = String::from_utf8_lossy(&made);
    let no_mac: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let f = e.write("nm.enc.yaml", no_mac.as_bytes());
    let a = ok(e.sops(&["decrypt", "--ignore-mac", &f], &e.k1.file));
    let b = ok(e.clef(&["decrypt", "--ignore-mac", &f], &e.k1.file));
    assert_eq!(a, b);
    let s = e.sops(&["decrypt", &f], &e.k1.file).status.code();
    let c = e.clef(&["decrypt", &f], &e.k1.file).status.code();
    assert_eq!(c, s, "without --ignore-mac");
}

/// Each case: a name, how to make the input from a sops-encrypted sample
/// (None = the plaintext sample), and the arguments (FILE is replaced).
type Mangle = fn(&str) -> String;

fn swap_first_two_values(t: &str) -> String {
    let enc: Vec<&str> = t
        .lines()
        .filter_map(|l| l.split_once(": ENC[").map(|(_, v)| v))
        .collect();
    let (a, b) = (enc[0], enc[1]);
    t.replacen(a, "@@A@@", 1)
        .replacen(b, a, 1)
        .replacen("@@A@@", b, 1)
}

fn mangle_first_value(t: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut done = false;
    for l in t.lines() {
        if !done && l.starts_with("a: ENC[") {
            out.push_str(&f(l));
            done = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

#[test]
fn exit_codes_are_sops_codes() {
    let Some(e) = env() else { return };
    let plain_text = "a: secret\nb: other\nlist:\n  - x\n";
    let plain = e.write("codes.yaml", plain_text.as_bytes());
    let enc = String::from_utf8(ok(
        e.sops(&["encrypt", "--age", &e.k1.recipient, &plain], &e.k1.file)
    ))
    .unwrap();
    let cases: &[(&str, Option<Mangle>, &[&str])] = &[
        ("plaintext file", None, &["decrypt", "FILE"]),
        ("empty file", Some(|_| String::new()), &["decrypt", "FILE"]),
        (
            "missing version",
            Some(|t| {
                t.lines()
                    .filter(|l| !l.contains("version:"))
                    .map(|l| format!("{l}\n"))
                    .collect()
            }),
            &["decrypt", "FILE"],
        ),
        (
            "aes-gcm failure",
            Some(|t| mangle_first_value(t, |l| l.replacen("data:", "data:AA", 1))),
            &["decrypt", "FILE"],
        ),
        (
            "swapped values",
            Some(swap_first_two_values),
            &["decrypt", "FILE"],
        ),
        (
            "unknown type",
            Some(|t| mangle_first_value(t, |l| l.replace("type:str", "type:nope"))),
            &["decrypt", "FILE"],
        ),
        (
            "bad iv",
            Some(|t| {
                mangle_first_value(t, |l| {
                    let (head, rest) = l.split_once("iv:").unwrap();
                    let tail = rest.split_once(',').unwrap().1;
                    format!("{head}iv:AAAA,{tail}")
                })
            }),
            &["decrypt", "FILE"],
        ),
        (
            "mac mismatch",
            Some(|t| t.replacen("a: ENC[", "c: ENC[", 1)),
            &["decrypt", "FILE"],
        ),
        (
            "set on a plaintext file",
            None,
            &["set", "FILE", r#"["a"]"#, "\"x\""],
        ),
        (
            "unset missing path",
            Some(str::to_owned),
            &["unset", "FILE", r#"["nope"]"#],
        ),
        (
            "extract missing path",
            Some(str::to_owned),
            &["decrypt", "--extract", r#"["nope"]"#, "FILE"],
        ),
        (
            "set invalid json",
            Some(str::to_owned),
            &["set", "FILE", r#"["a"]"#, "{bad"],
        ),
        (
            "no such file",
            Some(str::to_owned),
            &["decrypt", "nonexistent.yaml"],
        ),
        (
            "already encrypted",
            Some(str::to_owned),
            &["encrypt", "--age", "AGE", "FILE"],
        ),
        (
            "bad recipient",
            None,
            &["encrypt", "--age", "age1nope", "FILE"],
        ),
        // no --age and no .sops.yaml above the temp directory
        ("no recipients", None, &["encrypt", "FILE"]),
    ];
    let mut wrong = Vec::new();
    for (i, (name, mangle, args)) in cases.iter().enumerate() {
        let content = match mangle {
            None => plain_text.to_owned(),
            Some(m) => m(&enc),
        };
        let run = |tool: &str| {
            let f = e.write(&format!("code-{i}-{tool}.yaml"), content.as_bytes());
            let argv: Vec<String> = args
                .iter()
                .map(|a| match *a {
                    "FILE" => f.clone(),
                    "AGE" => e.k1.recipient.clone(),
                    a => a.to_owned(),
                })
                .collect();
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            if tool == "sops" {
                e.sops(&argv, &e.k1.file)
            } else {
                e.clef(&argv, &e.k1.file)
            }
        };
        let (s, c) = (run("sops"), run("clef"));
        assert!(!s.status.success(), "{name}: sops succeeded");
        assert!(
            c.stdout.is_empty(),
            "{name}: clef printed output on failure"
        );
        if s.status.code() != c.status.code() {
            wrong.push(format!(
                "{name}: sops {:?}, clef {:?} ({})",
                s.status.code(),
                c.status.code(),
                String::from_utf8_lossy(&c.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "exit codes differ:\n{}", wrong.join("\n"));
}

#[test]
fn encrypting_an_empty_or_comment_only_yaml_file_is_refused_like_sops() {
    let Some(e) = env() else { return };
    for (name, text) in [("empty", ""), ("comments", "# only\n\n# comments\n")] {
        let f = e.write(&format!("nodoc-{name}.yaml"), text.as_bytes());
        let args = ["encrypt", "--age", &e.k1.recipient, &f];
        let s = e.sops(&args, &e.k1.file);
        let c = e.clef(&args, &e.k1.file);
        assert!(!s.status.success(), "{name}: sops encrypted it");
        assert_eq!(c.status.code(), s.status.code(), "{name}");
        assert!(c.stdout.is_empty(), "{name}");
    }
}
