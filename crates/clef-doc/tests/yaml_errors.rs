//! Invalid YAML must give a `YamlError` (never a panic), the error names a
//! line and column, and its message never contains the offending scalar
//! (which may be a secret). Each case is also checked against the real sops
//! binary when it is available: sops must reject it too.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use clef_doc::yaml::{emit, parse};

const RECIPIENT: &str = "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn";

/// (name, input, secret text that must not appear in the message,
/// expected line of the error).
const CASES: &[(&str, &str, &str, usize)] = &[
    ("tab indentation", "a:\n\tb: s3cr3t-tab\n", "s3cr3t-tab", 2),
    (
        "unterminated double quote",
        "a: \"s3cr3t-dq\n",
        "s3cr3t-dq",
        1,
    ),
    (
        "unterminated single quote",
        "a: 's3cr3t-sq\nb: 1\n",
        "s3cr3t-sq",
        1,
    ),
    ("invalid escape", "a: \"s3cr3t\\q-esc\"\n", "s3cr3t", 1),
    ("invalid escape slash", "a: \"s3cr3t\\/x\"\n", "s3cr3t", 1),
    ("bad hex escape", "a: \"s3cr3t\\xZZ\"\n", "s3cr3t", 1),
    ("surrogate escape", "a: \"s3cr3t\\uD800\"\n", "s3cr3t", 1),
    (
        "bad indentation",
        "a:\n    b: 1\n  c: s3cr3t-ind\n",
        "s3cr3t-ind",
        3,
    ),
    ("top level sequence", "- s3cr3t-seq\n- b\n", "s3cr3t-seq", 1),
    ("top level scalar", "s3cr3t-scalar\n", "s3cr3t-scalar", 1),
    (
        "duplicate key",
        "password: s3cr3t-dup1\npassword: s3cr3t-dup2\n",
        "s3cr3t-dup",
        2,
    ),
    (
        "nested duplicate key",
        "a:\n  k: 1\n  k: s3cr3t-nd\n",
        "s3cr3t-nd",
        3,
    ),
    (
        "merge key duplicate",
        "<<: {a: 1}\n\"<<\": s3cr3t-merge\n",
        "s3cr3t-merge",
        2,
    ),
    ("int key", "1: s3cr3t-int\n", "s3cr3t-int", 1),
    ("bool key", "true: s3cr3t-bool\n", "s3cr3t-bool", 1),
    ("null key", "null: s3cr3t-null\n", "s3cr3t-null", 1),
    ("float key", "1.5: s3cr3t-float\n", "s3cr3t-float", 1),
    ("timestamp key", "2024-01-02: s3cr3t-ts\n", "s3cr3t-ts", 1),
    (
        "sequence key",
        "? [a, b]\n: s3cr3t-seqkey\n",
        "s3cr3t-seqkey",
        1,
    ),
    (
        "uint64 value",
        "big: 18446744073709551615\n",
        "18446744073709551615",
        1,
    ),
    (
        "int64 overflow by one",
        "big: 9223372036854775808\n",
        "9223372036854775808",
        1,
    ),
    (
        "unknown alias",
        "a: *nope\nb: s3cr3t-alias\n",
        "s3cr3t-alias",
        1,
    ),
    ("bad int tag", "a: !!int s3cr3t-tag\n", "s3cr3t-tag", 1),
    ("bad bool tag", "a: !!bool s3cr3t-btag\n", "s3cr3t-btag", 1),
    ("bad binary", "a: !!binary s3cr3t!!\n", "s3cr3t", 1),
    (
        "yaml 1.2 directive",
        "%YAML 1.2\n---\na: s3cr3t-dir\n",
        "s3cr3t-dir",
        1,
    ),
    ("unknown directive value", "%FOO bar\n---\na: 1\n", "bar", 1),
    ("control character", "a: s3cr3t\u{1}ctl\n", "s3cr3t", 1),
    ("flow not closed", "a: [s3cr3t-flow, b\n", "s3cr3t-flow", 2),
    ("flow map not closed", "a: {k: s3cr3t-fm\n", "s3cr3t-fm", 2),
    ("mapping value in plain", "a: s3cr3t: x\n", "s3cr3t", 1),
    (
        "block entry in mapping",
        "a: 1\n- s3cr3t-be\n",
        "s3cr3t-be",
        2,
    ),
    ("anchor without name", "a: & s3cr3t\n", "s3cr3t", 1),
    (
        "indentation indicator zero",
        "a: |0\n  s3cr3t\n",
        "s3cr3t",
        1,
    ),
    (
        "tab in block scalar indent",
        "a: |\n\ts3cr3t\n",
        "s3cr3t",
        1,
    ),
    ("recursive alias", "a: &x\n  b: *x\n", "", 1),
    ("undefined tag handle", "a: !e!foo s3cr3t\n", "s3cr3t", 1),
];

