//! `clef hooks install | uninstall` and the `clef doctor` view of them.
//!
//! * Shims go to `git rev-parse --git-path hooks` (honours `core.hooksPath`
//!   and linked worktrees). A hook that is already there and is not ours is
//!   renamed `<name>.clef-chained` and run by the shim first (same arguments,
//!   same stdin), so it keeps working. Uninstall puts it back.
//! * The `clef` and `clef-meta` merge drivers are registered in the clone's
//!   config (`git config --local`; config is never cloned, so every clone
//!   needs this step). Uninstall removes them if they are still ours.
//! * `.gitattributes` gets the lines that route `*.enc.yaml`, `*.enc.json`
//!   and `*.clef-meta.yaml` to the drivers, if missing. It is committed and
//!   harmless without the drivers, so uninstall leaves it alone.
//!
//! Everything is idempotent: a second install changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};

use clef_git::Repo;

use crate::HookError;

/// The hooks clef installs, with their shim text (also committed in `hooks/`).
pub const SHIMS: &[(&str, &str)] = &[
    ("pre-commit", include_str!("../../../hooks/pre-commit")),
    (
        "pre-merge-commit",
        include_str!("../../../hooks/pre-merge-commit"),
    ),
    ("pre-push", include_str!("../../../hooks/pre-push")),
];

/// First-line marker that identifies clef's shims.
pub const SHIM_MARKER: &str = "# clef-hook shim";

/// Suffix of a chained (pre-existing) hook.
pub const CHAINED_SUFFIX: &str = ".clef-chained";

/// The merge driver command (the sidecar driver is the same binary; it
/// dispatches on `%P`).
///
/// The `rc` suffix turns "clef-merge not found" (126/127, which git would read
/// as a conflict with `%A` still holding ours, so a `git add` would silently
/// drop theirs) into 255: git refuses the merge and nothing is lost.
pub const DRIVER: &str = "clef-merge %O %A %B --path %P --marker-size %L --labels %S %X %Y; rc=$?; [ $rc -eq 126 -o $rc -eq 127 ] && rc=255; exit $rc";

/// `(driver name, human-readable name)`.
pub const DRIVERS: &[(&str, &str)] = &[
    ("clef", "Clef SOPS-aware merge driver"),
    ("clef-meta", "Clef metadata sidecar merge driver"),
];

/// Lines `.gitattributes` must contain: the SOPS file names
/// ([`clef_core::classify::SOPS_SUFFIXES`]) take the `clef` driver, sidecars
/// ([`clef_core::classify::SIDECAR_SUFFIX`]) the `clef-meta` one.
pub fn attributes() -> Vec<String> {
    use clef_core::classify::{SIDECAR_SUFFIX, SOPS_SUFFIXES};
    SOPS_SUFFIXES
        .iter()
        .map(|s| format!("*{s} merge=clef"))
        .chain([format!("*{SIDECAR_SUFFIX} merge=clef-meta")])
        .collect()
}

const ATTRIBUTES_HEADER: &str =
    "# Clef: SOPS-aware merge drivers (registered per clone by `clef hooks install`)";

/// What happened to one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// Newly installed.
    Installed,
    /// Already installed and current.
    Unchanged,
    /// An older clef shim was replaced.
    Updated,
    /// A foreign hook was kept and chained.
    Chained {
        /// Where the previous hook now lives.
        previous: PathBuf,
    },
    /// A foreign hook that git tracks (husky, a shared hooks directory) was
    /// left alone: renaming it would change the committed tree for everyone.
    /// Install with `--force` to chain it anyway.
    SkippedTracked,
}

/// Result of [`install`].
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The hooks directory used.
    pub hooks_dir: PathBuf,
    /// `(hook path, action)`.
    pub hooks: Vec<(PathBuf, HookAction)>,
    /// Config keys that were set or changed (empty when already registered).
    pub config_set: Vec<String>,
    /// Lines appended to `.gitattributes`.
    pub attributes_added: Vec<String>,
}

