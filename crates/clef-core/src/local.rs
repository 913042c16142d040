//! The per-developer `.clef/config.yaml` (gitignored) and the identity it names.
//!
//! ```yaml
//! age_key_file: /home/alice/.config/clef/keys/myrepo-3fa2c1/keys.txt
//! age_key_storage: file
//! ```
//!
//! Identities are looked up in the sops places (`SOPS_AGE_KEY`,
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, `~/.config/sops/age/keys.txt`),
//! Clef's variables (`CLEF_AGE_KEY`, `CLEF_AGE_KEY_FILE`) and `age_key_file`.

use std::path::{Path, PathBuf};

use clef_doc::Value;
use clef_keys::{Identities, KeyError};

/// Where the local config lives, relative to the repository root.
pub const CONFIG_PATH: &str = ".clef/config.yaml";

/// The local config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalConfig {
    /// The identity file.
    pub age_key_file: Option<PathBuf>,
}

/// A local config or identity problem.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The config is not readable YAML.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The config is committed to git: a `git pull` could replace it, so
    /// it is not trusted.
    #[error("{}: this file is tracked by git, so a pull can replace your local settings (and point clef at any file); it is per-developer: run `git rm --cached {CONFIG_PATH}`, commit, and keep it in .gitignore", path.display())]
    Tracked {
        /// The file.
        path: PathBuf,
    },
    /// An identity source is broken.
    #[error("{0}")]
    Keys(#[from] KeyError),
}

/// Whether git tracks `rel` in the work tree at `root` (in the index or
/// unmerged). No git, or not a repository: not tracked.
fn tracked_by_git(root: &Path, rel: &str) -> bool {
    clef_git::worktree::stdout_if_ok(root, &["ls-files", "-z", "--", rel])
        .is_some_and(|o| !o.is_empty())
}

impl LocalConfig {
    /// Reads `<root>/.clef/config.yaml` (absent: empty config). A config
    /// that git tracks is refused ([`LocalError::Tracked`]); so is one that
    /// is not a regular file or is larger than 64 KiB.
    pub fn load(root: &Path) -> Result<LocalConfig, LocalError> {
        let path = root.join(CONFIG_PATH);
        let bad = |reason: String| LocalError::Config {
            path: path.clone(),
            reason,
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LocalConfig::default()),
            Err(e) => return Err(bad(e.kind().to_string())),
            Ok(m) if !m.is_file() => return Err(bad("not a regular file".into())),
            Ok(m) if m.len() > 64 * 1024 => return Err(bad("larger than 64 KiB".into())),
            Ok(_) => {}
        }
        if tracked_by_git(root, CONFIG_PATH) {
            return Err(LocalError::Tracked { path });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.kind().to_string()))?;
        let docs = clef_doc::yaml::parse(&text).map_err(|e| LocalError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let file = docs.first().and_then(|d| match d.get("age_key_file") {
            Some(Value::Str(s)) if !s.is_empty() => Some(PathBuf::from(s.as_str())),
            _ => None,
        });
        Ok(LocalConfig { age_key_file: file })
    }

    /// The config as YAML.
    pub fn to_text(&self) -> String {
        let mut s = String::from("# Per-developer Clef settings (not committed).\n");
        if let Some(f) = &self.age_key_file {
            let mut q = String::new();
            clef_doc::json::write_string(&mut q, &f.display().to_string());
            s.push_str(&format!("age_key_file: {q}\nage_key_storage: file\n"));
        }
        s
    }
}

/// The user's config directory (`$XDG_CONFIG_HOME`, else `~/.config`).
pub fn config_home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| Path::new(&h).join(".config"))
        })
}

/// Where a new identity for the label goes: `<config>/clef/keys/<label>/keys.txt`.
pub fn default_key_path(env: &dyn Fn(&str) -> Option<String>, label: &str) -> Option<PathBuf> {
    config_home(env).map(|c| c.join("clef").join("keys").join(label).join("keys.txt"))
}

