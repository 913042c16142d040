//! Clef's native SOPS engine.
//!
//! Reads, decrypts, edits, encrypts and writes sops files (YAML, JSON, dotenv)
//! in memory, byte-compatible with sops 3.11: no `sops` binary, no plaintext on
//! disk. The main types:
//!
//! * [`EncryptedFile`]: a parsed sops file (ciphertext tree + [`Metadata`]).
//!   No key is needed to parse it, list its keys or check its structure.
//! * [`PlainFile`]: the decrypted tree, the data key and the IV [`Stash`].
//!   [`PlainFile::encrypt`] re-encrypts, keeping the exact `ENC[...]` of every
//!   value whose key path, type and plaintext did not change.
//!
//! Errors ([`SopsError`]) name files, key paths and fields, never values.

pub mod config;
pub mod envelope;
pub mod io;
pub mod masterkey;
pub mod metadata;
pub mod path;
pub mod pgp;
pub mod process;
pub mod re2;
pub mod shamir;
pub mod time;
mod walk;

use std::path::Path;

use clef_doc::{Branch, Item, Value};
use zeroize::Zeroizing;

pub use masterkey::{Keyring, MasterKey, MasterKeyError};
pub use metadata::{AgeKey, CryptRule, KeyGroup, Metadata};
pub use walk::{Stash, display_path, to_bytes};

/// A file format sops can store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (multi-document allowed).
    Yaml,
    /// JSON (top-level object).
    Json,
    /// dotenv (`KEY=VALUE` lines).
    Dotenv,
    /// INI (sections of `key = value`; metadata in a `[sops]` section).
    Ini,
    /// Any file as one opaque value: `{"data": "ENC[…]", "sops": {…}}`
    /// (sops's binary store; no crypt rules).
    Binary,
}

impl Format {
    /// The format implied by a file name's extension (`.yaml`/`.yml`, `.json`,
    /// `.env`, `.ini`). sops treats every other name as binary; callers that
    /// want that say so ([`Format::from_path_or_binary`]).
    pub fn from_path(p: &Path) -> Option<Format> {
        let name = p.file_name()?.to_str()?;
        let ext = name.rsplit_once('.')?.1;
        Self::from_name(ext)
    }

    /// sops's choice: the format of the extension, else binary.
    pub fn from_path_or_binary(p: &Path) -> Format {
        Self::from_path(p).unwrap_or(Format::Binary)
    }

    /// Parses a `--input-type`/`--output-type` name.
    pub fn from_name(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "dotenv" | "env" => Some(Format::Dotenv),
            "ini" => Some(Format::Ini),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }

    /// The name sops uses for the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// The 32-byte data key. Wiped on drop; compared in constant time; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        fill_random(&mut *k);
        DataKey(k)
    }

    /// Wraps raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        DataKey(Zeroizing::new(b))
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}
impl Eq for DataKey {}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Fills `buf` from the OS random source.
///
/// # Panics
/// When the OS random source fails (Linux's `getrandom(2)` does not, once
/// the pool is initialised): nothing may be encrypted without it, and the
/// binaries' panic handling (abort in release, exit 134 in `clef-merge`)
/// stops the process before anything is written. The library prints nothing.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        panic!("the operating system's random number generator failed");
    }
}

