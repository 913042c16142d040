//! AWS KMS behind the artifact's seams: the data-key wrapper of the
//! KMS-envelope path and the ECDSA signer of `--signing-kms-key`, plus the
//! public key of a KMS signing key for `clef envelope verify|decrypt`.

use clef_artifact::seal::KeyWrapper;
use clef_artifact::{ArtifactError, DigestSigner, Signer, VerifyKey};
use clef_kms::{AwsKms, AwsOptions};
use zeroize::Zeroizing;

/// AWS KMS `Encrypt`/`Decrypt` of envelope data keys (`SYMMETRIC_DEFAULT`).
pub struct KmsWrapper(pub AwsKms);

impl KmsWrapper {
    /// With the environment's options (`CLEF_AWS_PROFILE`, `CLEF_AWS_ROLE`, `CLEF_KMS_TIMEOUT`).
    pub fn from_env() -> KmsWrapper {
        KmsWrapper(AwsKms::new(AwsOptions::from_env()))
    }
}

impl KeyWrapper for KmsWrapper {
    fn provider(&self) -> &'static str {
        "aws"
    }

    fn wrap(&self, key_id: &str, dek: &[u8]) -> Result<(String, Vec<u8>, String), ArtifactError> {
        let (resolved, blob) = self
            .0
            .wrap_data_key(key_id, dek)
            .map_err(|e| ArtifactError::Wrapper(format!("AWS KMS Encrypt: {e}")))?;
        Ok((resolved, blob, "SYMMETRIC_DEFAULT".to_owned()))
    }

    fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, ArtifactError> {
        self.0
            .unwrap_data_key(key_id, wrapped)
            .map_err(|e| ArtifactError::Decrypt(format!("AWS KMS Decrypt: {e}")))
    }
}

/// The `ECDSA_SHA256` signer of a KMS asymmetric key (`ECC_NIST_P256`,
/// `SIGN_VERIFY`), for any identity, age or KMS.
pub fn kms_signer(key_id: String) -> impl Signer {
    let kms = AwsKms::new(AwsOptions::from_env());
    DigestSigner(move |digest: &[u8; 32]| {
        kms.sign_digest(&key_id, digest)
            .map_err(|e| format!("AWS KMS Sign: {e}"))
    })
}

/// The verify key of a KMS signing key (`GetPublicKey`).
pub fn kms_verify_key(key_id: &str) -> Result<VerifyKey, String> {
    let der = AwsKms::new(AwsOptions::from_env())
        .public_key(key_id)
        .map_err(|e| format!("AWS KMS GetPublicKey: {e}"))?;
    VerifyKey::from_spki_der(&der).map_err(|e| format!("{key_id}: {e}"))
}
