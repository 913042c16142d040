//! Service identities (clef.yaml `service_identities`): what a workload may
//! read. An identity's scope is exactly its namespaces × the environments it
//! has a key for; [`Manifest::access`] makes each non-`pack_only`
//! identity a recipient of exactly those cells.

use std::path::Path;

use clef_doc::{Branch, Item, Value};

use crate::manifest::{Manifest, ServiceIdentity, ServiceKey};
use crate::matrix::Cell;

/// A lookup that failed. Names identities and environments only.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such identity.
    #[error("unknown service identity '{name}' (declared: {known})")]
    UnknownIdentity {
        /// Asked for.
        name: String,
        /// Declared ones.
        known: String,
    },
    /// The identity has no key for this environment.
    #[error(
        "service identity '{identity}' has no key for environment '{environment}' (it has: {known})"
    )]
    NoEnvironment {
        /// The identity.
        identity: String,
        /// Asked for.
        environment: String,
        /// Its environments.
        known: String,
    },
}

/// What an identity reads in one environment.
#[derive(Debug, Clone)]
pub struct Scope<'m> {
    /// The identity.
    pub identity: &'m ServiceIdentity,
    /// The environment.
    pub environment: String,
    /// Its key there.
    pub key: &'m ServiceKey,
    /// Its cells, in manifest namespace order (whether or not the files exist).
    pub cells: Vec<Cell>,
}

/// One `clef service validate` / lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIssue {
    /// `error` or `warning`.
    pub severity: &'static str,
    /// `missing_environment`, `recipient_not_registered`, `scope_mismatch`,
    /// `shared_recipient` or `runtime_shared_recipient`.
    pub code: &'static str,
    /// The identity.
    pub identity: String,
    /// The environment concerned, if one.
    pub environment: Option<String>,
    /// The cell concerned, if one (relative path).
    pub file: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

impl ServiceIdentity {
    /// Its key for `env`.
    pub fn key_for(&self, env: &str) -> Option<&ServiceKey> {
        self.environments
            .iter()
            .find(|(e, _)| e == env)
            .map(|(_, k)| k)
    }
}

impl ServiceKey {
    /// `age` or the KMS provider.
    pub fn kind(&self) -> &str {
        match self {
            ServiceKey::Recipient(_) => "age",
            ServiceKey::Kms { provider, .. } => provider,
        }
    }
}

impl Manifest {
    /// A service identity by name.
    pub fn service_identity(&self, name: &str) -> Result<&ServiceIdentity, ServiceError> {
        self.service_identities
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ServiceError::UnknownIdentity {
                name: name.to_owned(),
                known: names(self.service_identities.iter().map(|s| s.name.as_str())),
            })
    }

    /// The cells `identity` reads in `environment`.
    pub fn service_scope(
        &self,
        identity: &str,
        environment: &str,
    ) -> Result<Scope<'_>, ServiceError> {
        let si = self.service_identity(identity)?;
        let key = si
            .key_for(environment)
            .ok_or_else(|| ServiceError::NoEnvironment {
                identity: identity.to_owned(),
                environment: environment.to_owned(),
                known: names(si.environments.iter().map(|(e, _)| e.as_str())),
            })?;
        let cells = self
            .namespaces
            .iter()
            .filter(|n| si.namespaces.contains(&n.name))
            .filter_map(|n| self.cell(&n.name, environment).ok())
            .collect();
        Ok(Scope {
            identity: si,
            environment: environment.to_owned(),
            key,
            cells,
        })
    }

    /// Whether `identity` may read `cell` (the access-list question for
    /// service identities): its namespace is in scope and the identity has
    /// a key for the cell's environment.
    pub fn service_can_read(&self, identity: &ServiceIdentity, cell: &Cell) -> bool {
        identity.namespaces.contains(&cell.namespace)
            && identity.key_for(&cell.environment).is_some()
    }
}

/// The YAML of a `service_identities` list, in the old tool's layout
/// (`pack_only` written only when true).
pub fn to_node(list: &[ServiceIdentity]) -> Value {
    let e = |k: &str, v: Value| Item::Entry(k.to_owned(), v);
    Value::List(
        list.iter()
            .map(|si| {
                let mut b = vec![
                    e("name", Value::str(si.name.clone())),
                    e(
                        "description",
                        Value::str(si.description.clone().unwrap_or_default()),
                    ),
                    e(
                        "namespaces",
                        Value::List(
                            si.namespaces
                                .iter()
                                .map(|n| Value::str(n.clone()))
                                .collect(),
                        ),
                    ),
                ];
                let envs = si
                    .environments
                    .iter()
                    .map(|(env, k)| {
                        let v = match k {
                            ServiceKey::Recipient(r) => {
                                Branch(vec![e("recipient", Value::str(r.clone()))])
                            }
                            ServiceKey::Kms { provider, key_id } => Branch(vec![e(
                                "kms",
                                Value::Map(Branch(vec![
                                    e("provider", Value::str(provider.clone())),
                                    e("keyId", Value::str(key_id.clone())),
                                ])),
                            )]),
                        };
                        e(env, Value::Map(v))
                    })
                    .collect();
                b.push(e("environments", Value::Map(Branch(envs))));
                if si.pack_only {
                    b.push(e("pack_only", Value::Bool(true)));
                }
                Value::Map(Branch(b))
            })
            .collect(),
    )
}