/// Everything that can go wrong in the engine. Messages name key paths and
/// fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The input is not valid YAML.
    #[error("{0}")]
    Yaml(#[from] clef_doc::yaml::YamlError),
    /// The input is not valid JSON.
    #[error("{0}")]
    Json(#[from] clef_doc::json::JsonError),
    /// The input is not valid dotenv.
    #[error("{0}")]
    Dotenv(#[from] clef_doc::dotenv::DotenvError),
    /// The input is not valid INI.
    #[error("{0}")]
    Ini(#[from] clef_doc::ini::IniError),
    /// The input is not UTF-8.
    #[error("input is not valid UTF-8 (byte {0})")]
    NotUtf8(usize),
    /// The file is empty.
    #[error("file is empty")]
    Empty,
    /// No `sops` metadata: the file is not encrypted.
    #[error("sops metadata not found: the file is not encrypted")]
    NotEncryptedFile,
    /// Encrypting a file that already has sops metadata.
    #[error("the file is already encrypted (it has sops metadata)")]
    AlreadyEncrypted,
    /// The metadata is broken.
    #[error("{0}")]
    Meta(#[from] metadata::MetaError),
    /// A crypt-rule regex does not compile.
    #[error("'{field}' is not a valid RE2 regular expression (sops uses Go's RE2): {reason}")]
    BadRule {
        /// Which rule.
        field: &'static str,
        /// Why (RE2's reason).
        reason: String,
    },
    /// A value the crypt rule says is encrypted is not an `ENC[...]`.
    #[error("value at {path} should be encrypted but is in clear text")]
    NotEncrypted {
        /// Key path.
        path: String,
    },
    /// A value failed to decrypt.
    #[error("cannot decrypt value at {path}: {reason}")]
    Value {
        /// Key path.
        path: String,
        /// What failed.
        reason: envelope::EnvelopeError,
    },
    /// A decrypted value does not parse as its declared type.
    #[error("decrypted value at {path} is not a valid '{typ}'")]
    BadPlaintext {
        /// Key path.
        path: String,
        /// Declared type.
        typ: String,
    },
    /// The MAC does not match.
    #[error(
        "MAC mismatch: the file was modified without its key (or values were reordered or tampered)"
    )]
    MacMismatch,
    /// The MAC itself cannot be decrypted (`lastmodified` or `mac` tampered).
    #[error("cannot decrypt the MAC: 'lastmodified' or 'mac' was altered")]
    MacUndecryptable,
    /// The file has no MAC.
    #[error("the file has no MAC")]
    NoMac,
    /// No master key opens the data key.
    #[error(
        "no identity can decrypt the data key; tried {}{hint}",
        join_tried(tried)
    )]
    NoIdentity {
        /// Every stanza tried, and why it failed.
        tried: Vec<MasterKeyError>,
        /// Where we looked for age identities.
        hint: String,
    },
    /// Not enough Shamir groups could be opened.
    #[error("only {got} of the {need} key groups needed could be decrypted")]
    Threshold {
        /// Groups opened.
        got: usize,
        /// Groups needed.
        need: usize,
    },
    /// A wrapped key decrypts to something that is not a data key.
    #[error("a wrapped data key has the wrong length")]
    BadDataKey,
    /// Key material problems.
    #[error("{0}")]
    Keys(#[from] clef_keys::KeyError),
    /// Shamir problems.
    #[error("{0}")]
    Shamir(#[from] shamir::ShamirError),
    /// The operation needs to re-wrap the data key for master keys clef cannot use.
    #[error(
        "the file has {0} master keys, which clef cannot wrap a new data key for (no '{0}' key backend)"
    )]
    UnsupportedMasterKey(String),
    /// A backend failed to wrap the data key.
    #[error("cannot wrap the data key for {0}")]
    Wrap(#[from] MasterKeyError),
    /// No recipients at all.
    #[error(
        "no recipients: a file must be encrypted for at least one key (an empty key group was given)"
    )]
    NoRecipients,
    /// A tree path (`["a"][0]`) problem.
    #[error("{0}")]
    Path(#[from] path::PathError),
    /// A value cannot be written in the requested output format.
    #[error("cannot write this document as {format}: {reason}")]
    Output {
        /// Target format.
        format: &'static str,
        /// Why.
        reason: String,
    },
}

