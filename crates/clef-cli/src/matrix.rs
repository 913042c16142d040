//! `clef namespace|env add|edit|remove`: reshaping the matrix
//! (`clef_core::structure`). This module parses, calls and prints.

use std::path::Path;

use clap::{Args, Subcommand};
use clef_core::structure::{self, Edit, Kind, StructureError};

use crate::error::{CliError, code};
use crate::out;
use crate::repo::Repo;

/// `clef namespace …` / `clef env …`
#[derive(Subcommand, Debug)]
pub enum StructureCmd {
    /// Add one, with empty encrypted cells for every cell it creates
    /// (encrypted for the recipients clef.yaml grants each).
    Add(AddArgs),
    /// Rename it (cells and sidecars move with `git mv`, service identities
    /// and per-environment lists follow), or change its description, schema
    /// or protection.
    Edit(EditArgs),
    /// Remove it and its cells (refused for the last one, a protected
    /// environment, or a service identity's only scope).
    Remove(RemoveArgs),
}

/// `add`
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The name (^[a-z][a-z0-9_-]*$).
    pub name: String,
    /// Description (default: "<Name> configuration" / "<Name> environment").
    #[arg(long)]
    pub description: Option<String>,
    /// Schema file for a namespace (path relative to the repository root).
    #[arg(long)]
    pub schema: Option<String>,
    /// Mark an environment protected.
    #[arg(long)]
    pub protect: bool,
}

/// `edit`
#[derive(Args, Debug)]
pub struct EditArgs {
    /// The current name.
    pub name: String,
    /// New name.
    #[arg(long)]
    pub rename: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Schema file for a namespace ("" removes it).
    #[arg(long)]
    pub schema: Option<String>,
    /// Protect an environment.
    #[arg(long, conflicts_with = "unprotect")]
    pub protect: bool,
    /// Unprotect an environment.
    #[arg(long)]
    pub unprotect: bool,
}

/// `remove`
#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The name.
    pub name: String,
    /// Confirm: its cells (and their values) are deleted from the work tree.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

impl From<StructureError> for CliError {
    fn from(e: StructureError) -> Self {
        let c = match &e {
            StructureError::Usage(_) | StructureError::Manifest(_) => code::USAGE,
            StructureError::Refused(_) => code::REFUSED,
            StructureError::Write(_) => code::WRITE,
        };
        CliError::new(c, e.to_string())
    }
}

/// Runs `clef namespace …` (`kind` Namespace) or `clef env …`.
pub fn run(dir: Option<&Path>, kind: Kind, cmd: StructureCmd) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let path = repo.root.join(clef_core::manifest::FILE_NAME);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::new(code::READ, format!("clef.yaml: {}", e.kind())))?;
    let m = &repo.manifest;
    let (plan, what) = match &cmd {
        StructureCmd::Add(a) => {
            if kind == Kind::Namespace && a.protect {
                return Err(CliError::new(
                    code::USAGE,
                    "--protect applies to environments",
                ));
            }
            if kind == Kind::Environment && a.schema.is_some() {
                return Err(CliError::new(code::USAGE, "--schema applies to namespaces"));
            }
            let p = structure::add(
                m,
                &text,
                kind,
                &a.name,
                a.description.as_deref(),
                a.schema.as_deref(),
                a.protect,
            )?;
            (p, format!("added {} '{}'", kind.noun(), a.name))
        }
        StructureCmd::Edit(a) => {
            let e = Edit {
                rename: a.rename.clone(),
                description: a.description.clone(),
                schema: a.schema.clone(),
                protect: match (a.protect, a.unprotect) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let p = structure::edit(m, &text, kind, &a.name, &e)?;
            let what = match &a.rename {
                Some(to) => format!("renamed {} '{}' to '{to}'", kind.noun(), a.name),
                None => format!("updated {} '{}'", kind.noun(), a.name),
            };
            (p, what)
        }
        StructureCmd::Remove(a) => {
            let p = structure::remove(m, &text, kind, &a.name)?;
            if !a.yes {
                return Err(CliError::new(
                    code::USAGE,
                    format!(
                        "this deletes {} file(s) of {} '{}' from the work tree (history keeps them): add --yes",
                        p.remove
                            .iter()
                            .filter(|f| repo.root.join(f).exists())
                            .count(),
                        kind.noun(),
                        a.name
                    ),
                ));
            }
            (p, format!("removed {} '{}'", kind.noun(), a.name))
        }
    };
    let touched: Vec<clef_core::Cell> = repo
        .manifest
        .cells()
        .into_iter()
        .chain(plan.manifest.cells())
        .collect();
    let _lock = repo.check_writable(&touched.iter().collect::<Vec<_>>())?;
    structure::apply(&repo.root, &text, &plan)?;
    out::note(what);
    for c in &plan.create {
        out::note(format!("created the empty cell {}", c.file.display()));
    }
    for (f, t) in plan
        .moves
        .iter()
        .filter(|(_, t)| repo.root.join(t).exists())
    {
        out::note(format!("moved {} -> {}", f.display(), t.display()));
    }
    Ok(())
}

