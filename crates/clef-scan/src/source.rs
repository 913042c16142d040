//! Where bytes come from: a parallel walk of the work tree, git blobs (staged,
//! range, history), or a single buffer (stdin).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clef_git::odb::ObjectStore;
use clef_git::{BlobData, Change, Repo};
use ignore::{WalkBuilder, WalkState};

use crate::engine::{BlobScan, FileReader, Loaded, Scanner, Skip};
use crate::error::ScanError;
use crate::finding::Finding;
use crate::report::{Problem, Report};

/// Shared counters for one scan; also drives the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    skipped: AtomicU64,
    baselined: AtomicU64,
}

#[derive(Default)]
struct Sink {
    findings: Mutex<Vec<Finding>>,
    problems: Mutex<Vec<Problem>>,
}

impl Sink {
    fn problem(&self, path: &str, message: String, is_error: bool) {
        if let Ok(mut p) = self.problems.lock() {
            p.push(Problem {
                path: path.to_string(),
                message,
                is_error,
            });
        }
    }

    fn record(
        &self,
        c: &Counters,
        path: &str,
        len: usize,
        r: BlobScan,
        decorate: impl Fn(&mut Finding),
    ) {
        match r.skipped {
            Some(Skip::TooLarge(n)) => {
                c.skipped.fetch_add(1, Ordering::Relaxed);
                self.problem(
                    path,
                    format!("skipped: {n} bytes is over the size limit"),
                    false,
                );
                return;
            }
            Some(_) => {
                c.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => {}
        }
        c.files.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(len as u64, Ordering::Relaxed);
        c.baselined.fetch_add(r.baselined as u64, Ordering::Relaxed);
        if r.invalid_utf8 {
            self.problem(path, "not valid UTF-8; scanned as bytes".into(), false);
        }
        if !r.findings.is_empty()
            && let Ok(mut f) = self.findings.lock()
        {
            for mut x in r.findings {
                decorate(&mut x);
                f.push(x);
            }
        }
    }

    fn into_report(self, c: &Counters, started: Instant) -> Report {
        let mut r = Report {
            findings: self.findings.into_inner().unwrap_or_default(),
            problems: self.problems.into_inner().unwrap_or_default(),
            files: c.files.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            baselined: c.baselined.load(Ordering::Relaxed),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            fingerprint_salt: String::new(),
        };
        r.sort();
        r
    }
}

/// A progress line on stderr for scans that take more than a second, only
/// when stderr is a terminal. Dropping it erases the line.
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Start reporting `counters` (no-op unless `enabled` and stderr is a TTY).
    pub fn start(counters: Arc<Counters>, enabled: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = (enabled && std::io::stderr().is_terminal()).then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let mut shown = false;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    if t0.elapsed() < Duration::from_secs(1) {
                        continue;
                    }
                    shown = true;
                    eprint!(
                        "\r\x1b[2Kscanning: {} files, {:.1} MB",
                        counters.files.load(Ordering::Relaxed),
                        counters.bytes.load(Ordering::Relaxed) as f64 / 1e6
                    );
                }
                if shown {
                    eprint!("\r\x1b[2K");
                }
            })
        });
        Progress { stop, handle }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// Display path of `p` (found under the scan argument `arg`, whose path
/// relative to the root is `arg_rel`).
fn display_path(p: &Path, arg: &Path, arg_rel: Option<&Path>) -> String {
    #[cfg(unix)]
    if let Some(s) = display_path_bytes(p, arg, arg_rel) {
        return s;
    }
    display_path_components(p, arg, arg_rel)
}

/// [`display_path`] for the paths a walk gives (the argument, `/`, names),
/// from their bytes: one allocation instead of a component-wise
/// `strip_prefix`, a `join`, a lossy conversion and a `replace`, about 1%
/// of a work-tree scan. `None` for anything else (a path that is not the
/// argument's bytes and a plain tail, not UTF-8), which
/// [`display_path_components`] answers.
#[cfg(unix)]
fn display_path_bytes(p: &Path, arg: &Path, arg_rel: Option<&Path>) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let Some(base) = arg_rel else {
        // the path as the walk gave it
        let s = std::str::from_utf8(p.as_os_str().as_bytes()).ok()?;
        return Some(forward_slashed(s.to_string()));
    };
    let base = base.as_os_str().as_bytes();
    let arg = arg.as_os_str().as_bytes();
    let mut tail = p.as_os_str().as_bytes().strip_prefix(arg)?;
    if !arg.ends_with(b"/") {
        tail = tail.strip_prefix(b"/")?;
    }
    let plain = |b: &[u8]| {
        !b.is_empty()
            && b.split(|&c| c == b'/')
                .all(|c| !c.is_empty() && c != b"." && c != b"..")
    };
    if !plain(tail) || !(base.is_empty() || plain(base)) {
        return None;
    }
    let tail = std::str::from_utf8(tail).ok()?;
    let base = std::str::from_utf8(base).ok()?;
    let mut s = String::with_capacity(base.len() + 1 + tail.len());
    if !base.is_empty() {
        s.push_str(base);
        s.push('/');
    }
    s.push_str(tail);
    Some(forward_slashed(s))
}

