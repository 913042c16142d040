//! Repository-level commands: init, lint, recipients, rotate, doctor.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use clef_core::Cell;
use clef_core::access::Access;
use clef_core::cell;
use clef_core::lint::{self, Severity};
use clef_core::local::{self, LocalConfig};
use clef_core::manifest::{self, KmsKey, Manifest, Recipient};
use clef_core::ops;
use clef_keys::Identities;
use zeroize::Zeroizing;

use crate::error::{CliError, code};
use crate::out::{self, Json};
use crate::repo::{self, Repo};

const CLEFIGNORE: &str = "# Paths `clef scan` skips (gitignore syntax).\nnode_modules/\nvendor/\n.yarn/\ndist/\nbuild/\n.next/\n.nuxt/\n*.lock\npackage-lock.json\nyarn.lock\n";

fn write_err(path: &Path, e: &std::io::Error) -> CliError {
    CliError::new(
        code::WRITE,
        format!("{}: cannot write: {}", path.display(), e.kind()),
    )
}

fn write_text(path: &Path, text: &str, private: bool) -> Result<(), CliError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| write_err(d, &e))?;
    }
    clef_sops::io::atomic_write(path, text.as_bytes(), private).map_err(|e| write_err(path, &e))
}

/// Appends the missing `lines` to a text file (creating it); returns what was added.
fn ensure_lines(path: &Path, header: &str, lines: &[&str]) -> Result<Vec<String>, CliError> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let present: Vec<&str> = old.lines().map(str::trim).collect();
    let missing: Vec<String> = lines
        .iter()
        .filter(|l| !present.contains(l))
        .map(|l| (*l).to_owned())
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut text = old.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(header);
    text.push('\n');
    for l in &missing {
        text.push_str(l);
        text.push('\n');
    }
    write_text(path, &text, false)?;
    Ok(missing)
}

// ---------------------------------------------------------------- init

/// `clef init`
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Namespaces (comma-separated), e.g. api,payments.
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Environments (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "dev,staging,production")]
    pub environments: Vec<String>,
    /// Encryption backend: age, awskms (with --aws-kms-arn) or gcpkms (with
    /// --gcp-kms-resource-id).
    #[arg(long, default_value = "age")]
    pub backend: String,
    /// The AWS KMS key (key or alias ARN) of `--backend awskms`.
    #[arg(long, value_name = "ARN")]
    pub aws_kms_arn: Option<String>,
    /// The GCP Cloud KMS key of `--backend gcpkms`.
    #[arg(long, value_name = "ID")]
    pub gcp_kms_resource_id: Option<String>,
    /// A break-glass age recipient kept in every KMS cell beside the KMS key
    /// (its identity in a safe: a lost KMS key does not lose the data).
    #[arg(long, value_name = "AGE1…")]
    pub break_glass: Option<String>,
    /// Never prompt (clef init does not prompt; accepted for compatibility).
    #[arg(long)]
    pub non_interactive: bool,
    /// Use this existing age identity file instead of generating one.
    #[arg(long)]
    pub age_key_file: Option<PathBuf>,
    /// In a repository that already has clef.yaml: add the --namespaces and
    /// --environments it lacks (with their cells). Without it, init lists them and fails.
    #[arg(long)]
    pub add: bool,
}

fn repo_label(root: &Path) -> Result<String, CliError> {
    let name: String = root
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("repo")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut r = [0u8; 3];
    getrandom::getrandom(&mut r).map_err(|_| {
        CliError::new(
            code::GENERIC,
            "the operating system's random number generator failed",
        )
    })?;
    Ok(format!("{name}-{:02x}{:02x}{:02x}", r[0], r[1], r[2]))
}

/// Generates an identity under the user's config dir; returns (file, recipient).
fn new_identity(root: &Path) -> Result<(PathBuf, String), CliError> {
    let label = repo_label(root)?;
    let path = local::default_key_path(&repo::env, &label).ok_or_else(|| {
        CliError::new(
            code::USAGE,
            "cannot find your config directory: set HOME or XDG_CONFIG_HOME",
        )
    })?;
    let canon_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // Checked before anything is created: the nearest existing ancestor, resolved.
    let existing = parent
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let rest = parent.strip_prefix(existing).unwrap_or(Path::new(""));
    let canon = std::fs::canonicalize(existing)
        .unwrap_or_else(|_| existing.to_path_buf())
        .join(rest);
    if canon.starts_with(&canon_root) {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{}: refusing to put a private key inside the repository; set XDG_CONFIG_HOME to a directory outside it",
                path.display()
            ),
        ));
    }
    std::fs::create_dir_all(&parent).map_err(|e| write_err(&parent, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700));
    }
    let (secret, recipient) = clef_keys::generate_identity();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        clef_sops::time::now_rfc3339(),
        secret.expose()
    ));
    clef_sops::io::write_private_key(&path, text.as_bytes(), false)
        .map_err(|e| write_err(&path, &e))?;
    Ok((path, recipient))
}

fn identity_from_file(f: &Path) -> Result<String, CliError> {
    let mut ids = Identities::empty();
    ids.add_file(f)
        .map_err(|e| CliError::new(code::KEY, e.to_string()))?;
    ids.recipients()
        .into_iter()
        .next()
        .ok_or_else(|| CliError::new(code::KEY, format!("{}: holds no age identity", f.display())))
}