/// `clef init` in a repository that already has clef.yaml: the namespaces
/// and environments given that clef.yaml lacks are listed, and added (with
/// their cells) only with `--add`; without it nothing is changed and the
/// command fails, so no argument is ignored silently. `environments` equal
/// to init's default list count as not given.
pub fn init_additions(
    root: &Path,
    namespaces: &[String],
    environments: &[String],
    add: bool,
) -> Result<(), CliError> {
    let repo = Repo::open(Some(root))?;
    let default_envs = ["dev", "staging", "production"];
    let envs_given = environments.iter().map(String::as_str).ne(default_envs);
    let mut wanted: Vec<(Kind, &str)> = namespaces
        .iter()
        .filter(|n| repo.manifest.namespace(n).is_none())
        .map(|n| (Kind::Namespace, n.as_str()))
        .collect();
    if envs_given {
        wanted.extend(
            environments
                .iter()
                .filter(|e| repo.manifest.environment(e).is_none())
                .map(|e| (Kind::Environment, e.as_str())),
        );
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let list = wanted
        .iter()
        .map(|(k, n)| format!("{} '{n}'", k.noun()))
        .collect::<Vec<_>>()
        .join(", ");
    let path = repo.root.join(clef_core::manifest::FILE_NAME);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::new(code::READ, format!("clef.yaml: {}", e.kind())))?;
    let (mut cur_text, mut cur) = (text.clone(), repo.manifest.clone());
    for (k, n) in &wanted {
        let p = structure::add(&cur, &cur_text, *k, n, None, None, false)?;
        (cur_text, cur) = (p.text, p.manifest);
    }
    if !add {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "already initialised; clef.yaml lacks {list}: run again with --add to add them (or `clef namespace add` / `clef env add`)"
            ),
        ));
    }
    let create: Vec<clef_core::Cell> = cur
        .cells()
        .into_iter()
        .filter(|c| !c.path_in(&repo.root).exists())
        .collect();
    let plan = structure::Plan {
        text: cur_text,
        manifest: cur,
        create,
        moves: Vec::new(),
        remove: Vec::new(),
    };
    let _lock = repo.check_writable(&plan.create.iter().collect::<Vec<_>>())?;
    structure::apply(&repo.root, &text, &plan)?;
    out::note(format!("added {list} to clef.yaml"));
    for c in &plan.create {
        out::note(format!("created the empty cell {}", c.file.display()));
    }
    Ok(())
}

/// `clef drift`
#[derive(Args, Debug)]
pub struct DriftArgs {
    /// The other clef repository (a directory holding clef.yaml).
    pub path: std::path::PathBuf,
    /// Only these namespaces.
    #[arg(short = 'n', long = "namespace", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Print {compared, cells:[{target, onlyHere, onlyThere}], unshared}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef drift PATH`: key names of the cells both repositories
/// declare, compared without decrypting. Exit 1 on any difference.
pub fn drift(dir: Option<&Path>, a: &DriftArgs) -> Result<(), CliError> {
    let here = Repo::open(dir)?;
    let there_root = crate::repo::find_root(&a.path)
        .filter(|r| r.join(clef_core::manifest::FILE_NAME).is_file())
        .ok_or_else(|| {
            CliError::new(
                code::USAGE,
                format!("{}: no clef.yaml there or above", a.path.display()),
            )
        })?;
    let there = clef_core::Manifest::load(&there_root)?;
    let d = clef_core::drift::compare(
        (&here.root, &here.manifest),
        (&there_root, &there),
        &a.namespaces,
    )?;
    if a.json {
        let cells: Vec<serde_json::Value> = d
            .cells
            .iter()
            .map(|c| {
                serde_json::json!({"target": c.target, "onlyHere": c.only_here, "onlyThere": c.only_there})
            })
            .collect();
        let j = serde_json::json!({"compared": d.compared, "cells": cells, "unshared": d.unshared});
        out::print_str(&format!("{j}\n"))?;
    } else {
        let mut s = String::new();
        for c in &d.cells {
            for k in &c.only_here {
                s.push_str(&format!("{}: {} only here\n", c.target, out::shown(k)));
            }
            for k in &c.only_there {
                s.push_str(&format!(
                    "{}: {} only in {}\n",
                    c.target,
                    out::shown(k),
                    there_root.display()
                ));
            }
        }
        for u in &d.unshared {
            s.push_str(&format!("not compared: {u}\n"));
        }
        s.push_str(&format!(
            "{} cells compared, {} differ\n",
            d.compared,
            d.cells.len()
        ));
        out::print_str(&s)?;
    }
    if d.cells.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(code::GENERIC, String::new()))
    }
}

