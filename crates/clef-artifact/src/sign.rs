//! Signing and verification keys.
//!
//! Ed25519 keys travel as Node exports them: the private key as base64
//! PKCS#8 DER (`302e0201…0420` + 32-byte seed), the public key as base64
//! SPKI DER (`302a3005…032100` + 32 bytes). Verification keys may also be
//! ECDSA P-256 SPKI (what AWS KMS `GetPublicKey` returns for an
//! `ECC_NIST_P256` key); PEM armor is accepted around either.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use zeroize::Zeroizing;

use crate::ArtifactError;

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// SPKI prefix of an Ed25519 public key (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Something that signs the `clef-sig-v3` payload.
pub trait Signer {
    /// `Ed25519` or `ECDSA_SHA256` (the artifact's `signatureAlgorithm`).
    fn algorithm(&self) -> &'static str;
    /// The raw signature bytes (Ed25519: 64 bytes; ECDSA: DER).
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, ArtifactError>;
}

/// An Ed25519 signing key (zeroized on drop by `ed25519-dalek`).
pub struct Ed25519Signer(ed25519_dalek::SigningKey);

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ed25519Signer(..)")
    }
}

fn b64_or_pem(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| "not base64 DER (or PEM)".to_owned())
}

impl Ed25519Signer {
    /// A new random key.
    pub fn generate() -> Ed25519Signer {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).expect("the OS random source failed");
        Ed25519Signer(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// From base64 PKCS#8 DER (v1 or v2) or PEM.
    pub fn from_pkcs8_base64(text: &str) -> Result<Ed25519Signer, ArtifactError> {
        let der = b64_or_pem(text).map_err(ArtifactError::SigningKey)?;
        ed25519_dalek::SigningKey::from_pkcs8_der(&der)
            .map(Ed25519Signer)
            .map_err(|_| {
                ArtifactError::SigningKey(
                    "not an Ed25519 PKCS#8 private key (make one with `clef keygen signing`)"
                        .into(),
                )
            })
    }

    /// Base64 PKCS#8 v1 DER, byte for byte what Node's
    /// `privateKey.export({type: "pkcs8", format: "der"})` gives.
    pub fn to_pkcs8_base64(&self) -> Zeroizing<String> {
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&ED25519_PKCS8_PREFIX);
        der.extend_from_slice(self.0.as_bytes());
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&der))
    }

    /// Base64 SPKI DER of the public key.
    pub fn public_spki_base64(&self) -> String {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.0.verifying_key().as_bytes());
        base64::engine::general_purpose::STANDARD.encode(der)
    }
}

impl Signer for Ed25519Signer {
    fn algorithm(&self) -> &'static str {
        "Ed25519"
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        use ed25519_dalek::Signer as _;
        Ok(self.0.sign(payload).to_bytes().to_vec())
    }
}

/// ECDSA P-256 signing by a service that signs SHA-256 digests (AWS KMS
/// `Sign` with `ECDSA_SHA_256` and `MessageType: DIGEST`): the payload is
/// hashed here and only the digest leaves the process.
pub struct DigestSigner<F>(pub F);

impl<F> Signer for DigestSigner<F>
where
    F: Fn(&[u8; 32]) -> Result<Vec<u8>, String>,
{
    fn algorithm(&self) -> &'static str {
        "ECDSA_SHA256"
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(payload).into();
        (self.0)(&digest).map_err(ArtifactError::SigningKey)
    }
}

/// A public key that verifies artifact signatures.
#[derive(Debug, Clone)]
pub enum VerifyKey {
    /// Ed25519: verifies the raw payload.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA P-256: verifies a DER signature over SHA-256 of the payload.
    EcdsaP256(p256::ecdsa::VerifyingKey),
}

impl VerifyKey {
    /// From base64 SPKI DER or PEM; the key type decides the algorithm.
    pub fn from_spki_base64(text: &str) -> Result<VerifyKey, ArtifactError> {
        let der = b64_or_pem(text).map_err(ArtifactError::VerifyKey)?;
        VerifyKey::from_spki_der(&der)
    }

    /// From SPKI DER (what KMS `GetPublicKey` returns).
    pub fn from_spki_der(der: &[u8]) -> Result<VerifyKey, ArtifactError> {
        let der = der.to_vec();
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(&der) {
            return Ok(VerifyKey::Ed25519(k));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(&der) {
            return Ok(VerifyKey::EcdsaP256(k));
        }
        Err(ArtifactError::VerifyKey(
            "not an Ed25519 or ECDSA P-256 public key (SPKI DER)".into(),
        ))
    }

    /// The `signatureAlgorithm` this key verifies.
    pub fn algorithm(&self) -> &'static str {
        match self {
            VerifyKey::Ed25519(_) => "Ed25519",
            VerifyKey::EcdsaP256(_) => "ECDSA_SHA256",
        }
    }

    /// Verifies `sig` over `payload`.
    pub fn verify(&self, payload: &[u8], sig: &[u8]) -> Result<(), ArtifactError> {
        let ok = match self {
            VerifyKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(payload, &s).is_ok()),
            VerifyKey::EcdsaP256(k) => {
                use p256::ecdsa::signature::Verifier as _;
                p256::ecdsa::DerSignature::from_bytes(sig)
                    .is_ok_and(|s| k.verify(payload, &s).is_ok())
            }
        };
        if ok {
            Ok(())
        } else {
            Err(ArtifactError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_layout_round_trips() {
        let s = Ed25519Signer::generate();
        let der = base64::engine::general_purpose::STANDARD
            .decode(s.to_pkcs8_base64().as_bytes())
            .unwrap();
        assert_eq!(der.len(), 48);
        let back = Ed25519Signer::from_pkcs8_base64(&s.to_pkcs8_base64()).unwrap();
        assert_eq!(back.public_spki_base64(), s.public_spki_base64());
        let spki = base64::engine::general_purpose::STANDARD
            .decode(s.public_spki_base64())
            .unwrap();
        assert_eq!(spki.len(), 44);
        let k = VerifyKey::from_spki_base64(&s.public_spki_base64()).unwrap();
        assert_eq!(k.algorithm(), "Ed25519");
        let sig = s.sign(b"x").unwrap();
        k.verify(b"x", &sig).unwrap();
        assert!(k.verify(b"y", &sig).is_err());
        assert!(Ed25519Signer::from_pkcs8_base64("bm9wZQ==").is_err());
        assert!(VerifyKey::from_spki_base64(&s.to_pkcs8_base64()).is_err());
    }
}
