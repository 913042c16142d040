//! Cloud KMS master keys for sops files.
//!
//! - [`aws`]: AWS KMS (`kms` stanzas), signed calls with the official SDK's credentials;
//! - [`gcp`]: Google Cloud KMS through its REST API (`gcp_kms` stanzas);
//! - [`awsapi`]: the signed AWS calls: KMS, S3, Secrets Manager and SSM (SigV4-signed
//!   with the SDK's credentials), for the KMS keys, `clef pack` and the agent;
//! - [`stanza`]: both stanza layouts, read and written exactly as sops 3.11 does.
//!
//! Everything is behind a synchronous facade: the async runtime ([`rt`]) is
//! created only when a cloud call is actually made. Errors name the key (ARN or
//! resource id) and the service's error code, never a secret.

pub mod aws;
pub mod awsapi;
pub mod deliver;
pub mod gcp;
use clef_http as http;
pub mod rt;
mod seam;
pub mod stanza;

pub use aws::{AwsKms, AwsOptions, load_sdk_config};
pub use awsapi::{AwsApi, Service};
pub use gcp::GcpKms;
pub use seam::with_cloud_backends;
pub use stanza::{AwsStanza, GcpStanza, parse_context};

/// A failure of one key: displays as `{key}: {reason}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct KmsError {
    /// The key id (ARN, resource id).
    pub key: String,
    /// One-line cause (e.g. the AWS error code).
    pub reason: String,
}

impl KmsError {
    /// An error for `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> KmsError {
        KmsError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// `created_at` as sops writes it: RFC 3339 UTC, whole seconds.
pub(crate) fn utc_now() -> String {
    clef_sops::time::now_rfc3339()
}