fn join_tried(tried: &[MasterKeyError]) -> String {
    if tried.is_empty() {
        return "no master key (the file lists none)".into();
    }
    tried
        .iter()
        .map(MasterKeyError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The one key of a binary-store file.
pub const BINARY_KEY: &str = "data";

fn utf8(bytes: &[u8]) -> Result<&str, SopsError> {
    std::str::from_utf8(bytes).map_err(|e| SopsError::NotUtf8(e.valid_up_to()))
}

/// Parses a plaintext document. Refuses files that already carry sops metadata.
pub fn parse_plain(bytes: &[u8], format: Format) -> Result<Vec<Branch>, SopsError> {
    let text = utf8(bytes)?;
    let docs = match format {
        Format::Yaml => clef_doc::yaml::parse(text)?,
        Format::Json => vec![clef_doc::json::parse(text)?],
        Format::Dotenv => vec![clef_doc::dotenv::parse(text)?],
        Format::Ini => vec![clef_doc::ini::parse(text)?],
        Format::Binary => vec![Branch(vec![Item::Entry(
            BINARY_KEY.into(),
            Value::Str(clef_doc::tree::secret(text)),
        )])],
    };
    let encrypted = docs.iter().any(|d| match format {
        Format::Dotenv => d.keys().any(|k| k.starts_with("sops_")),
        Format::Binary => false,
        _ => d.get("sops").is_some(),
    });
    if encrypted {
        return Err(SopsError::AlreadyEncrypted);
    }
    Ok(docs)
}

/// Why a multi-document YAML file is not converted (sops would print only
/// the first document and silently drop the rest).
const MULTI_DOC: &str = "the YAML file has several documents and this format holds one (sops would print only the first and drop the others); use --extract or --output-type yaml";

/// The one document a JSON or dotenv output holds. Like sops, the first of
/// several YAML documents, but only when the others are empty (nothing is
/// lost); otherwise a refusal that says what sops would drop.
fn single_doc(docs: &[Branch], format: Format) -> Result<&Branch, SopsError> {
    static EMPTY: Branch = Branch(Vec::new());
    match docs {
        [] => Ok(&EMPTY),
        [first, rest @ ..] if rest.iter().all(Branch::is_empty) => Ok(first),
        _ => Err(SopsError::Output {
            format: format.name(),
            reason: MULTI_DOC.into(),
        }),
    }
}

/// Writes plaintext documents (the output of a decrypt).
pub fn emit_plain(docs: &[Branch], format: Format) -> Result<Zeroizing<Vec<u8>>, SopsError> {
    let text = match format {
        Format::Yaml => clef_doc::yaml::emit(docs, 4),
        Format::Json => clef_doc::json::emit(single_doc(docs, format)?, None)?,
        Format::Dotenv => clef_doc::dotenv::emit(single_doc(docs, format)?)?,
        Format::Ini => clef_doc::ini::emit(docs)?,
        Format::Binary => return binary_plain(docs),
    };
    Ok(Zeroizing::new(text.into_bytes()))
}

/// The plaintext of a binary-store tree: the first `data` string of its one
/// document, as it is (sops refuses any other tree).
fn binary_plain(docs: &[Branch]) -> Result<Zeroizing<Vec<u8>>, SopsError> {
    let bad = |reason: &str| SopsError::Output {
        format: "binary",
        reason: reason.to_owned(),
    };
    let [d] = docs else {
        return Err(bad("there must be exactly one document"));
    };
    match d.get(BINARY_KEY) {
        Some(Value::Str(s)) => Ok(Zeroizing::new(s.as_bytes().to_vec())),
        Some(_) => Err(bad("'data' key in tree does not have a string value")),
        None => Err(bad(
            "no binary data found in tree (not an encrypted binary file? choose another --output-type)",
        )),
    }
}

/// Encrypts one scalar under `key` with AAD `aad` (a fresh IV). Used for
/// conflict documents. Returns `None` for null/maps/lists (not encryptable)
/// and the empty string for an empty string (sops never encrypts those).
pub fn encrypt_value(key: &DataKey, value: &Value, aad: &str) -> Option<String> {
    if let Value::Str(s) = value
        && s.is_empty()
    {
        return Some(String::new());
    }
    let typ = value.sops_type()?;
    let bytes = to_bytes(value)?;
    Some(envelope::seal(
        key,
        &envelope::random_iv(),
        &bytes,
        aad,
        typ,
    ))
}

/// A parsed sops file: the ciphertext tree (without the `sops` key) and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedFile {
    /// The file's format.
    pub format: Format,
    /// One branch per document (YAML may have several), `sops` key removed.
    pub docs: Vec<Branch>,
    /// The metadata.
    pub meta: Metadata,
}

impl EncryptedFile {
    /// Parses an encrypted file. Needs no key.
    pub fn parse(bytes: &[u8], format: Format) -> Result<Self, SopsError> {
        let text = utf8(bytes)?;
        if text.trim().is_empty() {
            return Err(SopsError::Empty);
        }
        match format {
            Format::Yaml => {
                let mut docs = clef_doc::yaml::parse(text)?;
                let meta_v = docs
                    .first_mut()
                    .and_then(|d| d.remove("sops"))
                    .ok_or(SopsError::NotEncryptedFile)?;
                for d in docs.iter_mut().skip(1) {
                    d.remove("sops");
                }
                Ok(EncryptedFile {
                    format,
                    docs,
                    meta: Metadata::from_value(&meta_v)?,
                })
            }
            Format::Json | Format::Binary => {
                let mut doc = clef_doc::json::parse(text)?;
                let meta_v = doc.remove("sops").ok_or(SopsError::NotEncryptedFile)?;
                Ok(EncryptedFile {
                    format,
                    docs: vec![doc],
                    meta: Metadata::from_value(&meta_v)?,
                })
            }
            Format::Dotenv => {
                let doc = clef_doc::dotenv::parse(text)?;
                let mut data = Branch::new();
                let mut flat = Vec::new();
                for item in doc.0 {
                    match item {
                        Item::Entry(k, v) if k.starts_with("sops_") => {
                            let text = match v {
                                Value::Str(s) => s.expose().to_owned(),
                                _ => String::new(),
                            };
                            flat.push((k["sops_".len()..].to_owned(), text));
                        }
                        other => data.0.push(other),
                    }
                }
                if flat.is_empty() {
                    return Err(SopsError::NotEncryptedFile);
                }
                let meta_v = metadata::unflatten_from_dotenv(&flat);
                Ok(EncryptedFile {
                    format,
                    docs: vec![data],
                    meta: Metadata::from_value(&meta_v)?,
                })
            }
            Format::Ini => {
                let mut doc = clef_doc::ini::parse(text)?;
                let Some(Value::Map(section)) = doc.remove("sops") else {
                    return Err(SopsError::NotEncryptedFile);
                };
                while doc.remove("sops").is_some() {}
                let flat: Vec<(String, String)> = section
                    .0
                    .iter()
                    .filter_map(|item| match item {
                        Item::Entry(k, Value::Str(v)) => Some((k.clone(), v.replace("\\n", "\n"))),
                        _ => None,
                    })
                    .collect();
                let meta_v = metadata::unflatten_from_dotenv(&flat);
                Ok(EncryptedFile {
                    format,
                    docs: vec![doc],
                    meta: Metadata::from_value(&meta_v)?,
                })
            }
        }
    }

    /// Serializes the file as sops 3.11 would write it.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SopsError> {
        let meta_v = self.meta.to_value(self.format);
        let text = match self.format {
            Format::Yaml => {
                let docs: Vec<Branch> = if self.docs.is_empty() {
                    vec![Branch(vec![Item::Entry("sops".into(), meta_v)])]
                } else {
                    self.docs
                        .iter()
                        .map(|d| {
                            let mut d = d.clone();
                            d.0.push(Item::Entry("sops".into(), meta_v.clone()));
                            d
                        })
                        .collect()
                };
                clef_doc::yaml::emit(&docs, 4)
            }
            Format::Json | Format::Binary => {
                let mut d = self.docs.first().cloned().unwrap_or_default();
                d.0.push(Item::Entry("sops".into(), meta_v));
                clef_doc::json::emit(&d, None)?
            }
            Format::Ini => {
                let mut section = Branch::new();
                for (k, v) in metadata::flatten_for_dotenv(&meta_v) {
                    let k = k.strip_prefix("sops_").unwrap_or(&k).to_owned();
                    section
                        .0
                        .push(Item::Entry(k, Value::str(v.replace('\n', "\\n"))));
                }
                let meta_doc = Branch(vec![Item::Entry("sops".into(), Value::Map(section))]);
                let mut docs = self.docs.clone();
                docs.push(meta_doc);
                clef_doc::ini::emit(&docs)?
            }
            Format::Dotenv => {
                let mut d = self.docs.first().cloned().unwrap_or_default();
                for (k, v) in metadata::flatten_for_dotenv(&meta_v) {
                    d.0.push(Item::Entry(k, Value::str(v)));
                }
                clef_doc::dotenv::emit(&d)?
            }
        };
        Ok(text.into_bytes())
    }

    /// The top-level key names of the first document (no decryption needed).
    pub fn keys(&self) -> Vec<String> {
        self.docs
            .first()
            .map(|d| d.keys().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Key paths of values (and comments) that the crypt rule says must be
    /// encrypted but are not `ENC[...]`: a plaintext leak. Needs no key.
    pub fn unencrypted_values(&self) -> Result<Vec<String>, SopsError> {
        let rule = walk::Rule::compile(&self.meta.rule)?;
        let mut problems = Vec::new();
        let mut w = walk::Walker::new(
            &rule,
            self.meta.mac_only_encrypted,
            walk::Mode::Check {
                problems: &mut problems,
            },
        );
        for d in &self.docs {
            w.branch(d, &mut Vec::new(), &mut Vec::new())?;
        }
        Ok(problems)
    }

    /// Replaces the key groups, re-wrapping the same data key (recovered with
    /// `keys`) for every master key; values, `lastmodified` and `mac` stay as
    /// they are (sops `updatekeys` when the group layout changes).
    pub fn set_key_groups(
        &mut self,
        keys: &Keyring,
        mut groups: Vec<KeyGroup>,
        shamir_threshold: usize,
    ) -> Result<(), SopsError> {
        let key = self.data_key(keys)?;
        self.meta.shamir_threshold = wrap_groups(&mut groups, &key, shamir_threshold, keys)?;
        self.meta.key_groups = groups;
        Ok(())
    }

    /// Recovers the data key with the master keys of `keys`.
    pub fn data_key(&self, keys: &Keyring) -> Result<DataKey, SopsError> {
        recover_data_key(&self.meta, keys)
    }

    /// Decrypts the file and verifies its MAC.
    pub fn decrypt(&self, keys: &Keyring) -> Result<PlainFile, SopsError> {
        let key = self.data_key(keys)?;
        self.decrypt_with_key(key)
    }

    /// Decrypts with an already recovered data key and verifies the MAC.
    pub fn decrypt_with_key(&self, key: DataKey) -> Result<PlainFile, SopsError> {
        let (plain, _) = self.decrypt_inner(key, false)?;
        Ok(plain)
    }

    /// Decrypts without failing on a MAC that mismatches, cannot be opened or is
    /// absent (like `sops decrypt --ignore-mac`); returns whether the MAC matched.
    pub fn decrypt_unchecked(&self, key: DataKey) -> Result<(PlainFile, bool), SopsError> {
        self.decrypt_inner(key, true)
    }

    /// Like [`EncryptedFile::decrypt_with_key`] but tolerating a bad MAC.
    pub fn decrypt_ignore_mac(&self, key: DataKey) -> Result<PlainFile, SopsError> {
        self.decrypt_inner(key, true).map(|(p, _)| p)
    }

    fn decrypt_inner(
        &self,
        key: DataKey,
        ignore_mac: bool,
    ) -> Result<(PlainFile, bool), SopsError> {
        let rule = walk::Rule::compile(&self.meta.rule)?;
        let mut stash = Stash::default();
        let mut docs = Vec::with_capacity(self.docs.len());
        let computed = {
            let mut w = walk::Walker::new(
                &rule,
                self.meta.mac_only_encrypted,
                walk::Mode::Decrypt {
                    key: &key,
                    stash: &mut stash,
                },
            );
            for d in &self.docs {
                docs.push(w.branch(d, &mut Vec::new(), &mut Vec::new())?);
            }
            w.mac_hex()
        };
        let ok = match self.verify_mac(&key, &computed) {
            Ok(()) => true,
            Err(_) if ignore_mac => false,
            Err(e) => return Err(e),
        };
        Ok((
            PlainFile {
                format: self.format,
                docs,
                meta: self.meta.clone(),
                key,
                stash,
            },
            ok,
        ))
    }

    fn verify_mac(&self, key: &DataKey, computed: &str) -> Result<(), SopsError> {
        if self.meta.mac.is_empty() {
            return Err(SopsError::NoMac);
        }
        let aad = time::parse_rfc3339(&self.meta.lastmodified)
            .map(|st| time::go_rfc3339(&st))
            .ok_or(SopsError::MacUndecryptable)?;
        let env =
            envelope::Envelope::parse(&self.meta.mac).map_err(|_| SopsError::MacUndecryptable)?;
        let stored = env
            .open(key, &aad)
            .map_err(|_| SopsError::MacUndecryptable)?;
        if stored.as_slice() == computed.as_bytes() {
            Ok(())
        } else {
            Err(SopsError::MacMismatch)
        }
    }
}

fn recover_data_key(meta: &Metadata, keys: &Keyring) -> Result<DataKey, SopsError> {
    let need = meta.effective_threshold();
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut tried = Vec::new();
    for g in &meta.key_groups {
        let stanzas = g
            .age
            .iter()
            .map(|k| ("age", k.to_stanza()))
            .chain(g.other.iter().map(|(t, v)| (t.as_str(), v.clone())));
        for (kind, stanza) in stanzas {
            match keys.unwrap(kind, &stanza) {
                Ok(p) => {
                    parts.push(p);
                    break;
                }
                Err(e) => tried.push(e),
            }
        }
        if parts.len() >= need {
            break;
        }
    }
    if parts.is_empty() {
        let ids = keys.identities();
        let hint = if !ids.is_empty() {
            format!(" (age identities from: {})", ids.sources().join(", "))
        } else if meta.age_recipients().is_empty() {
            String::new()
        } else {
            " (no age identity found: set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, CLEF_AGE_KEY_FILE or put one in ~/.config/sops/age/keys.txt)".to_owned()
        };
        return Err(SopsError::NoIdentity { tried, hint });
    }
    if parts.len() < need {
        return Err(SopsError::Threshold {
            got: parts.len(),
            need,
        });
    }
    let raw = if meta.key_groups.len() <= 1 {
        parts.swap_remove(0)
    } else {
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        shamir::combine(&refs)?
    };
    let arr: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| SopsError::BadDataKey)?;
    Ok(DataKey::from_bytes(arr))
}

/// Wraps `secret` for every stanza of `group` whose `enc` is empty (or for
/// every stanza when `all`), through the keyring's backend of its kind.
fn wrap_group(
    group: &mut KeyGroup,
    secret: &[u8],
    keys: &Keyring,
    all: bool,
) -> Result<(), SopsError> {
    for k in &mut group.age {
        if all || k.enc.is_empty() {
            *k = AgeKey::from_stanza(&keys.wrap("age", &k.to_stanza(), secret)?)?;
        }
    }
    for (kind, v) in &mut group.other {
        if all || masterkey::stanza_field(v, "enc").is_none_or(|e| e.is_empty()) {
            if keys.backend(kind).is_none() {
                return Err(SopsError::UnsupportedMasterKey(kind.clone()));
            }
            *v = keys.wrap(kind, v, secret)?;
        }
    }
    Ok(())
}

/// Wraps `key` for every master key of `groups` (splitting with Shamir when there
/// are several groups) through the keyring's backends. Refuses when a group holds
/// a kind with no backend, because its `enc` would no longer open the new key material.
///
/// Returns the threshold to record: with several groups and none given, every
/// group is needed and sops writes that number (`shamir_threshold: N`).
fn wrap_groups(
    groups: &mut [KeyGroup],
    key: &DataKey,
    threshold: usize,
    keys: &Keyring,
) -> Result<usize, SopsError> {
    if groups
        .iter()
        .all(|g| g.age.is_empty() && g.other.is_empty())
    {
        return Err(SopsError::NoRecipients);
    }
    if let Some((t, _)) = groups
        .iter()
        .flat_map(|g| g.other.iter())
        .find(|(t, _)| keys.backend(t).is_none())
    {
        return Err(SopsError::UnsupportedMasterKey(t.clone()));
    }
    let threshold = if groups.len() > 1 && threshold == 0 {
        groups.len()
    } else {
        threshold
    };
    let parts: Vec<Zeroizing<Vec<u8>>> = if groups.len() <= 1 {
        vec![Zeroizing::new(key.bytes().to_vec())]
    } else {
        shamir::split(key.bytes(), groups.len(), threshold)?
    };
    for (g, part) in groups.iter_mut().zip(parts.iter()) {
        wrap_group(g, part, keys, true)?;
    }
    Ok(threshold)
}

/// A decrypted sops file, held in memory only.
pub struct PlainFile {
    /// The file's format.
    pub format: Format,
    /// Plaintext documents.
    pub docs: Vec<Branch>,
    /// Metadata (key groups, rule, …) as loaded or as set up for a new file.
    pub meta: Metadata,
    key: DataKey,
    stash: Stash,
}

impl std::fmt::Debug for PlainFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainFile")
            .field("format", &self.format)
            .field("docs", &self.docs)
            .finish_non_exhaustive()
    }
}

