//! `clef set`: one key in one cell, or in every environment of a namespace.

use super::*;

/// `clef set`
#[derive(Args, Debug)]
pub struct SetArgs {
    /// namespace/environment (with --all-envs, just the namespace is enough).
    pub target: String,
    /// The key, e.g. DATABASE_URL.
    pub key: String,
    /// The value. Omit it to type it at a hidden prompt, or pipe it on stdin
    /// (one trailing newline is removed). On the command line it ends up in
    /// your shell history.
    pub value: Option<String>,
    /// Store a random 64-hex-digit placeholder and mark the key pending.
    #[arg(long, conflicts_with = "value")]
    pub random: bool,
    /// Set the key in every environment of the namespace.
    #[arg(long)]
    pub all_envs: bool,
    /// Do not ask before writing to a protected environment (asked only on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Allow a key the cell's crypt rule leaves in clear text (e.g. a name
    /// ending in `_unencrypted`): without it, such a `set` is refused.
    #[arg(long)]
    pub allow_unencrypted: bool,
}

/// Runs `clef set`.
pub fn set(dir: Option<&Path>, a: SetArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    ops::check_key(&a.key)?;
    let cells = targets(&repo, &a.target, a.all_envs)?;
    // Refuse early (before prompting); take the lock only once the value is in.
    drop(repo.check_writable(&cells.iter().collect::<Vec<_>>())?);
    confirm_protected(&repo, &cells, a.yes)?;
    let value = match (&a.value, a.random) {
        (_, true) => ops::NewValue::Random,
        (Some(v), false) => {
            if out::stdin_is_tty() {
                out::note(
                    "note: a value on the command line stays in your shell history; omit it to be prompted",
                );
            }
            ops::NewValue::Value(Zeroizing::new(v.clone()))
        }
        (None, false) => ops::NewValue::Value(read_value(&a.key)?),
    };
    let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
    let ids = repo.identities()?;
    let now = clef_sops::time::now_rfc3339();
    let by = repo::author(&repo.root);
    let input = ops::Set {
        cells: &cells,
        key: &a.key,
        value,
        allow_unencrypted: a.allow_unencrypted,
        now: &now,
        by: &by,
    };
    // Cells git lists as unmerged are opened as the other writers open them:
    // checked against git's index stages, other conflicts asked on a terminal.
    let notes = ops::set_with(repo.edit(), input, |c, keys| {
        open_for_edit(&repo, c, &ids, keys)
    })?;
    print_notes(notes);
    for c in &cells {
        let what = if a.random {
            " (random placeholder, pending)"
        } else {
            ""
        };
        out::note(format!("set {} in {}{what}", a.key, c.target()));
    }
    Ok(())
}