/// A display path's last step: `\` written `/`, and no leading `./`.
fn forward_slashed(s: String) -> String {
    let s = if s.contains('\\') {
        s.replace('\\', "/")
    } else {
        s
    };
    match s.strip_prefix("./") {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// [`display_path`] by `Path`'s own component rules.
fn display_path_components(p: &Path, arg: &Path, arg_rel: Option<&Path>) -> String {
    let rel = match (p.strip_prefix(arg), arg_rel) {
        // the argument itself is the file: no `FILE/` (issue 11, item 18)
        (Ok(tail), Some(base)) if tail.as_os_str().is_empty() => base.to_path_buf(),
        (Ok(tail), Some(base)) => base.join(tail),
        _ => p.to_path_buf(),
    };
    forward_slashed(rel.to_string_lossy().into_owned())
}

/// Scan files and directories in parallel, honouring `.gitignore`,
/// `.clefignore` (in every directory) and the scanner's ignore rules. Paths in
/// findings are relative to `root` when the argument is inside it.
pub fn scan_paths(
    scanner: &Scanner,
    root: &Path,
    paths: &[PathBuf],
    nthreads: usize,
    progress: bool,
) -> Report {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let _progress = Progress::start(Arc::clone(&counters), progress);
    let sink = Sink::default();
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    for arg in paths {
        let arg_rel = arg
            .canonicalize()
            .ok()
            .and_then(|a| a.strip_prefix(&root_abs).ok().map(Path::to_path_buf));
        if let Err(e) = std::fs::metadata(arg) {
            sink.problem(&arg.to_string_lossy(), e.to_string(), true);
            continue;
        }
        let walker = WalkBuilder::new(arg)
            .hidden(false)
            .require_git(false)
            .add_custom_ignore_filename(".clefignore")
            .filter_entry(|e| e.file_name() != ".git")
            .threads(threads(nthreads))
            .build_parallel();
        let sink = &sink;
        let counters = &counters;
        let arg_rel = arg_rel.as_deref();
        walker.run(|| {
            let mut reader = FileReader::default();
            Box::new(move |entry| {
                let entry = match entry {
                    Ok(e) => e,
                    Err(err) => {
                        let path = match &err {
                            ignore::Error::WithPath { path, .. } => {
                                path.to_string_lossy().into_owned()
                            }
                            _ => arg.to_string_lossy().into_owned(),
                        };
                        sink.problem(&path, err.to_string(), true);
                        return WalkState::Continue;
                    }
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return WalkState::Continue;
                }
                let display = display_path(entry.path(), arg, arg_rel);
                if !scanner.in_shard(&display) {
                    return WalkState::Continue;
                }
                // The argument itself is a file: it is scanned whatever the
                // path ignore rules say (they choose among what a walk
                // finds), and a skip says why.
                let named = entry.depth() == 0;
                if !named && scanner.is_ignored(&display, false) {
                    counters.skipped.fetch_add(1, Ordering::Relaxed);
                    return WalkState::Continue;
                }
                let scan = |bytes: &[u8]| {
                    let r = if named {
                        scanner.scan_named(&display, bytes)
                    } else {
                        scanner.scan_blob_detailed(&display, bytes)
                    };
                    if named && matches!(r.skipped, Some(Skip::Binary)) {
                        sink.problem(&display, "skipped: a binary file".into(), false);
                    }
                    sink.record(counters, &display, bytes.len(), r, |_| {});
                };
                match reader.read(entry.path(), scanner.max_file_size()) {
                    Ok(Loaded::Buf(bytes)) => scan(bytes),
                    Ok(Loaded::Mapped(map)) => scan(&map),
                    Ok(Loaded::TooLarge(len)) => {
                        counters.skipped.fetch_add(1, Ordering::Relaxed);
                        sink.problem(
                            &display,
                            format!("skipped: {len} bytes is over the size limit"),
                            false,
                        );
                    }
                    Err(e) => sink.problem(&display, format!("cannot read: {e}"), true),
                }
                WalkState::Continue
            })
        });
    }
    sink.into_report(&counters, started)
}

/// Scan one in-memory buffer (stdin).
pub fn scan_buffer(scanner: &Scanner, name: &str, bytes: &[u8]) -> Report {
    let started = Instant::now();
    let counters = Counters::default();
    let sink = Sink::default();
    let r = scanner.scan_blob_detailed(name, bytes);
    sink.record(&counters, name, bytes.len(), r, |_| {});
    sink.into_report(&counters, started)
}

/// Most blobs a history worker reads (and holds) at once.
const HISTORY_CHUNK: usize = 256;

/// Scan git blobs (from [`Repo::staged`], [`Repo::range`] or
/// [`Repo::history`]) in parallel; findings carry the introducing commit.
pub fn scan_changes(
    scanner: &Scanner,
    repo: &Repo,
    changes: Vec<Change>,
    nthreads: usize,
    progress: bool,
) -> Result<Report, ScanError> {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let _progress = Progress::start(Arc::clone(&counters), progress);
    let sink = Sink::default();
    // One path's versions next to each other, oldest first (the sort is
    // stable; workers walk each chunk backwards, newest first): a version's
    // parent is usually its neighbour, and a pack stores a file's versions
    // as deltas of each other.
    let mut changes = changes;
    sort_by_path(&mut changes);
    // skip ignored paths before reading anything (decided once per path)
    // (path, in this shard, ignored) of the last path decided
    let mut last: Option<(String, bool, bool)> = None;
    changes.retain(|c| {
        let (ours, ignored) = match &last {
            Some((p, ours, ignored)) if *p == c.path => (*ours, *ignored),
            _ => {
                let ours = scanner.in_shard(&c.path);
                let ignored = ours && scanner.is_ignored(&c.path, false);
                last = Some((c.path.clone(), ours, ignored));
                (ours, ignored)
            }
        };
        if ignored {
            counters.skipped.fetch_add(1, Ordering::Relaxed);
        }
        ours && !ignored
    });
    // Inflating blobs (zlib + delta chains) is the cost of a history scan. So
    // the blob list is cut into contiguous chunks (neighbouring blobs share
    // delta bases) and each worker takes the next chunk, reads it with its own
    // reader (gix in-process, or its own `git cat-file` when the store cannot
    // be used) and scans what it reads: `n` readers and `n` scanners overlap.
    // A chunk's blobs are held in memory together, so a chunk has at most
    // HISTORY_CHUNK blobs: memory is bounded by threads x HISTORY_CHUNK x the
    // blob size limit, not by the size of the history.
    let n = threads(nthreads);
    let chunk = changes.len().div_ceil(n * 8).clamp(1, HISTORY_CHUNK);
    let chunks: Vec<std::ops::Range<usize>> = (0..changes.len())
        .step_by(chunk)
        .map(|lo| lo..(lo + chunk).min(changes.len()))
        .collect();
    let next = AtomicU64::new(0);
    let failed: Mutex<Option<ScanError>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let list = changes;
    let changes = &list;
    // in-process reads when possible, `git cat-file` otherwise; only worth
    // opening for more than a handful of blobs
    let store = if changes.len() > 16 {
        repo.object_store()
    } else {
        None
    };
    let store = store.as_ref();
    std::thread::scope(|s| {
        for _ in 0..n.min(chunks.len()) {
            let (sink, counters, chunks, next, failed, stop) =
                (&sink, &counters, &chunks, &next, &failed, &stop);
            s.spawn(move || {
                let fail = |e: ScanError| {
                    stop.store(true, Ordering::Relaxed);
                    if let Ok(mut f) = failed.lock() {
                        f.get_or_insert(e);
                    }
                };
                // one reader (and delta-base cache) per worker
                let reader = store.map(ObjectStore::reader);
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(range) = chunks.get(k) else {
                        return;
                    };
                    let part = &changes[range.clone()];
                    // A path's versions are read newest first: git packs an
                    // older version as a delta of a newer one, so the blob
                    // just read is often the delta base of the next and
                    // comes out of the reader's cache (on trufflehog,
                    // `git cat-file --batch` takes 12% less CPU in this
                    // order). A change's parent is the blob read right after
                    // it when that is the version before (same path);
                    // otherwise it is read explicitly, right after.
                    let held = |k: usize| {
                        k > 0
                            && part[k - 1].path == part[k].path
                            && part[k].parent.as_ref() == Some(&part[k - 1].oid)
                    };
                    let oids = (0..part.len())
                        .rev()
                        .flat_map(|k| {
                            let parent = part[k].parent.as_ref().filter(|_| !held(k));
                            std::iter::once(&part[k].oid).chain(parent)
                        })
                        .cloned()
                        .collect();
                    let mut blobs =
                        match repo.read_blobs(reader.as_ref(), oids, scanner.max_file_size()) {
                            Ok(b) => b,
                            Err(e) => return fail(e.into()),
                        };
                    // the change whose parent is the next blob read
                    let mut waiting: Option<(usize, clef_git::Blob)> = None;
                    for k in (0..part.len()).rev() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let b = match blobs.next() {
                            Some(Ok(b)) => b,
                            Some(Err(e)) => return fail(e.into()),
                            None => return,
                        };
                        if let Some((j, newer)) = waiting.take() {
                            scan_blob_data(scanner, sink, counters, &part[j], bytes_of(&b), newer);
                        }
                        if held(k) {
                            waiting = Some((k, b));
                            continue;
                        }
                        let parent = if part[k].parent.is_some() {
                            match blobs.next() {
                                Some(Ok(p)) => Some(p),
                                Some(Err(e)) => return fail(e.into()),
                                None => None,
                            }
                        } else {
                            None
                        };
                        let parent_bytes = parent.as_ref().and_then(bytes_of);
                        scan_blob_data(scanner, sink, counters, &part[k], parent_bytes, b);
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    drop_in_background(list);
    let mut report = sink.into_report(&counters, started);
    dedupe_history(&mut report.findings);
    Ok(report)
}

/// Sorts `changes` by path, stably (a path's changes keep their order). A
/// history lists tens of thousands of changes on a few thousand paths that
/// share long prefixes; a comparison sort spent its time comparing them
/// (8 ms on trufflehog, on one core while the other waited). Here each
/// distinct path is hashed once, the distinct paths are sorted, and the
/// changes are placed by counting.
fn sort_by_path(changes: &mut Vec<Change>) {
    if u32::try_from(changes.len()).is_err() {
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        return;
    }
    let (ids, rank) = {
        let mut index: std::collections::HashMap<&str, u32, foldhash::fast::RandomState> =
            std::collections::HashMap::default();
        let mut paths: Vec<&str> = Vec::new();
        let ids: Vec<u32> = changes
            .iter()
            .map(|c| {
                *index.entry(c.path.as_str()).or_insert_with(|| {
                    paths.push(&c.path);
                    (paths.len() - 1) as u32
                })
            })
            .collect();
        if paths.len() == changes.len() {
            // every path once: a plain sort
            drop((ids, index, paths));
            changes.sort_by(|a, b| a.path.cmp(&b.path));
            return;
        }
        let mut order: Vec<u32> = (0..paths.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| paths[a as usize].cmp(paths[b as usize]));
        let mut rank = vec![0u32; paths.len()];
        for (r, &p) in order.iter().enumerate() {
            rank[p as usize] = r as u32;
        }
        (ids, rank)
    };
    // where each rank's changes start
    let mut next = vec![0usize; rank.len() + 1];
    for &id in &ids {
        next[rank[id as usize] as usize + 1] += 1;
    }
    for r in 1..next.len() {
        next[r] += next[r - 1];
    }
    let mut placed: Vec<Option<Change>> = Vec::with_capacity(changes.len());
    placed.resize_with(changes.len(), || None);
    for (c, id) in changes.drain(..).zip(ids) {
        let at = &mut next[rank[id as usize] as usize];
        placed[*at] = Some(c);
        *at += 1;
    }
    changes.extend(placed.into_iter().flatten());
}

/// Frees `v` on a thread of its own: a history's change list is about
/// 100,000 allocations, freed while the report is built and written instead
/// of before. Freed here if no thread can be started.
fn drop_in_background<T: Send + 'static>(v: T) {
    // a thread that cannot start drops its closure, and `v` with it
    let _ = std::thread::Builder::new()
        .name("clef-scan-free".into())
        .spawn(move || drop(v));
}

/// The bytes of a blob that was read (not missing, not over the size limit).
fn bytes_of(b: &clef_git::Blob) -> Option<&[u8]> {
    match &b.data {
        BlobData::Bytes(bytes) => Some(bytes),
        _ => None,
    }
}

/// Scan one blob read from git (only what it adds to `parent`, the blob it
/// replaced, when that was read; whole otherwise) and record the result for
/// its change.
fn scan_blob_data(
    scanner: &Scanner,
    sink: &Sink,
    counters: &Counters,
    c: &Change,
    parent: Option<&[u8]>,
    b: clef_git::Blob,
) {
    match b.data {
        BlobData::Bytes(bytes) => {
            let r = match parent {
                Some(old) => scanner.scan_added(&c.path, old, &bytes),
                None => scanner.scan_blob_detailed(&c.path, &bytes),
            };
            sink.record(counters, &c.path, bytes.len(), r, |f| {
                if let Some(ci) = &c.commit {
                    f.commit = Some(ci.id.clone());
                    f.author = Some(ci.author.clone());
                    f.date = Some(ci.date.clone());
                }
            });
        }
        BlobData::TooLarge(size) => {
            counters.skipped.fetch_add(1, Ordering::Relaxed);
            sink.problem(
                &c.path,
                format!(
                    "skipped blob {}: {size} bytes is over the size limit",
                    b.oid
                ),
                false,
            );
        }
        BlobData::Missing => {
            sink.problem(
                &c.path,
                format!("blob {} is missing from the repository", b.oid),
                true,
            );
        }
    }
}

/// One finding per (rule, path, secret): a secret that stays in a file for
/// many commits is in many blobs, but it was introduced once. Keep the
/// earliest commit's finding.
fn dedupe_history(findings: &mut Vec<Finding>) {
    let mut best: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        match best.get(&f.fingerprint) {
            Some(&j) if findings[j].date <= f.date => {}
            _ => {
                best.insert(f.fingerprint.clone(), i);
            }
        }
    }
    let keep: std::collections::HashSet<usize> = best.into_values().collect();
    let mut i = 0;
    findings.retain(|_| {
        let k = keep.contains(&i);
        i += 1;
        k
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-level display path is the component-wise one wherever it
    /// answers, and answers for what a walk gives.
    #[cfg(unix)]
    #[test]
    fn display_path_from_bytes_equals_the_component_rules() {
        let args = [
            ".\\src", "src", "src/", "./src", "src//", "/abs/dir", ".", "./", "a\\b", "é",
        ];
        let tails = [
            "x.rs", "a/b.txt", "a\\b/c", "./x", "a//b", "a/./b", "a/../b", "..", ".", "a/",
            "é/ü.rs", "",
        ];
        let bases = [None, Some(""), Some("sub"), Some("sub/dir"), Some("s\\t")];
        let mut answered = 0;
        for arg in args {
            for tail in tails {
                for base in bases {
                    let p = format!("{arg}/{tail}");
                    let (p, a) = (Path::new(&p), Path::new(arg));
                    let base = base.map(Path::new);
                    let want = display_path_components(p, a, base);
                    if let Some(got) = display_path_bytes(p, a, base) {
                        answered += 1;
                        assert_eq!(got, want, "{p:?} under {a:?} at {base:?}");
                    }
                    // a walk's own path: the argument joined with names
                    let walked = a.join(tail);
                    if !tail.is_empty()
                        && !tail.contains('.')
                        && !tail.ends_with('/')
                        && !tail.contains("//")
                    {
                        assert!(display_path_bytes(&walked, a, base).is_some(), "{walked:?}");
                    }
                }
            }
        }
        // the rest are left to the component rules
        assert_eq!(answered, 232);
    }

    fn change(path: &str, n: usize) -> Change {
        Change {
            path: path.into(),
            oid: format!("{n:040x}"),
            parent: None,
            commit: None,
        }
    }

    /// The grouped sort gives what a stable comparison sort gives: by path,
    /// each path's changes in their order, with repeated and distinct paths.
    #[test]
    fn sort_by_path_is_a_stable_sort_by_path() {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (n, distinct) in [(0, 1), (1, 1), (2, 2), (50, 50), (1_000, 7), (5_000, 400)] {
            let paths: Vec<String> = (0..distinct)
                .map(|i| format!("pkg/{}/file{i}.go", ["a", "ab", "b"][i % 3]))
                .collect();
            let list: Vec<Change> = (0..n)
                .map(|i| change(&paths[(next() % distinct as u64) as usize], i))
                .collect();
            let mut want: Vec<(String, String)> = list
                .iter()
                .map(|c| (c.path.clone(), c.oid.clone()))
                .collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let mut got = list;
            sort_by_path(&mut got);
            let got: Vec<(String, String)> = got.into_iter().map(|c| (c.path, c.oid)).collect();
            assert_eq!(got, want, "{n} changes on {distinct} paths");
        }
    }
}