impl InstallReport {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        !self.config_set.is_empty()
            || !self.attributes_added.is_empty()
            || self.hooks.iter().any(|(_, a)| *a != HookAction::Unchanged)
    }
}

impl fmt::Display for InstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (p, a) in &self.hooks {
            match a {
                HookAction::Installed => writeln!(f, "installed {}", p.display())?,
                HookAction::Unchanged => writeln!(f, "up to date {}", p.display())?,
                HookAction::Updated => writeln!(f, "updated {}", p.display())?,
                HookAction::Chained { previous } => writeln!(
                    f,
                    "installed {} (your previous hook was kept as {} and still runs first)",
                    p.display(),
                    previous.display()
                )?,
                HookAction::SkippedTracked => {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default();
                    writeln!(
                        f,
                        "WARNING: not installed {}: that hook is tracked by git (husky or a shared hooks directory) and is left unchanged; add `clef-hook {name}` (with the hook's arguments: \"$@\") to it and commit that, or rerun with --force to move it aside in this clone",
                        p.display()
                    )?
                }
            }
        }
        if self.config_set.is_empty() {
            writeln!(f, "merge drivers already registered")?;
        } else {
            writeln!(
                f,
                "registered merge drivers: {}",
                self.config_set.join(", ")
            )?;
        }
        if !self.attributes_added.is_empty() {
            writeln!(
                f,
                "added to .gitattributes (commit it): {}",
                self.attributes_added.join("; ")
            )?;
        }
        Ok(())
    }
}

/// What happened to one hook on [`uninstall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UninstallAction {
    /// The shim was removed.
    Removed,
    /// The shim was removed and the chained hook put back.
    Restored,
    /// No clef shim there.
    NotInstalled,
    /// A hook that is not clef's was left alone.
    Foreign,
}

/// Result of [`uninstall`].
#[derive(Debug, Clone)]
pub struct UninstallReport {
    /// `(hook path, action)`.
    pub hooks: Vec<(PathBuf, UninstallAction)>,
    /// Config sections removed.
    pub config_removed: Vec<String>,
}

impl fmt::Display for UninstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (p, a) in &self.hooks {
            let what = match a {
                UninstallAction::Removed => "removed",
                UninstallAction::Restored => "removed (previous hook restored)",
                UninstallAction::NotInstalled => "not installed",
                UninstallAction::Foreign => "left alone (not clef's)",
            };
            writeln!(f, "{what} {}", p.display())?;
        }
        if !self.config_removed.is_empty() {
            writeln!(
                f,
                "unregistered merge drivers: {}",
                self.config_removed.join(", ")
            )?;
        }
        writeln!(
            f,
            ".gitattributes left as is (it is committed and harmless without the drivers)"
        )
    }
}

/// State of one hook for [`status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookState {
    /// No hook file.
    Missing,
    /// Clef's current shim (`chained`: a previous hook runs first).
    Installed {
        /// Whether a previous hook is chained.
        chained: bool,
    },
    /// An older clef shim.
    Outdated,
    /// Some other hook (clef does not run).
    Foreign,
}

/// What [`status`] found (for `clef doctor`).
#[derive(Debug, Clone)]
pub struct HooksStatus {
    /// The hooks directory.
    pub hooks_dir: PathBuf,
    /// `(hook name, state)`.
    pub hooks: Vec<(String, HookState)>,
    /// `(driver name, configured command or None)`.
    pub drivers: Vec<(String, Option<String>)>,
    /// `.gitattributes` lines that are missing.
    pub attributes_missing: Vec<String>,
    /// `clef-hook` on `PATH`.
    pub clef_hook: Option<PathBuf>,
    /// `clef-merge` on `PATH`.
    pub clef_merge: Option<PathBuf>,
}

impl HooksStatus {
    /// Everything installed and current, binaries on `PATH`.
    pub fn healthy(&self) -> bool {
        self.hooks
            .iter()
            .all(|(_, s)| matches!(s, HookState::Installed { .. }))
            && self
                .drivers
                .iter()
                .all(|(_, d)| d.as_deref() == Some(DRIVER))
            && self.attributes_missing.is_empty()
            && self.clef_hook.is_some()
            && self.clef_merge.is_some()
    }
}

