//! The detection engine: one Aho–Corasick pass per buffer over every rule's
//! keywords, per-rule regexes run only on windows around keyword hits, the
//! generic assignment/entropy detector, SOPS awareness and suppression.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use regex::bytes::Regex;

use crate::baseline::Baseline;
use crate::checksum;
use crate::entropy::{self, Charset};
use crate::error::ScanError;
use crate::finding::{Finding, Secret, fingerprint};
use crate::keywords::Keywords;
use crate::rules::{
    self, Config, GENERIC_PASSWORD_RULE, GENERIC_RULE, Rule, RuleSpec, SOPS_PLAINTEXT_RULE,
    SOPS_UNENCRYPTED_RULE,
};
use crate::sops;

/// Bytes inspected to tell binary from text.
const BINARY_PROBE: usize = 8192;
/// Regex windows on very long lines (minified code) are cut to this much
/// around the keyword hit.
const WINDOW_BEFORE: usize = 512;
const WINDOW_AFTER: usize = 2048;
/// Multi-line rules (PEM blocks) look this far past the keyword.
const MULTILINE_AFTER: usize = 20_000;
/// The generic detector ignores lines longer than this (minified code, data).
const GENERIC_MAX_LINE: usize = 4096;

/// What a keyword hit enables.
#[derive(Debug, Clone, Copy)]
enum Target {
    Rule(u32),
    Generic,
    Export,
    Sops,
}

/// Why a buffer was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Binary: more than 1 in 20 of the first 8 KiB are control bytes
    /// (a stray NUL does not make text binary), and it is not UTF-16.
    Binary,
    /// Matched `.clefignore` or the config's allowlist paths.
    Ignored,
    /// Larger than the size limit.
    TooLarge(u64),
}

/// Result of scanning one buffer.
#[derive(Debug, Default)]
pub struct BlobScan {
    /// Findings after suppression, ordered by position.
    pub findings: Vec<Finding>,
    /// Set when the buffer was not scanned.
    pub skipped: Option<Skip>,
    /// The buffer is not valid UTF-8 (it was scanned as bytes).
    pub invalid_utf8: bool,
    /// Findings removed by the baseline.
    pub baselined: usize,
}

/// Options for [`Scanner::new`].
#[derive(Debug, Clone)]
pub struct ScannerOptions {
    /// Repository or project root: `.clef/scan.toml` and `.clefignore` are read
    /// from here, and paths are reported relative to it.
    pub root: PathBuf,
    /// Use this config file instead of `<root>/.clef/scan.toml`.
    pub config: Option<PathBuf>,
    /// Fingerprints in this baseline file are not reported.
    pub baseline: Option<PathBuf>,
    /// Files and blobs larger than this are skipped (bytes).
    pub max_file_size: u64,
    /// Turn the generic assignment/entropy detector off.
    pub no_generic: bool,
    /// Key of the fingerprints when there is no baseline (hex; default: a
    /// fresh random salt, or the baseline's own).
    pub salt: Option<String>,
}

impl Default for ScannerOptions {
    fn default() -> Self {
        ScannerOptions {
            root: PathBuf::from("."),
            config: None,
            baseline: None,
            max_file_size: 64 << 20,
            no_generic: false,
            salt: None,
        }
    }
}

/// A compiled set of rules plus suppression state. Cheap to share between
/// threads (`&Scanner` is `Sync`).
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<Rule>,
    keywords: Keywords,
    targets: Vec<Vec<Target>>,
    generic: bool,
    generic_password: bool,
    sops_plaintext: bool,
    sops_unencrypted: bool,
    ignore: Gitignore,
    allow: Vec<Regex>,
    baseline: HashSet<String>,
    salt: String,
    max_file_size: u64,
    shard: Option<crate::shard::Shard>,
    plain_keywords: bool,
}

/// Keywords that send a line to the generic detector. `key` only counts
/// next to a separator or an assignment, not inside `keys`, `key)` or
/// `monkey`: bare `key` is everywhere in code.
pub(crate) const GENERIC_KEYWORDS: &[&str] = &[
    "pass", "pwd", "secret", "token", "_key", "-key", ".key", "key=", "key:", "key\"", "key'",
    "key ", "key`", "apikey", "auth", "cred",
];

impl Scanner {
    /// A scanner with the built-in rules only, no ignore files, no baseline.
    pub fn builtin() -> Result<Scanner, ScanError> {
        Scanner::from_parts(
            rules::builtin_specs()?,
            Config::default(),
            None,
            Baseline {
                salt: crate::baseline::new_salt()?,
                fingerprints: HashSet::new(),
            },
            64 << 20,
            false,
        )
    }

