//! The `sops:` metadata block: reading it in any field order, writing it in
//! sops 3.11's order, per format.

use clef_doc::{Branch, Item, Value};

use crate::Format;

/// The version clef writes into new files (sops requires a semver here).
pub const WRITE_VERSION: &str = "3.11.0";

/// The default crypt rule when a file names none.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// A metadata error (names the field, never a secret).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetaError {
    /// A required field is missing or empty.
    #[error("sops metadata: missing '{0}'")]
    Missing(&'static str),
    /// A field has the wrong shape.
    #[error("sops metadata: invalid '{field}': {reason}")]
    Invalid {
        /// Field name.
        field: String,
        /// Reason.
        reason: &'static str,
    },
    /// More than one crypt rule.
    #[error(
        "sops metadata: more than one of the six crypt rules (unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex, encrypted_comment_regex) is set"
    )]
    TwoRules,
}

/// Which values are encrypted (sops's six mutually exclusive rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptRule {
    /// Encrypt unless a path component ends with the suffix.
    UnencryptedSuffix(String),
    /// Encrypt only if a path component ends with the suffix.
    EncryptedSuffix(String),
    /// Encrypt unless a path component matches the regex.
    UnencryptedRegex(String),
    /// Encrypt only if a path component matches the regex.
    EncryptedRegex(String),
    /// Encrypt unless a preceding comment matches the regex.
    UnencryptedCommentRegex(String),
    /// Encrypt only if a preceding comment matches the regex.
    EncryptedCommentRegex(String),
}

impl Default for CryptRule {
    fn default() -> Self {
        CryptRule::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.to_owned())
    }
}

impl CryptRule {
    /// The metadata field name of this rule.
    pub fn field(&self) -> &'static str {
        match self {
            CryptRule::UnencryptedSuffix(_) => "unencrypted_suffix",
            CryptRule::EncryptedSuffix(_) => "encrypted_suffix",
            CryptRule::UnencryptedRegex(_) => "unencrypted_regex",
            CryptRule::EncryptedRegex(_) => "encrypted_regex",
            CryptRule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            CryptRule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The rule's argument.
    pub fn arg(&self) -> &str {
        match self {
            CryptRule::UnencryptedSuffix(s)
            | CryptRule::EncryptedSuffix(s)
            | CryptRule::UnencryptedRegex(s)
            | CryptRule::EncryptedRegex(s)
            | CryptRule::UnencryptedCommentRegex(s)
            | CryptRule::EncryptedCommentRegex(s) => s,
        }
    }

    /// Builds a rule from its field name.
    pub fn from_field(field: &str, arg: String) -> Option<Self> {
        Some(match field {
            "unencrypted_suffix" => CryptRule::UnencryptedSuffix(arg),
            "encrypted_suffix" => CryptRule::EncryptedSuffix(arg),
            "unencrypted_regex" => CryptRule::UnencryptedRegex(arg),
            "encrypted_regex" => CryptRule::EncryptedRegex(arg),
            "unencrypted_comment_regex" => CryptRule::UnencryptedCommentRegex(arg),
            "encrypted_comment_regex" => CryptRule::EncryptedCommentRegex(arg),
            _ => return None,
        })
    }
}

/// The field names of the six crypt rules (in `.sops.yaml` and in metadata).
pub const RULE_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// Master-key types other than age, in sops's flat emission order.
pub const OTHER_KEY_TYPES: [&str; 6] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

/// An age master key: the recipient and the armored wrapped data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeKey {
    /// `age1…`
    pub recipient: String,
    /// Armored age file holding the data key (or Shamir share).
    pub enc: String,
}

impl AgeKey {
    /// The stanza as it sits in the file (`recipient`, `enc`).
    pub fn to_stanza(&self) -> Value {
        crate::masterkey::stanza(&[("recipient", &self.recipient), ("enc", &self.enc)])
    }

    /// Reads a stanza (`recipient` required, `enc` may be missing).
    pub fn from_stanza(v: &Value) -> Result<Self, MetaError> {
        let Value::Map(m) = v else {
            return Err(MetaError::Invalid {
                field: "age".into(),
                reason: "not a mapping",
            });
        };
        Ok(AgeKey {
            recipient: scalar_text(m.get("recipient")).ok_or(MetaError::Invalid {
                field: "age".into(),
                reason: "missing recipient",
            })?,
            enc: scalar_text(m.get("enc")).unwrap_or_default(),
        })
    }
}

