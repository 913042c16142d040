//! The checks, applied to blobs (staged or pushed), never to the work tree.
//!
//! 1. SOPS structure: every file [`clef_core::classify::Layout`] says is
//!    encrypted (the manifest's `file_pattern`, `*.enc.yaml`, `*.enc.json`) parses as a SOPS file with recipients,
//!    `version` and `mac`, and every value its crypt rule says is encrypted is
//!    an `ENC[...]` (no key needed).
//! 2. No `clef-merge` conflict document (markers or the sentinel MAC).
//! 3. The scanner finds nothing on the lines the change adds.
//! 4. No age identity file, `keys.txt` or `.clef/config.yaml`, ever.
//!
//! Checks 1 and 2 apply only in a repository with a `clef.yaml`.

use std::path::Path;

use clef_git::hooks_support::AddedBlob;
use clef_scan::Scanner;
use clef_sops::{EncryptedFile, Format, SopsError};

/// Name of the baseline file the hooks honour, relative to the repository root.
pub const BASELINE: &str = ".clef/scan-baseline.json";

/// One reason to block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Repository-relative path.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// Rule id (`github-pat`, `sops-plaintext-value`, `conflict-document`, …).
    pub rule: String,
    /// What is wrong (never a value).
    pub what: String,
    /// A redacted preview of the offending text.
    pub preview: Option<String>,
    /// The commit that added it (pre-push only).
    pub commit: Option<String>,
    /// How to fix it.
    pub fix: String,
    /// How to suppress it, if it can be suppressed.
    pub suppress: Option<String>,
}

/// The outcome of running the policy over a set of blobs.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Problems that block.
    pub problems: Vec<Problem>,
    /// Scanner findings on lines the change does not add (not counted).
    pub untouched_findings: usize,
    /// Informational notes (skipped blobs, no manifest, …).
    pub notes: Vec<String>,
    /// Blobs examined.
    pub blobs: usize,
    /// No `clef.yaml`: checks 1 and 2 did not apply.
    pub no_manifest: bool,
}

impl Verdict {
    /// Whether the operation must be blocked.
    pub fn blocks(&self) -> bool {
        !self.problems.is_empty()
    }
}

/// Check 4 by name: files that hold private keys or per-developer config.
pub fn forbidden_name(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == "keys.txt" {
        Some("an age key file (keys.txt)")
    } else if path == ".clef/config.yaml" || path.ends_with("/.clef/config.yaml") {
        Some("the per-developer .clef/config.yaml")
    } else if name.ends_with(".agekey") {
        Some("an age identity file")
    } else {
        None
    }
}

/// Check 4 by content: a line that is an age secret key, in either case
/// (bech32 allows both, and age and clef accept both).
fn holds_age_identity(bytes: &[u8]) -> Option<u32> {
    let needle = b"AGE-SECRET-KEY-1";
    let mut line = 0u32;
    for l in bytes.split(|&b| b == b'\n') {
        line += 1;
        let t = l.trim_ascii_start();
        if t.get(..needle.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(needle))
            && t[needle.len()..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count()
                >= 50
        {
            return Some(line);
        }
    }
    None
}

/// Stands for the pushed range in a pre-push hint until the hook, which
/// knows the remote, replaces it ([`unpushed_fix`]).
pub const PUSH_RANGE: &str = "--range <pushed range>";

/// The fix for a problem found in a commit that is not pushed yet: the
/// secret is in history, so editing and `git add` is not enough; the
/// unpushed commits are rewritten. `base` is what the remote already has.
pub fn unpushed_fix(commit: &str, base: &str) -> String {
    let c = &commit[..commit.len().min(12)];
    format!(
        "the value is in commit {c}, which is not pushed yet: rewrite the unpushed commits without it (`git rebase -i {base}`, mark {c} as `edit`, remove the value or store it with `clef set`, `git commit --amend`, `git rebase --continue`), then push again; {ROTATE}"
    )
}

const ROTATE: &str =
    "if it was a real credential, rotate it: it may already be in the reflog or a stash";

fn restage(path: &str) -> String {
    format!(
        "fix the file, then `git add {path}` (the hook checks what is staged, not the work tree)"
    )
}

/// Check 4 (name or content). Not suppressible.
pub fn check_identity(path: &str, bytes: Option<&[u8]>, out: &mut Vec<Problem>) {
    let by_name = forbidden_name(path);
    let by_content = bytes.and_then(holds_age_identity);
    if by_name.is_none() && by_content.is_none() {
        return;
    }
    let what = match (by_name, by_content) {
        (Some(n), _) => format!("{n} must never be committed"),
        _ => "an age secret key (identity) must never be committed".to_owned(),
    };
    out.push(Problem {
        path: path.to_owned(),
        line: by_content,
        rule: "private-key-file".into(),
        what,
        preview: by_content.map(|_| "AGE-SECRET-KEY-1*****".to_owned()),
        commit: None,
        fix: format!(
            "unstage it (`git rm --cached {path}`), keep keys outside the repository (e.g. ~/.config/sops/age/keys.txt) and list the file in .gitignore; {ROTATE}"
        ),
        suppress: None,
    });
}

/// Line of `mac:` / `"mac":` in the text, for reporting.
fn mac_line(text: &str) -> Option<u32> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with("mac:") || t.starts_with("\"mac\"") || t.starts_with("sops_mac=")
        })
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Check 2 on any text: markers or the sentinel MAC.
pub fn check_conflict(path: &str, text: &str, out: &mut Vec<Problem>) -> bool {
    if !clef_core::conflict::is_conflict_document(text.as_bytes()) {
        return false;
    }
    let markers = clef_core::conflict::first_marker_line(text).and_then(|n| u32::try_from(n).ok());
    out.push(Problem {
        path: path.to_owned(),
        line: markers.or_else(|| mac_line(text)),
        rule: "conflict-document".into(),
        what: "an unresolved clef-merge conflict document (conflict markers or the CLEF-CONFLICT MAC) cannot be committed".into(),
        preview: None,
        commit: None,
        fix: format!("finish the merge: `clef merge resolve {path} --ours|--theirs|--pick KEY=ours|theirs`, then `git add {path}`"),
        suppress: None,
    });
    true
}