/// `clef compare`
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// namespace/environment
    pub target: String,
    /// The key.
    pub key: String,
    /// The value to compare with. Omit it to type it at a hidden prompt or
    /// pipe it on stdin (on the command line it ends up in shell history).
    pub value: Option<String>,
}

/// Runs `clef compare`: exit 0 when the stored value equals the given one,
/// 1 when not (compared in constant time; neither value is printed).
pub fn compare(dir: Option<&Path>, a: CompareArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let ids = repo.identities()?;
    let given = match a.value {
        Some(v) => zeroize::Zeroizing::new(v),
        None => crate::secrets::read_value(&a.key)?,
    };
    let (_, _, plain) = crate::secrets::decrypt_cell(&repo, &c, &ids)?;
    let stored = plain
        .docs
        .first()
        .and_then(|d| d.get(&a.key))
        .and_then(clef_core::cell::value_text)
        .ok_or_else(|| {
            CliError::new(
                code::GENERIC,
                format!("key '{}' not found in {}", out::shown(&a.key), c.target()),
            )
        })?;
    if clef_core::drift::secrets_equal(stored.as_bytes(), given.as_bytes()) {
        out::print_str("match\n")
    } else {
        out::print_str("differs\n")?;
        Err(CliError::new(code::GENERIC, String::new()))
    }
}

/// `clef schema …`
#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Write a schema for a namespace and attach it in clef.yaml (`schema:`).
    New(SchemaNewArgs),
    /// Print a namespace's schema.
    Show {
        /// The namespace.
        namespace: String,
    },
}

/// `clef schema new`
#[derive(Args, Debug)]
pub struct SchemaNewArgs {
    /// The namespace.
    pub namespace: String,
    /// Where to write it (default: schemas/<namespace>.yaml).
    #[arg(long)]
    pub path: Option<String>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// empty, example, or keys (the key names its cells hold now; nothing decrypted).
    #[arg(long, default_value = "empty")]
    pub template: String,
}

