//! `clef reset`: disaster recovery without decrypting.
//!
//! When a cell can no longer be read (its recipients' keys are lost, a KMS
//! key was deleted, the file is damaged beyond repair), reset replaces it
//! with a fresh cell sealed for exactly what clef.yaml grants today. Nothing
//! is decrypted, so it works without any identity that could read the old
//! cell. The new cell holds, for each key to restore, a random 64-hex
//! placeholder recorded as pending in the sidecar (`setBy: clef reset`), so
//! `clef lint` and `clef policy check` list them until `clef set` gives them
//! real values; the old cell's rotation records are dropped with its values.
//!
//! The keys are, in order of precedence: `--keys` (given explicitly), else
//! every key the namespace's schema declares, else none (an empty cell).
//! Keys the schema requires that `--keys` leaves out are listed
//! ([`Target::missing_required`]) so the front end can warn.
//!
//! A reset can also switch the environments in scope to another backend
//! (`--age`, `--aws-kms-arn`, `--gcp-kms-resource-id`): each gets a
//! per-environment `sops` override in clef.yaml, and the new cells are
//! sealed for what the *new* clef.yaml grants. The override covers every
//! namespace of the environment, so a switch is refused while a cell of such
//! an environment outside the scope would be left sealed the old way.
//!
//! [`plan`] is pure apart from reading clef.yaml, schemas and the cells'
//! current bytes; [`apply`] writes every cell and sidecar, and clef.yaml
//! (with clef's `.sops.yaml`) when the backend changes, as one batch (all or
//! nothing).

use std::path::{Path, PathBuf};

use clef_doc::Value;
use clef_sops::{Keyring, SopsError};

use crate::cell::{self, CellError};
use crate::edit::{self, EditError};
use crate::manifest::{Manifest, ManifestError};
use crate::matrix::{Cell, TargetError};
use crate::migrate::{self, ResealError};
use crate::sidecar::Sidecar;

/// What `setBy` says for the placeholders reset writes.
pub const SET_BY: &str = "clef reset";

/// The cells to reset: exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every cell of an environment.
    Environment(String),
    /// Every cell of a namespace.
    Namespace(String),
    /// One cell, `namespace/environment`.
    Cell(String),
}

/// Where a cell's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--keys`.
    Given,
    /// The namespace's schema (its path).
    Schema(String),
    /// Nothing names keys: the cell is left empty.
    None,
}

/// One cell reset will replace.
#[derive(Debug, Clone)]
pub struct Target {
    /// The cell.
    pub cell: Cell,
    /// The keys it will hold as pending placeholders.
    pub keys: Vec<String>,
    /// Where they come from.
    pub source: KeySource,
    /// Whether the cell's environment is protected.
    pub protected: bool,
    /// Keys the namespace's schema requires that `--keys` leaves out.
    pub missing_required: Vec<String>,
    /// The cell file's bytes now (None: it does not exist).
    old_cell: Option<Vec<u8>>,
    /// The sidecar's bytes now (None: it does not exist).
    old_sidecar: Option<Vec<u8>>,
}

impl Target {
    /// Whether the cell file exists now.
    pub fn exists(&self) -> bool {
        self.old_cell.is_some()
    }
}

/// A reset as planned: the cells, and the backend switch if any.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The cells to replace, in matrix order.
    pub targets: Vec<Target>,
    /// The backend switch (`None`: the cells are sealed as clef.yaml says now).
    pub switch: Option<Switch>,
}

/// A backend switch: clef.yaml as it will be.
#[derive(Debug, Clone)]
pub struct Switch {
    /// Where the environments go.
    pub to: migrate::Target,
    /// The environments that get the per-environment override, in order.
    pub environments: Vec<String>,
    /// Whether clef.yaml's text changes (not when they are there already).
    pub manifest_changed: bool,
    manifest: Manifest,
    text: String,
}

