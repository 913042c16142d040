//! Reports: text (redacted, optionally coloured), JSON and SARIF 2.1.0.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::checksum::Checksum;
use crate::finding::Finding;

/// A problem that did not stop the scan (unreadable file, invalid UTF-8,
/// oversized file, missing git object). Never contains file contents.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file or blob.
    pub path: String,
    /// What happened.
    pub message: String,
    /// True if it made the scan incomplete (exit code 2); false for notices
    /// such as invalid UTF-8 (the file was still scanned as bytes).
    pub is_error: bool,
}

/// The result of a whole scan.
#[derive(Debug, Default)]
pub struct Report {
    /// Findings, sorted by path, line, column, rule.
    pub findings: Vec<Finding>,
    /// Files (or blobs) scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Files skipped (binary, ignored, too large).
    pub skipped: u64,
    /// Findings hidden by the baseline.
    pub baselined: u64,
    /// Wall time.
    pub duration_ms: u64,
    /// Errors and notices.
    pub problems: Vec<Problem>,
    /// The salt that keys the findings' fingerprints (hex), so that a JSON
    /// report can serve as a baseline.
    pub fingerprint_salt: String,
}

impl Report {
    /// Sort findings deterministically.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (
                a.path.as_str(),
                a.line,
                a.column,
                a.rule.as_str(),
                a.commit.as_deref(),
            )
                .cmp(&(
                    b.path.as_str(),
                    b.line,
                    b.column,
                    b.rule.as_str(),
                    b.commit.as_deref(),
                ))
        });
        self.problems.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// True if some problem made the scan incomplete.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.is_error)
    }

    /// The JSON report (see the crate docs for the shape), ready to
    /// serialize: typed, with the keys in the order a sorted map gives them,
    /// so the text is what a `serde_json::Value` tree gave (a history scan's
    /// thousand findings rendered through a `Value` took about 10 ms on one
    /// core at the end of the run).
    pub fn to_json(&self, redact: bool) -> JsonReport<'_> {
        JsonReport {
            findings: self
                .findings
                .iter()
                .map(|f| JsonFinding {
                    author: f.author.as_deref(),
                    checksum: f.checksum.map(|c| {
                        if c == Checksum::Valid {
                            "valid"
                        } else {
                            "invalid"
                        }
                    }),
                    column: f.column,
                    commit: f.commit.as_deref(),
                    confidence: f.confidence(),
                    date: f.date.as_deref(),
                    end_column: f.end_column,
                    end_line: f.end_line,
                    entropy: (f.entropy * 1000.0).round() / 1000.0,
                    fingerprint: &f.fingerprint,
                    fixture: f.fixture,
                    line: f.line,
                    path: &f.path,
                    rule: &f.rule,
                    secret: (!redact).then(|| f.secret.expose()),
                    secret_redacted: f.secret.redacted(),
                    severity: if f.low_severity().is_some() {
                        "low"
                    } else {
                        "high"
                    },
                })
                .collect(),
            fingerprint_salt: &self.fingerprint_salt,
            problems: self
                .problems
                .iter()
                .map(|p| JsonProblem {
                    error: p.is_error,
                    message: &p.message,
                    path: &p.path,
                })
                .collect(),
            stats: JsonStats {
                baselined: self.baselined,
                bytes: self.bytes,
                duration_ms: self.duration_ms,
                files: self.files,
                skipped: self.skipped,
            },
        }
    }

    /// SARIF 2.1.0, accepted by GitHub code scanning: unique rules, 1-based
    /// columns, a content-hash `partialFingerprints`, no secret in the
    /// snippet unless `redact` is false.
    pub fn to_sarif(&self, rules: &[(String, String)], redact: bool) -> Value {
        let mut used: Vec<&str> = self.findings.iter().map(|f| f.rule.as_str()).collect();
        used.sort_unstable();
        used.dedup();
        let rule_objs: Vec<Value> = used
            .iter()
            .map(|id| {
                let desc = rules
                    .iter()
                    .find(|(r, _)| r == id)
                    .map_or_else(|| (*id).to_string(), |(_, d)| d.clone());
                json!({
                    "id": id,
                    "name": id,
                    "shortDescription": {"text": desc},
                    "fullDescription": {"text": format!("{desc}. Detected by clef-scan rule {id}.")},
                    "defaultConfiguration": {"level": "error"},
                    "properties": {"tags": ["security", "secret"]},
                })
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let idx = used.iter().position(|u| *u == f.rule).unwrap_or(0);
                let shown = if redact {
                    f.secret.redacted()
                } else {
                    f.secret.expose().to_string()
                };
                let mut r = json!({
                    "ruleId": f.rule,
                    "ruleIndex": idx,
                    "level": if f.low_severity().is_some() { "note" } else { "error" },
                    "message": {"text": format!("{}: {}", f.description, shown)},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                            "region": {
                                "startLine": f.line.max(1),
                                "startColumn": f.column.max(1),
                                "endLine": f.end_line.max(f.line).max(1),
                                "endColumn": f.end_column.max(1),
                                "snippet": {"text": shown},
                            }
                        }
                    }],
                    "partialFingerprints": {"clefFingerprint/v1": f.fingerprint},
                });
                if let (Some(c), Some(o)) = (&f.commit, r.as_object_mut()) {
                    o.insert(
                        "properties".into(),
                        json!({"commit": c, "author": f.author, "date": f.date}),
                    );
                }
                if let Some(why) = f.low_severity() {
                    r["properties"]["lowSeverity"] = json!(why);
                }
                if let Some(why) = f.fixture {
                    r["properties"]["fixture"] = json!(why);
                }
                if f.checksum == Some(Checksum::Valid) {
                    r["properties"]["checksum"] = json!("valid");
                }
                r
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "clef-scan",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/clef-sh/clef",
                    "rules": rule_objs,
                }},
                "results": results,
                "columnKind": "unicodeCodePoints",
            }]
        })
    }

    /// One line counting the findings in test fixtures and examples by
    /// reason, most frequent first, and naming the flag that lists them
    /// (`None` when there are none).
    pub fn fixture_summary(&self) -> Option<String> {
        let mut by_reason: Vec<(&'static str, usize)> = Vec::new();
        for why in self.findings.iter().filter_map(|f| f.fixture) {
            match by_reason.iter_mut().find(|(r, _)| *r == why) {
                Some((_, n)) => *n += 1,
                None => by_reason.push((why, 1)),
            }
        }
        if by_reason.is_empty() {
            return None;
        }
        by_reason.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let total: usize = by_reason.iter().map(|(_, n)| n).sum();
        let reasons: Vec<String> = by_reason
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        Some(format!(
            "{total} finding{} in test fixtures or examples not listed (low severity: {}); --show-fixtures lists them",
            if total == 1 { "" } else { "s" },
            reasons.join(", ")
        ))
    }

    /// Human-readable text. `color` adds ANSI colours; `summary` adds the
    /// closing count line. Findings in test fixtures and examples
    /// ([`Finding::fixture`]) are listed one by one only with
    /// `list_fixtures`; otherwise they are counted by reason in one line
    /// (printed even without the summary), so that a scan of a code base full
    /// of test vectors shows what matters first and never hides the rest.
    pub fn to_text(&self, redact: bool, color: bool, summary: bool, list_fixtures: bool) -> String {
        let (red, bold, dim, reset) = if color {
            ("\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let mut s = String::new();
        for f in &self.findings {
            if f.fixture.is_some() && !list_fixtures {
                continue;
            }
            let shown = if redact {
                f.secret.redacted()
            } else {
                f.secret.expose().to_string()
            };
            let fixture = match (f.low_severity(), f.checksum) {
                (Some(why), _) => format!(" {dim}(low severity: {why}){reset}"),
                (None, Some(Checksum::Valid)) => format!(" {dim}(checksum verifies){reset}"),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                s,
                "{bold}{}:{}:{}{reset} {red}{}{reset} {}{fixture}",
                f.path, f.line, f.column, f.rule, shown
            );
            if let Some(c) = &f.commit {
                let _ = writeln!(
                    s,
                    "    {dim}commit {} by {} on {}{reset}",
                    c,
                    f.author.as_deref().unwrap_or("?"),
                    f.date.as_deref().unwrap_or("?")
                );
            }
        }
        for p in &self.problems {
            let _ = writeln!(
                s,
                "{dim}{}: {}: {}{reset}",
                if p.is_error { "error" } else { "note" },
                p.path,
                p.message
            );
        }
        if !list_fixtures && let Some(line) = self.fixture_summary() {
            let _ = writeln!(s, "{dim}{line}{reset}");
        }
        if !summary {
            return s;
        }
        let low = self
            .findings
            .iter()
            .filter(|f| f.low_severity().is_some())
            .count();
        let _ = writeln!(
            s,
            "{} finding{}{} in {} files ({:.1} MB) in {} ms{}{}",
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            if low > 0 {
                format!(" ({low} low severity: test fixtures, examples or bad checksums)")
            } else {
                String::new()
            },
            self.files,
            self.bytes as f64 / 1e6,
            self.duration_ms,
            if self.skipped > 0 {
                format!(", {} skipped", self.skipped)
            } else {
                String::new()
            },
            if self.baselined > 0 {
                format!(", {} in baseline", self.baselined)
            } else {
                String::new()
            },
        );
        s
    }
}

/// [`Report::to_json`]: the JSON report. Fields in key order.
#[derive(Debug, serde::Serialize)]
pub struct JsonReport<'a> {
    findings: Vec<JsonFinding<'a>>,
    fingerprint_salt: &'a str,
    problems: Vec<JsonProblem<'a>>,
    stats: JsonStats,
}

/// One finding of a [`JsonReport`]; `secret` only with `--no-redact`.
#[derive(Debug, serde::Serialize)]
struct JsonFinding<'a> {
    author: Option<&'a str>,
    checksum: Option<&'static str>,
    column: usize,
    commit: Option<&'a str>,
    confidence: &'static str,
    date: Option<&'a str>,
    end_column: usize,
    end_line: usize,
    entropy: f64,
    fingerprint: &'a str,
    fixture: Option<&'static str>,
    line: usize,
    path: &'a str,
    rule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    secret_redacted: String,
    severity: &'static str,
}

#[derive(Debug, serde::Serialize)]
struct JsonProblem<'a> {
    error: bool,
    message: &'a str,
    path: &'a str,
}

#[derive(Debug, serde::Serialize)]
struct JsonStats {
    baselined: u64,
    bytes: u64,
    duration_ms: u64,
    files: u64,
    skipped: u64,
}