/// Per-clone setup shared by both init paths: local config and .gitignore.
fn local_setup(root: &Path, key_file: &Path) -> Result<(), CliError> {
    let cfg = LocalConfig {
        age_key_file: Some(key_file.to_path_buf()),
    };
    write_text(&root.join(local::CONFIG_PATH), &cfg.to_text(), true)?;
    ensure_lines(
        &root.join(".gitignore"),
        "# Clef: per-developer settings (policy files under .clef/ stay committable), and the\n# temporary files of an interrupted write",
        &[".clef/config.yaml", ".*.clef-tmp-*"],
    )?;
    Ok(())
}

/// Runs `clef init`.
pub fn init(dir: Option<&Path>, a: InitArgs) -> Result<(), CliError> {
    let root = repo::start_dir(dir)?;
    let root = std::fs::canonicalize(&root)
        .map_err(|e| CliError::new(code::READ, format!("{}: {}", root.display(), e.kind())))?;
    let Some(top) = clef_git::worktree::stdout_if_ok(&root, &["rev-parse", "--show-toplevel"])
    else {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{} is not inside a git work tree (run `git init` first)",
                root.display()
            ),
        ));
    };
    // clef.yaml goes next to .gitattributes and .gitignore: at the top of the
    // work tree, wherever init is run from (unless a clef.yaml above says otherwise).
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let root = repo::find_root(&root).unwrap_or(top);
    let kms = init_kms_key(&a)?;
    if root.join(manifest::FILE_NAME).is_file() {
        crate::matrix::init_additions(&root, &a.namespaces, &a.environments, a.add)?;
        return init_second_developer(&root, &a);
    }
    if a.namespaces.is_empty() {
        return Err(CliError::new(
            code::USAGE,
            "--namespaces is required, e.g. --namespaces api,web",
        ));
    }
    for (what, list) in [
        ("namespace", &a.namespaces),
        ("environment", &a.environments),
    ] {
        for (i, n) in list.iter().enumerate() {
            if !Manifest::valid_name(n) {
                return Err(CliError::new(
                    code::USAGE,
                    format!(
                        "{what} '{n}' is not a valid name (lowercase letter, then a-z 0-9 _ -)"
                    ),
                ));
            }
            if list[..i].contains(n) {
                return Err(CliError::new(
                    code::USAGE,
                    format!("{what} '{n}' is given twice"),
                ));
            }
        }
    }
    if a.environments.is_empty() {
        return Err(CliError::new(
            code::USAGE,
            "--environments must name at least one environment",
        ));
    }
    let (key_file, recipient) = match &a.age_key_file {
        Some(f) => (
            std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()),
            identity_from_file(f)?,
        ),
        None => new_identity(&root)?,
    };
    let text = match &kms {
        None => Manifest::initial_text(&a.namespaces, &a.environments, &recipient),
        Some(k) => Manifest::initial_text_kms(
            &a.namespaces,
            &a.environments,
            &recipient,
            k,
            a.break_glass.as_deref(),
        ),
    };
    let manifest = Manifest::parse(&text, Path::new(manifest::FILE_NAME))?;
    // Empty cells, so the matrix is complete from the start; sealed before
    // anything is written (a KMS key that cannot be used leaves no trace).
    let missing: Vec<(Cell, Access)> = manifest
        .cells()
        .into_iter()
        .filter(|c| !c.path_in(&root).exists())
        .map(|c| {
            let r = manifest.access(&c);
            (c, r)
        })
        .collect();
    let keys = clef_kms::with_cloud_backends(
        clef_sops::Keyring::empty(),
        clef_kms::AwsOptions::from_env(),
    );
    let empty_cells = seal_empty_cells(&root, &missing, &keys)?;
    write_text(&root.join(manifest::FILE_NAME), &text, false)?;
    // Plain `sops` in this repository then picks the recipients clef.yaml grants.
    if clef_core::sops_config::is_ours(&root) {
        let sops_yaml = clef_core::sops_config::render(&manifest);
        write_text(
            &root.join(clef_core::sops_config::FILE_NAME),
            &sops_yaml,
            false,
        )?;
    }
    local_setup(&root, &key_file)?;
    if !root.join(".clefignore").exists() {
        write_text(&root.join(".clefignore"), CLEFIGNORE, false)?;
    }
    cell::write_blobs(&root, &empty_cells)?;
    crate::integrations::install_hooks(&root)?;
    out::note(format!(
        "initialised {} ({} namespaces x {} environments)",
        root.display(),
        a.namespaces.len(),
        a.environments.len()
    ));
    out::note(format!(
        "your age identity: {} (recipient {recipient})",
        key_file.display()
    ));
    out::note(
        "next: git add clef.yaml .sops.yaml .gitattributes .gitignore .clefignore secrets && git commit -m 'clef init'",
    );
    Ok(())
}

/// `init` in a clone whose granted identity is in a sops location: its file
/// becomes this clone's `age_key_file` (so git's merge driver and hooks find
/// it whatever their environment); a key with no file is used as it is.
fn reuse_sops_identity(
    root: &Path,
    (found, r): (local::SopsKeySource, String),
) -> Result<(), CliError> {
    match found {
        local::SopsKeySource::File { path, what } => {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            local_setup(root, &path)?;
            crate::integrations::install_hooks(root)?;
            out::note(format!(
                "reusing your sops identity {} ({what}; recipient {r}): clef.yaml already grants it",
                path.display()
            ));
        }
        local::SopsKeySource::Env(var) => {
            crate::integrations::install_hooks(root)?;
            out::note(format!(
                "reusing your sops identity from {var} (recipient {r}): clef.yaml already grants it; it is not in a file, so clef and the merge driver find it only where {var} is set"
            ));
        }
    }
    Ok(())
}

