//! What the agent holds: the last good artifact, verified, and (in cached
//! mode) its decrypted values; the status the routes report.
//!
//! Every document whose bytes differ from the loaded one goes through
//! [`clef_artifact::open`] in full (revocation, shape, expiry, hash,
//! signature, decryption) whatever its `revision`: the old agent's JIT
//! bypass (an unsigned artifact reusing the current revision was swapped in
//! unchecked) cannot happen, because nothing is skipped on a revision match.

use std::sync::{Arc, RwLock};

use clef_artifact::{Artifact, ArtifactError, Document, Plaintext, VerifyKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::log::{self, F};

#[cfg(feature = "aws")]
/// Unwraps an AWS KMS envelope's data key with the workload's own identity
/// (the AWS SDK's default credential chain: env, profile, web identity/IRSA,
/// ECS, IMDS).
pub struct KmsUnwrapper(clef_kms::AwsKms);

#[cfg(feature = "aws")]
impl KmsUnwrapper {
    /// From `CLEF_AWS_PROFILE`, `CLEF_AWS_ROLE`, `CLEF_KMS_TIMEOUT`.
    pub fn from_env() -> KmsUnwrapper {
        KmsUnwrapper(clef_kms::AwsKms::new(clef_kms::AwsOptions::from_env()))
    }
}

#[cfg(feature = "aws")]
impl clef_artifact::seal::KeyWrapper for KmsUnwrapper {
    fn provider(&self) -> &'static str {
        "aws"
    }

    fn wrap(&self, _: &str, _: &[u8]) -> Result<(String, Vec<u8>, String), ArtifactError> {
        Err(ArtifactError::Wrapper("the agent never wraps".into()))
    }

    fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, ArtifactError> {
        use base64::Engine as _;
        let st = clef_kms::AwsStanza {
            arn: key_id.to_owned(),
            enc: base64::engine::general_purpose::STANDARD.encode(wrapped),
            ..Default::default()
        };
        self.0
            .decrypt(&st)
            .map_err(|e| ArtifactError::Decrypt(format!("KMS Decrypt: {e}")))
    }
}

/// Everything needed to accept an artifact.
pub struct Verifier {
    /// The signature key; when set, unsigned artifacts are refused.
    pub verify_key: Option<VerifyKey>,
    /// age identities.
    pub ids: clef_keys::Identities,
    /// KMS unwrapper for envelope artifacts.
    pub kms: Option<Box<dyn clef_artifact::seal::KeyWrapper + Send + Sync>>,
    /// Required identity, if pinned.
    pub identity: Option<String>,
    /// Required environment, if pinned.
    pub environment: Option<String>,
}

impl Verifier {
    /// Every check and the decryption.
    pub fn open(&self, bytes: &[u8], now_ms: i64) -> Result<(Artifact, Plaintext), ArtifactError> {
        let (a, p) = clef_artifact::open(
            bytes,
            self.verify_key.as_ref(),
            &self.ids,
            self.kms
                .as_deref()
                .map(|k| k as &dyn clef_artifact::seal::KeyWrapper),
            now_ms,
        )?;
        for (want, got, what) in [
            (&self.identity, &a.identity, "identity"),
            (&self.environment, &a.environment, "environment"),
        ] {
            if let Some(w) = want
                && w != got
            {
                return Err(ArtifactError::Shape(format!(
                    "the artifact is for {what} '{got}', this agent serves '{w}'"
                )));
            }
        }
        Ok((a, p))
    }
}

/// The values of a cached-mode artifact, rendered once.
pub struct Values {
    /// The decrypted payload.
    pub plaintext: Plaintext,
    /// `GET /v1/secrets`: `{"ns":{"KEY":"value"}}`.
    pub secrets_json: Zeroizing<String>,
}

/// A verified artifact.
pub struct Loaded {
    /// SHA-256 of the document's bytes.
    pub digest: [u8; 32],
    /// The exact bytes (encrypted; for the disk cache).
    pub bytes: Vec<u8>,
    /// The artifact (its ciphertext is re-opened per request in JIT mode).
    pub artifact: Artifact,
    /// `expiresAt` in epoch ms.
    pub expires_ms: Option<i64>,
    /// `GET /v1/keys`: `["ns__KEY",…]`.
    pub keys_json: String,
    /// Cached mode only: the values.
    pub values: Option<Values>,
}

