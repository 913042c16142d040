//! `.sops.yaml` creation rules, as sops finds and applies them: searched from
//! the current directory upwards (or given explicitly), first rule whose
//! `path_regex` matches the file path relative to the config's directory wins.

use std::path::{Path, PathBuf};

use clef_doc::{Branch, Value};

use crate::metadata::{CryptRule, KeyGroup};

/// A config error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Could not read the file.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Reason.
        reason: String,
    },
    /// Invalid YAML or structure.
    #[error("{path}: {reason}")]
    Invalid {
        /// Path.
        path: PathBuf,
        /// Reason.
        reason: String,
    },
    /// Rules exist but none matches.
    #[error("no matching creation rules found in {0}")]
    NoMatch(PathBuf),
}

/// What a creation rule asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Creation {
    /// Key groups (age recipients only; other key types are refused with a message).
    pub groups: Vec<KeyGroup>,
    /// Shamir threshold (0 = all groups).
    pub shamir_threshold: usize,
    /// Crypt rule, if the rule sets one.
    pub rule: Option<CryptRule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// Finds `.sops.yaml` from `start` upwards (at most 100 levels, as sops).
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    for _ in 0..100 {
        let d = dir?;
        let p = d.join(".sops.yaml");
        if p.is_file() {
            return Some(p);
        }
        dir = d.parent();
    }
    None
}

fn list_of_strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Str(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::List(l)) => l
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.trim().to_owned()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// Loads `config` and returns the creation settings for `file` (absolute or relative to cwd).
pub fn creation_for(config: &Path, file: &Path) -> Result<Creation, ConfigError> {
    let text = std::fs::read_to_string(config).map_err(|e| ConfigError::Io {
        path: config.to_owned(),
        reason: e.kind().to_string(),
    })?;
    let invalid = |reason: String| ConfigError::Invalid {
        path: config.to_owned(),
        reason,
    };
    let docs = clef_doc::yaml::parse(&text).map_err(|e| invalid(e.to_string()))?;
    let root = docs.into_iter().next().unwrap_or_default();
    let rules = match root.get("creation_rules") {
        Some(Value::List(l)) => l.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(invalid("creation_rules must be a list".into())),
    };
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let base = config
        .parent()
        .and_then(|p| std::path::absolute(p).ok())
        .unwrap_or_default();
    let rel = abs
        .strip_prefix(&base)
        .unwrap_or(&abs)
        .to_string_lossy()
        .into_owned();
    for r in &rules {
        let Value::Map(rule) = r else {
            return Err(invalid("each creation rule must be a mapping".into()));
        };
        if let Some(Value::Str(re)) = rule.get("path_regex") {
            let re = crate::re2::compile(re).map_err(|e| {
                invalid(format!(
                    "path_regex is not a valid RE2 regular expression: {e}"
                ))
            })?;
            if !re.is_match(&rel) {
                continue;
            }
        }
        return creation_from_rule(rule).map_err(invalid);
    }
    Err(ConfigError::NoMatch(config.to_owned()))
}

fn group_from(b: &Branch) -> Result<KeyGroup, String> {
    for t in [
        "pgp",
        "kms",
        "gcp_kms",
        "azure_keyvault",
        "hc_vault_transit_uri",
        "hc_vault",
    ] {
        if !list_of_strings(b.get(t)).is_empty()
            || matches!(b.get(t), Some(Value::List(l)) if !l.is_empty())
        {
            return Err(format!("'{t}' keys are not supported by clef (age only)"));
        }
    }
    Ok(KeyGroup::of_recipients(&list_of_strings(b.get("age"))))
}

fn creation_from_rule(rule: &Branch) -> Result<Creation, String> {
    let mut c = Creation::default();
    match rule.get("key_groups") {
        Some(Value::List(groups)) if !groups.is_empty() => {
            for g in groups {
                let Value::Map(gb) = g else {
                    return Err("each key group must be a mapping".into());
                };
                c.groups.push(group_from(gb)?);
            }
        }
        _ => c.groups.push(group_from(rule)?),
    }
    c.shamir_threshold = match rule.get("shamir_threshold") {
        Some(Value::Int(i)) if *i >= 0 => *i as usize,
        None | Some(Value::Null) => 0,
        _ => return Err("shamir_threshold must be a non-negative integer".into()),
    };
    for f in crate::metadata::RULE_FIELDS {
        if let Some(Value::Str(s)) = rule.get(f) {
            if c.rule.is_some() {
                return Err("a creation rule may set only one of the six crypt rules".into());
            }
            c.rule = CryptRule::from_field(f, s.to_string());
        }
    }
    c.mac_only_encrypted = matches!(rule.get("mac_only_encrypted"), Some(Value::Bool(true)));
    Ok(c)
}
