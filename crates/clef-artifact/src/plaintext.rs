//! The sealed payload: compact JSON `{namespace: {KEY: value}}`, in the
//! order the cells and keys were read. Values are zeroized on drop.

use clef_doc::{Item, Value};
use zeroize::Zeroizing;

use crate::ArtifactError;

/// One namespace's keys and values.
pub type Bucket = Vec<(String, Zeroizing<String>)>;

/// The decrypted content of an artifact. `Debug` shows names only.
#[derive(Default)]
pub struct Plaintext {
    /// `(namespace, [(KEY, value)])`, in order.
    pub namespaces: Vec<(String, Bucket)>,
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plaintext({:?})", self.keys())
    }
}

impl Plaintext {
    /// The keys as the agent and the backends name them: `ns__KEY`.
    pub fn keys(&self) -> Vec<String> {
        self.namespaces
            .iter()
            .flat_map(|(ns, b)| b.iter().map(move |(k, _)| format!("{ns}__{k}")))
            .collect()
    }

    /// `(ns__KEY, value)` pairs, in order.
    pub fn flat(&self) -> Vec<(String, &Zeroizing<String>)> {
        self.namespaces
            .iter()
            .flat_map(|(ns, b)| b.iter().map(move |(k, v)| (format!("{ns}__{k}"), v)))
            .collect()
    }

    /// Number of keys.
    pub fn key_count(&self) -> usize {
        self.namespaces.iter().map(|(_, b)| b.len()).sum()
    }

    /// The compact JSON the old tool seals (`JSON.stringify(values)`).
    pub fn to_json(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(64 * self.key_count() + 2));
        s.push('{');
        for (i, (ns, bucket)) in self.namespaces.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            write_js_string(&mut s, ns);
            s.push_str(":{");
            for (j, (k, v)) in bucket.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                write_js_string(&mut s, k);
                s.push(':');
                write_js_string(&mut s, v);
            }
            s.push('}');
        }
        s.push('}');
        s
    }

    /// Parses a decrypted payload. Every value must be a string.
    pub fn from_json(bytes: &[u8]) -> Result<Plaintext, ArtifactError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| ArtifactError::Payload("not UTF-8".into()))?;
        let doc = clef_doc::json::parse(text).map_err(|e| ArtifactError::Payload(e.to_string()))?;
        let mut out = Plaintext::default();
        for item in &doc.0 {
            let Item::Entry(ns, v) = item else { continue };
            let Value::Map(b) = v else {
                return Err(ArtifactError::Payload(format!(
                    "namespace '{ns}' is not an object"
                )));
            };
            let mut bucket = Vec::new();
            for it in &b.0 {
                let Item::Entry(k, v) = it else { continue };
                let Value::Str(s) = v else {
                    return Err(ArtifactError::Payload(format!(
                        "'{ns}.{k}' is not a string"
                    )));
                };
                bucket.push((k.clone(), Zeroizing::new(s.expose().to_owned())));
            }
            out.namespaces.push((ns.clone(), bucket));
        }
        Ok(out)
    }
}

pub use clef_doc::json::write_js_string;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_escaping() {
        let p = Plaintext {
            namespaces: vec![
                (
                    "api".into(),
                    vec![
                        ("A".into(), Zeroizing::new("x\"y\\z\n<&>é\u{1}".into())),
                        ("B".into(), Zeroizing::new(String::new())),
                    ],
                ),
                ("web".into(), vec![]),
            ],
        };
        let j = p.to_json();
        // JSON.stringify({api:{A:'x"y\\z\n<&>é\u0001',B:''},web:{}}) in node:
        assert_eq!(
            j.as_str(),
            "{\"api\":{\"A\":\"x\\\"y\\\\z\\n<&>é\\u0001\",\"B\":\"\"},\"web\":{}}"
        );
        let back = Plaintext::from_json(j.as_bytes()).unwrap();
        assert_eq!(back.keys(), ["api__A", "api__B"]);
        assert_eq!(back.namespaces[0].1[0].1.as_str(), "x\"y\\z\n<&>é\u{1}");
        assert_eq!(back.namespaces[1].0, "web");
        assert!(Plaintext::from_json(b"{\"a\":{\"K\":1}}").is_err());
        assert!(Plaintext::from_json(b"[").is_err());
    }
}
