//! Findings, whose values are [`Secret`]s (kept out of logs).

use sha2::{Digest, Sha256};

use crate::checksum::Checksum;

/// A detected secret value: the one secret type of every crate
/// ([`clef_doc::Secret`]: zeroized on drop, redacted `Debug`/`Display`, no
/// serde). Reporters read it through [`Secret::expose`] (`--no-redact`,
/// fingerprints) and [`Secret::redacted`] only.
pub use clef_doc::Secret;

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// Rule description.
    pub description: String,
    /// Path (relative to the scan root, `/`-separated), or `<stdin>`.
    pub path: String,
    /// 1-based line of the secret's first character.
    pub line: usize,
    /// 1-based column (in characters) of the secret's first character.
    pub column: usize,
    /// 1-based line of the secret's last character.
    pub end_line: usize,
    /// 1-based column just after the secret's last character (exclusive, as in SARIF).
    pub end_column: usize,
    /// Byte offset of the secret in the scanned buffer.
    pub offset: usize,
    /// The value.
    pub secret: Secret,
    /// Shannon entropy of the value, bits per character.
    pub entropy: f64,
    /// Stable identity: keyed hash (the baseline's salt) of rule, path and
    /// value (not of the position).
    pub fingerprint: String,
    /// Commit that introduced the blob (git modes).
    pub commit: Option<String>,
    /// Author of that commit.
    pub author: Option<String>,
    /// Author date of that commit.
    pub date: Option<String>,
    /// Why this looks like a test fixture or an example (reported with a low
    /// severity, never hidden), if it does.
    pub fixture: Option<&'static str>,
    /// What the vendor's checksum says of the value, for tokens that carry
    /// one ([`crate::checksum`]).
    pub checksum: Option<Checksum>,
}

impl Finding {
    /// Why this finding has a low severity, if it does: a test fixture or
    /// example, or a token whose vendor checksum does not verify. Such
    /// findings are reported, never hidden.
    pub fn low_severity(&self) -> Option<&'static str> {
        self.fixture.or(match self.checksum {
            Some(Checksum::Invalid) => Some("checksum does not verify: not issued by the vendor"),
            _ => None,
        })
    }

    /// `high` when the vendor's checksum verifies, `medium` otherwise.
    pub fn confidence(&self) -> &'static str {
        match self.checksum {
            Some(Checksum::Valid) => "high",
            _ => "medium",
        }
    }
}

/// Directory names that hold tests, fixtures and examples.
const FIXTURE_DIRS: &[&str] = &[
    "test",
    "tests",
    "testdata",
    "test_data",
    "test-data",
    "testing",
    "fixture",
    "fixtures",
    "__tests__",
    "__fixtures__",
    "__mocks__",
    "mocks",
    "spec",
    "specs",
    "example",
    "examples",
    "sample",
    "samples",
    "bench",
    "benches",
    "benchmark",
    "benchmarks",
    "testutil",
    "testutils",
    "test-utils",
    "test_utils",
];

/// Words that make a directory a test suite when they end its name
/// (`aws-signing-test-suite`, `integration-tests`, `conformance_tests`).
const FIXTURE_DIR_SUFFIXES: &[&str] = &["-test-suite", "_test_suite", "-tests", "_tests"];

/// Name prefixes that mark a constant or variable as made up for tests or
/// documentation: `TEST_KEY`, `test_token`, `EXAMPLE_SECRET`, `mockPassword`.
const FIXTURE_NAME_PREFIXES: &[&str] = &["test", "example", "sample", "dummy", "fake", "mock"];

/// Words in a value that mark it as made up for documentation or tests.
const EXAMPLE_WORDS: &[&str] = &["example", "dummy", "fake", "sample", "placeholder"];

/// Whether a finding is in a test fixture or an example, and why: by path
/// (a directory such as `tests/`, `testdata/`, `fixtures/`, `examples/`, or a
/// test file name such as `foo_test.go`, `test_foo.py`, `foo.test.ts`,
/// `foo_spec.rb`, `conftest.py`) or by the value itself (`…EXAMPLE…`,
/// `dummy`, `fake`). Such findings are reported with severity `low`.
pub fn fixture_reason(path: &str, secret: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let mut parts: Vec<&str> = lower.split('/').collect();
    let name = parts.pop().unwrap_or("");
    if parts
        .iter()
        .any(|d| FIXTURE_DIRS.contains(d) || FIXTURE_DIR_SUFFIXES.iter().any(|x| d.ends_with(x)))
    {
        return Some("test or example directory");
    }
    let stem = name.split('.').next().unwrap_or(name);
    if stem == "testutil" || stem == "test_util" || stem == "test" {
        return Some("test file");
    }
    if stem.ends_with("_test")
        || stem.ends_with("_tests")
        || stem.starts_with("test_")
        || stem.ends_with("_spec")
        || stem == "tests"
        || stem == "conftest"
        || name.contains(".test.")
        || name.contains(".spec.")
    {
        return Some("test file");
    }
    if stem == "readme" {
        return Some("documentation (README)");
    }
    let v = secret.to_ascii_lowercase();
    if EXAMPLE_WORDS.iter().any(|w| v.contains(w)) {
        return Some("example value");
    }
    // made-up digits in sequence: Firebase's documented apiKey
    // `AIzaSyDOCAbC123dEf456GhI789jKl012-MnO`
    if let Some(a) = secret.find("123")
        && let Some(b) = secret[a..].find("456")
        && secret[a + b..].contains("789")
    {
        return Some("example value (digits in sequence)");
    }
    // jwt.io's published example payload, {"sub":"1234567890","name":"John Doe"…
    if secret.contains("eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lI") {
        return Some("published example (jwt.io)");
    }
    // the test-mode keys Stripe's API reference shows every reader
    if [
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    ]
    .iter()
    .any(|k| secret.contains(k))
    {
        return Some("published example (Stripe docs)");
    }
    None
}

