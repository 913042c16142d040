//! `clef-agent`'s exit codes: the constants `run` and the binary return,
//! and the table its `--help` prints.

/// Stopped by SIGTERM/SIGINT.
pub const STOPPED: u8 = 0;
/// No valid artifact at start, or cannot listen.
pub const FAILED: u8 = 1;
/// Bad configuration (flags, variables, config file).
pub const CONFIG: u8 = 2;
/// An internal error (a bug: a panic, on any thread). The panic hook exits
/// with it and says only where it happened.
pub const INTERNAL: u8 = 134;

/// Every code with its meaning, in order.
pub const TABLE: [(u8, &str); 4] = [
    (STOPPED, "stopped by SIGTERM/SIGINT"),
    (FAILED, "no valid artifact at start, or cannot listen"),
    (CONFIG, "bad configuration (flags, variables, config file)"),
    (
        INTERNAL,
        "internal error (a bug): one line saying where it happened, never a value",
    ),
];

/// The table as help text (`Exit codes:` then one line a code).
pub fn help() -> String {
    clef_sops::process::exit_help(&TABLE, &["exec passes the command's own exit code through"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_each_code_once_in_order() {
        let codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert!(help().starts_with("Exit codes:\n  0    stopped"));
    }
}
