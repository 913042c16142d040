//! `clef-merge %O %A %B --path %P --marker-size %L --labels %S %X %Y`
//!
//! Exit 0: clean merge written to `%A`; 1: conflict document written to `%A`;
//! 129: cannot merge safely (`%A` untouched, git refuses the merge); 134: a
//! bug (panic). Never prompts, never touches `%P` or the work tree.

use clef_merge::{DriverError, Outcome, args::Args, driver};
use std::process::ExitCode;

/// Exit status for "cannot merge safely" (git: > 128 = failure, not conflict).
const EXIT_REFUSED: u8 = 129;
/// Exit status for a panic (what `panic = "abort"` gives in release builds).
const EXIT_PANIC: u8 = 134;

/// The one place results become exit codes.
fn exit_code(result: &Result<Outcome, DriverError>) -> u8 {
    match result {
        Ok(o) if o.is_clean() => 0,
        Ok(_) => 1,
        Err(_) => EXIT_REFUSED,
    }
}

fn main() -> ExitCode {
    // A panic message could quote anything; print only where it happened.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("clef-merge: internal error{at}; the merge was refused, nothing was changed");
    }));
    let result = std::panic::catch_unwind(|| {
        let args = Args::parse(std::env::args_os().skip(1))?;
        let path = args.path.display().to_string();
        let r = driver::run(&args, &|| Ok(clef_keys::Identities::discover()?));
        report(&path, &r);
        r
    });
    match result {
        Ok(r) => ExitCode::from(exit_code(&r)),
        Err(_) => ExitCode::from(EXIT_PANIC),
    }
}

/// Messages go to stderr (git shows them); key names only, never values.
fn report(path: &str, r: &Result<Outcome, DriverError>) {
    match r {
        Ok(o) => {
            for n in &o.notes {
                eprintln!("clef-merge: {path}: {n}");
            }
            if !o.is_clean() {
                eprintln!(
                    "clef-merge: {path}: {} conflicting key(s):",
                    o.conflicts.len()
                );
                for c in &o.conflicts {
                    eprintln!("    {}  ({})", c.path, c.kind.describe());
                }
                eprintln!(
                    "clef-merge: resolve with `clef merge resolve {path} --ours|--theirs|--pick KEY=ours|theirs`"
                );
            }
        }
        Err(e) => {
            eprintln!("clef-merge: {path}: {e}");
            eprintln!(
                "clef-merge: refusing to merge {path}; git keeps the conflict and nothing was changed"
            );
        }
    }
}
