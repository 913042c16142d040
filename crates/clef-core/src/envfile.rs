//! `.env` files as people write them (for `clef import`), following the
//! conventions shared by the dotenv libraries (Node `dotenv`, `python-dotenv`,
//! Ruby `dotenv`, docker compose), not sops's own minimal dotenv format:
//!
//! * blank lines and `#` comment lines are skipped; `export KEY=…` is read
//!   as `KEY=…`; spaces around `=` are allowed;
//! * unquoted values are trimmed, and ` #` (a `#` after whitespace) starts
//!   an inline comment; a `#` inside a word (`pa#ss`) is kept;
//! * `'single'` quotes are literal; `"double"` quotes decode `\n \r \t \" \\ \$`
//!   (other backslashes are kept); `` `backticks` `` are literal; quoted
//!   values may span lines; after the closing quote only a comment may follow;
//! * `${VAR}` is not expanded (the value is stored as written);
//! * a later definition of a key replaces an earlier one.
//!
//! Errors name the line, never its value.

use zeroize::Zeroizing;

/// A line that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct EnvFileError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong (never the value).
    pub reason: &'static str,
}

/// One parsed entry.
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// The decoded value.
    pub value: Zeroizing<String>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({}, <value>)", self.key)
    }
}

/// Parses a `.env` file into its entries, in order of first appearance.
pub fn parse(text: &str) -> Result<Vec<Entry>, EnvFileError> {
    let mut out: Vec<Entry> = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((n, raw)) = lines.next() {
        let line_no = n + 1;
        let err = |reason| EnvFileError {
            line: line_no,
            reason,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = match line.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
            _ => line,
        };
        let Some((key, rest)) = line.split_once('=') else {
            return Err(err("expected KEY=VALUE"));
        };
        let key = key.trim_end();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(err("expected KEY=VALUE (the key is empty or has spaces)"));
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let mut value = Zeroizing::new(String::new());
        match rest.chars().next() {
            Some(q @ ('"' | '\'' | '`')) => {
                // Quoted: may continue on the following lines.
                let mut body = Zeroizing::new(rest[1..].to_owned());
                let close = loop {
                    if let Some(i) = closing_quote(&body, q) {
                        break i;
                    }
                    let Some((_, next)) = lines.next() else {
                        return Err(err("the quoted value is never closed"));
                    };
                    body.push('\n');
                    body.push_str(next);
                };
                let after = body[close + 1..].trim();
                if !(after.is_empty() || after.starts_with('#')) {
                    return Err(err("text after the closing quote"));
                }
                let inner = &body[..close];
                if q == '"' {
                    decode_double(inner, &mut value);
                } else {
                    value.push_str(inner);
                }
            }
            _ => {
                let rest = rest.strip_suffix('\r').unwrap_or(rest);
                let end = rest
                    .char_indices()
                    .find(|&(i, c)| c == '#' && rest[..i].ends_with([' ', '\t']))
                    .map_or(rest.len(), |(i, _)| i);
                value.push_str(rest[..end].trim());
            }
        }
        let key = key.to_owned();
        match out.iter_mut().find(|e| e.key == key) {
            Some(e) => e.value = value,
            None => out.push(Entry { key, value }),
        }
    }
    Ok(out)
}

/// Writes `KEY=value` lines that [`parse`] (and the dotenv libraries) read
/// back exactly: a value with spaces at its ends, `#`, quotes, `\\`, `$`
/// or control characters is double-quoted with escapes. Holds secret
/// values: the result is wiped on drop.
pub fn emit<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    for (k, v) in entries {
        s.push_str(k);
        s.push('=');
        let plain = !v
            .contains(|c: char| c.is_control() || matches!(c, '#' | '"' | '\'' | '`' | '\\' | '$'))
            && v.trim() == v;
        if plain {
            s.push_str(v);
        } else {
            s.push('"');
            for c in v.chars() {
                match c {
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    '"' | '\\' | '$' => {
                        s.push('\\');
                        s.push(c);
                    }
                    c => s.push(c),
                }
            }
            s.push('"');
        }
        s.push('\n');
    }
    s
}

/// Byte index of the closing quote `q` in `body` (a double quote escaped
/// with a backslash does not close).
fn closing_quote(body: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if q == '"' && escaped {
            escaped = false;
            continue;
        }
        if q == '"' && c == '\\' {
            escaped = true;
        } else if c == q {
            return Some(i);
        }
    }
    None
}

fn decode_double(inner: &str, out: &mut String) {
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(c @ ('"' | '\\' | '$' | '\'')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.to_string()))
            .collect()
    }

    #[test]
    fn the_common_conventions() {
        let text = "# comment\n\
            PLAIN=value\n\
            DQ=\"double quoted\"\n\
            SQ='single $NOT \\n'\n\
            export EXPORTED=yes\n\
            SPACED = around  \n\
            INLINE=value # a comment\n\
            HASH=pa#ss\n\
            QC=\"quoted # kept\" # comment\n\
            ESC=\"a\\nb\\tc \\\"q\\\" \\\\ \\$HOME \\x\"\n\
            MULTI=\"line one\n\
            line two\"\n\
            EMPTY=\n\
            EMPTYQ=''\n\
            CRLF=v\r\n\
            BT=`tick 'x'`\n\
            PLAIN=later\n";
        assert_eq!(
            kv(text),
            [
                ("PLAIN", "later"),
                ("DQ", "double quoted"),
                ("SQ", "single $NOT \\n"),
                ("EXPORTED", "yes"),
                ("SPACED", "around"),
                ("INLINE", "value"),
                ("HASH", "pa#ss"),
                ("QC", "quoted # kept"),
                ("ESC", "a\nb\tc \"q\" \\ $HOME \\x"),
                ("MULTI", "line one\nline two"),
                ("EMPTY", ""),
                ("EMPTYQ", ""),
                ("CRLF", "v"),
                ("BT", "tick 'x'"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn emit_round_trips() {
        let vals = [
            "plain",
            "",
            " padded ",
            "a # b",
            "multi\nline\r\n",
            "q\"uo'te`s",
            "back\\slash \\n",
            "$HOME ${X}",
            "tab\there",
        ];
        let entries: Vec<(String, &str)> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("K{i}"), *v))
            .collect();
        let text = emit(entries.iter().map(|(k, v)| (k.as_str(), *v)));
        let back = kv(&text);
        assert_eq!(back.len(), vals.len());
        for ((_, v), want) in back.iter().zip(vals) {
            assert_eq!(v, want);
        }
        assert!(text.starts_with("K0=plain\nK1=\n"));
    }

    #[test]
    fn errors_name_the_line_not_the_value() {
        let e = parse("A=1\nB=\"never closed secret\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("secret"));
        assert_eq!(parse("A=1\njust-a-word\n").unwrap_err().line, 2);
        assert_eq!(parse("A='x' trailing\n").unwrap_err().line, 1);
        assert_eq!(parse("MY KEY=1\n").unwrap_err().line, 1);
    }
}
