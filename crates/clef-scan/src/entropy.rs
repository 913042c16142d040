//! Shannon entropy, charset classification and the "this is obviously not a
//! secret" filters shared by every rule (placeholders, documentation examples,
//! template references).

use std::collections::HashSet;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

/// One case-insensitive automaton for a word list: these filters run on
/// every candidate secret, and a `contains` per word was a fifth of a scan
/// of assignment-heavy code.
fn any_word(
    words: &'static [&'static str],
    cell: &'static OnceLock<AhoCorasick>,
) -> &'static AhoCorasick {
    cell.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(words)
            .unwrap_or_else(|e| unreachable!("constant word list builds: {e}"))
    })
}

/// Shannon entropy of `s` in bits per byte. Empty input has entropy 0.
pub fn shannon(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    // the bytes present, as a bit set: the sum below visits only those,
    // in increasing byte order (the order, so the rounding, of a pass over
    // all 256 counts), not 256 counts for a 20-byte value
    let mut counts = [0u32; 256];
    let mut present = [0u64; 4];
    for &b in s {
        counts[usize::from(b)] += 1;
        present[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    let len = s.len() as f64;
    let mut word = 0;
    let mut bits = present[0];
    std::iter::from_fn(|| {
        while bits == 0 {
            word += 1;
            bits = *present.get(word)?;
        }
        let b = word * 64 + bits.trailing_zeros() as usize;
        bits &= bits - 1;
        Some(counts[b])
    })
    .map(|c| {
        let p = f64::from(c) / len;
        -p * p.log2()
    })
    .sum()
}

/// The alphabet a candidate value is drawn from; thresholds differ per charset
/// because a random hex string can never exceed 4 bits per character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `[0-9a-f]` or `[0-9A-F]` only.
    Hex,
    /// Letters and digits only.
    Alphanumeric,
    /// Base64 / URL-safe base64 alphabet (letters, digits, `+/=_-`).
    Base64,
    /// Anything else (punctuation, spaces): passwords, mostly.
    Other,
}

/// Classify `s`.
pub fn charset(s: &[u8]) -> Charset {
    let lower_hex = s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let upper_hex = s.iter().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'));
    if lower_hex || upper_hex {
        Charset::Hex
    } else if s.iter().all(u8::is_ascii_alphanumeric) {
        Charset::Alphanumeric
    } else if s
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'))
    {
        Charset::Base64
    } else {
        Charset::Other
    }
}

/// Minimum entropy for a generic (keyword-less) candidate of this charset and
/// length to count as random. The floor scales with `log2(len)` because a short
/// string cannot reach the entropy of its alphabet.
pub fn generic_threshold(cs: Charset, len: usize) -> f64 {
    let len = len.max(1) as f64;
    match cs {
        Charset::Hex => (0.80 * len.log2()).min(3.0),
        Charset::Alphanumeric | Charset::Base64 => (0.80 * len.log2()).clamp(3.0, 4.3),
        Charset::Other => (0.75 * len.log2()).clamp(2.5, 4.0),
    }
}

/// Number of character classes (lower, upper, digit, other) present.
pub fn class_count(s: &[u8]) -> usize {
    let mut classes = [false; 4];
    for &b in s {
        let i = if b.is_ascii_lowercase() {
            0
        } else if b.is_ascii_uppercase() {
            1
        } else if b.is_ascii_digit() {
            2
        } else {
            3
        };
        classes[i] = true;
    }
    classes.iter().filter(|&&c| c).count()
}

const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "your_",
    "your-",
    "yourpassword",
    "yourtoken",
    "yoursecret",
    "dummy",
    "redacted",
    "replace_me",
    "replaceme",
    "insert_",
    "sample",
    "not_a_real",
    "notreal",
    "fake_",
    "xxxxxx",
    "******",
    "......",
    "<",
    ">",
    "${",
    "{{",
    "}}",
];

const PLACEHOLDER_VALUES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "pass",
    "pwd",
    "test",
    "testing",
    "admin",
    "root",
    "user",
    "username",
    "foobar",
    "foobared",
    "hunter2",
    "letmein",
    "qwerty",
    "123456",
    "12345678",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "undefined",
    "todo",
    "tbd",
    "empty",
    "default",
    "string",
    "str",
    "value",
    "mysecret",
    "secret123",
    "password123",
    "s3cr3t",
    "supersecret",
    "topsecret",
];