fn init_second_developer(root: &Path, a: &InitArgs) -> Result<(), CliError> {
    let manifest = Manifest::load(root)?;
    let known = manifest.all_recipients();
    let ids = local::identities(root, &repo::env)?;
    // A clone without its own setup goes on below: it reuses a granted
    // identity from clef's key store, then from the sops locations.
    // (A linked worktree shares its main work tree's setup.)
    let set_up = a.age_key_file.is_some() || local::load_config(root)?.age_key_file.is_some();
    if let Some(r) = ids
        .recipients()
        .into_iter()
        .find(|r| set_up && known.contains(r))
    {
        if !root.join(local::CONFIG_PATH).exists()
            && let Some(f) = &a.age_key_file
        {
            local_setup(root, f)?;
        }
        crate::integrations::install_hooks(root)?;
        out::note(format!(
            "already initialised; your identity ({r}) is a recipient in clef.yaml"
        ));
        return Ok(());
    }
    let (key_file, recipient) = match &a.age_key_file {
        Some(f) => (
            std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()),
            identity_from_file(f)?,
        ),
        None => match LocalConfig::load(root)?
            .age_key_file
            .filter(|f| f.is_file())
        {
            Some(f) => {
                let r = identity_from_file(&f)?;
                (f, r)
            }
            None => match local::stored_identity_for(&repo::env, &known) {
                // Another clone of this repository already has a granted identity.
                Some((f, r)) => {
                    local_setup(root, &f)?;
                    crate::integrations::install_hooks(root)?;
                    out::note(format!(
                        "reusing your identity {} (recipient {r}): clef.yaml already grants it",
                        f.display()
                    ));
                    return Ok(());
                }
                None => match local::sops_identity_for(&repo::env, &known) {
                    Some(found) => return reuse_sops_identity(root, found),
                    None => new_identity(root)?,
                },
            },
        },
    };
    local_setup(root, &key_file)?;
    crate::integrations::install_hooks(root)?;
    out::note(format!(
        "this repository already has clef.yaml; set up your own identity only: {}",
        key_file.display()
    ));
    out::note("you cannot decrypt yet. Ask someone with access to run:");
    // The label is this developer's name, resolved here (the command runs in
    // someone else's shell, where `$(git config user.name)` is their name).
    let label = clef_git::worktree::stdout_if_ok(root, &["config", "user.name"])
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .filter(|n| !n.is_empty())
        .map(|n| format!(" --label {}", crate::secrets::shell_quote(&n).as_str()))
        .unwrap_or_default();
    eprintln!("    clef recipients add {recipient}{}", out::shown(&label));
    out::note("which adds this line under sops.age.recipients in clef.yaml:");
    eprintln!("      - {recipient}");
    Ok(())
}

// ---------------------------------------------------------------- lint

/// `clef lint`
#[derive(Args, Debug)]
pub struct LintArgs {
    /// Print {"issues":[{severity,category,file (absolute),key,message,fixCommand}],"fileCount","pendingCount"} (the old Clef's layout).
    #[arg(long)]
    pub json: bool,
    /// First create the missing cells (empty, encrypted for clef.yaml's recipients).
    #[arg(long)]
    pub fix: bool,
}

/// Runs `clef lint`.
/// An empty cell sealed for each `(cell, access)` (age recipients and the
/// KMS key through `keys`), ready for one `cell::write_blobs` batch.
fn seal_empty_cells(
    root: &Path,
    cells: &[(Cell, Access)],
    keys: &clef_sops::Keyring,
) -> Result<Vec<cell::Blob>, CliError> {
    let mut blobs = Vec::new();
    for (c, access) in cells {
        let bytes = cell::new_for(c.format(), access, keys)
            .and_then(|plain| plain.encrypt())
            .and_then(|f| f.to_bytes())
            .map_err(|e| CliError::sops(&c.file, e))?;
        blobs.push((c.path_in(root), bytes, None));
    }
    Ok(blobs)
}

/// The KMS key of `clef init --backend awskms|gcpkms`, checked against the
/// flags; `None` for age.
fn init_kms_key(a: &InitArgs) -> Result<Option<KmsKey>, CliError> {
    let usage = |m: String| Err(CliError::new(code::USAGE, m));
    let backend = manifest::Backend::parse(&a.backend);
    let key = match (backend, &a.aws_kms_arn, &a.gcp_kms_resource_id) {
        (Some(manifest::Backend::Age), None, None) => None,
        (Some(manifest::Backend::AwsKms), Some(arn), None) => Some(KmsKey::Aws(arn.trim().into())),
        (Some(manifest::Backend::GcpKms), None, Some(id)) => Some(KmsKey::Gcp(id.trim().into())),
        (Some(manifest::Backend::AwsKms), None, _) => {
            return usage("--backend awskms needs --aws-kms-arn ARN".into());
        }
        (Some(manifest::Backend::GcpKms), _, None) => {
            return usage("--backend gcpkms needs --gcp-kms-resource-id ID".into());
        }
        (
            Some(manifest::Backend::Age | manifest::Backend::AwsKms | manifest::Backend::GcpKms),
            ..,
        ) => {
            return usage(format!(
                "--aws-kms-arn goes with --backend awskms, --gcp-kms-resource-id with --backend gcpkms (got --backend {})",
                a.backend
            ));
        }
        _ => {
            return usage(format!(
                "backend '{}' is not supported: clef encrypts for age, awskms and gcpkms",
                a.backend
            ));
        }
    };
    if a.break_glass.is_some() && key.is_none() {
        return usage("--break-glass goes with a KMS backend (--backend awskms|gcpkms)".into());
    }
    if let Some(b) = &a.break_glass
        && clef_keys::parse_recipient(b).is_err()
    {
        return usage(format!(
            "--break-glass: '{b}' is not an age recipient (age1…)"
        ));
    }
    Ok(key)
}

