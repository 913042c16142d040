//! Go RE2 regular expressions (what sops compiles its crypt rules and
//! `path_regex` with), run on Rust's `regex` engine.
//!
//! The two engines share the automaton model but differ in syntax and in a few
//! meanings. A pattern is rewritten, token by token, to the Rust pattern that
//! matches exactly what Go matches:
//!
//! * `\w \d \s \b` (and `\W \D \S \B`) are ASCII-only in Go, Unicode in Rust;
//!   `\s` is `[\t\n\f\r ]` (no `\v`).
//! * `\Q…\E` quotes literally (Rust has no such syntax).
//! * `\p{Name}` takes Go's exact, case-sensitive category and script names;
//!   `\p{^Name}` negates.
//! * An escaped punctuation character is always itself (Rust gives `\<`/`\>`
//!   a meaning); `\0`–`\377` are octal escapes; `{` that does not start a
//!   repetition is a literal, and repetition counts are limited to 1000.
//! * Inside a class, `[`, `&&`, `--` and `~~` are literals (Rust nests classes
//!   and has set operations).
//!
//! Patterns Go rejects (look-around, backreferences, flags other than `imsU`,
//! `\Z`, …) are refused with the reason.

use regex::Regex;

/// Why a pattern is not valid RE2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Re2Error(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, Re2Error> {
    Err(Re2Error(s.into()))
}

const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = "\\t\\n\\x0C\\r ";
const DIGIT: &str = "0-9";

/// Go's Unicode general categories (`unicode.Categories`) and `Any`.
const CATEGORIES: &[&str] = &[
    "Any", "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
    "So", "Z", "Zl", "Zp", "Zs",
];

/// Compiles a Go RE2 pattern.
pub fn compile(pattern: &str) -> Result<Regex, Re2Error> {
    let rust = translate(pattern)?;
    Regex::new(&rust).map_err(|e| {
        let msg = e.to_string();
        let last = msg
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("invalid regular expression")
            .trim_start_matches("error: ");
        Re2Error(format!("invalid regular expression: {last}"))
    })
}

