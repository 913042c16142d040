//! The disk cache: the *encrypted* artifact exactly as fetched (never a
//! value), so a restart while the source is down can serve again after the
//! full checks. `<dir>/artifact.json` (0600) and `<dir>/artifact.meta`
//! (`{"fetchedAt":ms,"etag":…}`), both through the atomic writer.

use std::path::{Path, PathBuf};

/// A disk cache directory.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

/// What the cache held.
pub struct Cached {
    /// The document bytes.
    pub bytes: Vec<u8>,
    /// When they were last confirmed by the source (epoch ms).
    pub fetched_ms: i64,
    /// The source's ETag then.
    pub etag: Option<String>,
}

impl DiskCache {
    /// A cache in `dir` (created 0700 on first write).
    pub fn new(dir: &Path) -> DiskCache {
        DiskCache {
            dir: dir.to_path_buf(),
        }
    }

    /// The artifact file.
    pub fn artifact_path(&self) -> PathBuf {
        self.dir.join("artifact.json")
    }

    fn meta_path(&self) -> PathBuf {
        self.dir.join("artifact.meta")
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt as _;
        if !self.dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
        }
        Ok(())
    }

    /// Stores a verified artifact's bytes.
    pub fn save(&self, bytes: &[u8], fetched_ms: i64, etag: Option<&str>) -> std::io::Result<()> {
        self.ensure_dir()?;
        clef_sops::io::atomic_write(&self.artifact_path(), bytes, true)?;
        self.touch(fetched_ms, etag)
    }

    /// Records that the source confirmed the cached artifact.
    pub fn touch(&self, fetched_ms: i64, etag: Option<&str>) -> std::io::Result<()> {
        self.ensure_dir()?;
        let mut s = format!("{{\"fetchedAt\":{fetched_ms}");
        if let Some(e) = etag {
            s.push_str(",\"etag\":");
            clef_artifact::plaintext::write_js_string(&mut s, e);
        }
        s.push_str("}\n");
        clef_sops::io::atomic_write(&self.meta_path(), s.as_bytes(), true)
    }

    /// The cached artifact, if both files are there and readable.
    pub fn load(&self) -> Option<Cached> {
        let bytes = std::fs::read(self.artifact_path()).ok()?;
        let meta = std::fs::read_to_string(self.meta_path()).ok()?;
        let doc = clef_doc::json::parse(&meta).ok()?;
        let fetched_ms = match doc.get("fetchedAt")? {
            clef_doc::Value::Int(n) => *n,
            clef_doc::Value::Float(f) => *f as i64,
            _ => return None,
        };
        let etag = match doc.get("etag") {
            Some(clef_doc::Value::Str(s)) => Some(s.expose().to_owned()),
            _ => None,
        };
        Some(Cached {
            bytes,
            fetched_ms,
            etag,
        })
    }

    /// Deletes the cache (on revocation).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(self.artifact_path());
        let _ = std::fs::remove_file(self.meta_path());
    }
}
