//! The two cloud backends through the key-backend seam
//! (`clef_sops::masterkey::MasterKey`), and the one helper binaries use to
//! register them.

use clef_doc::Value;
use clef_sops::Keyring;
use clef_sops::masterkey::{MasterKey, MasterKeyError};
use zeroize::Zeroizing;

use crate::{AwsKms, AwsOptions, GcpKms, KmsError};

impl From<KmsError> for MasterKeyError {
    fn from(e: KmsError) -> Self {
        MasterKeyError::new(e.key, e.reason)
    }
}

impl MasterKey for AwsKms {
    fn kind(&self) -> &'static str {
        "kms"
    }

    fn unwrap(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        Ok(self.unwrap_stanza(stanza)?)
    }

    fn wrap(&self, template: &Value, secret: &[u8]) -> Result<Value, MasterKeyError> {
        Ok(self.wrap_stanza(template, secret)?)
    }
}

impl MasterKey for GcpKms {
    fn kind(&self) -> &'static str {
        "gcp_kms"
    }

    fn unwrap(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        Ok(self.unwrap_stanza(stanza)?)
    }

    fn wrap(&self, template: &Value, secret: &[u8]) -> Result<Value, MasterKeyError> {
        Ok(self.wrap_stanza(template, secret)?)
    }
}

/// `keyring` with the AWS KMS (`aws` options) and GCP KMS (from the environment)
/// backends added. Nothing is loaded and no runtime starts until a `kms` or
/// `gcp_kms` stanza is actually unwrapped or wrapped.
pub fn with_cloud_backends(keyring: Keyring, aws: AwsOptions) -> Keyring {
    keyring
        .with_backend(Box::new(AwsKms::new(aws)))
        .with_backend(Box::new(GcpKms::from_env()))
}
