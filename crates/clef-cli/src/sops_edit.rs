//! `clef sops edit FILE`: the plaintext goes to the editor through a private
//! file in memory-backed storage (tmpfs/ramfs: `$XDG_RUNTIME_DIR`, `/dev/shm`,
//! or `$TMPDIR`/`/tmp` when they are tmpfs), in a fresh 0700 directory, mode
//! 0600, removed when the editor is done (also on Ctrl-C, SIGTERM, SIGHUP,
//! which clef catches while the editor runs). Where no such storage exists the
//! edit is refused: plaintext never reaches a disk-backed file.
//!
//! Only values that changed are re-encrypted; every other `ENC[...]` is kept.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{InputOpts, fail, identities, load, sops_code, write_file};
use crate::error::CliError;

/// `edit`
#[derive(Args, Debug)]
pub struct EditArgs {
    /// The encrypted file.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Open the file even if its MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
}

/// sops's NoEditorFound.
const NO_EDITOR: i32 = 201;
/// sops's FileHasNotBeenModified.
const NOT_MODIFIED: i32 = 200;

/// A fresh directory of mode 0700 with a random name, removed (with what is in
/// it) on drop. Used for the edit file (in tmpfs) and exec-file's FIFO.
pub(super) struct PrivateDir(pub(super) PathBuf);

impl PrivateDir {
    /// Creates `<base>/<prefix>-<random>`.
    pub(super) fn create(base: &Path, prefix: &str) -> std::io::Result<PrivateDir> {
        let mut rnd = [0u8; 8];
        getrandom::getrandom(&mut rnd).map_err(|_| std::io::Error::other("no OS randomness"))?;
        let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("{prefix}-{name}"));
        let mut b = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)?;
        Ok(PrivateDir(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The filesystem type of the mount holding `dir` (from /proc/self/mountinfo).
fn fs_type(dir: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (Some(mp), Some(dash)) = (f.get(4), f.iter().position(|x| *x == "-")) else {
            continue;
        };
        let mp = mp.replace("\\040", " ");
        if dir.starts_with(&mp) && best.as_ref().is_none_or(|(n, _)| mp.len() >= *n) {
            best = Some((mp.len(), f.get(dash + 1)?.to_string()));
        }
    }
    best.map(|(_, t)| t)
}

fn shm_dir() -> Result<PrivateDir, CliError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    for var in ["XDG_RUNTIME_DIR"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            candidates.push(v.into());
        }
    }
    candidates.push("/dev/shm".into());
    if let Some(v) = std::env::var_os("TMPDIR").filter(|v| !v.is_empty()) {
        candidates.push(v.into());
    }
    candidates.push("/tmp".into());
    shm_dir_in(candidates)
}

/// The first of `candidates` that is memory-backed and writable, with a
/// fresh private directory in it; else the refusal.
fn shm_dir_in(candidates: Vec<PathBuf>) -> Result<PrivateDir, CliError> {
    for c in candidates {
        if !matches!(fs_type(&c).as_deref(), Some("tmpfs" | "ramfs")) {
            continue;
        }
        if let Ok(d) = PrivateDir::create(&c, "clef-edit") {
            return Ok(d);
        }
    }
    Err(CliError::new(
        sops_code::GENERIC,
        "no memory-backed storage for the plaintext (tried $XDG_RUNTIME_DIR, /dev/shm, $TMPDIR, /tmp: none is a writable tmpfs); clef never writes plaintext to disk — use 'clef sops set' or mount a tmpfs",
    ))
}

/// `$SOPS_EDITOR`, `$EDITOR`, else the first of vim, nano, vi on PATH (as sops).
fn editor() -> Result<Vec<String>, CliError> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            let words: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
            return Ok(words);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["vim", "nano", "vi"] {
        if std::env::split_paths(&path).any(|d| d.join(name).is_file()) {
            return Ok(vec![name.to_owned()]);
        }
    }
    Err(CliError::new(
        NO_EDITOR,
        "no editor available: set SOPS_EDITOR or EDITOR, or install vim, nano or vi",
    ))
}

mod signals {
    //! While the editor runs, SIGINT/SIGTERM/SIGHUP must not kill clef before
    //! it removes the plaintext. A no-op handler (not SIG_IGN) is used so the
    //! editor, after exec, gets the default dispositions back.
    #![allow(unsafe_code)]

    extern "C" fn noop(_: libc::c_int) {}

    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    pub fn hold() {
        for s in SIGNALS {
            // SAFETY: installs an async-signal-safe handler that does nothing.
            unsafe {
                libc::signal(s, noop as *const () as libc::sighandler_t);
            }
        }
    }

