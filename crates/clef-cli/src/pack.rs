//! `clef pack`, `clef revoke` and `clef keygen signing`: the artifact a
//! workload reads, its revocation marker, and the key that signs it.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use clef_artifact::{Artifact, Ed25519Signer, Plaintext, RevocationMarker, Signer, clock, seal};
use clef_core::manifest::ServiceKey;
use clef_doc::Item;

use crate::error::{CliError, code};
use crate::out::{self, Json};
use crate::repo::{self, Repo};

/// `clef pack <identity> <env>`.
#[derive(Args, Debug)]
pub struct PackArgs {
    /// The service identity (clef.yaml `service_identities`).
    pub identity: String,
    /// The environment.
    pub environment: String,
    /// Where to deliver: json-envelope (a file), s3://bucket/key (the artifact),
    /// aws-secrets-manager or aws-parameter-store (the values).
    #[arg(short = 'b', long = "backend", default_value = "json-envelope")]
    pub backend: String,
    /// Backend option KEY=VALUE (repeatable).
    #[arg(long = "backend-opt", value_name = "K=V")]
    pub backend_opt: Vec<String>,
    /// Output file (json-envelope). Default: .clef/packed/<identity>/<env>.age.json
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Seconds until the artifact expires (sets expiresAt).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl: Option<u64>,
    /// Ed25519 signing key, base64 PKCS#8 DER (else CLEF_SIGNING_KEY).
    #[arg(
        long = "signing-key",
        value_name = "BASE64",
        conflicts_with = "signing_key_file"
    )]
    pub signing_key: Option<String>,
    /// A file holding the signing key (keeps it out of the process list).
    #[arg(long = "signing-key-file", value_name = "PATH")]
    pub signing_key_file: Option<PathBuf>,
    /// KMS ECDSA signing key (else CLEF_SIGNING_KMS_KEY).
    #[arg(long = "signing-kms-key", value_name = "ARN", conflicts_with_all = ["signing_key", "signing_key_file"])]
    pub signing_kms_key: Option<String>,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `clef revoke <identity> <env>`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The service identity.
    pub identity: String,
    /// The environment.
    pub environment: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `clef keygen …`.
