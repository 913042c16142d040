//! `clef envelope inspect|verify|decrypt`: debugging a packed artifact.
//!
//! Exit codes (the TypeScript Clef's): inspect 1 on read/parse errors;
//! verify 0 pass, 1 error, 2 hash mismatch, 3 bad or missing signature
//! (when a key is given), 5 revocation marker; decrypt 2 hash mismatch,
//! 3 bad signature (with --signer-key), 4 key/decrypt/unknown-key errors,
//! 5 expired or revoked, 1 anything else.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use clef_artifact::{Artifact, ArtifactError, Document, VerifyKey, clock};

use crate::error::CliError;
use crate::out::{self, Json, MASK};

/// `clef envelope …`.
#[derive(Subcommand, Debug)]
pub enum EnvelopeCmd {
    /// Show an artifact's fields (no key needed).
    Inspect(SourceArgs),
    /// Check the ciphertext hash and, with a key, the signature.
    Verify(VerifyArgs),
    /// Decrypt an artifact; values masked unless --reveal or --key.
    Decrypt(DecryptArgs),
}

/// An artifact to read.
#[derive(Args, Debug)]
pub struct SourceArgs {
    /// The artifact file (`-` for stdin).
    pub source: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The public key that verifies signatures.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// Ed25519 or ECDSA P-256 public key: base64 SPKI DER or PEM.
    #[arg(long = "signer-key", conflicts_with = "signer_key_file")]
    pub signer_key: Option<String>,
    /// A file holding that key.
    #[arg(long = "signer-key-file", conflicts_with = "signer_kms_key")]
    pub signer_key_file: Option<PathBuf>,
    /// An AWS KMS signing key (ARN): its public key comes from GetPublicKey.
    #[arg(
        long = "signer-kms-key",
        value_name = "ARN",
        conflicts_with = "signer_key"
    )]
    pub signer_kms_key: Option<String>,
}

/// `verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    src: SourceArgs,
    #[command(flatten)]
    signer: KeyArgs,
}

/// `decrypt`.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    src: SourceArgs,
    #[command(flatten)]
    signer: KeyArgs,
    /// An age identity file (else CLEF_AGE_KEY_FILE, CLEF_AGE_KEY and the sops sources).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Print every value (a warning goes to stderr).
    #[arg(long, conflicts_with = "key")]
    reveal: bool,
    /// Print one value, named ns__KEY.
    #[arg(long)]
    key: Option<String>,
}

/// A failure with its code name (for --json) and exit code.
struct Fail {
    code: &'static str,
    exit: i32,
    msg: String,
}

fn fail(code: &'static str, exit: i32, msg: impl Into<String>) -> Fail {
    Fail {
        code,
        exit,
        msg: msg.into(),
    }
}

fn read_source(p: &Path) -> Result<Vec<u8>, Fail> {
    let r = if p == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map(|_| b)
    } else {
        std::fs::read(p)
    };
    r.map_err(|e| fail("fetch_failed", 1, format!("cannot read: {}", e.kind())))
}

fn parse(p: &Path) -> Result<Document, Fail> {
    let raw = read_source(p)?;
    Document::parse(&raw).map_err(|e| match e {
        ArtifactError::Json(_) => fail("parse_failed", 1, e.to_string()),
        _ => fail("invalid_artifact", 1, e.to_string()),
    })
}

fn load_key(k: &KeyArgs) -> Result<Option<VerifyKey>, Fail> {
    let text = match (&k.signer_key, &k.signer_key_file) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| {
            fail(
                "signer_key_invalid",
                1,
                format!("{}: cannot read: {}", p.display(), e.kind()),
            )
        })?,
        (None, None) => {
            return match &k.signer_kms_key {
                Some(arn) => crate::cloud::kms_verify_key(arn)
                    .map(Some)
                    .map_err(|e| fail("signer_key_invalid", 1, e)),
                None => Ok(None),
            };
        }
    };
    VerifyKey::from_spki_base64(text.trim())
        .map(Some)
        .map_err(|e| fail("signer_key_invalid", 1, e.to_string()))
}

fn error_obj(f: &Fail) -> Json {
    Json::Obj(vec![
        ("code", Json::s(f.code)),
        ("message", Json::s(&f.msg)),
    ])
}