/// The main work tree of a linked worktree (`git worktree add`): `root/.git`
/// is a file naming `<main>/.git/worktrees/<name>`, whose `commondir` leads
/// to `<main>/.git`. Read without running git. `None` for a main work tree.
pub fn main_worktree(root: &Path) -> Option<PathBuf> {
    let dot = root.join(".git");
    if !dot.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&dot).ok()?;
    let gitdir = root.join(text.trim().strip_prefix("gitdir:")?.trim());
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = std::fs::canonicalize(gitdir.join(common.trim())).ok()?;
    (common.file_name()? == ".git").then(|| common.parent().map(Path::to_path_buf))?
}

/// The local config that applies to the work tree at `root`: its own, else
/// (in a linked worktree that has none) the main work tree's, so merges and
/// commands in a worktree find the identity `clef init` set up.
pub fn load_config(root: &Path) -> Result<LocalConfig, LocalError> {
    if !root.join(CONFIG_PATH).exists()
        && let Some(main) = main_worktree(root)
    {
        return LocalConfig::load(&main);
    }
    LocalConfig::load(root)
}

/// An identity in clef's key store (`<config>/clef/keys/*/keys.txt`) whose
/// recipient is one of `known`: another clone of the same repository set it
/// up, so a new clone reuses it instead of making one more identity.
/// Returns the file and the recipient.
pub fn stored_identity_for(
    env: &dyn Fn(&str) -> Option<String>,
    known: &[String],
) -> Option<(PathBuf, String)> {
    let store = config_home(env)?.join("clef").join("keys");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(store)
        .ok()?
        .flatten()
        .map(|e| e.path().join("keys.txt"))
        .collect();
    dirs.sort();
    dirs.into_iter().find_map(|f| {
        let mut ids = Identities::empty();
        ids.add_file(&f).ok()?;
        let r = ids.recipients().into_iter().find(|r| known.contains(r))?;
        Some((f, r))
    })
}

/// Where [`sops_identity_for`] found an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SopsKeySource {
    /// A key file: `SOPS_AGE_KEY_FILE`, or sops's default
    /// `$XDG_CONFIG_HOME/sops/age/keys.txt` (`what` says which).
    File {
        /// The file.
        path: PathBuf,
        /// `SOPS_AGE_KEY_FILE` or `sops's default key file`.
        what: &'static str,
    },
    /// A variable with no file behind it: `SOPS_AGE_KEY` or `SOPS_AGE_KEY_CMD`.
    Env(&'static str),
}

/// An identity in the usual sops locations whose recipient is one of
/// `known`, looked for in that order: `SOPS_AGE_KEY_FILE`, sops's default
/// key file (`$XDG_CONFIG_HOME/sops/age/keys.txt`, else
/// `~/.config/sops/age/keys.txt`), `SOPS_AGE_KEY`, `SOPS_AGE_KEY_CMD`. A
/// location that cannot be read is skipped (it is someone else's setup, not
/// an error of this repository). Returns where, and the recipient.
pub fn sops_identity_for(
    env: &dyn Fn(&str) -> Option<String>,
    known: &[String],
) -> Option<(SopsKeySource, String)> {
    let granted = |ids: &Identities| ids.recipients().into_iter().find(|r| known.contains(r));
    let file = |path: PathBuf, what: &'static str| {
        let mut ids = Identities::empty();
        ids.add_file(&path).ok()?;
        granted(&ids).map(|r| (SopsKeySource::File { path, what }, r))
    };
    let set = |var: &str| env(var).filter(|v| !v.trim().is_empty());
    if let Some(found) = set("SOPS_AGE_KEY_FILE").and_then(|p| file(p.into(), "SOPS_AGE_KEY_FILE"))
    {
        return Some(found);
    }
    let default = config_home(env).map(|c| c.join("sops").join("age").join("keys.txt"));
    if let Some(found) = default
        .filter(|p| p.is_file())
        .and_then(|p| file(p, "sops's default key file"))
    {
        return Some(found);
    }
    ["SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"]
        .into_iter()
        .find_map(|var| {
            set(var)?;
            // Only this one variable: the discovery reads the others too.
            let one = |name: &str| (name == var).then(|| env(name)).flatten();
            let ids = Identities::discover_with(&one).ok()?;
            granted(&ids).map(|r| (SopsKeySource::Env(var), r))
        })
}

