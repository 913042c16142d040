//! Clef's git hooks.
//!
//! * [`pre_commit`]: checks the **index** (what `git commit` records), not the
//!   work tree; cost grows with the staged change, not with the repository:
//!   one `git diff --cached --raw` lists the staged blobs, one
//!   `git cat-file --batch` reads them, and only files with findings get a
//!   `git diff --cached -U0` for their added lines.
//! * [`pre_push`]: the same policy over the blobs added by the commits the
//!   remote does not have yet (git's `<local ref> <local sha> <remote ref>
//!   <remote sha>` lines on stdin), each blob once.
//! * [`install()`] / [`uninstall`] / [`status`]: shims in the hooks directory
//!   (`git rev-parse --git-path hooks`, so `core.hooksPath` and worktrees are
//!   honoured; an existing hook is chained, not overwritten), the `clef` and
//!   `clef-meta` merge drivers in the clone's config, and `.gitattributes`.
//!
//! The policy is in [`policy`]. Nothing here ever prints or returns a secret
//! value: previews are redacted, errors carry paths, rule ids and git's stderr.

pub mod access;
pub mod install;
pub mod policy;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clef_git::hooks_support::AddedBlob;
use clef_git::{BlobData, Repo};
use clef_scan::{Scanner, ScannerOptions};

pub use install::{
    HookState, HooksStatus, InstallReport, UninstallReport, install, status, uninstall,
};
pub use policy::{Problem, Verdict};

/// Blobs larger than this are not read: they block (fail closed) unless
/// `.clefignore` lists their path (issue 11, item 2).
pub const MAX_BLOB: u64 = 32 << 20;

/// `clef-hook`'s exit codes: the constants and the table its `--help` prints.
pub mod exit {
    /// Nothing to report (or the command succeeded).
    pub const CLEAN: u8 = 0;
    /// Blocked: the problems are on stderr (`status`: the hooks are not healthy).
    pub const BLOCKED: u8 = 1;
    /// The check could not run; this blocks too (fail closed).
    pub const FAILED: u8 = 2;

    /// Every code with its meaning, in order.
    pub const TABLE: [(u8, &str); 3] = [
        (CLEAN, "nothing to report"),
        (
            BLOCKED,
            "blocked: the problems are on stderr (status: hooks not healthy)",
        ),
        (
            FAILED,
            "the check could not run; git is stopped too (fail closed)",
        ),
    ];

    /// The table as help text.
    pub fn help() -> String {
        clef_sops::process::exit_help(&TABLE, &[])
    }
}

/// Everything that stops a hook or the installer. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] clef_git::GitError),
    /// The scanner could not be set up (bad .clefignore, config or baseline).
    #[error(transparent)]
    Scan(#[from] clef_scan::ScanError),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `clef.yaml` cannot be read or is not valid YAML.
    #[error("{0}")]
    Manifest(#[from] clef_core::ManifestError),
    /// A line of the pre-push input is not `<ref> <sha> <ref> <sha>`.
    #[error(
        "pre-push: unexpected input line {0} from git (expected `<local ref> <local sha> <remote ref> <remote sha>`)"
    )]
    PushInput(usize),
    /// A merge driver is configured with a different command.
    #[error(
        "git config merge.{name}.driver is already set to `{current}`; rerun with --force to replace it"
    )]
    DriverConflict {
        /// Driver name.
        name: String,
        /// The command found.
        current: String,
    },
    /// A hook was chained before and the chained copy is still there.
    #[error("{} exists and {} is not clef's shim; move one of them away or rerun with --force (the older chained hook is then kept as *.clef-chained.bak)", chained.display(), hook.display())]
    ChainOccupied {
        /// The hook found.
        hook: PathBuf,
        /// The chained copy found.
        chained: PathBuf,
    },
    /// A bug (a worker thread panicked).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// Installing needs a work tree.
    #[error("{} is a bare repository; clef hooks need a work tree", .0.display())]
    Bare(PathBuf),
}

