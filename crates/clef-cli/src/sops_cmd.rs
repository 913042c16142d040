//! `clef sops …`: a native drop-in for the everyday `sops` operations.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, Keyring, PlainFile, SopsError, path};

use crate::error::{CliError, code};

/// sops 3.11's exit codes (`cmd/sops/codes`), which `clef sops` returns so
/// that scripts written for sops keep working.
pub mod sops_code {
    /// ErrorGeneric: plaintext or empty input, bad metadata, no or bad recipients, missing path.
    pub const GENERIC: i32 = 1;
    /// CouldNotReadInputFile: unparsable input.
    pub const READ: i32 = 2;
    /// CouldNotWriteOutputFile.
    pub const WRITE: i32 = 3;
    /// ErrorDumpingTree: the decrypted tree cannot be written in the output format.
    pub const DUMP: i32 = 4;
    /// ErrorInvalidSetFormat: bad `set` path or value.
    pub const SET_FORMAT: i32 = 7;
    /// ErrorDecryptingTree: a value fails AES-GCM, was moved, or has a bad type/IV.
    pub const DECRYPT_TREE: i32 = 25;
    /// MacMismatch (also a MAC that cannot be decrypted, or none).
    pub const MAC: i32 = 51;
    /// NeedAtLeastOneDocument: encrypting an empty or comment-only YAML file.
    pub const NO_DOCUMENT: i32 = 92;
    /// InvalidTreePathFormat (`--extract`).
    pub const TREE_PATH: i32 = 91;
    /// NoFileSpecified / file not found.
    pub const NO_FILE: i32 = 100;
    /// CouldNotRetrieveKey: no master key opens (or wraps) the data key.
    pub const KEY: i32 = 128;
    /// FileAlreadyEncrypted.
    pub const ALREADY_ENCRYPTED: i32 = 203;
}

/// sops's exit code for an engine error.
pub fn sops_exit(e: &SopsError) -> i32 {
    use sops_code::*;
    match e {
        SopsError::Yaml(_)
        | SopsError::Json(_)
        | SopsError::Dotenv(_)
        | SopsError::Ini(_)
        | SopsError::NotUtf8(_) => READ,
        SopsError::Empty
        | SopsError::NotEncryptedFile
        | SopsError::Meta(_)
        | SopsError::BadRule { .. }
        | SopsError::NoRecipients
        | SopsError::Path(_)
        | SopsError::Output { .. }
        | SopsError::Keys(clef_keys::KeyError::BadRecipient(_)) => GENERIC,
        SopsError::AlreadyEncrypted => ALREADY_ENCRYPTED,
        SopsError::MacMismatch | SopsError::MacUndecryptable | SopsError::NoMac => MAC,
        SopsError::NotEncrypted { .. }
        | SopsError::Value { .. }
        | SopsError::BadPlaintext { .. } => DECRYPT_TREE,
        SopsError::NoIdentity { .. }
        | SopsError::Threshold { .. }
        | SopsError::BadDataKey
        | SopsError::Keys(_)
        | SopsError::Shamir(_)
        | SopsError::Wrap(_)
        | SopsError::UnsupportedMasterKey(_) => KEY,
    }
}

/// An engine error on `file`, with sops's exit code.
fn fail(file: &Path, e: SopsError) -> CliError {
    CliError::new(sops_exit(&e), format!("{}: {e}", file.display()))
}

/// Parses an encrypted file in `format`. When the format was not given and
/// the name has no known extension, sops (and so clef) reads it as the binary
/// store; a parse failure then says how to name the real format.
fn parse_encrypted(
    bytes: &[u8],
    format: Format,
    name: &Path,
    logical: &Path,
    explicit: Option<&str>,
) -> Result<EncryptedFile, CliError> {
    EncryptedFile::parse(bytes, format).map_err(|e| {
        let mut err = fail(name, e);
        if explicit.is_none() && Format::from_path(logical).is_none() {
            err.msg.push_str(
                " (no known extension, so it was read as sops's binary store; pass --input-type yaml|json|dotenv|ini)",
            );
        }
        err
    })
}

#[path = "sops_edit.rs"]
mod sops_edit;
#[path = "sops_exec.rs"]
mod sops_exec;

/// `clef sops ARGS…`: sops's command line, parsed here so that the legacy
/// forms (`-d`, `-e`, `-r`, `-i`, `sops FILE` = edit) and sops-only options get
/// sops-shaped answers.
#[derive(Args, Debug)]
pub struct SopsArgs {
    /// sops arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "clef sops",
    about = "sops 3.11's command line, natively (no sops binary)"
)]
struct SopsCli {
    #[command(subcommand)]
    cmd: SopsCmd,
}

/// sops commands and options clef does not implement, with what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "keyservice",
        "sops keyservice (a gRPC key service); clef uses local keys",
    ),
    ("publish", "sops publish (upload to S3/GCS/Vault)"),
    ("--azure-kv", "Azure Key Vault keys (sops --azure-kv)"),
    (
        "--hc-vault-transit",
        "HashiCorp Vault keys (sops --hc-vault-transit)",
    ),
    ("--hckms", "HuaweiCloud KMS keys (sops --hckms)"),
    ("--keyservice", "remote key services (sops --keyservice)"),
    (
        "--show-master-keys",
        "editing master keys in the editor (sops -s); use updatekeys or rotate --add-age/--rm-age",
    ),
    (
        "-s",
        "editing master keys in the editor (sops -s); use updatekeys or rotate --add-age/--rm-age",
    ),
    (
        "--add-azure-kv",
        "Azure Key Vault keys (sops --add-azure-kv)",
    ),
    ("--rm-azure-kv", "Azure Key Vault keys (sops --rm-azure-kv)"),
    (
        "--add-hc-vault-transit",
        "HashiCorp Vault keys (sops --add-hc-vault-transit)",
    ),
    (
        "--rm-hc-vault-transit",
        "HashiCorp Vault keys (sops --rm-hc-vault-transit)",
    ),
    ("--add-hckms", "HuaweiCloud KMS keys (sops --add-hckms)"),
    ("--rm-hckms", "HuaweiCloud KMS keys (sops --rm-hckms)"),
    (
        "--enable-local-keyservice",
        "key services (sops --enable-local-keyservice); clef uses local keys",
    ),
    (
        "--decryption-order",
        "choosing the order of key types (sops --decryption-order); clef tries age, then the other stanzas",
    ),
    (
        "--set",
        "the legacy edit-mode --set (sops --set '[\"k\"] v' FILE); use `clef sops set FILE PATH VALUE`",
    ),
    ("completion", "sops completion (shell completion scripts)"),
];

