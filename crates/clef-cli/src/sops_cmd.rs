//! `clef sops …`: a native drop-in for the everyday `sops` operations.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use clef_keys::Identities;
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, Keyring, PlainFile, SopsError, path};

use crate::error::{CliError, code};

/// `clef sops` subcommands.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run; boxing would only complicate clap
pub enum SopsCmd {
    /// Decrypt a file to stdout.
    Decrypt(DecryptArgs),
    /// Encrypt a plaintext file (stdout, or in place with -i).
    Encrypt(EncryptArgs),
    /// Add or remove age recipients, re-wrapping the same data key (values untouched).
    Updatekeys(UpdateKeysArgs),
    /// Generate a new data key and re-encrypt every value with it.
    Rotate(RotateArgs),
    /// Set the value at a tree path, in place (the value is JSON, as in sops).
    Set(SetArgs),
    /// Remove the value at a tree path, in place.
    Unset(UnsetArgs),
    /// Print {"encrypted":true|false}.
    Filestatus(FileArg),
}

/// Options shared by commands that read a file.
#[derive(Args, Debug)]
pub struct InputOpts {
    /// Input format: yaml, json or dotenv (default: from the file extension).
    #[arg(long)]
    pub input_type: Option<String>,
}

/// `decrypt`
#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// The encrypted file.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Output format: yaml, json or dotenv (default: the input format).
    #[arg(long)]
    pub output_type: Option<String>,
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
    /// The plaintext file.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Comma-separated age recipients (default: $SOPS_AGE_RECIPIENTS, then .sops.yaml).
    #[arg(long)]
    pub age: Option<String>,
    #[command(flatten)]
    pub cloud: crate::kms_flags::CloudKeyArgs,
    /// Write the result over FILE (atomically) instead of stdout.
    #[arg(short = 'i', long)]
    pub in_place: bool,
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
    /// age recipients to add (comma-separated, repeatable).
    #[arg(long)]
    pub add_age: Vec<String>,
    /// age recipients to remove (comma-separated, repeatable).
    #[arg(long)]
    pub rm_age: Vec<String>,
    /// Accepted for compatibility with `sops updatekeys -y`; clef never prompts.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `rotate`
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The encrypted file.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Write the result over FILE instead of stdout.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// age recipients to add while rotating.
    #[arg(long)]
    pub add_age: Vec<String>,
    /// age recipients to remove while rotating.
    #[arg(long)]
    pub rm_age: Vec<String>,
}

/// `set`
#[derive(Args, Debug)]
pub struct SetArgs {
    /// The encrypted file (rewritten in place).
    pub file: PathBuf,
    /// Tree path, e.g. '["app"]["port"]'.
    pub path: String,
    /// JSON value ('"text"', 42, true, {"a": 1}); omit with --value-stdin.
    pub value: Option<String>,
    #[command(flatten)]
    pub input: InputOpts,
    /// Read the JSON value from standard input.
    #[arg(long)]
    pub value_stdin: bool,
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
}

/// A single file argument.
#[derive(Args, Debug)]
pub struct FileArg {
    /// The file.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
}

/// Runs a `clef sops` subcommand.
pub fn run(cmd: SopsCmd) -> Result<(), CliError> {
    match cmd {
        SopsCmd::Decrypt(a) => decrypt(a),
        SopsCmd::Encrypt(a) => encrypt(a),
        SopsCmd::Updatekeys(a) => updatekeys(a),
        SopsCmd::Rotate(a) => rotate(a),
        SopsCmd::Set(a) => set(a),
        SopsCmd::Unset(a) => unset(a),
        SopsCmd::Filestatus(a) => filestatus(a),
    }
}

/// The format of `file`: `--input-type`, else its extension; never guessed from content.
pub fn format_of(file: &Path, explicit: Option<&str>) -> Result<Format, CliError> {
    match explicit {
        Some(t) => Format::from_name(t).ok_or_else(|| {
            CliError::new(code::USAGE, format!("unknown format '{t}' (expected yaml, json or dotenv)"))
        }),
        None => Format::from_path(file).ok_or_else(|| {
            CliError::new(
                code::USAGE,
                format!("{}: cannot tell the format from the file name; pass --input-type yaml|json|dotenv", file.display()),
            )
        }),
    }
}

/// Reads a file, mapping errors to sops's exit codes.
pub fn read_file(file: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(file).map_err(|e| {
        let c = if e.kind() == std::io::ErrorKind::NotFound {
            code::NO_FILE
        } else {
            code::READ
        };
        CliError::new(c, format!("{}: cannot read: {}", file.display(), e.kind()))
    })
}

/// Loads and parses an encrypted file.
pub fn load(file: &Path, input_type: Option<&str>) -> Result<EncryptedFile, CliError> {
    let format = format_of(file, input_type)?;
    let bytes = read_file(file)?;
    EncryptedFile::parse(&bytes, format).map_err(|e| CliError::sops(file, e))
}