#[derive(Subcommand, Debug)]
pub enum KeygenCmd {
    /// A new Ed25519 key pair for signing artifacts: the private key (base64
    /// PKCS#8 DER, for CLEF_SIGNING_KEY) and the public key (base64 SPKI DER,
    /// for CLEF_AGENT_VERIFY_KEY). Printed once; nothing is written.
    Signing {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::new(code::USAGE, msg)
}

/// The Ed25519 signer named by the flags or CLEF_SIGNING_KEY, if any.
fn signer(a: &PackArgs) -> Result<Option<Ed25519Signer>, CliError> {
    let text = match (&a.signing_key, &a.signing_key_file) {
        (Some(k), _) => Some(zeroize::Zeroizing::new(k.clone())),
        (None, Some(p)) => Some(zeroize::Zeroizing::new(
            std::fs::read_to_string(p).map_err(|e| {
                CliError::new(
                    code::READ,
                    format!("{}: cannot read: {}", p.display(), e.kind()),
                )
            })?,
        )),
        (None, None) => repo::env("CLEF_SIGNING_KEY")
            .filter(|v| !v.trim().is_empty())
            .map(zeroize::Zeroizing::new),
    };
    text.map(|t| Ed25519Signer::from_pkcs8_base64(t.trim()).map_err(|e| usage(e.to_string())))
        .transpose()
}

/// Decrypts the identity's cells for `env` into the payload (in memory).
pub fn plaintext(repo: &Repo, cells: &[clef_core::Cell]) -> Result<Plaintext, CliError> {
    let ids = repo.identities()?;
    let mut p = Plaintext::default();
    for c in cells {
        if !c.path_in(&repo.root).exists() {
            continue;
        }
        let (_, _, plain) = crate::secrets::decrypt_cell(repo, c, &ids)?;
        let mut bucket = Vec::new();
        if let Some(doc) = plain.docs.first() {
            for item in &doc.0 {
                let Item::Entry(k, v) = item else { continue };
                let t = clef_core::cell::value_text(v).ok_or_else(|| {
                    usage(format!(
                        "{}: key '{k}' holds a nested value; an artifact holds strings only",
                        c.file.display()
                    ))
                })?;
                bucket.push((k.clone(), t));
            }
        }
        p.namespaces.push((c.namespace.clone(), bucket));
    }
    Ok(p)
}

/// Where `clef pack` delivers.
enum Backend {
    /// A file (json-envelope).
    File,
    /// An AWS backend: its name and options (checked, not yet sent).
    Cloud {
        name: String,
        opts: Vec<(String, String)>,
    },
}

impl Backend {
    /// `-b` and `--backend-opt k=v`, checked against what each backend takes.
    fn parse(name: &str, raw: &[String]) -> Result<Backend, CliError> {
        let mut opts = Vec::new();
        for o in raw {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| usage(format!("--backend-opt '{o}': expected KEY=VALUE")))?;
            opts.push((k.to_owned(), v.to_owned()));
        }
        let allowed: &[&str] = match name {
            "json-envelope" => &[],
            n if n.starts_with("s3://") => {
                clef_artifact::delivery::s3_location(n).map_err(|e| usage(e.to_string()))?;
                &["region"]
            }
            "aws-secrets-manager" => &["prefix", "mode", "region", "prune", "recovery-days"],
            "aws-parameter-store" => &[
                "prefix",
                "region",
                "kms-key-id",
                "tier",
                "tag-prefix",
                "prune",
            ],
            other => {
                return Err(usage(format!(
                    "unknown backend '{other}' (json-envelope, s3://bucket/key, aws-secrets-manager, aws-parameter-store)"
                )));
            }
        };
        if let Some((k, _)) = opts.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(usage(format!(
                "--backend-opt {k}: not an option of {name} ({})",
                if allowed.is_empty() {
                    "it takes none".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        if name == "json-envelope" {
            return Ok(Backend::File);
        }
        let get = |k: &str| opts.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        if name.starts_with("aws-") && get("prefix").is_none() {
            return Err(usage(format!("{name} needs --backend-opt prefix=…")));
        }
        if name == "aws-secrets-manager" {
            let mode = get("mode").unwrap_or("json");
            if mode != "json" && mode != "single" {
                return Err(usage(format!("mode '{mode}': json or single")));
            }
            if mode == "json" && get("prune").is_some() {
                return Err(usage("prune is only allowed with mode=single"));
            }
            if let Some(d) = get("recovery-days")
                && !d.parse::<u32>().is_ok_and(|d| (7..=30).contains(&d))
            {
                return Err(usage(format!("recovery-days '{d}': 7 to 30")));
            }
        }
        for k in ["prune"] {
            if let Some(v) = get(k)
                && v != "true"
                && v != "false"
            {
                return Err(usage(format!("{k} '{v}': true or false")));
            }
        }
        Ok(Backend::Cloud {
            name: name.to_owned(),
            opts,
        })
    }

    /// The payload checks of the cloud backends (sizes, names, tiers).
    fn check(&self, p: &Plaintext) -> Result<(), CliError> {
        let Backend::Cloud { name, opts } = self else {
            return Ok(());
        };
        let get = |k: &str| opts.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        let r = match name.as_str() {
            "aws-secrets-manager" if get("mode").unwrap_or("json") == "json" => {
                clef_artifact::delivery::secrets_manager_json(p).map(drop)
            }
            "aws-parameter-store" => clef_artifact::delivery::parameters(
                p,
                get("prefix").unwrap_or_default(),
                get("tier").unwrap_or("Standard"),
            )
            .map(drop),
            _ => Ok(()),
        };
        r.map_err(|e| usage(format!("{name}: {e}")))
    }
}

/// The default place of an identity's artifact in the repository.
fn packed_path(root: &Path, identity: &str, env: &str) -> PathBuf {
    root.join(".clef")
        .join("packed")
        .join(identity)
        .join(format!("{env}.age.json"))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::new(
            code::WRITE,
            format!("{}: cannot write: {}", path.display(), e.kind()),
        )
    };
    // The atomic writer renames over the path: never over a device, a pipe
    // or a directory (`-o /dev/null` must not replace /dev/null).
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{}: not a regular file; refusing to replace it",
                path.display()
            ),
        ));
    }
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(fail)?;
    }
    clef_sops::io::atomic_write(path, bytes, false).map_err(fail)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The signer named by the flags or the environment: Ed25519 or KMS ECDSA
/// (for any identity: the old tool refused KMS signing for age identities).
fn any_signer(a: &PackArgs) -> Result<Option<Box<dyn Signer>>, CliError> {
    let kms = a
        .signing_kms_key
        .clone()
        .or_else(|| repo::env("CLEF_SIGNING_KMS_KEY").filter(|v| !v.trim().is_empty()));
    match kms {
        Some(k) if a.signing_key.is_some() || a.signing_key_file.is_some() => {
            let _ = k;
            Err(usage(
                "--signing-key and --signing-kms-key (or CLEF_SIGNING_KMS_KEY) are mutually exclusive",
            ))
        }
        Some(k) => {
            if clef_kms::AwsStanza::from_arg(&k, &[], "")
                .region()
                .is_none()
            {
                return Err(usage(format!(
                    "--signing-kms-key '{k}': not an AWS KMS key or alias ARN"
                )));
            }
            Ok(Some(Box::new(crate::cloud::kms_signer(k))))
        }
        None => Ok(signer(a)?.map(|s| Box::new(s) as Box<dyn Signer>)),
    }
}

