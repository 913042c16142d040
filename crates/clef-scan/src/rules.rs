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
    pattern: Pattern,
    /// Bytes every match contains that a keyword hit does not already
    /// bring ([`required_bytes`]), found on first use.
    needs: OnceLock<Box<[u8]>>,
    /// The regex is a vendor name followed by [`CONTEXT_TAIL`]
    /// ([`contextual`]): a keyword hit starts a match only where
    /// [`Rule::may_start`] says so.
    contextual: bool,
}

/// What follows the vendor names in the regex of a contextual rule
/// (`DATADOG_API_KEY = …`): a name that holds one of [`CONTEXT_NEEDLES`]
/// within 30 bytes of the vendor's name, closed by a quote, a bracket or
/// both, an optional type, an operator or a blank.
const CONTEXT_TAIL: &str = r#"[0-9a-z_.-]{0,30}(?:key|token|secret|password|pat|auth|sid|credential)s?[0-9a-z_.-]{0,10}["'`]?\]?(?:\s*:?\s*(?:string|str|&str|&'static str|\[\]byte)\b)?(?:\s*(?:=|:=|::=|:::=|\?=|\.=|\+=|\|\|=|:|=>|,|>)|[ \t])"#;

/// The names a contextual rule's name must hold after the vendor's.
const CONTEXT_NEEDLES: [&[u8]; 8] = [
    b"key",
    b"token",
    b"secret",
    b"password",
    b"pat",
    b"auth",
    b"sid",
    b"credential",
];

/// A byte of the rule and generic regexes' name class: `[a-z0-9_.-]` under
/// `(?i)`.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// A byte of the regexes' `\s` (ASCII: they are compiled without Unicode).
pub(crate) fn is_regex_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Past what may close a name at `at` in the rule and generic regexes
/// (`["'`]?\]?`): a quote, a bracket, or both (`ENV['X_TOKEN']`).
pub(crate) fn past_name_close(bytes: &[u8], mut at: usize) -> usize {
    if matches!(bytes.get(at), Some(b'"' | b'\'' | b'`')) {
        at += 1;
    }
    if bytes.get(at) == Some(&b']') {
        at += 1;
    }
    at
}

/// The length of the first of `words` that starts at `at` in `bytes`, in
/// any ASCII case.
pub(crate) fn word_at(bytes: &[u8], at: usize, words: &[&[u8]]) -> Option<usize> {
    words
        .iter()
        .find(|w| {
            bytes
                .get(at..at + w.len())
                .is_some_and(|b| b.eq_ignore_ascii_case(w))
        })
        .map(|w| w.len())
}

/// Whether `spec`'s regex is `(?i)(?:v1|v2|…)` followed by [`CONTEXT_TAIL`],
/// with its keywords exactly the vendor names `v1 v2 …`, each made of
/// `[a-z0-9_-]` and overlapping no later copy of itself. Then every match
/// starts at a keyword hit: a hit is reported at every occurrence of a
/// keyword, except one inside an earlier occurrence of the same keyword,
/// which such a name cannot have.
fn contextual(spec: &RuleSpec) -> bool {
    let Some((vendors, tail)) = spec
        .regex
        .strip_prefix("(?i)(?:")
        .and_then(|r| r.split_once(')'))
    else {
        return false;
    };
    let mut vendors: Vec<&str> = vendors.split('|').collect();
    let plain = |v: &str| {
        !v.is_empty()
            && v.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
            && (1..v.len()).all(|k| !v.ends_with(&v[..k]))
    };
    let mut keywords: Vec<String> = spec
        .keywords
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    vendors.sort_unstable();
    vendors.dedup();
    keywords.sort_unstable();
    keywords.dedup();
    !spec.multiline
        && tail.starts_with(CONTEXT_TAIL)
        && vendors.iter().all(|v| plain(v))
        && keywords == vendors
}

impl Rule {
    /// Wrap a spec; the regex is not compiled yet.
    pub fn new(spec: RuleSpec) -> Rule {
        let pattern = Pattern::new(spec.regex.clone(), RULE_LARGE_BOUND);
        Rule {
            contextual: contextual(&spec),
            spec,
            pattern,
            needs: OnceLock::new(),
        }
    }