pub fn lint_cmd(dir: Option<&Path>, a: LintArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let ids = repo.identities()?;
    if a.fix {
        let missing: Vec<Cell> = repo
            .manifest
            .cells()
            .into_iter()
            .filter(|c| !c.path_in(&repo.root).exists())
            .collect();
        let lock = repo.check_writable(&missing.iter().collect::<Vec<_>>())?;
        let with_access = missing
            .iter()
            .map(|c| Ok((c.clone(), crate::secrets::cell_access(&repo, c)?)))
            .collect::<Result<Vec<_>, CliError>>()?;
        let blobs = seal_empty_cells(&repo.root, &with_access, &ids)?;
        cell::write_blobs(&repo.root, &blobs)?;
        drop(lock);
        for c in &missing {
            out::note(format!("created the empty cell {}", c.file.display()));
        }
        fix_access(&repo, &ids)?;
    }
    let mut report = lint::run(&repo.root, &repo.manifest, &ids);
    report.issues.extend(crate::policy::lint_issues(&repo));
    if a.json {
        let issues = report
            .issues
            .iter()
            .map(|i| {
                Json::Obj(vec![
                    ("severity", Json::s(i.severity.name())),
                    ("category", Json::s(i.category)),
                    (
                        "file",
                        Json::s(repo.root.join(&i.file).display().to_string()),
                    ),
                    ("key", Json::opt(i.key.clone())),
                    ("message", Json::s(&i.message)),
                    ("fixCommand", Json::opt(i.fix.clone())),
                ])
            })
            .collect();
        let j = Json::Obj(vec![
            ("issues", Json::Arr(issues)),
            (
                "fileCount",
                Json::Num(i64::try_from(report.file_count).unwrap_or(i64::MAX)),
            ),
            (
                "pendingCount",
                Json::Num(i64::try_from(report.pending_count).unwrap_or(i64::MAX)),
            ),
        ]);
        out::print_str(&j.render())?;
    } else {
        let mut s = String::new();
        for i in &report.issues {
            let key = i.key.as_ref().map(|k| format!(" {k}:")).unwrap_or_default();
            let fix = i
                .fix
                .as_ref()
                .map(|f| format!(" (fix: {f})"))
                .unwrap_or_default();
            s.push_str(&format!(
                "{:<7} {:<8} {}:{key} {}{fix}\n",
                i.severity.name(),
                i.category,
                i.file,
                i.message
            ));
        }
        let count = |sev| report.issues.iter().filter(|i| i.severity == sev).count();
        s.push_str(&format!(
            "{} cells checked: {} errors, {} warnings, {} info\n",
            report.file_count,
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info)
        ));
        out::print_str(&s)?;
    }
    if report.has_errors() {
        return Err(CliError::new(code::GENERIC, String::new()));
    }
    Ok(())
}

/// `lint --fix` for the access list: every existing cell whose `sops` block
/// differs from clef.yaml (or holds a mislabelled stanza of yours) is
/// written with exactly the granted recipients; a new data key whenever the
/// block let anyone else read it.
fn fix_access(repo: &Repo, ids: &clef_sops::Keyring) -> Result<(), CliError> {
    let cells = repo.manifest.cells();
    let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
    let mut blobs: Vec<cell::Blob> = Vec::new();
    for c in &cells {
        let Some(loaded) = cell::load(&repo.root, c)? else {
            continue;
        };
        let access = repo.manifest.access(c);
        let mislabelled =
            !clef_core::access::Access::mislabelled(&loaded.file.meta, ids.identities()).is_empty();
        if access.drift(&loaded.file.meta).is_clean() && !mislabelled {
            continue;
        }
        let mut plain = loaded
            .file
            .decrypt(ids)
            .map_err(|e| CliError::sops(&c.file, e))?;
        crate::secrets::conform(repo, c, &mut plain, mislabelled)?;
        let bytes = plain
            .encrypt()
            .and_then(|f| f.to_bytes())
            .map_err(|e| CliError::sops(&c.file, e))?;
        blobs.push((c.path_in(&repo.root), bytes, Some(loaded.raw)));
    }
    Ok(cell::write_blobs(&repo.root, &blobs)?)
}

// ---------------------------------------------------------------- recipients

