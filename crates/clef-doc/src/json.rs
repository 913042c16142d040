//! JSON reader and writer, compatible with sops's JSON store.
//!
//! Reading keeps key order (and duplicate keys, as sops's token decoder does);
//! every number becomes a [`Value::Float`] (sops 3.11 decodes all JSON numbers
//! as `float64`). Writing reproduces Go's `json.Marshal` + `json.Indent`: TAB
//! indentation by default, `": "` separators, HTML-safe escaping, and Go's float
//! formatting.

use crate::tree::{Branch, Item, Value, go_format_float_f, secret};

/// Deepest nesting accepted; deeper input is refused instead of overflowing the stack.
pub const MAX_DEPTH: usize = 256;

/// A JSON read or write error. Never contains document content.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JsonError {
    /// Malformed input at a byte offset.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in bytes).
        column: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The top-level value is not an object.
    #[error("the top-level JSON value must be an object")]
    NotAnObject,
    /// A value JSON cannot represent (NaN or an infinity).
    #[error("value at '{path}' is {what}, which JSON cannot represent")]
    Unrepresentable {
        /// Key path of the value.
        path: String,
        /// `NaN` or `an infinity`.
        what: &'static str,
    },
}

/// Parses a JSON document whose top level is an object.
pub fn parse(input: &str) -> Result<Branch, JsonError> {
    let mut p = Parser {
        s: input.as_bytes(),
        pos: 0,
    };
    p.ws();
    if p.peek() != Some(b'{') {
        if p.peek().is_none() {
            return Err(p.err("empty input"));
        }
        return Err(JsonError::NotAnObject);
    }
    let v = p.value(0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing characters after the top-level object"));
    }
    match v {
        Value::Map(b) => Ok(b),
        _ => Err(JsonError::NotAnObject),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> JsonError {
        let upto = &self.s[..self.pos.min(self.s.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = self.pos - upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        JsonError::Syntax {
            line,
            column,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, reason: &'static str) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut b = Branch::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Map(b));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    let k = self.string()?;
                    self.expect(b':', "expected ':' after a key")?;
                    let v = self.value(depth + 1)?;
                    b.0.push(Item::Entry(k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Map(b));
                        }
                        _ => return Err(self.err("expected ',' or '}' in an object")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut l = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::List(l));
                }
                loop {
                    l.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::List(l));
                        }
                        _ => return Err(self.err("expected ',' or ']' in an array")),
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(secret(self.string()?))),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, JsonError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.s[start..self.pos])
            .map_err(|_| self.err("invalid number"))?;
        let f: f64 = text.parse().map_err(|_| self.err("invalid number"))?;
        if f.is_infinite() {
            return Err(self.err("number out of range"));
        }
        Ok(Value::Float(f))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated string"));
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair; a lone high surrogate becomes U+FFFD as in Go.
                                if self.s[self.pos..].starts_with(b"\\u") {
                                    let save = self.pos;
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        char::from_u32(
                                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                        )
                                        .unwrap_or('\u{fffd}')
                                    } else {
                                        self.pos = save;
                                        '\u{fffd}'
                                    }
                                } else {
                                    '\u{fffd}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return Err(self.err("control character in string")),
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"))
    }
}

/// Writes `doc` as Go's `json.Marshal` followed by `json.Indent` would:
/// `indent = None` means one TAB per level (sops's default), `Some(n)` means
/// `n` spaces. Comments are dropped (JSON has none). Ends with a newline.
pub fn emit(doc: &Branch, indent: Option<usize>) -> Result<String, JsonError> {
    let unit = match indent {
        None => "\t".to_owned(),
        Some(n) => " ".repeat(n),
    };
    let mut out = String::new();
    let mut path = Vec::new();
    write_branch(&mut out, doc, &unit, 0, &mut path)?;
    out.push('\n');
    Ok(out)
}

fn newline(out: &mut String, unit: &str, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str(unit);
    }
}

fn write_branch(
    out: &mut String,
    b: &Branch,
    unit: &str,
    level: usize,
    path: &mut Vec<String>,
) -> Result<(), JsonError> {
    let entries: Vec<(&String, &Value)> =
        b.0.iter()
            .filter_map(|i| match i {
                Item::Entry(k, v) => Some((k, v)),
                Item::Comment(_) => None,
            })
            .collect();
    if entries.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (n, (k, v)) in entries.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        newline(out, unit, level + 1);
        write_string(out, k);
        out.push_str(": ");
        path.push((*k).clone());
        write_value(out, v, unit, level + 1, path)?;
        path.pop();
    }
    newline(out, unit, level);
    out.push('}');
    Ok(())
}