    /// False when no match of the regex starts at the keyword hit `hit`
    /// in `bytes`. For a contextual rule (a vendor name, then a name that
    /// holds `key`, `token`, `secret`, `password`, `pat`, `auth`, `sid` or
    /// `credential`, then an operator): the name run on from the vendor's
    /// (`[0-9a-z_.-]`, any case) must hold one of those words starting
    /// within 30 bytes of it, and after the run an optional quote and
    /// bracket must lead to a blank or an operator (the
    /// name of a match may stop inside the run only before a glued `str` or
    /// the `.` of `.=`, and then the run ends in the same way). Most hits of
    /// such rules are a vendor's name in prose, a URL or a path, and a rule
    /// none of whose hits pass is never compiled. Other rules: always true.
    pub fn may_start(&self, bytes: &[u8], hit: std::ops::Range<usize>) -> bool {
        if !self.contextual {
            return true;
        }
        let run_end = hit.end
            + bytes[hit.end..]
                .iter()
                .take_while(|&&b| is_name_byte(b))
                .count();
        let needle_at = |s: usize| word_at(&bytes[..run_end], s, &CONTEXT_NEEDLES).is_some();
        if !(hit.end..=(hit.end + 30).min(run_end)).any(needle_at) {
            return false;
        }
        let closed = past_name_close(bytes, run_end);
        let mut q = closed;
        q += bytes[q.min(bytes.len())..]
            .iter()
            .take_while(|&&b| is_regex_space(b))
            .count();
        // a blank is an operator too (`#define TWILIO_API_KEY "…"`), before
        // what may start a value: not `{`, `(` or `<` (`struct GithubToken {`)
        let value_start = |b: u8| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'"' | b'\'' | b'`' | b'\\' | b'/' | b'+' | b'_' | b'-')
        };
        (q > closed && bytes.get(q).copied().is_some_and(value_start))
            || matches!(
                bytes.get(q),
                Some(
                    b'=' | b':'
                        | b'?'
                        | b'.'
                        | b'+'
                        | b','
                        | b'>'
                        | b'&'
                        | b'['
                        | b'|'
                        | b's'
                        | b'S'
                )
            )
    }

    /// The compiled regex (compiled now if needed).
    pub fn regex(&self) -> Result<&Regex, ScanError> {
        self.pattern.regex().map_err(|message| ScanError::Rule {
            id: self.spec.id.clone(),
            message,
        })
    }

    /// Compile now what a search compiles on first use (the relaxed form, or
    /// the regex itself when there is none); an error is kept for the search
    /// to report.
    pub fn prepare(&self) {
        self.pattern.prepare();
    }

    /// False when `hay` lacks a byte that every match of the regex contains
    /// (a window of a URL rule without `@`, say): it has no match.
    pub fn may_match(&self, hay: &[u8]) -> bool {
        let needs = self.needs.get_or_init(|| {
            // a byte that is no letter and in every keyword is in every
            // window (windows hold a keyword hit)
            let everywhere = |b: u8| {
                !b.is_ascii_alphabetic()
                    && self.spec.keywords.iter().all(|k| k.as_bytes().contains(&b))
            };
            let required = self.pattern.required();
            required
                .iter()
                .copied()
                .filter(|&b| !everywhere(b))
                .collect()
        });
        needs.iter().all(|&b| memchr::memchr(b, hay).is_some())
    }

    /// Calls `f` on every match of the rule's regex in `hay`, in order,
    /// exactly as `self.regex()?.captures_iter(hay)` gives them
    /// ([`Pattern::for_each_captures`]).
    pub fn for_each_match<'h>(
        &self,
        hay: &'h [u8],
        f: impl FnMut(&regex::bytes::Captures<'h>),
    ) -> Result<(), ScanError> {
        if !self.may_match(hay) {
            return Ok(());
        }
        self.pattern
            .for_each_captures(hay, f)
            .map_err(|message| ScanError::Rule {
                id: self.spec.id.clone(),
                message,
            })
    }
}