/// Rewrites a Go RE2 pattern as the equivalent Rust `regex` pattern.
pub fn translate(p: &str) -> Result<String, Re2Error> {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0usize; // index in `c` of the first char after `[` / `[^`
    while i < c.len() {
        let ch = c[i];
        if ch == '\\' {
            i += 1;
            let Some(&e) = c.get(i) else {
                return err("trailing backslash at end of expression");
            };
            i += 1;
            match e {
                'Q' if !in_class => {
                    let start = i;
                    while i < c.len() && !(c[i] == '\\' && c.get(i + 1) == Some(&'E')) {
                        i += 1;
                    }
                    let lit: String = c[start..i].iter().collect();
                    out.push_str(&regex::escape(&lit));
                    if i < c.len() {
                        i += 2;
                    }
                }
                'w' | 'W' | 'd' | 'D' | 's' | 'S' => {
                    let set = match e.to_ascii_lowercase() {
                        'w' => WORD,
                        'd' => DIGIT,
                        _ => SPACE,
                    };
                    let neg = if e.is_ascii_uppercase() { "^" } else { "" };
                    out.push_str(&format!("[{neg}{set}]"));
                }
                'b' | 'B' if !in_class => out.push_str(&format!("(?-u:\\{e})")),
                'p' | 'P' => {
                    let (name, next) = if c.get(i) == Some(&'{') {
                        let end = c[i..]
                            .iter()
                            .position(|&x| x == '}')
                            .map(|n| i + n)
                            .ok_or_else(|| Re2Error("missing closing } in \\p{...}".into()))?;
                        (c[i + 1..end].iter().collect::<String>(), end + 1)
                    } else if let Some(&l) = c.get(i) {
                        (l.to_string(), i + 1)
                    } else {
                        return err("invalid character class range: \\p at end");
                    };
                    i = next;
                    let (neg, name) = match name.strip_prefix('^') {
                        Some(n) => (e == 'p', n.to_owned()),
                        None => (e == 'P', name),
                    };
                    let script = name.starts_with(|x: char| x.is_ascii_uppercase())
                        && name.chars().all(|x| x.is_ascii_alphanumeric() || x == '_');
                    let class = if CATEGORIES.contains(&name.as_str()) {
                        name
                    } else if script && !CATEGORIES.contains(&name.as_str()) {
                        format!("sc={name}")
                    } else {
                        return err(format!("invalid character class range: \\p{{{name}}}"));
                    };
                    out.push_str(&format!("\\{}{{{class}}}", if neg { 'P' } else { 'p' }));
                }
                '1'..='7' if c.get(i).is_some_and(|d| ('0'..='7').contains(d)) => {
                    i = octal(&c, i - 1, &mut out);
                }
                '0' => i = octal(&c, i - 1, &mut out),
                '1'..='9' => return err("backreferences (\\1 ...) are not supported by RE2"),
                'a' | 'f' | 't' | 'n' | 'r' | 'v' | 'A' | 'z' => {
                    out.push('\\');
                    out.push(e);
                }
                'b' => out.push_str("\\x08"),
                'x' => {
                    out.push_str("\\x");
                    if c.get(i) == Some(&'{') {
                        while i < c.len() {
                            out.push(c[i]);
                            i += 1;
                            if c[i - 1] == '}' {
                                break;
                            }
                        }
                    } else {
                        for _ in 0..2 {
                            if let Some(&h) = c.get(i) {
                                out.push(h);
                                i += 1;
                            }
                        }
                    }
                }
                e if e.is_ascii_punctuation() => out.push_str(&regex::escape(&e.to_string())),
                e => return err(format!("invalid escape sequence: \\{e}")),
            }
            continue;
        }
        if in_class {
            match ch {
                ']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' if c.get(i + 1) == Some(&':') => {
                    // [:name:] is a POSIX class in both engines
                    let end = c[i + 2..]
                        .windows(2)
                        .position(|w| w == [':', ']'])
                        .map(|n| i + 2 + n + 2);
                    match end {
                        Some(end) => {
                            out.extend(&c[i..end]);
                            i = end;
                            continue;
                        }
                        None => out.push_str("\\["),
                    }
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(ch);
                }
                '-' if c.get(i + 1) == Some(&'-') || out.ends_with('-') => out.push_str("\\-"),
                _ => out.push(ch),
            }
            i += 1;
            continue;
        }
        match ch {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if c.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = i;
                continue;
            }
            '(' if c.get(i + 1) == Some(&'?') => {
                i = group_open(&c, i, &mut out)?;
                continue;
            }
            '{' => {
                match repetition(&c, i)? {
                    Some(end) => out.extend(&c[i..end]),
                    None => {
                        out.push_str("\\{");
                        i += 1;
                        continue;
                    }
                }
                i = c[i..]
                    .iter()
                    .position(|&x| x == '}')
                    .map_or(i + 1, |n| i + n + 1);
                continue;
            }
            '}' => out.push_str("\\}"),
            _ => out.push(ch),
        }
        i += 1;
    }
    if in_class {
        return err("missing closing ]");
    }
    Ok(out)
}

/// Go's octal escape: `\0`, `\12`, `\123` (up to three digits after the backslash).
fn octal(c: &[char], start: usize, out: &mut String) -> usize {
    let mut v = 0u32;
    let mut i = start;
    while i < c.len() && i < start + 3 && ('0'..='7').contains(&c[i]) {
        v = v * 8 + (c[i] as u32 - '0' as u32);
        i += 1;
    }
    out.push_str(&format!("\\x{{{v:X}}}"));
    i
}

/// `{n}`, `{n,}`, `{n,m}` at `i`: the index after `}` (None when `{` is a literal).
fn repetition(c: &[char], i: usize) -> Result<Option<usize>, Re2Error> {
    let end = match c[i..].iter().position(|&x| x == '}') {
        Some(n) => i + n,
        None => return Ok(None),
    };
    let inner: String = c[i + 1..end].iter().collect();
    let (lo, hi) = match inner.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (inner.as_str(), None),
    };
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !num(lo) || hi.is_some_and(|h| !h.is_empty() && !num(h)) {
        return Ok(None);
    }
    let big = |s: &str| s.len() > 4 || s.parse::<u32>().unwrap_or(u32::MAX) > 1000;
    if big(lo) || hi.is_some_and(|h| !h.is_empty() && big(h)) {
        return err(format!("invalid repeat count: {{{inner}}}"));
    }
    Ok(Some(end + 1))
}

