//! Delivery of a packed payload to Secrets Manager and SSM Parameter Store,
//! all or nothing: the current state under the prefix is read first (so a
//! credential or permission problem stops before any write), then every
//! value is written; if a write fails, what this run wrote is rolled back
//! (new entries deleted, overwritten ones restored) before the error is
//! returned. Pruning runs only after every write succeeded.
//!
//! Values are passed and kept as zeroized strings; errors name the secret or
//! parameter and the AWS error code, never a value.

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::awsapi::{ApiError, AwsApi, Service};

/// What a delivery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Names written (secrets or parameters).
    pub written: Vec<String>,
    /// Names deleted by `prune`.
    pub pruned: Vec<String>,
}

/// A failed delivery: one line naming the entry, the AWS error, and what was rolled back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

fn fail(name: &str, e: &ApiError) -> DeliveryError {
    DeliveryError(format!("{name}: {e}"))
}

/// One entry to write: name and value.
pub type Entry<'a> = (String, &'a Zeroizing<String>);

fn tags_json(tags: &[(String, String)]) -> serde_json::Value {
    tags.iter()
        .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
        .collect()
}

/// Writes `entries` then rolls back on the first failure. `previous` holds the
/// values before the run (None: the entry did not exist).
fn write_all<'a>(
    entries: &[Entry<'a>],
    previous: &HashMap<String, Zeroizing<String>>,
    put: impl Fn(&str, &str, bool) -> Result<(), ApiError>,
    delete: impl Fn(&str) -> Result<(), ApiError>,
) -> Result<Vec<String>, DeliveryError> {
    let mut done: Vec<&str> = Vec::new();
    for (name, value) in entries {
        if let Err(e) = put(name, value, previous.contains_key(name)) {
            let mut undo_failed = Vec::new();
            for n in done.iter().rev() {
                let r = match previous.get(*n) {
                    Some(old) => put(n, old, true),
                    None => delete(n),
                };
                if r.is_err() {
                    undo_failed.push(*n);
                }
            }
            let undo = if done.is_empty() {
                "nothing was written".to_owned()
            } else if undo_failed.is_empty() {
                format!("the {} entries written before were rolled back", done.len())
            } else {
                format!(
                    "rolling back failed for: {} (they hold this run's values)",
                    undo_failed.join(", ")
                )
            };
            return Err(DeliveryError(format!("{}; {undo}", fail(name, &e))));
        }
        done.push(name);
    }
    Ok(entries.iter().map(|(n, _)| n.clone()).collect())
}

/// Secrets Manager: creates or updates one secret (`PutSecretValue`, else
/// `CreateSecret` with `tags`).
pub fn put_secret(
    api: &AwsApi,
    name: &str,
    value: &str,
    tags: &[(String, String)],
    exists: bool,
) -> Result<(), ApiError> {
    let sm = Service::SecretsManager;
    if exists {
        let r = api.json(
            sm,
            "PutSecretValue",
            &serde_json::json!({"SecretId": name, "SecretString": value}),
        );
        match r {
            Err(e) if e.code == "ResourceNotFoundException" => {}
            other => return other.map(drop),
        }
    }
    let mut input = serde_json::json!({"Name": name, "SecretString": value});
    if !tags.is_empty() {
        input["Tags"] = tags_json(tags);
    }
    match api.json(sm, "CreateSecret", &input) {
        Err(e) if e.code == "ResourceExistsException" => put_secret(api, name, value, tags, true),
        other => other.map(drop),
    }
}

/// The current value of a secret, or None when it does not exist.
fn get_secret(api: &AwsApi, name: &str) -> Result<Option<Zeroizing<String>>, ApiError> {
    match api.json(
        Service::SecretsManager,
        "GetSecretValue",
        &serde_json::json!({"SecretId": name}),
    ) {
        Ok(v) => Ok(Some(Zeroizing::new(
            v["SecretString"].as_str().unwrap_or_default().to_owned(),
        ))),
        Err(e) if e.code == "ResourceNotFoundException" => Ok(None),
        Err(e) => Err(e),
    }
}