/// Rule regexes: repetitions of one byte bounded above this are searched
/// without their bound ([`relax`]): the PEM rules' body of `{64,16384}?`
/// bytes costs tens of ms to compile, one NFA state per allowed repetition.
const RULE_LARGE_BOUND: u32 = 1000;

/// A regex compiled on first use, searched through its relaxed form
/// ([`relax`]: large repetition bounds dropped) where it has one. The
/// relaxed form compiles faster and its lazy DFA needs far fewer states
/// (no counting); every match it finds that is within the smallest dropped
/// bound is the regex's own match, and when one is not, the haystack is
/// searched again with the regex itself. The results are always the
/// regex's own.
#[derive(Debug)]
pub struct Pattern {
    source: String,
    above: u32,
    regex: OnceLock<Result<Regex, String>>,
    parsed: OnceLock<(Option<Relaxed>, Box<[u8]>)>,
}

/// A regex with its large repetition bounds dropped ([`relax`]).
#[derive(Debug)]
struct Relaxed {
    regex: Regex,
    /// The smallest bound dropped: a match no longer than this is a match
    /// of the regex itself.
    bound: usize,
}

impl Pattern {
    /// `source`, whose repetitions of one byte bounded above `above` are
    /// relaxed. Nothing is compiled yet.
    pub fn new(source: String, above: u32) -> Pattern {
        Pattern {
            source,
            above,
            regex: OnceLock::new(),
            parsed: OnceLock::new(),
        }
    }

    /// The regex itself (compiled now if needed).
    pub fn regex(&self) -> Result<&Regex, String> {
        self.regex
            .get_or_init(|| compile(&self.source))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Compile now what a search needs first ([`Rule::prepare`]).
    pub fn prepare(&self) {
        if self.relaxed().is_none() {
            let _ = self.regex();
        }
    }

    fn relaxed(&self) -> Option<&Relaxed> {
        self.parsed().0.as_ref()
    }

    /// The bytes every match contains ([`required_bytes`]; none when the
    /// pattern does not parse).
    fn required(&self) -> &[u8] {
        &self.parsed().1
    }

    /// What one parse of the pattern gives: its relaxed form, the bytes
    /// every match contains.
    fn parsed(&self) -> &(Option<Relaxed>, Box<[u8]>) {
        self.parsed.get_or_init(|| {
            let Some(hir) = parse_hir(&self.source) else {
                return (None, Box::default());
            };
            let required = required_bytes(&hir).into();
            let relaxed = relax_hir(&hir, self.above).and_then(|(pattern, bound)| {
                let regex = compile(&pattern).ok()?;
                // the same groups, so group numbers name the same ones
                let groups = hir.properties().explicit_captures_len() + 1;
                (regex.captures_len() == groups).then_some(Relaxed { regex, bound })
            });
            (relaxed, required)
        })
    }

    /// What `search` gives with the relaxed regex if `fits` says all its
    /// matches are within the bound (then they are the regex's own, see
    /// [`relax`]); otherwise what it gives with the regex itself.
    fn relaxed_or_exact<T>(
        &self,
        search: impl Fn(&Regex) -> T,
        fits: impl Fn(&T, usize) -> bool,
    ) -> Result<T, String> {
        if let Some(r) = self.relaxed() {
            let got = search(&r.regex);
            if fits(&got, r.bound) {
                return Ok(got);
            }
        }
        Ok(search(self.regex()?))
    }

    /// Calls `f` on every match in `hay`, in order, exactly as
    /// `self.regex()?.captures_iter(hay)` gives them.
    pub fn for_each_captures<'h>(
        &self,
        hay: &'h [u8],
        f: impl FnMut(&regex::bytes::Captures<'h>),
    ) -> Result<(), String> {
        let all = self.relaxed_or_exact(
            |re| re.captures_iter(hay).collect::<Vec<_>>(),
            |all, bound| {
                all.iter()
                    .all(|c| c.get(0).is_none_or(|m| m.len() <= bound))
            },
        )?;
        all.iter().for_each(f);
        Ok(())
    }

    /// Every match in `hay`, in order, exactly as
    /// `self.regex()?.find_iter(hay)` gives them.
    pub fn find_all<'h>(&self, hay: &'h [u8]) -> Result<Vec<regex::bytes::Match<'h>>, String> {
        self.relaxed_or_exact(
            |re| re.find_iter(hay).collect::<Vec<_>>(),
            |all, bound| all.iter().all(|m| m.len() <= bound),
        )
    }

    /// The first match in `hay` (the leftmost, as `find_all`'s first).
    pub fn find_first<'h>(&self, hay: &'h [u8]) -> Result<Option<regex::bytes::Match<'h>>, String> {
        self.relaxed_or_exact(
            |re| re.find(hay),
            |m, bound| m.is_none_or(|m| m.len() <= bound),
        )
    }
}

