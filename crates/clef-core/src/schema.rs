//! Namespace schemas: which keys a namespace's cells must hold and what their
//! values look like.
//!
//! ```yaml
//! keys:
//!   DATABASE_URL:
//!     type: string
//!     required: true
//!     pattern: ^postgres://
//!     description: Primary database
//!   PORT:
//!     type: integer
//! ```
//!
//! Unlike the old Clef, violation messages never quote the value.

use clef_doc::{Branch, Item, Value};
use regex::Regex;

use crate::cell::value_text;

/// A value type a schema can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// Any text.
    String,
    /// An integer.
    Integer,
    /// `true` or `false` (any case).
    Boolean,
}

/// One declared key.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The key name.
    pub name: String,
    /// Its type.
    pub typ: KeyType,
    /// Whether it must be present.
    pub required: bool,
    /// A regex string values must match.
    pub pattern: Option<Regex>,
}

/// A parsed schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Declared keys, in file order.
    pub keys: Vec<KeySpec>,
}

/// A schema file problem.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(pub String);

/// How bad a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Must be fixed.
    Error,
    /// Worth a look.
    Warning,
}

/// One violation: the key and the reason (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Severity.
    pub level: Level,
    /// The key.
    pub key: String,
    /// Why.
    pub message: String,
}

impl Schema {
    /// Parses schema text.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let docs = clef_doc::yaml::parse(text).map_err(|e| SchemaError(e.to_string()))?;
        let doc = docs
            .first()
            .ok_or_else(|| SchemaError("the schema is empty".into()))?;
        let Some(Value::Map(keys)) = doc.get("keys") else {
            return Err(SchemaError(
                "'keys' must be a mapping of key names to specs".into(),
            ));
        };
        let mut out = Vec::new();
        for item in &keys.0 {
            let Item::Entry(name, spec) = item else {
                continue;
            };
            let spec = match spec {
                Value::Map(b) => b.clone(),
                Value::Null => Branch::new(),
                _ => return Err(SchemaError(format!("keys.{name}: must be a mapping"))),
            };
            let typ = match spec.get("type") {
                None | Some(Value::Null) => KeyType::String,
                Some(Value::Str(s)) => match s.as_str() {
                    "string" => KeyType::String,
                    "integer" => KeyType::Integer,
                    "boolean" => KeyType::Boolean,
                    other => {
                        return Err(SchemaError(format!(
                            "keys.{name}.type: unknown type '{other}' (string, integer, boolean)"
                        )));
                    }
                },
                Some(_) => return Err(SchemaError(format!("keys.{name}.type: must be a string"))),
            };
            let required = matches!(spec.get("required"), Some(Value::Bool(true)));
            let pattern = match spec.get("pattern") {
                None | Some(Value::Null) => None,
                Some(Value::Str(p)) => Some(Regex::new(p).map_err(|_| {
                    SchemaError(format!(
                        "keys.{name}.pattern: not a valid regular expression"
                    ))
                })?),
                Some(_) => {
                    return Err(SchemaError(format!(
                        "keys.{name}.pattern: must be a string"
                    )));
                }
            };
            out.push(KeySpec {
                name: name.clone(),
                typ,
                required,
                pattern,
            });
        }
        Ok(Schema { keys: out })
    }

    /// Checks a cell's key names only (no decryption): required keys present.
    pub fn check_keys(&self, keys: &[String]) -> Vec<Violation> {
        let mut out = Vec::new();
        for spec in &self.keys {
            if spec.required && !keys.contains(&spec.name) {
                out.push(Violation {
                    level: Level::Error,
                    key: spec.name.clone(),
                    message: "required key is missing".into(),
                });
            }
        }
        for k in keys {
            if !self.keys.iter().any(|s| s.name == *k) {
                out.push(Violation {
                    level: Level::Warning,
                    key: k.clone(),
                    message: "key is not declared in the namespace schema".into(),
                });
            }
        }
        out
    }

    /// Checks decrypted values against their specs (types and patterns).
    pub fn check_values(&self, doc: &Branch) -> Vec<Violation> {
        let mut out = Vec::new();
        for spec in &self.keys {
            let Some(v) = doc.get(&spec.name) else {
                continue;
            };
            let Some(text) = value_text(v) else {
                out.push(Violation {
                    level: Level::Error,
                    key: spec.name.clone(),
                    message: "value is not a scalar".into(),
                });
                continue;
            };
            let bad = match spec.typ {
                KeyType::String => None,
                KeyType::Integer => (text.trim().is_empty() || text.trim().parse::<i64>().is_err())
                    .then_some("value is not an integer"),
                KeyType::Boolean => (!text.eq_ignore_ascii_case("true")
                    && !text.eq_ignore_ascii_case("false"))
                .then_some("value is not a boolean (true/false)"),
            };
            if let Some(m) = bad {
                out.push(Violation {
                    level: Level::Error,
                    key: spec.name.clone(),
                    message: m.into(),
                });
            }
            if let Some(p) = &spec.pattern
                && !p.is_match(&text)
            {
                out.push(Violation {
                    level: Level::Error,
                    key: spec.name.clone(),
                    message: format!("value does not match the pattern /{}/", p.as_str()),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_never_quote_values() {
        let s = Schema::parse("keys:\n  URL:\n    required: true\n    pattern: ^https://\n  PORT:\n    type: integer\n  DEBUG:\n    type: boolean\n  OPT:\n").unwrap();
        let mut doc = Branch::new();
        doc.insert("URL", Value::str("ftp://secret-host"));
        doc.insert("PORT", Value::str("80x"));
        doc.insert("DEBUG", Value::str("TRUE"));
        let v = s.check_values(&doc);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v.iter()
                .all(|x| !x.message.contains("secret-host") && !x.message.contains("80x"))
        );
        let k = s.check_keys(&["PORT".into(), "EXTRA".into()]);
        assert_eq!(
            k[0],
            Violation {
                level: Level::Error,
                key: "URL".into(),
                message: "required key is missing".into()
            }
        );
        assert_eq!(k[1].level, Level::Warning);
        assert!(Schema::parse("keys:\n  A:\n    type: float\n").is_err());
        assert!(Schema::parse("nope: 1\n").is_err());
    }
}