/// Which hook ran (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `pre-commit` (and `pre-merge-commit`).
    PreCommit,
    /// `pre-push`.
    PrePush,
}

fn scanner_for(root: &Path) -> Result<Scanner, HookError> {
    let baseline = root.join(policy::BASELINE);
    Ok(Scanner::new(&ScannerOptions {
        root: root.to_path_buf(),
        config: None,
        baseline: baseline.is_file().then_some(baseline),
        max_file_size: MAX_BLOB,
        no_generic: false,
        salt: None,
    })?)
}

/// Builds the scanner on another thread (parsing ~300 rules costs a few
/// milliseconds), so that it overlaps with git computing the diff.
fn scanner_in_background(root: &Path) -> std::thread::JoinHandle<Result<Scanner, HookError>> {
    let root = root.to_path_buf();
    std::thread::spawn(move || scanner_for(&root))
}

fn join_scanner(
    h: std::thread::JoinHandle<Result<Scanner, HookError>>,
) -> Result<Scanner, HookError> {
    h.join().unwrap_or(Err(HookError::Internal(
        "the scanner set-up thread panicked",
    )))
}

/// Runs the policy over `blobs` (one entry per distinct blob id).
fn judge(
    repo: &Repo,
    mut blobs: Vec<AddedBlob>,
    scanner: std::thread::JoinHandle<Result<Scanner, HookError>>,
    lazy_lines: bool,
) -> Result<Verdict, HookError> {
    let mut v = Verdict {
        blobs: blobs.len(),
        ..Verdict::default()
    };
    if blobs.is_empty() {
        return Ok(v);
    }
    let root = repo.root();
    if root.join(policy::BASELINE).is_file()
        && clef_git::worktree::stdout_if_ok(root, &["ls-files", "--", policy::BASELINE])
            .is_some_and(|o| o.is_empty())
    {
        v.notes.push(format!(
            "{b} is not committed: teammates and CI do not use it until you `git add {b}` and commit it",
            b = policy::BASELINE
        ));
    }
    let manifest = clef_core::classify::Layout::load(root)?;
    v.no_manifest = manifest.is_none();
    // The access list (who may read each cell), from the same clef.yaml.
    let model = match manifest.as_ref().map(|_| clef_core::Manifest::load(root)) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            v.notes.push(format!(
                "clef.yaml does not validate ({e}): recipients of cells not checked"
            ));
            None
        }
        None => None,
    };
    let mut scanner = Some(scanner);
    let mut built: Option<Scanner> = None;
    let mut pending: Vec<(usize, Vec<clef_scan::Finding>)> = Vec::new();
    // decide what to read: files the scanner ignores still get checks 1, 2, 4
    let mut wanted: Vec<usize> = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        let sops = manifest
            .as_ref()
            .is_some_and(|m| m.is_encrypted_path(&b.path));
        if sops || policy::forbidden_name(&b.path).is_none() {
            wanted.push(i);
        }
    }
    let mut problems = Vec::new();
    for b in &blobs {
        if policy::forbidden_name(&b.path).is_some() {
            policy::check_identity(&b.path, None, &mut problems);
            if let Some(p) = problems.last_mut() {
                p.commit.clone_from(&b.commit);
            }
        }
    }
    let oids: Vec<String> = wanted.iter().map(|&i| blobs[i].oid.clone()).collect();
    // in-process reads (no `git cat-file` to start) when the store opens
    let store = repo.object_store();
    let reader = store.as_ref().map(clef_git::odb::ObjectStore::reader);
    let stream = repo.read_blobs(reader.as_ref(), oids, MAX_BLOB)?;
    for (k, blob) in stream.enumerate() {
        let blob = blob?;
        let Some(&i) = wanted.get(k) else { break };
        let b = &blobs[i];
        let before = problems.len();
        match blob.data {
            BlobData::Bytes(bytes) => {
                let sops = manifest
                    .as_ref()
                    .is_some_and(|m| m.is_encrypted_path(&b.path));
                policy::check_identity(&b.path, Some(&bytes), &mut problems);
                if problems.len() > before {
                    // the blob is a key file; nothing else to say about it
                } else {
                    if sops {
                        policy::check_sops(&b.path, &bytes, &mut problems);
                        if let Some(m) = &model {
                            access::check_access(m, &b.path, &bytes, &mut problems);
                        }
                    } else if manifest.is_some()
                        && clef_core::classify::is_sidecar(Path::new(&b.path))
                    {
                        policy::check_conflict(
                            &b.path,
                            &String::from_utf8_lossy(&bytes),
                            &mut problems,
                        );
                    }
                    if built.is_none()
                        && let Some(h) = scanner.take()
                    {
                        built = Some(join_scanner(h)?);
                    }
                    if let Some(sc) = &built {
                        // cells too: tokens in key names, `_unencrypted`
                        // values and extra metadata fields (check 1 has
                        // already judged the values the crypt rule covers)
                        let found = policy::scan_findings(sc, &b.path, &bytes, sops);
                        if !found.is_empty() {
                            pending.push((i, found));
                        }
                    }
                }
            }
            BlobData::TooLarge(size) => {
                if built.is_none()
                    && let Some(h) = scanner.take()
                {
                    built = Some(join_scanner(h)?);
                }
                let sops = manifest
                    .as_ref()
                    .is_some_and(|m| m.is_encrypted_path(&b.path));
                let allowed = !sops
                    && built
                        .as_ref()
                        .is_some_and(|sc| sc.is_ignored(&b.path, false));
                if allowed {
                    v.notes.push(format!(
                        "{}: not checked ({size} bytes is over the {MAX_BLOB}-byte limit; allowed by .clefignore)",
                        b.path
                    ));
                } else {
                    policy::too_large(&b.path, size, MAX_BLOB, sops, &mut problems);
                }
            }
            BlobData::Missing => v.notes.push(format!(
                "{}: blob {} is not in this repository, not checked",
                b.path, blob.oid
            )),
        }
        for p in &mut problems[before..] {
            if p.commit.is_none() {
                p.commit.clone_from(&b.commit);
            }
        }
    }
    // added lines: known for pushed blobs; for staged blobs asked of git only
    // now, for the few files with findings (a clean commit never pays for a
    // patch of every staged file)
    if lazy_lines && !pending.is_empty() {
        let paths: Vec<String> = pending
            .iter()
            .map(|(i, _)| blobs[*i].path.clone())
            .collect();
        let lines = repo.staged_added_lines(&paths)?;
        for (i, _) in &pending {
            blobs[*i].added = lines.get(&blobs[*i].path).cloned().unwrap_or_default();
        }
    }
    for (i, found) in pending {
        v.untouched_findings += policy::keep_added(&blobs[i], found, &mut problems);
    }
    problems.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    v.problems = problems;
    Ok(v)
}

