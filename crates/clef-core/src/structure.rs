//! Growing and reshaping the matrix: `clef namespace|env add|edit|remove`.
//!
//! clef.yaml is edited as a document tree (`clef_doc`), the same editor
//! `clef recipients` uses through [`Manifest`], so comments and key order
//! survive; every edit is re-parsed with the manifest's own validation
//! before anything is written. Planning ([`add`], [`edit`], [`remove`]: a [`Plan`]) is pure; [`apply`] writes clef.yaml,
//! `.sops.yaml` (when clef owns it) and the new empty cells as one batch
//! (all or nothing), and moves or removes cells and sidecars with `git mv`
//! / `git rm` when git tracks them, so `git log --follow` keeps their history.

use std::path::{Path, PathBuf};

use clef_doc::{Branch, Item, Value};

use crate::manifest::{self, Manifest};

/// A namespace or an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `namespaces:`
    Namespace,
    /// `environments:`
    Environment,
}

impl Kind {
    fn section(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Environment => "environments",
        }
    }

    /// `namespace` or `environment`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Environment => "environment",
        }
    }
}

/// Why a structure edit is refused (nothing has been written).
#[derive(Debug, thiserror::Error)]
pub enum StructureError {
    /// Bad input: an invalid or taken name, an unknown one, no change asked.
    #[error("{0}")]
    Usage(String),
    /// A rule forbids it (last one, protected, an identity's only scope).
    #[error("{0}")]
    Refused(String),
    /// The edited manifest does not validate.
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    /// Writing or moving failed (what was done is undone).
    #[error("{0}")]
    Write(String),
}

/// What `edit` changes.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    /// New name.
    pub rename: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Namespace schema path (empty string: remove it).
    pub schema: Option<String>,
    /// Environment protection.
    pub protect: Option<bool>,
}

/// A planned change: the new clef.yaml and the file operations.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The new clef.yaml text.
    pub text: String,
    /// It, parsed.
    pub manifest: Manifest,
    /// Cells to create (empty, encrypted for their recipients).
    pub create: Vec<crate::Cell>,
    /// Files to move (relative: from, to).
    pub moves: Vec<(PathBuf, PathBuf)>,
    /// Files to remove (relative).
    pub remove: Vec<PathBuf>,
}

fn doc_of(text: &str) -> Result<Branch, StructureError> {
    clef_doc::yaml::parse(text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .ok_or_else(|| StructureError::Usage("clef.yaml is not a YAML document".into()))
}

fn entries_mut(doc: &mut Branch, kind: Kind) -> Result<&mut Vec<Value>, StructureError> {
    match doc.get_mut(kind.section()) {
        Some(Value::List(l)) => Ok(l),
        _ => Err(StructureError::Usage(format!(
            "clef.yaml: '{}' is not a list",
            kind.section()
        ))),
    }
}

fn entry_mut<'a>(
    doc: &'a mut Branch,
    kind: Kind,
    name: &str,
) -> Result<&'a mut Branch, StructureError> {
    entries_mut(doc, kind)?
        .iter_mut()
        .find_map(|v| match v {
            Value::Map(b) if matches!(b.get("name"), Some(Value::Str(s)) if s.as_str() == name) => {
                Some(b)
            }
            _ => None,
        })
        .ok_or_else(|| StructureError::Usage(format!("no {} named '{name}'", kind.noun())))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Checks a new name with the manifest's rule and against the names taken.
fn check_new_name(m: &Manifest, kind: Kind, name: &str) -> Result<(), StructureError> {
    if !Manifest::valid_name(name) {
        return Err(StructureError::Usage(format!(
            "'{name}' is not a valid {} name: it must start with a lowercase letter, then only a-z, 0-9, _ or - (clef.yaml's rule ^[a-z][a-z0-9_-]*$)",
            kind.noun()
        )));
    }
    let taken = match kind {
        Kind::Namespace => m.namespace(name).is_some(),
        Kind::Environment => m.environment(name).is_some(),
    };
    if taken {
        return Err(StructureError::Usage(format!(
            "a {} named '{name}' already exists",
            kind.noun()
        )));
    }
    Ok(())
}

