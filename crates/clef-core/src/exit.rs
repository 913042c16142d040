//! The exit codes of `clef`: the constants every command maps its errors
//! to and the table `clef --help` prints. The SOPS-related codes are
//! sops's own, so scripts written for `sops` keep working with `clef sops`.

/// Success.
pub const SUCCESS: i32 = 0;
/// A negative answer or failure: key not found, `diff` found differences,
/// `lint`/`doctor` found errors, a conflict left unresolved.
pub const FAILURE: i32 = 1;
/// Bad usage or input: unknown namespace/environment, invalid clef.yaml or
/// `.sops.yaml`, invalid key name, unreadable or unparsable file.
pub const USAGE: i32 = 2;
/// Cannot write the output.
pub const WRITE: i32 = 3;
/// A write refused: a merge/rebase/cherry-pick/revert is in progress, the
/// write lock is held, a protected environment was not confirmed, or a
/// removal clef.yaml does not allow.
pub const REFUSED: i32 = 4;
/// The tree could not be encrypted or decrypted (sops).
pub const TREE: i32 = 23;
/// MAC mismatch (sops).
pub const MAC: i32 = 51;
/// Bad tree path in `--extract`/`set`/`unset` (sops).
pub const BAD_PATH: i32 = 91;
/// The file is empty (sops).
pub const EMPTY: i32 = 92;
/// No such file (sops).
pub const NO_FILE: i32 = 100;
/// The data key could not be retrieved: no identity unwraps it (sops).
pub const KEY: i32 = 128;
/// An internal error (a bug: a panic). The panic hook exits with it, on
/// any thread and in any build; it says only where it happened. 134 is also
/// what an abort gives, so nothing else can yield an unlisted code.
pub const INTERNAL: i32 = 134;
/// The file is already encrypted (sops).
pub const ALREADY_ENCRYPTED: i32 = 203;

/// Every code with its meaning, in order: the one source of the help table.
pub const TABLE: [(i32, &str); 13] = [
    (SUCCESS, "success"),
    (
        FAILURE,
        "a negative answer or failure: key not found, `diff` found differences, `lint`/`doctor` found errors, conflict left unresolved",
    ),
    (
        USAGE,
        "bad usage or input: unknown namespace/environment, invalid clef.yaml (reported with its line), invalid key name, unreadable file",
    ),
    (
        WRITE,
        "cannot write (read-only directory, disk full); nothing was changed",
    ),
    (
        REFUSED,
        "refused: a merge/rebase/cherry-pick/revert is in progress and the cell is not part of it, another clef command holds the write lock, a protected environment was not confirmed (--yes), or the removal is not allowed (the last namespace or environment, a service identity's only scope)",
    ),
    (TREE, "the values could not be encrypted or decrypted"),
    (MAC, "MAC mismatch: the cell was modified without its key"),
    (
        BAD_PATH,
        "a tree path (`--extract`, `sops set/unset`) names nothing",
    ),
    (EMPTY, "the file is empty"),
    (NO_FILE, "the cell file does not exist"),
    (KEY, "no identity can decrypt the cell"),
    (
        INTERNAL,
        "internal error (a bug): one line saying where it happened, never a value",
    ),
    (ALREADY_ENCRYPTED, "the file is already encrypted"),
];

/// The table as help text (`Exit codes:` then one line a code), formatted
/// once: every `clef` subcommand's help ends with it, and clap asks for it
/// for each of them while it builds the command line.
pub fn help() -> &'static str {
    static HELP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HELP.get_or_init(|| {
        clef_sops::process::exit_help(
            &TABLE,
            &["exec passes the command's own exit code through (126/127: cannot run it)"],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_each_code_once_in_order() {
        let codes: Vec<i32> = TABLE.iter().map(|(c, _)| *c).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert!(help().starts_with("Exit codes:\n  0    success\n"));
    }
}
