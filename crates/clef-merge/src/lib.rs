//! `clef-merge`: a SOPS-aware three-way merge driver for git.
//!
//! * [`tree3`]: the pure three-way merge of decrypted document trees.
//! * [`conflict`]: ciphertext-only conflict documents (render and split).
//! * [`sidecar`]: the `.clef-meta.yaml` rotation/pending bookkeeping merge.

pub mod conflict;
pub mod sidecar;
pub mod tree3;

pub use tree3::{Conflict, ConflictKind, KeyPath, Merged, Side, merge_docs};

/// Everything that can stop a merge. Messages carry paths, key names and
/// counts, never a value.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The inputs have different numbers of YAML documents.
    #[error("the sides have different numbers of YAML documents (base {base}, ours {ours}, theirs {theirs})")]
    DocumentCount {
        /// Documents in the base.
        base: usize,
        /// Documents in ours.
        ours: usize,
        /// Documents in theirs.
        theirs: usize,
    },
    /// A mapping has the same key twice.
    #[error("duplicate key `{0}`")]
    DuplicateKey(KeyPath),
    /// Conflict markers that cannot be read back.
    #[error("malformed conflict markers at line {line}: {what}")]
    BadMarkers {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A `.clef-meta.yaml` sidecar that is not in the expected shape.
    #[error("malformed .clef-meta.yaml: {0}")]
    Sidecar(String),
}