/// Why nothing can be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No artifact accepted yet.
    NotLoaded,
    /// The artifact expired, or no refresh succeeded within the TTL.
    Expired,
    /// A revocation marker was found.
    Revoked,
}

impl Unavailable {
    /// The `/v1/ready` reason.
    pub fn reason(self) -> &'static str {
        match self {
            Unavailable::NotLoaded => "not_loaded",
            Unavailable::Expired => "cache_expired",
            Unavailable::Revoked => "revoked",
        }
    }
}

struct Inner {
    loaded: Option<Arc<Loaded>>,
    last_refresh_ms: Option<i64>,
    down: Unavailable,
    /// Digest of the last document refused, so it is logged once.
    rejected: Option<[u8; 32]>,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Same bytes as loaded (or 304): the refresh time moved on.
    Unchanged,
    /// A new artifact is served.
    Refreshed,
    /// Refused; the old values stay.
    Invalid,
    /// A revocation marker: the values are gone.
    Revoked,
}

/// The agent's state, shared by the server, the refresher and `exec`.
pub struct State {
    /// JIT mode: decrypt per request.
    pub jit: bool,
    /// Cache TTL in ms (0 in JIT mode: only `expiresAt` applies).
    pub ttl_ms: i64,
    /// How artifacts are checked and opened.
    pub verifier: Verifier,
    inner: RwLock<Inner>,
    /// Bumped whenever the served values change (for `exec`).
    pub changes: tokio::sync::watch::Sender<u64>,
}

/// SHA-256 of a document.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn revision_ms(r: &str) -> Option<i64> {
    r.split('-').next()?.parse().ok()
}

fn json_array(items: &[String]) -> String {
    let mut s = String::from("[");
    for (i, k) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        clef_artifact::plaintext::write_js_string(&mut s, k);
    }
    s.push(']');
    s
}

