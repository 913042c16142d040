//! `clef.yaml`: the manifest that declares environments, namespaces, the
//! SOPS backend and recipients, and where cells live.
//!
//! Layout (compatible with the existing Clef):
//!
//! ```yaml
//! version: 1
//! environments:
//!   - name: dev
//!     description: Local development
//!   - name: production
//!     description: Live system
//!     protected: true
//!     recipients: [age1…]          # optional: the complete list for this env
//! namespaces:
//!   - name: api
//!     description: Api configuration
//!     schema: schemas/api.yaml     # optional
//!     owners: [alice]              # optional
//! sops:
//!   default_backend: age
//!   age:
//!     recipients: [age1…]
//! file_pattern: secrets/{namespace}/{environment}.enc.yaml
//! ```
//!
//! Unknown keys, invalid names and wrong types are rejected with the line and
//! the reason. The parsed document tree is kept, so edits (recipients) keep
//! the file's comments and order.

use std::path::{Path, PathBuf};

use clef_doc::{Branch, Item, Value};

use crate::locate::{self, Seg};

/// The manifest's file name at the repository root.
pub const FILE_NAME: &str = "clef.yaml";
/// The default cell path pattern.
pub const DEFAULT_FILE_PATTERN: &str = "secrets/{namespace}/{environment}.enc.yaml";

/// A manifest problem: where and why. Never contains a secret (the manifest holds none).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("{}: cannot read: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error kind.
        reason: String,
    },
    /// The file is not valid YAML.
    #[error("{}:{line}: invalid YAML: {reason}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The document is YAML but not a valid manifest.
    #[error("{}:{line}: {field}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The offending field, e.g. `environments[1].name`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// A backend named in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// age (the only one clef can encrypt for).
    Age,
    /// AWS KMS.
    AwsKms,
    /// GCP KMS.
    GcpKms,
    /// Azure Key Vault.
    AzureKv,
    /// PGP.
    Pgp,
    /// PKCS#11 HSM.
    Hsm,
}

impl Backend {
    /// Parses a backend name as clef.yaml spells it.
    pub fn parse(s: &str) -> Option<Backend> {
        Some(match s {
            "age" => Backend::Age,
            "awskms" => Backend::AwsKms,
            "gcpkms" => Backend::GcpKms,
            "azurekv" => Backend::AzureKv,
            "pgp" => Backend::Pgp,
            "hsm" => Backend::Hsm,
            _ => return None,
        })
    }

    /// The name as clef.yaml spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Age => "age",
            Backend::AwsKms => "awskms",
            Backend::GcpKms => "gcpkms",
            Backend::AzureKv => "azurekv",
            Backend::Pgp => "pgp",
            Backend::Hsm => "hsm",
        }
    }

    /// The key field this backend requires.
    fn key_field(self) -> Option<&'static str> {
        match self {
            Backend::Age => None,
            Backend::AwsKms => Some("aws_kms_arn"),
            Backend::GcpKms => Some("gcp_kms_resource_id"),
            Backend::AzureKv => Some("azure_kv_url"),
            Backend::Pgp => Some("pgp_fingerprint"),
            Backend::Hsm => Some("pkcs11_uri"),
        }
    }
}

/// The cloud KMS key clef.yaml names for an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsKey {
    /// An AWS KMS key or alias ARN (`kms` stanzas).
    Aws(String),
    /// A GCP Cloud KMS crypto key resource id (`gcp_kms` stanzas).
    Gcp(String),
}

impl KmsKey {
    /// The sops stanza kind: `kms` or `gcp_kms`.
    pub fn kind(&self) -> &'static str {
        match self {
            KmsKey::Aws(_) => "kms",
            KmsKey::Gcp(_) => "gcp_kms",
        }
    }

    /// The ARN or resource id.
    pub fn id(&self) -> &str {
        match self {
            KmsKey::Aws(s) | KmsKey::Gcp(s) => s,
        }
    }

    /// The stanza field holding [`KmsKey::id`]: `arn` or `resource_id`.
    pub fn id_field(&self) -> &'static str {
        match self {
            KmsKey::Aws(_) => "arn",
            KmsKey::Gcp(_) => "resource_id",
        }
    }

    /// The backend that uses this key.
    pub fn backend(&self) -> Backend {
        match self {
            KmsKey::Aws(_) => Backend::AwsKms,
            KmsKey::Gcp(_) => Backend::GcpKms,
        }
    }

    /// The key for `backend` named `id`; `None` for a backend that is not a
    /// cloud KMS clef can use.
    pub fn of(backend: Backend, id: &str) -> Option<KmsKey> {
        match backend {
            Backend::AwsKms => Some(KmsKey::Aws(id.to_owned())),
            Backend::GcpKms => Some(KmsKey::Gcp(id.to_owned())),
            _ => None,
        }
    }
}

impl std::fmt::Display for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind(), self.id())
    }
}

const KEY_FIELDS: [&str; 5] = [
    "aws_kms_arn",
    "gcp_kms_resource_id",
    "azure_kv_url",
    "pgp_fingerprint",
    "pkcs11_uri",
];

/// An age recipient with an optional label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `age1…`.
    pub key: String,
    /// Who it is.
    pub label: Option<String>,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Name (`^[a-z][a-z0-9_-]*$`).
    pub name: String,
    /// Description.
    pub description: String,
    /// Whether writes need confirmation.
    pub protected: bool,
    /// Per-environment backend override.
    pub backend: Option<Backend>,
    /// `sops.aws_kms_arn` of the override, when it names one.
    pub aws_kms_arn: Option<String>,
    /// `sops.gcp_kms_resource_id` of the override, when it names one.
    pub gcp_kms_resource_id: Option<String>,
    /// Per-environment recipients: when present, the complete list for this env.
    pub recipients: Option<Vec<Recipient>>,
}