/// The bytes that every match of `hir` contains, in increasing order: each
/// literal byte of a concatenation, the bytes common to all branches of an
/// alternation, what a repetition of at least one contains. Case-insensitive
/// letters are classes of two bytes, so they are never required.
fn required_bytes(hir: &regex_syntax::hir::Hir) -> Vec<u8> {
    use regex_syntax::hir::{Class, HirKind};
    type Set = [bool; 256];
    fn walk(h: &regex_syntax::hir::Hir) -> Set {
        let mut set = [false; 256];
        match h.kind() {
            HirKind::Literal(l) => l.0.iter().for_each(|&b| set[usize::from(b)] = true),
            HirKind::Class(Class::Bytes(c)) => {
                if let [r] = c.ranges()
                    && r.start() == r.end()
                {
                    set[usize::from(r.start())] = true;
                }
            }
            HirKind::Class(Class::Unicode(c)) => {
                if let [r] = c.ranges()
                    && r.start() == r.end()
                    && let Ok(b) = u8::try_from(u32::from(r.start()))
                    && b.is_ascii()
                {
                    set[usize::from(b)] = true;
                }
            }
            HirKind::Repetition(r) if r.min > 0 => set = walk(&r.sub),
            HirKind::Capture(c) => set = walk(&c.sub),
            HirKind::Concat(subs) => {
                for s in subs {
                    for (a, b) in set.iter_mut().zip(walk(s)) {
                        *a |= b;
                    }
                }
            }
            HirKind::Alternation(subs) => {
                set = [true; 256];
                for s in subs {
                    for (a, b) in set.iter_mut().zip(walk(s)) {
                        *a &= b;
                    }
                }
            }
            HirKind::Empty | HirKind::Look(_) | HirKind::Repetition(_) => {}
        }
        set
    }
    let set = walk(hir);
    (0..=255u8).filter(|&b| set[usize::from(b)]).collect()
}