/// Every command and option of sops 3.11 (`sops --help` and its commands'
/// help): an unknown one that is here is sops's, just not accepted at that
/// place by clef.
const SOPS_WORDS: &[&str] = &[
    "completion",
    "exec-env",
    "exec-file",
    "publish",
    "keyservice",
    "filestatus",
    "groups",
    "updatekeys",
    "decrypt",
    "encrypt",
    "rotate",
    "edit",
    "set",
    "unset",
    "help",
    "add",
    "delete",
    "--decrypt",
    "-d",
    "--encrypt",
    "-e",
    "--rotate",
    "-r",
    "--disable-version-check",
    "--check-for-updates",
    "--kms",
    "-k",
    "--aws-profile",
    "--gcp-kms",
    "--hckms",
    "--azure-kv",
    "--hc-vault-transit",
    "--pgp",
    "-p",
    "--age",
    "-a",
    "--in-place",
    "-i",
    "--extract",
    "--input-type",
    "--output-type",
    "--show-master-keys",
    "-s",
    "--add-gcp-kms",
    "--rm-gcp-kms",
    "--add-hckms",
    "--rm-hckms",
    "--add-azure-kv",
    "--rm-azure-kv",
    "--add-kms",
    "--rm-kms",
    "--add-hc-vault-transit",
    "--rm-hc-vault-transit",
    "--add-age",
    "--rm-age",
    "--add-pgp",
    "--rm-pgp",
    "--ignore-mac",
    "--mac-only-encrypted",
    "--unencrypted-suffix",
    "--encrypted-suffix",
    "--unencrypted-regex",
    "--encrypted-regex",
    "--unencrypted-comment-regex",
    "--encrypted-comment-regex",
    "--config",
    "--encryption-context",
    "--set",
    "--shamir-secret-sharing-threshold",
    "--indent",
    "--verbose",
    "--output",
    "--filename-override",
    "--decryption-order",
    "--enable-local-keyservice",
    "--keyservice",
    "--help",
    "-h",
    "--version",
    "-v",
    "--value-file",
    "--value-stdin",
    "--idempotent",
    "--background",
    "--no-fifo",
    "--user",
    "--filename",
    "--pristine",
    "--same-process",
    "--env",
    "--file",
    "-f",
    "-y",
    "--yes",
    "--omit-extensions",
    "--recursive",
    "--interactive",
    "--address",
    "--network",
    "--prompt",
    "--exit-on-error",
];

/// One line for an argument clap did not accept: whether sops 3.11 has it
/// (and clef does not take it there) or sops has no such thing either.
fn unknown_word_message(first: &str, argv: &[String]) -> String {
    let word = first
        .split('\'')
        .nth(1)
        .map(str::to_owned)
        .or_else(|| argv.iter().find(|a| first.contains(a.as_str())).cloned());
    let Some(word) = word else {
        return format!(
            "clef sops: {first} (see 'clef sops --help'; clef follows sops 3.11's commands and options)"
        );
    };
    let name = word.split('=').next().unwrap_or(&word);
    let cmd = argv
        .iter()
        .find(|a| SUBCOMMANDS.contains(&a.as_str()))
        .map_or_else(String::new, |c| format!(" {c}"));
    if SOPS_WORDS.contains(&name) {
        format!(
            "clef sops{cmd}: '{name}' is sops 3.11's, but clef sops does not support it here (see 'clef sops{cmd} --help')"
        )
    } else {
        format!(
            "clef sops{cmd}: '{name}' is not a sops 3.11 command or option either (see 'clef sops{cmd} --help')"
        )
    }
}

const SUBCOMMANDS: &[&str] = &[
    "decrypt",
    "encrypt",
    "edit",
    "updatekeys",
    "rotate",
    "set",
    "unset",
    "filestatus",
    "groups",
    "exec-env",
    "exec-file",
    "help",
];

/// Rewrites sops's legacy flag forms into subcommands: `-d`/`--decrypt`,
/// `-e`/`--encrypt`, `-r`/`--rotate`, and a bare `FILE` (edit).
fn legacy(args: &[String]) -> Vec<String> {
    if args.first().is_some_and(|a| {
        SUBCOMMANDS.contains(&a.as_str())
            || a == "--help"
            || a == "-h"
            || a == "--version"
            || a == "-V"
    }) {
        return args.to_vec();
    }
    let verbs = [
        (["-d", "--decrypt"], "decrypt"),
        (["-e", "--encrypt"], "encrypt"),
        (["-r", "--rotate"], "rotate"),
    ];
    for (flags, verb) in verbs {
        if args.iter().any(|a| flags.contains(&a.as_str())) {
            let mut out = vec![verb.to_owned()];
            out.extend(
                args.iter()
                    .filter(|a| !flags.contains(&a.as_str()))
                    .cloned(),
            );
            return out;
        }
    }
    if args
        .first()
        .is_some_and(|a| !a.starts_with('-') && Path::new(a).extension().is_some())
    {
        let mut out = vec!["edit".to_owned()];
        out.extend(args.iter().cloned());
        return out;
    }
    args.to_vec()
}

/// Parses and runs `clef sops ARGS…`.
pub fn run(a: SopsArgs) -> Result<(), CliError> {
    for arg in &a.args {
        let name = arg.split('=').next().unwrap_or(arg);
        if let Some((_, what)) = UNSUPPORTED.iter().find(|(f, _)| *f == name) {
            return Err(CliError::new(
                sops_code::GENERIC,
                format!("clef sops does not support {what}: '{arg}'"),
            ));
        }
    }
    let argv = legacy(&a.args);
    let cli = match SopsCli::try_parse_from(std::iter::once("clef sops".to_owned()).chain(argv)) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            return write_stdout(e.render().to_string().as_bytes());
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            let msg = if matches!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument | clap::error::ErrorKind::InvalidSubcommand
            ) {
                unknown_word_message(first, &a.args)
            } else {
                format!(
                    "clef sops: {first} (see 'clef sops --help'; clef follows sops 3.11's commands and options)"
                )
            };
            return Err(CliError::new(sops_code::GENERIC, msg));
        }
    };
    dispatch(cli.cmd)
}