fn exists(m: &Manifest, kind: Kind, name: &str) -> Result<(), StructureError> {
    let found = match kind {
        Kind::Namespace => m.namespace(name).is_some(),
        Kind::Environment => m.environment(name).is_some(),
    };
    if found {
        Ok(())
    } else {
        Err(StructureError::Usage(format!(
            "no {} named '{name}' in clef.yaml",
            kind.noun()
        )))
    }
}

fn finish(m: &Manifest, doc: Branch) -> Result<(String, Manifest), StructureError> {
    let text = clef_doc::yaml::emit(std::slice::from_ref(&doc), 2);
    let parsed = Manifest::parse(&text, m.path())?;
    Ok((text, parsed))
}

/// Adds a namespace or environment; its cells are to be created.
pub fn add(
    m: &Manifest,
    text: &str,
    kind: Kind,
    name: &str,
    description: Option<&str>,
    schema: Option<&str>,
    protect: bool,
) -> Result<Plan, StructureError> {
    check_new_name(m, kind, name)?;
    let mut doc = doc_of(text)?;
    let desc = description
        .map(str::to_owned)
        .unwrap_or_else(|| match kind {
            Kind::Namespace => format!("{} configuration", capitalize(name)),
            Kind::Environment => format!("{} environment", capitalize(name)),
        });
    let mut entry = vec![
        Item::Entry("name".into(), Value::str(name)),
        Item::Entry("description".into(), Value::str(desc)),
    ];
    if let Some(s) = schema {
        entry.push(Item::Entry("schema".into(), Value::str(s)));
    }
    if protect {
        entry.push(Item::Entry("protected".into(), Value::Bool(true)));
    }
    entries_mut(&mut doc, kind)?.push(Value::Map(Branch(entry)));
    let (text, manifest) = finish(m, doc)?;
    let create = manifest
        .cells()
        .into_iter()
        .filter(|c| match kind {
            Kind::Namespace => c.namespace == name,
            Kind::Environment => c.environment == name,
        })
        .collect();
    Ok(Plan {
        text,
        manifest,
        create,
        moves: Vec::new(),
        remove: Vec::new(),
    })
}

/// Renames a value inside the service identities (a namespace in their
/// `namespaces` lists, an environment key of their `environments` maps).
fn rename_in_identities(doc: &mut Branch, kind: Kind, from: &str, to: &str) {
    let Some(Value::List(ids)) = doc.get_mut("service_identities") else {
        return;
    };
    for id in ids.iter_mut() {
        let Value::Map(b) = id else { continue };
        match kind {
            Kind::Namespace => {
                if let Some(Value::List(ns)) = b.get_mut("namespaces") {
                    for v in ns.iter_mut() {
                        if matches!(v, Value::Str(s) if s.as_str() == from) {
                            *v = Value::str(to);
                        }
                    }
                }
            }
            Kind::Environment => {
                if let Some(Value::Map(envs)) = b.get_mut("environments") {
                    for item in envs.0.iter_mut() {
                        if let Item::Entry(k, _) = item
                            && k == from
                        {
                            *k = to.to_owned();
                        }
                    }
                }
            }
        }
    }
}

