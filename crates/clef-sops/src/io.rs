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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut rnd = [0u8; 6];
    crate::fill_random(&mut rnd);
    let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.clef-tmp-{suffix}"));
    let existing = std::fs::metadata(path).ok();
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            if private {
                opts.mode(0o600);
            }
        }
        let mut f = opts.open(&tmp)?;
        if let Some(m) = &existing {
            f.set_permissions(m.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
}
