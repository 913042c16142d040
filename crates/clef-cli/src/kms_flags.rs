//! The cloud master-key flags of `clef sops encrypt`, as sops 3.11 spells them.

use clap::Args;
use clef_doc::Value;

use crate::error::{CliError, code};

/// `--kms`, `--encryption-context`, `--aws-profile`, `--gcp-kms`.
#[derive(Args, Debug, Default)]
pub struct CloudKeyArgs {
    /// Comma-separated AWS KMS key ARNs, each optionally `ARN+ROLE_ARN` (default: $SOPS_KMS_ARN).
    #[arg(long)]
    pub kms: Option<String>,
    /// KMS encryption context for every --kms key: `key:value,key2:value2`.
    #[arg(long)]
    pub encryption_context: Option<String>,
    /// AWS profile stored with every --kms key (decryption may override it: CLEF_AWS_PROFILE).
    #[arg(long)]
    pub aws_profile: Option<String>,
    /// Comma-separated GCP KMS key resource ids (default: $SOPS_GCP_KMS_IDS).
    #[arg(long)]
    pub gcp_kms: Option<String>,
}

fn flag_or_env(flag: &Option<String>, var: &str) -> String {
    flag.clone()
        .or_else(|| std::env::var(var).ok())
        .unwrap_or_default()
}

impl CloudKeyArgs {
    /// The `kms` and `gcp_kms` stanzas to wrap for (no `enc` yet), in sops's order.
    pub fn stanzas(&self) -> Result<Vec<(String, Value)>, CliError> {
        let ctx = self.encryption_context.as_deref().unwrap_or("");
        let context = clef_kms::parse_context(ctx).ok_or_else(|| {
            CliError::new(
                code::USAGE,
                "--encryption-context must be key:value pairs separated by commas",
            )
        })?;
        let profile = self.aws_profile.clone().unwrap_or_default();
        let mut out = Vec::new();
        for arn in flag_or_env(&self.kms, "SOPS_KMS_ARN").split(',') {
            if arn.trim().is_empty() {
                continue;
            }
            let st = clef_kms::AwsStanza::from_arg(arn, &context, &profile);
            if st.region().is_none() {
                return Err(CliError::new(
                    code::USAGE,
                    format!("--kms: '{}' is not an AWS KMS key or alias ARN", st.arn),
                ));
            }
            out.push(("kms".to_owned(), st.to_value()));
        }
        for id in flag_or_env(&self.gcp_kms, "SOPS_GCP_KMS_IDS").split(',') {
            if !id.trim().is_empty() {
                out.push((
                    "gcp_kms".to_owned(),
                    clef_kms::GcpStanza::from_arg(id).to_value(),
                ));
            }
        }
        Ok(out)
    }
}