/// True when `s` looks like a placeholder or documentation example rather than
/// a real value: `AKIAIOSFODNN7EXAMPLE`, `<your-token>`, `xxxxxxxx`, `changeme`,
/// `${VAR}`, a run of one repeated character.
pub fn is_placeholder(s: &[u8]) -> bool {
    if s.is_empty() {
        return true;
    }
    static VALUES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    static WORDS: OnceLock<AhoCorasick> = OnceLock::new();
    let quote_or_space = |b: &u8| matches!(b, b'"' | b'\'' | b'`' | b' ');
    let start = s.iter().position(|b| !quote_or_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !quote_or_space(b))
        .map_or(start, |e| e + 1);
    let trimmed = &s[start..end.max(start)];
    if trimmed.len() <= 16 {
        let lower = trimmed.to_ascii_lowercase();
        let values = VALUES.get_or_init(|| PLACEHOLDER_VALUES.iter().copied().collect());
        if std::str::from_utf8(&lower).is_ok_and(|t| values.contains(t)) {
            return true;
        }
    }
    if any_word(PLACEHOLDER_WORDS, &WORDS).is_match(s) {
        return true;
    }
    // a long run of one character (aaaaaaaa, 00000000, ________)
    let mut run = 1;
    for w in s.windows(2) {
        if w[0] == w[1] {
            run += 1;
            if run >= 8 && !matches!(w[0], b'A' | b'=') {
                return true;
            }
        } else {
            run = 1;
        }
    }
    // sequences like 1234567890 or abcdefgh (most of the value), or a run
    // of twelve in sequence inside a longer one
    // (`sk_live_abcdefghijklmnopqrstuvwx`): about once in 62^11 draws of a
    // random alphanumeric token. Ten digits in a row are not enough: tests
    // here and elsewhere write made-up tokens that end in `0123456789`,
    // which a scanner is expected to find
    if s.len() >= 8 {
        let (mut seq, mut run, mut longest) = (0, 1, 1);
        for w in s.windows(2) {
            if w[1] == w[0].wrapping_add(1) {
                seq += 1;
                run += 1;
                longest = longest.max(run);
            } else {
                run = 1;
            }
        }
        if seq * 10 >= (s.len() - 1) * 8 || longest >= 12 {
            return true;
        }
    }
    // counting bytes written in hex (000102030405…1e1f): the made-up key of
    // test vectors (ring's and aws-lc's poly1305/AEAD tests), never issued
    if trimmed.len() >= 16
        && trimmed.len().is_multiple_of(2)
        && trimmed.iter().all(u8::is_ascii_hexdigit)
    {
        let nibble = |b: u8| match b {
            b'0'..=b'9' => b - b'0',
            _ => (b | 0x20) - b'a' + 10,
        };
        let bytes: Vec<u8> = trimmed
            .chunks_exact(2)
            .map(|c| (nibble(c[0]) << 4) | nibble(c[1]))
            .collect();
        let seq = bytes
            .windows(2)
            .filter(|w| w[1] == w[0].wrapping_add(1))
            .count();
        if seq * 10 >= (bytes.len() - 1) * 8 {
            return true;
        }
    }
    false
}

