//! `clef service create|list|show|validate|update|add-env|delete|rotate`.
//!
//! Every age environment of an identity gets its own key pair (environments
//! stay isolated). Private keys are printed once and never written anywhere.
//! Each change writes clef.yaml and the in-scope cells in one step (the
//! recipients' data keys re-wrapped, or rotated when someone loses access).

use std::path::Path;

use clap::{Args, Subcommand};
use clef_core::manifest::{ServiceIdentity, ServiceKey};
use clef_core::service;
use zeroize::Zeroizing;

use crate::error::{CliError, code};
use crate::out::{self, Json};
use crate::repo::Repo;

/// `clef service …`.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Declare a service identity: one new age key pair per environment
    /// (or a KMS key with --kms-env); registers it on the cells in scope.
    Create(CreateArgs),
    /// List the service identities.
    List(JsonArg),
    /// Show one service identity.
    Show(NameArg),
    /// Check every identity against clef.yaml and the cells (exit 1 on any issue).
    Validate(JsonArg),
    /// Switch environments to KMS keys (--kms-env env=aws:ARN) or back to a new age key (--age-env env).
    Update(UpdateArgs),
    /// Give an identity a key for one more environment.
    AddEnv(AddEnvArgs),
    /// Remove an identity (its recipients lose access: the cells get new data keys).
    Delete(NameArg),
    /// New age key pairs (all age environments, or -e ENV); the old keys lose access.
    Rotate(RotateArgs),
}