/// Whether the text around a finding at byte `at` of `bytes` says it is a
/// test fixture or a documentation example: a Rust doc comment (`///`,
/// `//!`: code examples), a `#[cfg(test)]` module of a `.rs` file, or a
/// name on the line such as `TEST_KEY`, `test_token`, `EXAMPLE_SECRET`.
pub fn fixture_context(path: &str, bytes: &[u8], at: usize) -> Option<&'static str> {
    let at = at.min(bytes.len());
    let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
    let before = &bytes[start..at];
    let trimmed = before.trim_ascii_start();
    if trimmed.starts_with(b"///") || trimmed.starts_with(b"//!") {
        return Some("documentation example (doc comment)");
    }
    let fixture_name = before
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .any(|w| {
            let w = w.to_ascii_lowercase();
            FIXTURE_NAME_PREFIXES.iter().any(|p| {
                w.strip_prefix(p.as_bytes())
                    .is_some_and(|rest| rest.is_empty() || rest[0] == b'_')
            })
        });
    let camel_fixture = before
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .any(|w| {
            FIXTURE_NAME_PREFIXES.iter().any(|p| {
                w.strip_prefix(p.as_bytes())
                    .is_some_and(|rest| rest.first().is_some_and(u8::is_ascii_uppercase))
            })
        });
    if fixture_name || camel_fixture {
        return Some("test or example name");
    }
    if path.ends_with(".rs") && in_rust_test_module(bytes, at) {
        return Some("#[cfg(test)] module");
    }
    None
}

/// Whether byte `at` is inside a top-level `#[cfg(test)] mod name { … }`
/// (or `#[cfg(all(test, …))]`).
fn in_rust_test_module(bytes: &[u8], at: usize) -> bool {
    const MARK: &[u8] = b"#[cfg(";
    let mut end = at;
    while let Some(i) = memchr::memmem::rfind(&bytes[..end], MARK) {
        end = i;
        if i > 0 && bytes[i - 1] != b'\n' {
            continue; // indented: an item's attribute, not a module's
        }
        let attr_end = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |k| i + k);
        let attr = &bytes[i..attr_end];
        let names_test = attr
            .split(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .any(|w| w == b"test");
        if !names_test || memchr::memmem::find(attr, b"not(").is_some() {
            continue;
        }
        // the item after the attribute (and any more attributes)
        let mut j = attr_end;
        loop {
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if bytes[j..].starts_with(b"#[") {
                j = memchr::memchr(b'\n', &bytes[j..]).map_or(bytes.len(), |k| j + k);
                continue;
            }
            break;
        }
        let line_end = memchr::memchr(b'\n', &bytes[j..]).map_or(bytes.len(), |k| j + k);
        let item = &bytes[j..line_end];
        let is_mod = item.starts_with(b"mod ")
            || item.starts_with(b"pub mod ")
            || item.starts_with(b"pub(crate) mod ");
        let Some(open) = memchr::memchr(b'{', item).map(|k| j + k) else {
            continue;
        };
        if !is_mod || open > at {
            continue;
        }
        return at < matching_brace(bytes, open);
    }
    false
}