/// Runs `clef schema new|show`.
pub fn schema(dir: Option<&Path>, cmd: SchemaCmd) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    match cmd {
        SchemaCmd::Show { namespace } => {
            let ns = repo.manifest.namespace(&namespace).ok_or_else(|| {
                CliError::new(
                    code::USAGE,
                    format!(
                        "no namespace named '{}' in clef.yaml",
                        out::shown(&namespace)
                    ),
                )
            })?;
            let Some(p) = &ns.schema else {
                return Err(CliError::new(
                    code::GENERIC,
                    format!(
                        "namespace '{namespace}' has no schema (`clef schema new {namespace}` writes one)"
                    ),
                ));
            };
            let text = std::fs::read_to_string(repo.root.join(p))
                .map_err(|e| CliError::new(code::READ, format!("{p}: {}", e.kind())))?;
            clef_core::schema::Schema::parse(&text)
                .map_err(|e| CliError::new(code::USAGE, format!("{p}: {e}")))?;
            out::print_str(&format!("# {p}\n{text}"))
        }
        SchemaCmd::New(a) => {
            let rel = a
                .path
                .clone()
                .unwrap_or_else(|| format!("schemas/{}.yaml", a.namespace));
            let cells = repo.manifest.namespace_cells(&a.namespace)?;
            let mut keys: Vec<String> = Vec::new();
            for c in &cells {
                if let Some(l) = clef_core::cell::load(&repo.root, c)? {
                    for k in l.file.keys() {
                        if !keys.contains(&k) {
                            keys.push(k);
                        }
                    }
                }
            }
            let text =
                structure::schema_template(&a.namespace, &a.template, &keys).ok_or_else(|| {
                    CliError::new(
                        code::USAGE,
                        format!(
                            "unknown --template '{}': {}",
                            out::shown(&a.template),
                            structure::SCHEMA_TEMPLATES.join(", ")
                        ),
                    )
                })?;
            let file = repo.root.join(&rel);
            clef_core::cell::confined(&repo.root, &file)?;
            if file.exists() && !a.force {
                return Err(CliError::new(
                    code::USAGE,
                    format!("{rel} exists (--force overwrites it)"),
                ));
            }
            let manifest_text =
                std::fs::read_to_string(repo.root.join(clef_core::manifest::FILE_NAME))
                    .map_err(|e| CliError::new(code::READ, format!("clef.yaml: {}", e.kind())))?;
            let plan = structure::edit(
                &repo.manifest,
                &manifest_text,
                Kind::Namespace,
                &a.namespace,
                &Edit {
                    schema: Some(rel.clone()),
                    ..Default::default()
                },
            )?;
            let _lock = repo.check_writable(&[])?;
            let old = std::fs::read(&file).ok();
            clef_core::cell::write_blobs(
                &repo.root,
                &[(file.clone(), text.into_bytes(), old.clone())],
            )?;
            if let Err(e) = structure::apply(&repo.root, &manifest_text, &plan) {
                let _ = match old {
                    Some(o) => clef_sops::io::atomic_write(&file, &o, false),
                    None => std::fs::remove_file(&file),
                };
                return Err(e.into());
            }
            out::note(format!(
                "wrote {rel} and attached it to namespace '{}' in clef.yaml",
                a.namespace
            ));
            Ok(())
        }
    }
}

/// `clef sync`
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The namespace (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(long)]
    pub all: bool,
    /// List what would be added; change nothing (needs no key).
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `clef sync`: every key a namespace's other environments hold is
/// added where it is missing, as a random 64-hex placeholder marked pending
/// (`clef lint` lists them; `clef set` replaces them).
pub fn sync(dir: Option<&Path>, a: &SyncArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    if let Some(n) = &a.namespace
        && repo.manifest.namespace(n).is_none()
    {
        return Err(CliError::new(
            code::USAGE,
            format!("no namespace named '{}' in clef.yaml", out::shown(n)),
        ));
    }
    let gaps = clef_core::drift::missing_keys(&repo.root, &repo.manifest, a.namespace.as_deref())?;
    let mut s = String::new();
    for (c, keys) in &gaps {
        for k in keys {
            s.push_str(&format!("{}: {}\n", c.target(), out::shown(k)));
        }
    }
    let total: usize = gaps.iter().map(|(_, k)| k.len()).sum();
    if a.dry_run || gaps.is_empty() {
        s.push_str(&format!(
            "{total} keys {} in {} cells\n",
            if a.dry_run {
                "would be added"
            } else {
                "missing"
            },
            gaps.len()
        ));
        return out::print_str(&s);
    }
    let cells: Vec<clef_core::Cell> = gaps.iter().map(|(c, _)| c.clone()).collect();
    let _lock = repo.check_writable(&cells.iter().collect::<Vec<_>>())?;
    let ids = repo.identities()?;
    let now = clef_sops::time::now_rfc3339();
    let mut edits = Vec::new();
    for (c, keys) in &gaps {
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut e = crate::secrets::open_for_edit(&repo, c, &ids, &refs)?;
        for k in keys {
            let v = clef_core::ops::random_value()?;
            clef_core::ops::doc_mut(&mut e.plain).insert(k, clef_doc::Value::Str(v.into()));
            e.sidecar.mark_pending(k, &now, "clef sync");
        }
        edits.push(e);
    }
    crate::secrets::commit(&repo, &edits)?;
    s.push_str(&format!(
        "added {total} pending placeholders in {} cells (set the real values with `clef set`)\n",
        gaps.len()
    ));
    out::print_str(&s)
}