/// `clef sops` subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run; the size does not matter
pub enum SopsCmd {
    /// Edit an encrypted file in $SOPS_EDITOR/$EDITOR (plaintext only in memory-backed storage).
    Edit(sops_edit::EditArgs),
    /// Run a command with the file's values in its environment.
    ExecEnv(sops_exec::ExecEnvArgs),
    /// Run a command with the plaintext handed over through a FIFO ({} in the command is its path).
    ExecFile(sops_exec::ExecFileArgs),
    /// Decrypt a file to stdout.
    Decrypt(DecryptArgs),
    /// Encrypt a plaintext file (stdout, or in place with -i).
    Encrypt(EncryptArgs),
    /// Sync the recipients with the matching .sops.yaml rule (or --add-age/--rm-age), re-wrapping the same data key.
    Updatekeys(UpdateKeysArgs),
    /// Generate a new data key and re-encrypt every value with it.
    Rotate(RotateArgs),
    /// Set the value at a tree path, in place (the value is JSON, as in sops).
    Set(SetArgs),
    /// Remove the value at a tree path, in place.
    Unset(UnsetArgs),
    /// Print {"encrypted":true|false}.
    Filestatus(FileArg),
    /// Add or delete a key group (Shamir secret sharing between groups).
    #[command(subcommand)]
    Groups(GroupsCmd),
}

/// `groups add|delete`, as in sops.
#[derive(Subcommand, Debug)]
pub enum GroupsCmd {
    /// Add a new key group to a sops file (the data key is split anew between the groups).
    Add(GroupsAddArgs),
    /// Delete the key group at INDEX (counted from 0) from a sops file.
    #[command(alias = "remove")]
    Delete(GroupsDeleteArgs),
}

/// Where `groups add|delete` read and write.
#[derive(Args, Debug)]
pub struct GroupsFileOpts {
    /// The encrypted file.
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// Write the result back to the file instead of stdout.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Number of key groups needed to recover the data key (default: all of them).
    #[arg(long)]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub input: InputOpts,
}

/// `groups add`
#[derive(Args, Debug)]
pub struct GroupsAddArgs {
    #[command(flatten)]
    pub opts: GroupsFileOpts,
    /// age recipients of the new group (comma-separated, repeatable).
    #[arg(long)]
    pub age: Vec<String>,
    /// PGP fingerprints of the new group (comma-separated, repeatable).
    #[arg(long)]
    pub pgp: Vec<String>,
    #[command(flatten)]
    pub cloud: crate::kms_flags::CloudKeyArgs,
}

/// `groups delete`
#[derive(Args, Debug)]
pub struct GroupsDeleteArgs {
    #[command(flatten)]
    pub opts: GroupsFileOpts,
    /// Index of the group to delete, counted from 0.
    pub index: usize,
}

/// Options shared by commands that read a file.
#[derive(Args, Debug)]
pub struct InputOpts {
    /// Input format: yaml, json, dotenv, ini or binary (default: from the file extension; binary when it is none of those).
    #[arg(long)]
    pub input_type: Option<String>,
}

/// Where decrypt/encrypt/rotate read and write.
#[derive(Args, Debug)]
pub struct IoOpts {
    /// Output format: yaml, json, dotenv, ini or binary (default: the input format).
    #[arg(long)]
    pub output_type: Option<String>,
    /// Write the result to this file (atomically) instead of stdout.
    #[arg(long, conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Write the result over FILE (atomically) instead of stdout.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Use this path (not FILE's) to pick the format and the .sops.yaml rule (for stdin input).
    #[arg(long)]
    pub filename_override: Option<PathBuf>,
}

/// The input of decrypt/encrypt/rotate: a file, or stdin when FILE is absent or `-`.
struct Input {
    /// What the input is called in messages, and where -i writes.
    name: PathBuf,
    /// The path used for the format and the creation rule.
    logical: PathBuf,
    bytes: zeroize::Zeroizing<Vec<u8>>,
    stdin: bool,
}

impl Input {
    fn read(file: Option<&Path>, io: &IoOpts) -> Result<Input, CliError> {
        let stdin = file.is_none_or(|f| f == Path::new("-"));
        let name = file.map_or_else(|| PathBuf::from("-"), Path::to_owned);
        if stdin && io.in_place {
            return Err(CliError::new(
                sops_code::GENERIC,
                "-i/--in-place needs a FILE, not standard input",
            ));
        }
        let bytes = if stdin {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).map_err(|e| {
                CliError::new(sops_code::READ, format!("cannot read stdin: {}", e.kind()))
            })?;
            zeroize::Zeroizing::new(b)
        } else {
            zeroize::Zeroizing::new(read_file(&name)?)
        };
        let logical = io.filename_override.clone().unwrap_or_else(|| name.clone());
        Ok(Input {
            name,
            logical,
            bytes,
            stdin,
        })
    }

    fn format(&self, input_type: Option<&str>) -> Result<Format, CliError> {
        if self.stdin && input_type.is_none() && io_override_missing(&self.logical) {
            return Err(CliError::new(
                sops_code::GENERIC,
                "reading standard input: pass --input-type yaml|json|dotenv|ini|binary or --filename-override NAME",
            ));
        }
        format_of(&self.logical, input_type)
    }

    /// The input parsed as an encrypted file.
    fn parse(&self, input_type: Option<&str>) -> Result<EncryptedFile, CliError> {
        let format = self.format(input_type)?;
        parse_encrypted(&self.bytes, format, &self.name, &self.logical, input_type)
    }

    /// `--output-type`, else `format` (the input's).
    fn output_format(&self, io: &IoOpts, format: Format) -> Result<Format, CliError> {
        match &io.output_type {
            Some(t) => format_of(&self.logical, Some(t)),
            None => Ok(format),
        }
    }

    /// Writes the result: `--output`, `-i` (over the input) or stdout.
    /// `private`: the bytes are plaintext (decrypt), so a new file gets mode 0600.
    fn write(&self, io: &IoOpts, bytes: &[u8], private: bool) -> Result<(), CliError> {
        let target = match (&io.output, io.in_place) {
            (Some(p), _) => p.clone(),
            (None, true) => self.name.clone(),
            (None, false) => return write_stdout(bytes),
        };
        clef_sops::io::atomic_write(&target, bytes, private).map_err(|e| {
            CliError::new(
                sops_code::WRITE,
                format!("{}: cannot write: {}", target.display(), e.kind()),
            )
        })
    }
}

