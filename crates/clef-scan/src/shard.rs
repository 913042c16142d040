//! `--shard I/N`: a deterministic split of a scan into `N` parts.
//!
//! A file (work tree) or a blob (git modes, where each blob is listed once
//! with one path) belongs to shard `1 + (first 8 bytes of SHA-256(path) mod
//! N)`. The hash depends only on the path relative to the scan root, so every
//! machine, thread count and run puts the same file in the same shard, every
//! file lands in exactly one shard, and all blobs of one path land in the
//! same shard (so a history's "introduced once" de-duplication stays exact).
//! Shards are numbered from 1, as in `--shard 1/4` … `--shard 4/4`
//! (Kubernetes' `JOB_COMPLETION_INDEX` is 0-based: add one).

use sha2::{Digest, Sha256};

/// One part of `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with `1 <= I <= N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: expected I/N with 1 <= I <= N, e.g. 1/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether `path` (relative to the scan root, `/`-separated) is in this
    /// shard.
    pub fn contains(&self, path: &str) -> bool {
        let h = Sha256::digest(path.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        u64::from_be_bytes(first) % self.count == self.index - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_in_exactly_one_shard() {
        let n = 5;
        let shards: Vec<Shard> = (1..=n)
            .map(|i| Shard::parse(&format!("{i}/{n}")).expect("shard"))
            .collect();
        let mut sizes = vec![0; 5];
        for k in 0..2000 {
            let p = format!("src/module_{k}/file.rs");
            let inside: Vec<usize> = (0..5).filter(|&i| shards[i].contains(&p)).collect();
            assert_eq!(inside.len(), 1, "{p}");
            sizes[inside[0]] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 300), "{sizes:?}");
        for bad in ["0/3", "4/3", "1/0", "x/2", "2", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