impl PlainFile {
    /// A new file: fresh data key, wrapped for every master key in `groups`
    /// through the backends of `keys`.
    pub fn new(
        format: Format,
        docs: Vec<Branch>,
        mut groups: Vec<KeyGroup>,
        shamir_threshold: usize,
        rule: CryptRule,
        mac_only_encrypted: bool,
        keys: &Keyring,
    ) -> Result<Self, SopsError> {
        walk::Rule::compile(&rule)?;
        let key = DataKey::random();
        let shamir_threshold = wrap_groups(&mut groups, &key, shamir_threshold, keys)?;
        Ok(PlainFile {
            format,
            docs,
            meta: Metadata::new(groups, shamir_threshold, rule, mac_only_encrypted),
            key,
            stash: Stash::default(),
        })
    }

    /// The data key.
    pub fn data_key(&self) -> &DataKey {
        &self.key
    }

    /// The IV stash.
    pub fn stash(&self) -> &Stash {
        &self.stash
    }

    /// Adds `other`'s remembered IVs (meaningful only when both share a data key;
    /// returns false and does nothing otherwise).
    pub fn absorb_stash(&mut self, other: &PlainFile) -> bool {
        if self.key != other.key {
            return false;
        }
        self.stash.absorb(&other.stash);
        true
    }