/// Edits a namespace or environment. A rename moves its cells and sidecars.
pub fn edit(
    m: &Manifest,
    text: &str,
    kind: Kind,
    name: &str,
    e: &Edit,
) -> Result<Plan, StructureError> {
    exists(m, kind, name)?;
    if e.rename.is_none() && e.description.is_none() && e.schema.is_none() && e.protect.is_none() {
        return Err(StructureError::Usage(
            "nothing to change: give --rename, --description, --schema, --protect or --unprotect"
                .into(),
        ));
    }
    if kind == Kind::Namespace && e.protect.is_some() {
        return Err(StructureError::Usage(
            "--protect/--unprotect apply to environments".into(),
        ));
    }
    if kind == Kind::Environment && e.schema.is_some() {
        return Err(StructureError::Usage(
            "--schema applies to namespaces".into(),
        ));
    }
    if let Some(to) = &e.rename {
        check_new_name(m, kind, to)?;
    }
    let mut doc = doc_of(text)?;
    {
        let entry = entry_mut(&mut doc, kind, name)?;
        if let Some(d) = &e.description {
            if d.trim().is_empty() {
                return Err(StructureError::Usage(
                    "--description must not be empty".into(),
                ));
            }
            entry.insert("description", Value::str(d.clone()));
        }
        match e.schema.as_deref() {
            Some("") => {
                entry.remove("schema");
            }
            Some(s) => entry.insert("schema", Value::str(s)),
            None => {}
        }
        match e.protect {
            Some(true) => entry.insert("protected", Value::Bool(true)),
            Some(false) => {
                entry.remove("protected");
            }
            None => {}
        }
        if let Some(to) = &e.rename {
            entry.insert("name", Value::str(to.clone()));
        }
    }
    let mut moves = Vec::new();
    if let Some(to) = &e.rename {
        rename_in_identities(&mut doc, kind, name, to);
        for c in m.cells() {
            let (ns, env) = match kind {
                Kind::Namespace if c.namespace == name => (to.as_str(), c.environment.as_str()),
                Kind::Environment if c.environment == name => (c.namespace.as_str(), to.as_str()),
                _ => continue,
            };
            let n = m.cell(&c.namespace, &c.environment).map(|_| {
                let file = PathBuf::from(
                    m.file_pattern
                        .replace("{namespace}", ns)
                        .replace("{environment}", env),
                );
                (crate::matrix::sidecar_for(&file), file)
            });
            if let Ok((sidecar, file)) = n {
                moves.push((c.file.clone(), file));
                moves.push((c.sidecar.clone(), sidecar));
            }
        }
    }
    let (text, manifest) = finish(m, doc)?;
    Ok(Plan {
        text,
        manifest,
        create: Vec::new(),
        moves,
        remove: Vec::new(),
    })
}

/// Removes a namespace or environment and its cells. Refused for the last
/// one, a protected environment, and when a service identity would be left
/// without scope.
pub fn remove(m: &Manifest, text: &str, kind: Kind, name: &str) -> Result<Plan, StructureError> {
    exists(m, kind, name)?;
    let count = match kind {
        Kind::Namespace => m.namespaces.len(),
        Kind::Environment => m.environments.len(),
    };
    if count == 1 {
        return Err(StructureError::Refused(format!(
            "'{name}' is the last {}: clef.yaml needs at least one",
            kind.noun()
        )));
    }
    if kind == Kind::Environment && m.environment(name).is_some_and(|e| e.protected) {
        return Err(StructureError::Refused(format!(
            "environment '{name}' is protected: `clef env edit {name} --unprotect` first"
        )));
    }
    for s in &m.service_identities {
        let only = match kind {
            Kind::Namespace => s.namespaces.len() == 1 && s.namespaces[0] == name,
            Kind::Environment => s.environments.len() == 1 && s.environments[0].0 == name,
        };
        if only {
            return Err(StructureError::Refused(format!(
                "service identity '{}' has no other {}: remove or re-scope it first (`clef service …`)",
                s.name,
                kind.noun()
            )));
        }
    }
    let mut doc = doc_of(text)?;
    entries_mut(&mut doc, kind)?.retain(
        |v| !matches!(v, Value::Map(b) if matches!(b.get("name"), Some(Value::Str(s)) if s.as_str() == name)),
    );
    if let Some(Value::List(ids)) = doc.get_mut("service_identities") {
        for id in ids.iter_mut() {
            let Value::Map(b) = id else { continue };
            match kind {
                Kind::Namespace => {
                    if let Some(Value::List(ns)) = b.get_mut("namespaces") {
                        ns.retain(|v| !matches!(v, Value::Str(s) if s.as_str() == name));
                    }
                }
                Kind::Environment => {
                    if let Some(Value::Map(envs)) = b.get_mut("environments") {
                        envs.remove(name);
                    }
                }
            }
        }
    }
    let remove = m
        .cells()
        .into_iter()
        .filter(|c| match kind {
            Kind::Namespace => c.namespace == name,
            Kind::Environment => c.environment == name,
        })
        .flat_map(|c| [c.file, c.sidecar])
        .collect();
    let (text, manifest) = finish(m, doc)?;
    Ok(Plan {
        text,
        manifest,
        create: Vec::new(),
        moves: Vec::new(),
        remove,
    })
}

/// The templates `clef schema new` offers.
pub const SCHEMA_TEMPLATES: [&str; 3] = ["empty", "example", "keys"];

