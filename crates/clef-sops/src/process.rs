//! What every clef binary does the same way at its edges (beside
//! [`crate::io`]'s one file writer): the exit-code table its `--help`
//! prints, rendered from the binary's constants, and a panic hook that
//! never prints a panic's message (it could quote a value), only where it
//! happened. Libraries only render; the binaries install the hook and exit.

use std::fmt::Display;

/// The table as help text: `Exit codes:`, then `  CODE what` a line, then
/// each `notes` line indented the same way.
pub fn exit_help<C: Display + Copy>(table: &[(C, &str)], notes: &[&str]) -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, what) in table {
        s.push_str(&format!("  {:<4} {what}\n", code.to_string()));
    }
    for n in notes {
        s.push_str(&format!("  {n}\n"));
    }
    s
}

/// Installs the panic hook of binary `program`: one line on stderr,
/// `PROGRAM: internal error at FILE:LINE` and `then`, never the message.
pub fn quiet_panics(program: &'static str, then: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("{program}: internal error{at}{then}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_each_code_then_the_notes() {
        let h = exit_help(&[(0u8, "fine"), (129, "refused")], &["a note"]);
        assert_eq!(h, "Exit codes:\n  0    fine\n  129  refused\n  a note\n");
    }
}