/// Standard input with neither `--input-type` nor `--filename-override`.
fn io_override_missing(logical: &Path) -> bool {
    logical == Path::new("-")
}

/// `decrypt`
#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// The encrypted file (standard input when absent or '-').
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputOpts,
    #[command(flatten)]
    pub io: IoOpts,
    /// Print only the value at this tree path, e.g. '["app"]["db"]'.
    #[arg(long)]
    pub extract: Option<String>,
    /// Decrypt even if the MAC does not match (prints a warning).
    #[arg(long)]
    pub ignore_mac: bool,
}

/// `encrypt`
#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// The plaintext file (standard input when absent or '-').
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputOpts,
    #[command(flatten)]
    pub io: IoOpts,
    /// Comma-separated age recipients (default: $SOPS_AGE_RECIPIENTS, then .sops.yaml).
    #[arg(short = 'a', long)]
    pub age: Option<String>,
    /// Comma-separated PGP fingerprints, wrapped by your gpg (default: $SOPS_PGP_FP).
    #[arg(short = 'p', long)]
    pub pgp: Option<String>,
    #[command(flatten)]
    pub cloud: crate::kms_flags::CloudKeyArgs,
    /// Path of a .sops.yaml to use instead of searching from the current directory.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Values whose key ends with this suffix stay in clear text.
    #[arg(long)]
    pub unencrypted_suffix: Option<String>,
    /// Only values whose key ends with this suffix are encrypted.
    #[arg(long)]
    pub encrypted_suffix: Option<String>,
    /// Values whose key matches this regex stay in clear text.
    #[arg(long)]
    pub unencrypted_regex: Option<String>,
    /// Only values whose key matches this regex are encrypted.
    #[arg(long)]
    pub encrypted_regex: Option<String>,
    /// Values after a comment matching this regex stay in clear text.
    #[arg(long)]
    pub unencrypted_comment_regex: Option<String>,
    /// Only values after a comment matching this regex are encrypted.
    #[arg(long)]
    pub encrypted_comment_regex: Option<String>,
    /// Only encrypted values are covered by the MAC.
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Number of key groups needed to decrypt (with several key groups in .sops.yaml).
    #[arg(long)]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

/// `updatekeys`
#[derive(Args, Debug)]
pub struct UpdateKeysArgs {
    /// The encrypted file (rewritten in place).
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    #[command(flatten)]
    pub keys: KeyChangeArgs,
    /// Accepted for compatibility with `sops updatekeys -y`; clef never prompts.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Path of a .sops.yaml to use instead of searching from the current directory.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `rotate`
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The encrypted file (standard input when absent or '-').
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputOpts,
    #[command(flatten)]
    pub io: IoOpts,
    #[command(flatten)]
    pub keys: KeyChangeArgs,
}

/// The master keys `updatekeys` and `rotate` add and remove.
#[derive(Args, Debug)]
pub struct KeyChangeArgs {
    /// age recipients to add (comma-separated, repeatable).
    #[arg(long)]
    pub add_age: Vec<String>,
    /// age recipients to remove (comma-separated, repeatable).
    #[arg(long)]
    pub rm_age: Vec<String>,
    /// PGP fingerprints to add (comma-separated, repeatable; wrapped by gpg).
    #[arg(long)]
    pub add_pgp: Vec<String>,
    /// PGP fingerprints to remove (comma-separated, repeatable).
    #[arg(long)]
    pub rm_pgp: Vec<String>,
}

/// [`KeyChangeArgs`] with each list split at its commas.
struct KeyChange {
    add: Vec<String>,
    rm: Vec<String>,
    add_pgp: Vec<String>,
    rm_pgp: Vec<String>,
}

impl KeyChangeArgs {
    fn split(&self) -> KeyChange {
        KeyChange {
            add: split_recipients(&self.add_age),
            rm: split_recipients(&self.rm_age),
            add_pgp: split_recipients(&self.add_pgp),
            rm_pgp: split_recipients(&self.rm_pgp),
        }
    }
}

impl KeyChange {
    /// Whether no key is added or removed.
    fn is_empty(&self) -> bool {
        [&self.add, &self.rm, &self.add_pgp, &self.rm_pgp]
            .iter()
            .all(|l| l.is_empty())
    }

    /// The access list when clef.yaml governs `file`; refuses a change that
    /// does not agree with it.
    fn governed(&self, file: &Path) -> Result<Option<clef_core::access::Access>, CliError> {
        governed(file, &[&self.add[..], &self.add_pgp].concat(), &self.rm)
    }
}

/// `set`
#[derive(Args, Debug)]
pub struct SetArgs {
    /// The encrypted file (rewritten in place).
    pub file: PathBuf,
    /// Tree path, e.g. '["app"]["port"]'.
    pub path: String,
    /// JSON value ('"text"', 42, true, {"a": 1}); omit with --value-stdin or --value-file.
    pub value: Option<String>,
    #[command(flatten)]
    pub input: InputOpts,
    /// Read the JSON value from standard input.
    #[arg(long, conflicts_with = "value_file")]
    pub value_stdin: bool,
    /// VALUE is the path of a file holding the JSON value.
    #[arg(long)]
    pub value_file: bool,
    /// Leave the file untouched (no new lastmodified/MAC) when the value is already set.
    #[arg(long)]
    pub idempotent: bool,
}

/// `unset`
#[derive(Args, Debug)]
pub struct UnsetArgs {
    /// The encrypted file (rewritten in place).
    pub file: PathBuf,
    /// Tree path, e.g. '["app"]["port"]'.
    pub path: String,
    #[command(flatten)]
    pub input: InputOpts,
    /// Succeed without changing the file when the path does not exist.
    #[arg(long)]
    pub idempotent: bool,
}

/// A single file argument.
#[derive(Args, Debug)]
pub struct FileArg {
    /// The file.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
}

