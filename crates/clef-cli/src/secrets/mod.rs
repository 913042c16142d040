//! The everyday secret commands, one module each: set, get, delete, list,
//! exec, export, import, diff. Each parses its arguments, asks the user what
//! only a terminal can answer, calls one operation of `clef_core::ops` (or
//! the edit session, `clef_core::edit`) and prints.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use clef_core::Cell;
use clef_core::cell;
use clef_sops::Keyring;
use clef_sops::PlainFile;
use zeroize::Zeroizing;

use crate::error::{CliError, code};
use crate::out::{self, Json, MASK};
use crate::repo::{self, Repo};
use clef_core::ops;

mod delete;
mod diff;
mod exec;
mod export;
mod get;
mod import;
mod list;
mod set;

pub use delete::{DeleteArgs, delete};
pub use diff::{DiffArgs, diff};
pub use exec::{ExecArgs, exec};
pub use export::{ExportArgs, export, shell_quote};
pub use get::{GetArgs, get};
pub use import::{ImportArgs, import};
pub use list::{ListArgs, list};
pub use set::{SetArgs, set};

pub use clef_core::edit::Editing;

impl Repo {
    /// The edit session's view of this repository.
    pub fn edit(&self) -> clef_core::edit::Repo<'_> {
        clef_core::edit::Repo {
            root: &self.root,
            manifest: &self.manifest,
        }
    }
}

/// Prints what the edit session did.
fn print_notes(notes: impl IntoIterator<Item = clef_core::edit::Note>) {
    for n in notes {
        out::note(n.to_string());
    }
}

/// Reads and decrypts a cell (must exist), without its sidecar
/// ([`clef_core::edit::decrypt_cell`]).
pub fn decrypt_cell(
    repo: &Repo,
    cell: &Cell,
    ids: &Keyring,
) -> Result<(clef_sops::EncryptedFile, Vec<u8>, PlainFile), CliError> {
    Ok(clef_core::edit::decrypt_cell(repo.edit(), cell, ids)?)
}

/// Opens a cell for a command that writes `keys` ([`clef_core::edit::open`]),
/// and says what opening it did.
pub fn open_for_edit(
    repo: &Repo,
    cell: &Cell,
    ids: &Keyring,
    keys: &[&str],
) -> Result<Editing, CliError> {
    // A cell git lists as unmerged: its index stages check the document,
    // and on a terminal the other conflicting keys are asked for one by one.
    let path = cell.path_in(&repo.root);
    let recorded = std::fs::read(&path)
        .ok()
        .filter(|raw| clef_core::conflict::is_conflict_document(raw))
        .and_then(|raw| Some((raw, crate::integrations::stages_of(&path).ok()?)));
    let mut settle = clef_core::edit::Settle {
        picks: Vec::new(),
        stages: recorded.as_ref().map(|(_, (_, _, stages))| stages),
    };
    let mut e = match clef_core::edit::open_settling(repo.edit(), cell, ids, keys, &settle) {
        Err(clef_core::edit::EditError::ConflictOn { others, mine, .. })
            if !keys.is_empty() && !others.is_empty() && out::stdin_is_tty() =>
        {
            let Some((raw, (top, op, _))) = &recorded else {
                return Err(clef_core::edit::EditError::ConflictOn {
                    file: cell.file.clone(),
                    others,
                    mine,
                }
                .into());
            };
            let (ours, theirs) = crate::integrations::side_names(top, op);
            let mut choice = clef_merge::Choice {
                default: None,
                picks: mine
                    .into_iter()
                    .map(|k| (k, clef_merge::Side::Ours))
                    .collect(),
            };
            crate::integrations::ask_sides(
                &cell.file,
                raw,
                cell.format(),
                &ours,
                &theirs,
                &mut choice,
            )?;
            settle.picks = choice.picks;
            clef_core::edit::open_settling(repo.edit(), cell, ids, keys, &settle)?
        }
        r => r?,
    };
    print_notes(e.notes.drain(..));
    Ok(e)
}

/// Makes a decrypted cell's recipients exactly what clef.yaml grants
/// ([`clef_core::edit::conform`]), and says so.
pub fn conform(
    repo: &Repo,
    cell: &Cell,
    plain: &mut PlainFile,
    rotate: bool,
) -> Result<Option<clef_core::access::Conformed>, CliError> {
    let ids = repo.identities()?;
    let mut notes = Vec::new();
    let done = clef_core::edit::conform(repo.edit(), cell, plain, rotate, &ids, &mut notes);
    print_notes(notes);
    Ok(done?)
}

/// What a cell must be sealed for, when clef can seal it
/// ([`clef_core::edit::cell_access`]).
pub fn cell_access(repo: &Repo, cell: &Cell) -> Result<clef_core::access::Access, CliError> {
    Ok(clef_core::edit::cell_access(repo.edit(), cell)?)
}

