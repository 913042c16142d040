//! The access-list check of a staged or pushed cell: its `sops` block must
//! grant exactly what clef.yaml grants ([`clef_core::Manifest::access`]) and
//! use clef's crypt rule. The block is not covered by the MAC, so a branch can
//! add a reader or switch encryption off for a key without any key material;
//! this check is what stops such a cell from being committed.

use std::path::Path;

use clef_core::Manifest;
use clef_sops::{EncryptedFile, Format};

use crate::policy::Problem;

/// Blocks `path` when it is a cell of `manifest` whose block differs from
/// the access list or from clef's crypt defaults. Files that do not parse
/// are left to the structural check, which reports them.
pub fn check_access(manifest: &Manifest, path: &str, bytes: &[u8], out: &mut Vec<Problem>) {
    let Some(cell) = manifest.cell_at(Path::new(path)) else {
        return;
    };
    let format = Format::from_path(Path::new(path)).unwrap_or(Format::Yaml);
    let Ok(file) = EncryptedFile::parse(bytes, format) else {
        return;
    };
    let drift = manifest.access(&cell).drift(&file.meta);
    for (_, what) in drift.describe() {
        out.push(Problem {
            path: path.to_owned(),
            line: None,
            rule: "clef-access".into(),
            what: format!("{what} (cell {})", cell.target()),
            preview: None,
            commit: None,
            fix: format!(
                "`clef rotate {}` writes the cell for exactly the recipients clef.yaml grants, with a new data key; then `git add {path}` (change who may read in clef.yaml, never in the cell)",
                cell.target()
            ),
            suppress: None,
        });
    }
}
