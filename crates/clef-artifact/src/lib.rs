//! The packed runtime artifact: what `clef pack` writes and a workload's
//! agent reads. Wire-compatible with the TypeScript Clef (`version: 1`,
//! the `clef-sig-v3` signature payload).
//!
//! * [`artifact`]: the JSON document (field order, pretty layout, strict
//!   shape guard, revocation markers), `ciphertextHash`, the signed payload.
//! * [`plaintext`]: the `{namespace: {KEY: value}}` payload, zeroized.
//! * [`seal`]: the two encryptions: binary age to one recipient, or
//!   AES-256-GCM under a fresh data key (12-byte IV, separate tag) that a
//!   [`seal::KeyWrapper`] (a KMS) wraps.
//! * [`sign`]: Ed25519 (base64 PKCS#8 / SPKI DER, as Node exports them) and
//!   ECDSA P-256 verification; the algorithm always comes from the key.
//! * [`delivery`]: what the cloud backends deliver, checked before sending.
//! * [`clock`]: ISO-8601 millisecond timestamps and `revision` ids.
//!
//! [`open`] runs the checks a reader must run, in the order that cannot be
//! bypassed: revocation, shape, expiry, hash, signature, then decryption.
//! Errors name fields and reasons, never a value.
#![deny(missing_docs)]

pub mod artifact;
pub mod clock;
pub mod delivery;
pub mod plaintext;
pub mod seal;
pub mod sign;

pub use artifact::{Artifact, Document, Envelope, RevocationMarker};
pub use plaintext::Plaintext;
pub use sign::{DigestSigner, Ed25519Signer, Signer, VerifyKey};

/// What can go wrong. Never carries a secret value or key material.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The text is not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// JSON, but not a packed artifact (the shape guard).
    #[error("not a packed artifact: {0}")]
    Shape(String),
    /// `ciphertextHash` does not match `ciphertext`.
    #[error("ciphertextHash does not match the ciphertext (tampered or truncated)")]
    HashMismatch,
    /// The signature does not verify with the key.
    #[error(
        "the signature does not verify with the given key (a signed field was changed, or another key signed it)"
    )]
    BadSignature,
    /// A verify key was given but the artifact carries no signature.
    #[error("the artifact is not signed, but a verify key was given")]
    Unsigned,
    /// `signatureAlgorithm` disagrees with the verify key's type.
    #[error("signatureAlgorithm '{field}' does not match the verify key (an {key} key)")]
    AlgorithmMismatch {
        /// The artifact's field.
        field: String,
        /// The key's algorithm.
        key: &'static str,
    },
    /// `expiresAt` is in the past.
    #[error("the artifact expired at {0}")]
    Expired(String),
    /// A revocation marker.
    #[error("the artifact was revoked at {0}")]
    Revoked(String),
    /// A signing key that cannot be used.
    #[error("invalid signing key: {0}")]
    SigningKey(String),
    /// A verify key that cannot be used.
    #[error("invalid verify key: {0}")]
    VerifyKey(String),
    /// Encryption failed.
    #[error("cannot encrypt: {0}")]
    Seal(String),
    /// Decryption failed (wrong identity, corrupted ciphertext, bad tag).
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// The decrypted payload is not `{namespace: {KEY: value}}`.
    #[error("the decrypted payload is not {{namespace: {{KEY: value}}}} JSON: {0}")]
    Payload(String),
    /// A key wrapper (KMS) failed.
    #[error("{0}")]
    Wrapper(String),
    /// A delivery option or payload a backend cannot take.
    #[error("{0}")]
    Delivery(String),
}

/// Opens an artifact's text: every check, then decryption. `verify_key`
/// None skips only the signature check (as the agent does without
/// `CLEF_AGENT_VERIFY_KEY`); an unsigned artifact with a key is refused.
pub fn open(
    text: &[u8],
    verify_key: Option<&VerifyKey>,
    ids: &clef_keys::Identities,
    unwrapper: Option<&dyn seal::KeyWrapper>,
    now_ms: i64,
) -> Result<(Artifact, Plaintext), ArtifactError> {
    let a = match Document::parse(text)? {
        Document::Revoked(m) => return Err(ArtifactError::Revoked(m.revoked_at)),
        Document::Artifact(a) => *a,
    };
    a.check(verify_key, now_ms)?;
    let bytes = seal::open(&a, ids, unwrapper)?;
    let p = Plaintext::from_json(&bytes)?;
    Ok((a, p))
}