/// A namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Name (`^[a-z][a-z0-9_-]*$`).
    pub name: String,
    /// Description.
    pub description: String,
    /// Schema file, relative to the repository root.
    pub schema: Option<String>,
    /// Owners.
    pub owners: Vec<String>,
}

/// A service identity's key for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKey {
    /// An age recipient.
    Recipient(String),
    /// A KMS key (clef cannot encrypt for these; kept for compatibility).
    Kms {
        /// aws, gcp or azure.
        provider: String,
        /// The key id.
        key_id: String,
    },
}

/// A service identity (CI, a deployed service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdentity {
    /// DNS-label name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Namespaces it may read.
    pub namespaces: Vec<String>,
    /// Per-environment keys.
    pub environments: Vec<(String, ServiceKey)>,
    /// Runtime-only identity (packed artifacts; not a cell recipient).
    pub pack_only: bool,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Environments, in file order.
    pub environments: Vec<Environment>,
    /// Namespaces, in file order.
    pub namespaces: Vec<Namespace>,
    /// `sops.default_backend`.
    pub default_backend: Backend,
    /// `sops.age.recipients`.
    pub age_recipients: Vec<Recipient>,
    /// `sops.aws_kms_arn`.
    pub aws_kms_arn: Option<String>,
    /// `sops.gcp_kms_resource_id`.
    pub gcp_kms_resource_id: Option<String>,
    /// `sops.break_glass`: an age recipient kept in every KMS cell beside
    /// the KMS key, so a lost KMS key does not lose the data.
    pub break_glass: Option<String>,
    /// `file_pattern`.
    pub file_pattern: String,
    /// `service_identities`.
    pub service_identities: Vec<ServiceIdentity>,
    doc: Branch,
    path: PathBuf,
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('a'..='z')) && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
}

fn valid_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Checks a YAML document field by field, each error naming the field and
/// its line (`locate`): clef.yaml's reader, and `.clef/policy.yaml`'s
/// (`crate::policy`), each building its own error type with `invalid`.
pub(crate) struct Ctx<'a, E> {
    text: &'a str,
    invalid: &'a dyn Fn(usize, String, String) -> E,
}

impl<'a, E> Ctx<'a, E> {
    /// Errors of the document `text` are built by `invalid(line, field, reason)`.
    pub(crate) fn new(text: &'a str, invalid: &'a dyn Fn(usize, String, String) -> E) -> Self {
        Ctx { text, invalid }
    }

    /// The error for the field at `at` (the top level when empty).
    pub(crate) fn err(&self, at: &[Seg], reason: impl Into<String>) -> E {
        (self.invalid)(
            locate::line_of(self.text, at).unwrap_or(0),
            if at.is_empty() {
                "(top level)".into()
            } else {
                locate::display(at)
            },
            reason.into(),
        )
    }