/// `--json`.
#[derive(Args, Debug)]
pub struct JsonArg {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// An identity name.
#[derive(Args, Debug)]
pub struct NameArg {
    /// The identity.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// A DNS label.
    pub name: String,
    /// Namespaces it reads (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub namespaces: Vec<String>,
    /// Description (default: the name).
    #[arg(long)]
    pub description: Option<String>,
    /// ENV=PROVIDER:KEY_ID, e.g. production=aws:arn:aws:kms:… (repeatable).
    #[arg(long = "kms-env", value_name = "ENV=PROVIDER:KEY")]
    pub kms_env: Vec<String>,
    /// Runtime-only (pack_only): never a recipient of the cells; reads packed artifacts only.
    #[arg(long)]
    pub runtime: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The identity.
    pub name: String,
    /// ENV=PROVIDER:KEY_ID (repeatable).
    #[arg(long = "kms-env", value_name = "ENV=PROVIDER:KEY")]
    pub kms_env: Vec<String>,
    /// Switch ENV back to a new age key pair (repeatable).
    #[arg(long = "age-env", value_name = "ENV")]
    pub age_env: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `add-env`.
#[derive(Args, Debug)]
pub struct AddEnvArgs {
    /// The identity.
    pub name: String,
    /// The environment.
    pub environment: String,
    /// PROVIDER:KEY_ID instead of a new age key.
    #[arg(long)]
    pub kms: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rotate`.
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The identity.
    pub name: String,
    /// Only this environment.
    #[arg(short = 'e', long = "environment")]
    pub environment: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::new(code::USAGE, msg)
}

/// `PROVIDER:KEY_ID`, checked.
fn parse_kms(s: &str) -> Result<ServiceKey, CliError> {
    let (provider, key_id) = s.split_once(':').ok_or_else(|| {
        usage(format!(
            "'{s}': expected PROVIDER:KEY_ID (aws:arn:aws:kms:…)"
        ))
    })?;
    service::check_kms(provider, key_id).map_err(usage)?;
    Ok(ServiceKey::Kms {
        provider: provider.to_owned(),
        key_id: key_id.to_owned(),
    })
}

/// `ENV=PROVIDER:KEY_ID` for a declared environment.
fn parse_kms_env(repo: &Repo, s: &str) -> Result<(String, ServiceKey), CliError> {
    let (env, rest) = s
        .split_once('=')
        .ok_or_else(|| usage(format!("--kms-env '{s}': expected ENV=PROVIDER:KEY_ID")))?;
    repo.manifest
        .environment(env)
        .ok_or_else(|| usage(format!("--kms-env: unknown environment '{env}'")))?;
    Ok((env.to_owned(), parse_kms(rest)?))
}

/// New age key pairs, one per environment: (env, recipient) for the manifest
/// and (env, private key) to show once.
type NewKeys = Vec<(String, Zeroizing<String>)>;

fn new_age_key(env: &str, keys: &mut NewKeys) -> ServiceKey {
    let (secret, public) = clef_keys::generate_identity();
    keys.push((env.to_owned(), secret.into_zeroizing()));
    ServiceKey::Recipient(public)
}

fn key_json(k: &ServiceKey) -> Json {
    match k {
        ServiceKey::Recipient(r) => Json::Obj(vec![("recipient", Json::s(r))]),
        ServiceKey::Kms { provider, key_id } => Json::Obj(vec![(
            "kms",
            Json::Obj(vec![
                ("provider", Json::s(provider)),
                ("keyId", Json::s(key_id)),
            ]),
        )]),
    }
}

fn identity_json(si: &ServiceIdentity) -> Json {
    let [namespaces, environments] = scope_json(si);
    Json::Obj(vec![
        ("name", Json::s(&si.name)),
        (
            "description",
            Json::s(si.description.clone().unwrap_or_default()),
        ),
        namespaces,
        environments,
        ("packOnly", Json::Bool(si.pack_only)),
    ])
}

/// The `namespaces` and `environments` fields of an identity.
fn scope_json(si: &ServiceIdentity) -> [(&'static str, Json); 2] {
    [
        (
            "namespaces",
            Json::Arr(si.namespaces.iter().map(Json::s).collect()),
        ),
        (
            "environments",
            Json::Map(
                si.environments
                    .iter()
                    .map(|(e, k)| (e.clone(), key_json(k)))
                    .collect(),
            ),
        ),
    ]
}

fn keys_json(keys: &NewKeys) -> Json {
    Json::Map(
        keys.iter()
            .map(|(e, k)| (e.clone(), Json::s(k.as_str())))
            .collect(),
    )
}

/// Prints new private keys once (stdout), with where they belong.
fn show_keys(name: &str, keys: &NewKeys) -> Result<(), CliError> {
    if keys.is_empty() {
        return Ok(());
    }
    let name = out::shown(name);
    let mut s = Zeroizing::new(format!(
        "# Private keys of '{name}', one per environment. Shown once, stored nowhere:\n# give each to the workload of its environment (e.g. CLEF_AGENT_AGE_KEY).\n"
    ));
    for (env, k) in keys {
        s.push_str(&format!("{}: {}\n", out::shown(env), k.as_str()));
    }
    out::print_str(&s)
}

/// Prints the outcome of a change to identity `name`: its JSON (`action`,
/// `identity`, then `fields`), or `msg` on stderr and the new private keys
/// (once) on stdout.
fn finish(
    json: bool,
    action: &str,
    name: &str,
    fields: Vec<(&'static str, Json)>,
    keys: &NewKeys,
    msg: String,
) -> Result<(), CliError> {
    if json {
        let mut all = vec![("action", Json::s(action)), ("identity", Json::s(name))];
        all.extend(fields);
        return out::print_str(&Zeroizing::new(Json::Obj(all).render()));
    }
    out::note(msg);
    show_keys(name, keys)
}

/// Writes the changed identities (manifest + in-scope cells, one step).
fn apply(repo: &Repo, list: Vec<ServiceIdentity>, removing: bool) -> Result<(), CliError> {
    let mut m = repo.manifest.clone();
    m.set_service_identities(list);
    crate::admin::apply_recipients(repo, m, removing)
}

fn find(repo: &Repo, name: &str) -> Result<usize, CliError> {
    repo.manifest
        .service_identity(name)
        .map_err(|e| usage(e.to_string()))?;
    Ok(repo
        .manifest
        .service_identities
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_default())
}

/// Runs `clef service …`.
pub fn run(dir: Option<&Path>, c: ServiceCmd) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    match c {
        ServiceCmd::Create(a) => create(&repo, a),
        ServiceCmd::List(a) => {
            let list = &repo.manifest.service_identities;
            if a.json {
                return out::print_str(
                    &Json::Arr(list.iter().map(identity_json).collect()).render(),
                );
            }
            let mut s = String::new();
            for si in list {
                s.push_str(&format!(
                    "{}  namespaces: {}  environments: {}{}\n",
                    si.name,
                    si.namespaces.join(","),
                    si.environments
                        .iter()
                        .map(|(e, k)| format!("{e}({})", k.kind()))
                        .collect::<Vec<_>>()
                        .join(","),
                    if si.pack_only { "  pack_only" } else { "" }
                ));
            }
            out::print_human(&s)
        }
        ServiceCmd::Show(a) => {
            let si = &repo.manifest.service_identities[find(&repo, &a.name)?];
            if a.json {
                return out::print_str(&identity_json(si).render());
            }
            let mut s = format!(
                "name         {}\ndescription  {}\nnamespaces   {}\npack_only    {}\n",
                si.name,
                si.description.as_deref().unwrap_or(""),
                si.namespaces.join(", "),
                si.pack_only
            );
            for (e, k) in &si.environments {
                let v = match k {
                    ServiceKey::Recipient(r) => r.clone(),
                    ServiceKey::Kms { provider, key_id } => format!("{provider} KMS {key_id}"),
                };
                s.push_str(&format!("env {e:<8} {v}\n"));
            }
            out::print_human(&s)
        }
        ServiceCmd::Validate(a) => validate(&repo, a.json),
        ServiceCmd::Update(a) => update(&repo, a),
        ServiceCmd::AddEnv(a) => add_env(&repo, a),
        ServiceCmd::Delete(a) => {
            let i = find(&repo, &a.name)?;
            let mut list = repo.manifest.service_identities.clone();
            list.remove(i);
            apply(&repo, list, true)?;
            if a.json {
                out::print_str(
                    &Json::Obj(vec![
                        ("action", Json::s("deleted")),
                        ("identity", Json::s(&a.name)),
                    ])
                    .render(),
                )
            } else {
                out::print_human(&format!("deleted service identity '{}'\n", a.name))
            }
        }
        ServiceCmd::Rotate(a) => rotate(&repo, a),
    }
}

fn create(repo: &Repo, a: CreateArgs) -> Result<(), CliError> {
    if repo.manifest.service_identity(&a.name).is_ok() {
        return Err(usage(format!(
            "service identity '{}' already exists (new keys: clef service rotate {})",
            a.name, a.name
        )));
    }
    for n in &a.namespaces {
        repo.manifest
            .namespace(n)
            .ok_or_else(|| usage(format!("--namespaces: unknown namespace '{n}'")))?;
    }
    let mut kms: Vec<(String, ServiceKey)> = Vec::new();
    for s in &a.kms_env {
        kms.push(parse_kms_env(repo, s)?);
    }
    let mut keys = NewKeys::new();
    let environments = repo
        .manifest
        .environments
        .iter()
        .map(|e| {
            let k = match kms.iter().find(|(x, _)| *x == e.name) {
                Some((_, k)) => k.clone(),
                None => new_age_key(&e.name, &mut keys),
            };
            (e.name.clone(), k)
        })
        .collect();
    let si = ServiceIdentity {
        name: a.name.clone(),
        description: Some(a.description.clone().unwrap_or_else(|| a.name.clone())),
        namespaces: a.namespaces.clone(),
        environments,
        pack_only: a.runtime,
    };
    let mut list = repo.manifest.service_identities.clone();
    list.push(si.clone());
    apply(repo, list, false)?;
    let mut fields = Vec::from(scope_json(&si));
    fields.extend([
        ("privateKeys", keys_json(&keys)),
        ("sharedRecipient", Json::Bool(false)),
        ("packOnly", Json::Bool(si.pack_only)),
    ]);
    let msg = format!("created service identity '{}'", si.name);
    finish(a.json, "created", &si.name, fields, &keys, msg)
}

fn update(repo: &Repo, a: UpdateArgs) -> Result<(), CliError> {
    let i = find(repo, &a.name)?;
    if a.kms_env.is_empty() && a.age_env.is_empty() {
        return Err(usage(
            "nothing to update: give --kms-env ENV=PROVIDER:KEY or --age-env ENV",
        ));
    }
    let mut list = repo.manifest.service_identities.clone();
    let mut keys = NewKeys::new();
    let mut changed = Vec::new();
    let mut set = |si: &mut ServiceIdentity, env: &str, k: ServiceKey| {
        match si.environments.iter_mut().find(|(e, _)| e == env) {
            Some(slot) => slot.1 = k.clone(),
            None => si.environments.push((env.to_owned(), k.clone())),
        }
        changed.push(Json::Obj(vec![
            ("environment", Json::s(env)),
            ("provider", Json::s(k.kind())),
        ]));
    };
    for s in &a.kms_env {
        let (env, k) = parse_kms_env(repo, s)?;
        set(&mut list[i], &env, k);
    }
    for env in &a.age_env {
        repo.manifest
            .environment(env)
            .ok_or_else(|| usage(format!("--age-env: unknown environment '{env}'")))?;
        let k = new_age_key(env, &mut keys);
        set(&mut list[i], env, k);
    }
    apply(repo, list, true)?;
    let fields = vec![
        ("changed", Json::Arr(changed)),
        ("privateKeys", keys_json(&keys)),
    ];
    let msg = format!("updated service identity '{}'", a.name);
    finish(a.json, "updated", &a.name, fields, &keys, msg)
}

fn add_env(repo: &Repo, a: AddEnvArgs) -> Result<(), CliError> {
    let i = find(repo, &a.name)?;
    repo.manifest
        .environment(&a.environment)
        .ok_or_else(|| usage(format!("unknown environment '{}'", a.environment)))?;
    let mut list = repo.manifest.service_identities.clone();
    if list[i].key_for(&a.environment).is_some() {
        return Err(usage(format!(
            "'{}' already has a key for '{}' (new key: clef service rotate {} -e {})",
            a.name, a.environment, a.name, a.environment
        )));
    }
    let mut keys = NewKeys::new();
    let k = match &a.kms {
        Some(s) => parse_kms(s)?,
        None => new_age_key(&a.environment, &mut keys),
    };
    list[i]
        .environments
        .push((a.environment.clone(), k.clone()));
    apply(repo, list, false)?;
    let mut fields = vec![
        ("environment", Json::s(&a.environment)),
        ("provider", Json::s(k.kind())),
    ];
    if let Some((_, pk)) = keys.first() {
        fields.push(("privateKey", Json::s(pk.as_str())));
    }
    let msg = format!("'{}' now has a key for '{}'", a.name, a.environment);
    finish(a.json, "env-added", &a.name, fields, &keys, msg)
}

fn rotate(repo: &Repo, a: RotateArgs) -> Result<(), CliError> {
    let i = find(repo, &a.name)?;
    let mut list = repo.manifest.service_identities.clone();
    let mut keys = NewKeys::new();
    if let Some(e) = &a.environment
        && !matches!(list[i].key_for(e), Some(ServiceKey::Recipient(_)))
    {
        return Err(usage(format!(
            "'{}' has no age key for environment '{e}'",
            a.name
        )));
    }
    for (env, k) in list[i].environments.iter_mut() {
        if matches!(k, ServiceKey::Recipient(_)) && a.environment.as_ref().is_none_or(|e| e == env)
        {
            *k = new_age_key(env, &mut keys);
        }
    }
    apply(repo, list, true)?;
    let fields = vec![
        (
            "environments",
            Json::Arr(keys.iter().map(|(e, _)| Json::s(e)).collect()),
        ),
        ("privateKeys", keys_json(&keys)),
    ];
    let msg = format!("new keys for '{}'", a.name);
    finish(a.json, "rotated", &a.name, fields, &keys, msg)
}

fn validate(repo: &Repo, json: bool) -> Result<(), CliError> {
    let issues = service::validate(&repo.root, &repo.manifest);
    if json {
        let arr = issues
            .iter()
            .map(|i| {
                Json::Obj(vec![
                    ("severity", Json::s(i.severity)),
                    ("type", Json::s(i.code)),
                    ("identity", Json::s(&i.identity)),
                    ("environment", Json::opt(i.environment.clone())),
                    ("file", Json::opt(i.file.clone())),
                    ("message", Json::s(&i.message)),
                    ("fixCommand", Json::opt(i.fix.clone())),
                ])
            })
            .collect();
        out::print_str(&Json::Obj(vec![("issues", Json::Arr(arr))]).render())?;
    } else {
        let mut s = String::new();
        for i in &issues {
            s.push_str(&format!(
                "{}: {} [{}] {}",
                i.severity, i.identity, i.code, i.message
            ));
            if let Some(f) = &i.file {
                s.push_str(&format!(" ({f})"));
            }
            if let Some(f) = &i.fix {
                s.push_str(&format!("; fix: {f}"));
            }
            s.push('\n');
        }
        if issues.is_empty() {
            s.push_str("service identities: no issues\n");
        }
        out::print_human(&s)?;
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(code::GENERIC, ""))
    }
}