fn dispatch(cmd: SopsCmd) -> Result<(), CliError> {
    match cmd {
        SopsCmd::Edit(a) => sops_edit::edit(a),
        SopsCmd::ExecEnv(a) => sops_exec::exec_env(a),
        SopsCmd::ExecFile(a) => sops_exec::exec_file(a),
        SopsCmd::Decrypt(a) => decrypt(a),
        SopsCmd::Encrypt(a) => encrypt(a),
        SopsCmd::Updatekeys(a) => updatekeys(a),
        SopsCmd::Rotate(a) => rotate(a),
        SopsCmd::Set(a) => set(a),
        SopsCmd::Unset(a) => unset(a),
        SopsCmd::Filestatus(a) => filestatus(a),
        SopsCmd::Groups(g) => groups(g),
    }
}

/// `groups add|delete`: changes the key groups and re-wraps the same data key
/// for every master key (re-splitting it between the groups), as sops does;
/// values, `lastmodified` and `mac` are unchanged.
fn groups(cmd: GroupsCmd) -> Result<(), CliError> {
    let opts = match &cmd {
        GroupsCmd::Add(a) => &a.opts,
        GroupsCmd::Delete(a) => &a.opts,
    };
    // Key groups change who can unwrap the data key; on a cell that is
    // clef.yaml's to decide, never the cell's.
    if let Some((cell, _)) = clef_core::access::governing(&opts.file)? {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{}: a cell of clef.yaml ({}); its readers are clef.yaml's recipients: change them with `clef recipients add|remove`",
                opts.file.display(),
                cell.target()
            ),
        ));
    }
    let mut file = load(&opts.file, opts.input.input_type.as_deref())?;
    let mut groups = file.meta.key_groups.clone();
    match &cmd {
        GroupsCmd::Add(a) => {
            let mut group = KeyGroup::of_recipients(&split_recipients(&a.age));
            for r in &group.age {
                check_age_recipient(&r.recipient)?;
            }
            group.other = a.cloud.stanzas()?;
            group
                .other
                .extend(clef_sops::config::pgp_stanzas(&split_recipients(&a.pgp)));
            groups.push(group);
        }
        GroupsCmd::Delete(a) if a.index < groups.len() => {
            groups.remove(a.index);
        }
        GroupsCmd::Delete(a) => {
            return Err(CliError::new(
                sops_code::GENERIC,
                format!(
                    "there is no key group {}: the file has {} (counted from 0)",
                    a.index,
                    groups.len()
                ),
            ));
        }
    }
    let threshold = opts
        .shamir_secret_sharing_threshold
        .filter(|t| *t != 0)
        .unwrap_or(file.meta.shamir_threshold);
    if groups.len() < threshold {
        return Err(CliError::new(
            sops_code::GENERIC,
            format!(
                "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {threshold}, but we only have {} key groups",
                groups.len()
            ),
        ));
    }
    let ids = identities()?;
    file.set_key_groups(&ids, groups, threshold)
        .map_err(|e| fail(&opts.file, e))?;
    let out = file.to_bytes().map_err(|e| fail(&opts.file, e))?;
    if opts.in_place {
        write_file(&opts.file, &out)
    } else {
        write_stdout(&out)
    }
}

/// The format of `file`: `--input-type`, else its extension (`.yaml`/`.yml`,
/// `.json`, `.env`, `.ini`), else binary, as sops decides; never guessed
/// from content.
pub fn format_of(file: &Path, explicit: Option<&str>) -> Result<Format, CliError> {
    match explicit {
        Some(t) => Format::from_name(t).ok_or_else(|| {
            CliError::new(
                code::USAGE,
                format!("unknown format '{t}' (expected yaml, json, dotenv, ini or binary)"),
            )
        }),
        None => Ok(Format::from_path_or_binary(file)),
    }
}

/// Reads a file, mapping errors to sops's exit codes.
pub fn read_file(file: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(file).map_err(|e| {
        let c = if e.kind() == std::io::ErrorKind::NotFound {
            sops_code::NO_FILE
        } else {
            sops_code::READ
        };
        CliError::new(c, format!("{}: cannot read: {}", file.display(), e.kind()))
    })
}

/// Loads and parses an encrypted file.
pub fn load(file: &Path, input_type: Option<&str>) -> Result<EncryptedFile, CliError> {
    let format = format_of(file, input_type)?;
    let bytes = read_file(file)?;
    parse_encrypted(&bytes, format, file, file, input_type)
}

/// Discovers identities (the keyring's age backend), mapping errors.
pub fn identities() -> Result<Keyring, CliError> {
    let here = std::env::current_dir().unwrap_or_default();
    clef_core::local::identities_near(&here)
        .map(|ids| with_backends(Keyring::new(ids)))
        .map_err(|e| CliError::new(code::KEY, e.to_string()))
}

/// `ring` plus the cloud KMS backends and the user's gpg for `pgp` stanzas.
fn with_backends(ring: Keyring) -> Keyring {
    clef_kms::with_cloud_backends(ring, clef_kms::AwsOptions::from_env())
        .with_backend(Box::new(clef_sops::pgp::GpgBackend::from_env()))
}

/// Writes bytes to stdout in one go.
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            sops_code::WRITE,
            format!("cannot write to stdout: {}", e.kind()),
        )),
    }
}

/// Writes ciphertext to `file` atomically.
pub fn write_file(file: &Path, bytes: &[u8]) -> Result<(), CliError> {
    clef_sops::io::atomic_write(file, bytes, false).map_err(|e| {
        CliError::new(
            sops_code::WRITE,
            format!("{}: cannot write: {}", file.display(), e.kind()),
        )
    })
}

fn decrypt(a: DecryptArgs) -> Result<(), CliError> {
    let input = Input::read(a.file.as_deref(), &a.io)?;
    let file = input.parse(a.input.input_type.as_deref())?;
    let out_format = input.output_format(&a.io, file.format)?;
    let ids = identities()?;
    let key = file.data_key(&ids).map_err(|e| fail(&input.name, e))?;
    let plain = if a.ignore_mac {
        let (p, ok) = file
            .decrypt_unchecked(key)
            .map_err(|e| fail(&input.name, e))?;
        if !ok {
            crate::out::note(format!(
                "warning: {}: MAC {} ignored (--ignore-mac)",
                input.name.display(),
                if file.meta.mac.is_empty() {
                    "absent"
                } else {
                    "mismatch"
                }
            ));
        }
        p
    } else {
        file.decrypt_with_key(key)
            .map_err(|e| fail(&input.name, e))?
    };
    // sops's "Error dumping file" (4): the tree has no form in that format.
    let dump =
        |e: SopsError| CliError::new(sops_code::DUMP, format!("{}: {e}", input.name.display()));
    let bytes = match &a.extract {
        None => plain.emit(out_format).map_err(dump)?,
        Some(expr) => {
            let steps = path::parse(expr)
                .map_err(|e| CliError::new(sops_code::TREE_PATH, e.to_string()))?;
            let doc = plain.docs.first().cloned().unwrap_or_default();
            let v = path::get(&doc, &steps)
                .map_err(|e| CliError::new(sops_code::GENERIC, e.to_string()))?;
            extract_bytes(&v, out_format).map_err(dump)?
        }
    };
    input.write(&a.io, &bytes, true)
}