impl fmt::Display for HooksStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hooks directory: {}", self.hooks_dir.display())?;
        for (n, s) in &self.hooks {
            let what = match s {
                HookState::Missing => "missing (run `clef hooks install`)".to_owned(),
                HookState::Installed { chained: false } => "installed".to_owned(),
                HookState::Installed { chained: true } => "installed (chains a previous hook)".to_owned(),
                HookState::Outdated => "outdated clef shim (run `clef hooks install`)".to_owned(),
                HookState::Foreign => "another hook is installed; clef does not run (run `clef hooks install` to chain it)".to_owned(),
            };
            writeln!(f, "  {n}: {what}")?;
        }
        for (n, d) in &self.drivers {
            match d {
                Some(c) if c == DRIVER => writeln!(f, "merge driver {n}: registered")?,
                Some(c) => writeln!(f, "merge driver {n}: set to a different command: {c}")?,
                None => writeln!(
                    f,
                    "merge driver {n}: not registered (merges of encrypted files fall back to a text merge)"
                )?,
            }
        }
        for a in &self.attributes_missing {
            writeln!(f, ".gitattributes: missing `{a}`")?;
        }
        let on_path = |name: &str, p: &Option<PathBuf>| match p {
            Some(p) => format!("{name}: {}", p.display()),
            None => format!("{name}: not found on PATH"),
        };
        writeln!(f, "{}", on_path("clef-hook", &self.clef_hook))?;
        writeln!(f, "{}", on_path("clef-merge", &self.clef_merge))
    }
}

fn git(root: &Path, args: &[&str]) -> Result<(bool, String, String), HookError> {
    let r = clef_git::worktree::run(root, args)?;
    Ok((r.ok, r.stdout, r.stderr))
}

fn git_ok(root: &Path, args: &[&str]) -> Result<String, HookError> {
    let (ok, out, err) = git(root, args)?;
    if !ok {
        return Err(HookError::Git(clef_git::GitError::Failed {
            command: args.join(" "),
            stderr: err,
        }));
    }
    Ok(out)
}

fn config_get(root: &Path, key: &str) -> Result<Option<String>, HookError> {
    let (ok, out, _) = git(root, &["config", "--local", "--get", key])?;
    Ok(ok.then_some(out))
}

struct Ctx {
    root: PathBuf,
    hooks_dir: PathBuf,
}

fn open(repo: &Path) -> Result<Ctx, HookError> {
    let (ok, bare, _) = git(repo, &["rev-parse", "--is-bare-repository"])?;
    if ok && bare == "true" {
        return Err(HookError::Bare(repo.to_path_buf()));
    }
    let r = Repo::open_worktree(repo)?;
    let hooks_dir = r.git_path("hooks")?;
    Ok(Ctx {
        root: r.root().to_path_buf(),
        hooks_dir,
    })
}

fn read_opt(path: &Path) -> Result<Option<String>, HookError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HookError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn is_shim(text: &str) -> bool {
    text.lines()
        .nth(1)
        .is_some_and(|l| l.starts_with(SHIM_MARKER))
}

fn write_executable(path: &Path, text: &str) -> Result<(), HookError> {
    let werr = |source| HookError::Write {
        path: path.to_path_buf(),
        source,
    };
    clef_sops::io::atomic_write(path, text.as_bytes(), false).map_err(werr)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(werr)?;
    }
    Ok(())
}

#[allow(
    clippy::disallowed_methods,
    reason = "moves the user's own hook aside (or back) unchanged; nothing is written"
)]
fn rename(from: &Path, to: &Path) -> Result<(), HookError> {
    std::fs::rename(from, to).map_err(|source| HookError::Write {
        path: to.to_path_buf(),
        source,
    })
}

fn chained_path(hook: &Path) -> PathBuf {
    let mut s = hook.as_os_str().to_owned();
    s.push(CHAINED_SUFFIX);
    PathBuf::from(s)
}

