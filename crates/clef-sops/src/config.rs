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
    for t in ["azure_keyvault", "hc_vault_transit_uri", "hc_vault"] {
        if !list_of_strings(b.get(t)).is_empty()
            || matches!(b.get(t), Some(Value::List(l)) if !l.is_empty())
        {
            return Err(format!(
                "'{t}' keys are not supported by clef in .sops.yaml (age, pgp, kms and gcp_kms only)"
            ));
        }
    }
    let mut g = KeyGroup::of_recipients(&list_of_strings(b.get("age")));
    g.other = kms_stanzas(b)?;
    g.other.extend(pgp_stanzas(&list_of_strings(b.get("pgp"))));
    Ok(g)
}

/// The `kms` and `gcp_kms` stanzas of a rule or key group, to be wrapped (no
/// `enc` yet), as sops 3.11 reads them: in a rule, comma-separated
/// `ARN[+ROLE_ARN]` (with the rule's `aws_profile`) and resource ids; in a
/// key group, lists of `{arn, role, context, aws_profile}` and
/// `{resource_id}` maps. The cloud backends (clef-kms) wrap them.
fn kms_stanzas(b: &Branch) -> Result<Vec<(String, Value)>, String> {
    use clef_doc::Item;
    let field = |m: &Branch, k: &str| match m.get(k) {
        Some(Value::Str(s)) => s.trim().to_owned(),
        _ => String::new(),
    };
    let stanza = |fields: Vec<(&str, String)>, context: Option<Value>| {
        let mut st = Branch::new();
        for (k, v) in fields.into_iter().filter(|(_, v)| !v.is_empty()) {
            st.0.push(Item::Entry(k.to_owned(), Value::str(v)));
        }
        if let Some(c) = context {
            st.0.push(Item::Entry("context".to_owned(), c));
        }
        Value::Map(st)
    };
    let mut out = Vec::new();
    match b.get("kms") {
        Some(Value::List(l)) if l.iter().any(|v| matches!(v, Value::Map(_))) => {
            for v in l {
                let Value::Map(m) = v else {
                    return Err("each kms key of a key group must be a mapping (arn, role, context, aws_profile)".into());
                };
                let arn = field(m, "arn");
                if arn.is_empty() {
                    return Err("a kms key of a key group has no arn".into());
                }
                let context = match m.get("context") {
                    Some(Value::Map(c)) if !c.0.is_empty() => Some(Value::Map(c.clone())),
                    _ => None,
                };
                let fields = vec![
                    ("arn", arn),
                    ("role", field(m, "role")),
                    ("aws_profile", field(m, "aws_profile")),
                ];
                out.push(("kms".to_owned(), stanza(fields, context)));
            }
        }
        v => {
            for arg in list_of_strings(v) {
                let arg: String = arg.chars().filter(|c| *c != ' ').collect();
                let (arn, role) = match arg.find("+arn:aws:iam::") {
                    Some(i) if i > 0 => (arg[..i].to_owned(), arg[i + 1..].to_owned()),
                    _ => (arg, String::new()),
                };
                let fields = vec![
                    ("arn", arn),
                    ("role", role),
                    ("aws_profile", field(b, "aws_profile")),
                ];
                out.push(("kms".to_owned(), stanza(fields, None)));
            }
        }
    }
    let gcp: Vec<String> = match b.get("gcp_kms") {
        Some(Value::List(l)) if l.iter().any(|v| matches!(v, Value::Map(_))) => l
            .iter()
            .map(|v| match v {
                Value::Map(m) => Ok(field(m, "resource_id")),
                _ => Err(
                    "each gcp_kms key of a key group must be a mapping (resource_id)".to_owned(),
                ),
            })
            .collect::<Result<_, _>>()?,
        v => list_of_strings(v),
    };
    for id in gcp {
        if id.is_empty() {
            return Err("a gcp_kms key has no resource_id".into());
        }
        let id: String = id.chars().filter(|c| *c != ' ').collect();
        out.push((
            "gcp_kms".to_owned(),
            stanza(vec![("resource_id", id)], None),
        ));
    }
    Ok(out)
}

