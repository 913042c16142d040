//! The key-backend seam: how a data key (or a Shamir share) is wrapped for, and
//! recovered from, one master-key stanza of the `sops` metadata.
//!
//! A [`MasterKey`] backend handles one stanza kind (`age`, `kms`, `gcp_kms`,
//! `pgp`, …). A [`Keyring`] holds the built-in `age` backend (the user's age
//! identities) plus any number of extra backends; every path that recovers a
//! data key or wraps a new one goes through it. A stanza whose kind has no
//! backend is kept verbatim where the data key does not change, and refused
//! with one line naming the kind where a new wrap would be needed.

use clef_doc::{Branch, Item, Value};
use clef_keys::{Identities, KeyError};
use zeroize::Zeroizing;

/// A master-key backend: wraps and unwraps the data key for stanzas of one kind.
pub trait MasterKey: Send + Sync {
    /// The sops metadata list this backend reads and writes: "age", "kms", "gcp_kms", "pgp", ...
    fn kind(&self) -> &'static str;
    /// Recover the secret (data key, or Shamir share) from one stanza of this kind (its map, as in the file).
    fn unwrap(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError>;
    /// Wrap `secret` for the key that `template` names (a stanza whose `enc` may be empty or missing);
    /// return the complete stanza, fields in sops 3.11's order, with a fresh `enc` (and `created_at` where sops writes one).
    fn wrap(&self, template: &Value, secret: &[u8]) -> Result<Value, MasterKeyError>;
}

/// Why one master key could not wrap or unwrap: the key's id (recipient, ARN,
/// resource id, fingerprint) and a one-line cause. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct MasterKeyError {
    /// The key id.
    pub key: String,
    /// The cause, one line.
    pub reason: String,
}

impl MasterKeyError {
    /// An error for key `key` with cause `reason`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        MasterKeyError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The field of a string-valued stanza entry (`recipient`, `arn`, `fp`, …).
pub fn stanza_field<'a>(stanza: &'a Value, field: &str) -> Option<&'a str> {
    match stanza {
        Value::Map(b) => match b.get(field)? {
            Value::Str(s) => Some(s.as_str()),
            Value::Time(s) => Some(s.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// The human id of a stanza of `kind`, for messages: the recipient, ARN,
/// resource id, fingerprint, vault key URL, … (never `enc`).
pub fn stanza_id(kind: &str, stanza: &Value) -> String {
    let f = |name: &str| stanza_field(stanza, name).unwrap_or("").to_owned();
    let id = match kind {
        "age" => f("recipient"),
        "kms" => f("arn"),
        "gcp_kms" => f("resource_id"),
        "pgp" => f("fp"),
        "hckms" => f("key_id"),
        "azure_kv" => format!("{}/keys/{}/{}", f("vault_url"), f("name"), f("version")),
        "hc_vault" => format!(
            "{}/v1/{}/keys/{}",
            f("vault_address"),
            f("engine_path"),
            f("key_name")
        ),
        _ => String::new(),
    };
    if id.trim_matches('/').is_empty() {
        format!("({kind} key)")
    } else if kind == "age" {
        id
    } else {
        format!("{kind} {id}")
    }
}

/// A stanza map with `fields` in order (string values).
pub fn stanza(fields: &[(&str, &str)]) -> Value {
    Value::Map(Branch(
        fields
            .iter()
            .map(|(k, v)| Item::Entry((*k).to_owned(), Value::str(*v)))
            .collect(),
    ))
}

/// The built-in `age` backend: wraps for any `age1…` recipient, unwraps with
/// the user's age identities.
#[derive(Debug, Default)]
pub struct AgeBackend {
    identities: Identities,
}

impl AgeBackend {
    /// The backend over `identities`.
    pub fn new(identities: Identities) -> Self {
        AgeBackend { identities }
    }

    /// The identities it unwraps with.
    pub fn identities(&self) -> &Identities {
        &self.identities
    }
}

impl MasterKey for AgeBackend {
    fn kind(&self) -> &'static str {
        "age"
    }

    fn unwrap(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let id = stanza_id("age", stanza);
        let enc = stanza_field(stanza, "enc")
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| MasterKeyError::new(&id, "the stanza has no 'enc'"))?;
        self.identities.unwrap(enc).map_err(|e| {
            let reason = match e {
                KeyError::NoMatch if self.identities.is_empty() => {
                    "no age identity available".to_owned()
                }
                KeyError::NoMatch => format!(
                    "none of the {} age identities matches",
                    self.identities.len()
                ),
                other => other.to_string(),
            };
            MasterKeyError::new(&id, reason)
        })
    }

    fn wrap(&self, template: &Value, secret: &[u8]) -> Result<Value, MasterKeyError> {
        let recipient = stanza_field(template, "recipient")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| MasterKeyError::new("(age key)", "the stanza has no 'recipient'"))?;
        let enc = clef_keys::wrap(recipient, secret)
            .map_err(|e| MasterKeyError::new(recipient, e.to_string()))?;
        Ok(stanza(&[("recipient", recipient), ("enc", &enc)]))
    }
}