/// Encrypts edits and writes each cell with its sidecar in one step
/// ([`clef_core::edit::commit`]).
pub fn commit(repo: &Repo, edits: &[Editing]) -> Result<(), CliError> {
    print_notes(clef_core::edit::commit(repo.edit(), edits)?);
    Ok(())
}

/// The cells a command addresses: `ns/env`, or with `--all-envs` `ns` or `ns/env` (every environment of `ns`).
fn targets(repo: &Repo, target: &str, all_envs: bool) -> Result<Vec<Cell>, CliError> {
    if all_envs {
        let ns = target.split('/').next().unwrap_or(target);
        Ok(repo.manifest.namespace_cells(ns)?)
    } else {
        Ok(vec![repo.manifest.target(target)?])
    }
}

/// On a terminal, asks before writing to a protected environment (scripts
/// and CI, without a terminal, are not asked; `--yes` skips the question).
pub fn confirm_protected(repo: &Repo, cells: &[Cell], yes: bool) -> Result<(), CliError> {
    ask_protected(repo, cells, yes, false)
}

/// [`confirm_protected`] for new values of existing credentials (`clef
/// rotate KEY…`): without a terminal to ask, only `--yes` confirms.
pub fn confirm_new_values(repo: &Repo, cells: &[Cell], yes: bool) -> Result<(), CliError> {
    ask_protected(repo, cells, yes, true)
}

fn ask_protected(
    repo: &Repo,
    cells: &[Cell],
    yes: bool,
    yes_off_terminal: bool,
) -> Result<(), CliError> {
    let protected: Vec<String> = cells
        .iter()
        .filter(|c| {
            repo.manifest
                .environment(&c.environment)
                .is_some_and(|e| e.protected)
        })
        .map(Cell::target)
        .collect();
    if protected.is_empty() || yes {
        return Ok(());
    }
    if !out::stdin_is_tty() {
        if !yes_off_terminal {
            return Ok(());
        }
        return Err(CliError::new(
            code::REFUSED,
            format!(
                "{} is protected: confirm new values with --yes (no terminal to ask); nothing was written",
                protected.join(", ")
            ),
        ));
    }
    if out::confirm(&format!(
        "clef: {} is protected. Write to it?",
        protected.join(", ")
    ))? {
        Ok(())
    } else {
        Err(CliError::new(
            code::GENERIC,
            format!(
                "{}: not confirmed; nothing was written",
                protected.join(", ")
            ),
        ))
    }
}

/// Reads a value without echo from the terminal, or all of stdin when piped
/// (one trailing newline removed).
pub(crate) fn read_value(key: &str) -> Result<Zeroizing<String>, CliError> {
    // Reserved up front: growing the buffer would leave unwiped copies behind.
    let mut s = Zeroizing::new(String::with_capacity(64 * 1024));
    if out::stdin_is_tty() {
        // Echo goes off before the prompt appears, so nothing typed after
        // the prompt can be echoed.
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ =
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        }
        eprint!("Value for {key} (input hidden): ");
        let r = stdin.read_line(&mut s);
        if let Some(t) = &saved {
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        }
        eprintln!();
        r.map_err(|e| CliError::new(code::READ, format!("cannot read the value: {}", e.kind())))?;
        if s.trim_end_matches(['\r', '\n']).is_empty() {
            return Err(CliError::new(
                code::USAGE,
                format!(
                    "empty value for {key}: nothing stored (to store an empty value on purpose, give it as an argument: '')"
                ),
            ));
        }
    } else {
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            CliError::new(
                code::READ,
                format!("cannot read the value from stdin: {}", e.kind()),
            )
        })?;
    }
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

/// Whether `name` (made from key `k`) can be an environment variable; if
/// not, says that the key is skipped. `exec` and `export --format shell`
/// both go through this, so they agree.
fn usable_env_name(k: &str, name: &str) -> bool {
    let ok = valid_env_name(name);
    if !ok {
        out::note(format!(
            "warning: key '{k}' is not a valid environment variable name; skipped (`clef export --format json` or `dotenv` keep it)"
        ));
    }
    ok
}

fn valid_env_name(k: &str) -> bool {
    let mut c = k.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// The decrypted key/values of a list of cells, first cell winning
/// ([`ops::values`]); says which nested values are skipped.
fn collect_values(repo: &Repo, cells: &[Cell], ids: &Keyring) -> Result<ops::Values, CliError> {
    let (vars, nested) = ops::values(repo.edit(), ids, cells)?;
    warn_nested(&nested);
    Ok(vars)
}

fn warn_nested(nested: &ops::Nested) {
    for (file, k) in nested {
        out::note(format!(
            "warning: {}: key '{k}' holds a nested value; skipped",
            file.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(valid_env_name("_A1") && !valid_env_name("A.B") && !valid_env_name("1A"));
    }
}