fn parse_hir(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

/// `pattern` with the upper bound of every repetition of one byte (a class
/// or a literal byte: each repetition is exactly one byte long) that is above
/// `above` dropped (`x{64,16384}?` becomes `x{64,}?`), and the
/// smallest bound dropped; `None` when there is none.
///
/// Why a relaxed match no longer than that bound is the rule regex's match:
/// every match of the rule regex is a match of the relaxed one, with the
/// same priority order among them (dropping a bound adds alternatives, it
/// does not reorder the others), so at the leftmost start where the rule
/// regex matches, the relaxed one matches too, and at no earlier start.
/// The relaxed regex's preferred match there, if its repetitions stay
/// within their bounds, is also the rule regex's preferred one; and a
/// repetition of one byte cannot be longer than the match holding it.
pub fn relax(pattern: &str, above: u32) -> Option<(String, usize)> {
    relax_hir(&parse_hir(pattern)?, above)
}

fn relax_hir(hir: &regex_syntax::hir::Hir, above: u32) -> Option<(String, usize)> {
    use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};
    fn walk(h: &Hir, above: u32, bound: &mut Option<u32>) -> Hir {
        match h.kind() {
            HirKind::Repetition(r) => {
                let one_byte = r.sub.properties().minimum_len() == Some(1)
                    && r.sub.properties().maximum_len() == Some(1);
                let max = match r.max {
                    Some(m) if one_byte && m > above && m >= r.min => {
                        *bound = Some(bound.map_or(m, |b| b.min(m)));
                        None
                    }
                    other => other,
                };
                Hir::repetition(Repetition {
                    min: r.min,
                    max,
                    greedy: r.greedy,
                    sub: Box::new(walk(&r.sub, above, bound)),
                })
            }
            HirKind::Capture(c) => Hir::capture(Capture {
                index: c.index,
                name: c.name.clone(),
                sub: Box::new(walk(&c.sub, above, bound)),
            }),
            HirKind::Concat(v) => Hir::concat(v.iter().map(|x| walk(x, above, bound)).collect()),
            HirKind::Alternation(v) => {
                Hir::alternation(v.iter().map(|x| walk(x, above, bound)).collect())
            }
            _ => h.clone(),
        }
    }
    let mut bound = None;
    let relaxed = walk(hir, above, &mut bound);
    Some((relaxed.to_string(), usize::try_from(bound?).ok()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn required(pattern: &str) -> Vec<u8> {
        required_bytes(&parse_hir(pattern).expect("parses"))
    }

    #[test]
    fn required_bytes_are_those_every_match_contains() {
        assert_eq!(required("a(?:b|c)d"), b"ad");
        assert_eq!(required("x?y"), b"y");
        assert_eq!(required("(?i)key@"), b"@");
        assert_eq!(required("a|b"), b"");
        assert_eq!(required("(?:@x)+"), b"@x");
        assert_eq!(required("(?:@){0,3}z"), b"z");
        assert_eq!(required("(?:a@|@b)"), b"@");
        assert_eq!(required("[@]"), b"@");
        assert_eq!(required(r"\bq(x)\b"), b"qx");
        assert_eq!(required("[a-z]+"), b"");
    }

    /// A window without `@` is not searched for the URL rule; every
    /// built-in rule's examples hold the bytes it requires, and some rule
    /// requires a byte its keywords do not bring.
    #[test]
    fn rules_skip_windows_that_lack_a_required_byte() {
        let specs = builtin_specs().expect("rules");
        let url = specs
            .iter()
            .find(|s| s.id == "url-basic-auth")
            .expect("url rule");
        let rule = Rule::new(url.clone());
        assert!(!rule.may_match(b"see https://docs.example.com:443/path for details"));
        assert!(rule.may_match(b"https://u:TqJSB1h1Y17A15MqLqIQ@git.example-corp.io"));
        assert_eq!(&**rule.needs.get().expect("computed"), b".@");
        let mut skipping = 0;
        for spec in &specs {
            let rule = Rule::new(spec.clone());
            for ex in &spec.examples {
                assert!(rule.may_match(ex.as_bytes()), "{}: {ex}", spec.id);
            }
            skipping += usize::from(!rule.needs.get().is_none_or(|n| n.is_empty()));
        }
        assert!(skipping > 0, "no rule requires a byte beyond its keywords");
    }

    type Found = Vec<Vec<Option<(usize, usize)>>>;

    /// Every match with every group's span, as the rule's own regex finds
    /// them and as `for_each_match` reports them.
    fn both(rule: &Rule, hay: &[u8]) -> (Found, Found) {
        let spans = |c: &regex::bytes::Captures<'_>| {
            c.iter()
                .map(|m| m.map(|m| (m.start(), m.end())))
                .collect::<Vec<_>>()
        };
        let exact: Found = rule
            .regex()
            .expect("compiles")
            .captures_iter(hay)
            .map(|c| spans(&c))
            .collect();
        let mut got = Found::new();
        rule.for_each_match(hay, |c| got.push(spans(c)))
            .expect("compiles");
        (exact, got)
    }

    fn pem(kind: &str, body: usize, fill: u8) -> String {
        let line: String = (0..body)
            .map(|i| {
                if i % 65 == 64 {
                    '\n'
                } else {
                    char::from(fill + (i % 26) as u8)
                }
            })
            .collect();
        format!("-----BEGIN {kind}-----\n{line}\n-----END {kind}-----\n")
    }

    #[test]
    fn only_large_bounds_on_one_byte_are_relaxed() {
        assert_eq!(
            relax("(a[0-9]{64,16384}?b)", 1000).map(|(_, b)| b),
            Some(16384)
        );
        assert_eq!(
            relax("x{2,5000}y{1,2000}", 1000).map(|(_, b)| b),
            Some(2000)
        );
        assert!(relax("[0-9A-Za-z]{40}", 1000).is_none());
        assert!(relax("[a-z]{0,1000}", 1000).is_none());
        // a repeated group is longer than one byte: not relaxed
        assert!(relax("(?:ab){1,5000}", 1000).is_none());
        let relaxed: Vec<String> = builtin_specs()
            .expect("rules")
            .into_iter()
            .filter(|s| relax(&s.regex, RULE_LARGE_BOUND).is_some())
            .map(|s| s.id)
            .collect();
        // the PEM private key rules, and no other
        assert!(relaxed.len() >= 8, "{relaxed:?}");
        assert!(
            relaxed
                .iter()
                .all(|id| id.contains("private-key") || id.contains("pgp")),
            "{relaxed:?}"
        );
    }

    #[test]
    fn relaxed_rules_find_exactly_what_their_regex_finds() {
        let specs: Vec<RuleSpec> = builtin_specs()
            .expect("rules")
            .into_iter()
            .filter(|s| relax(&s.regex, RULE_LARGE_BOUND).is_some())
            .collect();
        assert!(!specs.is_empty());
        for spec in specs {
            let id = spec.id.clone();
            let kinds: Vec<String> = spec
                .keywords
                .iter()
                .filter_map(|k| {
                    let k = k.to_ascii_uppercase();
                    let k = k.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
                    Some(k.to_string())
                })
                .chain(["RSA PRIVATE KEY".to_string(), "PRIVATE KEY".to_string()])
                .collect();
            let mut inputs: Vec<String> = spec
                .examples
                .iter()
                .chain(&spec.negatives)
                .cloned()
                .collect();
            for kind in &kinds {
                // within the bound, at it, just past it (a relaxed match is
                // then too long and the rule's own regex decides), far past
                for body in [10, 100, 3_000, 16_300, 16_384, 16_385, 16_500, 19_000] {
                    inputs.push(pem(kind, body, b'A'));
                    // a second block after a long one and inside it
                    inputs.push(format!("{}{}", pem(kind, body, b'a'), pem(kind, 200, b'A')));
                    let long = pem(kind, body, b'a');
                    let cut = long.len() / 2;
                    inputs.push(format!(
                        "{}{}{}",
                        &long[..cut],
                        pem(kind, 300, b'A'),
                        &long[cut..]
                    ));
                }
            }
            // PuTTY key files, their header `{0,2000}?` bytes from the
            // private lines or more
            for filler in [0, 500, 1_950, 1_990, 2_000, 2_010, 2_500] {
                let header = "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\n";
                let body = "AAAAB3NzaC1yc2EAAAABJQAAAQEAhXkq9v2ZmNpT4wBdR7cLeUsYoFjK3\nQm8xVtHaE5WzG1rCiO0Dn6fPbJy4lIsgZuAeT7\n";
                let pad: String = (0..filler)
                    .map(|i| if i % 70 == 69 { '\n' } else { 'q' })
                    .collect();
                let key = format!("{header}{pad}Private-Lines: 14\n{body}");
                inputs.push(key.clone());
                inputs.push(format!("{key}\n{header}Private-Lines: 2\n{body}"));
            }
            // the same blocks as JSON strings (`\n` escapes)
            let escaped: Vec<String> = inputs.iter().map(|i| i.replace('\n', "\\n")).collect();
            inputs.extend(escaped);
            let rule = Rule::new(spec);
            let mut matched = 0;
            for hay in &inputs {
                let (exact, got) = both(&rule, hay.as_bytes());
                assert_eq!(got, exact, "{id}: input of {} bytes", hay.len());
                matched += exact.len();
            }
            assert!(matched >= 10, "{id}: only {matched} matches");
        }
    }
}