/// The pre-commit policy for the repository containing `dir`.
pub fn pre_commit(dir: &Path) -> Result<Verdict, HookError> {
    let repo = Repo::open_worktree(dir)?;
    let scanner = scanner_in_background(repo.root());
    let staged = repo
        .staged()?
        .into_iter()
        .map(|c| AddedBlob {
            path: c.path,
            oid: c.oid,
            commit: None,
            added: Vec::new(),
        })
        .collect();
    judge(&repo, staged, scanner, true)
}

/// One line of git's pre-push input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRef {
    /// `refs/heads/x`, `refs/tags/v1`, or `(delete)`.
    pub local_ref: String,
    /// Object being pushed (all zeros for a deletion).
    pub local_sha: String,
    /// Destination ref.
    pub remote_ref: String,
    /// What the remote has now (all zeros for a new ref).
    pub remote_sha: String,
}

fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// Parses git's pre-push stdin (empty lines ignored).
pub fn parse_push_input(input: &str) -> Result<Vec<PushRef>, HookError> {
    let mut out = Vec::new();
    for (n, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if f.len() != 4 || !hex(f[1]) || !hex(f[3]) {
            return Err(HookError::PushInput(n + 1));
        }
        out.push(PushRef {
            local_ref: f[0].into(),
            local_sha: f[1].into(),
            remote_ref: f[2].into(),
            remote_sha: f[3].into(),
        });
    }
    Ok(out)
}