/// A key group: every key in it wraps the same data key (or the same Shamir share).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyGroup {
    /// age keys, in file order.
    pub age: Vec<AgeKey>,
    /// Keys of other types (kms, gcp_kms, hckms, azure_kv, hc_vault, pgp), kept
    /// verbatim: clef cannot use them but never drops them.
    pub other: Vec<(String, Value)>,
}

impl KeyGroup {
    /// A group of age recipients with no wrapped keys yet.
    pub fn of_recipients<S: AsRef<str>>(rs: &[S]) -> Self {
        KeyGroup {
            age: rs
                .iter()
                .map(|r| AgeKey {
                    recipient: r.as_ref().to_owned(),
                    enc: String::new(),
                })
                .collect(),
            other: Vec::new(),
        }
    }

    fn others_of<'a>(&'a self, typ: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.other
            .iter()
            .filter(move |(t, _)| t == typ)
            .map(|(_, v)| v)
    }
}

/// The whole `sops:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Key groups (one group = stored flat).
    pub key_groups: Vec<KeyGroup>,
    /// Shamir threshold (0 = unset, meaning all groups).
    pub shamir_threshold: usize,
    /// `lastmodified` as written.
    pub lastmodified: String,
    /// The encrypted MAC envelope.
    pub mac: String,
    /// The crypt rule.
    pub rule: CryptRule,
    /// Whether only encrypted values are in the MAC.
    pub mac_only_encrypted: bool,
    /// Writer version.
    pub version: String,
}

impl Metadata {
    /// Fresh metadata for a new file.
    pub fn new(
        key_groups: Vec<KeyGroup>,
        shamir_threshold: usize,
        rule: CryptRule,
        mac_only_encrypted: bool,
    ) -> Self {
        Metadata {
            key_groups,
            shamir_threshold,
            lastmodified: String::new(),
            mac: String::new(),
            rule,
            mac_only_encrypted,
            version: WRITE_VERSION.to_owned(),
        }
    }

    /// Every age recipient, in group order.
    pub fn age_recipients(&self) -> Vec<&str> {
        self.key_groups
            .iter()
            .flat_map(|g| g.age.iter().map(|k| k.recipient.as_str()))
            .collect()
    }

    /// The threshold actually needed to recover the data key.
    pub fn effective_threshold(&self) -> usize {
        if self.key_groups.len() <= 1 {
            1
        } else if self.shamir_threshold == 0 {
            self.key_groups.len()
        } else {
            self.shamir_threshold
        }
    }

