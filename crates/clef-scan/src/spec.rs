// The rule schema, shared by the crate (`include!`d by `rules.rs`) and by
// `build.rs` (which compiles `rules/builtin.toml` into statics). Only `serde`
// may be used here: `build.rs` has nothing else.

/// One rule as written in TOML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier, e.g. `github-pat`.
    pub id: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// Literal keywords (matched ASCII-case-insensitively); the regex runs only
    /// near a keyword hit. At least one is required.
    pub keywords: Vec<String>,
    /// Rust regex (bytes, ASCII classes).
    pub regex: String,
    /// Capture group holding the secret (default 1; 0 = whole match).
    #[serde(default = "default_group")]
    pub group: usize,
    /// Minimum Shannon entropy (bits/char) of the secret.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// The match may span several lines (PEM blocks).
    #[serde(default)]
    pub multiline: bool,
    /// Lines that must produce a finding of this rule.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Lines that must not produce a finding of this rule.
    #[serde(default)]
    pub negatives: Vec<String>,
}

fn default_group() -> usize {
    1
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuleFile {
    #[serde(default)]
    pub(crate) rules: Vec<RuleSpec>,
}
