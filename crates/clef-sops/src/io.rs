//! The one place that writes files: atomically (temp file in the same
//! directory, fsync, rename), keeping the permissions of the file it replaces.
//! Callers pass only ciphertext or non-secret bytes.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically. New files get mode 0600 on Unix
/// when `private` is set, otherwise the process umask applies.
///
/// A target that exists and is not a regular file (`/dev/null`, `/dev/stdout`,
/// a FIFO) is written in place: renaming over it would replace the device
/// node with a file (as root, that breaks the whole machine). A directory is
/// refused.
#[allow(
    clippy::disallowed_methods,
    reason = "the one file writer: everything else calls it"
)]
pub fn atomic_write(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    if let Ok(m) = std::fs::metadata(path) {
        if m.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        if !m.is_file() {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            return f.write_all(bytes).and_then(|()| f.flush());
        }
    }
    let (dir, tmp) = temp_beside(path);
    let existing = std::fs::metadata(path).ok();
    let result = (|| {
        write_temp(&tmp, bytes, private, existing.map(|m| m.permissions()))?;
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a private key file: mode 0600 from its creation (never wider, even
/// for a moment, whatever the umask or the mode of a file it replaces),
/// fsynced, then moved into place atomically. Without `overwrite`, an
/// existing `path` is refused (`AlreadyExists`), and the check is atomic
/// (a hard link, which fails if the name was taken meanwhile). A target
/// that is not a regular file is refused.
#[allow(
    clippy::disallowed_methods,
    reason = "the one file writer's sibling for private keys"
)]
pub fn write_private_key(path: &Path, bytes: &[u8], overwrite: bool) -> std::io::Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        if !overwrite {
            return Err(std::io::ErrorKind::AlreadyExists.into());
        }
    }
    let (dir, tmp) = temp_beside(path);
    let result = (|| {
        write_temp(&tmp, bytes, true, None)?;
        if overwrite {
            std::fs::rename(&tmp, path)?;
        } else {
            std::fs::hard_link(&tmp, path)?;
            std::fs::remove_file(&tmp)?;
        }
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The directory of `path` and a fresh temp name in it.
fn temp_beside(path: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut rnd = [0u8; 6];
    crate::fill_random(&mut rnd);
    let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.clef-tmp-{suffix}"));
    (dir, tmp)
}

/// Creates `tmp` (never an existing file), mode 0600 when `private`, else
/// `perms` when given, writes and fsyncs it.
#[allow(clippy::disallowed_methods, reason = "the one file writer's temp file")]
fn write_temp(
    tmp: &Path,
    bytes: &[u8],
    private: bool,
    perms: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if private {
            opts.mode(0o600);
        }
    }
    let mut f = opts.open(tmp)?;
    if let Some(p) = perms {
        f.set_permissions(p)?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_keeps_mode() {
        let dir = std::env::temp_dir().join(format!("clef-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        atomic_write(&p, b"one", true).unwrap();
        atomic_write(&p, b"two", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left behind"
        );
        assert!(atomic_write(&dir.join("missing/x"), b"x", false).is_err());
        assert!(
            atomic_write(&dir, b"x", false).is_err(),
            "a directory is refused"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = std::env::temp_dir().join(format!("clef-io-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pipe");
        let ok = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo");
        let reader = {
            let p = p.clone();
            std::thread::spawn(move || std::fs::read(p).unwrap())
        };
        atomic_write(&p, b"through the pipe", false).unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
        assert!(ft.is_fifo(), "the FIFO is still a FIFO");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temp file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_are_0600_and_never_overwritten_by_default() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("clef-io-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("keys.txt");
        atomic_write(&p, b"public", false).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = write_private_key(&p, b"AGE-SECRET-KEY-1X", false).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"public", "left alone");
        write_private_key(&p, b"AGE-SECRET-KEY-1Y", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"AGE-SECRET-KEY-1Y");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600, "a replaced 0644 file becomes 0600");
        let q = dir.join("new.txt");
        write_private_key(&q, b"AGE-SECRET-KEY-1Z", false).unwrap();
        assert_eq!(mode(&q), 0o600);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temp file");
        assert!(write_private_key(&dir, b"x", true).is_err(), "a directory");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