/// Names of the secrets under `prefix/` (`ListSecrets`, paginated).
fn list_secrets(api: &AwsApi, prefix: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = serde_json::json!({
            "Filters": [{"Key": "name", "Values": [format!("{prefix}/")]}],
            "MaxResults": 100,
        });
        if let Some(t) = &token {
            input["NextToken"] = serde_json::Value::from(t.as_str());
        }
        let v = api.json(Service::SecretsManager, "ListSecrets", &input)?;
        for s in v["SecretList"].as_array().into_iter().flatten() {
            if let Some(n) = s["Name"].as_str()
                && n.starts_with(&format!("{prefix}/"))
            {
                out.push(n.to_owned());
            }
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

fn delete_secret(api: &AwsApi, name: &str, recovery_days: Option<u32>) -> Result<(), ApiError> {
    let input = match recovery_days {
        Some(d) => serde_json::json!({"SecretId": name, "RecoveryWindowInDays": d}),
        None => serde_json::json!({"SecretId": name, "ForceDeleteWithoutRecovery": true}),
    };
    api.json(Service::SecretsManager, "DeleteSecret", &input)
        .map(drop)
}

/// Secrets Manager delivery. `single_prefix` None: `entries` holds the one
/// `json`-mode secret; Some(prefix): one secret per entry under `prefix/`,
/// and `prune` (recovery days) deletes the others under it.
pub fn secrets_manager(
    api: &AwsApi,
    entries: &[Entry<'_>],
    tags: &[(String, String)],
    single_prefix: Option<&str>,
    prune: Option<u32>,
) -> Result<Delivered, DeliveryError> {
    let Some(prefix) = single_prefix else {
        // json mode: one write, nothing to roll back (and no read permission needed)
        for (name, value) in entries {
            put_secret(api, name, value, tags, true).map_err(|e| fail(name, &e))?;
        }
        return Ok(Delivered {
            written: entries.iter().map(|(n, _)| n.clone()).collect(),
            pruned: Vec::new(),
        });
    };
    let mut previous = HashMap::new();
    for (name, _) in entries {
        if let Some(v) = get_secret(api, name).map_err(|e| fail(name, &e))? {
            previous.insert(name.clone(), v);
        }
    }
    let existing = match prune {
        Some(_) => list_secrets(api, prefix).map_err(|e| fail(prefix, &e))?,
        None => Vec::new(),
    };
    let written = write_all(
        entries,
        &previous,
        |n, v, exists| put_secret(api, n, v, tags, exists),
        |n| delete_secret(api, n, None),
    )?;
    let mut pruned = Vec::new();
    for n in existing {
        if !written.contains(&n) {
            delete_secret(api, &n, prune).map_err(|e| {
                DeliveryError(format!(
                    "{}; every value was delivered, pruning stopped there",
                    fail(&n, &e)
                ))
            })?;
            pruned.push(n);
        }
    }
    Ok(Delivered { written, pruned })
}

/// Parameter Store options.
#[derive(Debug, Clone, Default)]
pub struct ParameterOptions {
    /// The path the parameters live under (starts with `/`).
    pub prefix: String,
    /// The KMS key of the SecureStrings (None: `alias/aws/ssm`).
    pub kms_key_id: Option<String>,
    /// `Standard` or `Advanced`.
    pub tier: String,
    /// Tags set on every parameter.
    pub tags: Vec<(String, String)>,
    /// Delete parameters under the prefix that this run did not write.
    pub prune: bool,
}

/// Parameters directly under `path` with their decrypted values.
fn parameters_under(
    api: &AwsApi,
    path: &str,
) -> Result<HashMap<String, Zeroizing<String>>, ApiError> {
    let mut out = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = serde_json::json!({
            "Path": path, "Recursive": false, "WithDecryption": true, "MaxResults": 10,
        });
        if let Some(t) = &token {
            input["NextToken"] = serde_json::Value::from(t.as_str());
        }
        let v = api.json(Service::Ssm, "GetParametersByPath", &input)?;
        for p in v["Parameters"].as_array().into_iter().flatten() {
            if let Some(n) = p["Name"].as_str() {
                out.insert(
                    n.to_owned(),
                    Zeroizing::new(p["Value"].as_str().unwrap_or_default().to_owned()),
                );
            }
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

fn put_parameter(
    api: &AwsApi,
    o: &ParameterOptions,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    let mut input = serde_json::json!({
        "Name": name, "Value": value, "Type": "SecureString", "Overwrite": true, "Tier": o.tier,
    });
    if let Some(k) = &o.kms_key_id {
        input["KeyId"] = serde_json::Value::from(k.as_str());
    }
    api.json(Service::Ssm, "PutParameter", &input)?;
    if !o.tags.is_empty() {
        // PutParameter refuses Tags together with Overwrite: tag afterwards.
        api.json(
            Service::Ssm,
            "AddTagsToResource",
            &serde_json::json!({
                "ResourceType": "Parameter", "ResourceId": name, "Tags": tags_json(&o.tags),
            }),
        )?;
    }
    Ok(())
}

fn delete_parameters(api: &AwsApi, names: &[String]) -> Result<(), ApiError> {
    for chunk in names.chunks(10) {
        api.json(
            Service::Ssm,
            "DeleteParameters",
            &serde_json::json!({ "Names": chunk }),
        )?;
    }
    Ok(())
}

/// Parameter Store delivery: one SecureString per entry.
pub fn parameter_store(
    api: &AwsApi,
    entries: &[Entry<'_>],
    o: &ParameterOptions,
) -> Result<Delivered, DeliveryError> {
    let path = o.prefix.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    let previous = parameters_under(api, path).map_err(|e| fail(path, &e))?;
    let written = write_all(
        entries,
        &previous,
        |n, v, _| put_parameter(api, o, n, v),
        |n| delete_parameters(api, &[n.to_owned()]),
    )?;
    let mut pruned: Vec<String> = if o.prune {
        previous
            .keys()
            .filter(|n| !written.contains(n))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    pruned.sort();
    delete_parameters(api, &pruned)
        .map_err(|e| DeliveryError(format!("{path}: pruning: {e}; every value was delivered")))?;
    Ok(Delivered { written, pruned })
}
