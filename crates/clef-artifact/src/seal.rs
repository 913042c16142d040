//! The two ways an artifact's payload is encrypted.
//!
//! * age: a binary age file for the environment's one X25519 recipient,
//!   base64 (padded, standard alphabet).
//! * KMS envelope: AES-256-GCM under a fresh random 32-byte data key, a
//!   random 12-byte IV, no AAD; `ciphertext` is the GCM output without the
//!   16-byte tag, which goes to `envelope.authTag`. The data key is wrapped
//!   by a [`KeyWrapper`] (AWS KMS `Encrypt`, algorithm `SYMMETRIC_DEFAULT`).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::{Artifact, ArtifactError, Envelope};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key-management service that wraps and unwraps data keys.
pub trait KeyWrapper {
    /// `aws`, `gcp` or `azure`.
    fn provider(&self) -> &'static str;
    /// Wraps `dek` under `key_id`; returns (the key id as the KMS resolved
    /// it, the wrapped bytes, the algorithm name).
    fn wrap(&self, key_id: &str, dek: &[u8]) -> Result<(String, Vec<u8>, String), ArtifactError>;
    /// Unwraps a data key.
    fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, ArtifactError>;
}

/// Seals `plaintext` for an age recipient: base64 of the binary age file.
pub fn seal_age(recipient: &str, plaintext: &[u8]) -> Result<String, ArtifactError> {
    let bin =
        clef_keys::seal(recipient, plaintext).map_err(|e| ArtifactError::Seal(e.to_string()))?;
    Ok(B64.encode(bin))
}

/// AES-256-GCM under `dek` with a random IV: (ciphertext without tag, iv,
/// tag), each base64.
pub fn seal_gcm(
    dek: &[u8; 32],
    plaintext: &[u8],
) -> Result<(String, String, String), ArtifactError> {
    let mut iv = [0u8; 12];
    getrandom::getrandom(&mut iv).map_err(|_| ArtifactError::Seal("no OS randomness".into()))?;
    let cipher =
        Aes256Gcm::new_from_slice(dek).map_err(|_| ArtifactError::Seal("bad key".into()))?;
    let mut out = cipher
        .encrypt(Nonce::from_slice(&iv), plaintext)
        .map_err(|_| ArtifactError::Seal("AES-GCM failed".into()))?;
    let tag = out.split_off(out.len() - 16);
    Ok((B64.encode(out), B64.encode(iv), B64.encode(tag)))
}

/// Seals under a fresh data key wrapped by `wrapper`: (ciphertext, envelope).
pub fn seal_envelope(
    wrapper: &dyn KeyWrapper,
    key_id: &str,
    plaintext: &[u8],
) -> Result<(String, Envelope), ArtifactError> {
    let mut dek = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(dek.as_mut())
        .map_err(|_| ArtifactError::Seal("no OS randomness".into()))?;
    let (resolved, wrapped, algorithm) = wrapper.wrap(key_id, dek.as_ref())?;
    let (ct, iv, tag) = seal_gcm(&dek, plaintext)?;
    Ok((
        ct,
        Envelope {
            provider: wrapper.provider().to_owned(),
            key_id: resolved,
            wrapped_key: B64.encode(wrapped),
            algorithm,
            iv,
            auth_tag: tag,
        },
    ))
}

/// Opens AES-256-GCM ciphertext with its envelope's IV and tag.
pub fn open_gcm(
    dek: &[u8],
    a: &Artifact,
    e: &Envelope,
) -> Result<Zeroizing<Vec<u8>>, ArtifactError> {
    let bad = |what: &str| ArtifactError::Decrypt(format!("{what} is not valid base64"));
    let mut ct = B64.decode(&a.ciphertext).map_err(|_| bad("ciphertext"))?;
    let iv = B64.decode(&e.iv).map_err(|_| bad("envelope.iv"))?;
    let tag = B64
        .decode(&e.auth_tag)
        .map_err(|_| bad("envelope.authTag"))?;
    if iv.len() != 12 || tag.len() != 16 {
        return Err(ArtifactError::Decrypt(
            "IV or tag has the wrong length".into(),
        ));
    }
    ct.extend_from_slice(&tag);
    let cipher = Aes256Gcm::new_from_slice(dek)
        .map_err(|_| ArtifactError::Decrypt("the unwrapped data key is not 32 bytes".into()))?;
    cipher
        .decrypt(Nonce::from_slice(&iv), ct.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| ArtifactError::Decrypt("AES-GCM authentication failed".into()))
}

/// Decrypts an artifact's payload (no other checks: see [`crate::open`]).
pub fn open(
    a: &Artifact,
    ids: &clef_keys::Identities,
    unwrapper: Option<&dyn KeyWrapper>,
) -> Result<Zeroizing<Vec<u8>>, ArtifactError> {
    match &a.envelope {
        None => {
            let bin = B64
                .decode(&a.ciphertext)
                .map_err(|_| ArtifactError::Decrypt("ciphertext is not valid base64".into()))?;
            ids.open(&bin).map_err(|e| match e {
                clef_keys::KeyError::NoMatch => ArtifactError::Decrypt(
                    "no age identity given matches the artifact's recipient".into(),
                ),
                other => ArtifactError::Decrypt(other.to_string()),
            })
        }
        Some(e) => {
            let w = unwrapper.ok_or_else(|| {
                ArtifactError::Decrypt(format!(
                    "the artifact is sealed with {} KMS, which this build cannot reach",
                    e.provider
                ))
            })?;
            let wrapped = B64
                .decode(&e.wrapped_key)
                .map_err(|_| ArtifactError::Decrypt("envelope.wrappedKey is not base64".into()))?;
            let dek = w.unwrap(&e.key_id, &wrapped)?;
            open_gcm(&dek, a, e)
        }
    }
}