/// Prints a failure (JSON or one line) and returns its exit code.
fn report(src: &Path, json: bool, f: Fail, body: Vec<(&'static str, Json)>) -> CliError {
    if json {
        let mut o = vec![("source", Json::s(src.display().to_string()))];
        o.extend(body);
        o.push(("error", error_obj(&f)));
        let _ = out::print_str(&Json::Obj(o).render());
        CliError::new(f.exit, "")
    } else {
        CliError::new(f.exit, format!("{}: {}: {}", src.display(), f.code, f.msg))
    }
}

fn opt_s(v: &Option<String>) -> Json {
    Json::opt(v.clone())
}

/// Runs `clef envelope …`.
pub fn run(c: EnvelopeCmd) -> Result<(), CliError> {
    match c {
        EnvelopeCmd::Inspect(a) => inspect(a),
        EnvelopeCmd::Verify(a) => verify(a),
        EnvelopeCmd::Decrypt(a) => decrypt(a),
    }
}

fn inspect(a: SourceArgs) -> Result<(), CliError> {
    let doc = parse(&a.source).map_err(|f| report(&a.source, a.json, f, vec![]))?;
    let now = clock::now_ms();
    let (art, revoked) = match doc {
        Document::Artifact(x) => (*x, None),
        Document::Revoked(m) => {
            let fields = vec![
                ("source", Json::s(a.source.display().to_string())),
                ("version", Json::Num(1)),
                ("identity", Json::s(&m.identity)),
                ("environment", Json::s(&m.environment)),
                ("revokedAt", Json::s(&m.revoked_at)),
                ("revoked", Json::Bool(true)),
                ("error", Json::Null),
            ];
            return print_fields(a.json, fields);
        }
    };
    let _: Option<()> = revoked;
    let bytes = base64_len(&art.ciphertext);
    let expired = art.expires_ms().map(|t| t < now);
    let envelope = match &art.envelope {
        None => Json::Obj(vec![("provider", Json::s("age")), ("kms", Json::Null)]),
        Some(e) => Json::Obj(vec![
            ("provider", Json::s(&e.provider)),
            (
                "kms",
                Json::Obj(vec![
                    ("provider", Json::s(&e.provider)),
                    ("keyId", Json::s(&e.key_id)),
                    ("algorithm", Json::s(&e.algorithm)),
                ]),
            ),
        ]),
    };
    let fields = vec![
        ("source", Json::s(a.source.display().to_string())),
        ("version", Json::Num(1)),
        ("identity", Json::s(&art.identity)),
        ("environment", Json::s(&art.environment)),
        ("packedAt", Json::s(&art.packed_at)),
        (
            "packedAtAgeMs",
            clock::parse_ms(&art.packed_at).map_or(Json::Null, |t| Json::Num(now - t)),
        ),
        ("revision", Json::s(&art.revision)),
        ("ciphertextHash", Json::s(&art.ciphertext_hash)),
        ("ciphertextHashVerified", Json::Bool(art.hash_ok())),
        (
            "ciphertextBytes",
            bytes.map_or(Json::Null, |n| Json::Num(n as i64)),
        ),
        ("expiresAt", opt_s(&art.expires_at)),
        ("expired", expired.map_or(Json::Null, Json::Bool)),
        ("revokedAt", Json::Null),
        ("revoked", Json::Bool(false)),
        ("envelope", envelope),
        (
            "signature",
            Json::Obj(vec![
                ("present", Json::Bool(art.signature.is_some())),
                ("algorithm", opt_s(&art.signature_algorithm)),
                ("verified", Json::Null),
            ]),
        ),
        ("error", Json::Null),
    ];
    print_fields(a.json, fields)
}

/// Decoded length of padded base64 text (None when the length is impossible).
fn base64_len(s: &str) -> Option<usize> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let pad = s.bytes().rev().take_while(|&b| b == b'=').count();
    (s.len() / 4 * 3).checked_sub(pad)
}