    /// Encrypts with the current data key: unchanged values keep their exact
    /// ciphertext; `lastmodified` is now and the MAC is fresh.
    pub fn encrypt(&self) -> Result<EncryptedFile, SopsError> {
        self.encrypt_at(&time::now_rfc3339())
    }

    /// [`PlainFile::encrypt`] with an explicit `lastmodified`.
    pub fn encrypt_at(&self, lastmodified: &str) -> Result<EncryptedFile, SopsError> {
        let rule = walk::Rule::compile(&self.meta.rule)?;
        let mut docs = Vec::with_capacity(self.docs.len());
        let mac_hex = {
            let mut w = walk::Walker::new(
                &rule,
                self.meta.mac_only_encrypted,
                walk::Mode::Encrypt {
                    key: &self.key,
                    stash: &self.stash,
                },
            );
            for d in &self.docs {
                docs.push(w.branch(d, &mut Vec::new(), &mut Vec::new())?);
            }
            w.mac_hex()
        };
        let aad = time::parse_rfc3339(lastmodified)
            .map(|st| time::go_rfc3339(&st))
            .ok_or(SopsError::MacUndecryptable)?;
        let mut meta = self.meta.clone();
        meta.lastmodified = lastmodified.to_owned();
        meta.mac = envelope::seal(
            &self.key,
            &envelope::random_iv(),
            mac_hex.as_bytes(),
            &aad,
            "str",
        );
        Ok(EncryptedFile {
            format: self.format,
            docs,
            meta,
        })
    }