/// `pgp` stanzas to be wrapped (no `enc` yet) for these fingerprints.
pub fn pgp_stanzas(fps: &[String]) -> Vec<(String, Value)> {
    fps.iter()
        .map(|fp| ("pgp".to_owned(), crate::masterkey::stanza(&[("fp", fp)])))
        .collect()
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
            c.rule = CryptRule::from_field(f, s.expose().to_owned());
        }
    }
    c.mac_only_encrypted = matches!(rule.get("mac_only_encrypted"), Some(Value::Bool(true)));
    Ok(c)
}

/// One `.sops.yaml` creation rule to render: files matching `path_regex` (Go
/// RE2, relative to the config's directory) get `creation`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreationRule {
    /// The `path_regex` (empty: the rule matches every file).
    pub path_regex: String,
    /// What files matching it get.
    pub creation: Creation,
}

/// The `path_regex` matching clef's cells `<dir>/<namespace>/<environment>.enc.<ext>`
/// of one environment (for [`render_creation_rules`]).
pub fn cell_path_regex(dir: &str, environment: &str) -> String {
    format!(
        "^{}/[^/]+/{}\\.enc\\.(yaml|yml|json|env)$",
        regex::escape(dir.trim_end_matches('/')),
        regex::escape(environment)
    )
}

