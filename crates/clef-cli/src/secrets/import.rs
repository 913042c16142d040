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

#[cfg(test)]
mod tests {
    use super::*;

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
