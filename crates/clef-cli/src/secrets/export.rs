//! `clef export`: the values of a cell as shell, dotenv or JSON.

use super::*;

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
}