/// Best-effort line of the key path `["a"]["b"]` (its last name).
fn key_line(text: &str, display: &str, format: Format) -> Option<u32> {
    let last = display
        .trim_end_matches(" (comment)")
        .rsplit("[\"")
        .next()?
        .trim_end_matches("\"]")
        .to_owned();
    if last.is_empty() {
        return None;
    }
    let hit = |l: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        match format {
            Format::Yaml => {
                t.starts_with(&format!("{last}:")) || t.starts_with(&format!("\"{last}\":"))
            }
            Format::Json => t.starts_with(&format!("\"{last}\"")),
            Format::Dotenv => t.starts_with(&format!("{last}=")),
            Format::Ini => t.starts_with(&last),
            Format::Binary => false,
        }
    };
    text.lines()
        .position(hit)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Check 1 (and 2) on a file the manifest says is encrypted.
pub fn check_sops(path: &str, bytes: &[u8], out: &mut Vec<Problem>) {
    let text = String::from_utf8_lossy(bytes);
    if check_conflict(path, &text, out) {
        return;
    }
    let format = Format::from_path(Path::new(path)).unwrap_or(Format::Yaml);
    let encrypt_hint = format!(
        "encrypt it in place (`clef sops encrypt -i {path}`), then `git add {path}`; {ROTATE}"
    );
    let mut problem =
        |line: Option<u32>, rule: &str, what: String, preview: Option<String>, fix: String| {
            out.push(Problem {
                path: path.to_owned(),
                line,
                rule: rule.into(),
                what,
                preview,
                commit: None,
                fix,
                suppress: None,
            });
        };
    let file = match EncryptedFile::parse(bytes, format) {
        Ok(f) => f,
        Err(SopsError::NotEncryptedFile | SopsError::Empty) => {
            problem(
                Some(1),
                "sops-not-encrypted",
                "no sops metadata: this file is plaintext but its name (or clef.yaml's file_pattern) says it is encrypted".into(),
                None,
                encrypt_hint,
            );
            return;
        }
        Err(e) => {
            problem(
                None,
                "sops-invalid",
                format!("not a valid sops file: {e}"),
                None,
                format!(
                    "restore it from a good version (`git restore --staged --worktree {path}`) or re-create it with clef; then `git add {path}`"
                ),
            );
            return;
        }
    };
    let m = &file.meta;
    let recipients = m
        .key_groups
        .iter()
        .map(|g| g.age.len() + g.other.len())
        .sum::<usize>();
    if recipients == 0 {
        problem(
            mac_line(&text),
            "sops-invalid",
            "the sops metadata lists no recipients".into(),
            None,
            restage(path),
        );
    }
    if m.mac.trim().is_empty() {
        problem(
            mac_line(&text),
            "sops-invalid",
            "the sops metadata has no mac".into(),
            None,
            restage(path),
        );
    }
    if m.version.trim().is_empty() {
        problem(
            None,
            "sops-invalid",
            "the sops metadata has no version".into(),
            None,
            restage(path),
        );
    }
    match file.unencrypted_values() {
        Ok(paths) => {
            for p in paths {
                let last = p
                    .rsplit("[\"")
                    .next()
                    .unwrap_or("")
                    .trim_end_matches("\"]")
                    .to_owned();
                problem(
                    key_line(&text, &p, format),
                    "sops-plaintext-value",
                    format!(
                        "the value at {p} must be encrypted (per the file's crypt rule) but is in clear text"
                    ),
                    Some(format!("{last}: *****")),
                    format!(
                        "put back the last good version of the cell (`git restore --source=HEAD --staged --worktree {path}`), then store the value again with `clef set` (it encrypts; never edit a cell by hand); {ROTATE}"
                    ),
                );
            }
        }
        Err(e) => problem(
            None,
            "sops-invalid",
            format!("cannot check the values: {e}"),
            None,
            restage(path),
        ),
    }
}