    /// A scanner configured from `opts`: built-in rules, `<root>/.clef/scan.toml`
    /// (or `opts.config`), `<root>/.clefignore` and the baseline.
    pub fn new(opts: &ScannerOptions) -> Result<Scanner, ScanError> {
        let config = match &opts.config {
            Some(p) => Config::load(p)?,
            None => {
                let p = opts.root.join(".clef").join("scan.toml");
                if p.is_file() {
                    Config::load(&p)?
                } else {
                    Config::default()
                }
            }
        };
        let clefignore = opts.root.join(".clefignore");
        let ignore_text = match std::fs::read_to_string(&clefignore) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ScanError::Read {
                    path: clefignore,
                    source,
                });
            }
        };
        let baseline = match (&opts.baseline, &opts.salt) {
            (Some(p), _) => crate::baseline::load(p)?,
            (None, Some(salt)) => Baseline {
                salt: salt.clone(),
                fingerprints: HashSet::new(),
            },
            (None, None) => Baseline {
                salt: crate::baseline::new_salt()?,
                fingerprints: HashSet::new(),
            },
        };
        Scanner::from_parts(
            rules::builtin_specs()?,
            config,
            ignore_text.as_deref().map(|t| (opts.root.as_path(), t)),
            baseline,
            opts.max_file_size,
            opts.no_generic,
        )
    }

    /// Build from explicit parts. `clefignore` is `(root, text of .clefignore)`:
    /// gitignore syntax plus `rule:<id>` lines that disable a rule. The
    /// baseline's salt keys every fingerprint.
    pub fn from_parts(
        builtin: Vec<RuleSpec>,
        config: Config,
        clefignore: Option<(&Path, &str)>,
        baseline: Baseline,
        max_file_size: u64,
        no_generic: bool,
    ) -> Result<Scanner, ScanError> {
        let mut disabled: HashSet<String> = config.disable.iter().cloned().collect();
        let root = clefignore.map_or_else(|| PathBuf::from("."), |(r, _)| r.to_path_buf());
        let mut gi = GitignoreBuilder::new(&root);
        if let Some((_, text)) = clefignore {
            for line in text.lines() {
                let t = line.trim();
                if let Some(id) = t.strip_prefix("rule:") {
                    disabled.insert(id.trim().to_string());
                } else if !t.is_empty() && !t.starts_with('#') {
                    gi.add_line(None, line).map_err(|e| ScanError::Config {
                        path: root.join(".clefignore"),
                        message: e.to_string(),
                    })?;
                }
            }
        }
        for p in &config.allowlist.paths {
            gi.add_line(None, p).map_err(|e| ScanError::Config {
                path: ".clef/scan.toml".into(),
                message: e.to_string(),
            })?;
        }
        let ignore = gi.build().map_err(|e| ScanError::Config {
            path: root.join(".clefignore"),
            message: e.to_string(),
        })?;
        let allow = config
            .allowlist
            .regexes
            .iter()
            .map(|r| {
                rules::compile(r).map_err(|message| ScanError::Config {
                    path: ".clef/scan.toml".into(),
                    message: format!("allowlist regex: {message}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        // user rules replace built-ins of the same id
        let user_ids: HashSet<&str> = config.rules.iter().map(|r| r.id.as_str()).collect();
        for spec in &config.rules {
            rules::validate(spec)?;
        }
        let specs: Vec<RuleSpec> = builtin
            .into_iter()
            .filter(|r| !user_ids.contains(r.id.as_str()))
            .chain(config.rules.iter().cloned())
            .filter(|r| !disabled.contains(&r.id))
            .collect();

        let mut patterns: Vec<String> = Vec::new();
        let mut targets: Vec<Vec<Target>> = Vec::new();
        // each keyword's index in `patterns` (a linear search per keyword
        // was ~0.25 ms of start-up: ~400 keywords)
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut add =
            |kw: &str, t: Target, patterns: &mut Vec<String>, targets: &mut Vec<Vec<Target>>| {
                let kw = kw.to_ascii_lowercase();
                match index.entry(kw) {
                    Entry::Occupied(e) => targets[*e.get()].push(t),
                    Entry::Vacant(e) => {
                        patterns.push(e.key().clone());
                        targets.push(vec![t]);
                        e.insert(patterns.len() - 1);
                    }
                }
            };
        for (i, spec) in specs.iter().enumerate() {
            let idx = u32::try_from(i).map_err(|_| ScanError::Rule {
                id: spec.id.clone(),
                message: "too many rules".into(),
            })?;
            for kw in &spec.keywords {
                add(kw, Target::Rule(idx), &mut patterns, &mut targets);
            }
        }
        let generic = !no_generic && !disabled.contains(GENERIC_RULE);
        let generic_password = !no_generic && !disabled.contains(GENERIC_PASSWORD_RULE);
        if generic || generic_password {
            for kw in GENERIC_KEYWORDS {
                add(kw, Target::Generic, &mut patterns, &mut targets);
            }
            if generic {
                add("export ", Target::Export, &mut patterns, &mut targets);
            }
        }
        add("sops", Target::Sops, &mut patterns, &mut targets);
        let keywords = Keywords::new(&patterns).map_err(|message| ScanError::Rule {
            id: "<keywords>".into(),
            message,
        })?;
        Ok(Scanner {
            rules: specs.into_iter().map(Rule::new).collect(),
            keywords,
            targets,
            generic,
            generic_password,
            sops_plaintext: !disabled.contains(SOPS_PLAINTEXT_RULE),
            sops_unencrypted: !disabled.contains(SOPS_UNENCRYPTED_RULE),
            ignore,
            allow,
            baseline: baseline.fingerprints,
            salt: baseline.salt,
            max_file_size,
            shard: None,
            plain_keywords: false,
        })
    }

    /// Number of keyword rules (excluding the generic and SOPS detectors).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Compile the rules' regexes now, on this thread, until `stop` is set:
    /// a scan compiles each on first use (about 150 ms of CPU for the
    /// catalogue), so a caller with a core to spare while it lists what to
    /// scan (a history) hands that cost to it. Rules not reached are
    /// compiled on first use as before.
    pub fn prepare(&self, stop: &std::sync::atomic::AtomicBool) {
        for r in &self.rules {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            r.prepare();
        }
        generic_anchored().prepare();
    }

    /// Ids and descriptions of every active rule, built-in detectors included.
    pub fn rule_ids(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .rules
            .iter()
            .map(|r| (r.spec.id.clone(), r.spec.description.clone()))
            .collect();
        if self.generic {
            v.push((
                GENERIC_RULE.into(),
                "High-entropy value assigned to a secret-like name".into(),
            ));
        }
        if self.generic_password {
            v.push((
                GENERIC_PASSWORD_RULE.into(),
                "Literal password assigned in code or config".into(),
            ));
        }
        if self.sops_plaintext {
            v.push((
                SOPS_PLAINTEXT_RULE.into(),
                "Plaintext value inside a SOPS-encrypted file".into(),
            ));
        }
        if self.sops_unencrypted {
            v.push((
                SOPS_UNENCRYPTED_RULE.into(),
                "*.enc.* file without SOPS metadata".into(),
            ));
        }
        v
    }

    /// Restricts work-tree and git scans to one shard (`--shard I/N`).
    pub fn with_shard(mut self, shard: Option<crate::shard::Shard>) -> Scanner {
        self.shard = shard;
        self
    }

    /// Finds keywords with the plain, slower search
    /// ([`Keywords::find_all_plain`]) instead of the fast pass: the reference
    /// that tests compare the fast pass's findings with.
    pub fn with_plain_keyword_pass(mut self, plain: bool) -> Scanner {
        self.plain_keywords = plain;
        self
    }

    /// Whether `path` belongs to this scanner's shard (always, unsharded).
    pub fn in_shard(&self, path: &str) -> bool {
        self.shard.is_none_or(|s| s.contains(path))
    }

    /// The salt (hex) that keys the fingerprints of this scanner's findings.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// The size limit for files and blobs.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// True if `path` (relative to the root) is excluded by `.clefignore` or
    /// the allowlist paths.
    pub fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        if self.ignore.is_empty() {
            return false;
        }
        let p = std::path::Path::new(path);
        let rel = p.strip_prefix(self.ignore.path()).unwrap_or(p);
        // `ignore` panics on a rooted path outside its root: such a path (a file
        // named on the command line outside the scan root) has no .clefignore.
        if rel.has_root() {
            return false;
        }
        self.ignore
            .matched_path_or_any_parents(rel, is_dir)
            .is_ignore()
    }

    /// Scan an in-memory buffer (a staged blob, a file, stdin) and return the
    /// findings that survive suppression, with 1-based line/column positions.
    /// `path` is used for reporting, `.clefignore` and SOPS naming rules.
    pub fn scan_blob(&self, path: &str, bytes: &[u8]) -> Vec<Finding> {
        self.scan_blob_detailed(path, bytes).findings
    }

    /// Like [`Scanner::scan_blob`], but also says whether the buffer was skipped
    /// and whether it was valid UTF-8.
    pub fn scan_blob_detailed(&self, path: &str, bytes: &[u8]) -> BlobScan {
        if self.is_ignored(path, false) {
            return BlobScan {
                skipped: Some(Skip::Ignored),
                ..BlobScan::default()
            };
        }
        self.scan_named(path, bytes)
    }

    /// Like [`Scanner::scan_blob_detailed`], for a file the user named on
    /// the command line: the path ignore rules (`.clefignore`, the config's
    /// allowlist paths) choose among what a directory walk finds, so they do
    /// not apply here, as in rg. `rule:` lines, allowlist regexes, inline
    /// markers, the baseline and the size limit still do.
    pub fn scan_named(&self, path: &str, bytes: &[u8]) -> BlobScan {
        let mut out = BlobScan::default();
        if bytes.len() as u64 > self.max_file_size {
            out.skipped = Some(Skip::TooLarge(bytes.len() as u64));
            return out;
        }
        match classify(bytes) {
            Content::Binary => {
                out.skipped = Some(Skip::Binary);
                out
            }
            Content::Utf16 { big_endian } => {
                // decoded once: positions are those of the decoded text
                // (same lines, columns in characters)
                let text = decode_utf16(bytes, big_endian);
                let mut r = self.scan_bytes(path, text.as_bytes());
                r.invalid_utf8 = false;
                r
            }
            Content::Text => self.scan_bytes(path, bytes),
        }
    }

    /// Scan only what `new` adds to `old`, the blob it replaced at the same
    /// path ([`crate::added`]); findings carry their positions in `new`.
    /// Falls back to scanning `new` whole where a part would not be exact: a
    /// binary or UTF-16 blob, a SOPS file (its metadata decides what is a
    /// secret), or a change that rewrote most of the file.
    pub fn scan_added(&self, path: &str, old: &[u8], new: &[u8]) -> BlobScan {
        let whole = self.is_ignored(path, false)
            || new.len() as u64 > self.max_file_size
            || old.len() as u64 > self.max_file_size
            || classify(new) != Content::Text
            || classify(old) != Content::Text
            || sops::is_encrypted_name(path)
            || memchr::memmem::find(new, b"sops").is_some();
        let added = if whole {
            None
        } else {
            crate::added::Added::diff(old, new)
        };
        let Some(added) = added else {
            return self.scan_blob_detailed(path, new);
        };
        if added.buf.is_empty() {
            return BlobScan::default();
        }
        let mut r = self.scan_bytes(path, &added.buf);
        r.findings.retain_mut(|f| added.place(f));
        // judged on the whole blob, as a work-tree scan judges it: the
        // `#[cfg(test)]` line is seldom among the added lines
        for f in &mut r.findings {
            if f.fixture.is_none() {
                f.fixture = crate::finding::fixture_context(path, new, f.offset);
            }
        }
        r
    }

    /// Scans bytes that are text (UTF-8, or bytes with stray NULs).
    fn scan_bytes(&self, path: &str, bytes: &[u8]) -> BlobScan {
        // ASCII (most sources) is valid UTF-8 for half the cost of a full
        // check; the text itself is needed only for SOPS analysis below
        let mut out = BlobScan {
            invalid_utf8: !bytes.is_ascii() && std::str::from_utf8(bytes).is_err(),
            ..BlobScan::default()
        };
        // this thread's buffers, empty (taken, so a nested scan would start
        // with its own)
        let mut bufs = SCAN_BUFS.with_borrow_mut(std::mem::take);
        let ScanBufs {
            hits,
            pending,
            merged,
            generic_lines,
            export_lines,
            raw,
            generic,
        } = &mut bufs;

        // 1. keyword pass
        // (rule, window) per rule hit, in hit order; merged per rule below
        // (no per-file table sized by the catalogue: most files hit few rules)
        let mut saw_sops = false;
        // hits come sorted by start: each line is looked up once (a 10 MB
        // line with a hit every few bytes stays linear)
        let mut line = LineCache::default();
        if self.plain_keywords {
            *hits = self.keywords.find_all_plain(bytes);
        } else {
            self.keywords.find_all_into(bytes, hits);
        }
        for m in hits.iter() {
            for t in &self.targets[m.pattern as usize] {
                match *t {
                    Target::Rule(r) => {
                        let rule = &self.rules[r as usize];
                        if !rule.may_start(bytes, m.start..m.end) {
                            continue;
                        }
                        let w = window(
                            bytes,
                            line.at(bytes, m.start),
                            m.start,
                            m.end,
                            rule.spec.multiline,
                        );
                        pending.push((r, w));
                    }
                    Target::Generic => push_line(generic_lines, line.at(bytes, m.start)),
                    Target::Export => push_line(export_lines, line.at(bytes, m.start)),
                    Target::Sops => saw_sops = true,
                }
            }
        }
        merge_windows(pending, merged);

        // 2. confirm with the rule regexes
        for &(r, ref w) in merged.iter() {
            let rule = &self.rules[r as usize];
            let hay = &bytes[w.clone()];
            // a rule whose regex does not compile finds nothing
            let _ = rule.for_each_match(hay, |caps| {
                let Some(g) = caps.get(rule.spec.group).or_else(|| caps.get(0)) else {
                    return;
                };
                let secret = g.as_bytes();
                let e = entropy::shannon(secret);
                // a value whose vendor checksum verifies was issued by the
                // vendor: no entropy or placeholder test overrules that
                let verified = || {
                    std::str::from_utf8(secret).is_ok_and(|s| {
                        checksum::verify(&rule.spec.id, s) == Some(checksum::Checksum::Valid)
                    })
                };
                let weak = rule.spec.entropy.is_some_and(|min| e < min)
                    || entropy::is_placeholder(secret)
                    || entropy::is_reference(secret);
                if weak && !verified() {
                    return;
                }
                raw.push(Raw {
                    rule: RawRule::Rule(r),
                    range: w.start + g.start()..w.start + g.end(),
                    entropy: e,
                });
            });
        }

        // 3. generic detection (not in lock files, nor in translation
        // catalogues, whose "passphrase" entries are prose)
        let generic_here = !is_lock_file(path) && !is_translation(path);
        if generic_here {
            for l in generic_lines.iter() {
                self.generic_line(bytes, l.clone(), generic, raw);
            }
        }
        if self.generic && generic_here {
            for l in export_lines.iter() {
                generic_export(bytes, l.clone(), raw);
            }
        }

        // 4. SOPS
        let mut sops_meta: Vec<Range<usize>> = Vec::new();
        let mut is_sops = false;
        if saw_sops && let Ok(text) = std::str::from_utf8(bytes) {
            let a = sops::analyze(path, text);
            is_sops = a.is_sops;
            sops_meta = a.metadata;
            if self.sops_plaintext {
                for p in a.plaintext {
                    let e = entropy::shannon(&bytes[p.value.clone()]);
                    raw.push(Raw {
                        rule: RawRule::SopsPlaintext,
                        range: p.value,
                        entropy: e,
                    });
                }
            }
        }
        if self.sops_unencrypted
            && !is_sops
            && sops::is_encrypted_name(path)
            && !bytes.iter().all(u8::is_ascii_whitespace)
        {
            raw.push(Raw {
                rule: RawRule::SopsUnencrypted,
                range: 0..0,
                entropy: 0.0,
            });
        }

        // 5. filter, dedupe, position, suppress
        raw.sort_by_key(|r| (r.range.start, r.range.end, r.rule.order()));
        let specific: Vec<Range<usize>> = raw
            .iter()
            .filter(|r| matches!(r.rule, RawRule::Rule(_)))
            .map(|r| r.range.clone())
            .collect();
        let mut seen: HashSet<(usize, usize)> = HashSet::new();
        let mut pos = LineCounter::default();
        for r in raw.drain(..) {
            let is_weak = matches!(
                r.rule,
                RawRule::Generic | RawRule::GenericPassword | RawRule::SopsPlaintext
            );
            if r.range.end > r.range.start {
                if !seen.insert((r.range.start, r.range.end)) {
                    continue;
                }
                if is_weak && specific.iter().any(|s| overlaps_line(bytes, s, &r.range)) {
                    continue;
                }
                if !matches!(r.rule, RawRule::SopsPlaintext) {
                    if sops_meta.iter().any(|m| m.contains(&r.range.start)) {
                        continue;
                    }
                    if inside_enc(bytes, &r.range) || is_age_recipient(&bytes[r.range.clone()]) {
                        continue;
                    }
                }
            }
            let secret_bytes = &bytes[r.range.clone()];
            if self.allow.iter().any(|a| a.is_match(secret_bytes)) {
                continue;
            }
            if suppressed_inline(bytes, &r.range) {
                continue;
            }
            let (rule_id, description) = match r.rule {
                RawRule::Rule(i) => {
                    let s = &self.rules[i as usize].spec;
                    (s.id.clone(), s.description.clone())
                }
                RawRule::Generic => (
                    GENERIC_RULE.to_string(),
                    "High-entropy value assigned to a secret-like name".to_string(),
                ),
                RawRule::GenericPassword => (
                    GENERIC_PASSWORD_RULE.to_string(),
                    "Literal password assigned in code or config".to_string(),
                ),
                RawRule::SopsPlaintext => (
                    SOPS_PLAINTEXT_RULE.to_string(),
                    "Plaintext value inside a SOPS-encrypted file".to_string(),
                ),
                RawRule::SopsUnencrypted => (
                    SOPS_UNENCRYPTED_RULE.to_string(),
                    "File named *.enc.* has no SOPS metadata: it is not encrypted".to_string(),
                ),
            };
            let secret = String::from_utf8_lossy(secret_bytes).into_owned();
            let fp = fingerprint(self.salt.as_bytes(), &rule_id, path, &secret);
            if self.baseline.contains(&fp) {
                out.baselined += 1;
                continue;
            }
            let (line, column) = pos.locate(bytes, r.range.start);
            let (end_line, end_column) = if r.range.is_empty() {
                (line, column)
            } else {
                pos.locate(bytes, r.range.end)
            };
            let fixture = crate::finding::fixture_reason(path, &secret)
                .or_else(|| crate::finding::fixture_context(path, bytes, r.range.start));
            let checksum = match r.rule {
                RawRule::Rule(_) => checksum::verify(&rule_id, &secret),
                _ => None,
            };
            out.findings.push(Finding {
                rule: rule_id,
                description,
                path: path.to_string(),
                line,
                column,
                end_line,
                end_column,
                offset: r.range.start,
                secret: Secret::new(secret),
                entropy: r.entropy,
                fingerprint: fp,
                commit: None,
                author: None,
                date: None,
                fixture,
                checksum,
            });
        }
        bufs.reset();
        SCAN_BUFS.with_borrow_mut(|b| *b = bufs);
        out
    }

    fn generic_line(
        &self,
        bytes: &[u8],
        line: Range<usize>,
        scratch: &mut GenericScratch,
        raw: &mut Vec<Raw>,
    ) {
        if line.len() > GENERIC_MAX_LINE {
            return;
        }
        self.generic_xml(bytes, line.clone(), raw);
        self.generic_hcl_default(bytes, line.clone(), raw);
        let hay = &bytes[line.clone()];
        // `find` (lazy DFA) plus a hand split of the match is much cheaper
        // than capture groups (bounded backtracker) on this hot path.
        let GenericScratch { starts, found } = scratch;
        if generic_matches(hay, starts, found).is_err() {
            return;
        }
        for m in found.iter() {
            let Some((name, val, bare, colon)) = split_assignment(&hay[m.clone()]) else {
                continue;
            };
            let val = m.start + val.start..m.start + val.end;
            let v = &hay[val.clone()];
            if bare && colon && typed_decl(v, &hay[val.end..]) {
                continue;
            }
            // cheap rejection first: every generic value needs some entropy
            if entropy::shannon(v) < 2.0 {
                continue;
            }
            let kind = name_kind(name);
            self.judge(kind, v, bare, line.start + val.start, raw);
        }
    }

    /// Report `v` (at `at` in the buffer) assigned to a name of `kind` if
    /// the value passes that kind's test and its detector is on.
    fn judge(&self, kind: NameKind, v: &[u8], bare: bool, at: usize, raw: &mut Vec<Raw>) {
        let rule = match kind {
            NameKind::Password if self.generic_password && password_value_ok(v, bare) => {
                RawRule::GenericPassword
            }
            NameKind::Secret if self.generic && secret_value_ok(v, bare) => RawRule::Generic,
            _ => return,
        };
        raw.push(Raw {
            rule,
            range: at..at + v.len(),
            entropy: entropy::shannon(v),
        });
    }
}

impl Scanner {
    /// XML element values: `<apiToken>value</apiToken>`, or the value alone
    /// on the lines between `<apiToken>` and `</apiToken>`.
    fn generic_xml(&self, bytes: &[u8], line: Range<usize>, raw: &mut Vec<Raw>) {
        let hay = &bytes[line.clone()];
        let mut from = 0;
        while let Some(lt) = memchr::memchr(b'<', &hay[from..]).map(|i| from + i) {
            from = lt + 1;
            let name_len = hay[lt + 1..]
                .iter()
                .position(|b| {
                    !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
                })
                .unwrap_or(hay.len() - lt - 1);
            let name = &hay[lt + 1..lt + 1 + name_len];
            if name.is_empty() || hay.get(lt + 1 + name_len) != Some(&b'>') {
                continue;
            }
            let kind = name_kind(name);
            if kind == NameKind::None {
                continue;
            }
            let mut close = b"</".to_vec();
            close.extend_from_slice(name);
            close.push(b'>');
            // the value runs to the closing tag, at most 3 lines on
            let start = line.start + lt + 2 + name_len;
            let limit = bytes.len().min(start + 600);
            let Some(end) = memchr::memmem::find(&bytes[start..limit], &close).map(|i| start + i)
            else {
                continue;
            };
            let inner = &bytes[start..end];
            let lead = inner.len() - inner.trim_ascii_start().len();
            let v = inner.trim_ascii();
            if v.is_empty() || v.contains(&b'<') || memchr::memchr(b'\n', v).is_some() {
                continue;
            }
            self.judge(kind, v, true, start + lead, raw);
        }
    }
}

impl Scanner {
    /// A Terraform variable's default: `variable "db_password" {` and, on
    /// one of the next 12 lines before the block's closing `}`,
    /// `default = "value"`. The name is judged on the `variable` line, the
    /// value where it stands.
    fn generic_hcl_default(&self, bytes: &[u8], line: Range<usize>, raw: &mut Vec<Raw>) {
        let hay = bytes[line.clone()].trim_ascii();
        let Some(rest) = hay.strip_prefix(b"variable") else {
            return;
        };
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"\"") else {
            return;
        };
        let Some(q) = memchr::memchr(b'"', rest) else {
            return;
        };
        let (name, after) = (&rest[..q], rest[q + 1..].trim_ascii());
        if after != b"{" || !name.iter().all(|&b| rules::is_name_byte(b)) {
            return;
        }
        let kind = name_kind(name);
        if kind == NameKind::None {
            return;
        }
        let mut at = line.end;
        for _ in 0..12 {
            if at >= bytes.len() {
                return;
            }
            let l = line_of(bytes, at + 1);
            at = l.end;
            let text = &bytes[l.clone()];
            let t = text.trim_ascii();
            if t.starts_with(b"}") {
                return;
            }
            let Some(after) = t.strip_prefix(b"default") else {
                continue;
            };
            if after.trim_ascii_start().first() != Some(&b'=') {
                return;
            }
            // the quoted value: from the quote after `=` to the line's last
            let Some(open) = memchr::memchr(b'=', text).map(|e| {
                e + 1
                    + text[e + 1..]
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count()
            }) else {
                return;
            };
            let close = text.trim_ascii_end().len().saturating_sub(1);
            if text.get(open) != Some(&b'"') || close <= open || text[close] != b'"' {
                return;
            }
            let v = &text[open + 1..close];
            if !v.contains(&b'"') {
                self.judge(kind, v, false, l.start + open + 1, raw);
            }
            return;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum RawRule {
    Rule(u32),
    Generic,
    GenericPassword,
    SopsPlaintext,
    SopsUnencrypted,
}

impl RawRule {
    fn order(self) -> u32 {
        match self {
            RawRule::Rule(i) => i,
            RawRule::SopsUnencrypted => u32::MAX - 3,
            RawRule::SopsPlaintext => u32::MAX - 2,
            RawRule::GenericPassword => u32::MAX - 1,
            RawRule::Generic => u32::MAX,
        }
    }
}

#[derive(Debug)]
struct Raw {
    rule: RawRule,
    range: Range<usize>,
    entropy: f64,
}

fn line_of(bytes: &[u8], at: usize) -> Range<usize> {
    let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
    start..end
}

/// What a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Text,
    Utf16 { big_endian: bool },
    Binary,
}

/// Text, UTF-16 (with a byte-order mark, or ASCII-range text with every
/// other byte zero) or binary (many control bytes). A text file with a few
/// stray NULs is text: it is scanned (issue 11, item 11).
fn classify(bytes: &[u8]) -> Content {
    let probe = &bytes[..bytes.len().min(BINARY_PROBE)];
    match probe {
        [0xFF, 0xFE, ..] => return Content::Utf16 { big_endian: false },
        [0xFE, 0xFF, ..] => return Content::Utf16 { big_endian: true },
        _ => {}
    }
    if memchr::memchr(0, probe).is_none() {
        return Content::Text;
    }
    // BOM-less UTF-16: (nearly) all high bytes of the code units are zero
    let pairs = probe.len() / 2;
    if pairs >= 2 {
        let zero_at = |k: usize| (0..pairs).filter(|i| probe[2 * i + k] == 0).count();
        let (even, odd) = (zero_at(0), zero_at(1));
        if odd * 10 >= pairs * 9 && even * 10 <= pairs {
            return Content::Utf16 { big_endian: false };
        }
        if even * 10 >= pairs * 9 && odd * 10 <= pairs {
            return Content::Utf16 { big_endian: true };
        }
    }
    let control = probe
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B))
        .count();
    if control * 20 > probe.len() {
        Content::Binary
    } else {
        Content::Text
    }
}

/// UTF-16 to UTF-8 (BOM dropped; unpaired surrogates and an odd last byte
/// become U+FFFD).
fn decode_utf16(bytes: &[u8], big_endian: bool) -> String {
    let units = bytes.chunks_exact(2).map(|c| {
        if big_endian {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    });
    let mut s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if let Some(rest) = s.strip_prefix('\u{FEFF}') {
        s = rest.to_owned();
    }
    if bytes.len() % 2 == 1 {
        s.push(char::REPLACEMENT_CHARACTER);
    }
    s
}

/// The line around an offset, remembered for the next (later) offset.
#[derive(Default)]
struct LineCache(Option<Range<usize>>);

impl LineCache {
    fn at(&mut self, bytes: &[u8], at: usize) -> Range<usize> {
        match &self.0 {
            Some(l) if l.start <= at && at <= l.end => l.clone(),
            _ => {
                let l = line_of(bytes, at);
                self.0 = Some(l.clone());
                l
            }
        }
    }
}

fn window(
    bytes: &[u8],
    line: Range<usize>,
    start: usize,
    end: usize,
    multiline: bool,
) -> Range<usize> {
    let s = line.start.max(start.saturating_sub(WINDOW_BEFORE));
    let e = if multiline {
        bytes.len().min(end + MULTILINE_AFTER)
    } else if bytes[line.clone()].trim_ascii_end().ends_with(b">") && line.end < bytes.len() {
        // an XML element whose value is on the next line:
        // `<herokuApiKey>` / `  value` / `</herokuApiKey>`
        line_of(bytes, line.end + 1).end.min(end + WINDOW_AFTER)
    } else {
        line.end.min(end + WINDOW_AFTER)
    };
    s..e
}

/// One rule's windows, which come in the order of their hits (so with
/// non-decreasing starts), joined where they overlap or touch: each part of
/// the buffer is searched once per rule. The windows go into `out`
/// (cleared first).
fn merge_windows(hits: &mut [(u32, Range<usize>)], out: &mut Vec<(u32, Range<usize>)>) {
    // stable: a rule's windows keep their order
    hits.sort_by_key(|(r, _)| *r);
    out.clear();
    for (r, w) in hits.iter() {
        match out.last_mut() {
            Some((lr, cur)) if lr == r && w.start <= cur.end => cur.end = cur.end.max(w.end),
            _ => out.push((*r, w.clone())),
        }
    }
}

fn push_line(lines: &mut Vec<Range<usize>>, l: Range<usize>) {
    if lines.last() != Some(&l) {
        lines.push(l);
    }
}

fn overlaps_line(bytes: &[u8], a: &Range<usize>, b: &Range<usize>) -> bool {
    if a.start < b.end && b.start < a.end {
        return true;
    }
    // same line counts as overlapping for generic-vs-specific dedupe
    let la = line_of(bytes, a.start.min(bytes.len().saturating_sub(1)));
    la.contains(&b.start)
}

/// The value sits inside `ENC[...]` on its line.
fn inside_enc(bytes: &[u8], r: &Range<usize>) -> bool {
    let line = line_of(bytes, r.start);
    let before = &bytes[line.start..r.start];
    match memchr::memmem::rfind(before, b"ENC[") {
        Some(i) => !before[i..].contains(&b']'),
        None => false,
    }
}

fn is_age_recipient(s: &[u8]) -> bool {
    s.len() == 62 && s.starts_with(b"age1")
}

const INLINE_MARKERS: &[&[u8]] = &[
    b"clef:ignore",
    b"gitleaks:allow",
    b"pragma: allowlist secret",
    b"trufflehog:ignore",
    b"secretlint-disable-line",
];
const NEXT_LINE_MARKERS: &[&[u8]] = &[
    b"clef:ignore-next-line",
    b"pragma: allowlist nextline secret",
    b"secretlint-disable-next-line",
];

/// An allow marker on the finding's first or last line, or a next-line marker
/// on the line before it.
fn suppressed_inline(bytes: &[u8], r: &Range<usize>) -> bool {
    let first = line_of(bytes, r.start.min(bytes.len()));
    let last = line_of(bytes, r.end.saturating_sub(1).max(r.start).min(bytes.len()));
    if same_line_marker(&bytes[first.clone()]) || same_line_marker(&bytes[last]) {
        return true;
    }
    if first.start > 0 {
        let prev = &bytes[line_of(bytes, first.start - 1)];
        if NEXT_LINE_MARKERS
            .iter()
            .any(|m| memchr::memmem::find(prev, m).is_some())
        {
            return true;
        }
    }
    false
}

/// A same-line allow marker; `clef:ignore-next-line` (which contains
/// `clef:ignore`) does not count as one.
fn same_line_marker(line: &[u8]) -> bool {
    let next = b"clef:ignore-next-line";
    if memchr::memmem::find(line, next).is_none() {
        return INLINE_MARKERS
            .iter()
            .any(|m| memchr::memmem::find(line, m).is_some());
    }
    let mut blanked = line.to_vec();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&blanked[from..], next) {
        blanked[from + i..from + i + next.len()].fill(b' ');
        from += i + next.len();
    }
    INLINE_MARKERS
        .iter()
        .any(|m| memchr::memmem::find(&blanked, m).is_some())
}

/// Incremental offset → (line, column) conversion for sorted offsets.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    fn locate(&mut self, bytes: &[u8], at: usize) -> (usize, usize) {
        let at = at.min(bytes.len());
        if at < self.offset {
            self.offset = 0;
            self.line = 0;
        }
        self.line += memchr::memchr_iter(b'\n', &bytes[self.offset..at]).count();
        self.offset = at;
        let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        // columns count characters: skip UTF-8 continuation bytes
        let col = bytes[line_start..at]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count()
            + 1;
        (self.line + 1, col)
    }
}