/// Discovers identities (the keyring's age backend), mapping errors.
pub fn identities() -> Result<Keyring, CliError> {
    let here = std::env::current_dir().unwrap_or_default();
    Identities::discover_for_repo(&here)
        .map(|ids| {
            clef_kms::with_cloud_backends(Keyring::new(ids), clef_kms::AwsOptions::from_env())
        })
        .map_err(|e| CliError::new(code::KEY, e.to_string()))
}

/// Writes bytes to stdout in one go.
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            code::WRITE,
            format!("cannot write to stdout: {}", e.kind()),
        )),
    }
}

/// Writes ciphertext to `file` atomically.
pub fn write_file(file: &Path, bytes: &[u8]) -> Result<(), CliError> {
    clef_sops::io::atomic_write(file, bytes, false).map_err(|e| {
        CliError::new(
            code::WRITE,
            format!("{}: cannot write: {}", file.display(), e.kind()),
        )
    })
}

fn decrypt(a: DecryptArgs) -> Result<(), CliError> {
    let file = load(&a.file, a.input.input_type.as_deref())?;
    let out_format = match &a.output_type {
        Some(t) => format_of(&a.file, Some(t))?,
        None => file.format,
    };
    let ids = identities()?;
    let key = file
        .data_key(&ids)
        .map_err(|e| CliError::sops(&a.file, e))?;
    let plain = if a.ignore_mac {
        let (p, ok) = file
            .decrypt_unchecked(key)
            .map_err(|e| CliError::sops(&a.file, e))?;
        if !ok {
            eprintln!(
                "clef: warning: {}: MAC mismatch ignored (--ignore-mac)",
                a.file.display()
            );
        }
        p
    } else {
        file.decrypt_with_key(key)
            .map_err(|e| CliError::sops(&a.file, e))?
    };
    let bytes = match &a.extract {
        None => plain
            .emit(out_format)
            .map_err(|e| CliError::sops(&a.file, e))?,
        Some(expr) => {
            let steps =
                path::parse(expr).map_err(|e| CliError::new(code::BAD_PATH, e.to_string()))?;
            let doc = plain.docs.first().cloned().unwrap_or_default();
            let v = path::get(&doc, &steps)
                .map_err(|e| CliError::new(code::BAD_PATH, e.to_string()))?;
            extract_bytes(&v, out_format).map_err(|e| CliError::sops(&a.file, e))?
        }
    };
    write_stdout(&bytes)
}

/// How sops prints an extracted value: strings raw; other values the way the
/// store marshals them (YAML: a document ending in a newline; JSON: indented,
/// with a trailing newline only for objects).
fn extract_bytes(v: &clef_doc::Value, f: Format) -> Result<zeroize::Zeroizing<Vec<u8>>, SopsError> {
    use clef_doc::{Branch, Item, Value};
    use zeroize::Zeroizing;
    if let Value::Str(s) = v {
        return Ok(Zeroizing::new(s.as_bytes().to_vec()));
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
        Format::Json => {
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
    let format = format_of(&a.file, a.input.input_type.as_deref())?;
    let bytes = zeroize::Zeroizing::new(read_file(&a.file)?);
    let docs = clef_sops::parse_plain(&bytes, format).map_err(|e| CliError::sops(&a.file, e))?;
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
    let cloud_keys = a.cloud.stanzas()?;
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
            let config = match &a.config {
                Some(c) => c.clone(),
                None => std::env::var_os("SOPS_CONFIG")
                    .map(PathBuf::from)
                    .or_else(|| std::env::current_dir().ok().and_then(|d| clef_sops::config::find(&d)))
                    .ok_or_else(|| {
                        CliError::new(code::USAGE, "no recipients: pass --age age1…, set SOPS_AGE_RECIPIENTS, or add a .sops.yaml creation rule")
                    })?,
            };
            let c = clef_sops::config::creation_for(&config, &a.file)
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
            clef_keys::parse_recipient(&k.recipient)
                .map_err(|e| CliError::new(code::USAGE, e.to_string()))?;
        }
    }
    let plain = PlainFile::new(
        format,
        docs,
        groups,
        threshold,
        rule.unwrap_or_default(),
        mac_only,
        &clef_kms::with_cloud_backends(Keyring::empty(), clef_kms::AwsOptions::from_env()),
    )
    .map_err(|e| CliError::sops(&a.file, e))?;
    let enc = plain.encrypt().map_err(|e| CliError::sops(&a.file, e))?;
    let out = enc.to_bytes().map_err(|e| CliError::sops(&a.file, e))?;
    if a.in_place {
        write_file(&a.file, &out)
    } else {
        write_stdout(&out)
    }
}