/// The master keys available to this process: the built-in `age` backend plus
/// registered extra backends (the last one registered for a kind wins).
#[derive(Default)]
pub struct Keyring {
    age: AgeBackend,
    extra: Vec<Box<dyn MasterKey>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("age", &self.age.identities)
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl From<Identities> for Keyring {
    fn from(ids: Identities) -> Self {
        Keyring::new(ids)
    }
}

impl Keyring {
    /// A keyring with `identities` as its `age` backend and nothing else.
    pub fn new(identities: Identities) -> Self {
        Keyring {
            age: AgeBackend::new(identities),
            extra: Vec::new(),
        }
    }

    /// No identities: can wrap for age recipients, unwrap nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds a backend (it takes over its kind from any earlier one).
    pub fn with_backend(mut self, backend: Box<dyn MasterKey>) -> Keyring {
        self.extra.push(backend);
        self
    }

    /// The age identities.
    pub fn identities(&self) -> &Identities {
        self.age.identities()
    }

    /// The backend for stanzas of `kind`, if any.
    pub fn backend(&self, kind: &str) -> Option<&dyn MasterKey> {
        self.extra
            .iter()
            .rev()
            .find(|b| b.kind() == kind)
            .map(|b| b.as_ref())
            .or_else(|| (kind == "age").then_some(&self.age as &dyn MasterKey))
    }

    /// Every kind with a backend, `age` first.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut out = vec!["age"];
        for b in &self.extra {
            if !out.contains(&b.kind()) {
                out.push(b.kind());
            }
        }
        out
    }

    /// Unwraps one stanza of `kind`; a kind with no backend is an error naming it.
    pub fn unwrap(&self, kind: &str, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        match self.backend(kind) {
            Some(b) => b.unwrap(stanza),
            None => Err(no_backend(kind, stanza)),
        }
    }

    /// Wraps `secret` for one stanza of `kind`; a kind with no backend is an error naming it.
    pub fn wrap(
        &self,
        kind: &str,
        template: &Value,
        secret: &[u8],
    ) -> Result<Value, MasterKeyError> {
        match self.backend(kind) {
            Some(b) => b.wrap(template, secret),
            None => Err(no_backend(kind, template)),
        }
    }
}

fn no_backend(kind: &str, stanza: &Value) -> MasterKeyError {
    MasterKeyError::new(
        stanza_id(kind, stanza),
        format!("clef has no '{kind}' key backend"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl MasterKey for Fixed {
        fn kind(&self) -> &'static str {
            "kms"
        }
        fn unwrap(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
            match stanza_field(stanza, "enc") {
                Some("k") => Ok(Zeroizing::new(vec![1; 32])),
                _ => Err(MasterKeyError::new(
                    stanza_id("kms", stanza),
                    "AccessDenied",
                )),
            }
        }
        fn wrap(&self, template: &Value, _secret: &[u8]) -> Result<Value, MasterKeyError> {
            let arn = stanza_field(template, "arn").unwrap_or("");
            Ok(stanza(&[("arn", arn), ("enc", "k")]))
        }
    }

    #[test]
    fn error_shape_and_ids() {
        let e = MasterKeyError::new("arn:aws:kms:x", "AccessDeniedException");
        assert_eq!(e.to_string(), "arn:aws:kms:x: AccessDeniedException");
        assert_eq!(
            stanza_id("pgp", &stanza(&[("fp", "ABCD"), ("enc", "x")])),
            "pgp ABCD"
        );
        assert_eq!(stanza_id("kms", &Value::Null), "(kms key)");
    }

    #[test]
    fn keyring_dispatches_by_kind() {
        let ring = Keyring::empty();
        assert!(ring.backend("kms").is_none());
        let t = stanza(&[("arn", "arn:1")]);
        let e = ring.wrap("kms", &t, &[0; 32]).unwrap_err();
        assert_eq!(e.to_string(), "kms arn:1: clef has no 'kms' key backend");
        let ring = ring.with_backend(Box::new(Fixed));
        assert_eq!(ring.kinds(), ["age", "kms"]);
        let w = ring.wrap("kms", &t, &[0; 32]).unwrap();
        assert_eq!(&*ring.unwrap("kms", &w).unwrap(), &[1; 32]);
    }

    #[test]
    fn age_backend_round_trip_and_reasons() {
        let (secret, public) = clef_keys::generate_identity();
        let mut ids = Identities::empty();
        ids.add_text(secret.expose(), "t").unwrap();
        let ring = Keyring::new(ids);
        let w = ring
            .wrap("age", &stanza(&[("recipient", &public)]), &[5; 32])
            .unwrap();
        assert_eq!(stanza_field(&w, "recipient"), Some(public.as_str()));
        assert_eq!(&*ring.unwrap("age", &w).unwrap(), &[5; 32]);
        let e = Keyring::empty().unwrap("age", &w).unwrap_err();
        assert_eq!(e.key, public);
        assert_eq!(e.reason, "no age identity available");
        let e = ring
            .wrap("age", &stanza(&[("recipient", "age1nope")]), &[5; 32])
            .unwrap_err();
        assert!(e.to_string().starts_with("age1nope: "), "{e}");
    }
}