    /// Replaces the key groups, re-wrapping the same data key (sops `updatekeys`).
    pub fn set_key_groups(
        &mut self,
        mut groups: Vec<KeyGroup>,
        shamir_threshold: usize,
        keys: &Keyring,
    ) -> Result<(), SopsError> {
        self.meta.shamir_threshold = wrap_groups(&mut groups, &self.key, shamir_threshold, keys)?;
        self.meta.key_groups = groups;
        Ok(())
    }

    /// Generates a new data key and wraps it for the same recipients (sops `rotate`).
    /// Values are re-encrypted under the new key on the next [`PlainFile::encrypt`].
    pub fn rotate(&mut self, keys: &Keyring) -> Result<(), SopsError> {
        let key = DataKey::random();
        let mut groups = self.meta.key_groups.clone();
        self.meta.shamir_threshold =
            wrap_groups(&mut groups, &key, self.meta.shamir_threshold, keys)?;
        self.meta.key_groups = groups;
        self.key = key;
        Ok(())
    }

    /// Writes the plaintext in `format` (decrypt output).
    pub fn emit(&self, format: Format) -> Result<Zeroizing<Vec<u8>>, SopsError> {
        emit_plain(&self.docs, format)
    }
}

/// Adds age recipients to the first group and removes recipients from every
/// group, re-wrapping the same data key only for the added ones: values,
/// `lastmodified` and `mac` stay untouched (sops `updatekeys` / `rotate --add-age`
/// semantics without the rotation).
pub fn update_recipients(
    file: &mut EncryptedFile,
    keys: &Keyring,
    add: &[String],
    remove: &[String],
) -> Result<(), SopsError> {
    update_master_keys(file, keys, add, remove, &[], &[])
}

