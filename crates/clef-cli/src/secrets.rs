//! The everyday secret commands: set, get, delete, list, exec, export,
//! import, diff.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use clef_core::Cell;
use clef_core::cell;
use clef_doc::{Branch, Item, Value};
use clef_sops::Keyring;
use clef_sops::PlainFile;
use zeroize::Zeroizing;

use crate::error::{CliError, code};
use crate::out::{self, Json, MASK};
use crate::repo::{self, Repo};
use clef_core::ops;

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
    let mut e = clef_core::edit::open(repo.edit(), cell, ids, keys)?;
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

/// The recipients a cell must be encrypted for (age backend only).
pub fn cell_recipients(repo: &Repo, cell: &Cell) -> Result<Vec<String>, CliError> {
    Ok(clef_core::edit::cell_recipients(repo.edit(), cell)?)
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
    let protected: Vec<String> = cells
        .iter()
        .filter(|c| {
            repo.manifest
                .environment(&c.environment)
                .is_some_and(|e| e.protected)
        })
        .map(Cell::target)
        .collect();
    if protected.is_empty() || yes || !out::stdin_is_tty() {
        return Ok(());
    }
    eprint!(
        "clef: {} is protected. Write to it? [y/N] ",
        protected.join(", ")
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::new(code::READ, format!("cannot read the answer: {}", e.kind())))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
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
fn read_value(key: &str) -> Result<Zeroizing<String>, CliError> {
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

// ---------------------------------------------------------------- set

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
    print_notes(ops::set(repo.edit(), &ids, input)?);
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

// ---------------------------------------------------------------- get

/// `clef get`
#[derive(Args, Debug)]
pub struct GetArgs {
    /// namespace/environment
    pub target: String,
    /// The key.
    pub key: String,
    /// Print {"namespace","environment","key","value"}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef get`.
pub fn get(dir: Option<&Path>, a: GetArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let ids = repo.identities()?;
    let text = ops::get(repo.edit(), &ids, &c, &a.key)?;
    if a.json {
        let j = Zeroizing::new(
            Json::Obj(vec![
                ("namespace", Json::s(&c.namespace)),
                ("environment", Json::s(&c.environment)),
                ("key", Json::s(&a.key)),
                ("value", Json::s(text.as_str())),
            ])
            .render(),
        );
        return out::print_str(&j);
    }
    let mut bytes = Zeroizing::new(text.as_bytes().to_vec());
    if out::stdout_is_tty() {
        bytes.push(b'\n');
    }
    out::print(&bytes)
}

// ---------------------------------------------------------------- delete

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
    let done = ops::delete(repo.edit(), &ids, &cells, &a.key)?;
    print_notes(done.notes);
    for c in &done.from {
        out::note(format!("deleted {} from {}", a.key, c.target()));
    }
    Ok(())
}

// ---------------------------------------------------------------- list

/// `clef list`
#[derive(Args, Debug)]
pub struct ListArgs {
    /// namespace/environment
    pub target: String,
    /// Print [{"key","pending"}].
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef list` (no decryption: key names are in clear in SOPS files).
pub fn list(dir: Option<&Path>, a: ListArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let loaded = cell::load_existing(&repo.root, &c)?;
    let keys = loaded.file.keys();
    if a.json {
        let arr = keys
            .iter()
            .map(|k| {
                Json::Obj(vec![
                    ("key", Json::s(k)),
                    ("pending", Json::Bool(loaded.sidecar.is_pending(k))),
                ])
            })
            .collect();
        return out::print_str(&Json::Arr(arr).render());
    }
    let width = keys.iter().map(|k| out::shown(k).len()).max().unwrap_or(0);
    let mut s = String::new();
    for k in &keys {
        let p = if loaded.sidecar.is_pending(k) {
            "  (pending)"
        } else {
            ""
        };
        let k = out::shown(k);
        s.push_str(&format!("{k:<width$}  {MASK}{p}\n"));
    }
    if keys.is_empty() {
        out::note(format!("{} is empty", c.target()));
    }
    out::print_str(&s)
}

// ---------------------------------------------------------------- exec

/// `clef exec`
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// namespace/environment whose values become environment variables.
    pub target: String,
    /// More cells to load (repeatable); the main target wins on a clash.
    #[arg(long)]
    pub also: Vec<String>,
    /// Only these keys (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Prefix every variable name, e.g. APP_.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Keep variables that are already set in the environment.
    #[arg(long)]
    pub no_override: bool,
    /// The command and its arguments (after --). No shell is involved.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
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

fn warn_nested(nested: &[(PathBuf, String)]) {
    for (file, k) in nested {
        out::note(format!(
            "warning: {}: key '{k}' holds a nested value; skipped",
            file.display()
        ));
    }
}

/// Runs `clef exec`: replaces this process with the command (Unix `exec`),
/// so its exit code and signals are the command's own.
pub fn exec(dir: Option<&Path>, a: ExecArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let mut cells = vec![repo.manifest.target(&a.target)?];
    for t in &a.also {
        cells.push(repo.manifest.target(t)?);
    }
    let ids = repo.identities()?;
    let vars = collect_values(&repo, &cells, &ids)?;
    for k in &a.only {
        if !vars.iter().any(|(x, _)| x == k) {
            return Err(CliError::new(
                code::GENERIC,
                format!(
                    "--only: key '{k}' not found in {}",
                    cells
                        .iter()
                        .map(Cell::target)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let (prog, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::new(code::USAGE, "no command given after --"))?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    let prefix = a.prefix.as_deref().unwrap_or("");
    for (k, v) in &vars {
        if !a.only.is_empty() && !a.only.contains(k) {
            continue;
        }
        let name = format!("{prefix}{k}");
        if !usable_env_name(k, &name) {
            continue;
        }
        if a.no_override && std::env::var_os(&name).is_some() {
            continue;
        }
        cmd.env(&name, v.as_str());
    }
    drop(vars);
    run_replacing(cmd, prog)
}

#[cfg(unix)]
fn run_replacing(mut cmd: std::process::Command, prog: &std::ffi::OsStr) -> Result<(), CliError> {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    let c = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Err(CliError::new(
        c,
        format!("cannot run '{}': {}", prog.to_string_lossy(), e.kind()),
    ))
}

#[cfg(not(unix))]
fn run_replacing(mut cmd: std::process::Command, prog: &std::ffi::OsStr) -> Result<(), CliError> {
    let status = cmd.status().map_err(|e| {
        CliError::new(
            127,
            format!("cannot run '{}': {}", prog.to_string_lossy(), e.kind()),
        )
    })?;
    // the command's own status, through main (an empty message prints nothing)
    match status.code() {
        Some(0) => Ok(()),
        c => Err(CliError::new(c.unwrap_or(1), String::new())),
    }
}

// ---------------------------------------------------------------- export

/// Output formats of `clef export`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// `export KEY='value'` lines, safe to `eval` in a POSIX shell.
    Shell,
    /// `KEY=value` lines as the dotenv libraries read them (a value with
    /// spaces, quotes, `#`, `$` or line breaks double-quoted with escapes).
    Dotenv,
    /// A JSON object.
    Json,
}

/// `clef export`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// namespace/environment
    pub target: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "shell")]
    pub format: ExportFormat,
    /// With --format shell: omit the `export ` keyword.
    #[arg(long)]
    pub no_export: bool,
}