/// The real sops: the one lookup of the test-support crate.
fn sops_bin() -> Option<PathBuf> {
    clef_e2e::sops_bin()
}

fn sops_rejects(bin: &Path, input: &str, n: usize) -> bool {
    let dir = std::env::temp_dir().join(format!("clef-yaml-err-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("in.yaml"), input).expect("write input");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yaml/key.txt");
    let status = Command::new(bin)
        .args(["encrypt", "--age", RECIPIENT, "in.yaml"])
        .current_dir(&dir)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env("SOPS_AGE_KEY_FILE", key)
        .output()
        .expect("run sops");
    let _ = std::fs::remove_dir_all(&dir);
    !status.status.success()
}

#[test]
fn invalid_inputs_are_errors_without_secrets() {
    let mut problems = Vec::new();
    for (name, input, secret, line) in CASES {
        match parse(input) {
            Ok(docs) => problems.push(format!("{name}: parsed to {docs:?} instead of failing")),
            Err(e) => {
                let msg = e.to_string();
                if !secret.is_empty() && msg.contains(secret) {
                    problems.push(format!("{name}: message leaks the scalar: {msg}"));
                }
                if e.line != *line {
                    problems.push(format!(
                        "{name}: error on line {} (expected {line}): {msg}",
                        e.line
                    ));
                }
                if e.column == 0 || e.reason.is_empty() {
                    problems.push(format!("{name}: incomplete error {e:?}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn sops_rejects_the_same_inputs() {
    let Some(bin) = sops_bin() else {
        eprintln!(
            "SKIPPED: sops binary not found (set SOPS_BIN); cannot confirm sops rejects these inputs"
        );
        return;
    };
    let mut accepted = Vec::new();
    for (n, (name, input, _, _)) in CASES.iter().enumerate() {
        if !sops_rejects(&bin, input, n) {
            accepted.push(*name);
        }
    }
    assert!(
        accepted.is_empty(),
        "sops accepted inputs we reject: {accepted:?}"
    );
}

/// A small deterministic PRNG (xorshift64*), so the test is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SNIPPETS: &[&str] = &[
    ":",
    " ",
    "\n",
    "\t",
    "-",
    "- ",
    "? ",
    "#",
    " #c",
    "'",
    "\"",
    "\\",
    "|",
    ">",
    "|-",
    ">+",
    "|2",
    "&a",
    "*a",
    "!!str",
    "!!binary",
    "!x",
    "[",
    "]",
    "{",
    "}",
    ",",
    "---",
    "...",
    "%YAML 1.1",
    "\r\n",
    "\u{2028}",
    "\u{85}",
    "\u{feff}",
    "é",
    "😀",
    "0x",
    "1e9",
    "~",
    "<<",
    "  ",
    "    ",
    "\n  ",
    "\n- ",
    "\n#",
    "key: ",
    "@",
    "`",
    "%",
];

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    let edits = 1 + rng.below(6);
    for _ in 0..edits {
        let pos = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 if !chars.is_empty() => {
                let end = (pos + 1 + rng.below(8)).min(chars.len());
                let start = pos.min(chars.len().saturating_sub(1));
                chars.drain(start..end.max(start));
            }
            1 => {
                let snip: Vec<char> = SNIPPETS[rng.below(SNIPPETS.len())].chars().collect();
                for (k, c) in snip.into_iter().enumerate() {
                    chars.insert((pos + k).min(chars.len()), c);
                }
            }
            2 if !chars.is_empty() => {
                let at = pos.min(chars.len() - 1);
                let c = SNIPPETS[rng.below(SNIPPETS.len())]
                    .chars()
                    .next()
                    .unwrap_or(' ');
                chars[at] = c;
            }
            _ => {
                // Duplicate a random slice (grows nesting and repetition).
                if !chars.is_empty() {
                    let a = rng.below(chars.len());
                    let b = (a + rng.below(40)).min(chars.len());
                    let slice: Vec<char> = chars[a..b].to_vec();
                    let at = pos.min(chars.len());
                    chars.splice(at..at, slice);
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// Whether the text has a block scalar header with an indentation
/// indicator (`|4`, `|4-`, `|4+`).
fn has_indentation_indicator(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_end();
        let Some(pos) = t.rfind('|') else {
            return false;
        };
        let hint = &t[pos + 1..];
        let digits = hint.trim_end_matches(['-', '+']);
        digits.len() == 1 && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yaml/plain");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    out.sort();
    out.extend(CASES.iter().map(|c| c.1.to_owned()));
    out
}

/// Thousands of mutated inputs: parsing never panics, and whatever parses
/// prints to text that settles: reading our output and writing it again
/// converges within a few passes. (Like sops, a pass can be lossy: a
/// mapping item's leading comment is printed above the dash where it reads
/// back as a sequence comment, and the float `-0.0` prints as `-0`, which
/// reads back as an integer.)
#[test]
fn fuzz_mutations_never_panic() {
    let corpus = corpus();
    let seed = std::env::var("YAML_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut rng = Rng(seed | 1);
    let iterations = std::env::var("YAML_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000usize);
    let mut parsed = 0;
    for _ in 0..iterations {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base);
        if let Ok(docs) = parse(&input) {
            parsed += 1;
            let text = emit(&docs, 4);
            let again = match parse(&text) {
                Ok(again) => again,
                // go-yaml (and so sops) writes the indentation indicator of a
                // block scalar relative to the wrong column inside sequence
                // items, which makes such output unreadable; we reproduce
                // that byte for byte (see the `literal_indicator_in_list`
                // oracle fixture), so it is the one accepted failure.
                Err(_) if has_indentation_indicator(&text) => continue,
                // A multi-line string whose first line starts with a tab is
                // written as `null` (sops's data-loss quirk, reproduced for
                // values); as a mapping key that reads back as a non-string
                // key. Only that combination is accepted.
                Err(e) if e.reason.contains("non-string key") && text.contains("? null\n") => {
                    continue;
                }
                Err(e) => panic!(
                    "re-parse of our own output failed: {e}\ninput:\n{input:?}\noutput:\n{text:?}"
                ),
            };
            // Like sops, one pass can move comments (go-yaml re-attaches
            // them when reading) or lose a float's type (`-0`); the text
            // must settle after a few passes instead of oscillating.
            let mut prev = emit(&again, 4);
            let mut settled = false;
            for _ in 0..6 {
                let Ok(next_docs) = parse(&prev) else {
                    assert!(
                        has_indentation_indicator(&prev),
                        "re-parse failed\ninput:\n{input:?}"
                    );
                    settled = true;
                    break;
                };
                let next = emit(&next_docs, 4);
                if next == prev {
                    settled = true;
                    break;
                }
                prev = next;
            }
            assert!(settled, "output never settles\ninput:\n{input:?}");
        }
    }
    assert!(
        parsed > iterations / 20,
        "too few mutated inputs parsed ({parsed}); the fuzzer is not exercising the emitter"
    );
}

/// Pathological nesting and aliasing are errors, not stack overflows or
/// memory blow-ups.
#[test]
fn hostile_structures_are_bounded() {
    let deep_flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(&deep_flow).is_err());
    let mut deep_block = String::new();
    for i in 0..5000 {
        deep_block.push_str(&" ".repeat(i));
        deep_block.push_str("k:\n");
    }
    assert!(parse(&deep_block).is_err());
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(parse(&laughs).is_err());
    let long_line = format!("a: {}\n", "x".repeat(1_000_000));
    assert!(parse(&long_line).is_ok());
}
