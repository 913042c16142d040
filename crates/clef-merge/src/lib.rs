//! `clef-merge`: a SOPS-aware three-way merge driver for git.
//!
//! * [`tree3`], [`conflict`], [`resolve`](mod@resolve): the merge engine, from
//!   `clef_core::merge` (the edit session needs it below clef-core).
//! * [`sidecar`]: the `.clef-meta.yaml` rotation/pending bookkeeping merge.
//! * [`driver`]: file-level merges (decrypt, merge, re-encrypt) and the
//!   driver itself ([`driver::run`]).
//! * [`args`]: git's command line for the driver.
//!
//! Plaintext lives only in memory ([`clef_doc::tree::Secret`] zeroizes on
//! drop); everything written is ciphertext or the plaintext sidecar, and
//! errors name paths and keys, never values.

pub mod args;
pub mod driver;
mod meta;
pub mod ops;
pub mod sidecar;

// The engine lives in clef-core (below the edit session); re-exported here
// under the paths the driver has always used.
// (`resolve` names both the module and its function.)
pub use clef_core::merge::{
    Candidates, Choice, Conflict, ConflictKind, ConflictedKey, KeyPath, MergeError, Merged,
    ResolveError, Resolved, Side, Status, candidates, conflict, merge_docs, resolve, status, tree3,
};
pub use driver::{Outcome, merge_sidecar_bytes, merge_sops, merge_sops_governed, run};

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
        clef_sops::process::exit_help(&TABLE, &[])
    }
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
    /// An input already contains conflict markers.
    #[error("{0} already contains conflict markers (an unresolved conflict was committed?)")]
    Markers(&'static str),
    /// Loading identities failed.
    #[error("loading age identities: {0}")]
    Keys(#[from] clef_keys::KeyError),
    /// This clone's `.clef/config.yaml` is unreadable, or the identity it names.
    #[error(transparent)]
    Local(#[from] clef_core::local::LocalError),
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
    /// What the driver shares with `clef merge status|resolve`
    /// ([`ResolveError`], the one error of a three-way merge of SOPS files):
    /// an input not UTF-8, a side that does not parse or decrypt, the result
    /// not re-encrypting, the tree merge refusing, the sides disagreeing on
    /// policy, or a conflict document that cannot be read.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl From<MergeError> for DriverError {
    fn from(e: MergeError) -> Self {
        DriverError::Resolve(ResolveError::Merge(e))
    }
}
