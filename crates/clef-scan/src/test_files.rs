//! Test support: the files of a directory tree, read whole, and the
//! best-of-N timing the ignored benches share.

use std::path::PathBuf;

/// The non-empty files under `dir` (depth first, in directory order), read
/// until they add up to more than `limit` bytes. Directories and files that
/// cannot be read are passed over.
pub(crate) fn files_under(dir: impl Into<PathBuf>, limit: usize) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.into()];
    let mut total = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p)
                && !b.is_empty()
            {
                total += b.len();
                files.push(b);
            }
        }
        if total > limit {
            break;
        }
    }
    files
}

/// Runs each of `N` modes `rounds` times, the modes in turn within a round
/// (so a host's drift falls on all of them alike): per mode, what its last
/// run returned and its fastest run.
pub(crate) fn best_of<const N: usize>(
    rounds: usize,
    mut run: impl FnMut(usize) -> usize,
) -> [(usize, std::time::Duration); N] {
    let mut best = [(0, std::time::Duration::MAX); N];
    for _ in 0..rounds {
        for (mode, (got, fastest)) in best.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            *got = run(mode);
            *fastest = (*fastest).min(t.elapsed());
        }
    }
    best
}
