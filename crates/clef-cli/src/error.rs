//! The CLI's error type and its exit codes (one table, used by every command).

use std::path::Path;

use clef_core::cell::CellError;
use clef_sops::SopsError;

/// Exit codes: [`clef_core::exit`] (the table `clef --help` prints), with
/// the names the commands use.
pub mod code {
    pub use clef_core::exit::{
        ALREADY_ENCRYPTED, BAD_PATH, EMPTY, KEY, MAC, NO_FILE, REFUSED, TREE, USAGE, WRITE,
    };
    /// Generic failure.
    pub const GENERIC: i32 = clef_core::exit::FAILURE;
    /// Cannot read or parse the input.
    pub const READ: i32 = USAGE;
    /// `.sops.yaml` problems.
    pub const CONFIG: i32 = USAGE;
}

/// An error with its exit code and a one-line message (never a secret value).
#[derive(Debug)]
pub struct CliError {
    /// Process exit code.
    pub code: i32,
    /// Message.
    pub msg: String,
}

impl CliError {
    /// A new error.
    pub fn new(code: i32, msg: impl Into<String>) -> Self {
        CliError {
            code,
            msg: msg.into(),
        }
    }

    /// Maps an engine error on `file` to a message and sops's exit code.
    pub fn sops(file: &Path, e: SopsError) -> Self {
        let c = match &e {
            SopsError::Yaml(_)
            | SopsError::Json(_)
            | SopsError::Dotenv(_)
            | SopsError::Ini(_)
            | SopsError::NotUtf8(_)
            | SopsError::NotEncryptedFile
            | SopsError::Meta(_)
            | SopsError::BadRule { .. } => code::READ,
            SopsError::Empty => code::EMPTY,
            SopsError::AlreadyEncrypted => code::ALREADY_ENCRYPTED,
            SopsError::MacMismatch | SopsError::MacUndecryptable | SopsError::NoMac => code::MAC,
            SopsError::NoIdentity { .. }
            | SopsError::Threshold { .. }
            | SopsError::BadDataKey
            | SopsError::Keys(_)
            | SopsError::Wrap(_)
            | SopsError::Shamir(_) => code::KEY,
            SopsError::Path(_) => code::BAD_PATH,
            SopsError::NotEncrypted { .. }
            | SopsError::Value { .. }
            | SopsError::BadPlaintext { .. }
            | SopsError::UnsupportedMasterKey(_)
            | SopsError::NoRecipients => code::TREE,
            SopsError::Output { .. } => code::GENERIC,
        };
        CliError::new(c, format!("{}: {e}", file.display()))
    }
}

impl From<clef_core::ManifestError> for CliError {
    fn from(e: clef_core::ManifestError) -> Self {
        CliError::new(code::USAGE, e.to_string())
    }
}

impl From<clef_core::matrix::TargetError> for CliError {
    fn from(e: clef_core::matrix::TargetError) -> Self {
        CliError::new(code::USAGE, e.to_string())
    }
}

impl From<clef_core::local::LocalError> for CliError {
    fn from(e: clef_core::local::LocalError) -> Self {
        let c = match e {
            clef_core::local::LocalError::Tracked { .. } => code::REFUSED,
            _ => code::KEY,
        };
        CliError::new(c, e.to_string())
    }
}

impl From<clef_core::lock::LockError> for CliError {
    fn from(e: clef_core::lock::LockError) -> Self {
        use clef_core::lock::LockError;
        let c = match e {
            LockError::InProgress { .. } | LockError::Busy(_) => code::REFUSED,
            LockError::Create { .. } => code::WRITE,
        };
        CliError::new(c, e.to_string())
    }
}

impl From<CellError> for CliError {
    fn from(e: CellError) -> Self {
        match e {
            CellError::Sops { file, source } => CliError::sops(&file, source),
            CellError::Missing(_) => CliError::new(code::NO_FILE, e.to_string()),
            CellError::Read { .. } | CellError::Sidecar { .. } => {
                CliError::new(code::READ, e.to_string())
            }
            CellError::Write { .. } => CliError::new(code::WRITE, e.to_string()),
            CellError::Outside { .. } => CliError::new(code::REFUSED, e.to_string()),
        }
    }
}

impl From<clef_core::edit::EditError> for CliError {
    fn from(e: clef_core::edit::EditError) -> Self {
        use clef_core::edit::EditError;
        let c = match e {
            EditError::Cell(c) => return c.into(),
            EditError::Sops { file, source } => return CliError::sops(&file, source),
            EditError::Read { .. } | EditError::Status { .. } => code::READ,
            EditError::Conflicted { .. }
            | EditError::ConflictOn { .. }
            | EditError::Resolve { .. } => code::GENERIC,
            EditError::NoIdentity { .. } => code::KEY,
            EditError::Backend { .. } | EditError::NoRecipients { .. } => code::USAGE,
        };
        CliError::new(c, e.to_string())
    }
}

impl From<clef_core::ops::OpError> for CliError {
    fn from(e: clef_core::ops::OpError) -> Self {
        use clef_core::ops::OpError;
        let c = match e {
            OpError::Edit(e) => return e.into(),
            OpError::KeyWithValue(_) | OpError::InvalidKey(_) | OpError::InClear { .. } => {
                code::USAGE
            }
            OpError::NotFound { .. }
            | OpError::NotFoundIn { .. }
            | OpError::Nested { .. }
            | OpError::Random => code::GENERIC,
        };
        CliError::new(c, e.to_string())
    }
}
