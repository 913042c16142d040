//! `clef exec`: run a command with the values of cells in its environment.

use super::*;

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