/// Translation catalogues (Fluent, gettext): `enter-passphrase = Enter …`.
fn is_translation(path: &str) -> bool {
    [".ftl", ".po", ".pot"].iter().any(|e| path.ends_with(e))
}

fn is_lock_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "Cargo.lock"
            | "package-lock.json"
            | "npm-shrinkwrap.json"
            | "yarn.lock"
            | "pnpm-lock.yaml"
            | "go.sum"
            | "go.mod"
            | "poetry.lock"
            | "Pipfile.lock"
            | "composer.lock"
            | "Gemfile.lock"
            | "flake.lock"
            | "uv.lock"
            | "mix.lock"
            | "pubspec.lock"
            | "Podfile.lock"
            | "deno.lock"
            | "packages.lock.json"
            | "gradle.lockfile"
            | "bun.lock"
    ) || name.ends_with(".lock")
        || name.ends_with(".sum")
}

/// Split a generic-regex match `name["']? op ["']value["']` into the name,
/// the value's byte range within the match, and whether the value was bare
/// (unquoted).
fn split_assignment(s: &[u8]) -> Option<(&[u8], Range<usize>, bool, bool)> {
    let name_end = s
        .iter()
        .position(|&b| !rules::is_name_byte(b))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    let mut i = name_end;
    while i < s.len() && matches!(s[i], b'"' | b'\'' | b'`' | b']') {
        i += 1;
    }
    let name_quoted = i > name_end;
    let ws = |s: &[u8], mut i: usize| {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = ws(s, i);
    i = skip_type(s, i);
    let op_start = i;
    while i < s.len()
        && matches!(
            s[i],
            b'=' | b':' | b'<' | b'-' | b'>' | b'|' | b'?' | b'.' | b'+' | b','
        )
    {
        i += 1;
    }
    let comma = s[op_start..i].contains(&b',');
    let colon = matches!(&s[op_start..i], b":" | b"::");
    i = ws(s, i);
    if i >= s.len() {
        return None;
    }
    let q = s[i];
    if s[i..].starts_with(b"\"\\\"") && s.ends_with(b"\\\"\"") && s.len() >= i + 6 {
        // a JSON-escaped string inside a string: `"X_TOKEN", "\"value\""`
        return (!comma || name_quoted).then_some((name, i + 3..s.len() - 3, false, colon));
    }
    if comma && !name_quoted {
        // `NAME, "value"` is a tuple or an argument list, not an assignment
        None
    } else if matches!(q, b'"' | b'\'' | b'`') && s.len() >= i + 2 && s[s.len() - 1] == q {
        Some((name, i + 1..s.len() - 1, false, colon))
    } else if comma {
        // `name, value` only as a call's quoted arguments:
        // System.setProperty("X_TOKEN", "…")
        None
    } else {
        // a URL's query runs on to its next parameter: `?client_secret=…&page=2`
        let end = memchr::memchr_iter(b'&', &s[i..])
            .find(|&k| {
                let p = &s[i + k + 1..];
                let n = p
                    .iter()
                    .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
                    .count();
                n > 0 && p.get(n) == Some(&b'=')
            })
            .map_or(s.len(), |k| i + k);
        Some((name, i..end, true, colon))
    }
}

/// A bare value after a lone `:` (or a path's `::`) that is a type or an expression, not data:
/// Rust/C/TypeScript declarations `pub Token: D3DKMT_TOKEN_0,`,
/// `pub const X: SOME_TYPE = 7;`, `fn f(key: PrivateKeyDer<'a>)`, and a
/// path `Secrets::Variant`.
/// `rest` is the text of the line after the value.
fn typed_decl(v: &[u8], rest: &[u8]) -> bool {
    if v.starts_with(b":") {
        return true;
    }
    let rest = rest.trim_ascii_start();
    match rest.first() {
        Some(b',' | b';' | b'<' | b')' | b'{') => true,
        Some(b'=') => rest.get(1) != Some(&b'='),
        _ => false,
    }
}

/// Past a type annotation between a name and its `=`: Go `apiToken string =`,
/// TypeScript/Kotlin/Rust `apiToken: string =`, `API_TOKEN: &str =`.
fn skip_type(s: &[u8], i: usize) -> usize {
    const TYPES: &[&[u8]] = &[b"&'static str", b"&str", b"[]byte", b"string", b"str"];
    let mut j = i;
    let colon = s.get(j) == Some(&b':');
    if colon {
        j += 1;
        while j < s.len() && s[j].is_ascii_whitespace() {
            j += 1;
        }
    }
    for t in TYPES {
        if s.len() >= j + t.len() && s[j..j + t.len()].eq_ignore_ascii_case(t) {
            let mut k = j + t.len();
            while k < s.len() && s[k].is_ascii_whitespace() {
                k += 1;
            }
            if s.get(k) == Some(&b'=') && s.get(k + 1) != Some(&b'=') {
                return k;
            }
        }
    }
    i
}

/// The generic detector's assignment regex.
///
/// Three shapes: `name op value` (the operators below, the value quoted,
/// JSON-escaped `"\"…\""` or bare); `name "value"`, a quoted value after
/// blanks alone (`#define API_TOKEN "…"`, nginx `proxy_set_header
/// X-Api-Key "…";`); and a command-line flag `--name value` (a name that
/// holds `--`, so that a match may start anywhere in a run of name bytes,
/// as the first shape's may: [`generic_matches`] relies on it). A name may be
/// closed by a quote, a bracket or both (`ENV['X_TOKEN'] ||= '…'`, C#
/// `["X_TOKEN"] = "…"`).
const GENERIC_SOURCE: &str = r#"(?i)(?:([a-z0-9_.-]*(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|auth|credentials?|key)[a-z0-9_.-]*)["'`]?\]?(?:(?:\s*:\s*(?:&'static str|&str|string|str)\s*|\s+(?:string|\[\]byte)\s*)?\s*(?:=|:=|::=|:::=|\?=|\.=|\+=|:|=>|<-|\|\|=|,)\s*(?:"\\"([^"\\\r\n]{6,200})\\""|"([^"\r\n]{6,200})"|'([^'\r\n]{6,200})'|`([^`\r\n]{6,200})`|([^\s"'`,;)}\]<>\\]{6,200}))|[ \t]+(?:"([^"\r\n]{6,200})"|'([^'\r\n]{6,200})'))|([a-z0-9_.-]*--[a-z0-9_.-]*(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key|auth|credentials?|key)[a-z0-9_.-]*)[ \t]+([^\s"'`,;)}\]<>\\]{6,200}))"#;

/// The generic detector's assignment regex, unanchored: what
/// [`generic_matches`] must find (the tests hold it to this).
#[cfg(test)]
fn generic_regex() -> &'static rules::Pattern {
    static RE: std::sync::OnceLock<rules::Pattern> = std::sync::OnceLock::new();
    RE.get_or_init(|| rules::Pattern::new(GENERIC_SOURCE.to_string(), 100))
}

