//! INI reader and writer, compatible with sops's INI store (go-ini v1.67 with
//! `AllowNonUniqueSections`, as sops 3.11 loads and writes it).
//!
//! The tree is one [`Branch`] whose entries are the sections, in file order
//! (the unnamed `DEFAULT` section first, always); a section is a
//! [`Value::Map`] of string values. A section's comment (the comment lines
//! above its header) is its first item; a key's comment (the lines above it,
//! plus an inline `; …` after its value) follows the key, as in sops's tree.
//! Comments keep everything after the leading run of `;`/`#` and spaces.
//!
//! Writing follows go-ini: `; ` before each comment line, keys padded so
//! that the `=` signs of a section line up, a blank line between sections,
//! values with `#`/`;` quoted in backquotes, multi-line values in `"""`.

use crate::tree::{Branch, Item, Secret, Value, go_val_to_string, secret};

/// The name go-ini gives the keys above the first section header.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// An INI read or write error. Never contains a value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IniError {
    /// A `[section` line without `]`.
    #[error("invalid INI line {line}: unclosed section header")]
    UnclosedSection {
        /// 1-based line number.
        line: usize,
    },
    /// `[]`.
    #[error("invalid INI line {line}: empty section name")]
    EmptySection {
        /// 1-based line number.
        line: usize,
    },
    /// A line that is neither a comment, a section nor `key = value`.
    #[error("invalid INI line {line}: no '=' or ':' (expected key = value)")]
    NoDelimiter {
        /// 1-based line number.
        line: usize,
    },
    /// `= value`.
    #[error("invalid INI line {line}: empty key name")]
    EmptyKey {
        /// 1-based line number.
        line: usize,
    },
    /// A quoted key or value whose closing quote never comes.
    #[error("invalid INI line {line}: missing closing quote")]
    Unterminated {
        /// 1-based line number.
        line: usize,
    },
    /// A top-level value that is not a section (a mapping).
    #[error("cannot write '{key}' as INI: top-level values must be sections (mappings)")]
    NotSection {
        /// The offending key.
        key: String,
    },
    /// A value nested below a section.
    #[error("cannot write '{key}' as INI: INI holds one level of keys below a section")]
    Nested {
        /// The offending key.
        key: String,
    },
    /// A section or key with an empty name.
    #[error("cannot write an INI section or key with an empty name")]
    EmptyName,
}

/// sops's `stripCommentChar`: drops the leading run of `;` (or `#`) and spaces.
fn strip_comment_char(c: &str) -> &str {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' '])
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' '])
    } else {
        c
    }
}

struct Section {
    name: String,
    comment: Secret,
    keys: Vec<(String, Secret, Secret)>, // name, value, comment
}

impl Section {
    fn new(name: &str, comment: Secret) -> Self {
        Section {
            name: name.to_owned(),
            comment,
            keys: Vec::new(),
        }
    }
}

/// Reads `key` (go-ini `readKeyName`): returns the name and the offset of the value.
fn read_key_name(line: &str, n: usize) -> Result<(String, usize), IniError> {
    let quote = if line.starts_with('"') {
        if line.len() > 6 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        }
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let pos = line[start..]
            .find(quote)
            .ok_or(IniError::Unterminated { line: n })?
            + start;
        let i = line[pos + start..]
            .find(['=', ':'])
            .ok_or(IniError::NoDelimiter { line: n })?;
        return Ok((line[start..pos].trim().to_owned(), pos + i + start + 1));
    }
    match line.find(['=', ':']) {
        None => Err(IniError::NoDelimiter { line: n }),
        Some(0) => Err(IniError::EmptyKey { line: n }),
        Some(i) => Ok((line[..i].trim().to_owned(), i + 1)),
    }
}

fn surrounded(s: &str, q: char) -> bool {
    s.len() >= 2 && s.starts_with(q) && s.ends_with(q) && s[1..s.len() - 1].find(q).is_none()
}