/// `clef reset`
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["env", "namespace", "cell"])))]
#[command(group(clap::ArgGroup::new("backend").args(["aws_kms_arn", "gcp_kms_resource_id", "age", "azure_kv_url", "pgp_fingerprint"])))]
pub struct ResetArgs {
    /// Every cell of this environment.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Every cell of this namespace.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// One cell.
    #[arg(long, value_name = "NS/ENV")]
    pub cell: Option<String>,
    /// The keys the new cells hold as pending placeholders (comma-separated;
    /// default: the keys the namespace's schema declares, else none).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub keys: Option<Vec<String>>,
    /// Switch the environments in scope to this AWS KMS key (a per-environment
    /// override in clef.yaml, written with the new cells). The override covers
    /// the whole environment: refused while a cell of it outside the scope is
    /// sealed another way.
    #[arg(long, value_name = "ARN")]
    pub aws_kms_arn: Option<String>,
    /// Switch the environments in scope to this GCP Cloud KMS key
    /// (projects/P/locations/L/keyRings/R/cryptoKeys/K).
    #[arg(long, value_name = "ID")]
    pub gcp_kms_resource_id: Option<String>,
    /// Switch the environments in scope to age (the recipients clef.yaml lists).
    #[arg(long)]
    pub age: bool,
    /// The old Clef's Azure Key Vault switch: refused (clef seals with age,
    /// AWS KMS and GCP KMS only).
    #[arg(long, value_name = "URL", hide = true)]
    pub azure_kv_url: Option<String>,
    /// The old Clef's PGP switch: refused, as --azure-kv-url.
    #[arg(long, value_name = "FP", hide = true)]
    pub pgp_fingerprint: Option<String>,
    /// List the cells and keys; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm (the cells' current values are replaced; git history keeps the old files).
    #[arg(short = 'y', long)]
    pub yes: bool,
}

impl ResetArgs {
    /// The backend switch the flags ask for.
    fn switch(&self) -> Result<Option<clef_core::migrate::Target>, CliError> {
        use clef_core::manifest::KmsKey;
        use clef_core::migrate::Target;
        let refused = |flag: &str| {
            CliError::new(
                code::USAGE,
                format!(
                    "--{flag}: clef seals cells with age, AWS KMS and GCP KMS only (--age, --aws-kms-arn, --gcp-kms-resource-id); nothing was written"
                ),
            )
        };
        if self.azure_kv_url.is_some() {
            return Err(refused("azure-kv-url"));
        }
        if self.pgp_fingerprint.is_some() {
            return Err(refused("pgp-fingerprint"));
        }
        let nonempty = |flag: &str, v: &str| {
            let v = v.trim();
            if v.is_empty() {
                Err(CliError::new(
                    code::USAGE,
                    format!("--{flag}: empty; nothing was written"),
                ))
            } else {
                Ok(v.to_owned())
            }
        };
        Ok(match (&self.aws_kms_arn, &self.gcp_kms_resource_id) {
            (Some(a), _) => Some(Target::Kms(KmsKey::Aws(nonempty(
                "aws-kms-arn",
                a.as_str(),
            )?))),
            (_, Some(g)) => Some(Target::Kms(KmsKey::Gcp(nonempty(
                "gcp-kms-resource-id",
                g.as_str(),
            )?))),
            _ if self.age => Some(Target::Age),
            _ => None,
        })
    }
}

impl From<clef_core::reset::ResetError> for CliError {
    fn from(e: clef_core::reset::ResetError) -> Self {
        use clef_core::reset::ResetError;
        match e {
            ResetError::Access(e) => e.into(),
            ResetError::Cell(e) => e.into(),
            ResetError::Seal { file, source } => {
                let c = CliError::sops(&file, source);
                CliError::new(c.code, format!("{}; nothing was written", c.msg))
            }
            ResetError::Verify { .. } => CliError::new(code::KEY, e.to_string()),
            ResetError::Usage(_) | ResetError::Schema { .. } | ResetError::Manifest(_) => {
                CliError::new(code::USAGE, e.to_string())
            }
            ResetError::Random => CliError::new(code::GENERIC, e.to_string()),
        }
    }
}