/// [`update_recipients`] for age recipients and PGP fingerprints
/// (`add_pgp`/`rm_pgp`, as sops's `--add-pgp`/`--rm-pgp`; see
/// [`pgp::change_stanzas`]). The data key stays: new keys wrap the current one.
pub fn update_master_keys(
    file: &mut EncryptedFile,
    keys: &Keyring,
    add: &[String],
    remove: &[String],
    add_pgp: &[String],
    rm_pgp: &[String],
) -> Result<(), SopsError> {
    for r in add {
        clef_keys::check_recipient(r)?;
    }
    let key = file.data_key(keys)?;
    let mut groups = file.meta.key_groups.clone();
    if groups.is_empty() {
        groups.push(KeyGroup::default());
    }
    for g in &mut groups {
        g.age
            .retain(|k| !remove.iter().any(|r| r.trim() == k.recipient));
    }
    for r in add {
        let r = r.trim();
        if !groups
            .iter()
            .any(|g| g.age.iter().any(|k| k.recipient == r))
        {
            groups[0].age.push(AgeKey {
                recipient: r.to_owned(),
                enc: String::new(),
            });
        }
    }
    pgp::change_stanzas(&mut groups, add_pgp, rm_pgp);
    if groups
        .iter()
        .all(|g| g.age.is_empty() && g.other.is_empty())
    {
        return Err(SopsError::NoRecipients);
    }
    if groups.len() > 1 {
        // Shamir shares must be re-split for a changed group layout.
        file.meta.shamir_threshold =
            wrap_groups(&mut groups, &key, file.meta.shamir_threshold, keys)?;
    } else {
        wrap_group(&mut groups[0], key.bytes(), keys, false)?;
    }
    file.meta.key_groups = groups;
    Ok(())
}