/// Buffers the generic detector reuses from line to line.
#[derive(Default)]
struct GenericScratch {
    starts: Vec<Range<usize>>,
    found: Vec<Range<usize>>,
}

/// The buffers of [`Scanner::scan_bytes`], kept per thread from file to
/// file: a scan of thousands of small files otherwise spends a few percent
/// of its time growing and freeing them.
#[derive(Default)]
struct ScanBufs {
    hits: Vec<crate::keywords::Hit>,
    pending: Vec<(u32, Range<usize>)>,
    merged: Vec<(u32, Range<usize>)>,
    generic_lines: Vec<Range<usize>>,
    export_lines: Vec<Range<usize>>,
    raw: Vec<Raw>,
    generic: GenericScratch,
}

impl ScanBufs {
    /// Empties every buffer; one that a large file grew past `KEEP`
    /// entries is shrunk back to that, so what a thread keeps between files
    /// stays bounded (under 3 MB, every buffer at `KEEP`).
    fn reset(&mut self) {
        const KEEP: usize = 1 << 14;
        fn reset<T>(v: &mut Vec<T>) {
            v.clear();
            v.shrink_to(KEEP);
        }
        reset(&mut self.hits);
        reset(&mut self.pending);
        reset(&mut self.merged);
        reset(&mut self.generic_lines);
        reset(&mut self.export_lines);
        reset(&mut self.raw);
        reset(&mut self.generic.starts);
        reset(&mut self.generic.found);
    }
}

thread_local! {
    static SCAN_BUFS: std::cell::RefCell<ScanBufs> = std::cell::RefCell::default();
}

/// The needles of [`GENERIC_SOURCE`]'s keywords: each keyword contains one.
const NEEDLES: [&[u8]; 7] = [
    b"pass", b"pwd", b"secret", b"token", b"key", b"auth", b"cred",
];

/// The first three bytes of each of [`NEEDLES`], lowercase.
const NEEDLE_HEADS: [[u8; 3]; 7] = [
    *b"pas", *b"pwd", *b"sec", *b"tok", *b"key", *b"aut", *b"cre",
];

/// The next of [`NEEDLES`] (any case) in `hay` at or after `at`: its start
/// and length. Eight positions at a time: a position is looked at only if
/// its three bytes, with bit 5 set (which folds a letter's case), are one
/// of [`NEEDLE_HEADS`] in the lane compare below, which never misses one
/// (a lane equal to zero always sets its top bit; a lane above one may
/// too, and is looked at for nothing). The last positions are compared
/// the same way in a copy padded with zeros (which no head holds, even
/// with bit 5 set), not one by one.
fn next_needle(hay: &[u8], at: usize) -> Option<(usize, usize)> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const TOPS: u64 = u64::from_le_bytes([0x80; 8]);
    const CASE: u64 = u64::from_le_bytes([0x20; 8]);
    // the heads among the 8 positions whose 10 bytes `w` holds from `j`
    let heads = |w: &[u8], j: usize| {
        let word = |i: usize| {
            let b: [u8; 8] = w[i..i + 8].try_into().unwrap_or([0; 8]);
            u64::from_le_bytes(b) | CASE
        };
        let (a, b, c) = (word(j), word(j + 1), word(j + 2));
        let mut m = 0;
        for h in NEEDLE_HEADS {
            let z = (a ^ (ONES * u64::from(h[0])))
                | (b ^ (ONES * u64::from(h[1])))
                | (c ^ (ONES * u64::from(h[2])));
            m |= z.wrapping_sub(ONES) & !z & TOPS;
        }
        m
    };
    let first = |i: usize, mut m: u64| {
        while m != 0 {
            let k = i + (m.trailing_zeros() / 8) as usize;
            if let Some(n) = rules::word_at(hay, k, &NEEDLES) {
                return Some((k, n));
            }
            m &= m - 1;
        }
        None
    };
    let mut i = at;
    while i + 10 <= hay.len() {
        if let Some(f) = first(i, heads(hay, i)) {
            return Some(f);
        }
        i += 8;
    }
    // fewer than 10 bytes left: 8 positions in a padded copy, which a
    // needle (3 bytes or more) cannot start at or past the end of `hay`
    let rest = hay.get(i..).unwrap_or_default();
    let mut pad = [0u8; 10];
    pad[..rest.len()].copy_from_slice(rest);
    first(i, heads(&pad, 0))
}

/// The runs of name bytes (`[a-z0-9_.-]`) in `hay` where a match of
/// [`GENERIC_SOURCE`] may start, in increasing order, decided without the
/// regex. A match's name holds one of the [`NEEDLES`], and where the name
/// may end comes a quote or bracket, blanks and an operator, or blanks and
/// a type (`string`, `[]byte`); every match starts at the start of such a
/// run, or inside one where the previous match ended. About half of the
/// lines with a generic keyword have no such run (`fn token(&self)`,
/// `self.key.clone()`).
fn assign_starts(hay: &[u8], out: &mut Vec<Range<usize>>) {
    let (name, blank) = (rules::is_name_byte, rules::is_regex_space);
    let mut at = 0;
    while let Some((i, n)) = next_needle(hay, at) {
        // the name runs on to here (it may end earlier only before `.=`,
        // whose `=` ends the run)
        let mut q = i + n;
        while q < hay.len() && name(hay[q]) {
            q += 1;
        }
        let run_end = q;
        q = rules::past_name_close(hay, q);
        let after_name = q;
        while q < hay.len() && blank(hay[q]) {
            q += 1;
        }
        // where the run began, after the previous one ended (at `at`)
        let begin = || {
            let mut r = i;
            while r > at && name(hay[r - 1]) {
                r -= 1;
            }
            r
        };
        let assigns = match hay.get(q) {
            Some(b'=' | b':' | b'?' | b'.' | b'+' | b'<' | b'|' | b',') => true,
            // a type (`string`, `[]byte`) or a quoted value after blanks
            Some(b's' | b'S' | b'[' | b'"' | b'\'') => q > after_name,
            // a flag's value: `--api-key value`
            Some(_) => q > run_end && memchr::memmem::find(&hay[begin()..run_end], b"--").is_some(),
            None => false,
        };
        if assigns {
            out.push(begin()..run_end);
        }
        // a needle further in the same name (letters, so it ends inside
        // the run) ends the run at the same place: the same answer
        at = run_end;
    }
}

/// Every match of [`GENERIC_SOURCE`] in `hay`, as an unanchored `find_iter`
/// finds them, but searched for only where [`assign_starts`] says one may
/// start, and anchored there: each search stops where its match (or its
/// name) ends instead of running on to the end of the line, and a line
/// with no such run costs no search at all.
fn generic_matches(
    hay: &[u8],
    starts: &mut Vec<Range<usize>>,
    out: &mut Vec<Range<usize>>,
) -> Result<(), String> {
    out.clear();
    starts.clear();
    assign_starts(hay, starts);
    // where `find_iter` would search on from
    let mut pos = 0;
    for run in starts.iter() {
        if run.end <= pos {
            // inside the previous match (its value, say): nothing in it
            // starts at or after `pos`
            continue;
        }
        // a run that holds `pos` (the previous match ended inside it): a
        // match that starts in it after `pos` means one starts at `pos`
        let r = run.start.max(pos);
        if let Some(m) = generic_anchored().find_first(&hay[r..])? {
            out.push(r + m.start()..r + m.end());
            pos = r + m.end();
        }
    }
    Ok(())
}

/// The generic detector's assignment regex ([`GENERIC_SOURCE`]), anchored
/// at the start of the haystack. Its values' `{6,200}` bounds are relaxed
/// ([`rules::Pattern`]): a lazy DFA counting to 200 in four overlapping
/// alternatives needs many states; matches longer than 200 bytes, which are
/// rare, are searched again with the bounds.
fn generic_anchored() -> &'static rules::Pattern {
    static RE: std::sync::OnceLock<rules::Pattern> = std::sync::OnceLock::new();
    RE.get_or_init(|| rules::Pattern::new(format!("^(?:{GENERIC_SOURCE})"), 100))
}

fn export_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        rules::compile(
            r#"^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=["']?([A-Za-z0-9+/=_.-]{20,200})["']?\s*$"#,
        )
        .unwrap_or_else(|e| unreachable!("constant export regex compiles: {e}"))
    })
}