/// Renders a `.sops.yaml` whose creation rules are `rules`, in order (sops
/// uses the first that matches), so that plain `sops` run inside a clef
/// repository picks the recipients clef.yaml grants. One key group is written
/// as `age: r1,r2`; several as `key_groups`. The output reads back with
/// [`creation_for`] to the same settings.
pub fn render_creation_rules(rules: &[CreationRule]) -> String {
    use clef_doc::Item;
    let entry = |k: &str, v: Value| Item::Entry(k.to_owned(), v);
    let age = |g: &KeyGroup| {
        Value::str(
            g.age
                .iter()
                .map(|k| k.recipient.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    };
    // The `kms`/`gcp_kms` stanzas of a group: in a rule, sops's
    // comma-separated `ARN[+ROLE_ARN]` and resource ids; in a key group, the
    // lists of `{arn, role, context}` / `{resource_id}` maps (context only
    // fits there).
    let cloud = |g: &KeyGroup, grouped: bool| -> Vec<Item> {
        let of = |kind: &'static str| g.other.iter().filter(move |(k, _)| k == kind);
        let field = |v: &Value, f: &str| {
            crate::masterkey::stanza_field(v, f)
                .unwrap_or("")
                .to_owned()
        };
        let mut items = Vec::new();
        if of("kms").next().is_some() {
            if grouped {
                let maps = of("kms").map(|(_, v)| v.clone()).collect();
                items.push(entry("kms", Value::List(maps)));
            } else {
                let arns: Vec<String> = of("kms")
                    .map(|(_, v)| match field(v, "role") {
                        r if r.is_empty() => field(v, "arn"),
                        r => format!("{}+{r}", field(v, "arn")),
                    })
                    .collect();
                items.push(entry("kms", Value::str(arns.join(","))));
            }
        }
        if of("gcp_kms").next().is_some() {
            if grouped {
                let maps = of("gcp_kms").map(|(_, v)| v.clone()).collect();
                items.push(entry("gcp_kms", Value::List(maps)));
            } else {
                let ids: Vec<String> = of("gcp_kms")
                    .map(|(_, v)| field(v, "resource_id"))
                    .collect();
                items.push(entry("gcp_kms", Value::str(ids.join(","))));
            }
        }
        items
    };
    let list = rules
        .iter()
        .map(|r| {
            let c = &r.creation;
            let mut b = Branch::new();
            if !r.path_regex.is_empty() {
                b.0.push(entry("path_regex", Value::str(r.path_regex.clone())));
            }
            // a rule form needs no context; a stanza with one goes in a key group
            let has_context = |g: &KeyGroup| {
                g.other
                    .iter()
                    .any(|(_, v)| matches!(v, Value::Map(m) if m.get("context").is_some()))
            };
            match c.groups.as_slice() {
                [g] if !has_context(g) => {
                    if !g.age.is_empty() {
                        b.0.push(entry("age", age(g)));
                    }
                    b.0.extend(cloud(g, false));
                }
                gs => {
                    let groups = gs
                        .iter()
                        .map(|g| {
                            let mut items = Vec::new();
                            if !g.age.is_empty() {
                                items.push(entry("age", age(g)));
                            }
                            items.extend(cloud(g, true));
                            Value::Map(Branch(items))
                        })
                        .collect();
                    b.0.push(entry("key_groups", Value::List(groups)));
                }
            }
            if c.shamir_threshold != 0 {
                b.0.push(entry(
                    "shamir_threshold",
                    Value::Int(c.shamir_threshold as i64),
                ));
            }
            if let Some(rule) = &c.rule {
                b.0.push(entry(rule.field(), Value::str(rule.arg())));
            }
            if c.mac_only_encrypted {
                b.0.push(entry("mac_only_encrypted", Value::Bool(true)));
            }
            Value::Map(b)
        })
        .collect();
    let doc = Branch(vec![
        Item::Comment(clef_doc::tree::secret(
            " Written by clef from clef.yaml (who may read each cell); clef keeps it in sync.",
        )),
        entry("creation_rules", Value::List(list)),
    ]);
    clef_doc::yaml::emit(&[doc], 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_rules_read_back_and_pick_the_first_match() {
        let dev = Creation {
            groups: vec![KeyGroup::of_recipients(&["age1aaa", "age1bbb"])],
            ..Creation::default()
        };
        let prod = Creation {
            groups: vec![
                KeyGroup::of_recipients(&["age1aaa"]),
                KeyGroup::of_recipients(&["age1ccc"]),
            ],
            shamir_threshold: 2,
            rule: Some(CryptRule::EncryptedRegex("^(password|token)$".into())),
            mac_only_encrypted: true,
        };
        let text = render_creation_rules(&[
            CreationRule {
                path_regex: cell_path_regex("secrets", "dev"),
                creation: dev.clone(),
            },
            CreationRule {
                path_regex: cell_path_regex("secrets", "prod.eu"),
                creation: prod.clone(),
            },
        ]);
        let dir = std::env::temp_dir().join(format!("clef-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join(".sops.yaml");
        crate::io::atomic_write(&cfg, text.as_bytes(), false).unwrap();
        let at = |p: &str| creation_for(&cfg, &dir.join(p));
        assert_eq!(at("secrets/api/dev.enc.yaml").unwrap(), dev);
        assert_eq!(at("secrets/db/prod.eu.enc.json").unwrap(), prod);
        assert!(matches!(
            at("secrets/db/prodXeu.enc.json"),
            Err(ConfigError::NoMatch(_))
        ));
        assert!(matches!(at("other.yaml"), Err(ConfigError::NoMatch(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cloud_kms_keys_render_in_sops_forms_and_read_back() {
        use crate::masterkey::stanza;
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        let mut rule_form = KeyGroup::of_recipients(&["age1glass"]);
        rule_form.other = vec![
            ("kms".to_owned(), stanza(&[("arn", arn)])),
            (
                "gcp_kms".to_owned(),
                stanza(&[(
                    "resource_id",
                    "projects/p/locations/l/keyRings/r/cryptoKeys/k",
                )]),
            ),
        ];
        // an encryption context only fits sops's key-group form
        let mut with_context = stanza(&[("arn", arn)]);
        if let Value::Map(m) = &mut with_context {
            let mut ctx = Branch::new();
            ctx.0
                .push(clef_doc::Item::Entry("app".into(), Value::str("api")));
            m.0.push(clef_doc::Item::Entry("context".into(), Value::Map(ctx)));
        }
        let grouped = KeyGroup {
            other: vec![("kms".to_owned(), with_context)],
            ..KeyGroup::default()
        };
        let only_kms = Creation {
            groups: vec![rule_form],
            ..Creation::default()
        };
        let ctx = Creation {
            groups: vec![grouped],
            ..Creation::default()
        };
        let text = render_creation_rules(&[
            CreationRule {
                path_regex: "^a$".into(),
                creation: only_kms.clone(),
            },
            CreationRule {
                path_regex: "^b$".into(),
                creation: ctx.clone(),
            },
        ]);
        assert!(text.contains(&format!("kms: {arn}")), "{text}");
        assert!(text.contains("key_groups:"), "{text}");
        let dir = std::env::temp_dir().join(format!("clef-render-kms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join(".sops.yaml");
        crate::io::atomic_write(&cfg, text.as_bytes(), false).unwrap();
        assert_eq!(creation_for(&cfg, &dir.join("a")).unwrap(), only_kms);
        assert_eq!(creation_for(&cfg, &dir.join("b")).unwrap(), ctx);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
