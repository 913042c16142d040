//! Comparing without revealing: key-name drift between two clef
//! repositories (`clef drift`, no decryption) and the constant-time value
//! comparison behind `clef compare`.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::manifest::Manifest;

/// One cell present in both repositories whose key names differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellDrift {
    /// `namespace/environment`.
    pub target: String,
    /// Keys only in this repository.
    pub only_here: Vec<String>,
    /// Keys only in the other one.
    pub only_there: Vec<String>,
}

/// The comparison of two repositories.
#[derive(Debug, Clone, Default)]
pub struct Drift {
    /// Cells compared (declared in both).
    pub compared: usize,
    /// Cells whose key names differ.
    pub cells: Vec<CellDrift>,
    /// Namespaces or environments declared on one side only (`namespace x (here)`).
    pub unshared: Vec<String>,
}

fn keys(
    root: &Path,
    m: &Manifest,
    ns: &str,
    env: &str,
) -> Result<Vec<String>, crate::cell::CellError> {
    let Ok(c) = m.cell(ns, env) else {
        return Ok(Vec::new());
    };
    Ok(crate::cell::load(root, &c)?
        .map(|l| l.file.keys())
        .unwrap_or_default())
}

/// Compares the key names of every cell both manifests declare (in this
/// repository's order), optionally only in `namespaces`.
pub fn compare(
    here: (&Path, &Manifest),
    there: (&Path, &Manifest),
    namespaces: &[String],
) -> Result<Drift, crate::cell::CellError> {
    let (hr, hm) = here;
    let (tr, tm) = there;
    let mut d = Drift::default();
    for n in &hm.namespaces {
        if tm.namespace(&n.name).is_none() {
            d.unshared.push(format!("namespace {} (here only)", n.name));
        }
    }
    for n in &tm.namespaces {
        if hm.namespace(&n.name).is_none() {
            d.unshared
                .push(format!("namespace {} (there only)", n.name));
        }
    }
    for e in &hm.environments {
        if tm.environment(&e.name).is_none() {
            d.unshared
                .push(format!("environment {} (here only)", e.name));
        }
    }
    for e in &tm.environments {
        if hm.environment(&e.name).is_none() {
            d.unshared
                .push(format!("environment {} (there only)", e.name));
        }
    }
    for n in &hm.namespaces {
        if tm.namespace(&n.name).is_none()
            || (!namespaces.is_empty() && !namespaces.contains(&n.name))
        {
            continue;
        }
        for e in &hm.environments {
            if tm.environment(&e.name).is_none() {
                continue;
            }
            d.compared += 1;
            let a = keys(hr, hm, &n.name, &e.name)?;
            let b = keys(tr, tm, &n.name, &e.name)?;
            let only_here: Vec<String> = a.iter().filter(|k| !b.contains(k)).cloned().collect();
            let only_there: Vec<String> = b.iter().filter(|k| !a.contains(k)).cloned().collect();
            if !only_here.is_empty() || !only_there.is_empty() {
                d.cells.push(CellDrift {
                    target: format!("{}/{}", n.name, e.name),
                    only_here,
                    only_there,
                });
            }
        }
    }
    Ok(d)
}

/// `clef sync`: per cell of `namespace` (all namespaces when `None`), the
/// key names other environments of the namespace hold and it lacks, in
/// first-seen order (names only, nothing decrypted). Cells that do not exist
/// are skipped.
pub fn missing_keys(
    root: &Path,
    m: &Manifest,
    namespace: Option<&str>,
) -> Result<Vec<(crate::Cell, Vec<String>)>, crate::cell::CellError> {
    let mut out = Vec::new();
    for n in &m.namespaces {
        if namespace.is_some_and(|x| x != n.name) {
            continue;
        }
        let mut cells = Vec::new();
        for e in &m.environments {
            let Ok(c) = m.cell(&n.name, &e.name) else {
                continue;
            };
            if let Some(l) = crate::cell::load(root, &c)? {
                cells.push((c, l.file.keys()));
            }
        }
        let mut union: Vec<String> = Vec::new();
        for (_, ks) in &cells {
            for k in ks {
                if !union.contains(k) {
                    union.push(k.clone());
                }
            }
        }
        for (c, ks) in cells {
            let missing: Vec<String> = union.iter().filter(|k| !ks.contains(k)).cloned().collect();
            if !missing.is_empty() {
                out.push((c, missing));
            }
        }
    }
    Ok(out)
}

/// Whether two secret values are equal, in time independent of where they
/// differ and of their lengths (both are hashed, then the digests are
/// compared without an early exit).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
        assert!(secrets_equal(b"", b""));
    }
}