fn generic_export(bytes: &[u8], line: Range<usize>, raw: &mut Vec<Raw>) {
    if line.len() > GENERIC_MAX_LINE {
        return;
    }
    let hay = &bytes[line.clone()];
    let Some(c) = export_regex().captures(hay) else {
        return;
    };
    let (Some(name), Some(v)) = (c.get(1), c.get(2)) else {
        return;
    };
    if name_kind(name.as_bytes()) != NameKind::None {
        return; // the generic keyword path judges these
    }
    let val = v.as_bytes();
    let cs = entropy::charset(val);
    let e = entropy::shannon(val);
    if matches!(cs, Charset::Other) || entropy::class_count(val) < 3 {
        return;
    }
    if e < entropy::generic_threshold(cs, val.len()) + 0.3
        || code_like(val)
        || entropy::is_placeholder(val)
    {
        return;
    }
    raw.push(Raw {
        rule: RawRule::Generic,
        range: line.start + v.start()..line.start + v.end(),
        entropy: e,
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Password,
    Secret,
    None,
}

/// Name words that make an assignment something other than a secret
/// (`public_key`, `token_type`, `password_length`, `secret_name`, …).
const EXCLUDE_WORDS: &[&str] = &[
    "public",
    "pub",
    "publishable",
    "id",
    "ids",
    "name",
    "names",
    "type",
    "path",
    "file",
    "url",
    "uri",
    "endpoint",
    "domain",
    "hostname",
    "length",
    "len",
    "size",
    "count",
    "max",
    "min",
    "prefix",
    "suffix",
    "format",
    "field",
    "header",
    "policy",
    "ttl",
    "timeout",
    "hash",
    "sha",
    "digest",
    "checksum",
    "fingerprint",
    "version",
    "index",
    "keys",
    "sort",
    "primary",
    "foreign",
    "partition",
    "cache",
    "tokens",
    "ref",
    "arn",
    "region",
    "mode",
    "author",
    "enabled",
    "enable",
    "required",
    "label",
    "placeholder",
    "hint",
    "help",
    "description",
    "rule",
    "regex",
    "pattern",
    "param",
    "method",
    "class",
    "kind",
    "schema",
    "form",
    "input",
    "column",
    "attr",
    "flag",
    "option",
    "store",
    "manager",
    "provider",
    "service",
    "reset",
    "forgot",
    "confirm",
    "confirmation",
    "strength",
    "valid",
    "validation",
    "prompt",
    "msg",
    "message",
    "error",
    "text",
    "title",
    "new",
    "old",
    "current",
    "rotation",
    "date",
    "time",
    "at",
    "storage",
    "dir",
    "env",
    "source",
    "algorithm",
    "alg",
    "encoding",
    "usage",
    "scope",
    "audience",
    "issuer",
    "host",
    "port",
    "by",
    "owner",
    "vault",
    "file",
    "location",
    "mapping",
    "map",
    "field",
    "selector",
    "ref",
    "reference",
    "var",
    "variable",
    "binding",
    "secret_name",
];
/// Name fragments with the same effect, matched as substrings.
const EXCLUDE_SUBSTR: &[&str] = &[
    "expir",
    "keyboard",
    "keycode",
    "keyword",
    "keyspace",
    "keystroke",
    "keypress",
    "keydown",
    "keyup",
    "keyframe",
    "monkey",
    "donkey",
    "turkey",
    "hotkey",
    "tokenizer",
    "tokentype",
    "passage",
    "passenger",
    "passive",
    "passthrough",
    "bypass",
    "compass",
    "password_hash",
    "passwordhash",
    "keyvault",
    "key_vault",
    "secretref",
    "secret_ref",
    "secretname",
    "clientid",
    "client_id",
    "keyid",
    "key_id",
    "authorization_url",
    "author",
];

fn exclude_substr() -> &'static aho_corasick::AhoCorasick {
    static AC: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    AC.get_or_init(|| {
        aho_corasick::AhoCorasick::new(EXCLUDE_SUBSTR)
            .unwrap_or_else(|e| unreachable!("constant patterns build: {e}"))
    })
}

fn exclude_words() -> &'static HashSet<&'static str> {
    static SET: std::sync::OnceLock<HashSet<&'static str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| EXCLUDE_WORDS.iter().copied().collect())
}

/// The words of a name, as ranges of it: runs of ASCII letters and digits,
/// also split before an uppercase letter that follows a lowercase letter or
/// a digit (camelCase).
fn name_words(name: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < name.len() && !name[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i == name.len() {
            return None;
        }
        let start = i;
        i += 1;
        while i < name.len()
            && name[i].is_ascii_alphanumeric()
            && !(name[i].is_ascii_uppercase()
                && (name[i - 1].is_ascii_lowercase() || name[i - 1].is_ascii_digit()))
        {
            i += 1;
        }
        Some(start..i)
    })
}

/// Whether `name` is dotted (`secrets.gitCommit`) and its last part holds
/// none of the generic keywords' [`NEEDLES`].
fn dotted_plain_tail(name: &[u8]) -> bool {
    name.iter().rposition(|&b| b == b'.').is_some_and(|dot| {
        let tail = &name[dot + 1..];
        dot > 0
            && !tail.is_empty()
            && !(0..tail.len()).any(|i| rules::word_at(tail, i, &NEEDLES).is_some())
    })
}

/// What a name assigned a value says the value is. Names are ASCII (every
/// caller's is made of name bytes); this allocates nothing for names up to
/// 64 bytes, and its only table lookups are the two exclusion lists.
fn name_kind(name: &[u8]) -> NameKind {
    // a dotted key whose last part names no secret at all is what that
    // part says: `secrets.gitCommit` is a commit (`app.api.key-2` still a key)
    if dotted_plain_tail(name) {
        return NameKind::None;
    }
    let mut stack = [0u8; 64];
    let mut heap = Vec::new();
    let n: &mut [u8] = match stack.get_mut(..name.len()) {
        Some(s) => s,
        None => {
            heap.resize(name.len(), 0);
            &mut heap
        }
    };
    n.copy_from_slice(name);
    n.make_ascii_lowercase();
    let n: &[u8] = n;
    if exclude_substr().is_match(n) {
        return NameKind::None;
    }
    let contains = |p: &[u8]| n.windows(p.len()).any(|w| w == p);
    // `token_service`, `key_provider` are code; `service_token` is a token
    // `vault_path` is not a secret, `VAULT_TOKEN` (Vault's own variable)
    // and `vault_password` (Ansible's) are
    const LAST_ONLY: &[&[u8]] = &[b"service", b"provider", b"manager", b"store", b"vault"];
    let excluded = |w: &[u8]| std::str::from_utf8(w).is_ok_and(|w| exclude_words().contains(w));
    let mut last: &[u8] = b"";
    let [
        mut pwd,
        mut pass,
        mut api,
        mut key,
        mut access,
        mut private,
        mut auth,
        mut cred,
    ] = [false; 8];
    for r in name_words(name) {
        let w = &n[r];
        if excluded(w) && !LAST_ONLY.contains(&w) {
            return NameKind::None;
        }
        match w {
            b"pwd" => pwd = true,
            b"pass" => pass = true,
            b"api" => api = true,
            b"key" => key = true,
            b"access" => access = true,
            b"private" => private = true,
            b"auth" => auth = true,
            b"cred" | b"creds" => cred = true,
            _ => {}
        }
        last = w;
    }
    if excluded(last) {
        return NameKind::None;
    }
    if contains(b"passw") || contains(b"passphrase") || pwd || last.ends_with(b"pwd") || pass {
        return NameKind::Password;
    }
    let secretish = contains(b"secret")
        || contains(b"token")
        || contains(b"apikey")
        || contains(b"api_key")
        || contains(b"api-key")
        || (key && (api || access || private))
        || contains(b"accesskey")
        || contains(b"privatekey")
        || contains(b"credential")
        || auth
        || cred
        || last.ends_with(b"key");
    if secretish {
        NameKind::Secret
    } else {
        NameKind::None
    }
}

/// Values that are code, not data: calls, member paths, type names, paths.
fn code_like(v: &[u8]) -> bool {
    let s = String::from_utf8_lossy(v);
    let t = s.trim();
    if t.contains('(')
        || t.contains(')')
        || t.contains("::")
        || t.starts_with("*const")
        || t.starts_with("*mut")
        || t.starts_with("&mut")
        || t.contains("->")
        || t.starts_with("data:")
    {
        return true;
    }
    if t.contains("://") || t.starts_with('/') || t.starts_with("./") || t.starts_with("~/") {
        return true;
    }
    // a relative file path: photos/2026/10/07/IMG_0001.jpg
    if t.contains('/')
        && t.rsplit_once('.').is_some_and(|(_, ext)| {
            (1..=4).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_lowercase())
        })
    {
        return true;
    }
    // a module or package path: Go's `alias "github.com/org/repo/pkg/v1"`
    if t.matches('/').count() >= 2
        && t.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'.' | b'-' | b'_')
        })
    {
        return true;
    }
    // identifiers and member paths without digits: foo, self.password, getToken
    let ident_path = t.split('.').all(|p| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    });
    if ident_path && (t.contains('.') || !t.chars().any(|c| c.is_ascii_digit())) {
        return true;
    }
    // words joined by separators: some-config-name, my_setting_value
    let mut parts = 0;
    let words = t
        .split(['_', '-', '.', ' '])
        .filter(|p| !p.is_empty())
        .all(|p| {
            parts += 1;
            p.chars().all(|c| c.is_ascii_alphabetic())
        });
    words && parts >= 2
}

fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

fn password_value_ok(v: &[u8], bare: bool) -> bool {
    let t = v;
    if t.len() < 6 || t.len() > 128 {
        return false;
    }
    if entropy::is_placeholder(t) || entropy::is_reference(t) || code_like(t) {
        return false;
    }
    if t.contains(&b' ') {
        return false;
    }
    if bare && t.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let e = entropy::shannon(t);
    if e < 2.0 {
        return false;
    }
    entropy::class_count(t) >= 2 || t.len() >= 12
}

/// The random body of a token behind a short vendor prefix (one to three
/// segments of 2-8 letters, each ended by `.`, `_` or `-`, or one letter
/// and a dot, or 1-4 capitals run into 24+ lowercase hex): `dp.ct.<43
/// alphanumerics>`, `mlsn.<64 hex>`, `sl.<url-safe base64>`, `svc_<40 hex>`. The whole
/// value's charset would be "other" (dots) or base64 (`_`), whose entropy
/// floor a hex body cannot reach, and a dotted value looks like a member
/// path; the body alone is judged by its own charset instead: at least 16
/// characters, hex with digits and letters, alphanumerics with lower, upper
/// and 2+ digits, or 32+ url-safe base64 characters with all four classes,
/// and random for that charset.
fn prefixed_body(v: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    for k in 0..3 {
        let n = v[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let sep = v.get(i + n);
        // one letter only first and before a dot: Vault's `s.<24>`, `b.<…>`
        let short_ok = n == 1 && k == 0 && sep == Some(&b'.');
        if !((2..=8).contains(&n) || short_ok) || !matches!(sep, Some(b'.' | b'_' | b'-')) {
            break;
        }
        i += n + 1;
    }
    if i == 0 {
        // an uppercase prefix run into a lowercase hex body: Twilio's
        // `SK<32 hex>`, `AC<32 hex>`
        let n = v.iter().take_while(|b| b.is_ascii_uppercase()).count();
        let body = &v[n..];
        let hex = body.len() >= 24 && body.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if (1..=4).contains(&n) && hex {
            i = n;
        }
    }
    let body = &v[i..];
    if i == 0 || body.len() < 16 {
        return None;
    }
    let digits = body.iter().filter(|b| b.is_ascii_digit()).count();
    let cs = entropy::charset(body);
    let shaped = match cs {
        Charset::Hex => digits > 0 && digits < body.len(),
        Charset::Alphanumeric => digits >= 2 && entropy::class_count(body) == 3,
        // url-safe base64 (Dropbox `sl.<…>`): long, and all four classes
        Charset::Base64 => body.len() >= 32 && digits >= 2 && entropy::class_count(body) == 4,
        Charset::Other => false,
    };
    (shaped && entropy::shannon(body) >= entropy::generic_threshold(cs, body.len())).then_some(body)
}

/// Prefixes of tokens whose whole format is documented and matched by a
/// built-in rule (GitHub, npm, Stripe, Slack, GitLab, Anthropic): a value
/// with one that its rule did not match (`ghp_` and 20 characters) is a
/// truncated or made-up token, not a secret the generic detector should
/// report in the rule's place.
const VENDOR_EXACT: &[&[u8]] = &[
    b"ghp_",
    b"gho_",
    b"ghu_",
    b"ghs_",
    b"ghr_",
    b"github_pat_",
    b"npm_",
    b"sk_live_",
    b"sk_test_",
    b"rk_live_",
    b"rk_test_",
    b"xoxb-",
    b"xoxp-",
    b"xoxa-",
    b"xoxe-",
    b"xapp-",
    b"glpat-",
    b"sk-ant-",
];

/// Base64 of prose (`dGhpcyBpcyBub3QgYSBzZWNyZXQ=`, "this is not a
/// secret"): its random-looking text decodes to words and blanks.
fn base64_of_prose(v: &[u8]) -> bool {
    use base64::Engine as _;
    if v.len() < 16 || !v.len().is_multiple_of(4) {
        return false;
    }
    let Ok(d) = base64::engine::general_purpose::STANDARD.decode(v) else {
        return false;
    };
    let blanks = d.iter().filter(|&&b| b == b' ').count();
    let letters = d.iter().filter(|b| b.is_ascii_alphabetic()).count();
    blanks >= 2
        && (letters + blanks) * 10 >= d.len() * 9
        && d.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
}

fn secret_value_ok(v: &[u8], bare: bool) -> bool {
    if v.len() < 16 || v.len() > 200 {
        return false;
    }
    if VENDOR_EXACT.iter().any(|p| v.starts_with(p)) || base64_of_prose(v) {
        return false;
    }
    if prefixed_body(v).is_some() && !entropy::is_placeholder(v) && !entropy::is_reference(v) {
        return true;
    }
    if entropy::is_placeholder(v) || entropy::is_reference(v) || code_like(v) || is_uuid(v) {
        return false;
    }
    let cs = entropy::charset(v);
    if cs == Charset::Other {
        // punctuation other than base64: allow only for quoted values with 3+ classes
        if bare || v.contains(&b' ') || entropy::class_count(v) < 3 {
            return false;
        }
    }
    if cs != Charset::Hex && entropy::class_count(v) < 2 {
        return false;
    }
    if cs == Charset::Hex && !v.iter().any(u8::is_ascii_digit) {
        return false;
    }
    entropy::shannon(v) >= entropy::generic_threshold(cs, v.len())
}

/// Reads work-tree files for one walker thread: small files into one reused
/// buffer (no allocation per file), large ones memory-mapped, the size taken
/// from the open file (one `fstat`, no second lookup by path).
#[derive(Debug, Default)]
pub(crate) struct FileReader {
    /// Initialised bytes, kept at the largest length read so far, so a
    /// read needs no zeroing; the file is `buf[..filled]`.
    buf: Vec<u8>,
}

/// A file's contents, or why they were not read.
pub(crate) enum Loaded<'a> {
    /// Read into the thread's buffer.
    Buf(&'a [u8]),
    /// Memory-mapped.
    Mapped(memmap2::Mmap),
    /// Larger than the limit (its size).
    TooLarge(u64),
}

/// Files at least this large are memory-mapped.
const MMAP_THRESHOLD: u64 = 1 << 20;

/// Alignment of the start of a file read into [`FileReader`]'s buffer.
const ALIGN: usize = 64;

impl FileReader {
    pub(crate) fn read(&mut self, path: &Path, max: u64) -> std::io::Result<Loaded<'_>> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        if len > max {
            return Ok(Loaded::TooLarge(len));
        }
        if len >= MMAP_THRESHOLD {
            // SAFETY: the map is read-only and dropped at the end of the scan of
            // this file. Another process truncating the file meanwhile can raise
            // SIGBUS; ripgrep accepts the same trade-off for large files.
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&f)? };
            return Ok(Loaded::Mapped(map));
        }
        // the file goes at the buffer's first 64-byte boundary: the kernel
        // copies into a destination 16 bytes past one (where glibc puts a
        // large allocation) about a third slower (README, issue 16). Sized
        // first, so the boundary is the one of the buffer `read_whole` fills
        let want = usize::try_from(len).map_or(usize::MAX, |l| l.saturating_add(1 + ALIGN));
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let at = self.buf.as_ptr().align_offset(ALIGN).min(ALIGN - 1);
        let filled = read_whole(&mut f, &mut self.buf, at, len, max)?;
        if filled as u64 > max {
            return Ok(Loaded::TooLarge(filled as u64));
        }
        Ok(Loaded::Buf(&self.buf[at..at + filled]))
    }
}