/// The pre-push policy: blobs added by commits in `refs` that the remote
/// does not have (not reachable from the remote's current sha, when we have
/// it, nor from the remote-tracking refs of `remote`, the remote being pushed
/// to, when it is a configured remote). A ref that points at a blob or a tree
/// (`git tag t <blob>`) pushes that object whole: every line of it is checked.
/// Deletions push nothing.
pub fn pre_push(dir: &Path, refs: &[PushRef], remote: Option<&str>) -> Result<Verdict, HookError> {
    let repo = Repo::discover(dir)?;
    let scanner = scanner_in_background(repo.root());
    let mut tips = Vec::new();
    let mut excludes = Vec::new();
    let mut notes = Vec::new();
    let mut whole: Vec<AddedBlob> = Vec::new();
    for r in refs {
        if is_zero(&r.local_sha) {
            notes.push(format!("{}: deletion, nothing to check", r.remote_ref));
            continue;
        }
        if !repo.has_object(&format!("{}^{{commit}}", r.local_sha)) {
            // a tag of a blob or a tree: the object itself is pushed
            let objects = repo.whole_objects(&r.local_sha, &r.local_ref)?;
            if objects.is_empty() && repo.peeled_type(&r.local_sha).is_none() {
                notes.push(format!(
                    "{}: object not found, nothing to check",
                    r.local_ref
                ));
            }
            whole.extend(objects);
            continue;
        }
        tips.push(r.local_sha.clone());
        // force pushes: the old remote tip may be unknown here; then only
        // remote-tracking refs bound what is new
        if !is_zero(&r.remote_sha) && repo.has_object(&r.remote_sha) {
            excludes.push(r.remote_sha.clone());
        }
    }
    let mut occurrences = repo.pushed(&tips, &excludes, remote)?;
    occurrences.extend(whole);
    // each blob once; its added lines are the union over its occurrences
    let mut by_oid: HashMap<String, usize> = HashMap::new();
    let mut blobs: Vec<AddedBlob> = Vec::new();
    for o in occurrences {
        match by_oid.get(&o.oid) {
            Some(&i) => blobs[i].added.extend(o.added),
            None => {
                by_oid.insert(o.oid.clone(), blobs.len());
                blobs.push(o);
            }
        }
    }
    let mut v = judge(&repo, blobs, scanner, false)?;
    v.notes.extend(notes);
    // What the remote has: the base for rewriting and for the baseline range.
    let base = push_base(&repo, refs, remote);
    for p in &mut v.problems {
        let Some(c) = p.commit.clone() else { continue };
        p.fix = policy::unpushed_fix(&c, &base);
        if let Some(sup) = &mut p.suppress {
            *sup = sup.replace(policy::PUSH_RANGE, &format!("--range {base}..HEAD"));
        }
    }
    Ok(v)
}

/// What the remote already has, as a revision: `<remote>/<branch>` when
/// that remote-tracking ref exists, else the remote's old tip, else its
/// default branch (`<remote>/HEAD`), else the root of history.
fn push_base(repo: &Repo, refs: &[PushRef], remote: Option<&str>) -> String {
    for r in refs.iter().filter(|r| !is_zero(&r.local_sha)) {
        if let (Some(name), Some(branch)) = (remote, r.remote_ref.strip_prefix("refs/heads/")) {
            let tracking = format!("{name}/{branch}");
            if repo.has_object(&format!("refs/remotes/{tracking}")) {
                return tracking;
            }
        }
        if !is_zero(&r.remote_sha) && repo.has_object(&r.remote_sha) {
            return r.remote_sha[..r.remote_sha.len().min(12)].to_owned();
        }
    }
    if let Some(name) = remote
        && repo.has_object(&format!("refs/remotes/{name}/HEAD"))
    {
        return format!("{name}/HEAD");
    }
    "--root".to_owned()
}