/// Why reset refuses (nothing has been written). Names files and keys,
/// never values.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Bad input: an unknown name, an invalid key.
    #[error("{0}")]
    Usage(String),
    /// A namespace schema cannot be read or parsed.
    #[error("{file}: {reason}")]
    Schema {
        /// The schema path, as clef.yaml names it.
        file: String,
        /// Why.
        reason: String,
    },
    /// clef cannot seal a cell of this environment (backend, no recipients).
    #[error(transparent)]
    Access(#[from] EditError),
    /// Reading or writing a cell or sidecar.
    #[error(transparent)]
    Cell(#[from] CellError),
    /// clef.yaml would not be valid with the backend switch.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Sealing a new cell failed (a KMS error names the key and its code).
    #[error("{}: {source}; nothing was written", file.display())]
    Seal {
        /// The cell file.
        file: PathBuf,
        /// Why.
        source: SopsError,
    },
    /// A new cell's KMS stanza does not unwrap to its data key.
    #[error("{}: {source}; nothing was written", file.display())]
    Verify {
        /// The cell file.
        file: PathBuf,
        /// Why.
        source: ResealError,
    },
    /// The OS random source failed.
    #[error("the OS random number generator failed")]
    Random,
}

fn read(root: &Path, rel: &Path) -> Result<Option<Vec<u8>>, ResetError> {
    let p = root.join(rel);
    cell::confined(root, &p)?;
    cell::read_if_exists(&p).map_err(|e| {
        ResetError::Cell(CellError::Read {
            file: rel.to_owned(),
            reason: e.kind().to_string(),
        })
    })
}

/// The keys of a namespace's schema (none when it has no schema).
fn schema_keys(root: &Path, m: &Manifest, namespace: &str) -> Result<KeyList, ResetError> {
    let Some(path) = m.namespace(namespace).and_then(|n| n.schema.clone()) else {
        return Ok(None);
    };
    let full = root.join(&path);
    cell::confined(root, &full)?;
    let text = std::fs::read_to_string(&full).map_err(|e| ResetError::Schema {
        file: path.clone(),
        reason: format!("cannot read: {}", e.kind()),
    })?;
    let s = crate::schema::Schema::parse(&text).map_err(|e| ResetError::Schema {
        file: path.clone(),
        reason: e.to_string(),
    })?;
    let required = s
        .keys
        .iter()
        .filter(|k| k.required)
        .map(|k| k.name.clone())
        .collect();
    let keys: Vec<String> = s.keys.into_iter().map(|k| k.name).collect();
    if let Some(bad) = keys.iter().find(|k| !cell::valid_key(k)) {
        return Err(ResetError::Schema {
            file: path,
            reason: format!("'{bad}' is not a valid key name"),
        });
    }
    Ok(Some(SchemaKeys {
        keys,
        required,
        path,
    }))
}

/// What a namespace's schema declares.
struct SchemaKeys {
    keys: Vec<String>,
    required: Vec<String>,
    path: String,
}

type KeyList = Option<SchemaKeys>;

/// A scope naming no environment or namespace of clef.yaml, in reset's words.
fn unknown_name(e: TargetError) -> ResetError {
    ResetError::Usage(match e {
        TargetError::UnknownEnvironment { name, known } => {
            format!("no environment named '{name}' in clef.yaml (it has: {known})")
        }
        TargetError::UnknownNamespace { name, known } => {
            format!("no namespace named '{name}' in clef.yaml (it has: {known})")
        }
        e @ TargetError::Malformed(_) => e.to_string(),
    })
}

/// The cells `scope` names, each with the keys it will hold, and the
/// backend switch `to` (if any) as clef.yaml will have it. `keys`
/// (`--keys`) wins over the namespaces' schemas. Checks every name and key
/// up front, and that clef can seal every cell (age recipients or a cloud
/// KMS key in clef.yaml as it will be); reads nothing but schemas and the
/// current bytes, and calls no KMS.
pub fn plan(
    root: &Path,
    m: &Manifest,
    scope: &Scope,
    keys: Option<&[String]>,
    to: Option<&migrate::Target>,
) -> Result<Plan, ResetError> {
    let cells: Vec<Cell> = match scope {
        Scope::Environment(e) => m.environment_cells(e).map_err(unknown_name)?,
        Scope::Namespace(n) => m.namespace_cells(n).map_err(unknown_name)?,
        Scope::Cell(t) => vec![m.target(t).map_err(|e| ResetError::Usage(e.to_string()))?],
    };
    let given: Option<Vec<String>> = match keys {
        None => None,
        Some(ks) => {
            let mut out: Vec<String> = Vec::new();
            for k in ks.iter().map(|k| k.trim()) {
                if !cell::valid_key(k) {
                    return Err(ResetError::Usage(format!(
                        "--keys: '{k}' is not a valid key name (a letter or _, then letters, digits, _, . or -)"
                    )));
                }
                if !out.iter().any(|o| o == k) {
                    out.push(k.to_owned());
                }
            }
            if out.is_empty() {
                return Err(ResetError::Usage("--keys: no key names given".into()));
            }
            Some(out)
        }
    };
    let switch = match to {
        Some(to) => Some(plan_switch(root, m, &cells, to)?),
        None => None,
    };
    let after = switch.as_ref().map_or(m, |s| &s.manifest);
    let repo = edit::Repo {
        root,
        manifest: after,
    };
    let mut out = Vec::new();
    for c in cells {
        edit::cell_access(repo, &c)?;
        let (keys, source, missing_required) = match &given {
            // A schema that cannot be read does not stop a reset that names its keys.
            Some(k) => {
                let required = schema_keys(root, m, &c.namespace)
                    .ok()
                    .flatten()
                    .map(|s| s.required)
                    .unwrap_or_default();
                let missing = required.into_iter().filter(|r| !k.contains(r)).collect();
                (k.clone(), KeySource::Given, missing)
            }
            None => match schema_keys(root, m, &c.namespace)? {
                Some(s) => (s.keys, KeySource::Schema(s.path), Vec::new()),
                None => (Vec::new(), KeySource::None, Vec::new()),
            },
        };
        let old_cell = read(root, &c.file)?;
        let old_sidecar = read(root, &c.sidecar)?;
        out.push(Target {
            protected: m.environment(&c.environment).is_some_and(|e| e.protected),
            cell: c,
            keys,
            source,
            missing_required,
            old_cell,
            old_sidecar,
        });
    }
    Ok(Plan {
        targets: out,
        switch,
    })
}

/// clef.yaml with a per-environment override to `to` for every environment
/// of `cells`. Refused while a cell of one of those environments outside
/// `cells` exists and would be left sealed with another backend or key.
fn plan_switch(
    root: &Path,
    m: &Manifest,
    cells: &[Cell],
    to: &migrate::Target,
) -> Result<Switch, ResetError> {
    let mut environments: Vec<String> = Vec::new();
    for c in cells {
        if !environments.contains(&c.environment) {
            environments.push(c.environment.clone());
        }
    }
    let key = match to {
        migrate::Target::Age => None,
        migrate::Target::Kms(k) => Some(k.id()),
    };
    let mut edited = m.clone();
    for e in &environments {
        edited.set_backend(Some(e.as_str()), to.backend(), key)?;
    }
    let text = edited.to_text();
    let manifest = Manifest::parse(&text, m.path())?;
    let mut left: Vec<String> = Vec::new();
    for c in manifest.cells() {
        if !environments.contains(&c.environment) || cells.contains(&c) {
            continue;
        }
        let Ok(Some(l)) = cell::load(root, &c) else {
            continue;
        };
        let d = manifest.access(&c).drift(&l.file.meta);
        if d.backend.is_some() || d.missing_kms.is_some() || !d.foreign_kms.is_empty() {
            left.push(c.target());
        }
    }
    if !left.is_empty() {
        let envs: Vec<String> = environments.iter().map(|e| format!("'{e}'")).collect();
        return Err(ResetError::Usage(format!(
            "the backend switch applies to all of environment {}, but {} would stay sealed the old way: reset the whole environment (--env), or move the cells first with `clef migrate-backend -e ENV`; nothing was written",
            envs.join(", "),
            left.join(", ")
        )));
    }
    Ok(Switch {
        to: to.clone(),
        manifest_changed: text != m.to_text(),
        environments,
        manifest,
        text,
    })
}

/// Replaces every planned cell with a fresh one sealed for what clef.yaml
/// grants (after the backend switch, if any; new data key; `kms` wraps
/// through `kms`, which needs no identity for age, and every KMS stanza is
/// checked to unwrap to the new data key), holding a random placeholder per
/// key, and its sidecar with a pending record per key dated `now` (no
/// rotation records). All cells and sidecars, and clef.yaml and clef's
/// `.sops.yaml` when the backend changes, are written as one batch: on
/// failure, nothing changes. The caller holds the write lock.
pub fn apply(
    root: &Path,
    m: &Manifest,
    plan: &Plan,
    kms: &Keyring,
    now: &str,
) -> Result<(), ResetError> {
    let after = plan.switch.as_ref().map_or(m, |s| &s.manifest);
    let repo = edit::Repo {
        root,
        manifest: after,
    };
    let mut blobs: Vec<cell::Blob> = Vec::new();
    for t in &plan.targets {
        let c = &t.cell;
        let access = edit::cell_access(repo, c)?;
        let seal = |e| ResetError::Seal {
            file: c.file.clone(),
            source: e,
        };
        let mut plain = cell::new_for(c.format(), &access, kms).map_err(seal)?;
        let mut side = Sidecar::default();
        {
            let doc = crate::ops::doc_mut(&mut plain);
            for k in &t.keys {
                let v = crate::ops::random_value().map_err(|_| ResetError::Random)?;
                doc.insert(k, Value::Str(v.into()));
                side.mark_pending(k, now, SET_BY);
            }
        }
        let sealed = plain.encrypt().map_err(seal)?;
        migrate::check_stanzas(&sealed, plain.data_key().bytes(), kms).map_err(|source| {
            ResetError::Verify {
                file: c.file.clone(),
                source,
            }
        })?;
        let bytes = sealed.to_bytes().map_err(seal)?;
        blobs.push((c.path_in(root), bytes, t.old_cell.clone()));
        if !t.keys.is_empty() || t.old_sidecar.is_some() {
            blobs.push((
                c.sidecar_in(root),
                side.to_text().into_bytes(),
                t.old_sidecar.clone(),
            ));
        }
    }
    if let Some(s) = plan.switch.as_ref().filter(|s| s.manifest_changed) {
        let path = root.join(crate::manifest::FILE_NAME);
        let before = read(root, Path::new(crate::manifest::FILE_NAME))?;
        blobs.push((path, s.text.clone().into_bytes(), before));
        blobs.extend(crate::sops_config::blob(root, &s.manifest));
    }
    cell::write_blobs(root, &blobs)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures directly")]
mod tests {
    use super::*;

    const R: &str = "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn";

    /// A scratch directory, removed when dropped.
    struct Dir(PathBuf);
    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn repo() -> (Dir, Manifest) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d =
            Dir(std::env::temp_dir().join(format!("clef-core-reset-{}-{n}", std::process::id())));
        let _ = std::fs::remove_dir_all(d.path());
        std::fs::create_dir_all(d.path()).unwrap();
        let text = format!(
            "version: 1\nenvironments:\n  - name: dev\n    description: Dev\n  - name: production\n    description: Live\n    protected: true\nnamespaces:\n  - name: api\n    description: API\n    schema: schemas/api.yaml\n  - name: web\n    description: Web\nsops:\n  default_backend: age\n  age:\n    recipients:\n      - {R}\nfile_pattern: secrets/{{namespace}}/{{environment}}.enc.yaml\n"
        );
        std::fs::write(d.path().join("clef.yaml"), &text).unwrap();
        std::fs::create_dir_all(d.path().join("schemas")).unwrap();
        std::fs::write(
            d.path().join("schemas/api.yaml"),
            "keys:\n  DB_URL:\n    type: string\n    required: true\n  PORT:\n    type: integer\n",
        )
        .unwrap();
        let m = Manifest::load(d.path()).unwrap();
        (d, m)
    }

    #[test]
    fn keys_come_from_keys_then_schema_then_nothing() {
        let (d, m) = repo();
        let p = plan(
            d.path(),
            &m,
            &Scope::Environment("production".into()),
            None,
            None,
        )
        .unwrap()
        .targets;
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|t| t.protected && !t.exists()));
        assert_eq!(p[0].keys, ["DB_URL", "PORT"]);
        assert_eq!(p[0].source, KeySource::Schema("schemas/api.yaml".into()));
        assert!(p[1].keys.is_empty());
        assert_eq!(p[1].source, KeySource::None);
        let given = ["A".to_owned(), " B ".to_owned(), "A".to_owned()];
        let p = plan(
            d.path(),
            &m,
            &Scope::Namespace("api".into()),
            Some(&given),
            None,
        )
        .unwrap()
        .targets;
        assert_eq!(p[0].keys, ["A", "B"]);
        assert_eq!(p[0].source, KeySource::Given);
        // The schema requires DB_URL (PORT is optional): it is named as left out.
        assert!(p.iter().all(|t| t.missing_required == ["DB_URL"]));
        let given = ["DB_URL".to_owned()];
        let p = plan(
            d.path(),
            &m,
            &Scope::Cell("api/dev".into()),
            Some(&given),
            None,
        )
        .unwrap();
        assert!(p.targets[0].missing_required.is_empty());
    }

    #[test]
    fn bad_input_is_refused_up_front() {
        let (d, m) = repo();
        for (scope, keys, want) in [
            (
                Scope::Environment("qa".into()),
                None,
                "no environment named 'qa'",
            ),
            (Scope::Namespace("x".into()), None, "no namespace named 'x'"),
            (Scope::Cell("api".into()), None, "api"),
            (Scope::Cell("api/qa".into()), None, "qa"),
            (
                Scope::Cell("web/dev".into()),
                Some(vec!["1BAD".to_owned()]),
                "not a valid key name",
            ),
            (Scope::Cell("web/dev".into()), Some(vec![]), "no key names"),
        ] {
            let e = plan(d.path(), &m, &scope, keys.as_deref(), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{scope:?}: {e}");
        }
        std::fs::write(d.path().join("schemas/api.yaml"), "keys: [1, 2]\n").unwrap();
        let e = plan(d.path(), &m, &Scope::Cell("api/dev".into()), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("schemas/api.yaml: "), "{e}");
    }

    #[test]
    fn apply_writes_sealed_cells_and_pending_records() {
        let (d, m) = repo();
        let p = plan(d.path(), &m, &Scope::Cell("api/dev".into()), None, None).unwrap();
        apply(d.path(), &m, &p, &Keyring::empty(), "2026-01-02T03:04:05Z").unwrap();
        let raw = std::fs::read(d.path().join("secrets/api/dev.enc.yaml")).unwrap();
        let f = clef_sops::EncryptedFile::parse(&raw, clef_sops::Format::Yaml).unwrap();
        assert_eq!(f.keys(), ["DB_URL", "PORT"]);
        let side =
            std::fs::read_to_string(d.path().join("secrets/api/dev.clef-meta.yaml")).unwrap();
        let s = Sidecar::parse(&side).unwrap();
        assert_eq!(s.pending.len(), 2);
        assert_eq!(s.pending[0].set_by, SET_BY);
        assert!(s.rotations.is_empty());
        // An empty cell with no sidecar before gets none.
        let p = plan(d.path(), &m, &Scope::Cell("web/dev".into()), None, None).unwrap();
        apply(d.path(), &m, &p, &Keyring::empty(), "2026-01-02T03:04:05Z").unwrap();
        assert!(d.path().join("secrets/web/dev.enc.yaml").is_file());
        assert!(!d.path().join("secrets/web/dev.clef-meta.yaml").exists());
    }

    #[test]
    fn a_backend_switch_covers_whole_environments() {
        let (d, m) = repo();
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k1";
        let to = migrate::Target::Kms(crate::manifest::KmsKey::Aws(arn.into()));
        // Nothing exists yet: one cell may switch its environment.
        let p = plan(
            d.path(),
            &m,
            &Scope::Cell("api/dev".into()),
            None,
            Some(&to),
        )
        .unwrap();
        let s = p.switch.as_ref().unwrap();
        assert_eq!(s.environments, ["dev"]);
        assert!(s.manifest_changed);
        assert!(s.manifest.access(&p.targets[0].cell).kms.is_some());
        // Once web/dev exists, sealed with age, only --env dev may switch.
        let web = plan(d.path(), &m, &Scope::Cell("web/dev".into()), None, None).unwrap();
        apply(
            d.path(),
            &m,
            &web,
            &Keyring::empty(),
            "2026-01-02T03:04:05Z",
        )
        .unwrap();
        let e = plan(
            d.path(),
            &m,
            &Scope::Cell("api/dev".into()),
            None,
            Some(&to),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("environment 'dev'") && e.contains("web/dev") && e.contains("--env"),
            "{e}"
        );
        let p = plan(
            d.path(),
            &m,
            &Scope::Environment("dev".into()),
            None,
            Some(&to),
        )
        .unwrap();
        assert_eq!(p.targets.len(), 2);
        // --age writes the override even where the default is age already.
        let p = plan(
            d.path(),
            &m,
            &Scope::Environment("dev".into()),
            None,
            Some(&migrate::Target::Age),
        )
        .unwrap();
        assert!(p.switch.unwrap().manifest_changed);
    }
}