fn cloud_fail(backend: &str, e: impl std::fmt::Display) -> CliError {
    CliError::new(code::GENERIC, format!("{backend}: {e}"))
}

/// Runs `clef pack`.
pub fn pack(dir: Option<&Path>, a: PackArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let scope = repo
        .manifest
        .service_scope(&a.identity, &a.environment)
        .map_err(|e| usage(e.to_string()))?;
    let backend = Backend::parse(&a.backend, &a.backend_opt)?;
    let signer = any_signer(&a)?;
    let p = plaintext(&repo, &scope.cells)?;
    // every payload check before anything is encrypted, signed or sent
    backend.check(&p)?;
    let now = clock::now_ms();
    let (keys, revision, size, location) = match &backend {
        Backend::Cloud { name, opts } if !name.starts_with("s3://") => {
            let revision = clock::revision(now);
            let location = deliver_values(&a, name, opts, &p, &revision)?;
            (p.keys(), revision, 0usize, location)
        }
        _ => {
            let (ct, envelope) = match scope.key {
                ServiceKey::Recipient(r) => (
                    seal::seal_age(r, p.to_json().as_bytes())
                        .map_err(|e| CliError::new(code::GENERIC, e.to_string()))?,
                    None,
                ),
                ServiceKey::Kms { provider, key_id } if provider == "aws" => {
                    let w = crate::cloud::KmsWrapper::from_env();
                    let (ct, env) = seal::seal_envelope(&w, key_id, p.to_json().as_bytes())
                        .map_err(|e| CliError::new(code::GENERIC, e.to_string()))?;
                    (ct, Some(env))
                }
                ServiceKey::Kms { provider, .. } => {
                    return Err(usage(format!(
                        "'{}' uses {provider} KMS in '{}': only AWS KMS envelopes are supported",
                        a.identity, a.environment
                    )));
                }
            };
            let mut art = Artifact::new(&a.identity, &a.environment, ct, envelope, a.ttl, now);
            if let Some(s) = &signer {
                art.sign(s.as_ref())
                    .map_err(|e| CliError::new(code::GENERIC, e.to_string()))?;
            }
            let json = art.to_json();
            let location = match &backend {
                Backend::Cloud { name, opts } => {
                    let (bucket, key) = clef_artifact::delivery::s3_location(name)
                        .map_err(|e| usage(e.to_string()))?;
                    let region = opts
                        .iter()
                        .find(|(k, _)| k == "region")
                        .map(|(_, v)| v.as_str());
                    clef_kms::AwsApi::from_env(region)
                        .put_object(&bucket, &key, json.as_bytes(), "application/json")
                        .map_err(|e| cloud_fail(name, e))?;
                    name.clone()
                }
                Backend::File => {
                    let out_path = a
                        .output
                        .clone()
                        .unwrap_or_else(|| packed_path(&repo.root, &a.identity, &a.environment));
                    write_file(&out_path, json.as_bytes())?;
                    absolute(&out_path).display().to_string()
                }
            };
            (p.keys(), art.revision.clone(), json.len(), location)
        }
    };
    let algorithm = signer.as_ref().map(|s| s.algorithm());
    if a.json {
        out::print_str(
            &Json::Obj(vec![
                ("identity", Json::s(&a.identity)),
                ("environment", Json::s(&a.environment)),
                ("keyCount", Json::Num(keys.len() as i64)),
                ("namespaceCount", Json::Num(p.namespaces.len() as i64)),
                ("artifactSize", Json::Num(size as i64)),
                ("revision", Json::s(&revision)),
                ("output", Json::s(&location)),
                ("backend", Json::s(&a.backend)),
                ("location", Json::s(&location)),
                ("keys", Json::Arr(keys.into_iter().map(Json::s).collect())),
                ("signed", Json::Bool(algorithm.is_some())),
                (
                    "signatureAlgorithm",
                    Json::opt(algorithm.map(str::to_owned)),
                ),
            ])
            .render(),
        )
    } else {
        out::print_str(&format!(
            "packed {} key(s) from {} namespace(s) for {}/{} -> {} (revision {}{})\n",
            p.key_count(),
            p.namespaces.len(),
            a.identity,
            a.environment,
            location,
            revision,
            match algorithm {
                Some(al) => format!(", signed {al}"),
                None => ", unsigned".to_owned(),
            }
        ))
    }
}