/// Every identity available for this repository: the sops/Clef environment
/// sources plus the local config's `age_key_file` (see [`load_config`]).
pub fn identities(
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Identities, LocalError> {
    let mut ids = Identities::discover_with(env)?;
    let cfg = load_config(root)?;
    if let Some(f) = cfg.age_key_file {
        let already = ids.sources().iter().any(|s| Path::new(s) == f);
        if !already {
            ids.add_file(&f)?;
        }
    }
    Ok(ids)
}

/// The directory at or above `start` whose `.clef/config.yaml` applies
/// (stopping at the repository root, the directory holding `.git`; in a
/// linked worktree without one, the main work tree's).
pub fn config_root(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join(CONFIG_PATH).is_file() {
            return Some(d.to_path_buf());
        }
        if d.join(".git").exists() {
            // A linked worktree uses its main work tree's config.
            return main_worktree(d).filter(|m| m.join(CONFIG_PATH).is_file());
        }
        dir = d.parent();
    }
    None
}

/// The identities of programs that git runs (the merge driver, the hooks,
/// `clef sops` in a clone): the sops/Clef environment sources plus the
/// `age_key_file` of the nearest `.clef/config.yaml` at or above `start`,
/// when that file exists (a stale entry is `clef doctor`'s to report).
pub fn identities_near(start: &Path) -> Result<Identities, LocalError> {
    let mut ids = Identities::discover()?;
    let Some(root) = config_root(start) else {
        return Ok(ids);
    };
    if let Some(f) = LocalConfig::load(&root)?.age_key_file {
        let already = ids.sources().iter().any(|s| Path::new(s) == f);
        if !already && f.is_file() {
            ids.add_file(&f)?;
        }
    }
    Ok(ids)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures directly")]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_config_up_to_the_repository_root_applies() {
        let dir = std::env::temp_dir().join(format!("clef-core-near-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".clef")).unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        let key = |text: &str| {
            std::fs::write(dir.join(CONFIG_PATH), text).unwrap();
            config_root(&dir.join("sub/deeper"))
                .map(|r| LocalConfig::load(&r).unwrap().age_key_file)
        };
        assert_eq!(
            key("# x\nage_key_file: \"/a b/keys.txt\"\nage_key_storage: file\n"),
            Some(Some(PathBuf::from("/a b/keys.txt")))
        );
        assert_eq!(
            key("age_key_file: /plain/k.txt # comment\n"),
            Some(Some(PathBuf::from("/plain/k.txt")))
        );
        assert_eq!(
            key("age_key_file: 'it''s.txt'\n"),
            Some(Some(PathBuf::from("it's.txt")))
        );
        std::fs::remove_dir_all(dir.join(".clef")).unwrap();
        assert_eq!(config_root(&dir.join("sub")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_round_trip_and_paths() {
        let c = LocalConfig {
            age_key_file: Some(PathBuf::from("/home/a b/.config/clef/keys/x/keys.txt")),
        };
        let dir = std::env::temp_dir().join(format!("clef-core-local-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".clef")).unwrap();
        std::fs::write(dir.join(CONFIG_PATH), c.to_text()).unwrap();
        assert_eq!(LocalConfig::load(&dir).unwrap(), c);
        std::fs::remove_dir_all(&dir).unwrap();
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            default_key_path(&env, "l").unwrap(),
            Path::new("/home/u/.config/clef/keys/l/keys.txt")
        );
    }
}