fn updatekeys(a: UpdateKeysArgs) -> Result<(), CliError> {
    let mut file = load(&a.file, a.input.input_type.as_deref())?;
    let add = split_recipients(&a.add_age);
    let rm = split_recipients(&a.rm_age);
    // A cell of clef.yaml gets exactly the recipients clef.yaml grants.
    if let Some(access) = governed(&a.file, &add, &rm)? {
        let ids = identities()?;
        let mut plain = file.decrypt(&ids).map_err(|e| CliError::sops(&a.file, e))?;
        let done = access
            .conform(&mut plain, false, &ids)
            .map_err(|e| CliError::sops(&a.file, e))?;
        if done.is_none() {
            return Ok(());
        }
        let out = plain
            .encrypt()
            .and_then(|f| f.to_bytes())
            .map_err(|e| CliError::sops(&a.file, e))?;
        return write_file(&a.file, &out);
    }
    if add.is_empty() && rm.is_empty() {
        return Err(CliError::new(
            code::USAGE,
            "nothing to do: pass --add-age and/or --rm-age",
        ));
    }
    let ids = identities()?;
    clef_sops::update_recipients(&mut file, &ids, &add, &rm)
        .map_err(|e| CliError::sops(&a.file, e))?;
    let out = file.to_bytes().map_err(|e| CliError::sops(&a.file, e))?;
    write_file(&a.file, &out)
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

fn decrypt_file(file: &EncryptedFile, name: &Path) -> Result<PlainFile, CliError> {
    let ids = identities()?;
    file.decrypt(&ids).map_err(|e| CliError::sops(name, e))
}

fn rotate(a: RotateArgs) -> Result<(), CliError> {
    let mut file = load(&a.file, a.input.input_type.as_deref())?;
    let add = split_recipients(&a.add_age);
    let rm = split_recipients(&a.rm_age);
    let access = governed(&a.file, &add, &rm)?;
    if access.is_none() && (!add.is_empty() || !rm.is_empty()) {
        let ids = identities()?;
        clef_sops::update_recipients(&mut file, &ids, &add, &rm)
            .map_err(|e| CliError::sops(&a.file, e))?;
    }
    let ids = identities()?;
    let mut plain = file.decrypt(&ids).map_err(|e| CliError::sops(&a.file, e))?;
    match access {
        Some(access) => access.conform(&mut plain, true, &ids).map(drop),
        None => plain.rotate(&ids),
    }
    .map_err(|e| CliError::sops(&a.file, e))?;
    let out = plain
        .encrypt()
        .and_then(|f| f.to_bytes())
        .map_err(|e| CliError::sops(&a.file, e))?;
    if a.in_place {
        write_file(&a.file, &out)
    } else {
        write_stdout(&out)
    }
}

fn edit_in_place(
    file_path: &Path,
    input_type: Option<&str>,
    edit: impl FnOnce(&mut clef_doc::Branch) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let file = load(file_path, input_type)?;
    let mut plain = decrypt_file(&file, file_path)?;
    if plain.docs.is_empty() {
        plain.docs.push(clef_doc::Branch::new());
    }
    edit(&mut plain.docs[0])?;
    let out = plain
        .encrypt()
        .and_then(|f| f.to_bytes())
        .map_err(|e| CliError::sops(file_path, e))?;
    write_file(file_path, &out)
}

fn set(a: SetArgs) -> Result<(), CliError> {
    let steps = path::parse(&a.path).map_err(|e| CliError::new(code::BAD_PATH, e.to_string()))?;
    let text = match (&a.value, a.value_stdin) {
        (Some(v), false) => zeroize::Zeroizing::new(v.clone()),
        (None, true) => {
            let mut s = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                CliError::new(code::READ, format!("cannot read stdin: {}", e.kind()))
            })?;
            s
        }
        _ => {
            return Err(CliError::new(
                code::USAGE,
                "give exactly one of VALUE or --value-stdin",
            ));
        }
    };
    let value =
        path::parse_json_value(&text).map_err(|e| CliError::new(code::USAGE, e.to_string()))?;
    edit_in_place(&a.file, a.input.input_type.as_deref(), |doc| {
        path::set(doc, &steps, value).map_err(|e| CliError::new(code::BAD_PATH, e.to_string()))
    })
}

fn unset(a: UnsetArgs) -> Result<(), CliError> {
    let steps = path::parse(&a.path).map_err(|e| CliError::new(code::BAD_PATH, e.to_string()))?;
    edit_in_place(&a.file, a.input.input_type.as_deref(), |doc| {
        path::unset(doc, &steps).map_err(|e| CliError::new(code::BAD_PATH, e.to_string()))
    })
}

fn filestatus(a: FileArg) -> Result<(), CliError> {
    let format = format_of(&a.file, a.input.input_type.as_deref())?;
    let bytes = read_file(&a.file)?;
    let encrypted = EncryptedFile::parse(&bytes, format).is_ok();
    write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())
}