    /// Reads the metadata from the value of the `sops` key.
    pub fn from_value(v: &Value) -> Result<Self, MetaError> {
        let Value::Map(b) = v else {
            return Err(MetaError::Invalid {
                field: "sops".into(),
                reason: "not a mapping",
            });
        };
        let version = scalar_text(b.get("version")).ok_or(MetaError::Missing("version"))?;
        if !is_semver(&version) {
            return Err(MetaError::Invalid {
                field: "version".into(),
                reason: "not a Major.Minor.Patch version",
            });
        }
        let lastmodified =
            scalar_text(b.get("lastmodified")).ok_or(MetaError::Missing("lastmodified"))?;
        let mac = scalar_text(b.get("mac")).unwrap_or_default();
        let mut rule = None;
        for f in RULE_FIELDS {
            if let Some(arg) = scalar_text(b.get(f)).filter(|s| !s.is_empty()) {
                if rule.is_some() {
                    return Err(MetaError::TwoRules);
                }
                rule = CryptRule::from_field(f, arg);
            }
        }
        let mac_only_encrypted = match b.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(x)) => *x,
            Some(Value::Str(s)) if s.as_str() == "true" => true,
            Some(Value::Str(s)) if s.as_str() == "false" => false,
            Some(_) => {
                return Err(MetaError::Invalid {
                    field: "mac_only_encrypted".into(),
                    reason: "not a boolean",
                });
            }
        };
        let shamir_threshold = match b.get("shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(i)) if *i >= 0 => *i as usize,
            Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
            Some(Value::Str(s)) if s.parse::<usize>().is_ok() => s.parse().unwrap_or(0),
            Some(_) => {
                return Err(MetaError::Invalid {
                    field: "shamir_threshold".into(),
                    reason: "not a non-negative integer",
                });
            }
        };
        let key_groups = match b.get("key_groups") {
            Some(Value::List(groups)) if !groups.is_empty() => groups
                .iter()
                .enumerate()
                .map(|(i, g)| match g {
                    Value::Map(gb) => read_group(gb, &format!("key_groups[{i}]")),
                    _ => Err(MetaError::Invalid {
                        field: format!("key_groups[{i}]"),
                        reason: "not a mapping",
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![read_group(b, "")?],
        };
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            lastmodified,
            mac,
            rule: rule.unwrap_or_default(),
            mac_only_encrypted,
            version,
        })
    }

    /// Builds the `sops` value as sops 3.11 writes it for `format`.
    pub fn to_value(&self, format: Format) -> Value {
        let mut b = Branch::new();
        let push = |b: &mut Branch, k: &str, v: Value| b.0.push(Item::Entry(k.to_owned(), v));
        if self.shamir_threshold != 0 {
            push(
                &mut b,
                "shamir_threshold",
                Value::Int(self.shamir_threshold as i64),
            );
        }
        let flat = self.key_groups.len() <= 1;
        let empty = KeyGroup::default();
        let g0 = self.key_groups.first().unwrap_or(&empty);
        if flat {
            for t in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"] {
                let items: Vec<Value> = g0.others_of(t).cloned().collect();
                if !items.is_empty() {
                    push(&mut b, t, Value::List(items));
                }
            }
            if !g0.age.is_empty() {
                push(&mut b, "age", age_list(&g0.age));
            }
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut gb = Branch::new();
                    for t in ["pgp", "kms", "gcp_kms", "hckms", "azure_kv"] {
                        let items: Vec<Value> = g.others_of(t).cloned().collect();
                        if !items.is_empty() {
                            push(&mut gb, t, Value::List(items));
                        }
                    }
                    let nil_list = |items: Vec<Value>| {
                        if items.is_empty() && matches!(format, Format::Json | Format::Binary) {
                            Value::Null
                        } else {
                            Value::List(items)
                        }
                    };
                    push(
                        &mut gb,
                        "hc_vault",
                        nil_list(g.others_of("hc_vault").cloned().collect()),
                    );
                    let age = match age_list(&g.age) {
                        Value::List(l) => l,
                        _ => Vec::new(),
                    };
                    push(&mut gb, "age", nil_list(age));
                    Value::Map(gb)
                })
                .collect();
            push(&mut b, "key_groups", Value::List(groups));
        }
        push(
            &mut b,
            "lastmodified",
            Value::str(self.lastmodified.clone()),
        );
        push(&mut b, "mac", Value::str(self.mac.clone()));
        if flat {
            let items: Vec<Value> = g0.others_of("pgp").cloned().collect();
            if !items.is_empty() {
                push(&mut b, "pgp", Value::List(items));
            }
        }
        if format != Format::Binary {
            push(&mut b, self.rule.field(), Value::str(self.rule.arg()));
        }
        if self.mac_only_encrypted {
            push(&mut b, "mac_only_encrypted", Value::Bool(true));
        }
        push(&mut b, "version", Value::str(self.version.clone()));
        Value::Map(b)
    }
}

fn age_list(keys: &[AgeKey]) -> Value {
    Value::List(keys.iter().map(AgeKey::to_stanza).collect())
}

fn read_group(b: &Branch, ctx: &str) -> Result<KeyGroup, MetaError> {
    let mut g = KeyGroup::default();
    if let Some(v) = b.get("age") {
        match v {
            Value::Null => {}
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("{ctx}age[{i}]");
                    let Value::Map(m) = item else {
                        return Err(MetaError::Invalid {
                            field,
                            reason: "not a mapping",
                        });
                    };
                    let recipient = scalar_text(m.get("recipient")).ok_or(MetaError::Invalid {
                        field: field.clone(),
                        reason: "missing recipient",
                    })?;
                    let enc = scalar_text(m.get("enc")).ok_or(MetaError::Invalid {
                        field,
                        reason: "missing enc",
                    })?;
                    g.age.push(AgeKey { recipient, enc });
                }
            }
            _ => {
                return Err(MetaError::Invalid {
                    field: format!("{ctx}age"),
                    reason: "not a list",
                });
            }
        }
    }
    for t in OTHER_KEY_TYPES {
        if let Some(Value::List(items)) = b.get(t) {
            g.other
                .extend(items.iter().map(|v| (t.to_owned(), v.clone())));
        }
    }
    Ok(g)
}