/// `(?…`: non-capturing groups, flags and named groups as Go accepts them.
fn group_open(c: &[char], i: usize, out: &mut String) -> Result<usize, Re2Error> {
    let rest: String = c[i + 2..].iter().take(3).collect();
    if rest.starts_with('=')
        || rest.starts_with('!')
        || rest.starts_with("<=")
        || rest.starts_with("<!")
    {
        return err("look-around ((?=, (?!, (?<=, (?<!) is not supported by RE2");
    }
    if rest.starts_with("P<") || rest.starts_with('<') {
        let skip = if rest.starts_with('P') { 2 } else { 1 };
        let end = c[i + 2 + skip..]
            .iter()
            .position(|&x| x == '>')
            .map(|n| i + 2 + skip + n)
            .ok_or_else(|| Re2Error("invalid named capture".into()))?;
        let name: String = c[i + 2 + skip..end].iter().collect();
        if name.is_empty() || !name.chars().all(|x| x.is_alphanumeric() || x == '_') {
            return err(format!("invalid named capture: {name}"));
        }
        out.push_str(&format!("(?P<{name}>"));
        return Ok(end + 1);
    }
    let mut j = i + 2;
    let mut flags = String::new();
    while let Some(&f) = c.get(j) {
        match f {
            'i' | 'm' | 's' | 'U' | '-' => flags.push(f),
            ')' | ':' => {
                out.push_str("(?");
                out.push_str(&flags);
                out.push(f);
                return Ok(j + 1);
            }
            _ => return err(format!("invalid or unsupported Perl syntax: (?{flags}{f}")),
        }
        j += 1;
    }
    err("missing closing )")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(!m(r"^\w+$", "Ärger"));
        assert!(!m(r"^\w+$", "٣x"));
        assert!(m(r"^\w+$", "abc_1"));
        assert!(!m(r"^\d$", "٣"));
        assert!(!m(r"^\s$", "\u{a0}"));
        assert!(!m(r"^\s$", "\u{b}"));
        assert!(m(r"^[\w.-]+$", "a.b-c"));
        assert!(!m(r"^[\w]+$", "é"));
        assert!(m(r"^\W$", "é"));
        assert!(m(r"\bx", "éx"));
        assert!(!m(r"\Bx", "éx"));
    }

    #[test]
    fn re2_only_syntax() {
        assert!(m(r"^\p{Lu}", "Ärger"));
        assert!(m(r"^\pL+$", "Ärger"));
        assert!(m(r"^\p{Latin}+$", "Ärger"));
        assert!(!m(r"^\p{^Latin}", "Ä"));
        assert!(m(r"^\Qa.b\E$", "a.b"));
        assert!(!m(r"^\Qa.b\E$", "axb"));
        assert!(m(r"^\Qa.b", "a.bc"));
        assert!(m(r"^\<x\>$", "<x>"));
        assert!(m(r"^\101$", "A"));
        assert!(m(r"^a{$", "a{"));
        assert!(m(r"^[a[]+$", "a[["));
        assert!(m(r"^[a&&b]+$", "&"));
        assert!(m(r"^(?P<n>x)(?<m>y)$", "xy"));
        assert!(m(r"(?i)^K$", "\u{212a}"));
    }

    #[test]
    fn what_re2_rejects_is_refused_with_a_reason() {
        for (p, why) in [
            ("(?!x)", "look-around"),
            ("(?<=x)y", "look-around"),
            (r"(a)\1", "backreferences"),
            ("(?x)a", "(?x"),
            (r"\p{latin}", "\\p{latin}"),
            (r"\p{Alphabetic}", "invalid regular expression"),
            ("a{1001}", "repeat count"),
            (r"\Z", "escape"),
            ("[a", "missing closing ]"),
        ] {
            let e = compile(p).expect_err(p).to_string();
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