/// A new schema for `namespace`: `empty` (no keys), `example` (one sample
/// entry), or `keys` (every key name its cells hold now, as required
/// strings; names only, nothing decrypted).
pub fn schema_template(namespace: &str, template: &str, keys: &[String]) -> Option<String> {
    let head = format!(
        "# Schema of namespace '{namespace}': the keys its cells must hold (checked by `clef lint`).\n# Each key: type (string, integer, boolean), required, pattern (a regex), description.\n"
    );
    let body = match template {
        "empty" => "keys: {}\n".to_owned(),
        "example" => "keys:\n  DATABASE_URL:\n    type: string\n    required: true\n    pattern: ^postgres://\n    description: Primary database\n  PORT:\n    type: integer\n    required: false\n".to_owned(),
        "keys" if keys.is_empty() => "keys: {}\n".to_owned(),
        "keys" => {
            let mut b = String::from("keys:\n");
            for k in keys {
                b.push_str(&format!("  {k}:\n    type: string\n    required: true\n"));
            }
            b
        }
        _ => return None,
    };
    Some(format!("{head}{body}"))
}

fn tracked(root: &Path, rel: &Path) -> bool {
    let r = rel.to_string_lossy();
    clef_git::worktree::stdout_if_ok(root, &["ls-files", "--error-unmatch", "--", &r]).is_some()
}

fn werr(what: &Path, why: impl std::fmt::Display) -> StructureError {
    StructureError::Write(format!("{}: {why}", what.display()))
}

/// Moves one file: `git mv` when tracked (the index records the rename),
/// else a copy through the atomic writer and a removal.
fn move_file(root: &Path, from: &Path, to: &Path) -> Result<(), StructureError> {
    if let Some(d) = root.join(to).parent() {
        std::fs::create_dir_all(d).map_err(|e| werr(d, e.kind()))?;
    }
    if tracked(root, from) {
        let (f, t) = (from.to_string_lossy(), to.to_string_lossy());
        let r = clef_git::worktree::run(root, &["mv", "--", &f, &t]).map_err(|e| werr(from, e))?;
        if !r.ok {
            return Err(werr(from, format!("git mv failed: {}", r.stderr)));
        }
        return Ok(());
    }
    let bytes = std::fs::read(root.join(from)).map_err(|e| werr(from, e.kind()))?;
    clef_sops::io::atomic_write(&root.join(to), &bytes, false).map_err(|e| werr(to, e.kind()))?;
    std::fs::remove_file(root.join(from)).map_err(|e| werr(from, e.kind()))
}