    pub fn release() {
        for s in SIGNALS {
            // SAFETY: restores the default disposition.
            unsafe {
                libc::signal(s, libc::SIG_DFL);
            }
        }
    }
}

fn run_editor(cmd: &[String], file: &Path) -> Result<(), CliError> {
    let (prog, args) = cmd
        .split_first()
        .ok_or_else(|| CliError::new(NO_EDITOR, "the editor command is empty"))?;
    signals::hold();
    let status = std::process::Command::new(prog)
        .args(args)
        .arg(file)
        .status();
    signals::release();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(CliError::new(
            NO_EDITOR,
            format!("Could not run editor: '{prog}' exited with {s}"),
        )),
        Err(e) => Err(CliError::new(
            NO_EDITOR,
            format!("Could not run editor: cannot run '{prog}': {}", e.kind()),
        )),
    }
}

/// Runs `clef sops edit`.
pub fn edit(a: EditArgs) -> Result<(), CliError> {
    if !a.file.exists() {
        return Err(CliError::new(
            sops_code::NO_FILE,
            format!(
                "{}: no such file (clef sops edit opens existing files; create one with 'clef sops encrypt')",
                a.file.display()
            ),
        ));
    }
    let file = load(&a.file, a.input.input_type.as_deref())?;
    let ids = identities()?;
    let key = file.data_key(&ids).map_err(|e| fail(&a.file, e))?;
    let mut plain = if a.ignore_mac {
        file.decrypt_ignore_mac(key)
    } else {
        file.decrypt_with_key(key)
    }
    .map_err(|e| fail(&a.file, e))?;
    let text = plain.emit(plain.format).map_err(|e| fail(&a.file, e))?;
    let editor = editor()?;
    let dir = shm_dir()?;
    let name = a
        .file
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_os_string());
    let tmp = dir.0.join(name);
    clef_sops::io::atomic_write(&tmp, &text, true).map_err(|e| {
        CliError::new(
            sops_code::WRITE,
            format!("cannot write the private edit file: {}", e.kind()),
        )
    })?;
    let docs = loop {
        run_editor(&editor, &tmp)?;
        let edited = zeroize::Zeroizing::new(std::fs::read(&tmp).map_err(|e| {
            CliError::new(
                sops_code::READ,
                format!("cannot read the edited file: {}", e.kind()),
            )
        })?);
        if edited.as_slice() == text.as_slice() {
            return Err(CliError::new(
                NOT_MODIFIED,
                "File has not changed, exiting.",
            ));
        }
        match clef_sops::parse_plain(&edited, plain.format) {
            Ok(d) => break d,
            Err(e) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                crate::out::note(format!(
                    "could not load the edited file ({e}); press Enter to edit it again, Ctrl-D to give up"
                ));
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                    return Err(fail(&a.file, e));
                }
            }
            Err(e) => return Err(fail(&a.file, e)),
        }
    };
    drop(dir);
    plain.docs = docs;
    let out = plain
        .encrypt()
        .and_then(|f| f.to_bytes())
        .map_err(|e| fail(&a.file, e))?;
    write_file(&a.file, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_dirs(base: &Path) -> usize {
        std::fs::read_dir(base)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("clef-edit-"))
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn without_memory_backed_storage_the_edit_is_refused() {
        // The crate's own directory: on disk wherever the tests run (a tmpfs
        // checkout cannot show the refusal, and says so).
        let disk = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let kind = fs_type(&disk);
        assert!(kind.is_some(), "no mount found for {}", disk.display());
        if matches!(kind.as_deref(), Some("tmpfs" | "ramfs")) {
            eprintln!("skipped: {} is itself memory-backed", disk.display());
            return;
        }
        let before = private_dirs(&disk);
        let Err(e) = shm_dir_in(vec![disk.clone(), disk.join("src")]) else {
            panic!("a disk-backed directory was accepted for the plaintext");
        };
        assert_eq!(e.code, sops_code::GENERIC);
        assert!(e.msg.starts_with("no memory-backed storage"), "{}", e.msg);
        assert!(!e.msg.contains('\n'));
        assert_eq!(private_dirs(&disk), before, "a directory was made on disk");
        // A memory-backed candidate after the disk one is the one taken:
        // a fresh 0700 directory, removed on drop.
        let shm = PathBuf::from("/dev/shm");
        if matches!(fs_type(&shm).as_deref(), Some("tmpfs" | "ramfs")) {
            let d = shm_dir_in(vec![disk.clone(), shm.clone()]).expect("/dev/shm");
            assert!(d.0.starts_with(&shm), "{}", d.0.display());
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&d.0).expect("dir").permissions(),
            );
            assert_eq!(mode & 0o777, 0o700);
            let made = d.0.clone();
            drop(d);
            assert!(!made.exists());
        }
    }
}