/// Quotes for a POSIX shell: `'…'` with `'` written as `'\''`.
pub fn shell_quote(v: &str) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(v.len() + 2));
    s.push('\'');
    for ch in v.chars() {
        if ch == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(ch);
        }
    }
    s.push('\'');
    s
}

/// Runs `clef export`.
pub fn export(dir: Option<&Path>, a: ExportArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let ids = repo.identities()?;
    let vars = collect_values(&repo, std::slice::from_ref(&c), &ids)?;
    let mut s = Zeroizing::new(String::new());
    match a.format {
        ExportFormat::Shell => {
            for (k, v) in &vars {
                if !usable_env_name(k, k) {
                    continue;
                }
                if !a.no_export {
                    s.push_str("export ");
                }
                s.push_str(k);
                s.push('=');
                s.push_str(&shell_quote(v));
                s.push('\n');
            }
        }
        ExportFormat::Dotenv => {
            s.push_str(&clef_core::envfile::emit(
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ));
        }
        ExportFormat::Json => {
            s.push('{');
            for (i, (k, v)) in vars.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                clef_doc::json::write_string(&mut s, k);
                s.push(':');
                clef_doc::json::write_string(&mut s, v);
            }
            s.push_str("}\n");
        }
    }
    out::print_str(&s)
}

// ---------------------------------------------------------------- import

/// Input formats of `clef import`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// KEY=value lines.
    Dotenv,
    /// A JSON object (scalars only).
    Json,
    /// A YAML mapping (scalars only).
    Yaml,
}

/// `clef import`
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// namespace/environment
    pub target: String,
    /// The file to import (or --stdin).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub file: Option<PathBuf>,
    /// Read from standard input.
    #[arg(long)]
    pub stdin: bool,
    /// Input format (default: from the file extension, else from the content).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Replace keys that already exist (otherwise they are skipped).
    #[arg(long)]
    pub overwrite: bool,
    /// Only these keys of the input (comma-separated, names as in the input).
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// Prefix every imported key, e.g. LEGACY_.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before writing to a protected environment (asked only on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print the plan as JSON: [{"key","action"}].
    #[arg(long)]
    pub json: bool,
    /// Allow keys the cell's crypt rule leaves in clear text (e.g. names
    /// ending in `_unencrypted`): without it, such an import is refused.
    #[arg(long)]
    pub allow_unencrypted: bool,
}