/// `clef recipients …`
#[derive(Subcommand, Debug)]
pub enum RecipientsCmd {
    /// List recipients (global and per environment).
    List {
        /// Only the effective recipients of this environment.
        #[arg(short = 'e', long)]
        environment: Option<String>,
        /// Print [{"key","label","scope"}].
        #[arg(long)]
        json: bool,
    },
    /// Add an age recipient and re-wrap the data key of every affected cell for it
    /// (values untouched). With -e, only that environment; its list starts from
    /// the current recipients, so nobody loses access.
    Add {
        /// The age recipient (age1…).
        key: String,
        /// Only this environment.
        #[arg(short = 'e', long)]
        environment: Option<String>,
        /// Who it is.
        #[arg(long)]
        label: Option<String>,
    },
    /// Remove an age recipient from every list it is in (global and per
    /// environment; with -e, only that environment's). Every cell it could read
    /// gets a new data key (the removed key knew the old one), and the keys whose
    /// values it could read are listed: change them.
    Remove {
        /// The age recipient (age1…).
        key: String,
        /// Only this environment.
        #[arg(short = 'e', long)]
        environment: Option<String>,
        /// Remove it even if you would lose access to cells yourself.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `clef recipients`.
pub fn recipients(dir: Option<&Path>, cmd: RecipientsCmd) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    match cmd {
        RecipientsCmd::List { environment, json } => {
            recipients_list(&repo, environment.as_deref(), json)
        }
        RecipientsCmd::Add {
            key,
            environment,
            label,
        } => {
            clef_keys::parse_recipient(&key)
                .map_err(|e| CliError::new(code::USAGE, e.to_string()))?;
            let mut m = repo.manifest.clone();
            if !m.add_recipient(
                &Recipient {
                    key: key.trim().to_owned(),
                    label,
                },
                environment.as_deref(),
            )? {
                out::note(format!("{key} is already a recipient there; nothing to do"));
                return Ok(());
            }
            if environment.is_none() {
                for e in m.environments.iter().filter(|e| e.recipients.is_some()) {
                    out::note(format!(
                        "note: environment '{}' has its own recipient list and does not get {key}; add it there with -e {}",
                        e.name, e.name
                    ));
                }
            }
            apply_recipients(&repo, m, false)
        }
        RecipientsCmd::Remove {
            key,
            environment,
            force,
        } => {
            let mut m = repo.manifest.clone();
            let removed = match environment.as_deref() {
                Some(e) => m.remove_recipient(key.trim(), Some(e))?,
                None => !m.remove_recipient_everywhere(key.trim())?.is_empty(),
            };
            if !removed {
                return Err(CliError::new(
                    code::GENERIC,
                    format!(
                        "{} is not a recipient there",
                        clef_keys::shown_recipient(&key)
                    ),
                ));
            }
            if !force {
                let mine = repo.identities()?.identities().recipients();
                if let Some(c) = m.cells().into_iter().find(|c| {
                    !m.access(c).age.iter().any(|r| mine.contains(r))
                        && repo.manifest.access(c).age.iter().any(|r| mine.contains(r))
                }) {
                    return Err(CliError::new(
                        code::USAGE,
                        format!(
                            "{}: refusing: you would lose access to {} (pass --force if that is intended)",
                            c.file.display(),
                            c.target()
                        ),
                    ));
                }
            }
            apply_recipients(&repo, m, true)
        }
    }
}

fn recipients_list(repo: &Repo, env: Option<&str>, json: bool) -> Result<(), CliError> {
    let m = &repo.manifest;
    let label_of = |k: &str| {
        m.age_recipients
            .iter()
            .chain(
                m.environments
                    .iter()
                    .flat_map(|e| e.recipients.iter().flatten()),
            )
            .find(|r| r.key == k)
            .and_then(|r| r.label.clone())
    };
    let mut rows: Vec<(String, Option<String>, String)> = Vec::new();
    match env {
        Some(e) => {
            let env = m
                .environment(e)
                .ok_or_else(|| CliError::new(code::USAGE, format!("unknown environment '{e}'")))?;
            let scope = if env.recipients.is_some() {
                format!("env:{e}")
            } else {
                "global".into()
            };
            let list = env
                .recipients
                .clone()
                .unwrap_or_else(|| m.age_recipients.clone());
            rows.extend(list.into_iter().map(|r| (r.key, r.label, scope.clone())));
        }
        None => {
            rows.extend(
                m.age_recipients
                    .iter()
                    .map(|r| (r.key.clone(), r.label.clone(), "global".into())),
            );
            for e in &m.environments {
                for r in e.recipients.iter().flatten() {
                    rows.push((
                        r.key.clone(),
                        r.label.clone().or_else(|| label_of(&r.key)),
                        format!("env:{}", e.name),
                    ));
                }
            }
        }
    }
    if json {
        let arr = rows
            .iter()
            .map(|(k, l, s)| {
                Json::Obj(vec![
                    ("key", Json::s(k)),
                    ("label", Json::opt(l.clone())),
                    ("scope", Json::s(s)),
                ])
            })
            .collect();
        return out::print_str(&Json::Arr(arr).render());
    }
    let mut s = String::new();
    for (k, l, sc) in &rows {
        s.push_str(&format!(
            "{k}  {sc}{}\n",
            l.as_ref().map(|l| format!("  ({l})")).unwrap_or_default()
        ));
    }
    out::print_str(&s)
}

/// Re-wraps (or, when someone lost access, rotates) every cell whose
/// recipients change between the current manifest and `new`, then writes the
/// manifest and the cells in one step.
pub(crate) fn apply_recipients(repo: &Repo, new: Manifest, removing: bool) -> Result<(), CliError> {
    let ids = repo.identities()?;
    let all: Vec<Cell> = repo.manifest.cells();
    let _lock = repo.check_writable(&all.iter().collect::<Vec<_>>())?;
    let mut blobs: Vec<cell::Blob> = Vec::new();
    let mut touched = Vec::new();
    let mut exposed: Vec<(String, Vec<String>)> = Vec::new();
    for c in &all {
        let access = new.access(c);
        if access.age.is_empty() {
            return Err(CliError::new(
                code::USAGE,
                format!(
                    "{}: refusing: {} would have no recipient left",
                    c.file.display(),
                    c.target()
                ),
            ));
        }
        let Some(loaded) = cell::load(&repo.root, c)? else {
            continue;
        };
        // Someone lost access to this cell (whatever its stanza labels say),
        // or its block grants someone clef.yaml does not: new data key.
        let before = repo.manifest.access(c);
        let lost: Vec<&String> = before
            .age
            .iter()
            .filter(|r| !access.age.contains(r))
            .collect();
        let drift = access.drift(&loaded.file.meta);
        if lost.is_empty() && drift.is_clean() {
            continue;
        }
        let bytes = if !lost.is_empty() || drift.grants_extra() || drift.crypt.is_some() {
            let mut plain = loaded
                .file
                .decrypt(&ids)
                .map_err(|e| CliError::sops(&c.file, e))?;
            let keys = loaded.file.keys();
            if !lost.is_empty() && !keys.is_empty() {
                exposed.push((c.target(), keys));
            }
            access
                .conform(&mut plain, !lost.is_empty(), &ids)
                .map_err(|e| CliError::sops(&c.file, e))?;
            plain
                .encrypt()
                .and_then(|f| f.to_bytes())
                .map_err(|e| CliError::sops(&c.file, e))?
        } else {
            let mut f = loaded.file.clone();
            clef_sops::update_recipients(&mut f, &ids, &drift.missing, &[])
                .map_err(|e| CliError::sops(&c.file, e))?;
            f.to_bytes().map_err(|e| CliError::sops(&c.file, e))?
        };
        blobs.push((c.path_in(&repo.root), bytes, Some(loaded.raw)));
        touched.push(c.target());
    }
    let old_manifest = std::fs::read(repo.manifest.path()).ok();
    let new_text = new.to_text();
    Manifest::parse(&new_text, Path::new(manifest::FILE_NAME))?;
    blobs.push((
        repo.root.join(manifest::FILE_NAME),
        new_text.into_bytes(),
        old_manifest,
    ));
    // Keep clef's .sops.yaml in step with clef.yaml.
    blobs.extend(clef_core::sops_config::blob(&repo.root, &new));
    cell::write_blobs(&repo.root, &blobs)?;
    let what = if removing {
        "new data key, re-encrypted"
    } else {
        "data key re-wrapped"
    };
    out::note(format!(
        "updated clef.yaml; {what}: {}",
        if touched.is_empty() {
            "no cells".into()
        } else {
            touched.join(", ")
        }
    ));
    if !exposed.is_empty() {
        out::note(
            "the removed key could read these values; change them (a new data key does not change what was already read):",
        );
        let mut s = String::new();
        for (target, keys) in &exposed {
            s.push_str(&format!("{target}: {}\n", keys.join(", ")));
        }
        out::print_str(&s)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- rotate

/// `clef rotate`
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// namespace/environment (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub target: Option<String>,
    /// Keys of the cell whose values to rotate: each gets a new value (typed
    /// at a hidden prompt, or piped on stdin for one key, or --random) and a
    /// rotation record. Without keys, only the data key changes.
    #[arg(value_name = "KEY", requires = "target")]
    pub keys: Vec<String>,
    /// Every cell of the matrix (data keys only).
    #[arg(long)]
    pub all: bool,
    /// A new random 64-hex-digit value for each KEY (a real value: recorded
    /// as a rotation, not as a pending placeholder).
    #[arg(long, requires = "keys")]
    pub random: bool,
    /// Allow a KEY the cell's crypt rule leaves in clear text.
    #[arg(long, requires = "keys")]
    pub allow_unencrypted: bool,
    /// Do not ask before writing to a protected environment. New values for
    /// a protected environment need it when no terminal can ask.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// Runs `clef rotate`. With KEYs: new values for those keys and a new data
/// key for the cell, with rotation records ([`ops::rotate_values_with`]).
/// Without: a new data key per cell, wrapped for what clef.yaml grants
/// ([`ops::rotate_data_keys`]); values and rotation records stay, and the
/// user is told so.
pub fn rotate(dir: Option<&Path>, a: RotateArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let cells = match &a.target {
        Some(t) => vec![repo.manifest.target(t)?],
        None => repo.manifest.cells(),
    };
    let mut keys: Vec<&str> = Vec::new();
    for k in &a.keys {
        ops::check_key(k)?;
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    drop(repo.check_writable(&cells.iter().collect::<Vec<_>>())?);
    if keys.is_empty() {
        crate::secrets::confirm_protected(&repo, &cells, a.yes)?;
        let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
        let ids = repo.identities()?;
        let (n, notes) = ops::rotate_data_keys(repo.edit(), &ids, &cells, a.all)?;
        for note in notes {
            out::note(note.to_string());
        }
        out::note(format!("rotated the data key of {n} cell(s)"));
        out::note(
            "values were not rotated and their rotation records are unchanged; to rotate values: clef rotate NS/ENV KEY… (a prompt, stdin, or --random)",
        );
        return Ok(());
    }
    crate::secrets::confirm_new_values(&repo, &cells, a.yes)?;
    // Every key is checked against the cell before any value is asked for.
    let c = &cells[0];
    let ids = repo.identities()?;
    let (_, _, plain) = crate::secrets::decrypt_cell(&repo, c, &ids)?;
    ops::check_held(&plain, c, &keys)?;
    drop(plain);
    if !a.random && keys.len() > 1 && !out::stdin_is_tty() {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{} keys to rotate but no terminal to ask for their values: pass --random, or rotate one key at a time with its value on stdin; nothing was written",
                keys.len()
            ),
        ));
    }
    let mut values = Vec::new();
    for k in &keys {
        let v = if a.random {
            ops::NewValue::Random
        } else {
            ops::NewValue::Value(crate::secrets::read_value(k)?)
        };
        values.push(((*k).to_owned(), v));
    }
    let _lock = repo.check_writable(&[c])?;
    let now = clef_sops::time::now_rfc3339();
    let by = crate::repo::author(&repo.root);
    let input = ops::Rotate {
        cell: c,
        values,
        allow_unencrypted: a.allow_unencrypted,
        now: &now,
        by: &by,
    };
    let notes = ops::rotate_values_with(repo.edit(), &ids, input, |c, keys| {
        crate::secrets::open_for_edit(&repo, c, &ids, keys)
    })?;
    for n in notes {
        out::note(n.to_string());
    }
    out::note(format!(
        "rotated {} in {} (new values, new data key; rotation records updated)",
        keys.join(", "),
        c.target()
    ));
    Ok(())
}

// ---------------------------------------------------------------- doctor

/// `clef doctor`
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print [{"check","ok","detail","fix"}].
    #[arg(long)]
    pub json: bool,
}

