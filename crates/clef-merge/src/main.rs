//! `clef-merge %O %A %B --path %P --marker-size %L --labels %S %X %Y`
//!
//! Exit 0: clean merge written to `%A`; 1: conflict document written to `%A`;
//! 129: cannot merge safely (`%A` untouched, git refuses the merge); 134: a
//! bug (panic). Never prompts, never touches `%P` or the work tree.

use clef_merge::exit::{self, PANIC as EXIT_PANIC, REFUSED as EXIT_REFUSED};
use clef_merge::{DriverError, Outcome, ResolveError, args::Args, driver};
use std::process::ExitCode;

/// The one place results become exit codes.
fn exit_code(result: &Result<Outcome, DriverError>) -> u8 {
    match result {
        Ok(o) if o.is_clean() => exit::CLEAN,
        Ok(_) => exit::CONFLICT,
        Err(_) => EXIT_REFUSED,
    }
}

fn main() -> ExitCode {
    // `--version` / `--help` alone: answer and exit 0 (install.sh's self-check,
    // `clef doctor`). git never calls the driver with a single argument.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if argv.len() == 1 && (argv[0] == "--version" || argv[0] == "-V") {
        println!("clef-merge {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if argv.len() == 1 && (argv[0] == "--help" || argv[0] == "-h") {
        print!(
            "usage: clef-merge %O %A %B --path %P --marker-size %L --labels %S %X %Y\n\n\
             git merge driver for SOPS files (register with `clef hooks install`).\n\
             A cell of clef.yaml is merged under the access list of clef.yaml at HEAD.\n\n{}",
            exit::help()
        );
        return ExitCode::SUCCESS;
    }
    // A panic message could quote anything; print only where it happened,
    // and exit EXIT_PANIC (> 128: git refuses the merge), never 0 or 1.
    clef_sops::process::quiet_panics(
        "clef-merge",
        "; the merge was refused, nothing was changed",
        EXIT_PANIC.into(),
    );
    ExitCode::from(exit_code(&merge(argv)))
}

/// Runs the driver on git's arguments; messages go to stderr.
fn merge(argv: Vec<std::ffi::OsString>) -> Result<Outcome, DriverError> {
    let args = Args::parse(argv).inspect_err(|e| eprintln!("clef-merge: {e}"))?;
    let path = args.path.display().to_string();
    // git runs drivers at the top of the work tree: also use the identity
    // that this clone's `.clef/config.yaml` names (what `clef init` set up).
    let here = std::env::current_dir().unwrap_or_default();
    let r = driver::run(
        &args,
        // and the cloud KMS backends: no runtime starts, no SDK config is
        // read, unless a side's data key is only reachable through KMS
        &|| {
            Ok(clef_kms::with_cloud_backends(
                clef_core::local::identities_near(&here)?.into(),
                clef_kms::AwsOptions::from_env(),
            ))
        },
        &|path| driver::head_access(&here, path),
    );
    report(&path, &r);
    if let Err(DriverError::Resolve(ResolveError::Sops {
        source: clef_sops::SopsError::NoIdentity { .. } | clef_sops::SopsError::Threshold { .. },
        ..
    })) = &r
    {
        who_can_merge(&here, &args.path, &path);
    }
    r
}

// a panic must make git refuse the merge, like any other failure
const _: () = assert!(EXIT_PANIC > 128);

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

/// When no key of this machine opens a side: who can merge the cell (its
/// recipients in clef.yaml at HEAD) and how to go on.
fn who_can_merge(here: &std::path::Path, file: &std::path::Path, shown: &str) {
    let readers = match driver::head_access(here, file) {
        Ok(Some(a)) if !a.age.is_empty() => {
            let short: Vec<String> = a
                .age
                .iter()
                .map(|r| format!("{}…", &r[..r.len().min(16)]))
                .collect();
            format!("its recipients in clef.yaml ({})", short.join(", "))
        }
        _ => "a recipient of the cell".to_owned(),
    };
    eprintln!(
        "clef-merge: {shown}: none of your age identities opens this cell, so only {readers} can merge it: ask one of them to run the merge, or send them your recipient (`clef init` prints the `clef recipients add` line) and merge again once they have added you; `git merge --abort` leaves everything as it was"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(conflicts: usize) -> Outcome {
        Outcome {
            bytes: Vec::new(),
            conflicts: (0..conflicts)
                .map(|i| clef_merge::Conflict {
                    path: clef_merge::KeyPath {
                        doc: 0,
                        keys: vec![format!("k{i}")],
                    },
                    kind: clef_merge::ConflictKind::ModifyModify,
                })
                .collect(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn exit_codes_follow_git_protocol() {
        assert_eq!(exit_code(&Ok(outcome(0))), 0);
        assert_eq!(exit_code(&Ok(outcome(2))), 1);
        assert_eq!(
            exit_code(&Err(DriverError::Resolve(
                clef_core::merge::ResolveError::NotConflictDocument
            ))),
            129
        );
        assert!(exit_code(&Err(ResolveError::NotUtf8("%A").into())) > 128);
        // a panic: clef_sops::process's hook exits with EXIT_PANIC (> 128,
        // checked at compile time below; the hook's test is clef-sops's
        // tests/panic_hook.rs)
    }
}
