//! `<env>.clef-meta.yaml`: plaintext, committed bookkeeping beside a cell.
//!
//! ```yaml
//! # Managed by Clef. Do not edit manually.
//! version: 1
//! pending:
//!   - key: API_TOKEN
//!     since: 2026-01-01T00:00:00Z
//!     setBy: clef set --random
//! rotations:
//!   - key: DB_URL
//!     last_rotated_at: 2026-01-02T00:00:00Z
//!     rotated_by: Alice <alice@example.com>
//!     rotation_count: 1
//! ```
//!
//! It holds key names, times and people, never values.

use clef_doc::tree::secret;
use clef_doc::{Branch, Item, Value};

/// The header line written at the top.
pub const HEADER: &str = " Managed by Clef. Do not edit manually.";
/// The section listing keys that still hold a random placeholder.
pub const PENDING: &str = "pending";
/// The section listing rotation records.
pub const ROTATIONS: &str = "rotations";

/// A sidecar that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// Not YAML.
    #[error("invalid YAML at line {line}: {reason}")]
    Yaml {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// YAML, but not a sidecar.
    #[error("{0}")]
    Shape(String),
}

/// A key holding a random placeholder that still needs a real value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The key.
    pub key: String,
    /// When it was marked (RFC 3339).
    pub since: String,
    /// What marked it (`clef set --random`).
    pub set_by: String,
}

/// When a key last got a real value, by whom, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key.
    pub key: String,
    /// RFC 3339.
    pub last_rotated_at: String,
    /// `Name <email>`.
    pub rotated_by: String,
    /// How many times a value was set.
    pub rotation_count: u64,
}

/// The sidecar's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sidecar {
    /// Pending placeholders.
    pub pending: Vec<Pending>,
    /// Rotation records.
    pub rotations: Vec<Rotation>,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) => Some(s.expose().to_owned()),
        Value::Time(t) => Some(t.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn time_value(s: &str) -> Value {
    if clef_sops::time::parse_rfc3339(s).is_some() {
        Value::Time(s.to_owned())
    } else {
        Value::str(s)
    }
}

impl Sidecar {
    /// Parses sidecar text (empty text is an empty sidecar).
    pub fn parse(input: &str) -> Result<Sidecar, SidecarError> {
        let docs = clef_doc::yaml::parse(input).map_err(|e| SidecarError::Yaml {
            line: e.line,
            reason: e.reason.clone(),
        })?;
        let Some(doc) = docs.first() else {
            return Ok(Sidecar::default());
        };
        let mut out = Sidecar::default();
        for (key, b) in records(doc, PENDING)? {
            out.pending.push(Pending {
                key,
                since: text(b.get("since")).unwrap_or_default(),
                set_by: text(b.get("setBy")).unwrap_or_default(),
            });
        }
        for (i, (key, b)) in records(doc, ROTATIONS)?.into_iter().enumerate() {
            let rotation_count = match b.get("rotation_count") {
                Some(Value::Int(n)) if *n >= 0 => u64::try_from(*n).unwrap_or(0),
                None => 0,
                Some(_) => {
                    return Err(SidecarError::Shape(format!(
                        "rotations[{i}].rotation_count is not a count"
                    )));
                }
            };
            out.rotations.push(Rotation {
                key,
                last_rotated_at: text(b.get("last_rotated_at")).unwrap_or_default(),
                rotated_by: text(b.get("rotated_by")).unwrap_or_default(),
                rotation_count,
            });
        }
        Ok(out)
    }

    /// The sidecar as YAML (both sections always written).
    pub fn to_text(&self) -> String {
        let pending = self
            .pending
            .iter()
            .map(|p| {
                Value::Map(Branch(vec![
                    Item::Entry("key".into(), Value::str(p.key.clone())),
                    Item::Entry("since".into(), time_value(&p.since)),
                    Item::Entry("setBy".into(), Value::str(p.set_by.clone())),
                ]))
            })
            .collect();
        let rotations = self
            .rotations
            .iter()
            .map(|r| {
                Value::Map(Branch(vec![
                    Item::Entry("key".into(), Value::str(r.key.clone())),
                    Item::Entry("last_rotated_at".into(), time_value(&r.last_rotated_at)),
                    Item::Entry("rotated_by".into(), Value::str(r.rotated_by.clone())),
                    Item::Entry(
                        "rotation_count".into(),
                        Value::Int(i64::try_from(r.rotation_count).unwrap_or(i64::MAX)),
                    ),
                ]))
            })
            .collect();
        let doc = Branch(vec![
            Item::Comment(secret(HEADER)),
            Item::Entry("version".into(), Value::Int(1)),
            Item::Entry(PENDING.into(), Value::List(pending)),
            Item::Entry(ROTATIONS.into(), Value::List(rotations)),
        ]);
        clef_doc::yaml::emit(&[doc], 2)
    }

    /// Whether `key` is pending.
    pub fn is_pending(&self, key: &str) -> bool {
        self.pending.iter().any(|p| p.key == key)
    }

    /// Marks `key` pending (keeps an existing `since`).
    pub fn mark_pending(&mut self, key: &str, now: &str, set_by: &str) {
        if !self.is_pending(key) {
            self.pending.push(Pending {
                key: key.to_owned(),
                since: now.to_owned(),
                set_by: set_by.to_owned(),
            });
        }
    }

    /// Records a real value for `key`: count+1, and it is no longer pending.
    pub fn record_rotation(&mut self, key: &str, now: &str, by: &str) {
        self.pending.retain(|p| p.key != key);
        match self.rotations.iter_mut().find(|r| r.key == key) {
            Some(r) => {
                r.last_rotated_at = now.to_owned();
                r.rotated_by = by.to_owned();
                r.rotation_count += 1;
            }
            None => self.rotations.push(Rotation {
                key: key.to_owned(),
                last_rotated_at: now.to_owned(),
                rotated_by: by.to_owned(),
                rotation_count: 1,
            }),
        }
    }

    /// Forgets `key` (on delete).
    pub fn forget(&mut self, key: &str) {
        self.pending.retain(|p| p.key != key);
        self.rotations.retain(|r| r.key != key);
    }

    /// Whether there is nothing to record.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.rotations.is_empty()
    }
}

