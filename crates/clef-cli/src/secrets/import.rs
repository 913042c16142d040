//! `clef import`: keys from a dotenv, JSON or YAML file.

use super::*;

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

impl From<ImportFormat> for ops::ImportFormat {
    fn from(f: ImportFormat) -> Self {
        match f {
            ImportFormat::Dotenv => ops::ImportFormat::Dotenv,
            ImportFormat::Json => ops::ImportFormat::Json,
            ImportFormat::Yaml => ops::ImportFormat::Yaml,
        }
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
    let format = a.format.map_or_else(
        || ops::detect_format(a.file.as_deref(), text),
        ops::ImportFormat::from,
    );
    let doc = ops::parse_import(text, format)
        .map_err(|e| CliError::new(code::READ, format!("{source}: {e}")))?;
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
    let opts = ops::ImportOptions {
        keys: &a.keys,
        prefix: a.prefix.as_deref().unwrap_or(""),
        overwrite: a.overwrite,
        now: &now,
        by: &by,
    };
    let plan = ops::import_into(&mut e, &doc, &opts);
    let written: Vec<&str> = plan
        .iter()
        .filter(|(_, act)| ops::import_writes(act))
        .map(|(k, _)| k.as_str())
        .collect();
    let changed = !written.is_empty();
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