/// Asks on a terminal whether to reset; without one, only `--yes` confirms.
/// A protected environment is named and refused unless confirmed.
fn confirm_reset(targets: &[clef_core::reset::Target], yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    let mut protected: Vec<&str> = targets
        .iter()
        .filter(|t| t.protected)
        .map(|t| t.cell.environment.as_str())
        .collect();
    protected.dedup();
    let what = format!("reset replaces {} cell(s) and their values", targets.len());
    let (c, why) = if protected.is_empty() {
        (code::USAGE, what.clone())
    } else {
        (
            code::REFUSED,
            format!(
                "{} is protected; {what}",
                protected
                    .iter()
                    .map(|e| format!("environment '{e}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    if !out::stdin_is_tty() {
        return Err(CliError::new(
            c,
            format!("{why}: confirm with --yes (nothing was written)"),
        ));
    }
    if out::confirm(&format!("clef: {why}. Go on?"))? {
        Ok(())
    } else {
        Err(CliError::new(c, "not confirmed; nothing was written"))
    }
}

/// Runs `clef reset`: disaster recovery. The cells in scope are replaced by
/// fresh ones sealed for what clef.yaml grants now (or, with a backend flag,
/// after switching their environments), without decrypting anything (no
/// identity needed for age); the keys come from `--keys`, else the
/// namespace's schema, and hold random placeholders marked pending.
pub fn reset(dir: Option<&Path>, a: &ResetArgs) -> Result<(), CliError> {
    use clef_core::reset::{self, KeySource, Scope};
    let repo = Repo::open(dir)?;
    let scope = match (&a.env, &a.namespace, &a.cell) {
        (Some(e), None, None) => Scope::Environment(e.clone()),
        (None, Some(n), None) => Scope::Namespace(n.clone()),
        (None, None, Some(c)) => Scope::Cell(c.clone()),
        _ => {
            return Err(CliError::new(
                code::USAGE,
                "give exactly one of --env, --namespace, --cell",
            ));
        }
    };
    let to = a.switch()?;
    let plan = reset::plan(
        &repo.root,
        &repo.manifest,
        &scope,
        a.keys.as_deref(),
        to.as_ref(),
    )?;
    let targets = &plan.targets;
    for t in targets {
        for k in &t.missing_required {
            out::note(format!(
                "warning: {}: --keys leaves out {}, which the namespace's schema requires (`clef lint` will report it until it is set)",
                t.cell.target(),
                out::shown(k)
            ));
        }
    }
    let mut s = String::new();
    if let Some(sw) = &plan.switch {
        let to = match &sw.to {
            clef_core::migrate::Target::Age => "age".to_owned(),
            clef_core::migrate::Target::Kms(k) => k.to_string(),
        };
        for e in &sw.environments {
            s.push_str(&format!("clef.yaml: environment '{e}' -> {to}\n"));
        }
    }
    for t in targets {
        let from = match &t.source {
            KeySource::Given => "--keys".to_owned(),
            KeySource::Schema(p) => format!("schema {p}"),
            KeySource::None => "no schema, no --keys: empty".to_owned(),
        };
        let keys: Vec<String> = t.keys.iter().map(|k| out::shown(k).into_owned()).collect();
        s.push_str(&format!(
            "{}{}: {} key(s) ({from}){}{}\n",
            t.cell.target(),
            if t.protected { " [protected]" } else { "" },
            t.keys.len(),
            if keys.is_empty() { "" } else { ": " },
            keys.join(", ")
        ));
    }
    if a.dry_run {
        s.push_str(&format!(
            "{} cell(s) would be reset; nothing written\n",
            targets.len()
        ));
        return out::print_str(&s);
    }
    confirm_reset(targets, a.yes)?;
    if let Some(clef_core::migrate::Target::Kms(clef_core::manifest::KmsKey::Aws(arn))) =
        plan.switch.as_ref().map(|sw| &sw.to)
    {
        // one DescribeKey first: a disabled or unknown key is named before any work
        clef_kms::AwsKms::new(clef_kms::AwsOptions::from_env())
            .check_enabled(arn)
            .map_err(|e| CliError::new(code::KEY, format!("{e}; nothing was written")))?;
    }
    let cells: Vec<&clef_core::Cell> = targets.iter().map(|t| &t.cell).collect();
    let _lock = repo.check_writable(&cells)?;
    // Sealing needs no identity: age wraps for public keys; a cloud KMS
    // environment wraps through its KMS.
    let kms = clef_kms::with_cloud_backends(
        clef_sops::Keyring::empty(),
        clef_kms::AwsOptions::from_env(),
    );
    let now = clef_sops::time::now_rfc3339();
    reset::apply(&repo.root, &repo.manifest, &plan, &kms, &now)?;
    let pending: usize = targets.iter().map(|t| t.keys.len()).sum();
    s.push_str(&format!(
        "reset {} cell(s); {pending} pending placeholder(s) to replace with `clef set` (`clef lint` lists them)\n",
        targets.len()
    ));
    if plan.switch.as_ref().is_some_and(|sw| sw.manifest_changed) {
        s.push_str("updated clef.yaml; commit it with the cells\n");
    }
    out::print_str(&s)
}
