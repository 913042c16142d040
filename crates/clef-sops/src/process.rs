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
/// `PROGRAM: internal error at FILE:LINE` and `then`, never the message,
/// then the process exits with `code` (the binary's documented
/// internal-error code). It exits from the hook itself, so the code is the
/// same whether the build unwinds (tests) or aborts (release,
/// `panic = "abort"`), and whichever thread panicked.
pub fn quiet_panics(program: &'static str, then: &'static str, code: i32) {
    std::panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l| (l.file(), l.line()));
        eprintln!("{}", panic_line(program, then, at));
        #[allow(
            clippy::disallowed_methods,
            reason = "the panic hook: a panic's one exit, for every binary (each main passes its code)"
        )]
        std::process::exit(code);
    }));
}

/// The line the hook prints: where, never what.
fn panic_line(program: &str, then: &str, at: Option<(&str, u32)>) -> String {
    let at = at
        .map(|(file, line)| format!(" at {file}:{line}"))
        .unwrap_or_default();
    format!("{program}: internal error{at}{then}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_each_code_then_the_notes() {
        let h = exit_help(&[(0u8, "fine"), (129, "refused")], &["a note"]);
        assert_eq!(h, "Exit codes:\n  0    fine\n  129  refused\n  a note\n");
    }

    #[test]
    fn the_panic_line_says_where_never_what() {
        assert_eq!(
            panic_line("clef-x", "; nothing changed", Some(("src/a.rs", 7))),
            "clef-x: internal error at src/a.rs:7; nothing changed"
        );
        assert_eq!(panic_line("clef-x", "", None), "clef-x: internal error");
    }
}