/// How sops prints an extracted value: strings raw; other values the way the
/// store marshals them (YAML: a document ending in a newline; JSON: indented,
/// with a trailing newline only for objects).
fn extract_bytes(v: &clef_doc::Value, f: Format) -> Result<zeroize::Zeroizing<Vec<u8>>, SopsError> {
    use clef_doc::{Branch, Item, Value};
    use zeroize::Zeroizing;
    if f == Format::Binary {
        return Err(SopsError::Output {
            format: "binary",
            reason: "binary files are not structured; extracting a single value is not possible"
                .into(),
        });
    }
    if let Value::Str(s) = v {
        return Ok(Zeroizing::new(s.as_bytes().to_vec()));
    }
    // sops's INI store marshals a single value as JSON.
    let f = if f == Format::Ini { Format::Json } else { f };
    // sops's dotenv store emits strings (and whole maps) only.
    if f == Format::Dotenv && !matches!(v, Value::Map(_)) {
        let what = match v {
            Value::Null => "null",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Time(_) => "a timestamp",
            Value::List(_) => "a list",
            _ => "a comment",
        };
        return Err(SopsError::Output {
            format: "dotenv",
            reason: format!("the dotenv store only supports emitting strings, got {what}"),
        });
    }
    if let Value::Comment(c) = v {
        // A comment item of a list is sops's `Comment{Value}` struct: YAML
        // and JSON marshal its one field.
        let field = |name: &str| Branch(vec![Item::Entry(name.into(), Value::Str(c.clone()))]);
        return match f {
            Format::Yaml => clef_sops::emit_plain(&[field("value")], Format::Yaml),
            _ => {
                let mut text = clef_sops::emit_plain(&[field("Value")], Format::Json)?;
                if text.last() == Some(&b'\n') {
                    text.pop();
                }
                Ok(text)
            }
        };
    }
    if let Value::Map(b) = v {
        return clef_sops::emit_plain(std::slice::from_ref(b), f);
    }
    let wrapped = Branch(vec![Item::Entry("x".into(), v.clone())]);
    Ok(match f {
        Format::Yaml | Format::Dotenv => {
            let text = clef_sops::emit_plain(&[wrapped], Format::Yaml)?;
            let text = String::from_utf8_lossy(&text);
            let out = match text.strip_prefix("x: ") {
                Some(scalar) => scalar.to_owned(),
                None => text
                    .strip_prefix("x:\n")
                    .unwrap_or(&text)
                    .lines()
                    .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
                    .collect(),
            };
            Zeroizing::new(out.into_bytes())
        }
        Format::Json | Format::Ini | Format::Binary => {
            let text = clef_sops::emit_plain(&[wrapped], Format::Json)?;
            let text = String::from_utf8_lossy(&text);
            // "{\n\t\"x\": VALUE\n}\n" -> VALUE, de-indented one level
            let inner = text
                .strip_prefix("{\n\t\"x\": ")
                .and_then(|r| r.strip_suffix("\n}\n"))
                .unwrap_or(&text);
            let out: Vec<&str> = inner
                .lines()
                .map(|l| l.strip_prefix('\t').unwrap_or(l))
                .collect();
            Zeroizing::new(out.join("\n").into_bytes())
        }
    })
}