fn write_value(
    out: &mut String,
    v: &Value,
    unit: &str,
    level: usize,
    path: &mut Vec<String>,
) -> Result<(), JsonError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Str(s) => write_string(out, s),
        Value::Time(s) => write_string(out, s),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            out.push_str(
                &go_json_float(*f).ok_or_else(|| JsonError::Unrepresentable {
                    path: path.join(":"),
                    what: if f.is_nan() { "NaN" } else { "an infinity" },
                })?,
            )
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Map(b) => write_branch(out, b, unit, level, path)?,
        Value::List(l) => {
            let items: Vec<&Value> = l
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                newline(out, unit, level + 1);
                write_value(out, item, unit, level + 1, path)?;
            }
            newline(out, unit, level);
            out.push(']');
        }
        Value::Comment(_) => {}
    }
    Ok(())
}

/// Go's `json.Marshal` float format, or `None` for NaN and infinities.
pub fn go_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        let (mant, exp) = e.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        Some(if exp < 0 {
            format!("{mant}e-{}", -exp)
        } else {
            format!("{mant}e+{exp:02}")
        })
    } else {
        Some(go_format_float_f(f))
    }
}

/// Appends `s` as a JSON string with Go's escaping rules (`encoding/json`:
/// also `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`).
pub fn write_string(out: &mut String, s: &str) {
    write_escaped(out, s, true);
}

/// Appends `s` as a JSON string escaped exactly as JavaScript's
/// `JSON.stringify` does (only `"`, `\` and control characters).
pub fn write_js_string(out: &mut String, s: &str) {
    write_escaped(out, s, false);
}

/// The one JSON string escaper: `"`, `\`, the `\b \f \n \r \t` short
/// forms and `\u00XX` for other control characters; `go` adds Go's HTML-safe
/// and line-separator escapes.
fn write_escaped(out: &mut String, s: &str, go: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' if go => out.push_str("\\u003c"),
            '>' if go => out.push_str("\\u003e"),
            '&' if go => out.push_str("\\u0026"),
            '\u{2028}' if go => out.push_str("\\u2028"),
            '\u{2029}' if go => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_order_and_types() {
        let src =
            "{\"b\": 1, \"a\": {\"x\": [true, null, \"s\"], \"e\": {}, \"l\": []}, \"f\": 0.5}";
        let doc = parse(src).unwrap();
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["b", "a", "f"]);
        assert_eq!(doc.get("b"), Some(&Value::Float(1.0)));
        let out = emit(&doc, None).unwrap();
        assert_eq!(
            out,
            "{\n\t\"b\": 1,\n\t\"a\": {\n\t\t\"x\": [\n\t\t\ttrue,\n\t\t\tnull,\n\t\t\t\"s\"\n\t\t],\n\t\t\"e\": {},\n\t\t\"l\": []\n\t},\n\t\"f\": 0.5\n}\n"
        );
    }

    #[test]
    fn go_float_forms() {
        assert_eq!(go_json_float(8080.0).unwrap(), "8080");
        assert_eq!(go_json_float(1e21).unwrap(), "1e+21");
        assert_eq!(go_json_float(1e-7).unwrap(), "1e-7");
        assert_eq!(go_json_float(1.5e-10).unwrap(), "1.5e-10");
        assert_eq!(
            go_json_float(12345678901234567890.0).unwrap(),
            "12345678901234567000"
        );
        assert_eq!(go_json_float(0.000001).unwrap(), "0.000001");
        assert!(go_json_float(f64::NAN).is_none());
    }

    #[test]
    fn go_string_escapes() {
        let mut s = String::new();
        write_string(&mut s, "héllo <&> \u{1}\t\"\\/");
        assert_eq!(s, "\"héllo \\u003c\\u0026\\u003e \\u0001\\t\\\"\\\\/\"");
    }

    #[test]
    fn errors_do_not_leak_content() {
        let e = parse("{\"password\": \"hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(parse("[1]").unwrap_err(), JsonError::NotAnObject);
        assert!(parse("{\"a\":1} x").is_err());
        assert!(parse("").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(&format!("{{\"a\":{deep}}}")).is_err());
    }

    #[test]
    fn unicode_escapes() {
        let d = parse(r#"{"a": "\u00e9\ud83d\ude00\u0041"}"#).unwrap();
        assert_eq!(d.get("a"), Some(&Value::str("é😀A")));
    }
}
