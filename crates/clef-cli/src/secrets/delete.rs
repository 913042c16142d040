//! `clef delete`: one key from one or more cells.

use super::*;

/// `clef delete`
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// namespace/environment (with --all-envs, just the namespace is enough).
    pub target: String,
    /// The key.
    pub key: String,
    /// Delete the key from every environment of the namespace.
    #[arg(long)]
    pub all_envs: bool,
    /// Do not ask before writing to a protected environment (asked only on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// Runs `clef delete`.
pub fn delete(dir: Option<&Path>, a: DeleteArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let cells = targets(&repo, &a.target, a.all_envs)?;
    confirm_protected(&repo, &cells, a.yes)?;
    let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
    let ids = repo.identities()?;
    // An unmerged cell is checked against git's index stages first (see set).
    let done = ops::delete_with(repo.edit(), &cells, &a.key, |c, keys| {
        open_for_edit(&repo, c, &ids, keys)
    })?;
    print_notes(done.notes);
    for c in &done.from {
        out::note(format!("deleted {} from {}", a.key, c.target()));
    }
    Ok(())
}
