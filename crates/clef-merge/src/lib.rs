//! `clef-merge`: a SOPS-aware three-way merge driver for git.
//!
//! * [`tree3`]: the pure three-way merge of decrypted document trees.
//! * [`conflict`]: ciphertext-only conflict documents (render and split).
//! * [`sidecar`]: the `.clef-meta.yaml` rotation/pending bookkeeping merge.
//! * [`driver`]: file-level merges (decrypt, merge, re-encrypt) and the
//!   driver itself ([`driver::run`]).
//! * [`resolve`]: `clef merge status` / `clef merge resolve` as functions.
//! * [`args`]: git's command line for the driver.
//!
//! Plaintext lives only in memory ([`clef_doc::tree::Secret`] zeroizes on
//! drop); everything written is ciphertext or the plaintext sidecar, and
//! errors name paths and keys, never values.

pub mod args;
pub mod conflict;
pub mod driver;
mod meta;
pub mod ops;
pub mod resolve;
pub mod sidecar;
pub mod tree3;

pub use driver::{Outcome, merge_sidecar_bytes, merge_sops, merge_sops_governed, run};
pub use resolve::{
    Candidates, Choice, ConflictedKey, Resolved, Status, candidates, resolve, status,
};
pub use tree3::{Conflict, ConflictKind, KeyPath, Merged, Side, merge_docs};

use std::path::PathBuf;

/// The driver's exit codes (git's merge-driver protocol): the constants and
/// the table `clef-merge --help` prints.
pub mod exit {
    /// Clean merge written to `%A`.
    pub const CLEAN: u8 = 0;
    /// Conflict document written to `%A`.
    pub const CONFLICT: u8 = 1;
    /// Cannot merge safely: `%A` untouched, git refuses the merge (> 128).
    pub const REFUSED: u8 = 129;
    /// A bug (panic): the merge is refused, nothing changed.
    pub const PANIC: u8 = 134;

    /// Every code with its meaning, in order.
    pub const TABLE: [(u8, &str); 4] = [
        (CLEAN, "clean merge written to %A"),
        (
            CONFLICT,
            "conflict document written to %A (ciphertext only)",
        ),
        (
            REFUSED,
            "cannot merge safely: git refuses the merge, nothing is lost",
        ),
        (
            PANIC,
            "internal error: the merge is refused, nothing was changed",
        ),
    ];

    /// The table as help text.
    pub fn help() -> String {
        let mut s = String::from("exit codes:\n");
        for (code, what) in TABLE {
            s.push_str(&format!("  {code:>3}  {what}\n"));
        }
        s
    }
}

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

/// Everything that stops the driver, `status` or `resolve`. For the driver
/// each of these means "cannot merge safely" (exit ≥ 129: git keeps the
/// conflict and nothing is lost).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The command line is not what git passes.
    #[error(transparent)]
    Args(#[from] args::ArgsError),
    /// Reading an input or writing `%A` failed.
    #[error("{what}: {source}")]
    Io {
        /// Which file (`%O`, `%A`, `%B`).
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// `%P` has no extension clef can merge.
    #[error("{}: unknown file format (expected .yaml/.yml, .json, .env or .clef-meta.yaml)", .0.display())]
    UnknownFormat(PathBuf),
    /// An input is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// An input already contains conflict markers.
    #[error("{0} already contains conflict markers (an unresolved conflict was committed?)")]
    Markers(&'static str),
    /// Parsing or decrypting one side failed (including a MAC mismatch or no identity).
    #[error("{side}: {source}")]
    Sops {
        /// Which side.
        side: &'static str,
        /// What sops-level step failed.
        source: clef_sops::SopsError,
    },
    /// Encrypting or writing the result failed.
    #[error("re-encrypting the merged file: {0}")]
    Encrypt(clef_sops::SopsError),
    /// Loading identities failed.
    #[error("loading age identities: {0}")]
    Keys(#[from] clef_keys::KeyError),
    /// This clone's `.clef/config.yaml` is unreadable, or the identity it names.
    #[error(transparent)]
    Local(#[from] clef_core::local::LocalError),
    /// The tree merge refused the inputs.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The sides disagree on policy (crypt rule, MAC scope, key groups).
    #[error("cannot merge safely: {0}")]
    Policy(String),
    /// A master key would need re-wrapping that clef cannot do offline.
    #[error("cannot merge safely: {0}")]
    Rewrap(String),
    /// A side brings a new data key readable by recipients that clef.yaml at
    /// HEAD does not grant for the cell.
    #[error(
        "refusing: {side} encrypts the cell under a new data key for {} that clef.yaml at HEAD does not grant; grant access in clef.yaml (reviewed), or redo that branch's change with `clef set`/`clef rotate`",
        .recipients.join(", ")
    )]
    Ungranted {
        /// `ours` or `theirs`.
        side: &'static str,
        /// The recipients (or master-key kinds) not granted.
        recipients: Vec<String>,
    },
    /// `clef.yaml` at HEAD cannot be read or parsed.
    #[error("clef.yaml at HEAD: {0}")]
    Manifest(String),
    /// The sidecar could not be read.
    #[error("malformed .clef-meta.yaml: {0}")]
    Sidecar(String),
    /// `resolve` was given a file that is not a conflict document.
    #[error("not a clef conflict document (no conflict markers, no conflict MAC)")]
    NotConflictDocument,
    /// `resolve` was not told what to do with these keys.
    #[error("no side chosen for {} conflicting key(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Unresolved(Vec<KeyPath>),
    /// `resolve --pick` named a key that is not in conflict.
    #[error("`{0}` is not a conflicting key (see `clef merge status`)")]
    UnknownPick(String),
}