/// Delivers the values themselves (Secrets Manager, Parameter Store); returns the location.
fn deliver_values(
    a: &PackArgs,
    name: &str,
    opts: &[(String, String)],
    p: &Plaintext,
    revision: &str,
) -> Result<String, CliError> {
    let get = |k: &str| opts.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    let prefix = get("prefix").unwrap_or_default();
    let api = clef_kms::AwsApi::from_env(get("region"));
    let tag_prefix = get("tag-prefix").unwrap_or("clef:");
    let tags = vec![
        (format!("{tag_prefix}identity"), a.identity.clone()),
        (format!("{tag_prefix}environment"), a.environment.clone()),
        (format!("{tag_prefix}revision"), revision.to_owned()),
    ];
    let prune = get("prune") == Some("true");
    if name == "aws-secrets-manager" {
        if get("mode").unwrap_or("json") == "json" {
            let body = clef_artifact::delivery::secrets_manager_json(p)
                .map_err(|e| usage(format!("{name}: {e}")))?;
            let body = zeroize::Zeroizing::new(body.to_string());
            clef_kms::deliver::secrets_manager(
                &api,
                &[(prefix.to_owned(), &body)],
                &tags,
                None,
                None,
            )
            .map_err(|e| cloud_fail(name, e))?;
        } else {
            let prefix = prefix.trim_end_matches('/');
            let flat = p.flat();
            let entries: Vec<_> = flat
                .iter()
                .map(|(k, v)| (format!("{prefix}/{k}"), *v))
                .collect();
            let days = get("recovery-days")
                .and_then(|d| d.parse().ok())
                .unwrap_or(30);
            clef_kms::deliver::secrets_manager(
                &api,
                &entries,
                &tags,
                Some(prefix),
                prune.then_some(days),
            )
            .map_err(|e| cloud_fail(name, e))?;
        }
    } else {
        let tier = get("tier").unwrap_or("Standard");
        let entries = clef_artifact::delivery::parameters(p, prefix, tier)
            .map_err(|e| usage(format!("{name}: {e}")))?;
        let o = clef_kms::deliver::ParameterOptions {
            prefix: prefix.to_owned(),
            kms_key_id: get("kms-key-id").map(str::to_owned),
            tier: tier.to_owned(),
            tags,
            prune,
        };
        clef_kms::deliver::parameter_store(&api, &entries, &o).map_err(|e| cloud_fail(name, e))?;
    }
    Ok(format!("{name}:{prefix}"))
}

/// Runs `clef revoke`.
pub fn revoke(dir: Option<&Path>, a: RevokeArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    repo.manifest
        .service_scope(&a.identity, &a.environment)
        .map_err(|e| usage(e.to_string()))?;
    let path = packed_path(&repo.root, &a.identity, &a.environment);
    let m = RevocationMarker::new(&a.identity, &a.environment, clock::now_ms());
    write_file(&path, m.to_json().as_bytes())?;
    let rel = path
        .strip_prefix(&repo.root)
        .unwrap_or(&path)
        .display()
        .to_string();
    if a.json {
        out::print_str(
            &Json::Obj(vec![
                ("identity", Json::s(&a.identity)),
                ("environment", Json::s(&a.environment)),
                ("revokedAt", Json::s(&m.revoked_at)),
                ("markerPath", Json::s(&rel)),
            ])
            .render(),
        )
    } else {
        out::print_str(&format!(
            "revoked {}/{}: {rel}\n  VCS delivery: git add {rel} && git commit -m \"revoke({}): <reason>\" && git push\n  HTTP/S3 delivery: upload {rel} in place of the current artifact\n",
            a.identity, a.environment, a.identity
        ))
    }
}

/// Runs `clef keygen`.
pub fn keygen(c: KeygenCmd) -> Result<(), CliError> {
    let KeygenCmd::Signing { json } = c;
    let k = Ed25519Signer::generate();
    let private = k.to_pkcs8_base64();
    let public = k.public_spki_base64();
    let text = if json {
        zeroize::Zeroizing::new(
            Json::Obj(vec![
                ("algorithm", Json::s("Ed25519")),
                ("privateKey", Json::s(private.as_str())),
                ("publicKey", Json::s(&public)),
            ])
            .render(),
        )
    } else {
        zeroize::Zeroizing::new(format!(
            "# Ed25519 signing key pair. The private key is shown once: store it in your CI secrets.\nCLEF_SIGNING_KEY={}\nCLEF_AGENT_VERIFY_KEY={public}\n",
            private.as_str()
        ))
    };
    out::print_str(&text)
}
