//! The `.sops.yaml` that matches clef.yaml, so that plain `sops` run inside a
//! clef repository encrypts a cell for exactly the recipients clef.yaml grants
//! it: one creation rule per cell (its path, anchored), first match wins.
//!
//! clef writes the file on `clef init` and rewrites it whenever the
//! recipients change, but only a file it wrote itself (it starts with
//! [`HEADER`]); a hand-written `.sops.yaml` is left alone.

use std::path::Path;

use clef_sops::KeyGroup;
use clef_sops::config::{Creation, CreationRule, render_creation_rules};
use clef_sops::masterkey::stanza;

use crate::manifest::Manifest;

/// The file name, at the repository root (next to clef.yaml).
pub const FILE_NAME: &str = ".sops.yaml";

/// The first line of a `.sops.yaml` that clef writes and keeps in sync.
pub const HEADER: &str =
    "# Written by clef from clef.yaml (kept in sync by `clef recipients`); do not edit.\n";

/// The `.sops.yaml` text for `m`.
pub fn render(m: &Manifest) -> String {
    let rules: Vec<CreationRule> = m
        .cells()
        .iter()
        .map(|c| {
            let access = m.access(c);
            let mut group = KeyGroup::of_recipients(&access.age);
            // a cloud KMS cell: its key beside the break-glass and service
            // recipients, as sops's rule form `kms: ARN` / `gcp_kms: ID`
            if let Some(key) = &access.kms {
                group
                    .other
                    .push((key.kind().to_owned(), stanza(&[(key.id_field(), key.id())])));
            }
            CreationRule {
                path_regex: format!("^{}$", re2_escape(&c.file.to_string_lossy())),
                creation: Creation {
                    groups: vec![group],
                    ..Default::default()
                },
            }
        })
        .collect();
    format!("{HEADER}{}", render_creation_rules(&rules))
}

/// Whether clef may (re)write the `.sops.yaml` at `root`: there is none, or
/// clef wrote it.
pub fn is_ours(root: &Path) -> bool {
    match std::fs::read_to_string(root.join(FILE_NAME)) {
        Ok(text) => text.starts_with(HEADER),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// The write that keeps clef's `.sops.yaml` in step with a changed
/// clef.yaml `m` (the file, its new text, its bytes now), for the same batch
/// as clef.yaml ([`crate::cell::write_blobs`]); `None` when the file is
/// hand-written ([`is_ours`]).
pub fn blob(root: &Path, m: &Manifest) -> Option<crate::cell::Blob> {
    if !is_ours(root) {
        return None;
    }
    let path = root.join(FILE_NAME);
    let old = std::fs::read(&path).ok();
    Some((path, render(m).into_bytes(), old))
}

/// `s` as a literal in a Go RE2 pattern.
fn re2_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_re2_wants() {
        assert_eq!(
            re2_escape("secrets/a-b/dev.enc.yaml"),
            "secrets/a-b/dev\\.enc\\.yaml"
        );
        assert_eq!(re2_escape("x(1)+[y]"), "x\\(1\\)\\+\\[y\\]");
    }
}