/// Parses INI text into sections (see the module docs for the tree layout).
pub fn parse(input: &str) -> Result<Branch, IniError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let lines: Vec<&str> = input.split_inclusive('\n').collect();
    let mut sections = vec![Section::new(DEFAULT_SECTION, Secret::default())];
    let mut comment = Secret::default();
    let mut count = 1;
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let close = line
                .rfind(']')
                .ok_or(IniError::UnclosedSection { line: n })?;
            let name = &line[1..close];
            if name.is_empty() {
                return Err(IniError::EmptySection { line: n });
            }
            if let Some(j) = line[close + 1..].find(['#', ';']) {
                comment.push_str(&line[close + 1 + j..]);
            }
            sections.push(Section::new(name, secret(comment.trim())));
            comment.clear();
            count = 1;
            continue;
        }
        let (mut name, offset) = read_key_name(line, n)?;
        if name == "-" {
            name = format!("#{count}");
            count += 1;
        }
        let value = read_value(&line[offset..], &lines, &mut i, &mut comment, n)?;
        if name.is_empty() {
            return Err(IniError::EmptyKey { line: n });
        }
        let sec = sections
            .last_mut()
            .expect("the default section is always there");
        let c = secret(comment.trim());
        comment.clear();
        match sec.keys.iter_mut().find(|(k, _, _)| *k == name) {
            Some(slot) => {
                slot.1 = value;
                slot.2 = c;
            }
            None => sec.keys.push((name, value, c)),
        }
    }
    let mut out = Branch::new();
    for s in sections {
        let mut b = Branch::new();
        if !s.comment.is_empty() {
            b.0.push(Item::Comment(secret(strip_comment_char(&s.comment))));
        }
        for (k, v, c) in s.keys {
            b.0.push(Item::Entry(k, Value::Str(v)));
            if !c.is_empty() {
                b.0.push(Item::Comment(secret(strip_comment_char(&c))));
            }
        }
        out.0.push(Item::Entry(s.name, Value::Map(b)));
    }
    Ok(out)
}

/// go-ini `readValue` with sops's options (inline comments and `\` line
/// continuations on, `"`/`'` around a whole value removed).
fn read_value(
    raw: &str,
    lines: &[&str],
    i: &mut usize,
    comment: &mut Secret,
    n: usize,
) -> Result<Secret, IniError> {
    let line = raw.trim_start();
    if line.is_empty() {
        return Ok(Secret::default());
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        if let Some(pos) = line[start..].rfind(quote) {
            return Ok(secret(&line[start..start + pos]));
        }
        let mut val = secret(&line[start..]);
        loop {
            let Some(next) = lines.get(*i) else {
                return Err(IniError::Unterminated { line: n });
            };
            *i += 1;
            if let Some(pos) = next.rfind(quote) {
                val.push_str(&next[..pos]);
                if let Some(j) = next[pos..].find(['#', ';']) {
                    comment.push_str(next[pos + j..].trim());
                }
                return Ok(val);
            }
            val.push_str(next);
        }
    }
    let mut line = secret(line.trim());
    if line.ends_with('\\') {
        line.pop();
        while let Some(next) = lines.get(*i) {
            *i += 1;
            let next = next.trim();
            if next.is_empty() {
                break;
            }
            line.push_str(next);
            if !line.ends_with('\\') {
                break;
            }
            line.pop();
        }
        return Ok(line);
    }
    if let Some(j) = line.find(['#', ';']) {
        comment.push_str(&line[j..]);
        line = secret(line[..j].trim());
    }
    if surrounded(&line, '\'') || surrounded(&line, '"') {
        line = secret(&line[1..line.len() - 1]);
    }
    Ok(line)
}

/// Writes sections as INI, the way sops (go-ini) does. Comments at the top
/// level are skipped; values are written in sops's text form
/// ([`go_val_to_string`]).
pub fn emit(docs: &[Branch]) -> Result<String, IniError> {
    let mut sections: Vec<Section> = Vec::new();
    for doc in docs {
        for item in &doc.0 {
            let Item::Entry(name, v) = item else { continue };
            let Value::Map(b) = v else {
                return Err(IniError::NotSection { key: name.clone() });
            };
            if name.is_empty() {
                return Err(IniError::EmptyName);
            }
            let mut items = b.0.iter().peekable();
            let mut comment = Secret::default();
            if let Some(Item::Comment(c)) = items.peek() {
                comment = c.clone();
                items.next();
            }
            let mut sec = Section::new(name, comment);
            for item in items {
                match item {
                    Item::Comment(c) => {
                        if let Some(last) = sec.keys.last_mut() {
                            last.2 = c.clone();
                        }
                    }
                    Item::Entry(k, v) => {
                        if k.is_empty() {
                            return Err(IniError::EmptyName);
                        }
                        if matches!(v, Value::Map(_) | Value::List(_)) {
                            return Err(IniError::Nested { key: k.clone() });
                        }
                        let text = go_val_to_string(v);
                        match sec.keys.iter_mut().find(|(n, _, _)| n == k) {
                            Some(slot) => slot.1 = text,
                            None => sec.keys.push((k.clone(), text, Secret::default())),
                        }
                    }
                }
            }
            sections.push(sec);
        }
    }
    Ok(write(&sections))
}