/// One check per cloud KMS key clef.yaml names: `DescribeKey` (AWS: the key
/// is Enabled), then a real `Encrypt` and `Decrypt` of a random probe
/// through the same backends `clef` uses, so it
/// says whether the KMS is reachable and whether the caller may use the key
/// (the error names the key and the service's error code).
fn kms_checks(repo: &Repo, checks: &mut Vec<Check>) {
    let m = &repo.manifest;
    let mut keys: Vec<KmsKey> = Vec::new();
    for k in m.environments.iter().filter_map(|e| m.kms_key(e)) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    if keys.is_empty() {
        return;
    }
    let ring = clef_kms::with_cloud_backends(
        clef_sops::Keyring::empty(),
        clef_kms::AwsOptions::from_env(),
    );
    let aws = clef_kms::AwsKms::new(clef_kms::AwsOptions::from_env());
    for k in keys {
        let probe = clef_sops::DataKey::random();
        let template = clef_sops::masterkey::stanza(&[(k.id_field(), k.id())]);
        let state = match &k {
            KmsKey::Aws(arn) => aws.check_enabled(arn).map_err(|e| e.to_string()),
            KmsKey::Gcp(_) => Ok(()),
        };
        let result = state.and_then(|()| {
            ring.wrap(k.kind(), &template, probe.bytes())
                .and_then(|st| ring.unwrap(k.kind(), &st))
                .map_err(|e| e.to_string())
        });
        let (ok, detail) = match result {
            Ok(back) if back.as_slice() == probe.bytes() => {
                (true, format!("{k}: reachable; Encrypt and Decrypt allowed"))
            }
            Ok(_) => (false, format!("{k}: Decrypt returned another key")),
            Err(e) => (false, e),
        };
        checks.push(Check {
            name: "kms key",
            ok,
            detail,
            fix: Some(format!(
                "check the network and your credentials (AWS_PROFILE, AWS_REGION, the role) and the key's policy for {}",
                k.id()
            )),
        });
    }
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

fn on_path(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|f| f.is_file())
    })
}