fn split_recipients(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn encrypt(a: EncryptArgs) -> Result<(), CliError> {
    let input = Input::read(a.file.as_deref(), &a.io)?;
    let format = input.format(a.input.input_type.as_deref())?;
    let out_format = input.output_format(&a.io, format)?;
    if format == Format::Yaml {
        // sops refuses a YAML file without a document: 92 when it is empty, 2
        // (cannot read the input) when it holds only comments.
        let text = String::from_utf8_lossy(&input.bytes);
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let (code, what) = match lines.next() {
            None => (
                sops_code::NO_DOCUMENT,
                "file cannot be completely empty, it must contain at least one document",
            ),
            Some(first) if first.starts_with('#') && lines.all(|l| l.starts_with('#')) => (
                sops_code::READ,
                "the YAML file holds only comments: there is no document to encrypt",
            ),
            Some(_) => (0, ""),
        };
        if code != 0 {
            return Err(CliError::new(
                code,
                format!("{}: {what}", input.name.display()),
            ));
        }
    }
    let docs = clef_sops::parse_plain(&input.bytes, format).map_err(|e| fail(&input.name, e))?;
    let flag_rule = [
        a.unencrypted_suffix
            .clone()
            .map(CryptRule::UnencryptedSuffix),
        a.encrypted_suffix.clone().map(CryptRule::EncryptedSuffix),
        a.unencrypted_regex.clone().map(CryptRule::UnencryptedRegex),
        a.encrypted_regex.clone().map(CryptRule::EncryptedRegex),
        a.unencrypted_comment_regex
            .clone()
            .map(CryptRule::UnencryptedCommentRegex),
        a.encrypted_comment_regex
            .clone()
            .map(CryptRule::EncryptedCommentRegex),
    ];
    let mut flag_rules = flag_rule.into_iter().flatten();
    let rule_flag = flag_rules.next();
    if flag_rules.next().is_some() {
        return Err(CliError::new(
            code::USAGE,
            "use at most one of the six crypt-rule options",
        ));
    }
    let cli_recipients = a.age.clone().or_else(|| {
        std::env::var("SOPS_AGE_RECIPIENTS")
            .ok()
            .filter(|s| !s.trim().is_empty())
    });
    let mut cloud_keys = a.cloud.stanzas()?;
    let pgp = a.pgp.clone().or_else(|| {
        std::env::var("SOPS_PGP_FP")
            .ok()
            .filter(|s| !s.trim().is_empty())
    });
    cloud_keys.extend(clef_sops::config::pgp_stanzas(&split_recipients(
        pgp.as_slice(),
    )));
    let cli_recipients = match cli_recipients {
        None if !cloud_keys.is_empty() => Some(String::new()),
        r => r,
    };
    let (groups, threshold, rule, mac_only) = match cli_recipients {
        Some(list) => {
            let rs = split_recipients(&[list]);
            let mut group = KeyGroup::of_recipients(&rs);
            group.other = cloud_keys;
            (vec![group], 0, rule_flag, a.mac_only_encrypted)
        }
        None => {
            let config = config_path(a.config.as_deref())?;
            let c = clef_sops::config::creation_for(&config, &input.logical)
                .map_err(|e| CliError::new(code::CONFIG, e.to_string()))?;
            (
                c.groups,
                c.shamir_threshold,
                rule_flag.or(c.rule),
                a.mac_only_encrypted || c.mac_only_encrypted,
            )
        }
    };
    let threshold = a.shamir_secret_sharing_threshold.unwrap_or(threshold);
    for g in &groups {
        for k in &g.age {
            check_age_recipient(&k.recipient)?;
        }
    }
    let plain = PlainFile::new(
        out_format,
        docs,
        groups,
        threshold,
        rule.unwrap_or_default(),
        mac_only,
        &with_backends(Keyring::empty()),
    )
    .map_err(|e| fail(&input.name, e))?;
    let enc = plain.encrypt().map_err(|e| fail(&input.name, e))?;
    let out = enc.to_bytes().map_err(|e| fail(&input.name, e))?;
    input.write(&a.io, &out, false)
}

fn updatekeys(a: UpdateKeysArgs) -> Result<(), CliError> {
    let mut file = load(&a.file, a.input.input_type.as_deref())?;
    let change = a.keys.split();
    // A cell of clef.yaml gets exactly the recipients clef.yaml grants.
    if let Some(access) = change.governed(&a.file)? {
        let ids = identities()?;
        let mut plain = file.decrypt(&ids).map_err(|e| fail(&a.file, e))?;
        let done = access
            .conform(&mut plain, false, &ids)
            .map_err(|e| fail(&a.file, e))?;
        if done.is_none() {
            return Ok(());
        }
        return write_file(&a.file, &seal(&plain, &a.file)?);
    }
    let ids = identities()?;
    if !change.is_empty() {
        // clef's extension: change master keys without a .sops.yaml.
        let k = &change;
        clef_sops::update_master_keys(&mut file, &ids, &k.add, &k.rm, &k.add_pgp, &k.rm_pgp)
            .map_err(|e| fail(&a.file, e))?;
        let out = file.to_bytes().map_err(|e| fail(&a.file, e))?;
        return write_file(&a.file, &out);
    }
    // sops's form: sync the key groups with the matching .sops.yaml creation rule.
    let config = config_path(a.config.as_deref())?;
    let c = clef_sops::config::creation_for(&config, &a.file)
        .map_err(|e| CliError::new(sops_code::GENERIC, e.to_string()))?;
    // Every master key of each group by what names it, as sops shows them:
    // an age recipient, a PGP fingerprint, a KMS ARN (+ role), a resource id.
    let master_keys = |gs: &[KeyGroup]| -> Vec<Vec<String>> {
        fn field<'a>(v: &'a clef_doc::Value, f: &str) -> &'a str {
            clef_sops::masterkey::stanza_field(v, f).unwrap_or("")
        }
        gs.iter()
            .map(|g| {
                let other = g.other.iter().map(|(kind, v)| match kind.as_str() {
                    "pgp" => field(v, "fp").to_owned(),
                    "kms" if field(v, "role").is_empty() => field(v, "arn").to_owned(),
                    "kms" => format!("{}+{}", field(v, "arn"), field(v, "role")),
                    "gcp_kms" => field(v, "resource_id").to_owned(),
                    k => format!("{k} key"),
                });
                g.age
                    .iter()
                    .map(|k| k.recipient.clone())
                    .chain(other)
                    .collect()
            })
            .collect()
    };
    let (now, want) = (master_keys(&file.meta.key_groups), master_keys(&c.groups));
    let others = [&file.meta.key_groups, &c.groups]
        .iter()
        .any(|gs| gs.iter().any(|g| !g.other.is_empty()));
    if now == want && file.meta.shamir_threshold == c.shamir_threshold {
        crate::out::info(format!("File {} already up to date", a.file.display()));
        return Ok(());
    }
    for (i, g) in want.iter().enumerate() {
        crate::out::info(format!("Group {}", i + 1));
        let had = now.get(i).cloned().unwrap_or_default();
        for r in g {
            let mark = if had.contains(r) { "   " } else { "+++" };
            crate::out::info(format!("    {mark} {r}"));
        }
        for r in had.iter().filter(|r| !g.contains(r)) {
            crate::out::info(format!("    --- {r}"));
        }
    }
    if now.len() <= 1 && want.len() == 1 && !others && c.shamir_threshold == 0 {
        let now0 = now.first().cloned().unwrap_or_default();
        let add: Vec<String> = want[0]
            .iter()
            .filter(|r| !now0.contains(r))
            .cloned()
            .collect();
        let rm: Vec<String> = now0
            .iter()
            .filter(|r| !want[0].contains(r))
            .cloned()
            .collect();
        clef_sops::update_recipients(&mut file, &ids, &add, &rm)
    } else {
        file.set_key_groups(&ids, c.groups, c.shamir_threshold)
    }
    .map_err(|e| fail(&a.file, e))?;
    let out = file.to_bytes().map_err(|e| fail(&a.file, e))?;
    write_file(&a.file, &out)?;
    crate::out::info(format!("File {} synced with new keys", a.file.display()));
    Ok(())
}

/// The `.sops.yaml` to use: `--config`, `$SOPS_CONFIG`, else the nearest one
/// from the current directory upwards.
fn config_path(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    explicit
        .map(Path::to_owned)
        .or_else(|| std::env::var_os("SOPS_CONFIG").map(PathBuf::from))
        .or_else(|| {
            std::env::current_dir()
                .ok()
                .and_then(|d| clef_sops::config::find(&d))
        })
        .ok_or_else(|| {
            CliError::new(
                sops_code::GENERIC,
                "config file not found, or has no creation rules, and no keys provided through command line options",
            )
        })
}