/// Reads `r` (announced as `len` bytes) into `buf` from offset `at`;
/// returns how many bytes it read. One `read` of `len + 1` bytes usually does it: a
/// read that stops at or past `len` without filling the buffer is the end. A file that grew since its size
/// was taken is read on, in doubling steps, to its end or to past `max`.
/// (`read_to_end` starts at 8 KiB and needs a last empty read: 3–4 system
/// calls for a typical 25 KB source file instead of one.)
fn read_whole(
    r: &mut impl std::io::Read,
    buf: &mut Vec<u8>,
    at: usize,
    len: u64,
    max: u64,
) -> std::io::Result<usize> {
    let mut want = usize::try_from(len).unwrap_or(usize::MAX - 1) + 1;
    let cap = usize::try_from(max).unwrap_or(usize::MAX - 1) + 1;
    let mut filled = 0;
    loop {
        if buf.len() < at.saturating_add(want) {
            buf.resize(at.saturating_add(want), 0);
        }
        let n = match r.read(&mut buf[at + filled..at + want]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        if n == 0 || filled >= cap {
            return Ok(filled);
        }
        if filled < want {
            // short of the announced size (a FUSE file system may read
            // short): read on; past it, this is the end
            if filled as u64 >= len {
                return Ok(filled);
            }
            continue;
        }
        want = want.saturating_mul(2).min(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contents of every file of the labelled corpus.
    fn corpus_files() -> Vec<Vec<u8>> {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-corpus/scan/files");
        assert!(corpus.is_dir(), "corpus");
        crate::test_files::files_under(corpus, usize::MAX)
    }

    /// Every line of the labelled corpus, and every built-in rule's
    /// examples and negatives.
    fn corpus_lines() -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = corpus_files()
            .iter()
            .flat_map(|b| b.split(|&c| c == b'\n').map(<[u8]>::to_vec))
            .collect();
        assert!(lines.len() > 1000, "{} corpus lines", lines.len());
        for spec in rules::builtin_specs().expect("rules") {
            lines.extend(
                spec.examples
                    .iter()
                    .chain(&spec.negatives)
                    .map(|l| l.as_bytes().to_vec()),
            );
        }
        lines
    }

    /// Words a contextual rule's name must hold, in several cases.
    const CONTEXT_WORDS: &[&[u8]] = &[
        b"key",
        b"_KEY",
        b"Token",
        b"secret",
        b"password",
        b"pat",
        b"auth",
        b"sid",
        b"credential",
        b"credentials",
        b"api_key",
        b"-Secrets",
    ];

    /// A contextual rule's keyword hit that `Rule::may_start` turns away
    /// starts no match of its regex: at every match, on every line of the
    /// labelled corpus and of the rules' examples and negatives, and on
    /// 200,000 lines built around one rule's vendor names, some vendor name
    /// at the match's start passes.
    #[test]
    fn contextual_rules_turn_away_only_hits_that_start_no_match() {
        let specs = rules::builtin_specs().expect("rules");
        let rules: Vec<Rule> = specs
            .iter()
            .map(|s| Rule::new(s.clone()))
            .filter(|r| !r.may_start(b"x", 0..0))
            .collect();
        assert!(rules.len() >= 90, "{} contextual rules", rules.len());
        let corpus = corpus_lines();
        let parts: &[&[u8]] = &[
            b"_",
            b".",
            b"-",
            b"x",
            b"api",
            b"KEY",
            b"token",
            b"Secret",
            b"password",
            b"PAT",
            b"auth",
            b"sid",
            b"credentials",
            b"s",
            b"_id",
            b"long_name_part_",
            b"\"",
            b"'",
            b"`",
            b" ",
            b"\t",
            b"\n",
            b"=",
            b":",
            b"::=",
            b"?=",
            b".=",
            b"+=",
            b"=>",
            b",",
            b">",
            b"<",
            b"string",
            b" string",
            b": &str",
            b": &'static str",
            b" []byte",
            b"str",
            b"&str",
            b" &'static str",
            b"(",
            b"/",
            b"4551433af0b59b6018362e89002cbe71",
            b"beaef3a6ca218f31a2921f76da0940",
            b"Zx9kq2AbCdEfGhIjKlMnOpQrStUvWx0123456789",
            b"${X}",
        ];
        let x = std::cell::Cell::new(0x2545_F491_4F6C_DD1D_u64);
        let next = |n: usize| {
            let mut v = x.get();
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            x.set(v);
            (v % n as u64) as usize
        };
        let (mut matched, mut turned_away) = (0, 0);
        let mut check = |rule: &Rule, l: &[u8]| {
            let re = rule.regex().expect("compiles");
            for m in re.find_iter(l) {
                matched += 1;
                let at = m.start();
                let ok = rule.spec.keywords.iter().any(|k| {
                    l.get(at..at + k.len())
                        .is_some_and(|w| w.eq_ignore_ascii_case(k.as_bytes()))
                        && rule.may_start(l, at..at + k.len())
                });
                assert!(ok, "{}: {}", rule.spec.id, String::from_utf8_lossy(l));
            }
        };
        for l in &corpus {
            for rule in &rules {
                check(rule, l);
            }
        }
        // each rule's example values
        let values: Vec<Vec<Vec<u8>>> = rules
            .iter()
            .map(|r| {
                let re = r.regex().expect("compiles");
                r.spec
                    .examples
                    .iter()
                    .filter_map(|e| re.captures(e.as_bytes())?.get(r.spec.group))
                    .map(|m| m.as_bytes().to_vec())
                    .collect()
            })
            .collect();
        let ops: &[&[u8]] = &[
            b"=", b" = ", b": ", b":=", b" ?= ", b".=", b"+=", b" => ", b", ", b">", b"\": \"",
            b"='",
        ];
        for _ in 0..200_000 {
            let i = next(rules.len());
            let rule = &rules[i];
            let mut l = Vec::new();
            let some = |l: &mut Vec<u8>, n: usize| {
                for _ in 0..next(n) {
                    l.extend_from_slice(parts[next(parts.len())]);
                }
            };
            some(&mut l, 3);
            l.extend_from_slice(rule.spec.keywords[next(rule.spec.keywords.len())].as_bytes());
            some(&mut l, 3);
            l.extend_from_slice(CONTEXT_WORDS[next(CONTEXT_WORDS.len())]);
            some(&mut l, 3);
            l.extend_from_slice(ops[next(ops.len())]);
            if let Some(v) = values[i].get(next(values[i].len().max(1))) {
                l.extend_from_slice(v);
            }
            some(&mut l, 3);
            if next(2) == 0 {
                l.make_ascii_uppercase();
            }
            let kw = &rule.spec.keywords;
            turned_away += usize::from(!(0..l.len()).any(|at| {
                kw.iter().any(|k| {
                    l.get(at..at + k.len())
                        .is_some_and(|w| w.eq_ignore_ascii_case(k.as_bytes()))
                        && rule.may_start(&l, at..at + k.len())
                })
            }));
            check(rule, &l);
        }
        assert!(
            matched > 20_000 && turned_away > 20_000,
            "{matched} matches, {turned_away} lines turned away"
        );
    }

    /// Assignments built from every part of the grammar at the edges of its
    /// bounds: each quote, type and operator, with and without blanks,
    /// values of 5, 6, 200 and 201 bytes, a CR inside quotes.
    fn assignment_lines() -> Vec<Vec<u8>> {
        let mut values: Vec<Vec<u8>> = Vec::new();
        for n in [5, 6, 200, 201] {
            let body = "k7".repeat(n)[..n].to_string();
            for q in ["\"", "'", "`", ""] {
                values.push(format!("{q}{body}{q}").into_bytes());
            }
            values.push(format!("\"{body}").into_bytes());
            values.push(format!("{body};x").into_bytes());
        }
        values.push(b"\"abc\rdefgh\"".to_vec());
        values.push(b"'abcdefg\nh'".to_vec());
        values.push(b"abc<defgh".to_vec());
        let mut lines = Vec::new();
        for name in ["x_token", "Key", "pass", "my.key."] {
            for quote in ["", "\"", "'", "`", "]", "["] {
                for ty in [
                    "",
                    ":string",
                    ": str ",
                    " string",
                    "string",
                    " []byte",
                    "[]byte",
                    ":&'static str",
                    " : &str",
                    ":\tString",
                ] {
                    for op in [
                        "=", ":=", "::=", ":::=", "?=", ".=", "+=", ":", "=>", "<-", "||=", ",",
                        "==", "",
                    ] {
                        for blank in ["", " "] {
                            for v in &values {
                                let mut l =
                                    format!("{name}{quote}{ty}{blank}{op}{blank}").into_bytes();
                                l.extend_from_slice(v);
                                lines.push(l);
                            }
                        }
                    }
                }
            }
        }
        lines
    }

    /// `generic_matches`, which searches only where `assign_starts` says a
    /// match may start, finds exactly what the generic regex's `find_iter`
    /// finds: on every line of the labelled corpus and of the rules'
    /// examples, and on 200,000 lines built from names, keywords, quotes,
    /// blanks, operators, types and values (some over the regex's 200-byte
    /// bound, some with a value that holds another assignment).
    #[test]
    fn generic_matches_finds_what_the_generic_regex_finds() {
        let mut lines = corpus_lines();
        lines.extend(assignment_lines());
        let parts: &[&[u8]] = &[
            b"token",
            b"Key",
            b"pass",
            b"PASSWORD",
            b"pwd",
            b"secret",
            b"auth",
            b"credentials",
            b"api_key",
            b"my",
            b"_",
            b".",
            b"-",
            b"x",
            b"\"",
            b"'",
            b"`",
            b"]",
            b"[",
            b" ",
            b"\t",
            b"\x0b",
            b"=",
            b":",
            b"::=",
            b"?=",
            b".=",
            b"+=",
            b"=>",
            b"<-",
            b"||=",
            b",",
            b"(",
            b")",
            b"string",
            b"[]byte",
            b"&str",
            b"str",
            b"abcdefgh",
            b"\r",
            b"\x0c",
            b"String",
            b"STR",
            b"[]BYTE",
            b"&'static str",
            b"passwd",
            b"Passphrase",
            b"credential",
            b"passenger",
            b"access.key",
            b"private-key",
            b"APIKEY",
            b":::=",
            b":=",
            b"|",
            b"?",
            b"+",
            b"\xe9",
            b"abc",
            b"api_key=Zx9kq2abcd ",
            b"token: 'abcdefgh', ",
            b"x_key=y_token=abcdefgh",
            b"\"password\": \"secret-Zx9kq2\", ",
            b"token=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_key=abcdefgh",
            b"Zx9$kq!2",
            b"Q7mZ2xW9kP4vT1nR8sL3yB6cF0hJ5dG2aE9uK4iO7pS1wX3zV8bN6mC0qT5rY2eU4lH9gD7fA1jM3kL8oI0pW6sZ2xV4nB9cQ7mR5tY1uE3iO8aS6dF0gH2jK4lZ9xC7vB5nM1qW3eR8tY6uI0oP2aS4dF9gH7jK5lZ1xC3vB8nM6qW0eR2tY4uI9oP7aS5dF1",
            b";",
            b"<",
            b">",
            b"{",
            b"/",
            b"\\",
            b"--",
            b"--api-key ",
            b"\"\\\"",
            b"\\\"\"",
            b"\"\\\"abcdefgh\\\"\"",
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..200_000 {
            let mut l = Vec::new();
            for _ in 0..1 + (x % 9) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                l.extend_from_slice(parts[(x % parts.len() as u64) as usize]);
            }
            lines.push(l);
        }
        let (mut starts, mut ours) = (Vec::new(), Vec::new());
        let (mut matched, mut rejected, mut long, mut several) = (0, 0, 0, 0);
        for l in &lines {
            let found = generic_regex().find_all(l).expect("generic regex");
            generic_matches(l, &mut starts, &mut ours).expect("generic regex");
            let theirs: Vec<Range<usize>> = found.iter().map(|m| m.range()).collect();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(l));
            matched += usize::from(!found.is_empty());
            rejected += usize::from(starts.is_empty());
            long += usize::from(found.iter().any(|m| m.len() > 200));
            several += usize::from(found.len() > 1);
        }
        assert!(
            matched > 1000 && rejected > 1000 && long > 100 && several > 100,
            "{matched} matched, {rejected} rejected, {long} long, {several} with several"
        );
    }

    fn scan(path: &str, text: &str) -> Vec<Finding> {
        let s = Scanner::builtin().unwrap_or_else(|e| panic!("{e}"));
        s.scan_blob(path, text.as_bytes())
    }

    #[test]
    fn positions_are_one_based_and_exclusive_end() {
        let f = scan(
            "a.py",
            "x = 1\ntoken = \"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\"\n",
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].line, f[0].column, f[0].end_line, f[0].end_column),
            (2, 10, 2, 50)
        );
        assert_eq!(f[0].rule, "github-pat");
    }

    #[test]
    fn typed_declarations_are_not_values() {
        // issue 16 noise on real crate sources (windows-sys, aws-lc-sys,
        // rustls): a bare type or expression after `:` is code
        for text in [
            "pub Token: D3DKMT_PRESENTHISTORYTOKEN_0,\n",
            "pub localCredentials: IKEEXT_CREDENTIAL1,\n",
            "pub const DOT11_AUTH_ALGO_RSNA_PSK: DOT11_AUTH_ALGORITHM = 7i32;\n",
            "fn from(key: PrivatePkcs1KeyDer<'a>) -> Self {\n",
            "    check_private_key_bytes: x25519_check_private_key_bytes,\n",
            "    password: *const u8,\n",
            "    pub pw_passwd: *mut c_char\n",
            "Ok(ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv })\n",
        ] {
            assert!(scan("src/lib.rs", text).is_empty(), "{text}");
        }
        assert!(typed_decl(b"KEY_TYPE_1", b" = 3;"));
        assert!(!typed_decl(b"KEY_TYPE_1", b" == 3"));
        assert!(!typed_decl(b"Xk9mQ2pLv8nR3wZa7TqB", b"  # prod"));
    }

    #[test]
    fn bare_values_after_colon_still_found() {
        // the same shapes as data: a YAML/properties value, alone on its line
        let v = "Xk9mQ2pLv8nR3wZa7TqB";
        for (path, text) in [
            ("config.yaml", format!("api_token: {v}\n")),
            ("config.yaml", format!("api_token: {v}  # prod\n")),
            ("app.properties", format!("db.password: Pw_{v}\n")),
            ("config.yaml", format!("auth_key: X509_{v}\n")),
        ] {
            let f = scan(path, &text);
            assert_eq!(f.len(), 1, "{text}: {f:?}");
        }
    }

    #[test]
    fn generic_embedding_contexts() {
        // issue 16: operators and syntaxes beyond `= := : => ,`
        let v = "Xk9mQ2pLv8nR3wZa7TqB";
        for (what, text) in [
            ("go typed", format!("var apiToken string = \"{v}\"\n")),
            ("ts typed", format!("const apiToken: string = \"{v}\";\n")),
            ("rust typed", format!("const API_TOKEN: &str = \"{v}\";\n")),
            ("make ?=", format!("API_TOKEN ?= {v}\n")),
            ("make ::=", format!("API_TOKEN ::= {v}\n")),
            ("make :::=", format!("API_TOKEN :::= {v}\n")),
            ("php .=", format!("$apiToken .= \"{v}\";\n")),
            (
                "setProperty",
                format!("System.setProperty(\"X_TOKEN\", \"{v}\");\n"),
            ),
            ("xml inline", format!("<apiToken>{v}</apiToken>\n")),
            ("xml block", format!("<apiToken>\n    {v}\n</apiToken>\n")),
            (
                "json escaped",
                format!("{{\"env\": \"A=1\\nX_TOKEN={v}\\nB=2\"}}\n"),
            ),
            ("C define", format!("#define API_TOKEN \"{v}\"\n")),
            ("nginx", format!("proxy_set_header X-Api-Key '{v}';\n")),
            ("flag", format!("./deploy --api-key {v} --region eu\n")),
            ("ruby ||=", format!("ENV['CLIENT_SECRET'] ||= '{v}'\n")),
            ("C# indexer", format!("[\"ClientSecret\"] = \"{v}\",\n")),
            (
                "gradle escaped",
                format!("buildConfigField \"String\", \"API_TOKEN\", \"\\\"{v}\\\"\"\n"),
            ),
            ("ansible vault", format!("ANSIBLE_VAULT_PASSWORD='{v}'\n")),
            (
                "terraform default",
                format!("variable \"db_password\" {{\n  type = string\n  default = \"{v}\"\n}}\n"),
            ),
            ("url query", format!("GET /send?client_secret={v}&page=2\n")),
        ] {
            let f = scan("ctx.txt", &text);
            assert_eq!(f.len(), 1, "{what}: {f:?}");
            assert_eq!(f[0].secret.expose(), v, "{what}");
        }
        // and not on look-alikes
        for (what, text) in [
            ("comma list", format!("token, {v}\n")),
            (
                "xml type",
                "<tokenType>bearer-token-value</tokenType>\n".to_owned(),
            ),
            (
                "typed call",
                "var apiToken string = getToken()\n".to_owned(),
            ),
            (
                "message",
                "log.error(\"invalid token \" + tok + \" for user\")\n".to_owned(),
            ),
            (
                "flag path",
                "login --api-key-file ./secrets/api.key\n".to_owned(),
            ),
            ("flag variable", "login --api-key $API_KEY\n".to_owned()),
            (
                "header name",
                "#define API_KEY_HEADER \"X-Api-Key\"\n".to_owned(),
            ),
            (
                "vault path",
                "export VAULT_PATH=secret/data/app\n".to_owned(),
            ),
            (
                "placeholder",
                "ENV['API_TOKEN'] ||= 'changeme'\n".to_owned(),
            ),
            (
                "go import alias",
                "\tcfapitokenv1 \"github.com/acme/scan/pkg/detectors/cloudflareapitoken/v1\"\n"
                    .to_owned(),
            ),
            (
                "truncated",
                "GITHUB_TOKEN=ghp_lgJN9rx5HVGDUkYd8W3t\n".to_owned(),
            ),
            ("prose", "API_KEY=dGhpcyBpcyBub3QgYSBzZWNyZXQ=\n".to_owned()),
            (
                "terraform name",
                format!("variable \"region\" {{\n  default = \"{v}\"\n}}\n"),
            ),
            (
                "terraform reference",
                "variable \"api_token\" {\n  default = var.token\n}\n".to_owned(),
            ),
            (
                "terraform next block",
                format!("variable \"api_token\" {{\n}}\nlocals {{\n  default = \"{v}\"\n}}\n"),
            ),
        ] {
            assert!(scan("ctx.txt", &text).is_empty(), "{what}");
        }
        // a random body behind a short vendor prefix, judged on its own
        for v in [
            "dp.ct.Xk9mQ2pLv8nR3wZa7TqBXk9mQ2pLv8nR3wZa7TqBu1c",
            "mlsn.3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a3f9a8b7c6d5e4f3a2b1c0d9e",
            "svc_3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a",
            "sl.u_Bk3-QzR8mX2pLw9vN4tY7aC1sD6fG0hJ5kE-Zq_Tb8nMv2Lx",
            "s.Qx7Lm2PzR9tKw4VbN8cYs1Hd",
            "SK8782a778541eb4791def15cfa985bb2d",
        ] {
            let f = scan("ctx.txt", &format!("SERVICE_TOKEN={v}\n"));
            assert_eq!(f.len(), 1, "{v}: {f:?}");
            assert_eq!(f[0].secret.expose(), v);
        }
        for v in [
            "self.config.token_value",
            "svc_deadbeefdeadbeefdeadbeef",
            "sl.some_config_value_of_the_app",
        ] {
            assert!(
                scan("ctx.txt", &format!("SERVICE_TOKEN={v}\n")).is_empty(),
                "{v}"
            );
        }
        // tuples and call arguments with an unquoted name are code; a file path is not a secret
        for text in [
            "    (&rfc4403::UDDIV_3_BUSINESS_KEY, \"uddiv3BusinessKey\"),\n",
            "    .with_file(Kind::Credentials, \"some/path/to/credentials-file\")\n",
            "photo_key = \"photos/2026/10/07/IMG_0001.jpg\"\n",
        ] {
            assert!(scan("src/lib.rs", text).is_empty(), "{text}");
        }
        // issue 16's noise classes
        for (path, text) in [
            ("src/a.rs", "use crate::error::TokenError;\n"),
            ("src/a.rs", "let s = format!(\"password={x}\");\n"),
            (
                "src/a.rs",
                "let u = format!(\"postgres://user:{password}@localhost/db\");\n",
            ),
            (
                "src/a.rs",
                "pub struct Conn { password: Option<String>, api_token: SecretString }\n",
            ),
            (
                "src/a.h",
                "struct auth { char *password; unsigned char secret_key[32]; };\n",
            ),
            (
                ".circleci/config.yml",
                "          key: v1-dependencies-{{ checksum \"package.json\" }}-{{ .Branch }}\n",
            ),
            (
                "web/firebase.js",
                "  authDomain: \"myapp-project-123.firebaseapp.com\",\n",
            ),
        ] {
            assert!(scan(path, text).is_empty(), "{text}");
        }
        // translation catalogues: prose about passphrases, not passphrases
        let ftl = "passphrase = X9kq2Lmv7Tz\n";
        assert!(scan("i18n/fr/age.ftl", ftl).is_empty());
        assert_eq!(scan("i18n/fr/age.txt", ftl).len(), 1);
    }

    #[test]
    fn generic_names() {
        assert_eq!(name_kind(b"DB_PASSWORD"), NameKind::Password);
        assert_eq!(name_kind(b"stripeSecretKey"), NameKind::Secret);
        assert_eq!(name_kind(b"public_key"), NameKind::None);
        assert_eq!(name_kind(b"token_type"), NameKind::None);
        assert_eq!(name_kind(b"monkey"), NameKind::None);
        assert_eq!(name_kind(b"api_key"), NameKind::Secret);
        assert_eq!(name_kind(b"secrets.gitCommit"), NameKind::None);
        assert_eq!(name_kind(b"credentials.user"), NameKind::None);
        assert_eq!(name_kind(b"app.db.password"), NameKind::Password);
        assert_eq!(name_kind(b"app.api.key-2"), NameKind::Secret);
        assert_eq!(name_kind(b"VAULT_TOKEN"), NameKind::Secret);
        assert_eq!(name_kind(b"vault_path"), NameKind::None);
    }

    /// Split a name into lowercase words on separators and camelCase
    /// boundaries (as [`name_kind`] first did).
    fn old_name_words(name: &[u8]) -> Vec<String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut prev_lower = false;
        for &b in name {
            let c = char::from(b);
            if !c.is_ascii_alphanumeric() {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                prev_lower = false;
                continue;
            }
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c.to_ascii_lowercase());
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        words
    }

    /// The word lists and rules as first written (a lowercase `String` and
    /// a `Vec<String>` of words per name): what [`name_kind`] must answer.
    fn old_name_kind(name: &[u8]) -> NameKind {
        // added with issue 16's held-out sets, the same rule
        if dotted_plain_tail(name) {
            return NameKind::None;
        }
        let n = String::from_utf8_lossy(name).to_ascii_lowercase();
        let words = old_name_words(name);
        let last = words.last().map_or("", String::as_str);
        // `token_service`, `key_provider` are code; `service_token` is a token
        const LAST_ONLY: &[&str] = &["service", "provider", "manager", "store"];
        let excluded = |(i, w): (usize, &String)| {
            exclude_words().contains(w.as_str())
                && (i + 1 == words.len() || !LAST_ONLY.contains(&w.as_str()))
        };
        if exclude_substr().is_match(n.as_bytes()) || words.iter().enumerate().any(excluded) {
            return NameKind::None;
        }
        let has = |w: &str| words.iter().any(|x| x == w);
        if n.contains("passw")
            || n.contains("passphrase")
            || has("pwd")
            || last.ends_with("pwd")
            || has("pass")
        {
            return NameKind::Password;
        }
        let secretish = n.contains("secret")
            || n.contains("token")
            || n.contains("apikey")
            || n.contains("api_key")
            || n.contains("api-key")
            || (has("api") && has("key"))
            || (has("access") && has("key"))
            || (has("private") && has("key"))
            || n.contains("accesskey")
            || n.contains("privatekey")
            || n.contains("credential")
            || has("auth")
            || has("cred")
            || has("creds")
            || last == "key"
            || last.ends_with("key");
        if secretish {
            NameKind::Secret
        } else {
            NameKind::None
        }
    }

    #[test]
    fn name_kind_answers_what_it_answered_with_words_as_strings() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let parts: &[&str] = &[
            "",
            "api",
            "Api",
            "API",
            "key",
            "Key",
            "KEY",
            "keys",
            "token",
            "Token",
            "secret",
            "pass",
            "Pass",
            "pwd",
            "Pwd",
            "db",
            "DB",
            "access",
            "private",
            "auth",
            "cred",
            "creds",
            "credential",
            "service",
            "Provider",
            "store",
            "public",
            "type",
            "name",
            "monkey",
            "word",
            "phrase",
            "2",
            "v2",
            "id",
            "ID",
            "_",
            "-",
            ".",
            "__",
            "x",
        ];
        for a in parts {
            for b in parts {
                for c in [
                    "", "_", "Key", "Token", "_secret", "pwd", "Store", "Id", "2",
                ] {
                    names.push(format!("{a}{b}{c}").into_bytes());
                    names.push(format!("{a}_{b}{c}").into_bytes());
                    names.push(format!("{a}.{b}-{c}").into_bytes());
                }
            }
        }
        names.push(b"x".repeat(70));
        names.push([&b"my_"[..], &b"a".repeat(80), b"_api_key"].concat());
        names.push([&b"PUBLIC_"[..], &b"B".repeat(80), b"_TOKEN"].concat());
        for n in &names {
            assert_eq!(
                name_kind(n),
                old_name_kind(n),
                "{}",
                String::from_utf8_lossy(n)
            );
        }
    }

    #[test]
    fn code_is_not_a_value() {
        assert!(code_like(b"self.password"));
        assert!(code_like(b"getToken"));
        assert!(code_like(b"os.getenv(\"X\")"));
        assert!(code_like(b"my-config-name"));
        assert!(!code_like(b"Xk9mQ2pLv8nR3wZa"));
    }

    #[test]
    fn inline_markers() {
        let t = "token = \"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\" # clef:ignore\n";
        assert!(scan("a.py", t).is_empty());
        let t = "# gitleaks:allow\ntoken = \"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\"\n";
        assert_eq!(scan("a.py", t).len(), 1, "same-line marker only");
        let t = "# clef:ignore-next-line\ntoken = \"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\"\n";
        assert!(scan("a.py", t).is_empty());
        let t = "x = 1 # clef:ignore-next-line\ny = 2\ntoken = \"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\"\n";
        assert_eq!(
            scan("a.py", t).len(),
            1,
            "next-line marker is not a same-line marker"
        );
    }

    #[test]
    fn binary_is_skipped() {
        let s = Scanner::builtin().unwrap_or_else(|e| panic!("{e}"));
        let mut b = b"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789".to_vec();
        b.extend([0, 1, 2, 3, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        let r = s.scan_blob_detailed("x.bin", &b);
        assert_eq!(r.skipped, Some(Skip::Binary));
        assert!(r.findings.is_empty());
    }

    const GHP: &str = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

    #[test]
    fn text_with_a_stray_nul_is_scanned() {
        let s = Scanner::builtin().unwrap_or_else(|e| panic!("{e}"));
        let b = format!("\0header\ntoken = \"{GHP}\"\n");
        let r = s.scan_blob_detailed("x.txt", b.as_bytes());
        assert_eq!(r.skipped, None);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].line, 2);
    }

    #[test]
    fn utf16_is_decoded_and_scanned() {
        let s = Scanner::builtin().unwrap_or_else(|e| panic!("{e}"));
        let text = format!("x = 1\r\ntoken = \"{GHP}\"\r\n");
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let mut le_bom = vec![0xFF, 0xFE];
        le_bom.extend(&le);
        let mut be_bom = vec![0xFE, 0xFF];
        be_bom.extend(&be);
        for (what, b) in [
            ("le", &le),
            ("be", &be),
            ("le+bom", &le_bom),
            ("be+bom", &be_bom),
        ] {
            let r = s.scan_blob_detailed("x.ps1", b);
            assert_eq!(r.skipped, None, "{what}");
            assert_eq!(r.findings.len(), 1, "{what}");
            let f = &r.findings[0];
            assert_eq!(
                (f.line, f.column, f.secret.expose()),
                (2, 10, GHP),
                "{what}"
            );
        }
    }

    #[test]
    fn lowercase_age_identity_is_found() {
        let t = "# created\nage-secret-key-1ezxtjaf9fm8vdgarnljgg2zavfttru7k5nf7lkmmmlzlym38tnn7k6xvc5\n";
        let f = scan("keys.txt.bak", t);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "age-secret-key");
    }

    #[test]
    fn tokens_a_cell_leaves_in_clear_are_scanned() {
        // issue 11, item 11: a token in an `_unencrypted` value, in an extra
        // field of the metadata and in a key name of a cell
        use crate::sops::tests::{ENC, META};
        let text = format!(
            "db:\n    password: {ENC}\n    note_unencrypted: {GHP}\n{GHP}: {ENC}\n{META}    comment: {GHP}\n"
        );
        let f = scan("secrets/api/dev.enc.yaml", &text);
        let lines: Vec<(usize, &str)> = f.iter().map(|x| (x.line, x.rule.as_str())).collect();
        let meta_line = 5 + META.lines().count();
        assert_eq!(
            lines,
            [
                (3, "github-pat"),
                (4, "github-pat"),
                (meta_line, "github-pat")
            ],
            "{f:?}"
        );
    }

    #[test]
    fn a_long_run_of_one_character_is_linear() {
        // a rule keyword of 21 `A`s matched at every offset used to make the
        // keyword pass quadratic (issue 11, item 3): 8x the input must cost
        // about 8x the time (quadratic: 64x). Absolute times are measured on
        // the release binary (README); this is a debug build on a shared box.
        let s = Scanner::builtin().unwrap_or_else(|e| panic!("{e}"));
        for fill in [b'A', b'a'] {
            let time = |mb: usize| {
                let mut b = vec![fill; mb << 20];
                b.extend(format!("\ntoken = \"{GHP}\"\n").as_bytes());
                let t = std::time::Instant::now();
                let f = s.scan_blob("big.txt", &b);
                assert_eq!(f.len(), 1);
                t.elapsed().as_secs_f64()
            };
            let (one, eight) = (time(1), time(8));
            assert!(
                eight < 24.0 * one + 0.5,
                "{}: 1 MB {one:.3} s, 8 MB {eight:.3} s",
                fill as char
            );
        }
    }

    /// A reader that hands out at most `step` bytes per call and counts
    /// its calls.
    struct Chunky<'a> {
        data: &'a [u8],
        step: usize,
        calls: usize,
    }

    impl std::io::Read for Chunky<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            let n = out.len().min(self.step).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_whole_file_is_read_in_one_call_and_short_reads_are_read_on() {
        let data: Vec<u8> = (0..25_000u32).map(|i| (i % 251) as u8).collect();
        let mut buf = vec![7u8; 100];
        let read = |buf: &mut Vec<u8>, step: usize, len: u64, max: u64| {
            let mut r = Chunky {
                data: &data,
                step,
                calls: 0,
            };
            let n = read_whole(&mut r, buf, 0, len, max).expect("read");
            (n, r.calls)
        };
        // the announced size: one call
        let (n, calls) = read(&mut buf, usize::MAX, 25_000, 1 << 20);
        assert_eq!((n, calls), (25_000, 1));
        assert_eq!(&buf[..n], &data[..]);
        // short reads before the announced size are read on
        buf.fill(0);
        let (n, calls) = read(&mut buf, 4096, 25_000, 1 << 20);
        assert_eq!((n, calls), (25_000, 7));
        assert_eq!(&buf[..n], &data[..]);
        // the file grew since its size was taken: read to its end
        let (n, _) = read(&mut buf, usize::MAX, 1_000, 1 << 20);
        assert_eq!(n, 25_000);
        assert_eq!(&buf[..n], &data[..]);
        // it shrank: what is there
        let mut small = Vec::new();
        let mut r = Chunky {
            data: &data[..10],
            step: usize::MAX,
            calls: 0,
        };
        assert_eq!(
            read_whole(&mut r, &mut small, 0, 1_000, 1 << 20).expect("read"),
            10
        );
        assert_eq!(&small[..10], &data[..10]);
        // it grew past the limit: one byte over it is enough to say so
        let (n, _) = read(&mut buf, usize::MAX, 1_000, 20_000);
        assert_eq!(n, 20_001);
        // empty
        let mut r = Chunky {
            data: &[],
            step: usize::MAX,
            calls: 0,
        };
        assert_eq!(read_whole(&mut r, &mut small, 0, 0, 10).expect("read"), 0);
        // at an offset: the bytes before it are left alone
        let mut r = Chunky {
            data: &data,
            step: 4096,
            calls: 0,
        };
        let mut at = vec![9u8; 5];
        assert_eq!(
            read_whole(&mut r, &mut at, 3, 25_000, 1 << 20).expect("read"),
            25_000
        );
        assert_eq!(&at[..3], &[9, 9, 9]);
        assert_eq!(&at[3..25_003], &data[..]);
    }

    #[test]
    fn file_reader_returns_the_file_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut reader = FileReader::default();
        for (name, len) in [
            ("big.txt", 30_000usize),
            ("small.txt", 17),
            ("empty.txt", 0),
        ] {
            let p = dir.path().join(name);
            let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            clef_sops::io::atomic_write(&p, &data, false).expect("write");
            match reader.read(&p, 1 << 20).expect("read") {
                Loaded::Buf(b) => {
                    assert_eq!(b, &data[..], "{name}");
                    assert_eq!(b.as_ptr() as usize % ALIGN, 0, "{name}: not aligned");
                }
                _ => panic!("{name}: not read into the buffer"),
            }
        }
        let p = dir.path().join("big.txt");
        assert!(matches!(
            reader.read(&p, 29_999).expect("read"),
            Loaded::TooLarge(30_000)
        ));
    }

    #[test]
    fn the_relaxed_generic_regex_finds_what_the_generic_regex_finds() {
        let re = generic_regex();
        let exact = re.regex().expect("compiles");
        let mut lines: Vec<String> = Vec::new();
        for n in [5, 6, 30, 150, 180, 199, 200, 201, 230, 300, 1000] {
            let v: String = (0..n)
                .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
                .collect();
            for shape in [
                format!("api_token = \"{v}\""),
                format!("api_token = '{v}'"),
                format!("api_token = `{v}`"),
                format!("API_TOKEN={v}"),
                format!("password: {v} # and secret = \"{v}\""),
                format!("{{\"secret\": \"{v}\", \"token\": \"x{v}\"}}"),
                format!("very_long_name_of_a_secret_{v} := {v}"),
                format!("key = \"{v}\" key2 = \"{v}"),
            ] {
                lines.push(shape);
            }
        }
        // and every line of the labelled corpus
        for text in corpus_files() {
            lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_string));
        }
        assert!(lines.len() > 1000, "{}", lines.len());
        let (mut matches, mut long) = (0, 0);
        for l in &lines {
            let want: Vec<(usize, usize)> = exact
                .find_iter(l.as_bytes())
                .map(|m| (m.start(), m.end()))
                .collect();
            let got = re.find_all(l.as_bytes()).expect("compiles");
            let got: Vec<(usize, usize)> = got.iter().map(|m| (m.start(), m.end())).collect();
            assert_eq!(got, want, "{l}");
            matches += want.len();
            long += want.iter().filter(|(a, b)| b - a > 200).count();
        }
        // both sides of the bound are exercised
        assert!(
            matches > 300 && long > 10,
            "{matches} matches, {long} longer than 200"
        );
    }
}