/// The report for a verdict, as printed on stderr.
pub fn render(v: &Verdict, kind: HookKind) -> String {
    let mut s = String::new();
    let (what, bypass) = match kind {
        HookKind::PreCommit => ("commit", "git commit --no-verify"),
        HookKind::PrePush => ("push", "git push --no-verify"),
    };
    for n in &v.notes {
        let _ = writeln!(s, "clef-hook: note: {n}");
    }
    if !v.blocks() {
        return s;
    }
    let _ = writeln!(
        s,
        "clef-hook: {what} blocked: {} problem(s)",
        v.problems.len()
    );
    if v.no_manifest {
        let _ = writeln!(
            s,
            "clef-hook: (no clef.yaml in this repository: only the secret scan and the key-file check ran)"
        );
    }
    let _ = writeln!(s);
    for p in &v.problems {
        let at = match p.line {
            Some(l) => format!("{}:{l}", p.path),
            None => p.path.clone(),
        };
        let _ = writeln!(s, "  {at}  [{}]", p.rule);
        if let Some(c) = &p.commit {
            let _ = writeln!(s, "      commit:   {}", &c[..c.len().min(12)]);
        }
        let _ = writeln!(s, "      problem:  {}", p.what);
        if let Some(pr) = &p.preview {
            let _ = writeln!(s, "      preview:  {pr}");
        }
        let _ = writeln!(s, "      fix:      {}", p.fix);
        if let Some(sup) = &p.suppress {
            let _ = writeln!(s, "      suppress: {sup}");
        }
        let _ = writeln!(s);
    }
    if v.untouched_findings > 0 {
        let _ = writeln!(
            s,
            "clef-hook: {} more finding(s) on lines this {what} does not change were not counted (not your change; `clef-scan` lists them)",
            v.untouched_findings
        );
    }
    let _ = writeln!(
        s,
        "clef-hook: to {what} anyway (only if you are sure nothing secret leaves this machine): {bypass}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_input() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let input = format!("refs/heads/x {a} refs/heads/x {z}\n\n(delete) {z} refs/heads/y {a}\n");
        let refs = parse_push_input(&input).unwrap();
        assert_eq!(refs.len(), 2);
        assert!(is_zero(&refs[0].remote_sha) && !is_zero(&refs[0].local_sha));
        assert_eq!(refs[1].local_ref, "(delete)");
        assert!(matches!(
            parse_push_input("a b c\n"),
            Err(HookError::PushInput(1))
        ));
        assert!(matches!(
            parse_push_input(&format!("r {a} r {a}\nr zz r {a}\n")),
            Err(HookError::PushInput(2))
        ));
        assert!(parse_push_input("").unwrap().is_empty());
    }

    #[test]
    fn report_has_location_fix_and_bypass_and_no_untouched_noise_when_clean() {
        let mut v = Verdict {
            untouched_findings: 3,
            ..Verdict::default()
        };
        assert_eq!(render(&v, HookKind::PreCommit), "");
        v.problems.push(Problem {
            path: "a/b.py".into(),
            line: Some(7),
            rule: "github-pat".into(),
            what: "GitHub token".into(),
            preview: Some("ghp_*****".into()),
            commit: Some("0123456789abcdef".into()),
            fix: "remove it".into(),
            suppress: Some("clef:ignore".into()),
        });
        let r = render(&v, HookKind::PrePush);
        assert!(r.contains("push blocked: 1 problem(s)"), "{r}");
        assert!(r.contains("  a/b.py:7  [github-pat]"), "{r}");
        assert!(r.contains("commit:   0123456789ab\n"), "{r}");
        assert!(r.contains("3 more finding(s)"), "{r}");
        assert!(r.contains("git push --no-verify"), "{r}");
    }
}
