//! `clef migrate-backend`: parse, call [`clef_core::migrate::migrate`], print.

use std::path::Path;

use clap::{ArgGroup, Args};
use clef_core::manifest::KmsKey;
use clef_core::migrate::{self, MigrateError, Request, ResealError, Target};

use crate::error::{CliError, code};
use crate::out;
use crate::repo::Repo;

/// Moves cells to another master-key backend in place (age ⇄ AWS KMS / GCP
/// KMS) and points clef.yaml at it. Every cell is decrypted with its current
/// key, sealed under a new data key for what clef.yaml will grant, and
/// verified by decrypting it again before anything is written; then the
/// cells and clef.yaml are replaced in one step. On any failure nothing is
/// written.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("to").required(true).args(["aws_kms_arn", "gcp_kms_resource_id", "age"])))]
pub struct MigrateArgs {
    /// Seal with this AWS KMS key (key or alias ARN).
    #[arg(long, value_name = "ARN")]
    aws_kms_arn: Option<String>,
    /// Seal with this GCP Cloud KMS key
    /// (projects/P/locations/L/keyRings/R/cryptoKeys/K).
    #[arg(long, value_name = "ID")]
    gcp_kms_resource_id: Option<String>,
    /// Seal with the age recipients clef.yaml lists.
    #[arg(long)]
    age: bool,
    /// Only this environment (a per-environment `sops` override in
    /// clef.yaml); default: every environment (the global default backend).
    #[arg(short = 'e', long, value_name = "ENV")]
    environment: Option<String>,
    /// Print what would be migrated; change nothing, call no KMS.
    #[arg(long)]
    dry_run: bool,
}

/// `clef migrate-backend`.
pub fn run(dir: Option<&Path>, a: MigrateArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let target = match (a.aws_kms_arn, a.gcp_kms_resource_id) {
        (Some(arn), _) => Target::Kms(KmsKey::Aws(arn.trim().to_owned())),
        (_, Some(id)) => Target::Kms(KmsKey::Gcp(id.trim().to_owned())),
        _ => Target::Age,
    };
    let to = match &target {
        Target::Age => "age".to_owned(),
        Target::Kms(k) => k.to_string(),
    };
    let req = Request {
        target,
        environment: a.environment,
        dry_run: a.dry_run,
    };
    let keys = if a.dry_run {
        clef_sops::Keyring::empty()
    } else {
        if let Target::Kms(KmsKey::Aws(arn)) = &req.target {
            // one DescribeKey first: a disabled key is named before any work
            clef_kms::AwsKms::new(clef_kms::AwsOptions::from_env())
                .check_enabled(arn)
                .map_err(|e| CliError::new(code::KEY, format!("{e}; nothing was written")))?;
        }
        repo.identities()?
    };
    let done = migrate::migrate(&repo.root, &req, &keys).map_err(cli_error)?;
    let verb = if a.dry_run {
        "would migrate"
    } else {
        "migrated"
    };
    for s in &done.cells {
        out::note(format!(
            "{verb} {} ({}): {} -> {to}",
            s.target,
            s.file.display(),
            s.from.name()
        ));
    }
    for t in &done.absent {
        out::note(format!("{t}: no cell yet (it will be created under {to})"));
    }
    if done.manifest_changed {
        let what = if a.dry_run { "would point" } else { "points" };
        out::note(format!("clef.yaml {what} {} at {to}", scope(&req)));
    }
    if !a.dry_run {
        out::note(format!(
            "{} cell(s) re-sealed and verified; commit clef.yaml and the cells together",
            done.cells.len()
        ));
    }
    Ok(())
}

fn scope(req: &Request) -> String {
    match &req.environment {
        Some(e) => format!("environment '{e}'"),
        None => "every environment".to_owned(),
    }
}

/// Exit codes: the cause's own (a key problem is a key problem).
fn cli_error(e: MigrateError) -> CliError {
    let msg = e.to_string();
    let code = match e {
        MigrateError::Manifest(_)
        | MigrateError::UnknownEnvironment(_)
        | MigrateError::NoRecipients(_) => code::USAGE,
        MigrateError::Lock(l) => CliError::from(l).code,
        MigrateError::Cell { source, .. } => CliError::from(source).code,
        MigrateError::Reseal {
            file,
            source: ResealError::Sops(s),
        } => CliError::sops(&file, s).code,
        MigrateError::Reseal { .. } => code::MAC,
        MigrateError::Write(_) => code::WRITE,
    };
    CliError::new(code, msg)
}