/// The offset of the `}` closing the `{` at `open` (the end of the buffer if
/// none), skipping braces inside string and character literals.
fn matching_brace(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The fingerprint of a finding: the first 32 hex digits of
/// HMAC-SHA-256 keyed with the baseline's `salt` over (rule NUL path NUL
/// secret). Moving lines does not change it; changing the secret, the file,
/// the rule or the salt does. The key makes a dictionary attack on a
/// published baseline or report need the salt, and each baseline has its own
/// (issue 11, item 8).
pub fn fingerprint(salt: &[u8], rule: &str, path: &str, secret: &str) -> String {
    let digest = hmac_sha256(
        salt,
        &[
            rule.as_bytes(),
            &[0],
            path.as_bytes(),
            &[0],
            secret.as_bytes(),
        ],
    );
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA-256 (RFC 2104) over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redaction_hide_the_value() {
        let s = Secret::new("ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.redacted(), "ghp_*****");
        assert_eq!(Secret::new("hunter2").redacted(), "*****");
    }

    #[test]
    fn fingerprint_depends_on_salt_rule_path_secret_only() {
        let a = fingerprint(b"salt", "r", "p", "s");
        assert_eq!(a.len(), 32);
        assert_eq!(a, fingerprint(b"salt", "r", "p", "s"));
        assert_ne!(a, fingerprint(b"salt", "r", "p", "t"));
        assert_ne!(a, fingerprint(b"salt", "r", "q", "s"));
        assert_ne!(a, fingerprint(b"salt", "x", "p", "s"));
        assert_ne!(a, fingerprint(b"other", "r", "p", "s"));
        // not the old unsalted SHA-256(rule NUL path NUL secret)
        let plain: String = Sha256::digest(b"r\0p\0s")[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(a, plain);
    }

    #[test]
    fn fixtures_by_path_and_value() {
        assert!(fixture_reason("crates/x/tests/cli.rs", "s").is_some());
        assert!(fixture_reason("pkg/auth/token_test.go", "s").is_some());
        assert!(fixture_reason("app/test_settings.py", "s").is_some());
        assert!(fixture_reason("web/src/api.test.ts", "s").is_some());
        assert!(fixture_reason("docs/examples/config.yaml", "s").is_some());
        assert!(fixture_reason("cfg.env", "AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(fixture_reason("cfg.env", "sk_test_4eC39HqLyjWDarjtT1zdp7dc").is_some());
        assert!(fixture_reason("cfg.env", "sk_test_4eC39HqLyjWDarjtT1zdp7dX").is_none());
        assert!(fixture_reason("src/config.py", "ghp_live").is_none());
        assert!(fixture_reason("src/latest/contest.rs", "x").is_none());
        assert!(fixture_reason("aws-signing-test-suite/v4/context.json", "s").is_some());
        assert!(fixture_reason("ring/src/testutil.rs", "s").is_some());
        assert!(fixture_reason("crate/benches/serialize.rs", "s").is_some());
        assert!(fixture_reason("src/attestation/mod.rs", "s").is_none());
        assert!(fixture_reason("pem-rfc7468/README.md", "s").is_some());
        assert!(
            fixture_reason("web/firebase.js", "AIzaSyDOCAbC123dEf456GhI789jKl012-MnO").is_some()
        );
        assert!(
            fixture_reason("web/firebase.js", "AIzaSyQ7w2Kd9pLm4Tn8Xv1Bc6Rz3Hy5Jf0Ga").is_none()
        );
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWV9.sig";
        assert!(fixture_reason("src/login.rs", jwt).is_some());
    }

    #[test]
    fn fixtures_by_context() {
        let at = |text: &str, needle: &str| text.find(needle).expect("needle");
        let src = "pub fn f() {}\nconst KEY: &str = \"A\";\n#[cfg(test)]\nmod tests {\n    fn g() { let s = \"}\"; let c = '{'; }\n    const K: &str = \"B\";\n}\nconst LATE: &str = \"C\";\n";
        assert_eq!(
            fixture_context("src/lib.rs", src.as_bytes(), at(src, "\"A")),
            None
        );
        assert_eq!(
            fixture_context("src/lib.rs", src.as_bytes(), at(src, "\"B")),
            Some("#[cfg(test)] module")
        );
        assert_eq!(
            fixture_context("src/lib.rs", src.as_bytes(), at(src, "\"C")),
            None
        );
        let sso = "#[cfg(all(test, feature = \"sso\"))]\nmod sso_test {\n    const K: &str = \"B\";\n}\n#[cfg(not(test))]\nmod real {\n    const K: &str = \"D\";\n}\n";
        assert!(fixture_context("src/lib.rs", sso.as_bytes(), at(sso, "\"B")).is_some());
        assert_eq!(
            fixture_context("src/lib.rs", sso.as_bytes(), at(sso, "\"D")),
            None
        );
        // the same text in another language is not judged by Rust's rules
        assert_eq!(
            fixture_context("src/lib.py", src.as_bytes(), at(src, "\"B")),
            None
        );
        let doc = "/// let url = Url::parse(\"ftp://user1:secret1@example.com\")?;\n";
        assert!(fixture_context("src/lib.rs", doc.as_bytes(), at(doc, "secret1")).is_some());
        for line in [
            "const TEST_KEY: &str = \"zz9\";",
            "let test_token = \"zz9\";",
            "mockPassword = \"zz9\"",
            "EXAMPLE_SECRET=zz9",
        ] {
            assert!(
                fixture_context("a.rs", line.as_bytes(), at(line, "zz9")).is_some(),
                "{line}"
            );
        }
        for line in [
            "let latest_token = \"zz9\";",
            "testimony_key = \"zz9\"",
            "API_TOKEN=zz9",
        ] {
            assert!(
                fixture_context("a.rs", line.as_bytes(), at(line, "zz9")).is_none(),
                "{line}"
            );
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