fn detect_format(file: Option<&Path>, text: &str) -> ImportFormat {
    let ext = file
        .and_then(|f| f.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => return ImportFormat::Json,
        Some("yaml" | "yml") => return ImportFormat::Yaml,
        Some("env") => return ImportFormat::Dotenv,
        _ => {}
    }
    if file
        .and_then(|f| f.file_name())
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".env"))
    {
        return ImportFormat::Dotenv;
    }
    let t = text.trim_start();
    if t.starts_with('{') {
        ImportFormat::Json
    } else if t
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .all(|l| l.contains('=') && !l.contains(": "))
    {
        ImportFormat::Dotenv
    } else {
        ImportFormat::Yaml
    }
}

fn import_text(v: &Value) -> Option<Zeroizing<String>> {
    match v {
        Value::Bool(b) => Some(Zeroizing::new(b.to_string())),
        other => cell::value_text(other),
    }
}

/// Runs `clef import`.
pub fn import(dir: Option<&Path>, a: ImportArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let source = a
        .file
        .as_ref()
        .map_or_else(|| "stdin".to_owned(), |f| f.display().to_string());
    let mut raw = Zeroizing::new(Vec::with_capacity(256 * 1024));
    match &a.file {
        Some(f) => {
            *raw = std::fs::read(f).map_err(|e| {
                CliError::new(
                    if e.kind() == std::io::ErrorKind::NotFound {
                        code::NO_FILE
                    } else {
                        code::READ
                    },
                    format!("{source}: cannot read: {}", e.kind()),
                )
            })?;
        }
        None => {
            std::io::stdin().read_to_end(&mut raw).map_err(|e| {
                CliError::new(code::READ, format!("stdin: cannot read: {}", e.kind()))
            })?;
        }
    }
    let text = std::str::from_utf8(&raw).map_err(|e| {
        CliError::new(
            code::READ,
            format!("{source}: not UTF-8 (byte {})", e.valid_up_to()),
        )
    })?;
    let format = a
        .format
        .unwrap_or_else(|| detect_format(a.file.as_deref(), text));
    let bad = |e: &dyn std::fmt::Display| CliError::new(code::READ, format!("{source}: {e}"));
    let doc = match format {
        ImportFormat::Dotenv => Branch(
            clef_core::envfile::parse(text)
                .map_err(|e| bad(&e))?
                .into_iter()
                .map(|e| Item::Entry(e.key, Value::Str(e.value)))
                .collect(),
        ),
        ImportFormat::Json => clef_doc::json::parse(text).map_err(|e| bad(&e))?,
        ImportFormat::Yaml => clef_doc::yaml::parse(text)
            .map_err(|e| bad(&e))?
            .into_iter()
            .next()
            .unwrap_or_default(),
    };
    if !a.dry_run {
        confirm_protected(&repo, std::slice::from_ref(&c), a.yes)?;
    }
    let _lock = if a.dry_run {
        None
    } else {
        Some(repo.check_writable(&[&c])?)
    };
    let ids = repo.identities()?;
    let mut e = open_for_edit(&repo, &c, &ids, &[])?;
    let now = clef_sops::time::now_rfc3339();
    let by = repo::author(&repo.root);
    let mut plan: Vec<(String, &'static str)> = Vec::new();
    let mut changed = false;
    for item in &doc.0 {
        let Item::Entry(k, v) = item else { continue };
        if !a.keys.is_empty() && !a.keys.contains(k) {
            continue;
        }
        let k = &format!("{}{k}", a.prefix.as_deref().unwrap_or(""));
        if !cell::valid_key(k) {
            plan.push((k.clone(), "skipped: not a valid key name"));
            continue;
        }
        let Some(t) = import_text(v) else {
            plan.push((k.clone(), "skipped: not a scalar value"));
            continue;
        };
        let d = ops::doc_mut(&mut e.plain);
        let action = match d.get(k).and_then(cell::value_text) {
            Some(old) if old == t => "unchanged",
            Some(_) if !a.overwrite => "skipped: exists (use --overwrite)",
            Some(_) => "overwrite",
            None => "add",
        };
        if matches!(action, "overwrite" | "add") {
            d.insert(k, Value::Str(t));
            e.sidecar.record_rotation(k, &now, &by);
            changed = true;
        }
        plan.push((k.clone(), action));
    }
    let written: Vec<&str> = plan
        .iter()
        .filter(|(_, act)| matches!(*act, "overwrite" | "add"))
        .map(|(k, _)| k.as_str())
        .collect();
    ops::check_in_clear(&mut e, &written, a.allow_unencrypted)?;
    print_notes(e.notes.drain(..));
    if a.json {
        let arr = plan
            .iter()
            .map(|(k, act)| Json::Obj(vec![("key", Json::s(k)), ("action", Json::s(*act))]))
            .collect();
        out::print_str(&Json::Arr(arr).render())?;
    } else {
        let width = plan
            .iter()
            .map(|(k, _)| out::shown(k).chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        for (k, act) in &plan {
            let k = out::shown(k);
            s.push_str(&format!("{act:<10} {k:<width$}  {MASK}\n"));
        }
        out::print_str(&s)?;
    }
    if a.dry_run {
        out::note("dry run: nothing written");
        return Ok(());
    }
    if changed {
        commit(&repo, std::slice::from_ref(&e))?;
        out::note(format!("imported into {}", c.target()));
    }
    Ok(())
}

// ---------------------------------------------------------------- diff

/// `clef diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The namespace.
    pub namespace: String,
    /// First environment.
    pub env_a: String,
    /// Second environment.
    pub env_b: String,
    /// Print the values instead of masks.
    #[arg(long)]
    pub show_values: bool,
    /// Also list keys whose values are identical.
    #[arg(long)]
    pub show_identical: bool,
    /// Print [{"key","status","a","b"}] (values only with --show-values).
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef diff`: exit 0 when identical, 1 when different.
pub fn diff(dir: Option<&Path>, a: DiffArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let ca = repo.manifest.cell(&a.namespace, &a.env_a)?;
    let cb = repo.manifest.cell(&a.namespace, &a.env_b)?;
    let ids = repo.identities()?;
    let (rows, nested) = ops::diff(repo.edit(), &ids, &ca, &cb)?;
    warn_nested(&nested);
    let differs = rows.iter().any(|r| r.status != ops::DiffStatus::Identical);
    let shown = |v: &Option<Zeroizing<String>>| -> Zeroizing<String> {
        match v {
            None => Zeroizing::new("(absent)".into()),
            Some(s) if a.show_values => s.clone(),
            Some(_) => Zeroizing::new(MASK.into()),
        }
    };
    let identical = |r: &ops::DiffRow| r.status == ops::DiffStatus::Identical;
    let mut text = Zeroizing::new(String::new());
    if a.json {
        let arr = rows
            .iter()
            .filter(|r| a.show_identical || !identical(r))
            .map(|r| {
                let val = |v: &Option<Zeroizing<String>>| {
                    if a.show_values {
                        Json::opt(v.as_ref().map(|s| s.to_string()))
                    } else {
                        Json::Null
                    }
                };
                Json::Obj(vec![
                    ("key", Json::s(&r.key)),
                    ("status", Json::s(r.status.name())),
                    ("a", val(&r.a)),
                    ("b", val(&r.b)),
                ])
            })
            .collect();
        text.push_str(&Json::Arr(arr).render());
    } else {
        let width = rows
            .iter()
            .map(|r| out::shown(&r.key).len())
            .max()
            .unwrap_or(0);
        for r in &rows {
            if identical(r) && !a.show_identical {
                continue;
            }
            let k = out::shown(&r.key);
            let st = match r.status {
                ops::DiffStatus::MissingA => format!("only in {}", a.env_b),
                ops::DiffStatus::MissingB => format!("only in {}", a.env_a),
                other => other.name().to_owned(),
            };
            text.push_str(&format!(
                "{st:<10} {k:<width$}  {}: {}  {}: {}\n",
                a.env_a,
                shown(&r.a).as_str(),
                a.env_b,
                shown(&r.b).as_str()
            ));
        }
        if !differs {
            out::note(format!(
                "{}/{} and {}/{} hold the same keys and values",
                a.namespace, a.env_a, a.namespace, a.env_b
            ));
        }
    }
    out::print_str(&text)?;
    if differs {
        return Err(CliError::new(code::GENERIC, String::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_sh() {
        for v in [
            "plain",
            "it's",
            "a'b'c",
            "$(rm -rf /)",
            "`x` \"y\" \\z",
            "line\nbreak",
            "",
        ] {
            let q = shell_quote(v);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", q.as_str()))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), v);
        }
    }

    #[test]
    fn import_format_detection() {
        assert_eq!(
            detect_format(Some(Path::new("x.json")), "A=1"),
            ImportFormat::Json
        );
        assert_eq!(
            detect_format(Some(Path::new(".env.production")), "A: 1"),
            ImportFormat::Dotenv
        );
        assert_eq!(detect_format(None, "{\"A\": \"1\"}"), ImportFormat::Json);
        assert_eq!(
            detect_format(None, "# c\nA=1\nB=x=y\n"),
            ImportFormat::Dotenv
        );
        assert_eq!(detect_format(None, "A: 1\n"), ImportFormat::Yaml);
        assert!(valid_env_name("_A1") && !valid_env_name("A.B") && !valid_env_name("1A"));
    }
}