/// A blob too large to read cannot be checked, so it blocks (fail closed).
/// A large file that is not secret is allowed on purpose by listing its path
/// in `.clefignore` (not for files clef.yaml says are encrypted).
pub fn too_large(path: &str, size: u64, limit: u64, sops: bool, out: &mut Vec<Problem>) {
    let allow = if sops {
        "an encrypted cell this large is not a sops file clef wrote; restore it (`git restore --staged {path}`)".replace("{path}", path)
    } else {
        format!(
            "if it holds nothing secret, allow it on purpose: add `/{path}` to .clefignore (and commit .clefignore); otherwise keep it out of git (`git rm --cached {path}`, Git LFS or an artifact store)"
        )
    };
    out.push(Problem {
        path: path.to_owned(),
        line: None,
        rule: "too-large".into(),
        what: format!(
            "{size} bytes is over the {limit}-byte scan limit, so it was not checked for secrets"
        ),
        preview: None,
        commit: None,
        fix: allow,
        suppress: None,
    });
}

/// The scanner's findings in a blob. In a file check 1 applies to (`sops`),
/// the SOPS rules are left to check 1, which judges the same values with
/// the engine and says how to fix them; every other rule still applies.
pub fn scan_findings(
    scanner: &Scanner,
    path: &str,
    bytes: &[u8],
    sops: bool,
) -> Vec<clef_scan::Finding> {
    let mut found = scanner.scan_blob(path, bytes);
    if sops {
        found.retain(|f| {
            f.rule != clef_scan::rules::SOPS_PLAINTEXT_RULE
                && f.rule != clef_scan::rules::SOPS_UNENCRYPTED_RULE
        });
    }
    found
}

/// Check 3: scanner findings on added lines of `blob`. Returns how many
/// findings were on lines the change does not add.
pub fn check_scan(
    scanner: &Scanner,
    blob: &AddedBlob,
    bytes: &[u8],
    out: &mut Vec<Problem>,
) -> usize {
    keep_added(blob, scan_findings(scanner, &blob.path, bytes, false), out)
}

/// The second half of [`check_scan`]: keeps the findings on added lines of
/// `blob` as problems; returns how many were on other lines.
pub fn keep_added(
    blob: &AddedBlob,
    findings: Vec<clef_scan::Finding>,
    out: &mut Vec<Problem>,
) -> usize {
    let mut untouched = 0;
    for f in findings {
        let line = u32::try_from(f.line).unwrap_or(u32::MAX);
        if !blob.is_added(line) {
            untouched += 1;
            continue;
        }
        out.push(Problem {
            path: blob.path.clone(),
            line: Some(line),
            rule: f.rule.clone(),
            what: f.description.clone(),
            preview: Some(f.secret.redacted()),
            commit: blob.commit.clone(),
            fix: format!(
                "remove the value from the file (load it from the environment or store it with `clef set`), then `git add {}`; {ROTATE}",
                blob.path
            ),
            suppress: Some(format!(
                "if it is not a secret: add a `clef:ignore` comment on that line, or `rule:{}` / the path to .clefignore, or accept the current findings into the baseline with `clef-scan {} --baseline-write {BASELINE}`",
                f.rule,
                if blob.commit.is_some() { PUSH_RANGE } else { "--staged" }
            )),
        });
    }
    untouched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_and_content() {
        assert!(forbidden_name("keys.txt").is_some());
        assert!(forbidden_name("a/b/keys.txt").is_some());
        assert!(forbidden_name(".clef/config.yaml").is_some());
        assert!(forbidden_name("x/.clef/config.yaml").is_some());
        assert!(forbidden_name("my.clef/config.yaml").is_none());
        assert!(forbidden_name("docs/keys.txt.md").is_none());
        let key = format!("# created\nAGE-SECRET-KEY-1{}\n", "Q".repeat(58));
        assert_eq!(holds_age_identity(key.as_bytes()), Some(2));
        assert_eq!(
            holds_age_identity(b"see AGE-SECRET-KEY-1... in docs\nAGE-SECRET-KEY-1XYZ\n"),
            None
        );
    }

    #[test]
    fn plaintext_sops_name_is_blocked() {
        let mut out = Vec::new();
        check_sops(
            "s/dev.enc.yaml",
            b"password: hunter2\nsops: nope\n",
            &mut out,
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].rule.starts_with("sops-"));
        assert!(!format!("{out:?}").contains("hunter2"));
    }

    #[test]
    fn markers_are_conflicts() {
        let mut out = Vec::new();
        check_sops(
            "s/dev.enc.yaml",
            b"a: ENC[x]\n<<<<<<< HEAD\nb: 1\n=======\nb: 2\n>>>>>>> t\n",
            &mut out,
        );
        assert_eq!(out[0].rule, "conflict-document");
        assert_eq!(out[0].line, Some(2));
    }
}
