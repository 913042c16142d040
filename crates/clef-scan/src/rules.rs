//! Rule definitions: the embedded catalogue (`rules/builtin.toml`) and the
//! user's `.clef/scan.toml`.

use std::path::Path;
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::error::ScanError;

/// The built-in catalogue, embedded at compile time.
pub const BUILTIN_RULES: &str = include_str!("../rules/builtin.toml");

/// Rule id of the generic assignment/entropy detector.
pub const GENERIC_RULE: &str = "generic-secret";
/// Rule id of the generic password-assignment detector.
pub const GENERIC_PASSWORD_RULE: &str = "generic-password";
/// Rule id for a plaintext value inside a SOPS-encrypted file.
pub const SOPS_PLAINTEXT_RULE: &str = "sops-plaintext-value";
/// Rule id for a `*.enc.*` file that has no SOPS metadata at all.
pub const SOPS_UNENCRYPTED_RULE: &str = "sops-unencrypted-file";

// `RuleSpec` and `RuleFile` live in their own file so that `build.rs` parses
// the built-in catalogue with the very same definition.
include!("spec.rs");

/// `.clef/scan.toml`: extra rules, disabled rules and allowlists.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rule ids to turn off (built-in or generic ones).
    #[serde(default)]
    pub disable: Vec<String>,
    /// Additional rules (same schema as the built-in catalogue). A rule with the
    /// id of a built-in rule replaces it.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Allowlist applied to every rule.
    #[serde(default)]
    pub allowlist: Allowlist,
}

/// Values and paths that are never findings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    /// Regexes matched against the secret value.
    #[serde(default)]
    pub regexes: Vec<String>,
    /// Gitignore-style globs of paths never scanned.
    #[serde(default)]
    pub paths: Vec<String>,
}

impl Config {
    /// Parse a config file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ScanError> {
        toml::from_str(text).map_err(|e| ScanError::Config {
            path: origin.to_path_buf(),
            message: e.message().to_string(),
        })
    }

    /// Read a config file.
    pub fn load(path: &Path) -> Result<Config, ScanError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }
}

/// A compiled rule. The regex is compiled on first use (most rules never see
/// a keyword hit in a given run), which keeps start-up under a few ms.
#[derive(Debug)]
pub struct Rule {
    /// The rule as written.
    pub spec: RuleSpec,
    regex: OnceLock<Result<Regex, String>>,
}

impl Rule {
    /// Wrap a spec; the regex is not compiled yet.
    pub fn new(spec: RuleSpec) -> Rule {
        Rule {
            spec,
            regex: OnceLock::new(),
        }
    }

    /// The compiled regex (compiled now if needed).
    pub fn regex(&self) -> Result<&Regex, ScanError> {
        self.regex
            .get_or_init(|| compile(&self.spec.regex))
            .as_ref()
            .map_err(|message| ScanError::Rule {
                id: self.spec.id.clone(),
                message: message.clone(),
            })
    }
}

/// Compile a rule regex: bytes, ASCII classes, bounded size.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(8 << 20)
        .dfa_size_limit(4 << 20)
        .build()
        .map_err(|e| e.to_string())
}

/// A built-in rule as compiled into the binary by `build.rs`.
pub(crate) struct StaticRule {
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    regex: &'static str,
    group: usize,
    entropy: Option<f64>,
    multiline: bool,
    examples: &'static [&'static str],
    negatives: &'static [&'static str],
}

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The built-in catalogue. `build.rs` parsed `rules/builtin.toml` at compile
/// time, so this costs a few allocations, not a TOML parse.
pub fn builtin_specs() -> Result<Vec<RuleSpec>, ScanError> {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    Ok(BUILTIN
        .iter()
        .map(|r| RuleSpec {
            id: r.id.into(),
            description: r.description.into(),
            keywords: owned(r.keywords),
            regex: r.regex.into(),
            group: r.group,
            entropy: r.entropy,
            multiline: r.multiline,
            examples: owned(r.examples),
            negatives: owned(r.negatives),
        })
        .collect())
}

/// Parse a rule file (the built-in catalogue's format) at run time.
pub fn parse_rule_file(text: &str, origin: &Path) -> Result<Vec<RuleSpec>, ScanError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| ScanError::Config {
        path: origin.to_path_buf(),
        message: e.message().to_string(),
    })?;
    Ok(file.rules)
}

/// Check a spec's shape (keywords present, lowercase, regex compiles, group
/// exists). Used for user rules at load time and for the catalogue in tests.
pub fn validate(spec: &RuleSpec) -> Result<(), ScanError> {
    let err = |message: String| ScanError::Rule {
        id: spec.id.clone(),
        message,
    };
    if spec.id.is_empty() {
        return Err(err("empty id".into()));
    }
    if spec.keywords.is_empty() || spec.keywords.iter().any(String::is_empty) {
        return Err(err("every rule needs at least one non-empty keyword".into()));
    }
    let re = compile(&spec.regex).map_err(err)?;
    if spec.group >= re.captures_len() {
        return Err(err(format!(
            "group {} does not exist (the regex has {})",
            spec.group,
            re.captures_len() - 1
        )));
    }
    Ok(())
}