/// JSON, or `name: value` lines for people.
fn print_fields(json: bool, fields: Vec<(&'static str, Json)>) -> Result<(), CliError> {
    if json {
        return out::print_str(&Json::Obj(fields).render());
    }
    let mut s = String::new();
    for (k, v) in fields {
        if matches!(v, Json::Null) || k == "source" || k == "error" {
            continue;
        }
        let text = match v {
            Json::Str(t) => t.to_string(),
            other => {
                let r = other.render();
                r.trim_end().to_owned()
            }
        };
        s.push_str(&format!("{k:<24}{text}\n"));
    }
    out::print_str(&s)
}

fn verify(a: VerifyArgs) -> Result<(), CliError> {
    let src = &a.src.source;
    let json = a.src.json;
    let skipped = || -> Vec<(&'static str, Json)> { vec![] };
    let key = load_key(&a.signer).map_err(|f| report(src, json, f, skipped()))?;
    let art = match parse(src).map_err(|f| report(src, json, f, skipped()))? {
        Document::Artifact(x) => *x,
        Document::Revoked(m) => {
            let f = fail(
                "revoked",
                5,
                format!("revocation marker (revoked at {})", m.revoked_at),
            );
            return Err(report(src, json, f, vec![("overall", Json::s("fail"))]));
        }
    };
    let hash = if art.hash_ok() { "ok" } else { "mismatch" };
    let sig = match (&key, &art.signature) {
        (None, None) => "absent",
        (None, Some(_)) => "not_verified",
        (Some(_), None) => "invalid",
        (Some(k), Some(_)) => {
            if art.verify_signature(k).is_ok() {
                "valid"
            } else {
                "invalid"
            }
        }
    };
    let now = clock::now_ms();
    let expiry = match art.expires_ms() {
        None => "absent",
        Some(t) if t < now => "expired",
        Some(_) => "ok",
    };
    let overall = if hash == "ok" && sig != "invalid" {
        "pass"
    } else {
        "fail"
    };
    let checks = Json::Obj(vec![
        ("hash", Json::Obj(vec![("status", Json::s(hash))])),
        (
            "signature",
            Json::Obj(vec![
                ("status", Json::s(sig)),
                (
                    "algorithm",
                    match &key {
                        Some(k) => Json::s(k.algorithm()),
                        None => opt_s(&art.signature_algorithm),
                    },
                ),
            ]),
        ),
        (
            "expiry",
            Json::Obj(vec![
                ("status", Json::s(expiry)),
                ("expiresAt", opt_s(&art.expires_at)),
            ]),
        ),
        (
            "revocation",
            Json::Obj(vec![
                ("status", Json::s("absent")),
                ("revokedAt", Json::Null),
            ]),
        ),
    ]);
    let exit = match (hash, sig) {
        ("mismatch", _) => 2,
        (_, "invalid") => 3,
        _ => 0,
    };
    if json {
        out::print_str(
            &Json::Obj(vec![
                ("source", Json::s(src.display().to_string())),
                ("checks", checks),
                ("overall", Json::s(overall)),
                ("error", Json::Null),
            ])
            .render(),
        )?;
    } else {
        let why = match (hash, sig, &art.signature) {
            (_, "invalid", None) => " (unsigned, but a key was given)",
            _ => "",
        };
        out::print_str(&format!(
            "hash       {hash}\nsignature  {sig}{why}\nexpiry     {expiry}{}\noverall    {overall}\n",
            art.expires_at
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ))?;
    }
    if exit == 0 {
        Ok(())
    } else {
        Err(CliError::new(exit, ""))
    }
}

fn decrypt_fail(e: ArtifactError) -> Fail {
    match e {
        ArtifactError::HashMismatch => fail("hash_mismatch", 2, e.to_string()),
        ArtifactError::Expired(_) => fail("expired", 5, e.to_string()),
        ArtifactError::Revoked(_) => fail("revoked", 5, e.to_string()),
        ArtifactError::BadSignature
        | ArtifactError::Unsigned
        | ArtifactError::AlgorithmMismatch { .. } => fail("signature_invalid", 3, e.to_string()),
        ArtifactError::Json(_) => fail("parse_failed", 1, e.to_string()),
        ArtifactError::Shape(_) => fail("invalid_artifact", 1, e.to_string()),
        _ => fail("decrypt_failed", 4, e.to_string()),
    }
}

fn decrypt(a: DecryptArgs) -> Result<(), CliError> {
    let src = &a.src.source;
    let json = a.src.json;
    let key = load_key(&a.signer).map_err(|f| report(src, json, f, vec![]))?;
    let ids = match &a.identity {
        Some(p) => {
            let mut ids = clef_keys::Identities::empty();
            ids.add_file(p).map(|()| ids)
        }
        None => clef_keys::Identities::discover(),
    }
    .map_err(|e| {
        report(
            src,
            json,
            fail("key_resolution_failed", 4, e.to_string()),
            vec![],
        )
    })?;
    let raw = read_source(src).map_err(|f| report(src, json, f, vec![]))?;
    let (_, p): (Artifact, _) = clef_artifact::open(
        &raw,
        key.as_ref(),
        &ids,
        Some(&crate::cloud::KmsWrapper::from_env()),
        clock::now_ms(),
    )
    .map_err(|e| report(src, json, decrypt_fail(e), vec![]))?;
    let flat = p.flat();
    let mut keys: Vec<String> = flat.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    if let Some(k) = &a.key
        && !keys.contains(k)
    {
        let f = fail(
            "unknown_key",
            4,
            format!("key \"{k}\" is not in the artifact"),
        );
        return Err(report(src, json, f, vec![]));
    }
    let shown = |name: &str| a.reveal || a.key.as_deref() == Some(name);
    if a.reveal || a.key.is_some() {
        eprintln!(
            "clef: warning: printing {} in clear text",
            a.key
                .as_deref()
                .map_or("every secret value".to_owned(), |k| format!(
                    "the value of {k}"
                ))
        );
    }
    if json {
        let values = if a.reveal || a.key.is_some() {
            Json::Map(
                flat.iter()
                    .filter(|(k, _)| shown(k))
                    .map(|(k, v)| (k.clone(), Json::s(v.as_str())))
                    .collect(),
            )
        } else {
            Json::Null
        };
        let text = zeroize::Zeroizing::new(
            Json::Obj(vec![
                ("source", Json::s(src.display().to_string())),
                ("status", Json::s("ok")),
                ("error", Json::Null),
                ("revealed", Json::Bool(a.reveal || a.key.is_some())),
                ("keys", Json::Arr(keys.iter().map(Json::s).collect())),
                ("values", values),
            ])
            .render(),
        );
        return out::print_str(&text);
    }
    let mut s = zeroize::Zeroizing::new(String::new());
    for (k, v) in &flat {
        s.push_str(k);
        s.push('=');
        s.push_str(if shown(k) { v.as_str() } else { MASK });
        s.push('\n');
    }
    out::print_str(&s)
}