#[cfg(test)]
mod bench {
    use super::*;

    /// The generic detector's stages on every line of a directory's files
    /// that holds a generic keyword (as the keyword pass marks them):
    /// `CLEF_GENERIC_BENCH=<dir> cargo test --release -p clef-scan --lib
    /// generic_stages -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn generic_stages() {
        let Ok(dir) = std::env::var("CLEF_GENERIC_BENCH") else {
            return;
        };
        let kw = aho_corasick::AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(GENERIC_KEYWORDS)
            .expect("build");
        let lines: Vec<Vec<u8>> = crate::test_files::files_under(dir, usize::MAX)
            .iter()
            .filter(|b| !b.contains(&0))
            .flat_map(|b| b.split(|&c| c == b'\n'))
            .filter(|l| l.len() <= GENERIC_MAX_LINE && kw.is_match(l))
            .map(<[u8]>::to_vec)
            .collect();
        let bytes: usize = lines.iter().map(Vec::len).sum();
        eprintln!("{} lines, {bytes} bytes", lines.len());
        let scanner = Scanner::builtin().expect("scanner");
        let mut scratch = GenericScratch::default();
        let mut raw = Vec::new();
        let best = crate::test_files::best_of::<4>(7, |stage| {
            let mut n = 0;
            for l in &lines {
                n += match stage {
                    0 => {
                        scratch.starts.clear();
                        assign_starts(l, &mut scratch.starts);
                        scratch.starts.len()
                    }
                    1 => {
                        let GenericScratch { starts, found } = &mut scratch;
                        let _ = generic_matches(l, starts, found);
                        found.len()
                    }
                    2 => {
                        raw.clear();
                        scanner.generic_xml(l, 0..l.len(), &mut raw);
                        raw.len()
                    }
                    _ => {
                        raw.clear();
                        scanner.generic_line(l, 0..l.len(), &mut scratch, &mut raw);
                        raw.len()
                    }
                };
            }
            n
        });
        let stages = [
            "assign_starts",
            "generic_matches",
            "generic_xml",
            "generic_line",
        ];
        for ((n, fastest), name) in best.into_iter().zip(stages) {
            eprintln!(
                "{name}: {n} found, best {:.2} ms",
                fastest.as_secs_f64() * 1e3
            );
        }
    }
}
