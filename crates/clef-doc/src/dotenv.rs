//! dotenv reader and writer, compatible with sops's dotenv store.
//!
//! One `KEY=VALUE` per line, split at the first `=`, no trimming and no quote
//! handling (as sops does); a line starting with `#` is a comment; empty lines
//! are dropped; the two characters `\n` in a value stand for a newline.

use crate::tree::{Branch, Item, Value, go_val_to_string, secret};

/// A dotenv read or write error. Never contains a value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DotenvError {
    /// A non-comment line without `=`.
    #[error("invalid dotenv line {line}: no '=' (expected KEY=VALUE)")]
    NoEquals {
        /// 1-based line number.
        line: usize,
    },
    /// A line with an empty key.
    #[error("invalid dotenv line {line}: empty key")]
    EmptyKey {
        /// 1-based line number.
        line: usize,
    },
    /// A nested value cannot be written as dotenv.
    #[error("cannot write '{key}' as dotenv: dotenv holds only flat scalar values")]
    Nested {
        /// The offending key.
        key: String,
    },
}

/// Parses dotenv text into a flat branch of string values.
pub fn parse(input: &str) -> Result<Branch, DotenvError> {
    let mut b = Branch::new();
    for (n, line) in input.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            b.0.push(Item::Comment(secret(c)));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or(DotenvError::NoEquals { line: n + 1 })?;
        if k.is_empty() {
            return Err(DotenvError::EmptyKey { line: n + 1 });
        }
        b.0.push(Item::Entry(
            k.to_owned(),
            Value::Str(secret(v.replace("\\n", "\n"))),
        ));
    }
    Ok(b)
}

/// Writes a flat branch as dotenv. Scalars are written as sops's `ValToString`
/// does ([`go_val_to_string`]: `1.0`, `1E+21`, `true`, `<nil>` for null).
pub fn emit(doc: &Branch) -> Result<String, DotenvError> {
    let mut out = String::new();
    for item in &doc.0 {
        match item {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Item::Entry(k, v) => {
                let text = match v {
                    Value::Str(s) => crate::tree::secret(s.replace('\n', "\\n")),
                    Value::Map(_) | Value::List(_) | Value::Comment(_) => {
                        return Err(DotenvError::Nested { key: k.clone() });
                    }
                    scalar => go_val_to_string(scalar),
                };
                out.push_str(k);
                out.push('=');
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_sops() {
        let src = "# db\nDB_PASSWORD=s3cr3t=with=equals\n\nMULTI=a\\nb\nEMPTY=\nQUOTED=\"q v\"\nexport X=1\n";
        let d = parse(src).unwrap();
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            ["DB_PASSWORD", "MULTI", "EMPTY", "QUOTED", "export X"]
        );
        assert_eq!(
            d.get("DB_PASSWORD"),
            Some(&Value::str("s3cr3t=with=equals"))
        );
        assert_eq!(d.get("MULTI"), Some(&Value::str("a\nb")));
        assert_eq!(d.get("QUOTED"), Some(&Value::str("\"q v\"")));
        assert_eq!(emit(&d).unwrap(), src.replace("\n\n", "\n"));
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            parse("A=1\nhunter2\n").unwrap_err(),
            DotenvError::NoEquals { line: 2 }
        );
        assert!(
            !parse("hunter2")
                .unwrap_err()
                .to_string()
                .contains("hunter2")
        );
        assert_eq!(parse("=x").unwrap_err(), DotenvError::EmptyKey { line: 1 });
    }
}