/// Whether git tracks `file` in the work tree at `root`.
fn tracked(root: &Path, file: &Path) -> bool {
    let f = file.to_string_lossy();
    clef_git::worktree::stdout_if_ok(root, &["ls-files", "--", &f]).is_some_and(|o| !o.is_empty())
}

fn install_hook(hook: &Path, shim: &str, force: bool) -> Result<HookAction, HookError> {
    let current = read_opt(hook)?;
    match current {
        Some(t) if t == shim => Ok(HookAction::Unchanged),
        Some(t) if is_shim(&t) => {
            write_executable(hook, shim)?;
            Ok(HookAction::Updated)
        }
        Some(_) => {
            let chained = chained_path(hook);
            if chained.exists() {
                if !force {
                    return Err(HookError::ChainOccupied {
                        hook: hook.to_path_buf(),
                        chained,
                    });
                }
                let mut bak = chained.as_os_str().to_owned();
                bak.push(".bak");
                rename(&chained, Path::new(&bak))?;
            }
            rename(hook, &chained)?;
            write_executable(hook, shim)?;
            Ok(HookAction::Chained { previous: chained })
        }
        None => {
            write_executable(hook, shim)?;
            Ok(HookAction::Installed)
        }
    }
}

fn register_drivers(root: &Path, force: bool) -> Result<Vec<String>, HookError> {
    // check every driver before changing anything
    for (name, _) in DRIVERS {
        let key = format!("merge.{name}.driver");
        if let Some(cur) = config_get(root, &key)?
            && cur != DRIVER
            && !force
        {
            return Err(HookError::DriverConflict {
                name: (*name).to_owned(),
                current: cur,
            });
        }
    }
    let mut set = Vec::new();
    for (name, human) in DRIVERS {
        for (k, v) in [
            ("name", *human),
            ("driver", DRIVER),
            ("recursive", "binary"),
        ] {
            let key = format!("merge.{name}.{k}");
            if config_get(root, &key)?.as_deref() != Some(v) {
                git_ok(root, &["config", "--local", &key, v])?;
                set.push(key);
            }
        }
    }
    Ok(set)
}

fn has_attribute(text: &str, want: &str) -> bool {
    let want: Vec<&str> = want.split_whitespace().collect();
    text.lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == want)
}

fn ensure_attributes(root: &Path) -> Result<Vec<String>, HookError> {
    let path = root.join(".gitattributes");
    let text = read_opt(&path)?.unwrap_or_default();
    let missing: Vec<String> = attributes()
        .into_iter()
        .filter(|a| !has_attribute(&text, a))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut new = text.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    if !new.is_empty() {
        new.push('\n');
    }
    if !text.contains(ATTRIBUTES_HEADER) {
        new.push_str(ATTRIBUTES_HEADER);
        new.push('\n');
    }
    for m in &missing {
        new.push_str(m);
        new.push('\n');
    }
    clef_sops::io::atomic_write(&path, new.as_bytes(), false)
        .map_err(|source| HookError::Write { path, source })?;
    Ok(missing)
}

/// `clef hooks install [--force]`: shims (chaining existing hooks), merge
/// drivers, `.gitattributes`. Idempotent. `force` replaces a merge driver
/// configured with another command, and chains over a stale
/// `*.clef-chained` file (kept as `*.clef-chained.bak`).
pub fn install(repo: &Path, force: bool) -> Result<InstallReport, HookError> {
    let ctx = open(repo)?;
    let config_set = register_drivers(&ctx.root, force)?;
    let attributes_added = ensure_attributes(&ctx.root)?;
    std::fs::create_dir_all(&ctx.hooks_dir).map_err(|source| HookError::Write {
        path: ctx.hooks_dir.clone(),
        source,
    })?;
    let mut hooks = Vec::new();
    for (name, shim) in SHIMS {
        let hook = ctx.hooks_dir.join(name);
        let foreign = read_opt(&hook)?.is_some_and(|t| !is_shim(&t));
        let action = if foreign && !force && tracked(&ctx.root, &hook) {
            HookAction::SkippedTracked
        } else {
            install_hook(&hook, shim, force)?
        };
        hooks.push((hook, action));
    }
    Ok(InstallReport {
        hooks_dir: ctx.hooks_dir,
        hooks,
        config_set,
        attributes_added,
    })
}

