//! `clef`: the command people type.

// The doc comments of the argument structs are clap's help text, written for
// a terminal: `'["app"]["port"]'`, `<namespace>` and `^[a-z]…$` are meant
// literally, not as rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod admin;
mod cloud;
mod deferred;
mod envelope;
mod error;
mod integrations;
mod kms_flags;
mod matrix;
mod migrate;
mod out;
mod pack;
mod policy;
mod repo;
mod secrets;
mod self_check;
mod serve;
mod service;
mod sops_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use deferred::Deferred;

/// Clef: git-native secrets management on SOPS files.
///
/// Secrets live in git as SOPS-encrypted cells, secrets/<namespace>/<environment>.enc.yaml,
/// declared by clef.yaml. Values are decrypted in memory only; nothing in clear text is
/// ever written to disk. Targets are written namespace/environment, e.g. api/dev.
#[derive(Parser, Debug)]
#[command(name = "clef", version, about, after_long_help = clef_core::exit::help())]
struct Cli {
    /// Work in this directory instead of the current one.
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Set up Clef in this git repository (clef.yaml, your age identity outside the
    /// repo, .gitattributes, .gitignore, .clefignore, empty cells, hooks and merge
    /// drivers). In a repository that already has clef.yaml: set up your own identity only.
    #[command(after_long_help = clef_core::exit::help())]
    Init(Deferred<admin::InitArgs>),
    /// Set a key in a cell (re-encrypts only what changed; updates the sidecar).
    #[command(after_long_help = clef_core::exit::help())]
    Set(Deferred<secrets::SetArgs>),
    /// Print a value (exactly, plus a newline on a terminal).
    #[command(after_long_help = clef_core::exit::help())]
    Get(Deferred<secrets::GetArgs>),
    /// Delete a key (and its pending/rotation records).
    #[command(after_long_help = clef_core::exit::help())]
    Delete(Deferred<secrets::DeleteArgs>),
    /// List the keys of a cell, values masked (no decryption needed).
    #[command(after_long_help = clef_core::exit::help())]
    List(Deferred<secrets::ListArgs>),
    /// Run a command with a cell's values as environment variables (no shell).
    #[command(after_long_help = clef_core::exit::help())]
    Exec(Deferred<secrets::ExecArgs>),
    /// Print a cell's values as shell exports, dotenv or JSON.
    #[command(after_long_help = clef_core::exit::help())]
    Export(Deferred<secrets::ExportArgs>),
    /// Import keys from a dotenv, JSON or YAML file (or stdin) into a cell.
    #[command(after_long_help = clef_core::exit::help())]
    Import(Deferred<secrets::ImportArgs>),
    /// Compare a namespace's values between two environments (masked by default;
    /// exit 1 when they differ).
    #[command(after_long_help = clef_core::exit::help())]
    Diff(Deferred<secrets::DiffArgs>),
    /// Check the repository: missing cells, invalid SOPS files, MAC failures, key
    /// drift, pending placeholders, recipient drift, schema violations (never prints
    /// values; exit 1 on errors).
    #[command(after_long_help = clef_core::exit::help())]
    Lint(Deferred<admin::LintArgs>),
    /// List, add or remove age recipients (updates clef.yaml and the cells).
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Recipients(Deferred<admin::RecipientsCmd>),
    /// Rotate credentials: `rotate NS/ENV KEY…` gives those keys new values (prompt,
    /// stdin or --random) and the cell a new data key, and records the rotations;
    /// without KEY (or with --all), only the data key changes.
    #[command(after_long_help = clef_core::exit::help())]
    Rotate(Deferred<admin::RotateArgs>),
    /// Check the setup: git, clef.yaml, your identity, merge drivers, hooks,
    /// .gitattributes, binaries on PATH (one line per check, with a fix).
    #[command(after_long_help = clef_core::exit::help())]
    Doctor(Deferred<admin::DoctorArgs>),
    /// Move cells to another backend (age, AWS KMS, GCP KMS) in place and
    /// update clef.yaml; verified, all or nothing.
    #[command(after_long_help = clef_core::exit::help())]
    MigrateBackend(Deferred<migrate::MigrateArgs>),
    /// Install or remove the git hooks and merge drivers in this clone.
    #[command(subcommand)]
    Hooks(Deferred<integrations::HooksCmd>),
    /// Inspect and resolve conflicted cells left by the merge driver.
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Merge(Deferred<integrations::MergeCmd>),
    /// Scan files for secrets (same options as clef-scan; see `clef scan --help`).
    /// Exit 0 clean, 1 findings, 2 error.
    #[command(disable_help_flag = true)]
    Scan {
        /// Arguments for the scanner.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Native drop-in for sops 3.11 (no sops binary needed); `clef sops --help` lists its commands.
    ///
    /// Exit codes are sops's: 0 ok, 1 generic (plaintext/empty input, bad metadata or
    /// recipients, missing path), 2 unreadable input, 3 cannot write, 7 bad set path/value,
    /// 25 a value fails to decrypt, 51 MAC mismatch, 91 bad tree path, 100 no such file,
    /// 128 no key can decrypt the file, 200 edit made no change, 203 already encrypted.
    #[command(disable_help_flag = true)]
    Sops(Deferred<sops_cmd::SopsArgs>),
    /// Build the signed artifact a service identity reads in production: decrypts only
    /// the identity's cells (in memory), seals them for the environment's key, signs,
    /// and delivers (json-envelope: a file, by default .clef/packed/<identity>/<env>.age.json).
    #[command(after_long_help = clef_core::exit::help())]
    Pack(Deferred<pack::PackArgs>),
    /// Replace an identity's packed artifact with a revocation marker.
    #[command(after_long_help = clef_core::exit::help())]
    Revoke(Deferred<pack::RevokeArgs>),
    /// Manage service identities (clef.yaml `service_identities`): what a workload may read.
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Service(Deferred<service::ServiceCmd>),
    /// Generate keys (`clef keygen signing`: an Ed25519 pair for signing artifacts).
    #[command(subcommand)]
    Keygen(Deferred<pack::KeygenCmd>),
    /// Serve an identity's values on 127.0.0.1 with the agent's API (developer mode:
    /// packed in memory to an ephemeral key; protected environments are refused).
    Serve(Deferred<serve::ServeArgs>),
    /// Inspect, verify or decrypt a packed artifact.
    ///
    /// Exit codes: verify 0 pass, 1 error, 2 hash mismatch, 3 bad or missing signature,
    /// 5 revocation marker; decrypt 2 hash mismatch, 3 bad signature, 4 key or decrypt
    /// error or unknown key, 5 expired or revoked.
    #[command(subcommand)]
    Envelope(Deferred<envelope::EnvelopeCmd>),
    /// Rotation policy (.clef/policy.yaml) and the compliance evidence CI uploads
    /// (compliance.json): init, show, check, report.
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Policy(Deferred<policy::PolicyCmd>),
    /// Add, rename, edit or remove a namespace (clef.yaml and its cells, in one step).
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Namespace(Deferred<matrix::StructureCmd>),
    /// Add, rename, edit or remove an environment (clef.yaml and its cells, in one step).
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Env(Deferred<matrix::StructureCmd>),
    /// Compare a stored value with one you give (constant time; prompts when VALUE is
    /// omitted). Exit 0 when they match, 1 when not; neither value is printed.
    #[command(after_long_help = clef_core::exit::help())]
    Compare(Deferred<matrix::CompareArgs>),
    /// Compare key names with another clef repository, without decrypting (the cells
    /// both declare). Exit 1 on any difference.
    #[command(after_long_help = clef_core::exit::help())]
    Drift(Deferred<matrix::DriftArgs>),
    /// Scaffold or show a namespace schema (the keys its cells must hold).
    #[command(subcommand, after_long_help = clef_core::exit::help())]
    Schema(Deferred<matrix::SchemaCmd>),
    /// Fill key gaps: every key a namespace's other environments hold is added where it
    /// is missing, as a random placeholder marked pending (`--dry-run` lists them).
    #[command(after_long_help = clef_core::exit::help())]
    Sync(Deferred<matrix::SyncArgs>),
    /// Disaster recovery without decrypting: replace the cells of an environment,
    /// a namespace or one cell with fresh ones sealed for what clef.yaml grants,
    /// holding the keys of --keys (else of the namespace's schema) as random
    /// placeholders marked pending; --age/--aws-kms-arn/--gcp-kms-resource-id also
    /// switch those environments' backend in clef.yaml. Needs --yes (or a terminal's
    /// confirmation).
    #[command(after_long_help = clef_core::exit::help())]
    Reset(Deferred<matrix::ResetArgs>),
    /// The metadata report (the old Clef's `clef report` JSON): repository identity,
    /// manifest structure, matrix (key counts, no values, no key names), sanitised
    /// lint issues and recipients. Exit 1 when lint finds errors.
    #[command(after_long_help = clef_core::exit::help())]
    Report(Deferred<policy::ReportCmdArgs>),
    /// Check that the installation works: an in-memory encrypt/decrypt round trip
    /// with a throw-away key, and the other Clef binaries answer.
    SelfCheck {
        /// Scratch directory (unused by the in-memory check; accepted for install.sh).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[allow(
    clippy::disallowed_methods,
    reason = "the binary's main: the one place its exit code is set"
)]
fn main() {
    // A panic message could quote anything; say only where it happened.
    clef_sops::process::quiet_panics("clef", "", clef_core::exit::INTERNAL);
    let cli = Cli::parse();
    let dir = cli.dir.as_deref();
    let result = match cli.cmd {
        Cmd::Init(Deferred(a)) => admin::init(dir, a),
        Cmd::Set(Deferred(a)) => secrets::set(dir, a),
        Cmd::Get(Deferred(a)) => secrets::get(dir, a),
        Cmd::Delete(Deferred(a)) => secrets::delete(dir, a),
        Cmd::List(Deferred(a)) => secrets::list(dir, a),
        Cmd::Exec(Deferred(a)) => secrets::exec(dir, a),
        Cmd::Export(Deferred(a)) => secrets::export(dir, a),
        Cmd::Import(Deferred(a)) => secrets::import(dir, a),
        Cmd::Diff(Deferred(a)) => secrets::diff(dir, a),
        Cmd::Lint(Deferred(a)) => admin::lint_cmd(dir, a),
        Cmd::Recipients(Deferred(c)) => admin::recipients(dir, c),
        Cmd::Rotate(Deferred(a)) => admin::rotate(dir, a),
        Cmd::Doctor(Deferred(a)) => admin::doctor(dir, a),
        Cmd::MigrateBackend(Deferred(a)) => migrate::run(dir, a),
        Cmd::Hooks(Deferred(c)) => integrations::hooks(dir, c),
        Cmd::Merge(Deferred(c)) => integrations::merge(dir, c),
        Cmd::Scan { args } => {
            let mut args = args;
            if let Some(d) = &cli.dir {
                args.insert(0, d.clone().into_os_string());
                args.insert(0, "--root".into());
            }
            std::process::exit(integrations::scan(args));
        }
        Cmd::Sops(Deferred(c)) => sops_cmd::run(c),
        Cmd::SelfCheck { dir: _ } => self_check::run(),
        Cmd::Pack(Deferred(a)) => pack::pack(dir, a),
        Cmd::Revoke(Deferred(a)) => pack::revoke(dir, a),
        Cmd::Keygen(Deferred(c)) => pack::keygen(c),
        Cmd::Service(Deferred(c)) => service::run(dir, c),
        Cmd::Envelope(Deferred(c)) => envelope::run(c),
        Cmd::Serve(Deferred(a)) => serve::serve(dir, a),
        Cmd::Policy(Deferred(c)) => policy::run(dir, c),
        Cmd::Report(Deferred(a)) => policy::metadata_report(dir, &a),
        Cmd::Compare(Deferred(a)) => matrix::compare(dir, a),
        Cmd::Drift(Deferred(a)) => matrix::drift(dir, &a),
        Cmd::Schema(Deferred(c)) => matrix::schema(dir, c),
        Cmd::Sync(Deferred(a)) => matrix::sync(dir, &a),
        Cmd::Reset(Deferred(a)) => matrix::reset(dir, &a),
        Cmd::Namespace(Deferred(c)) => matrix::run(dir, clef_core::structure::Kind::Namespace, c),
        Cmd::Env(Deferred(c)) => matrix::run(dir, clef_core::structure::Kind::Environment, c),
    };
    if let Err(e) = result {
        if !e.msg.is_empty() {
            out::note(&e.msg);
        }
        std::process::exit(e.code);
    }
}