/// Runs `clef doctor`: one line per check, exit 1 if any failed.
pub fn doctor(dir: Option<&Path>, a: DoctorArgs) -> Result<(), CliError> {
    let mut checks: Vec<Check> = Vec::new();
    let git_v = clef_git::worktree::stdout_if_ok(Path::new("."), &["--version"]);
    checks.push(Check {
        name: "git",
        ok: git_v.is_some(),
        detail: git_v
            .map(|v| String::from_utf8_lossy(&v).trim().to_owned())
            .unwrap_or_else(|| "git not found on PATH".into()),
        fix: Some("install git".into()),
    });
    let repo = Repo::open(dir);
    match &repo {
        Ok(r) => checks.push(Check {
            name: "manifest",
            ok: true,
            detail: format!("{} is valid", r.manifest.path().display()),
            fix: None,
        }),
        Err(e) => checks.push(Check {
            name: "manifest",
            ok: false,
            detail: e.msg.clone(),
            fix: Some("fix clef.yaml, or run `clef init`".into()),
        }),
    }
    if let Ok(r) = &repo {
        let root = &r.root;
        match r.identities() {
            Ok(ids) => {
                let known = r.manifest.all_recipients();
                let mine = ids.identities().recipients();
                let matching: Vec<&String> = mine.iter().filter(|x| known.contains(x)).collect();
                checks.push(Check {
                    name: "identity",
                    ok: !matching.is_empty(),
                    detail: if mine.is_empty() {
                        "no age identity found".into()
                    } else if matching.is_empty() {
                        format!(
                            "{} identity(ies) found, none is a recipient in clef.yaml",
                            mine.len()
                        )
                    } else {
                        format!("{} is a recipient in clef.yaml", matching[0])
                    },
                    fix: Some(if mine.is_empty() {
                        "run `clef init` to create your identity".into()
                    } else {
                        format!("ask a teammate to run `clef recipients add {}`", mine[0])
                    }),
                });
            }
            Err(e) => checks.push(Check {
                name: "identity",
                ok: false,
                detail: e.msg.clone(),
                fix: Some("fix the identity source named above".into()),
            }),
        }
        // clef-merge and clef-hook (run by git) find identities in the
        // environment, the sops key file and this clone's .clef/config.yaml.
        let known = r.manifest.all_recipients();
        let git_ids = local::identities_near(root)
            .map(|i| i.recipients())
            .unwrap_or_default();
        let git_ok = git_ids.iter().any(|x| known.contains(x));
        let cfg_key = LocalConfig::load(root).ok().and_then(|c| c.age_key_file);
        checks.push(Check {
            name: "identity for git merges",
            ok: git_ok,
            detail: if git_ok {
                "the merge driver can find your identity".into()
            } else {
                "clef-merge cannot find an identity that is a recipient in clef.yaml".into()
            },
            fix: Some(match cfg_key {
                Some(f) => format!(
                    "check that {} exists and is a recipient in clef.yaml",
                    f.display()
                ),
                None => "run `clef init` (or export SOPS_AGE_KEY_FILE=<your identity file>)".into(),
            }),
        });
        match clef_hooks::install::status(root) {
            Ok(st) => {
                for (driver, cmd) in &st.drivers {
                    let ok = cmd.as_deref() == Some(clef_hooks::install::DRIVER);
                    checks.push(Check {
                        name: if driver == "clef" {
                            "merge driver (secrets)"
                        } else {
                            "merge driver (sidecars)"
                        },
                        ok,
                        detail: match cmd {
                            Some(c) => format!("merge.{driver}.driver = {c}"),
                            None => format!("merge.{driver}.driver is not set in this clone"),
                        },
                        fix: Some("clef hooks install".into()),
                    });
                }
                checks.push(Check {
                    name: ".gitattributes",
                    ok: st.attributes_missing.is_empty(),
                    detail: if st.attributes_missing.is_empty() {
                        "merge attributes present".into()
                    } else {
                        format!("missing: {}", st.attributes_missing.join(", "))
                    },
                    fix: Some("clef hooks install, then commit .gitattributes".into()),
                });
                let bad: Vec<String> = st
                    .hooks
                    .iter()
                    .filter(|(_, s)| !matches!(s, clef_hooks::install::HookState::Installed { .. }))
                    .map(|(n, s)| format!("{n} ({s:?})"))
                    .collect();
                checks.push(Check {
                    name: "hooks",
                    ok: bad.is_empty(),
                    detail: if bad.is_empty() {
                        format!("installed in {}", st.hooks_dir.display())
                    } else {
                        format!("not installed: {}", bad.join(", "))
                    },
                    fix: Some("clef hooks install".into()),
                });
            }
            Err(e) => checks.push(Check {
                name: "hooks",
                ok: false,
                detail: e.to_string(),
                fix: Some("run clef doctor inside a git work tree".into()),
            }),
        }
        let ignored =
            clef_git::worktree::stdout_if_ok(root, &["check-ignore", "-q", local::CONFIG_PATH])
                .is_some();
        checks.push(Check {
            name: ".gitignore",
            ok: ignored,
            detail: if ignored {
                ".clef/config.yaml is ignored".into()
            } else {
                ".clef/config.yaml is not ignored".into()
            },
            fix: Some("add `.clef/config.yaml` to .gitignore".into()),
        });
    }
    if let Ok(r) = &repo {
        kms_checks(r, &mut checks);
    }
    for b in ["clef", "clef-merge", "clef-hook"] {
        let p = on_path(b);
        checks.push(Check {
            name: match b {
                "clef" => "clef on PATH",
                "clef-merge" => "clef-merge on PATH",
                _ => "clef-hook on PATH",
            },
            ok: p.is_some(),
            detail: p
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("{b} not found on PATH")),
            fix: Some("run ./install.sh, or add its bin directory to PATH".into()),
        });
    }
    let failed = checks.iter().any(|c| !c.ok);
    if a.json {
        let arr = checks
            .iter()
            .map(|c| {
                Json::Obj(vec![
                    ("check", Json::s(c.name)),
                    ("ok", Json::Bool(c.ok)),
                    ("detail", Json::s(&c.detail)),
                    ("fix", Json::opt(if c.ok { None } else { c.fix.clone() })),
                ])
            })
            .collect();
        out::print_str(&Json::Arr(arr).render())?;
    } else {
        let mut s = String::new();
        for c in &checks {
            if c.ok {
                s.push_str(&format!("ok    {:<26} {}\n", c.name, c.detail));
            } else {
                s.push_str(&format!(
                    "FAIL  {:<26} {}{}\n",
                    c.name,
                    c.detail,
                    c.fix
                        .as_ref()
                        .map(|f| format!(" -> fix: {f}"))
                        .unwrap_or_default()
                ));
            }
        }
        out::print_str(&s)?;
    }
    if failed {
        return Err(CliError::new(code::GENERIC, String::new()));
    }
    Ok(())
}
