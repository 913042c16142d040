//! What a repository path is: a cell, a sidecar, another SOPS file or
//! anything else. The one answer every front end asks (the hooks, the merge
//! driver, `clef merge`), from the path and the manifest's `file_pattern`,
//! never from the content.

use std::path::Path;

use clef_doc::Value;
use clef_sops::Format;

use crate::manifest::{FILE_NAME, ManifestError};

/// The suffix of a cell's plaintext bookkeeping sidecar.
pub const SIDECAR_SUFFIX: &str = ".clef-meta.yaml";

/// File names that are SOPS files whatever the manifest says.
pub const SOPS_SUFFIXES: [&str; 2] = [".enc.yaml", ".enc.json"];

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Matches the manifest's `file_pattern`: an encrypted cell.
    Cell,
    /// A `.clef-meta.yaml` sidecar (plaintext bookkeeping).
    Sidecar,
    /// Named `*.enc.yaml` / `*.enc.json` outside the pattern: a SOPS file.
    Sops,
    /// Anything else.
    Other,
}

impl FileKind {
    /// Whether the file must be a SOPS-encrypted file.
    pub fn is_encrypted(self) -> bool {
        matches!(self, FileKind::Cell | FileKind::Sops)
    }
}

/// Which merge a path takes in the merge driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// A SOPS file of this format.
    Sops(Format),
    /// A `.clef-meta.yaml` sidecar.
    Sidecar,
}

/// The merge for a path (the real path `%P`, never the temp file name), or
/// `None` when its format is unknown.
pub fn merge_kind(path: &Path) -> Option<MergeKind> {
    if is_sidecar(path) {
        return Some(MergeKind::Sidecar);
    }
    Format::from_path(path).map(MergeKind::Sops)
}

/// Whether the file name ends in [`SIDECAR_SUFFIX`].
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SIDECAR_SUFFIX))
}

/// Whether the file name ends in one of [`SOPS_SUFFIXES`].
pub fn is_sops_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    SOPS_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// `{token}` matches one or more characters other than `/`; everything else
/// literally.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    fn go(pat: &str, s: &str) -> bool {
        match pat.find('{') {
            None => pat == s,
            Some(i) => {
                let (lit, rest) = pat.split_at(i);
                let Some(s) = s.strip_prefix(lit) else {
                    return false;
                };
                let Some(close) = rest.find('}') else {
                    return rest == s;
                };
                let after = &rest[close + 1..];
                let seg_end = s.find('/').unwrap_or(s.len());
                (1..=seg_end).any(|n| s.is_char_boundary(n) && go(after, &s[n..]))
            }
        }
    }
    go(pattern.trim_start_matches("./"), path)
}

/// Where a repository keeps its encrypted files: the manifest's
/// `file_pattern`, read leniently (a `clef.yaml` that does not validate
/// still says where its cells are, so the hooks keep checking them).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `file_pattern`, e.g. `secrets/{namespace}/{environment}.enc.yaml`.
    pub file_pattern: Option<String>,
}

impl Layout {
    /// Reads `<root>/clef.yaml`; `Ok(None)` when there is none.
    pub fn load(root: &Path) -> Result<Option<Layout>, ManifestError> {
        let path = root.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ManifestError::Io {
                    path,
                    reason: e.kind().to_string(),
                });
            }
        };
        let docs = clef_doc::yaml::parse(&text).map_err(|e| ManifestError::Yaml {
            path: path.clone(),
            line: e.line,
            reason: e.reason.clone(),
        })?;
        let file_pattern = docs.first().and_then(|d| match d.get("file_pattern") {
            Some(Value::Str(s)) => Some(s.expose().to_owned()),
            _ => None,
        });
        Ok(Some(Layout { file_pattern }))
    }

    /// What `path` (repository-relative, `/`-separated) is.
    pub fn kind(&self, path: &str) -> FileKind {
        if self
            .file_pattern
            .as_deref()
            .is_some_and(|p| pattern_matches(p, path))
        {
            FileKind::Cell
        } else if is_sidecar(Path::new(path)) {
            FileKind::Sidecar
        } else if is_sops_name(path) {
            FileKind::Sops
        } else {
            FileKind::Other
        }
    }

    /// Whether `path` must be a SOPS-encrypted file.
    pub fn is_encrypted_path(&self, path: &str) -> bool {
        self.kind(path).is_encrypted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_pattern() {
        let p = "secrets/{namespace}/{environment}.enc.yaml";
        assert!(pattern_matches(p, "secrets/api/dev.enc.yaml"));
        assert!(!pattern_matches(p, "secrets/api/x/dev.enc.yaml"));
        assert!(!pattern_matches(p, "secrets/api/.enc.yaml"));
        assert!(!pattern_matches(p, "other/api/dev.enc.yaml"));
        assert!(pattern_matches(
            "./{namespace}/{environment}.json",
            "a/b.json"
        ));
        let m = Layout {
            file_pattern: Some("cfg/{environment}.yaml".into()),
        };
        assert!(m.is_encrypted_path("cfg/prod.yaml"));
        assert!(m.is_encrypted_path("x/y.enc.json"));
        assert!(!m.is_encrypted_path("cfg/prod.yml"));
        assert_eq!(m.kind("cfg/prod.yaml"), FileKind::Cell);
        assert_eq!(m.kind("x/y.enc.json"), FileKind::Sops);
        assert_eq!(m.kind("x/prod.clef-meta.yaml"), FileKind::Sidecar);
        assert_eq!(m.kind("README.md"), FileKind::Other);
    }

    #[test]
    fn merge_kinds() {
        assert_eq!(
            merge_kind(Path::new("s/dev.clef-meta.yaml")),
            Some(MergeKind::Sidecar)
        );
        assert_eq!(
            merge_kind(Path::new("s/dev.enc.json")),
            Some(MergeKind::Sops(Format::Json))
        );
        assert_eq!(merge_kind(Path::new("s/dev.txt")), None);
    }
}