/// Checks a KMS key for a service environment: provider aws, gcp or azure;
/// an AWS key must be a full key or alias ARN
/// (`arn:<partition>:kms:<region>:<12-digit account>:key/…|alias/…`).
pub fn check_kms(provider: &str, key_id: &str) -> Result<(), String> {
    match provider {
        "aws" => {
            let p: Vec<&str> = key_id.splitn(6, ':').collect();
            let ok = p.len() == 6
                && p[0] == "arn"
                && p[1].starts_with("aws")
                && p[2] == "kms"
                && !p[3].is_empty()
                && p[4].len() == 12
                && p[4].bytes().all(|b| b.is_ascii_digit())
                && (p[5].strip_prefix("key/").is_some_and(|r| !r.is_empty())
                    || p[5].strip_prefix("alias/").is_some_and(|r| !r.is_empty()));
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "'{key_id}' is not an AWS KMS key or alias ARN (arn:aws:kms:<region>:<account>:key/<id>)"
                ))
            }
        }
        "gcp" | "azure" if !key_id.is_empty() => Ok(()),
        _ => Err(format!(
            "unknown KMS provider '{provider}' (aws, gcp, azure)"
        )),
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Checks every service identity against the manifest and the cells on
/// disk (their recipients are read from the key-free metadata; nothing is
/// decrypted).
pub fn validate(root: &Path, m: &Manifest) -> Vec<ServiceIssue> {
    let mut out = Vec::new();
    for si in &m.service_identities {
        let mk = |severity,
                  code,
                  env: Option<&str>,
                  file: Option<&Path>,
                  message: String,
                  fix: Option<String>| ServiceIssue {
            severity,
            code,
            identity: si.name.clone(),
            environment: env.map(str::to_owned),
            file: file.map(|f| f.display().to_string()),
            message,
            fix,
        };
        for e in &m.environments {
            if si.key_for(&e.name).is_none() {
                out.push(mk(
                    "error",
                    "missing_environment",
                    Some(&e.name),
                    None,
                    format!("no key for environment '{}'", e.name),
                    Some(format!("clef service add-env {} {}", si.name, e.name)),
                ));
            }
        }
        // one key per environment: a recipient shared by two environments
        // lets a workload in one read the other's artifact
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (env, key) in &si.environments {
            let ServiceKey::Recipient(r) = key else {
                continue;
            };
            if let Some((other, _)) = seen.iter().find(|(_, x)| *x == r.as_str()) {
                let (sev, code) = if si.pack_only {
                    ("warning", "runtime_shared_recipient")
                } else {
                    ("warning", "shared_recipient")
                };
                out.push(mk(
                    sev,
                    code,
                    Some(env),
                    None,
                    format!("environments '{other}' and '{env}' share one recipient: environments are not isolated"),
                    Some(format!("clef service rotate {} -e {env}", si.name)),
                ));
            } else {
                seen.push((env, r));
            }
        }
        if si.pack_only {
            continue;
        }
        for (env, key) in &si.environments {
            let ServiceKey::Recipient(r) = key else {
                continue;
            };
            for c in m.cells() {
                let Ok(Some(loaded)) = crate::cell::load(root, &c) else {
                    continue;
                };
                let has = loaded.file.meta.age_recipients().contains(&r.as_str());
                let in_scope = c.environment == *env && si.namespaces.contains(&c.namespace);
                if in_scope && !has {
                    out.push(mk(
                        "warning",
                        "recipient_not_registered",
                        Some(env),
                        Some(&c.file),
                        format!(
                            "the '{env}' recipient of '{}' cannot decrypt this in-scope cell",
                            si.name
                        ),
                        Some(format!("clef rotate {}", c.target())),
                    ));
                } else if !in_scope && has {
                    out.push(mk(
                        "warning",
                        "scope_mismatch",
                        Some(env),
                        Some(&c.file),
                        format!("the '{env}' recipient of '{}' can decrypt this cell, which is outside its scope", si.name),
                        Some(format!("clef rotate {}", c.target())),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_namespaces_times_environment() {
        let (_, a) = clef_keys::generate_identity();
        let (_, d) = clef_keys::generate_identity();
        let (_, p) = clef_keys::generate_identity();
        let mut text = Manifest::initial_text(
            &["api".into(), "web".into(), "db".into()],
            &["dev".into(), "prod".into()],
            &a,
        );
        text.push_str(&format!(
            "service_identities:\n  - name: gw\n    namespaces: [db, api]\n    environments:\n      dev:\n        recipient: {d}\n      prod:\n        recipient: {d}\n  - name: run\n    namespaces: [web]\n    pack_only: true\n    environments:\n      prod:\n        kms:\n          provider: aws\n          keyId: arn:aws:kms:us-east-1:123456789012:alias/x\n"
        ));
        let _ = p;
        let m = Manifest::parse(&text, Path::new("clef.yaml")).unwrap();
        let s = m.service_scope("gw", "prod").unwrap();
        let t: Vec<String> = s.cells.iter().map(Cell::target).collect();
        assert_eq!(
            t,
            ["api/prod", "db/prod"],
            "manifest order, not the identity's"
        );
        assert!(m.service_scope("gw", "qa").is_err());
        assert!(
            m.service_scope("nope", "prod")
                .unwrap_err()
                .to_string()
                .contains("declared: gw, run")
        );
        let run = m.service_identity("run").unwrap();
        assert_eq!(m.service_scope("run", "prod").unwrap().key.kind(), "aws");
        assert!(m.service_can_read(run, &m.target("web/prod").unwrap()));
        assert!(!m.service_can_read(run, &m.target("web/dev").unwrap()));
        assert!(!m.service_can_read(run, &m.target("api/prod").unwrap()));
        let issues = validate(Path::new("/nonexistent"), &m);
        let codes: Vec<(&str, &str)> = issues
            .iter()
            .map(|i| (i.identity.as_str(), i.code))
            .collect();
        assert_eq!(
            codes,
            [("gw", "shared_recipient"), ("run", "missing_environment")]
        );
    }
}
