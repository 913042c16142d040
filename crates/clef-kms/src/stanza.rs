//! The `kms` and `gcp_kms` stanzas of a sops file's metadata, read and written
//! exactly as sops 3.11 does (`stores/stores.go`: `kmskey`, `gcpkmskey`):
//!
//! ```yaml
//! kms:
//!     - arn: arn:aws:kms:REGION:ACCOUNT:key/ID
//!       role: arn:aws:iam::ACCOUNT:role/NAME   # omitted when empty
//!       context:                              # omitted when empty; keys sorted
//!         app: x
//!       created_at: "2026-01-01T00:00:00Z"
//!       enc: BASE64(CiphertextBlob)
//!       aws_profile: ""                       # always written
//! gcp_kms:
//!     - resource_id: projects/P/locations/L/keyRings/R/cryptoKeys/K
//!       created_at: "2026-01-01T00:00:00Z"
//!       enc: BASE64(ciphertext)
//! ```

use clef_doc::{Branch, Item, Value};

use crate::KmsError;

/// One `kms` stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsStanza {
    /// Key (or alias) ARN.
    pub arn: String,
    /// IAM role to assume first; empty for none.
    pub role: String,
    /// Encryption context, sorted by key (Go marshals maps sorted).
    pub context: Vec<(String, String)>,
    /// RFC 3339 UTC creation time.
    pub created_at: String,
    /// Base64 of the KMS ciphertext blob; empty before wrapping.
    pub enc: String,
    /// Shared-config profile to load; empty for the default.
    pub aws_profile: String,
}

/// One `gcp_kms` stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcpStanza {
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    pub resource_id: String,
    /// RFC 3339 UTC creation time.
    pub created_at: String,
    /// Base64 of the Cloud KMS ciphertext; empty before wrapping.
    pub enc: String,
}

fn map<'a>(v: &'a Value, kind: &str) -> Result<&'a Branch, KmsError> {
    match v {
        Value::Map(b) => Ok(b),
        _ => Err(KmsError::new(kind, "stanza is not a mapping")),
    }
}

fn text(b: &Branch, field: &str) -> String {
    match b.get(field) {
        Some(Value::Str(s)) => s.expose().to_owned(),
        Some(Value::Time(s)) => s.clone(),
        _ => String::new(),
    }
}

fn entry(b: &mut Branch, k: &str, v: &str) {
    b.0.push(Item::Entry(k.to_owned(), Value::str(v)));
}

impl AwsStanza {
    /// A stanza to wrap for: `ARN[+ROLE_ARN]` as on sops's command line.
    pub fn from_arg(arg: &str, context: &[(String, String)], aws_profile: &str) -> AwsStanza {
        let arg: String = arg.chars().filter(|c| *c != ' ').collect();
        let (arn, role) = match arg.find("+arn:aws:iam::") {
            Some(i) if i > 0 => (arg[..i].to_owned(), arg[i + 1..].to_owned()),
            _ => (arg, String::new()),
        };
        let mut context = context.to_vec();
        context.sort();
        AwsStanza {
            arn,
            role,
            context,
            aws_profile: aws_profile.to_owned(),
            ..AwsStanza::default()
        }
    }

    /// Reads a stanza from its metadata map.
    pub fn from_value(v: &Value) -> Result<AwsStanza, KmsError> {
        let b = map(v, "kms")?;
        let arn = text(b, "arn");
        if arn.is_empty() {
            return Err(KmsError::new("kms", "stanza has no arn"));
        }
        let mut context = Vec::new();
        if let Some(Value::Map(c)) = b.get("context") {
            for it in &c.0 {
                if let Item::Entry(k, v) = it {
                    match v {
                        Value::Str(s) => context.push((k.clone(), s.expose().to_owned())),
                        // sops drops a context with a non-string value (with a warning)
                        _ => {
                            context.clear();
                            break;
                        }
                    }
                }
            }
        }
        context.sort();
        Ok(AwsStanza {
            arn,
            role: text(b, "role"),
            context,
            created_at: text(b, "created_at"),
            enc: text(b, "enc"),
            aws_profile: text(b, "aws_profile"),
        })
    }

    /// The stanza as sops 3.11 writes it.
    pub fn to_value(&self) -> Value {
        let mut b = Branch::new();
        entry(&mut b, "arn", &self.arn);
        if !self.role.is_empty() {
            entry(&mut b, "role", &self.role);
        }
        if !self.context.is_empty() {
            let mut c = Branch::new();
            for (k, v) in &self.context {
                entry(&mut c, k, v);
            }
            b.0.push(Item::Entry("context".into(), Value::Map(c)));
        }
        entry(&mut b, "created_at", &self.created_at);
        entry(&mut b, "enc", &self.enc);
        entry(&mut b, "aws_profile", &self.aws_profile);
        Value::Map(b)
    }

