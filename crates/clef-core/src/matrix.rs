//! The matrix: one cell per (namespace, environment), at the path
//! `file_pattern` gives, with its `.clef-meta.yaml` sidecar beside it.

use std::path::{Path, PathBuf};

use clef_sops::Format;

use crate::manifest::Manifest;

/// A target that does not name a cell.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not `namespace/environment`.
    #[error("'{0}' is not a target: expected namespace/environment, e.g. api/dev")]
    Malformed(String),
    /// The namespace is not in clef.yaml.
    #[error("unknown namespace '{name}' (clef.yaml declares: {known})")]
    UnknownNamespace {
        /// Given.
        name: String,
        /// Declared.
        known: String,
    },
    /// The environment is not in clef.yaml.
    #[error("unknown environment '{name}' (clef.yaml declares: {known})")]
    UnknownEnvironment {
        /// Given.
        name: String,
        /// Declared.
        known: String,
    },
}

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Namespace name.
    pub namespace: String,
    /// Environment name.
    pub environment: String,
    /// The encrypted file, relative to the repository root.
    pub file: PathBuf,
    /// The sidecar, relative to the repository root.
    pub sidecar: PathBuf,
}

impl Cell {
    /// `namespace/environment`.
    pub fn target(&self) -> String {
        format!("{}/{}", self.namespace, self.environment)
    }

    /// The file's format (from its extension).
    pub fn format(&self) -> Format {
        if self.file.extension().is_some_and(|e| e == "json") {
            Format::Json
        } else {
            Format::Yaml
        }
    }

    /// Absolute path of the cell under `root`.
    pub fn path_in(&self, root: &Path) -> PathBuf {
        root.join(&self.file)
    }

    /// Absolute path of the sidecar under `root`.
    pub fn sidecar_in(&self, root: &Path) -> PathBuf {
        root.join(&self.sidecar)
    }
}

/// The sidecar path for a cell file: `dev.enc.yaml` → `dev.clef-meta.yaml`.
pub fn sidecar_for(file: &Path) -> PathBuf {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("cell");
    let base = [
        ".enc.yaml",
        ".enc.yml",
        ".enc.json",
        ".yaml",
        ".yml",
        ".json",
    ]
    .iter()
    .find_map(|s| name.strip_suffix(s))
    .unwrap_or(name);
    file.with_file_name(format!("{base}.clef-meta.yaml"))
}

impl Manifest {
    /// The cell of a namespace and environment (both must be declared).
    pub fn cell(&self, namespace: &str, environment: &str) -> Result<Cell, TargetError> {
        if self.namespace(namespace).is_none() {
            return Err(TargetError::UnknownNamespace {
                name: namespace.to_owned(),
                known: listed(self.namespaces.iter().map(|n| n.name.as_str())),
            });
        }
        if self.environment(environment).is_none() {
            return Err(TargetError::UnknownEnvironment {
                name: environment.to_owned(),
                known: listed(self.environments.iter().map(|e| e.name.as_str())),
            });
        }
        let file = PathBuf::from(
            self.file_pattern
                .replace("{namespace}", namespace)
                .replace("{environment}", environment),
        );
        Ok(Cell {
            namespace: namespace.to_owned(),
            environment: environment.to_owned(),
            sidecar: sidecar_for(&file),
            file,
        })
    }

    /// Parses `namespace/environment`.
    pub fn target(&self, s: &str) -> Result<Cell, TargetError> {
        match s.split('/').collect::<Vec<_>>().as_slice() {
            [ns, env] if !ns.is_empty() && !env.is_empty() => self.cell(ns, env),
            _ => Err(TargetError::Malformed(s.to_owned())),
        }
    }

    /// Every cell, namespace-major, in manifest order.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::new();
        for n in &self.namespaces {
            for e in &self.environments {
                if let Ok(c) = self.cell(&n.name, &e.name) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// The cells of one namespace, in environment order.
    pub fn namespace_cells(&self, namespace: &str) -> Result<Vec<Cell>, TargetError> {
        self.environments
            .iter()
            .map(|e| self.cell(namespace, &e.name))
            .collect()
    }

    /// The cells of one environment, in namespace order.
    pub fn environment_cells(&self, environment: &str) -> Result<Vec<Cell>, TargetError> {
        self.namespaces
            .iter()
            .map(|n| self.cell(&n.name, environment))
            .collect()
    }
}

/// Declared names as error messages list them: `a, b, c`.
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_paths() {
        let text = Manifest::initial_text(
            &["api".into()],
            &["dev".into(), "prod".into()],
            "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn",
        );
        let m = Manifest::parse(&text, Path::new("clef.yaml")).unwrap();
        let c = m.target("api/dev").unwrap();
        assert_eq!(c.file, Path::new("secrets/api/dev.enc.yaml"));
        assert_eq!(c.sidecar, Path::new("secrets/api/dev.clef-meta.yaml"));
        assert_eq!(c.format(), Format::Yaml);
        assert_eq!(m.cells().len(), 2);
        assert_eq!(
            m.target("api").unwrap_err(),
            TargetError::Malformed("api".into())
        );
        assert_eq!(
            m.target("api/dev/x").unwrap_err(),
            TargetError::Malformed("api/dev/x".into())
        );
        assert!(
            m.target("web/dev")
                .unwrap_err()
                .to_string()
                .contains("unknown namespace 'web' (clef.yaml declares: api)")
        );
        assert!(
            m.target("api/qa")
                .unwrap_err()
                .to_string()
                .contains("unknown environment 'qa'")
        );
        assert_eq!(
            sidecar_for(Path::new("a/b.enc.json")),
            Path::new("a/b.clef-meta.yaml")
        );
    }
}