impl State {
    /// An empty state.
    pub fn new(jit: bool, ttl_secs: u64, verifier: Verifier) -> State {
        State {
            jit,
            ttl_ms: (ttl_secs as i64).saturating_mul(1000),
            verifier,
            inner: RwLock::new(Inner {
                loaded: None,
                last_refresh_ms: None,
                down: Unavailable::NotLoaded,
                rejected: None,
            }),
            changes: tokio::sync::watch::channel(0).0,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, i: &Inner, l: &Loaded, now: i64) -> bool {
        l.expires_ms.is_some_and(|t| t < now)
            || (self.ttl_ms > 0 && i.last_refresh_ms.is_some_and(|r| now - r > self.ttl_ms))
    }

    /// The served artifact, or why there is none. An expired one is wiped
    /// here, on the request that notices (expiry does not wait for a poll).
    pub fn current(&self, now: i64) -> Result<Arc<Loaded>, Unavailable> {
        {
            let i = self.read();
            match &i.loaded {
                None => return Err(i.down),
                Some(l) if !self.expired(&i, l, now) => return Ok(l.clone()),
                Some(_) => {}
            }
        }
        let mut i = self.write();
        if let Some(l) = i.loaded.clone()
            && self.expired(&i, &l, now)
        {
            i.loaded = None;
            i.down = Unavailable::Expired;
            drop(i);
            log::error(
                "cache.expired",
                &[
                    ("revision", F::S(&l.artifact.revision)),
                    (
                        "reason",
                        F::S(if l.expires_ms.is_some_and(|t| t < now) {
                            "the artifact's expiresAt passed"
                        } else {
                            "no successful refresh within the cache TTL"
                        }),
                    ),
                ],
            );
            self.changes.send_modify(|g| *g += 1);
            return Err(Unavailable::Expired);
        }
        i.loaded.clone().ok_or(i.down)
    }

    /// Epoch ms of the last successful refresh.
    pub fn last_refresh_ms(&self) -> Option<i64> {
        self.read().last_refresh_ms
    }

    /// The digest of the loaded document.
    pub fn loaded_digest(&self) -> Option<[u8; 32]> {
        self.read().loaded.as_ref().map(|l| l.digest)
    }

    /// The loaded artifact's `expiresAt`, for the refresh schedule.
    pub fn expires_ms(&self) -> Option<i64> {
        self.read().loaded.as_ref().and_then(|l| l.expires_ms)
    }

    /// The source confirmed the loaded artifact (304, or the same bytes).
    pub fn touch(&self, now: i64) {
        let mut i = self.write();
        if i.loaded.is_some() {
            i.last_refresh_ms = Some(now);
        }
    }

    /// Checks and applies a fetched document. `fetched_ms` is when the
    /// source answered (for the disk cache: when it was fetched then).
    pub fn apply(&self, bytes: Vec<u8>, fetched_ms: i64, source: &str) -> Applied {
        let now = clef_artifact::clock::now_ms();
        let d = digest(&bytes);
        {
            let i = self.read();
            if i.loaded.as_ref().is_some_and(|l| l.digest == d) {
                drop(i);
                self.touch(fetched_ms);
                return Applied::Unchanged;
            }
        }
        // A revocation marker first: it needs no key and wipes at once.
        if let Ok(Document::Revoked(m)) = Document::parse(&bytes) {
            let mut i = self.write();
            let had = i.loaded.take();
            i.down = Unavailable::Revoked;
            i.last_refresh_ms = None;
            drop(i);
            drop(had);
            log::warn(
                "artifact.revoked",
                &[
                    ("source", F::S(source)),
                    ("identity", F::S(&m.identity)),
                    ("environment", F::S(&m.environment)),
                    ("revokedAt", F::S(&m.revoked_at)),
                ],
            );
            self.changes.send_modify(|g| *g += 1);
            return Applied::Revoked;
        }
        match self.check(&bytes, now) {
            Ok((artifact, plaintext)) => {
                let keys_json = json_array(&plaintext.keys());
                let key_count = plaintext.key_count();
                let values = (!self.jit).then(|| Values {
                    secrets_json: plaintext.to_json(),
                    plaintext,
                });
                let loaded = Arc::new(Loaded {
                    digest: d,
                    bytes,
                    expires_ms: artifact.expires_ms(),
                    artifact,
                    keys_json,
                    values,
                });
                let rev = loaded.artifact.revision.clone();
                let mut i = self.write();
                i.loaded = Some(loaded);
                i.last_refresh_ms = Some(fetched_ms);
                i.rejected = None;
                drop(i);
                log::info(
                    "artifact.refreshed",
                    &[
                        ("source", F::S(source)),
                        ("revision", F::S(&rev)),
                        ("keys", F::N(key_count as i64)),
                        ("mode", F::S(if self.jit { "jit" } else { "cached" })),
                    ],
                );
                self.changes.send_modify(|g| *g += 1);
                Applied::Refreshed
            }
            Err(e) => {
                let mut i = self.write();
                let first = i.rejected != Some(d);
                i.rejected = Some(d);
                let kept = i.loaded.as_ref().map(|l| l.artifact.revision.clone());
                drop(i);
                if first {
                    log::error(
                        "artifact.invalid",
                        &[
                            ("source", F::S(source)),
                            ("reason", F::S(&e)),
                            ("kept", F::S(kept.as_deref().unwrap_or(""))),
                        ],
                    );
                }
                Applied::Invalid
            }
        }
    }

    /// The full check of a new document (decrypting it once, also in JIT
    /// mode, so a document that cannot be opened is never swapped in), then
    /// the agent's own rules: the same identity and environment as the
    /// loaded one, and no older revision (a replayed artifact).
    fn check(&self, bytes: &[u8], now: i64) -> Result<(Artifact, Plaintext), String> {
        let (a, p) = self.verifier.open(bytes, now).map_err(|e| e.to_string())?;
        if let Some(l) = self.read().loaded.clone() {
            let cur = &l.artifact;
            if cur.identity != a.identity || cur.environment != a.environment {
                return Err(format!(
                    "the artifact is for {}/{}, the loaded one for {}/{}",
                    a.identity, a.environment, cur.identity, cur.environment
                ));
            }
            if let (Some(new), Some(old)) = (revision_ms(&a.revision), revision_ms(&cur.revision))
                && new < old
            {
                return Err(format!(
                    "revision {} is older than the loaded {} (a replayed artifact?)",
                    a.revision, cur.revision
                ));
            }
        }
        Ok((a, p))
    }

    /// In JIT mode: decrypts the loaded artifact for one request (the
    /// checks ran when it was loaded; the ciphertext cannot change since).
    pub fn open_values(&self, l: &Loaded) -> Result<Plaintext, ArtifactError> {
        let bytes = clef_artifact::seal::open(
            &l.artifact,
            &self.verifier.ids,
            self.verifier
                .kms
                .as_deref()
                .map(|k| k as &dyn clef_artifact::seal::KeyWrapper),
        )?;
        Plaintext::from_json(&bytes)
    }
}