    /// The region named in the ARN (`arn:aws:kms:REGION:ACCOUNT:key/...`), as sops
    /// derives it; `None` when the ARN is not a KMS key or alias ARN.
    pub fn region(&self) -> Option<&str> {
        let mut parts = self.arn.splitn(6, ':');
        let (arn, partition, service, region, account, rest) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let ok = arn == "arn"
            && partition.starts_with("aws")
            && service == "kms"
            && !region.is_empty()
            && !account.is_empty()
            && account.bytes().all(|c| c.is_ascii_digit())
            && (rest.starts_with("key/") || rest.starts_with("alias/"))
            && rest.len() > rest.find('/').unwrap_or(0) + 1;
        ok.then_some(region)
    }
}

impl GcpStanza {
    /// Reads a stanza from its metadata map.
    pub fn from_value(v: &Value) -> Result<GcpStanza, KmsError> {
        let b = map(v, "gcp_kms")?;
        let resource_id = text(b, "resource_id");
        if resource_id.is_empty() {
            return Err(KmsError::new("gcp_kms", "stanza has no resource_id"));
        }
        Ok(GcpStanza {
            resource_id,
            created_at: text(b, "created_at"),
            enc: text(b, "enc"),
        })
    }

    /// A stanza to wrap for one resource id (spaces removed, as sops does).
    pub fn from_arg(arg: &str) -> GcpStanza {
        GcpStanza {
            resource_id: arg.chars().filter(|c| *c != ' ').collect(),
            ..GcpStanza::default()
        }
    }

    /// The stanza as sops 3.11 writes it.
    pub fn to_value(&self) -> Value {
        let mut b = Branch::new();
        entry(&mut b, "resource_id", &self.resource_id);
        entry(&mut b, "created_at", &self.created_at);
        entry(&mut b, "enc", &self.enc);
        Value::Map(b)
    }
}

/// Parses sops's `--encryption-context` (`k:v,k2:v2`); like sops, a pair that is
/// not exactly `k:v` voids the whole context (`None`).
pub fn parse_context(s: &str) -> Option<Vec<(String, String)>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for kv in s.split(',') {
        let parts: Vec<&str> = kv.split(':').collect();
        if parts.len() != 2 {
            return None;
        }
        out.retain(|(k, _)| k != parts[0]);
        out.push((parts[0].to_owned(), parts[1].to_owned()));
    }
    out.sort();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_with_role_splits_like_sops() {
        let s = AwsStanza::from_arg(
            "arn:aws:kms:eu-west-1:123456789012:key/abc+arn:aws:iam::123456789012:role/ci",
            &[("b".into(), "2".into()), ("a".into(), "1".into())],
            "",
        );
        assert_eq!(s.arn, "arn:aws:kms:eu-west-1:123456789012:key/abc");
        assert_eq!(s.role, "arn:aws:iam::123456789012:role/ci");
        assert_eq!(s.context[0].0, "a");
        assert_eq!(s.region(), Some("eu-west-1"));
    }

    #[test]
    fn region_needs_a_kms_arn() {
        for bad in [
            "",
            "arn:aws:s3:us-east-1:123:key/x",
            "arn:aws:kms::123:key/x",
            "arn:aws:kms:us-east-1:abc:key/x",
            "arn:aws:kms:us-east-1:123:key/",
            "arn:aws:kms:us-east-1:123:bucket/x",
        ] {
            let s = AwsStanza {
                arn: bad.into(),
                ..AwsStanza::default()
            };
            assert_eq!(s.region(), None, "{bad}");
        }
        let s = AwsStanza {
            arn: "arn:aws-us-gov:kms:us-gov-west-1:123:alias/a".into(),
            ..AwsStanza::default()
        };
        assert_eq!(s.region(), Some("us-gov-west-1"));
    }

    #[test]
    fn stanza_round_trips_in_sops_field_order() {
        let s = AwsStanza {
            arn: "arn:aws:kms:us-east-1:1:key/k".into(),
            role: String::new(),
            context: vec![("app".into(), "x".into()), ("env".into(), "prod".into())],
            created_at: "2026-01-01T00:00:00Z".into(),
            enc: "QUJD".into(),
            aws_profile: String::new(),
        };
        let v = s.to_value();
        let Value::Map(b) = &v else { panic!() };
        let keys: Vec<&str> = b.keys().collect();
        assert_eq!(keys, ["arn", "context", "created_at", "enc", "aws_profile"]);
        assert_eq!(AwsStanza::from_value(&v).unwrap(), s);
        let g = GcpStanza {
            resource_id: "projects/p/locations/l/keyRings/r/cryptoKeys/k".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            enc: "QUJD".into(),
        };
        assert_eq!(GcpStanza::from_value(&g.to_value()).unwrap(), g);
    }

    #[test]
    fn context_parses_like_sops() {
        assert_eq!(
            parse_context("env:prod,app:x").unwrap(),
            vec![("app".into(), "x".into()), ("env".into(), "prod".into())]
        );
        assert_eq!(parse_context("env"), None);
        assert_eq!(parse_context("a:b:c"), None);
        assert_eq!(parse_context("").unwrap(), vec![]);
    }
}