    /// `v` as a mapping with no duplicate key and, unless `allowed` is
    /// empty, no key outside `allowed`.
    pub(crate) fn map<'v>(
        &self,
        v: &'v Value,
        at: &[Seg],
        allowed: &[&str],
    ) -> Result<&'v Branch, E> {
        let Value::Map(b) = v else {
            return Err(self.err(at, "must be a mapping"));
        };
        let mut seen: Vec<&str> = Vec::new();
        for k in b.keys() {
            let mut p = at.to_vec();
            p.push(Seg::key(k));
            if !allowed.is_empty() && !allowed.contains(&k) {
                return Err(self.err(&p, format!("unknown key (allowed: {})", allowed.join(", "))));
            }
            if seen.contains(&k) {
                return Err(self.err(&p, "duplicate key"));
            }
            seen.push(k);
        }
        Ok(b)
    }

    fn string(
        &self,
        b: &Branch,
        at: &[Seg],
        key: &str,
        required: bool,
    ) -> Result<Option<String>, E> {
        let mut p = at.to_vec();
        p.push(Seg::key(key));
        match b.get(key) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(self.err(&p, "is required")),
            Some(Value::Str(s)) => {
                if required && s.trim().is_empty() {
                    Err(self.err(&p, "must not be empty"))
                } else {
                    Ok(Some(s.expose().to_owned()))
                }
            }
            Some(_) => Err(self.err(&p, "must be a string")),
        }
    }

    fn list<'v>(&self, b: &'v Branch, at: &[Seg], key: &str) -> Result<Option<&'v [Value]>, E> {
        let mut p = at.to_vec();
        p.push(Seg::key(key));
        match b.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::List(l)) => Ok(Some(l)),
            Some(_) => Err(self.err(&p, "must be a list")),
        }
    }

    fn recipients(
        &self,
        list: &[Value],
        at: &[Seg],
        check_keys: bool,
    ) -> Result<Vec<Recipient>, E> {
        let mut out = Vec::new();
        for (i, v) in items(list).enumerate() {
            let mut p = at.to_vec();
            p.push(Seg::Index(i));
            let r = match v {
                Value::Str(s) => Recipient {
                    key: s.trim().to_owned(),
                    label: None,
                },
                Value::Map(_) => {
                    let m = self.map(v, &p, &["key", "label"])?;
                    Recipient {
                        key: self
                            .string(m, &p, "key", true)?
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                        label: self.string(m, &p, "label", false)?,
                    }
                }
                _ => return Err(self.err(&p, "must be an age recipient string or {key, label}")),
            };
            if check_keys && clef_keys::parse_recipient(&r.key).is_err() {
                return Err(self.err(
                    &p,
                    format!("'{}' is not a valid age recipient (age1…)", r.key),
                ));
            }
            if out.iter().any(|x: &Recipient| x.key == r.key) {
                return Err(self.err(&p, format!("recipient '{}' is listed twice", r.key)));
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// The non-comment items of a list.
fn items(list: &[Value]) -> impl Iterator<Item = &Value> {
    list.iter().filter(|v| !matches!(v, Value::Comment(_)))
}

impl Manifest {
    /// Reads and validates `<root>/clef.yaml`.
    pub fn load(root: &Path) -> Result<Manifest, ManifestError> {
        let path = root.join(FILE_NAME);
        let bytes = std::fs::read(&path).map_err(|e| ManifestError::Io {
            path: path.clone(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "not found (run `clef init` first)".into()
            } else {
                e.kind().to_string()
            },
        })?;
        let text = String::from_utf8(bytes).map_err(|e| ManifestError::Yaml {
            path: path.clone(),
            line: 0,
            reason: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        })?;
        Self::parse(&text, &path)
    }

    /// Parses and validates manifest text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let docs = clef_doc::yaml::parse(text).map_err(|e| ManifestError::Yaml {
            path: path.to_owned(),
            line: e.line,
            reason: e.reason.clone(),
        })?;
        let invalid = |line, field, reason| ManifestError::Invalid {
            path: path.to_owned(),
            line,
            field,
            reason,
        };
        let cx = Ctx::new(text, &invalid);
        let doc = match docs.as_slice() {
            [d] => d.clone(),
            [] => return Err(cx.err(&[], "the file is empty")),
            _ => return Err(cx.err(&[], "must hold exactly one YAML document")),
        };
        let top = Value::Map(doc.clone());
        let root = cx.map(
            &top,
            &[],
            &[
                "version",
                "environments",
                "namespaces",
                "sops",
                "file_pattern",
                "service_identities",
            ],
        )?;
        match root.get("version") {
            Some(Value::Int(1)) => {}
            None => return Err(cx.err(&[], "'version' is required (version: 1)")),
            Some(_) => return Err(cx.err(&[Seg::key("version")], "must be the number 1")),
        }

        // sops
        let sops_at = [Seg::key("sops")];
        let sops_v = root
            .get("sops")
            .ok_or_else(|| cx.err(&[], "'sops' is required"))?;
        let mut sops_keys = vec!["default_backend", "age", "break_glass"];
        sops_keys.extend(KEY_FIELDS);
        let sops = cx.map(sops_v, &sops_at, &sops_keys)?;
        let backend_name = cx
            .string(sops, &sops_at, "default_backend", true)?
            .unwrap_or_default();
        let default_backend = Backend::parse(&backend_name).ok_or_else(|| {
            cx.err(
                &[Seg::key("sops"), Seg::key("default_backend")],
                format!(
                    "unknown backend '{backend_name}' (age, awskms, gcpkms, azurekv, pgp, hsm)"
                ),
            )
        })?;
        if let Some(f) = default_backend.key_field() {
            cx.string(sops, &sops_at, f, true)?;
        }
        let aws_kms_arn = cx.string(sops, &sops_at, "aws_kms_arn", false)?;
        let gcp_kms_resource_id = cx.string(sops, &sops_at, "gcp_kms_resource_id", false)?;
        let break_glass = cx.string(sops, &sops_at, "break_glass", false)?;
        if let Some(b) = &break_glass
            && clef_keys::parse_recipient(b).is_err()
        {
            return Err(cx.err(
                &[Seg::key("sops"), Seg::key("break_glass")],
                format!("'{b}' is not a valid age recipient (age1…)"),
            ));
        }
        let age_recipients = match sops.get("age") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                let at = [Seg::key("sops"), Seg::key("age")];
                let age = cx.map(v, &at, &["recipients"])?;
                match cx.list(age, &at, "recipients")? {
                    Some(l) => cx.recipients(
                        l,
                        &[Seg::key("sops"), Seg::key("age"), Seg::key("recipients")],
                        true,
                    )?,
                    None => Vec::new(),
                }
            }
        };

        // environments
        let envs = cx
            .list(root, &[], "environments")?
            .ok_or_else(|| cx.err(&[], "'environments' is required"))?;
        let mut environments: Vec<Environment> = Vec::new();
        for (i, v) in items(envs).enumerate() {
            let at = [Seg::key("environments"), Seg::Index(i)];
            let mut allowed = vec!["name", "description", "protected", "sops", "recipients"];
            allowed.extend(KEY_FIELDS);
            let m = cx.map(v, &at, &allowed)?;
            let name = cx.string(m, &at, "name", true)?.unwrap_or_default();
            let name_at = [Seg::key("environments"), Seg::Index(i), Seg::key("name")];
            if !valid_name(&name) {
                return Err(cx.err(
                    &name_at,
                    format!("'{name}' is not a valid name (lowercase letter, then a-z 0-9 _ -)"),
                ));
            }
            if environments.iter().any(|e| e.name == name) {
                return Err(cx.err(&name_at, format!("environment '{name}' is declared twice")));
            }
            let description = cx.string(m, &at, "description", true)?.unwrap_or_default();
            let protected = match m.get("protected") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(cx.err(
                        &[
                            Seg::key("environments"),
                            Seg::Index(i),
                            Seg::key("protected"),
                        ],
                        "must be true or false",
                    ));
                }
            };
            let (mut env_arn, mut env_gcp) = (None, None);
            let backend = match m.get("sops") {
                None | Some(Value::Null) => None,
                Some(sv) => {
                    let sat = [Seg::key("environments"), Seg::Index(i), Seg::key("sops")];
                    let mut allowed = vec!["backend"];
                    allowed.extend(KEY_FIELDS);
                    let s = cx.map(sv, &sat, &allowed)?;
                    let b = cx.string(s, &sat, "backend", true)?.unwrap_or_default();
                    let b = Backend::parse(&b).ok_or_else(|| {
                        let mut p = sat.to_vec();
                        p.push(Seg::key("backend"));
                        cx.err(
                            &p,
                            format!(
                                "unknown backend '{b}' (age, awskms, gcpkms, azurekv, pgp, hsm)"
                            ),
                        )
                    })?;
                    // a cloud KMS environment may use the global key field
                    let global = match b {
                        Backend::AwsKms => aws_kms_arn.is_some(),
                        Backend::GcpKms => gcp_kms_resource_id.is_some(),
                        _ => false,
                    };
                    if let Some(f) = b.key_field() {
                        cx.string(s, &sat, f, !global)?;
                    }
                    env_arn = cx.string(s, &sat, "aws_kms_arn", false)?;
                    env_gcp = cx.string(s, &sat, "gcp_kms_resource_id", false)?;
                    Some(b)
                }
            };
            let recipients = match cx.list(m, &at, "recipients")? {
                None => None,
                Some(l) => {
                    let rat = [
                        Seg::key("environments"),
                        Seg::Index(i),
                        Seg::key("recipients"),
                    ];
                    if backend.unwrap_or(default_backend) != Backend::Age {
                        return Err(cx.err(&rat, "per-environment recipients need the age backend"));
                    }
                    Some(cx.recipients(l, &rat, true)?)
                }
            };
            environments.push(Environment {
                name,
                description,
                protected,
                backend,
                aws_kms_arn: env_arn,
                gcp_kms_resource_id: env_gcp,
                recipients,
            });
        }
        if environments.is_empty() {
            return Err(cx.err(
                &[Seg::key("environments")],
                "must list at least one environment",
            ));
        }

        // namespaces
        let nss = cx
            .list(root, &[], "namespaces")?
            .ok_or_else(|| cx.err(&[], "'namespaces' is required"))?;
        let mut namespaces: Vec<Namespace> = Vec::new();
        for (i, v) in items(nss).enumerate() {
            let at = [Seg::key("namespaces"), Seg::Index(i)];
            let m = cx.map(v, &at, &["name", "description", "schema", "owners"])?;
            let name = cx.string(m, &at, "name", true)?.unwrap_or_default();
            let name_at = [Seg::key("namespaces"), Seg::Index(i), Seg::key("name")];
            if !valid_name(&name) {
                return Err(cx.err(
                    &name_at,
                    format!("'{name}' is not a valid name (lowercase letter, then a-z 0-9 _ -)"),
                ));
            }
            if namespaces.iter().any(|n| n.name == name) {
                return Err(cx.err(&name_at, format!("namespace '{name}' is declared twice")));
            }
            let description = cx.string(m, &at, "description", true)?.unwrap_or_default();
            let schema = cx.string(m, &at, "schema", false)?;
            let mut owners = Vec::new();
            if let Some(l) = cx.list(m, &at, "owners")? {
                for (j, o) in items(l).enumerate() {
                    match o {
                        Value::Str(s) => owners.push(s.expose().to_owned()),
                        _ => {
                            return Err(cx.err(
                                &[
                                    Seg::key("namespaces"),
                                    Seg::Index(i),
                                    Seg::key("owners"),
                                    Seg::Index(j),
                                ],
                                "must be a string",
                            ));
                        }
                    }
                }
            }
            namespaces.push(Namespace {
                name,
                description,
                schema,
                owners,
            });
        }
        if namespaces.is_empty() {
            return Err(cx.err(
                &[Seg::key("namespaces")],
                "must list at least one namespace",
            ));
        }

        // file_pattern
        let file_pattern = cx
            .string(root, &[], "file_pattern", false)?
            .unwrap_or_else(|| DEFAULT_FILE_PATTERN.to_owned());
        let fp_at = [Seg::key("file_pattern")];
        if !file_pattern.contains("{namespace}") || !file_pattern.contains("{environment}") {
            return Err(cx.err(&fp_at, "must contain both {namespace} and {environment}"));
        }
        if file_pattern.starts_with('/') || file_pattern.split('/').any(|c| c == "..") {
            return Err(cx.err(
                &fp_at,
                "must be a relative path inside the repository (no leading '/', no '..')",
            ));
        }
        if !(file_pattern.ends_with(".yaml")
            || file_pattern.ends_with(".yml")
            || file_pattern.ends_with(".json"))
        {
            return Err(cx.err(&fp_at, "must end in .yaml, .yml or .json"));
        }

        // service identities
        let mut service_identities: Vec<ServiceIdentity> = Vec::new();
        if let Some(l) = cx.list(root, &[], "service_identities")? {
            for (i, v) in items(l).enumerate() {
                let at = [Seg::key("service_identities"), Seg::Index(i)];
                let m = cx.map(
                    v,
                    &at,
                    &[
                        "name",
                        "description",
                        "namespaces",
                        "environments",
                        "pack_only",
                    ],
                )?;
                let name = cx.string(m, &at, "name", true)?.unwrap_or_default();
                let name_at = [
                    Seg::key("service_identities"),
                    Seg::Index(i),
                    Seg::key("name"),
                ];
                if !valid_dns_label(&name) {
                    return Err(cx.err(&name_at, format!("'{name}' is not a valid DNS label")));
                }
                if service_identities.iter().any(|s| s.name == name) {
                    return Err(cx.err(
                        &name_at,
                        format!("service identity '{name}' is declared twice"),
                    ));
                }
                let description = cx.string(m, &at, "description", false)?;
                let mut sns = Vec::new();
                let nat = [
                    Seg::key("service_identities"),
                    Seg::Index(i),
                    Seg::key("namespaces"),
                ];
                for (j, n) in items(cx.list(m, &at, "namespaces")?.unwrap_or_default()).enumerate()
                {
                    let mut p = nat.to_vec();
                    p.push(Seg::Index(j));
                    let Value::Str(n) = n else {
                        return Err(cx.err(&p, "must be a string"));
                    };
                    if !namespaces.iter().any(|x| x.name == **n) {
                        return Err(cx.err(&p, format!("unknown namespace '{}'", n.as_str())));
                    }
                    sns.push(n.expose().to_owned());
                }
                if sns.is_empty() {
                    return Err(cx.err(&nat, "must list at least one namespace"));
                }
                let mut senvs = Vec::new();
                let eat = [
                    Seg::key("service_identities"),
                    Seg::Index(i),
                    Seg::key("environments"),
                ];
                if let Some(ev) = m.get("environments") {
                    let em = cx.map(
                        ev,
                        &eat,
                        &environments
                            .iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>(),
                    )?;
                    for (en, val) in em.0.iter().filter_map(|it| match it {
                        Item::Entry(k, v) => Some((k, v)),
                        Item::Comment(_) => None,
                    }) {
                        let mut p = eat.to_vec();
                        p.push(Seg::key(en));
                        let e = cx.map(val, &p, &["recipient", "kms"])?;
                        let key = match (e.get("recipient"), e.get("kms")) {
                            (Some(Value::Str(r)), None) => {
                                if clef_keys::parse_recipient(r).is_err() {
                                    return Err(cx.err(
                                        &p,
                                        format!("'{}' is not a valid age recipient", r.as_str()),
                                    ));
                                }
                                ServiceKey::Recipient(r.trim().to_owned())
                            }
                            (None, Some(k)) => {
                                let mut kp = p.clone();
                                kp.push(Seg::key("kms"));
                                let k = cx.map(k, &kp, &["provider", "keyId"])?;
                                let provider =
                                    cx.string(k, &kp, "provider", true)?.unwrap_or_default();
                                if !["aws", "gcp", "azure"].contains(&provider.as_str()) {
                                    return Err(cx.err(
                                        &kp,
                                        format!(
                                            "unknown KMS provider '{provider}' (aws, gcp, azure)"
                                        ),
                                    ));
                                }
                                let key_id = cx.string(k, &kp, "keyId", true)?.unwrap_or_default();
                                crate::service::check_kms(&provider, &key_id)
                                    .map_err(|r| cx.err(&kp, r))?;
                                ServiceKey::Kms { provider, key_id }
                            }
                            _ => {
                                return Err(
                                    cx.err(&p, "needs exactly one of 'recipient' (age1…) or 'kms'")
                                );
                            }
                        };
                        senvs.push((en.clone(), key));
                    }
                }
                let pack_only = matches!(m.get("pack_only"), Some(Value::Bool(true)));
                service_identities.push(ServiceIdentity {
                    name,
                    description,
                    namespaces: sns,
                    environments: senvs,
                    pack_only,
                });
            }
        }

        Ok(Manifest {
            environments,
            namespaces,
            default_backend,
            age_recipients,
            aws_kms_arn,
            gcp_kms_resource_id,
            break_glass,
            file_pattern,
            service_identities,
            doc,
            path: path.to_owned(),
        })
    }

    /// The manifest's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An environment by name.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// A namespace by name.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// The effective backend of an environment.
    pub fn backend_of(&self, env: &Environment) -> Backend {
        env.backend.unwrap_or(self.default_backend)
    }

    /// The cloud KMS key an environment's cells are sealed with: its own
    /// `sops` override's key field, else the global one; `None` for an
    /// environment on age (or on a backend clef cannot use).
    pub fn kms_key(&self, env: &Environment) -> Option<KmsKey> {
        let backend = self.backend_of(env);
        let id = match backend {
            Backend::AwsKms => env.aws_kms_arn.as_ref().or(self.aws_kms_arn.as_ref()),
            Backend::GcpKms => env
                .gcp_kms_resource_id
                .as_ref()
                .or(self.gcp_kms_resource_id.as_ref()),
            _ => None,
        }?;
        KmsKey::of(backend, id)
    }

    /// Points the manifest at another backend, globally (`env` = None:
    /// `sops.default_backend` and its key field) or for one environment (its
    /// `sops` override). `key` is the ARN or resource id (`None` for age). The
    /// document keeps its comments and order; the parsed fields are not
    /// updated: callers re-parse [`Manifest::to_text`].
    pub fn set_backend(
        &mut self,
        env: Option<&str>,
        backend: Backend,
        key: Option<&str>,
    ) -> Result<(), ManifestError> {
        let field = backend.key_field();
        let set_fields = |b: &mut Branch, backend_field: &str| {
            b.insert(backend_field, Value::str(backend.name()));
            for f in ["aws_kms_arn", "gcp_kms_resource_id"] {
                if Some(f) != field {
                    b.0.retain(|i| !matches!(i, Item::Entry(k, _) if k == f));
                }
            }
            if let (Some(f), Some(k)) = (field, key) {
                b.insert(f, Value::str(k));
            }
        };
        match env {
            None => {
                let Some(Value::Map(sops)) = self.doc.get_mut("sops") else {
                    return Err(self.invalid("sops", "must be a mapping".into()));
                };
                set_fields(sops, "default_backend");
            }
            Some(e) => {
                let idx = self.env_index(e)?;
                let Some(Value::List(envs)) = self.doc.get_mut("environments") else {
                    return Err(self.invalid("environments", "must be a list".into()));
                };
                let Some(Value::Map(m)) = envs
                    .iter_mut()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .nth(idx)
                else {
                    return Err(self.invalid("environments", format!("'{e}' is not a mapping")));
                };
                if !matches!(m.get("sops"), Some(Value::Map(_))) {
                    m.insert("sops", Value::Map(Branch::new()));
                }
                if let Some(Value::Map(s)) = m.get_mut("sops") {
                    set_fields(s, "backend");
                }
            }
        }
        Ok(())
    }

    fn env_index(&self, e: &str) -> Result<usize, ManifestError> {
        self.environments
            .iter()
            .position(|x| x.name == e)
            .ok_or_else(|| self.invalid("environments", format!("unknown environment '{e}'")))
    }

    /// The manifest text for a new repository whose cells are sealed with a
    /// cloud KMS key (`clef init --backend awskms|gcpkms`), with an optional
    /// break-glass age recipient; `recipient` stays the age list (for
    /// environments later moved to age).
    pub fn initial_text_kms(
        namespaces: &[String],
        environments: &[String],
        recipient: &str,
        key: &KmsKey,
        break_glass: Option<&str>,
    ) -> String {
        let age = Self::initial_text(namespaces, environments, recipient);
        let field = key.backend().key_field().unwrap_or_default();
        let mut sops = format!(
            "sops:\n  default_backend: {}\n  {field}: {}\n",
            key.backend().name(),
            key.id()
        );
        if let Some(b) = break_glass {
            sops.push_str(&format!("  break_glass: {b}\n"));
        }
        age.replacen("sops:\n  default_backend: age\n", &sops, 1)
    }

    /// The manifest text for a new repository.
    pub fn initial_text(namespaces: &[String], environments: &[String], recipient: &str) -> String {
        let mut s = String::from("version: 1\nenvironments:\n");
        for e in environments {
            let (desc, protected) = match e.as_str() {
                "dev" | "development" => ("Local development".to_owned(), false),
                "staging" => ("Pre-production".to_owned(), false),
                "production" | "prod" => ("Live system".to_owned(), true),
                other => (format!("{} environment", capitalize(other)), false),
            };
            s.push_str(&format!("  - name: {e}\n    description: {desc}\n"));
            if protected {
                s.push_str("    protected: true\n");
            }
        }
        s.push_str("namespaces:\n");
        for n in namespaces {
            s.push_str(&format!(
                "  - name: {n}\n    description: {} configuration\n",
                capitalize(n)
            ));
        }
        s.push_str(&format!(
            "sops:\n  default_backend: age\n  age:\n    recipients:\n      - {recipient}\nfile_pattern: {DEFAULT_FILE_PATTERN}\n"
        ));
        s
    }

    /// Whether `s` is a valid environment or namespace name.
    pub fn valid_name(s: &str) -> bool {
        valid_name(s)
    }

    /// Adds `r` to the global list (`env` = None) or to an environment's list.
    /// A per-environment list that does not exist yet starts as a copy of the
    /// environment's current effective recipients, so nobody loses access.
    /// Returns false when the recipient was already there.
    pub fn add_recipient(
        &mut self,
        r: &Recipient,
        env: Option<&str>,
    ) -> Result<bool, ManifestError> {
        let current = self.recipient_list(env)?;
        if current.iter().any(|x| x.key == r.key) {
            return Ok(false);
        }
        let mut list = current;
        list.push(r.clone());
        self.set_recipient_list(env, list)?;
        Ok(true)
    }

    /// The recipient list that `env` uses now (its own list, or the global
    /// one it inherits); the global list for `None`.
    fn recipient_list(&self, env: Option<&str>) -> Result<Vec<Recipient>, ManifestError> {
        Ok(match env {
            None => self.age_recipients.clone(),
            Some(e) => {
                let env = self.environment(e).ok_or_else(|| {
                    self.invalid("environments", format!("unknown environment '{e}'"))
                })?;
                env.recipients
                    .clone()
                    .unwrap_or_else(|| self.age_recipients.clone())
            }
        })
    }

    /// Removes `key` from the global list or an environment's list (creating
    /// the environment's list from the globals first if needed). Returns false
    /// when it was not there.
    pub fn remove_recipient(
        &mut self,
        key: &str,
        env: Option<&str>,
    ) -> Result<bool, ManifestError> {
        let current = self.recipient_list(env)?;
        if !current.iter().any(|x| x.key == key) {
            return Ok(false);
        }
        let list: Vec<Recipient> = current.into_iter().filter(|x| x.key != key).collect();
        self.set_recipient_list(env, list)?;
        Ok(true)
    }

    /// Removes `key` from every list it is in: the global list and each
    /// environment's own list. Returns the scopes it was removed from
    /// (`global`, `env:NAME`); empty when it was in none.
    pub fn remove_recipient_everywhere(&mut self, key: &str) -> Result<Vec<String>, ManifestError> {
        let mut scopes = Vec::new();
        if self.age_recipients.iter().any(|r| r.key == key) {
            self.remove_recipient(key, None)?;
            scopes.push("global".to_owned());
        }
        let own: Vec<String> = self
            .environments
            .iter()
            .filter(|e| e.recipients.iter().flatten().any(|r| r.key == key))
            .map(|e| e.name.clone())
            .collect();
        for e in own {
            self.remove_recipient(key, Some(&e))?;
            scopes.push(format!("env:{e}"));
        }
        Ok(scopes)
    }

    fn invalid(&self, field: &str, reason: String) -> ManifestError {
        ManifestError::Invalid {
            path: self.path.clone(),
            line: 0,
            field: field.to_owned(),
            reason,
        }
    }

    fn set_recipient_list(
        &mut self,
        env: Option<&str>,
        list: Vec<Recipient>,
    ) -> Result<(), ManifestError> {
        let values: Vec<Value> = list
            .iter()
            .map(|r| match &r.label {
                None => Value::str(r.key.clone()),
                Some(l) => Value::Map(Branch(vec![
                    Item::Entry("key".into(), Value::str(r.key.clone())),
                    Item::Entry("label".into(), Value::str(l.clone())),
                ])),
            })
            .collect();
        match env {
            None => {
                let sops = match self.doc.get_mut("sops") {
                    Some(Value::Map(m)) => m,
                    _ => return Err(self.invalid("sops", "must be a mapping".into())),
                };
                match sops.get_mut("age") {
                    Some(Value::Map(age)) => age.insert("recipients", Value::List(values)),
                    _ => sops.insert(
                        "age",
                        Value::Map(Branch(vec![Item::Entry(
                            "recipients".into(),
                            Value::List(values),
                        )])),
                    ),
                }
                self.age_recipients = list;
            }
            Some(e) => {
                let idx = self
                    .environments
                    .iter()
                    .position(|x| x.name == e)
                    .ok_or_else(|| {
                        self.invalid("environments", format!("unknown environment '{e}'"))
                    })?;
                let Some(Value::List(envs)) = self.doc.get_mut("environments") else {
                    return Err(self.invalid("environments", "must be a list".into()));
                };
                let slot = envs
                    .iter_mut()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .nth(idx)
                    .ok_or_else(|| ManifestError::Invalid {
                        path: PathBuf::from(FILE_NAME),
                        line: 0,
                        field: format!("environments[{idx}]"),
                        reason: "missing".into(),
                    })?;
                if let Value::Map(m) = slot {
                    m.insert("recipients", Value::List(values));
                }
                self.environments[idx].recipients = Some(list);
            }
        }
        Ok(())
    }

    /// Replaces `service_identities` (the document and the parsed list;
    /// [`crate::service::to_node`] writes the YAML). Callers re-parse
    /// [`Manifest::to_text`] before writing it.
    pub fn set_service_identities(&mut self, list: Vec<ServiceIdentity>) {
        if list.is_empty() {
            self.doc
                .0
                .retain(|i| !matches!(i, Item::Entry(k, _) if k == "service_identities"));
        } else {
            self.doc
                .insert("service_identities", crate::service::to_node(&list));
        }
        self.service_identities = list;
    }

    /// The manifest as YAML text (comments and order kept).
    pub fn to_text(&self) -> String {
        clef_doc::yaml::emit(std::slice::from_ref(&self.doc), 2)
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn";

    fn parse(t: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(t, Path::new("clef.yaml"))
    }

    fn err(t: &str) -> String {
        parse(t).unwrap_err().to_string()
    }

    fn base() -> String {
        Manifest::initial_text(
            &["api".into(), "web".into()],
            &["dev".into(), "production".into()],
            R1,
        )
    }

    #[test]
    fn set_backend_moves_one_environment_or_all_and_keeps_comments() {
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        let text = base().replace("namespaces:\n", "# ours\nnamespaces:\n");
        let mut m = parse(&text).unwrap();
        m.set_backend(Some("production"), Backend::AwsKms, Some(arn))
            .unwrap();
        let m2 = parse(&m.to_text()).unwrap();
        assert!(m.to_text().contains("# ours"));
        assert_eq!(
            m2.kms_key(m2.environment("production").unwrap()),
            Some(KmsKey::Aws(arn.into()))
        );
        assert_eq!(m2.kms_key(m2.environment("dev").unwrap()), None);
        let mut m3 = m2.clone();
        m3.set_backend(Some("production"), Backend::Age, None)
            .unwrap();
        let m3 = parse(&m3.to_text()).unwrap();
        assert_eq!(m3.kms_key(m3.environment("production").unwrap()), None);
        assert!(!m3.to_text().contains(arn));
        // globally, with a per-environment key taking precedence
        let mut g = m2.clone();
        g.set_backend(
            None,
            Backend::AwsKms,
            Some("arn:aws:kms:eu-west-1:111122223333:key/g"),
        )
        .unwrap();
        let g = parse(&g.to_text()).unwrap();
        assert_eq!(g.default_backend, Backend::AwsKms);
        assert_eq!(
            g.kms_key(g.environment("dev").unwrap())
                .map(|k| k.id().to_owned()),
            Some("arn:aws:kms:eu-west-1:111122223333:key/g".into())
        );
        assert_eq!(
            g.kms_key(g.environment("production").unwrap()),
            Some(KmsKey::Aws(arn.into()))
        );
        // init's KMS text, with a break-glass recipient
        let t = Manifest::initial_text_kms(
            &["api".into()],
            &["dev".into()],
            R1,
            &KmsKey::Gcp("projects/p/locations/global/keyRings/r/cryptoKeys/k".into()),
            Some(R1),
        );
        let k = parse(&t).unwrap();
        assert_eq!(k.default_backend, Backend::GcpKms);
        assert_eq!(k.break_glass.as_deref(), Some(R1));
        assert!(
            err(&t.replace(&format!("break_glass: {R1}"), "break_glass: nope"))
                .contains("break_glass")
        );
    }

    #[test]
    fn initial_manifest_parses() {
        let m = parse(&base()).unwrap();
        assert_eq!(m.environments.len(), 2);
        assert!(m.environments[1].protected);
        assert_eq!(m.namespaces[1].name, "web");
        assert_eq!(m.age_recipients[0].key, R1);
        assert_eq!(m.file_pattern, DEFAULT_FILE_PATTERN);
        assert_eq!(m.default_backend, Backend::Age);
    }

    #[test]
    fn rejections_name_line_and_reason() {
        let b = base();
        assert_eq!(
            err(&format!("{b}extra: 1\n")),
            "clef.yaml:19: extra: unknown key (allowed: version, environments, namespaces, sops, file_pattern, service_identities)"
        );
        let e = err(&b.replace("name: production", "name: Prod"));
        assert!(
            e.starts_with("clef.yaml:5: environments[1].name: 'Prod' is not a valid name"),
            "{e}"
        );
        let e = err(&b.replace("version: 1", "version: 2"));
        assert!(
            e.starts_with("clef.yaml:1: version: must be the number 1"),
            "{e}"
        );
        let e = err(&b.replace("name: web", "name: api"));
        assert!(
            e.contains("clef.yaml:11: namespaces[1].name: namespace 'api' is declared twice"),
            "{e}"
        );
        let e = err(&b.replace(
            "    description: Live system\n",
            "    description: Live system\n    colour: red\n",
        ));
        assert!(
            e.starts_with("clef.yaml:7: environments[1].colour: unknown key"),
            "{e}"
        );
        let e = err(&b.replace("default_backend: age", "default_backend: vault"));
        assert!(
            e.contains("sops.default_backend: unknown backend 'vault'"),
            "{e}"
        );
        let e = err(&b.replace(R1, "age1nope"));
        assert!(
            e.contains("sops.age.recipients[0]: 'age1nope' is not a valid age recipient"),
            "{e}"
        );
        let e = err(&b.replace(DEFAULT_FILE_PATTERN, "secrets/{namespace}.enc.yaml"));
        assert!(e.contains("file_pattern: must contain both"), "{e}");
        let e = err(&b.replace(
            DEFAULT_FILE_PATTERN,
            "../{namespace}/{environment}.enc.yaml",
        ));
        assert!(e.contains("file_pattern: must be a relative path"), "{e}");
        let e =
            err("version: 1\nenvironments: []\nnamespaces: []\nsops:\n  default_backend: age\n");
        assert!(e.contains("environments: must list at least one"), "{e}");
        let e = err("environments: [\n");
        assert!(
            e.starts_with("clef.yaml:") && e.contains("invalid YAML"),
            "{e}"
        );
        let e = err("- a\n");
        assert!(e.contains("clef.yaml:1: invalid YAML"), "{e}");
        let e = err(&b.replace(
            "sops:\n  default_backend: age",
            "sops:\n  default_backend: awskms",
        ));
        assert!(e.contains("sops.aws_kms_arn: is required"), "{e}");
    }

    #[test]
    fn per_env_recipients_start_from_the_effective_list() {
        let mut m = parse(&base()).unwrap();
        let (_, r2) = clef_keys::generate_identity();
        let added = m
            .add_recipient(
                &Recipient {
                    key: r2.clone(),
                    label: Some("bob".into()),
                },
                Some("dev"),
            )
            .unwrap();
        assert!(added);
        let keys: Vec<&str> = m
            .environment("dev")
            .unwrap()
            .recipients
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| r.key.as_str())
            .collect();
        assert_eq!(keys, [R1, r2.as_str()], "the owner keeps access");
        let text = m.to_text();
        let back = parse(&text).unwrap();
        assert_eq!(
            back.environment("dev").unwrap().recipients,
            m.environment("dev").unwrap().recipients
        );
        assert_eq!(back.environment("production").unwrap().recipients, None);
        assert!(
            !m.add_recipient(
                &Recipient {
                    key: R1.into(),
                    label: None
                },
                None
            )
            .unwrap()
        );
        assert!(m.remove_recipient(R1, Some("production")).unwrap());
        assert_eq!(
            m.environment("production").unwrap().recipients.as_deref(),
            Some(&[][..])
        );
    }

    #[test]
    fn comments_survive_edits() {
        let text = format!("# top comment\n{}", base());
        let mut m = parse(&text).unwrap();
        let (_, r2) = clef_keys::generate_identity();
        m.add_recipient(
            &Recipient {
                key: r2,
                label: None,
            },
            None,
        )
        .unwrap();
        assert!(m.to_text().starts_with("# top comment\n"));
    }
}
