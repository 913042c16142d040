//! What the cloud backends deliver, computed and checked before anything is
//! sent (so a bad option or an oversized payload delivers nothing).
//!
//! * `aws-secrets-manager`, mode `json`: one secret named `prefix` holding
//!   the compact JSON of `{ns__KEY: value}` with sorted keys, at most
//!   65,536 bytes; mode `single`: one secret per key, `<prefix>/<ns__KEY>`.
//! * `aws-parameter-store`: one `SecureString` per key at
//!   `<prefix>/<ns__KEY>` (`prefix` starts with `/`); a value is at most
//!   4,096 bytes in the Standard tier, 8,192 in Advanced; tags
//!   `<tag-prefix>identity|environment|revision`.
//! * `s3://bucket/key`: the artifact JSON as one object.

use zeroize::Zeroizing;

use crate::plaintext::write_js_string;
use crate::{ArtifactError, Plaintext};

/// The Secrets Manager limit on a secret value.
pub const SECRETS_MANAGER_MAX: usize = 65_536;

fn bad(msg: impl Into<String>) -> ArtifactError {
    ArtifactError::Delivery(msg.into())
}

/// The `json`-mode secret: sorted compact `{"ns__KEY":"value"}`.
pub fn secrets_manager_json(p: &Plaintext) -> Result<Zeroizing<String>, ArtifactError> {
    let mut flat = p.flat();
    flat.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = Zeroizing::new(String::from("{"));
    for (i, (k, v)) in flat.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_js_string(&mut s, k);
        s.push(':');
        write_js_string(&mut s, v);
    }
    s.push('}');
    if s.len() > SECRETS_MANAGER_MAX {
        return Err(bad(format!(
            "the Secrets Manager payload is {} bytes, over the 65536-byte limit; use mode=single (one secret per key)",
            s.len()
        )));
    }
    Ok(s)
}

/// `(parameter name, value)` for Parameter Store, checked against the tier.
pub fn parameters<'p>(
    p: &'p Plaintext,
    prefix: &str,
    tier: &str,
) -> Result<Vec<(String, &'p Zeroizing<String>)>, ArtifactError> {
    if !prefix.starts_with('/') {
        return Err(bad(format!("prefix '{prefix}' must start with '/'")));
    }
    let max = match tier {
        "Standard" => 4096,
        "Advanced" => 8192,
        other => return Err(bad(format!("tier '{other}': Standard or Advanced"))),
    };
    let prefix = prefix.trim_end_matches('/');
    p.flat()
        .into_iter()
        .map(|(k, v)| {
            if v.len() > max {
                Err(bad(format!(
                    "{k}: the value is {} bytes, over the {tier} tier's {max}",
                    v.len()
                )))
            } else {
                Ok((format!("{prefix}/{k}"), v))
            }
        })
        .collect()
}

/// `s3://bucket/key` → (bucket, key).
pub fn s3_location(url: &str) -> Result<(String, String), ArtifactError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad(format!("'{url}' is not an s3://bucket/key URL")))?;
    match rest.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_owned(), k.to_owned())),
        _ => Err(bad(format!("'{url}' is not an s3://bucket/key URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: usize, len: usize) -> Plaintext {
        Plaintext {
            namespaces: vec![(
                "api".into(),
                (0..n)
                    .rev()
                    .map(|i| (format!("K{i:03}"), Zeroizing::new("v".repeat(len))))
                    .collect(),
            )],
        }
    }

    #[test]
    fn secrets_manager_sorts_and_caps() {
        let j = secrets_manager_json(&p(2, 1)).unwrap();
        assert_eq!(j.as_str(), "{\"api__K000\":\"v\",\"api__K001\":\"v\"}");
        // 64 keys x ~1 KiB: just over 64 KiB
        let e = secrets_manager_json(&p(64, 1024)).unwrap_err().to_string();
        assert!(
            e.contains("over the 65536-byte limit") && !e.contains("vvvv"),
            "{e}"
        );
    }

    #[test]
    fn parameter_store_names_and_tiers() {
        let pl = p(1, 5000);
        assert!(
            parameters(&pl, "/app/prod", "Standard")
                .unwrap_err()
                .to_string()
                .contains("Standard tier's 4096")
        );
        let ps = parameters(&pl, "/app/prod/", "Advanced").unwrap();
        assert_eq!(ps[0].0, "/app/prod/api__K000");
        assert!(parameters(&pl, "app", "Advanced").is_err());
        assert!(parameters(&pl, "/a", "Huge").is_err());
        assert_eq!(
            s3_location("s3://b/k/x.json").unwrap(),
            ("b".into(), "k/x.json".into())
        );
        assert!(s3_location("s3://b").is_err());
        assert!(s3_location("https://b/k").is_err());
    }
}