/// Applies a plan under the work tree `root` (the caller holds the write
/// lock). On failure, what was moved is moved back and nothing else is
/// written.
pub fn apply(root: &Path, old_text: &str, plan: &Plan) -> Result<(), StructureError> {
    let moves: Vec<&(PathBuf, PathBuf)> = plan
        .moves
        .iter()
        .filter(|(f, _)| root.join(f).exists())
        .collect();
    for (from, to) in &moves {
        crate::cell::confined(root, &root.join(from)).map_err(|e| werr(from, e))?;
        crate::cell::confined(root, &root.join(to)).map_err(|e| werr(to, e))?;
        if root.join(to).exists() {
            return Err(StructureError::Refused(format!(
                "{} already exists: move it away first",
                to.display()
            )));
        }
    }
    for p in &plan.remove {
        crate::cell::confined(root, &root.join(p)).map_err(|e| werr(p, e))?;
    }
    // The files written in one batch: clef.yaml, .sops.yaml, new cells.
    let mut blobs: Vec<crate::cell::Blob> = vec![(
        root.join(manifest::FILE_NAME),
        plan.text.clone().into_bytes(),
        Some(old_text.as_bytes().to_vec()),
    )];
    blobs.extend(crate::sops_config::blob(root, &plan.manifest));
    for c in &plan.create {
        if c.path_in(root).exists() {
            continue;
        }
        let access = plan.manifest.access(c);
        if access.backend != manifest::Backend::Age {
            return Err(StructureError::Refused(format!(
                "{}: environment '{}' uses the {} backend; clef can only create cells for age recipients",
                c.file.display(),
                c.environment,
                access.backend.name()
            )));
        }
        let bytes = crate::cell::new_plain(c.format(), &access.age)
            .and_then(|p| p.encrypt())
            .and_then(|f| f.to_bytes())
            .map_err(|e| werr(&c.file, e))?;
        blobs.push((c.path_in(root), bytes, None));
    }
    let mut done: Vec<(&Path, &Path)> = Vec::new();
    let undo = |done: &[(&Path, &Path)]| {
        for (from, to) in done.iter().rev() {
            let _ = move_file(root, to, from);
        }
    };
    for (from, to) in &moves {
        if let Err(e) = move_file(root, from, to) {
            undo(&done);
            return Err(e);
        }
        done.push((from.as_path(), to.as_path()));
    }
    if let Err(e) = crate::cell::write_blobs(root, &blobs) {
        undo(&done);
        return Err(werr(Path::new(manifest::FILE_NAME), e));
    }
    for p in &plan.remove {
        if !root.join(p).exists() {
            continue;
        }
        let ok = if tracked(root, p) {
            clef_git::worktree::run(root, &["rm", "-q", "--", &p.to_string_lossy()])
                .is_ok_and(|r| r.ok)
        } else {
            std::fs::remove_file(root.join(p)).is_ok()
        };
        if !ok {
            return Err(werr(p, "cannot remove it (clef.yaml no longer lists it)"));
        }
    }
    // Empty directories left by moves and removals.
    for p in plan.moves.iter().map(|(f, _)| f).chain(&plan.remove) {
        if let Some(d) = root.join(p).parent() {
            let _ = std::fs::remove_dir(d);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn";

    fn base() -> (String, Manifest) {
        let text = format!(
            "# top comment\nversion: 1\nenvironments:\n  - name: dev\n    description: Dev # why\n  - name: production\n    description: Live\n    protected: true\nnamespaces:\n  - name: api\n    description: API\nsops:\n  default_backend: age\n  age:\n    recipients:\n      - {R}\nfile_pattern: secrets/{{namespace}}/{{environment}}.enc.yaml\nservice_identities:\n  - name: web\n    namespaces: [api]\n    environments:\n      dev:\n        recipient: {R}\n"
        );
        let m = Manifest::parse(&text, Path::new("clef.yaml")).unwrap();
        (text, m)
    }

    #[test]
    fn add_rename_remove_keep_comments_and_order() {
        let (t, m) = base();
        let p = add(&m, &t, Kind::Namespace, "payments", None, None, false).unwrap();
        assert!(
            p.text.starts_with("# top comment\nversion: 1\n"),
            "{}",
            p.text
        );
        // the emitter is go-yaml v3's (as sops writes): a line comment is
        // kept, as the head comment of its key
        assert!(
            p.text.contains("    # why\n    description: Dev\n"),
            "{}",
            p.text
        );
        assert!(
            p.text
                .contains("  - name: payments\n    description: Payments configuration\n")
        );
        assert_eq!(p.create.len(), 2);
        let e = add(&m, &t, Kind::Environment, "Staging", None, None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("^[a-z][a-z0-9_-]*$"), "{e}");
        assert!(add(&m, &t, Kind::Namespace, "api", None, None, false).is_err());

        let r = edit(
            &m,
            &t,
            Kind::Environment,
            "dev",
            &Edit {
                rename: Some("development".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            r.text
                .contains("  - name: development\n    # why\n    description: Dev\n"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("      development:\n        recipient:"),
            "{}",
            r.text
        );
        assert_eq!(
            r.moves[0],
            (
                PathBuf::from("secrets/api/dev.enc.yaml"),
                PathBuf::from("secrets/api/development.enc.yaml")
            )
        );
        let e = edit(&m, &t, Kind::Environment, "dev", &Edit::default()).unwrap_err();
        assert!(e.to_string().contains("nothing to change"));

        assert!(matches!(
            remove(&m, &t, Kind::Environment, "production"),
            Err(StructureError::Refused(_))
        ));
        assert!(matches!(
            remove(&m, &t, Kind::Namespace, "api"),
            Err(StructureError::Refused(_))
        ));
        // `web` reads only dev: removing dev would leave it without scope.
        let e = remove(&m, &t, Kind::Environment, "dev")
            .unwrap_err()
            .to_string();
        assert!(e.contains("service identity 'web'"), "{e}");
    }
}