/// The records of a list section ([`PENDING`] or [`ROTATIONS`]) of a
/// sidecar document, in order, each with its `key` (comments skipped). The
/// one reader of the sidecar schema: [`Sidecar::parse`] and the merge driver
/// (which keeps the records as trees, unknown fields and all) use it.
pub fn records<'a>(
    doc: &'a Branch,
    section: &str,
) -> Result<Vec<(String, &'a Branch)>, SidecarError> {
    let items = match doc.get(section) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(_) => return Err(SidecarError::Shape(format!("'{section}' is not a list"))),
    };
    items
        .iter()
        .filter(|v| !matches!(v, Value::Comment(_)))
        .enumerate()
        .map(|(i, v)| {
            let Value::Map(b) = v else {
                return Err(SidecarError::Shape(format!(
                    "{section}[{i}] is not a mapping"
                )));
            };
            let key = text(b.get("key"))
                .ok_or_else(|| SidecarError::Shape(format!("{section}[{i}] has no key")))?;
            Ok((key, b))
        })
        .collect()
}

/// A sidecar timestamp (RFC 3339) as an instant: seconds since the epoch
/// and nanoseconds, for ordering records; `None` when it does not parse.
pub fn instant(s: &str) -> Option<(i64, u32)> {
    let st = clef_sops::time::parse_rfc3339(s)?;
    let (y, mo, d, h, mi, se) = st.fields;
    let days = clef_sops::time::days_from_civil(y, mo, d);
    let mut frac: String = st.frac.chars().take(9).collect();
    while frac.len() < 9 {
        frac.push('0');
    }
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se)
        - i64::from(st.offset_min) * 60;
    Some((secs, frac.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(instant("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(instant("2026-11-24T00:02:41Z"), Some((1_795_478_561, 0)));
        assert_eq!(
            instant("2026-11-24T01:02:41+01:00"),
            instant("2026-11-24T00:02:41Z")
        );
        assert_eq!(
            instant("2024-01-02T00:00:00.5Z"),
            Some((1_704_153_600, 500_000_000))
        );
        assert_eq!(instant("2024-02-30"), None);
        assert_eq!(instant("not a date at all!!"), None);
        assert_eq!(instant("2024-01-02T00:00:00"), None);
        assert!(instant("2024-01-02T00:00:01Z") > instant("2024-01-02T00:00:00.999Z"));
    }

    #[test]
    fn round_trip_and_bookkeeping() {
        let mut s = Sidecar::default();
        s.mark_pending("API_TOKEN", "2026-01-01T00:00:00Z", "clef set --random");
        s.record_rotation(
            "DB_URL",
            "2026-01-02T00:00:00Z",
            "Alice <alice@example.com>",
        );
        let text = s.to_text();
        assert_eq!(
            text,
            "# Managed by Clef. Do not edit manually.\nversion: 1\npending:\n  - key: API_TOKEN\n    since: 2026-01-01T00:00:00Z\n    setBy: clef set --random\nrotations:\n  - key: DB_URL\n    last_rotated_at: 2026-01-02T00:00:00Z\n    rotated_by: Alice <alice@example.com>\n    rotation_count: 1\n"
        );
        assert_eq!(Sidecar::parse(&text).unwrap(), s);
        s.record_rotation("API_TOKEN", "2026-01-03T00:00:00Z", "Bob <b@x>");
        s.record_rotation("DB_URL", "2026-01-03T00:00:00Z", "Bob <b@x>");
        assert!(!s.is_pending("API_TOKEN"));
        assert_eq!(s.rotations[0].rotation_count, 2);
        s.forget("DB_URL");
        assert_eq!(s.rotations.len(), 1);
        let empty = Sidecar::default().to_text();
        assert!(empty.contains("pending: []\nrotations: []\n"), "{empty}");
        assert_eq!(Sidecar::parse("").unwrap(), Sidecar::default());
        assert!(Sidecar::parse("pending: 3\n").is_err());
    }
}
