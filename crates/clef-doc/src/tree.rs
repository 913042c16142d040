//! The document tree: what every format reader produces and every writer consumes.
//!
//! It mirrors sops's own `TreeBranches` model: a file is one or more documents
//! (YAML may have several, JSON and dotenv exactly one); a document is an
//! ordered [`Branch`] of [`Item`]s; an item is either a `key: value` entry or a
//! comment line. Order is never changed and nothing is sorted.
//!
//! Plaintext secrets live in this tree while a file is decrypted, so string
//! values and comments are [`Secret`]s (wiped from memory on drop, redacted
//! by `Debug`), and `Debug` never prints scalar contents.

use std::fmt;
pub use zeroize::Zeroizing;

pub use crate::secret::Secret;

/// Wraps a string as a [`Secret`].
pub fn secret(s: impl Into<String>) -> Secret {
    Secret::new(s)
}

/// One document: an ordered mapping whose items may be comments.
#[derive(Clone, PartialEq, Default)]
pub struct Branch(pub Vec<Item>);

/// An element of a [`Branch`].
#[derive(Clone, PartialEq)]
pub enum Item {
    /// `key: value`. Keys are plain strings as decoded (no quoting).
    Entry(String, Value),
    /// A comment line; the text is everything after the `#`
    /// (`# hi` is stored as `" hi"`; sops stores encrypted comments as
    /// `#ENC[...]`, i.e. the text `"ENC[...]"`).
    Comment(Secret),
}

/// A value in the tree, typed the way sops types it.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null`, `~`, or an empty YAML value. Never encrypted, not in the MAC.
    Null,
    /// A string (also every dotenv value and every `ENC[...]` envelope).
    Str(Secret),
    /// A 64-bit signed integer (`type:int`).
    Int(i64),
    /// A 64-bit float (`type:float`); every JSON number is one (as in sops 3.11).
    Float(f64),
    /// A boolean (`type:bool`).
    Bool(bool),
    /// A timestamp (`type:time`), kept in Go's `time.Time.MarshalText` form
    /// (RFC 3339, fractional seconds only when non-zero), e.g. `2024-01-02T00:00:00Z`.
    Time(String),
    /// A nested mapping.
    Map(Branch),
    /// A sequence. Items may be [`Value::Comment`] (sops's quirk: comments
    /// inside sequences become sequence items).
    List(Vec<Value>),
    /// A comment that sits inside a sequence.
    Comment(Secret),
}

impl Branch {
    /// An empty mapping.
    pub fn new() -> Self {
        Branch(Vec::new())
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Mutable access to the value of the first entry named `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Removes the first entry named `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .0
            .iter()
            .position(|item| matches!(item, Item::Entry(k, _) if k == key))?;
        match self.0.remove(pos) {
            Item::Entry(_, v) => Some(v),
            Item::Comment(_) => None,
        }
    }

    /// Sets `key` to `value`: replaces the first entry of that name in place,
    /// or appends a new entry at the end.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.0.push(Item::Entry(key.to_owned(), value)),
        }
    }

    /// The entry keys in order (comments skipped).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|item| match item {
            Item::Entry(k, _) => Some(k.as_str()),
            Item::Comment(_) => None,
        })
    }

    /// Number of items, comments included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the branch has no items at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(secret(s))
    }

    /// The sops type name of a scalar (`str`, `int`, `float`, `bool`, `time`,
    /// `comment`), or `None` for null, maps and lists.
    pub fn sops_type(&self) -> Option<&'static str> {
        Some(match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time",
            Value::Comment(_) => "comment",
            Value::Null | Value::Map(_) | Value::List(_) => return None,
        })
    }
}

