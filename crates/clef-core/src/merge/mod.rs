//! The merge engine that every front end shares: the pure three-way merge
//! of decrypted trees ([`tree3`]), ciphertext-only conflict documents
//! ([`conflict`]: render and split) and finishing one ([`resolve`](mod@resolve): status,
//! resolve, the index-stage check). It lives below the edit session, which
//! resolves a conflicted cell when a command overwrites its conflicting
//! keys; the git merge driver (`clef-merge`) stands on it.
//!
//! Plaintext lives only in memory ([`clef_doc::tree::Secret`] zeroizes on
//! drop); errors name paths and keys, never values.

pub mod conflict;
pub mod resolve;
pub mod tree3;

pub use resolve::{
    Candidates, Choice, ConflictedKey, Resolved, Status, candidates, resolve, status,
};
pub use tree3::{Conflict, ConflictKind, KeyPath, Merged, Side, merge_docs};

/// Errors of the pure engine. Messages carry paths, key names and counts,
/// never a value.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The inputs have different numbers of YAML documents.
    #[error(
        "the sides have different numbers of YAML documents (base {base}, ours {ours}, theirs {theirs})"
    )]
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

/// Everything that stops [`status`], [`resolve()`], [`resolve::verify_stages`]
/// or [`candidates`] on a conflict document.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The document is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// Parsing or decrypting one variant failed (including no identity).
    #[error("{side}: {source}")]
    Sops {
        /// Which variant or index stage.
        side: &'static str,
        /// What sops-level step failed.
        source: clef_sops::SopsError,
    },
    /// Encrypting the result failed.
    #[error("re-encrypting the merged file: {0}")]
    Encrypt(clef_sops::SopsError),
    /// The tree merge refused the variants.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The variants disagree on metadata, or the document was edited.
    #[error("cannot merge safely: {0}")]
    Policy(String),
    /// The file is not a conflict document.
    #[error("not a clef conflict document (no conflict markers, no conflict MAC)")]
    NotConflictDocument,
    /// No side was chosen for these keys.
    #[error("no side chosen for {} conflicting key(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Unresolved(Vec<KeyPath>),
    /// `--pick` named a key that is not in conflict.
    #[error("`{0}` is not a conflicting key (see `clef merge status`)")]
    UnknownPick(String),
}