fn comment_lines(out: &mut String, comment: &str, trim_plain: bool) {
    if comment.is_empty() {
        return;
    }
    for l in comment.split('\n') {
        match l.chars().next() {
            Some(c @ ('#' | ';')) => {
                out.push(c);
                out.push(' ');
                out.push_str(l[1..].trim());
            }
            _ => {
                out.push_str("; ");
                out.push_str(if trim_plain { l.trim() } else { l });
            }
        }
        out.push('\n');
    }
}

fn write(sections: &[Section]) -> String {
    let mut out = String::new();
    let last = sections.len().saturating_sub(1);
    for (i, s) in sections.iter().enumerate() {
        comment_lines(&mut out, &s.comment, false);
        if i > 0 || s.name.to_uppercase() != DEFAULT_SECTION {
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
        } else if s.keys.is_empty() {
            continue;
        }
        let quoted = |k: &str| {
            if k.contains('"') || k.contains(['=', ':']) {
                format!("`{k}`")
            } else if k.contains('`') {
                format!("\"\"\"{k}\"\"\"")
            } else {
                k.to_owned()
            }
        };
        let align = s
            .keys
            .iter()
            .map(|(k, _, _)| quoted(k).len())
            .max()
            .unwrap_or(0);
        for (k, v, c) in &s.keys {
            comment_lines(&mut out, c, true);
            let k = quoted(k);
            out.push_str(&k);
            out.extend(std::iter::repeat_n(' ', align - k.len()));
            out.push_str(" = ");
            if v.contains(['\n', '`']) {
                out.push_str("\"\"\"");
                out.push_str(v);
                out.push_str("\"\"\"");
            } else if v.contains(['#', ';']) {
                out.push('`');
                out.push_str(v);
                out.push('`');
            } else if v.trim().len() != v.len() {
                out.push('"');
                out.push_str(v);
                out.push('"');
            } else {
                out.push_str(v);
            }
            out.push('\n');
        }
        if i != last {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec<'a>(b: &'a Branch, name: &str) -> &'a Branch {
        match b.get(name) {
            Some(Value::Map(m)) => m,
            _ => panic!("no section {name}"),
        }
    }

    #[test]
    fn round_trip_like_go_ini() {
        let src = "; top comment\n[section1]\n# a comment\nkey1 = value1\nlonger_key=v2 ; inline\n\n[sect two]\nk = hello world\nempty =\nq = \"  spaced  \"\n";
        let d = parse(src).unwrap();
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            ["DEFAULT", "section1", "sect two"]
        );
        let s1 = sec(&d, "section1");
        assert_eq!(s1.0[0], Item::Comment(secret("top comment")));
        assert_eq!(s1.get("longer_key"), Some(&Value::str("v2")));
        assert_eq!(s1.0[2], Item::Comment(secret("a comment")));
        assert_eq!(s1.0[4], Item::Comment(secret("inline")));
        assert_eq!(
            sec(&d, "sect two").get("q"),
            Some(&Value::str("  spaced  "))
        );
        assert_eq!(
            emit(&[d]).unwrap(),
            "; top comment\n[section1]\n; a comment\nkey1       = value1\n; inline\nlonger_key = v2\n\n[sect two]\nk     = hello world\nempty = \nq     = \"  spaced  \"\n"
        );
    }

    #[test]
    fn default_section_and_quoting() {
        let d = parse("a = 1\n[s]\n`x=y` = `v;w`\nm = \"\"\"l1\nl2\"\"\"\n").unwrap();
        assert_eq!(sec(&d, "DEFAULT").get("a"), Some(&Value::str("1")));
        assert_eq!(sec(&d, "s").get("x=y"), Some(&Value::str("v;w")));
        assert_eq!(sec(&d, "s").get("m"), Some(&Value::str("l1\nl2")));
        assert_eq!(
            emit(&[d]).unwrap(),
            "a = 1\n\n[s]\n`x=y` = `v;w`\nm     = \"\"\"l1\nl2\"\"\"\n"
        );
    }

    #[test]
    fn errors_name_lines_not_values() {
        assert_eq!(
            parse("[s]\nhunter2\n").unwrap_err(),
            IniError::NoDelimiter { line: 2 }
        );
        assert_eq!(
            parse("[s\n").unwrap_err(),
            IniError::UnclosedSection { line: 1 }
        );
        assert_eq!(parse("= x\n").unwrap_err(), IniError::EmptyKey { line: 1 });
        let mut b = Branch::new();
        b.insert("x", Value::str("top"));
        assert!(matches!(emit(&[b]), Err(IniError::NotSection { .. })));
    }
}