/// Formats a float exactly as Go's `strconv.FormatFloat(f, 'f', -1, 64)`
/// (shortest round-trip digits, never an exponent), which is how sops turns a
/// float into plaintext bytes.
pub fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{f}")
    }
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'G', -1, 64)`: shortest
/// round-trip digits, an exponent (`1E+21`, `5E-324`) when the decimal
/// exponent is below -4 or at least 6.
pub fn go_format_float_g(f: f64) -> String {
    if !f.is_finite() {
        return go_format_float_f(f);
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e6", "5e-324".
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mant}E{esign}{:02}", exp.abs());
    }
    format!("{sign}{}", f.abs())
}

/// A scalar as sops's `ValToString` prints it in the dotenv and INI stores:
/// strings as they are, floats in `G` form with at least one decimal
/// (`1.0`, `1E+21`), booleans `true`/`false`, times in RFC 3339 (whole
/// seconds), null as Go's `<nil>`.
pub fn go_val_to_string(v: &Value) -> Secret {
    match v {
        Value::Str(s) | Value::Comment(s) => s.clone(),
        Value::Int(i) => secret(i.to_string()),
        Value::Float(f) => {
            let g = go_format_float_g(*f);
            if g.contains(['.', 'E']) || !f.is_finite() {
                secret(g)
            } else {
                secret(format!("{g}.0"))
            }
        }
        Value::Bool(b) => secret(b.to_string()),
        Value::Time(t) => secret(strip_fraction(t)),
        Value::Null => secret("<nil>"),
        Value::Map(_) | Value::List(_) => secret(""),
    }
}

/// `2024-01-02T03:04:05.123Z` -> `2024-01-02T03:04:05Z` (Go's `time.RFC3339`).
fn strip_fraction(t: &str) -> String {
    match t.find('.') {
        Some(dot) => {
            let rest = &t[dot + 1..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{}", &t[..dot], &rest[end..])
        }
        None => t.to_owned(),
    }
}

// Debug shows the shape of the tree and the key names, never scalar contents.
impl fmt::Debug for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Entry(k, v) => write!(f, "{k:?}: {v:?}"),
            Item::Comment(_) => f.write_str("#<comment>"),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Map(b) => b.fmt(f),
            Value::List(l) => f.debug_list().entries(l.iter()).finish(),
            other => write!(f, "<{}>", other.sops_type().unwrap_or("?")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_format_float_f(0.5), "0.5");
        assert_eq!(go_format_float_f(1.0), "1");
        assert_eq!(go_format_float_f(1e23), "100000000000000000000000");
        assert_eq!(go_format_float_f(0.0000001), "0.0000001");
        assert_eq!(go_format_float_f(-0.0), "-0");
        assert_eq!(go_format_float_f(f64::INFINITY), "+Inf");
        assert_eq!(go_format_float_f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_format_float_f(f64::NAN), "NaN");
        assert_eq!(go_format_float_f(123456789.12345679), "123456789.12345679");
    }

    #[test]
    fn go_val_to_string_like_sops() {
        let f = |x: f64| go_val_to_string(&Value::Float(x)).expose().to_owned();
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(1e21), "1E+21");
        assert_eq!(f(5e-324), "5E-324");
        assert_eq!(f(0.5), "0.5");
        assert_eq!(f(100000.0), "100000.0");
        assert_eq!(f(1234567.0), "1.234567E+06");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00001), "1E-05");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(go_val_to_string(&Value::Null).as_str(), "<nil>");
        assert_eq!(go_val_to_string(&Value::Bool(true)).as_str(), "true");
        assert_eq!(
            go_val_to_string(&Value::Time("2024-01-02T03:04:05.5+02:00".into())).as_str(),
            "2024-01-02T03:04:05+02:00"
        );
    }

    #[test]
    fn debug_never_shows_values() {
        let mut b = Branch::new();
        b.insert("password", Value::str("hunter2"));
        b.0.push(Item::Comment(secret(" secret comment")));
        let dbg = format!("{b:?}");
        assert!(dbg.contains("password"));
        assert!(!dbg.contains("hunter2"));
        assert!(!dbg.contains("secret comment"));
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut b = Branch::new();
        b.insert("a", Value::Int(1));
        b.insert("b", Value::Int(2));
        b.insert("a", Value::Int(3));
        assert_eq!(b.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(b.get("a"), Some(&Value::Int(3)));
        assert_eq!(b.remove("a"), Some(Value::Int(3)));
        assert_eq!(b.keys().collect::<Vec<_>>(), ["b"]);
    }
}