fn scalar_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) => Some(s.expose().to_owned()),
        Value::Time(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(clef_doc::tree::go_format_float_f(*f)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Flattens metadata for dotenv (`sops_age__list_0__map_enc=…`), sorted by key as sops does.
pub fn flatten_for_dotenv(meta: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn rec(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Map(b) => {
                for item in &b.0 {
                    if let Item::Entry(k, v) = item {
                        let p = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}__map_{k}")
                        };
                        rec(&p, v, out);
                    }
                }
            }
            Value::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    rec(&format!("{prefix}__list_{i}"), v, out);
                }
            }
            Value::Null => {}
            other => {
                if let Some(t) = scalar_text(Some(other)) {
                    out.push((prefix.to_owned(), t));
                }
            }
        }
    }
    if let Value::Map(b) = meta {
        for item in &b.0 {
            if let Item::Entry(k, v) = item {
                rec(&format!("sops_{k}"), v, &mut out);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Rebuilds the metadata value from flattened dotenv entries (keys without the `sops_` prefix).
pub fn unflatten_from_dotenv(entries: &[(String, String)]) -> Value {
    let mut root = Value::Map(Branch::new());
    for (key, val) in entries {
        let mut cur = &mut root;
        let mut segs: Vec<(bool, String)> = Vec::new(); // (is_list_index, name)
        let mut rest = key.as_str();
        let first_end = rest.find("__").unwrap_or(rest.len());
        segs.push((false, rest[..first_end].to_owned()));
        rest = &rest[first_end..];
        while let Some(r) = rest.strip_prefix("__") {
            let (kind, r2) = if let Some(r2) = r.strip_prefix("map_") {
                (false, r2)
            } else if let Some(r2) = r.strip_prefix("list_") {
                (true, r2)
            } else {
                (false, r)
            };
            let end = r2.find("__").unwrap_or(r2.len());
            segs.push((kind, r2[..end].to_owned()));
            rest = &r2[end..];
        }
        let n = segs.len();
        for (i, (is_list, name)) in segs.into_iter().enumerate() {
            let last = i + 1 == n;
            if is_list {
                let idx: usize = name.parse().unwrap_or(0);
                if !matches!(cur, Value::List(_)) {
                    *cur = Value::List(Vec::new());
                }
                let Value::List(l) = cur else { break };
                while l.len() <= idx {
                    l.push(Value::Map(Branch::new()));
                }
                cur = &mut l[idx];
                if last {
                    *cur = Value::str(val.clone());
                }
            } else {
                if !matches!(cur, Value::Map(_)) {
                    *cur = Value::Map(Branch::new());
                }
                let Value::Map(b) = cur else { break };
                if b.get(&name).is_none() {
                    b.0.push(Item::Entry(name.clone(), Value::Null));
                }
                let Some(slot) = b.get_mut(&name) else { break };
                cur = slot;
                if last {
                    *cur = Value::str(val.clone());
                }
            }
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        assert!(is_semver("3.11.0"));
        assert!(is_semver("v3.7.1"));
        assert!(is_semver("3.9.0-rc1"));
        assert!(!is_semver(""));
        assert!(!is_semver("3.11"));
        assert!(!is_semver("abc"));
    }

    #[test]
    fn dotenv_flatten_round_trip() {
        let meta = Metadata {
            key_groups: vec![
                KeyGroup::of_recipients(&["age1a"]),
                KeyGroup::of_recipients(&["age1b", "age1c"]),
            ],
            shamir_threshold: 2,
            lastmodified: "2026-11-24T00:03:47Z".into(),
            mac: "ENC[x]".into(),
            rule: CryptRule::EncryptedRegex("^pw$".into()),
            mac_only_encrypted: true,
            version: "3.11.0".into(),
        };
        let v = meta.to_value(Format::Dotenv);
        let flat = flatten_for_dotenv(&v);
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"sops_key_groups__list_1__map_age__list_1__map_recipient"));
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        let stripped: Vec<(String, String)> = flat
            .iter()
            .map(|(k, v)| (k.trim_start_matches("sops_").to_owned(), v.clone()))
            .collect();
        let back = Metadata::from_value(&unflatten_from_dotenv(&stripped)).unwrap();
        assert_eq!(back, meta);
    }
}