/// True when a value is a reference to a secret stored elsewhere, not the
/// secret itself: `${X}`, `{{ x }}`, `$(cmd)`, `%(x)s`, `os.environ[...]`,
/// `process.env.X`, `!vault`, `ENC[...]`.
pub fn is_reference(s: &[u8]) -> bool {
    let text = String::from_utf8_lossy(s);
    let t = text.trim();
    if t.starts_with('$') || t.starts_with('%') || t.starts_with('@') || t.starts_with('&') {
        return true;
    }
    // a format placeholder: Rust `format!("…{password}…")`, Python
    // `"{}".format(…)` / f-strings, `{0}`
    if let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'?'))
    {
        return true;
    }
    const MARKERS: &[&str] = &[
        "${",
        "{{",
        "$(",
        "%(",
        "<%",
        "#{",
        "os.environ",
        "process.env",
        "getenv",
        "env(",
        "env[",
        "environ",
        "secrets.",
        "vault:",
        "!vault",
        "!ref",
        "ref+",
        "enc[",
        "arn:aws:",
        "secretkeyref",
        "valuefrom",
        "lookup(",
        "var.",
        "local.",
        "data.",
    ];
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    any_word(MARKERS, &AC).is_match(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_matches_the_old_tool_cases() {
        assert_eq!(shannon(b""), 0.0);
        assert_eq!(shannon(b"aaaaaaaa"), 0.0);
        assert!(shannon(b"deadbeef12345678deadbeef12345678") > 3.0);
        assert!(shannon(b"4xK9mQ2pLv8nR3wZaT7cBhJqYdEsFgHu") > 4.5);
        let sentence = shannon(b"the quick brown fox jumps over the lazy dog");
        assert!(sentence > 2.5 && sentence < 4.5, "{sentence}");
    }

    /// The sum over all 256 counts in byte order: what [`shannon`] must give
    /// to the last bit (its thresholds are compared exactly).
    fn shannon_over_all_counts(s: &[u8]) -> f64 {
        let mut counts = [0u32; 256];
        for &b in s {
            counts[usize::from(b)] += 1;
        }
        let len = s.len() as f64;
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / len;
                -p * p.log2()
            })
            .sum()
    }

    #[test]
    fn entropy_is_the_sum_over_all_counts_bit_for_bit() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 1..300 {
            // alphabets of 2 to 256 bytes, so words of the bit set are
            // empty, full and in between
            let span = 2 + (len * 7) % 255;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ((x % span as u64) as u8).wrapping_add((len % 3 * 64) as u8)
                })
                .collect();
            let (got, want) = (shannon(&v), shannon_over_all_counts(&v));
            assert_eq!(got.to_bits(), want.to_bits(), "length {len}");
        }
        for v in [&b"a"[..], b"\xff", b"\x00\xff", b"AKIAIOSFODNN7EXAMPLE"] {
            assert_eq!(shannon(v).to_bits(), shannon_over_all_counts(v).to_bits());
        }
    }

    #[test]
    fn format_placeholders_are_references() {
        for v in ["{password}", "{}", "{0}", "{self.pw}", "{pw:?}"] {
            assert!(is_reference(v.as_bytes()), "{v}");
        }
        assert!(!is_reference(b"{Xk9mQ2pLv8nR3w-Za7}"));
    }

    #[test]
    fn charsets() {
        assert_eq!(charset(b"deadbeef"), Charset::Hex);
        assert_eq!(charset(b"DEADBEEF"), Charset::Hex);
        assert_eq!(charset(b"DeadBeef"), Charset::Alphanumeric);
        assert_eq!(charset(b"ab+c/d=="), Charset::Base64);
        assert_eq!(charset(b"p@ss word"), Charset::Other);
    }

    #[test]
    fn placeholders_and_references() {
        assert!(is_placeholder(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_placeholder(b"<your-token>"));
        assert!(is_placeholder(b"xxxxxxxxxxxxxxxx"));
        assert!(is_placeholder(b"changeme"));
        assert!(is_placeholder(b"1234567890"));
        assert!(is_placeholder(b"sk_live_abcdefghijklmnopqrstuvwx"));
        assert!(is_placeholder(b"api_abcdefghijkl_Zx9kq2"));
        assert!(!is_placeholder(b"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"));
        assert!(!is_placeholder(b"sk_live_abcdefghiZx9kq2pLv8nR3wZa7T"));
        // counting bytes in hex (test vectors' made-up keys), any case
        assert!(is_placeholder(
            b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        ));
        assert!(is_placeholder(b"\"000102030405060708090A0B0C0D0E0F\""));
        assert!(!is_placeholder(
            b"2d773be37adb1e4d683bf0075e79c4ee037918535a7f99ccb7040fb5f5f43aea"
        ));
        assert!(is_placeholder(b"\"Password\""));
        assert!(is_placeholder(b" `TOKEN` "));
        assert!(is_placeholder(b"my-SAMPLE-value-123"));
        assert!(!is_placeholder(b"password-4xK9mQ2pLv8n"));
        assert!(!is_placeholder(b"4xK9mQ2pLv8nR3wZaT7c"));
        assert!(is_reference(b"${DB_PASSWORD}"));
        assert!(is_reference(b"{{ .Values.token }}"));
        assert!(is_reference(b"os.environ['TOKEN']"));
        assert!(is_reference(b"ENC[AES256_GCM,data:abc,type:str]"));
        assert!(!is_reference(b"4xK9mQ2pLv8nR3wZaT7c"));
        assert!(is_reference(b"Process.Env.API_TOKEN"));
    }
}