/// The access list when clef.yaml governs `file` (a cell): its recipients
/// are clef.yaml's, so `--add-age`/`--rm-age` may only agree with it.
fn governed(
    file: &Path,
    add: &[String],
    rm: &[String],
) -> Result<Option<clef_core::access::Access>, CliError> {
    let Some((cell, access)) = clef_core::access::governing(file)? else {
        return Ok(None);
    };
    let against = add
        .iter()
        .filter(|r| !access.age.contains(r))
        .chain(rm.iter().filter(|r| access.age.contains(r)))
        .cloned()
        .collect::<Vec<_>>();
    if !against.is_empty() {
        return Err(CliError::new(
            code::USAGE,
            format!(
                "{}: clef.yaml decides who may read cell {} (not granted there / granted there: {}); change it with `clef recipients add|remove`",
                file.display(),
                cell.target(),
                against.join(", ")
            ),
        ));
    }
    Ok(Some(access))
}

/// Loads and decrypts an encrypted file.
fn open(file: &Path, input_type: Option<&str>) -> Result<PlainFile, CliError> {
    let f = load(file, input_type)?;
    let ids = identities()?;
    f.decrypt(&ids).map_err(|e| fail(file, e))
}

fn rotate(a: RotateArgs) -> Result<(), CliError> {
    let input = Input::read(a.file.as_deref(), &a.io)?;
    let file = input.parse(a.input.input_type.as_deref())?;
    let change = a.keys.split();
    let access = change.governed(&input.name)?;
    let KeyChange {
        add,
        rm,
        add_pgp,
        rm_pgp,
    } = &change;
    for r in add {
        check_age_recipient(r)?;
    }
    // The data key is recovered with the keys the file has now, so removing the
    // only key this user holds (while adding another) works, as in sops.
    let ids = identities()?;
    let mut plain = file.decrypt(&ids).map_err(|e| fail(&input.name, e))?;
    let groups = &mut plain.meta.key_groups;
    // (for a governed cell, conform below replaces the groups with the manifest's)
    if groups.is_empty() {
        groups.push(KeyGroup::default());
    }
    for g in groups.iter_mut() {
        g.age.retain(|k| !rm.contains(&k.recipient));
    }
    for r in add {
        if !groups
            .iter()
            .any(|g| g.age.iter().any(|k| &k.recipient == r))
        {
            groups[0].age.push(clef_sops::AgeKey {
                recipient: r.clone(),
                enc: String::new(),
            });
        }
    }
    clef_sops::pgp::change_stanzas(groups, add_pgp, rm_pgp);
    match access {
        // A cell of clef.yaml gets exactly the recipients clef.yaml grants.
        Some(access) => access.conform(&mut plain, true, &ids).map(drop),
        None => plain.rotate(&ids),
    }
    .map_err(|e| fail(&input.name, e))?;
    input.write(&a.io, &seal(&plain, &input.name)?, false)
}

/// Decrypts `file_path`, applies `edit` to its first document and writes it
/// back, unless `edit` reports no change (then the file is left untouched).
fn edit_in_place(
    file_path: &Path,
    input_type: Option<&str>,
    edit: impl FnOnce(&mut clef_doc::Branch) -> Result<bool, CliError>,
) -> Result<(), CliError> {
    let mut plain = open(file_path, input_type)?;
    if plain.docs.is_empty() {
        plain.docs.push(clef_doc::Branch::new());
    }
    if !edit(&mut plain.docs[0])? {
        return Ok(());
    }
    write_file(file_path, &seal(&plain, file_path)?)
}

/// Encrypts `plain` (read from `name`) and serialises it.
fn seal(plain: &PlainFile, name: &Path) -> Result<Vec<u8>, CliError> {
    plain
        .encrypt()
        .and_then(|f| f.to_bytes())
        .map_err(|e| fail(name, e))
}

/// Refuses a malformed age recipient, with sops's generic code.
fn check_age_recipient(r: &str) -> Result<(), CliError> {
    clef_keys::check_recipient(r).map_err(|e| CliError::new(sops_code::GENERIC, e.to_string()))
}

fn set(a: SetArgs) -> Result<(), CliError> {
    let steps = set_path(&a.path)?;
    let text = match (&a.value, a.value_stdin, a.value_file) {
        (Some(v), false, false) => zeroize::Zeroizing::new(v.clone()),
        (None, true, false) => {
            let mut s = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                CliError::new(sops_code::READ, format!("cannot read stdin: {}", e.kind()))
            })?;
            s
        }
        (Some(f), false, true) => {
            let bytes = zeroize::Zeroizing::new(read_file(Path::new(f))?);
            zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => {
            return Err(CliError::new(
                sops_code::GENERIC,
                "give VALUE (a file with --value-file) or --value-stdin",
            ));
        }
    };
    let value = path::parse_json_value(&text)
        .map_err(|e| CliError::new(sops_code::SET_FORMAT, e.to_string()))?;
    let _lock = crate::repo::lock_near(&a.file)?;
    edit_in_place(&a.file, a.input.input_type.as_deref(), |doc| {
        if a.idempotent && path::get(doc, &steps).is_ok_and(|v| v == value) {
            return Ok(false);
        }
        path::set(doc, &steps, value)
            .map(|()| true)
            .map_err(|e| CliError::new(sops_code::GENERIC, e.to_string()))
    })
}

/// The tree path of `set`/`unset`.
fn set_path(p: &str) -> Result<Vec<path::Step>, CliError> {
    path::parse(p).map_err(|e| CliError::new(sops_code::SET_FORMAT, e.to_string()))
}

fn unset(a: UnsetArgs) -> Result<(), CliError> {
    let steps = set_path(&a.path)?;
    let _lock = crate::repo::lock_near(&a.file)?;
    edit_in_place(&a.file, a.input.input_type.as_deref(), |doc| {
        if a.idempotent && path::get(doc, &steps).is_err() {
            return Ok(false);
        }
        path::unset(doc, &steps)
            .map(|()| true)
            .map_err(|e| CliError::new(sops_code::GENERIC, e.to_string()))
    })
}

fn filestatus(a: FileArg) -> Result<(), CliError> {
    let format = format_of(&a.file, a.input.input_type.as_deref())?;
    // sops's filestatus fails every unreadable file with its generic code.
    let bytes = read_file(&a.file).map_err(|e| CliError::new(sops_code::GENERIC, e.msg))?;
    let encrypted = EncryptedFile::parse(&bytes, format).is_ok();
    write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())
}