/// `clef hooks uninstall`: removes clef's shims (restoring chained hooks) and
/// the merge drivers if they are still clef's. Leaves `.gitattributes`.
pub fn uninstall(repo: &Path) -> Result<UninstallReport, HookError> {
    let ctx = open(repo)?;
    let mut hooks = Vec::new();
    for (name, _) in SHIMS {
        let hook = ctx.hooks_dir.join(name);
        let chained = chained_path(&hook);
        let action = match read_opt(&hook)? {
            Some(t) if is_shim(&t) => {
                if chained.exists() {
                    rename(&chained, &hook)?;
                    UninstallAction::Restored
                } else {
                    std::fs::remove_file(&hook).map_err(|source| HookError::Write {
                        path: hook.clone(),
                        source,
                    })?;
                    UninstallAction::Removed
                }
            }
            Some(_) => UninstallAction::Foreign,
            None => UninstallAction::NotInstalled,
        };
        hooks.push((hook, action));
    }
    let mut config_removed = Vec::new();
    for (name, _) in DRIVERS {
        if config_get(&ctx.root, &format!("merge.{name}.driver"))?.as_deref() == Some(DRIVER) {
            git_ok(
                &ctx.root,
                &[
                    "config",
                    "--local",
                    "--remove-section",
                    &format!("merge.{name}"),
                ],
            )?;
            config_removed.push(format!("merge.{name}"));
        }
    }
    Ok(UninstallReport {
        hooks,
        config_removed,
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What is installed, for `clef doctor`. Changes nothing.
pub fn status(repo: &Path) -> Result<HooksStatus, HookError> {
    let ctx = open(repo)?;
    let mut hooks = Vec::new();
    for (name, shim) in SHIMS {
        let hook = ctx.hooks_dir.join(name);
        let state = match read_opt(&hook)? {
            None => HookState::Missing,
            Some(t) if t == *shim => HookState::Installed {
                chained: chained_path(&hook).exists(),
            },
            Some(t) if is_shim(&t) => HookState::Outdated,
            Some(_) => HookState::Foreign,
        };
        hooks.push(((*name).to_owned(), state));
    }
    let mut drivers = Vec::new();
    for (name, _) in DRIVERS {
        drivers.push((
            (*name).to_owned(),
            config_get(&ctx.root, &format!("merge.{name}.driver"))?,
        ));
    }
    let text = read_opt(&ctx.root.join(".gitattributes"))?.unwrap_or_default();
    let attributes_missing = attributes()
        .into_iter()
        .filter(|a| !has_attribute(&text, a))
        .collect();
    Ok(HooksStatus {
        hooks_dir: ctx.hooks_dir,
        hooks,
        drivers,
        attributes_missing,
        clef_hook: on_path("clef-hook"),
        clef_merge: on_path("clef-merge"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_are_marked_and_posix() {
        for (name, text) in SHIMS {
            assert!(text.starts_with("#!/bin/sh\n"), "{name}");
            assert!(is_shim(text), "{name}");
            assert!(text.contains(&format!("clef-hook {name}")), "{name}");
        }
    }

    #[test]
    fn attribute_lines() {
        assert!(has_attribute(
            "*.enc.yaml   merge=clef\n",
            "*.enc.yaml merge=clef"
        ));
        assert!(!has_attribute(
            "*.enc.yaml merge=sops\n",
            "*.enc.yaml merge=clef"
        ));
        assert!(!has_attribute(
            "# *.enc.yaml merge=clef\n",
            "*.enc.yaml merge=clef"
        ));
        assert_eq!(
            attributes(),
            [
                "*.enc.yaml merge=clef",
                "*.enc.json merge=clef",
                "*.clef-meta.yaml merge=clef-meta"
            ]
        );
    }
}
