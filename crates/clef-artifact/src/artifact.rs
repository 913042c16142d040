//! The artifact document: fields, order, layout, shape guard, hash, payload.

use base64::Engine as _;
use clef_doc::{Branch, Value};
use sha2::{Digest, Sha256};

use crate::plaintext::write_js_string;
use crate::sign::VerifyKey;
use crate::{ArtifactError, clock};

/// The KMS envelope of an AES-256-GCM artifact (all six are strings;
/// `wrappedKey`, `iv` and `authTag` are base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `aws`, `gcp` or `azure`.
    pub provider: String,
    /// The KMS key (AWS: the resolved key ARN).
    pub key_id: String,
    /// The data key as the KMS wrapped it (base64).
    pub wrapped_key: String,
    /// How it was wrapped (`SYMMETRIC_DEFAULT` for AWS Encrypt).
    pub algorithm: String,
    /// The 12-byte GCM IV (base64).
    pub iv: String,
    /// The 16-byte GCM tag (base64).
    pub auth_tag: String,
}

/// A packed artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Always 1.
    pub version: u32,
    /// The service identity.
    pub identity: String,
    /// The environment.
    pub environment: String,
    /// ISO time of packing (ms, `Z`).
    pub packed_at: String,
    /// `<epoch ms>-<8 hex>`.
    pub revision: String,
    /// Hex SHA-256 of the base64 `ciphertext` text.
    pub ciphertext_hash: String,
    /// Base64: a binary age file, or the GCM output without its tag.
    pub ciphertext: String,
    /// The KMS envelope (absent on the age path).
    pub envelope: Option<Envelope>,
    /// ISO expiry (from `--ttl`).
    pub expires_at: Option<String>,
    /// Base64 signature.
    pub signature: Option<String>,
    /// `Ed25519` or `ECDSA_SHA256`.
    pub signature_algorithm: Option<String>,
}

/// `{version: 1, identity, environment, revokedAt}`: what `clef revoke` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationMarker {
    /// The service identity.
    pub identity: String,
    /// The environment.
    pub environment: String,
    /// ISO time of revocation.
    pub revoked_at: String,
}

/// What a reader can find at an artifact's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// A packed artifact.
    Artifact(Box<Artifact>),
    /// A revocation marker.
    Revoked(RevocationMarker),
}

/// Hex SHA-256 of the base64 ciphertext text (the old tool hashes the text,
/// not the bytes).
pub fn ciphertext_hash(ciphertext_b64: &str) -> String {
    let d = Sha256::digest(ciphertext_b64.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Pretty JSON writer with `JSON.stringify(x, null, 2)`'s layout.
struct Pretty {
    out: String,
    first: bool,
    depth: usize,
}

impl Pretty {
    fn new() -> Pretty {
        Pretty {
            out: String::from("{"),
            first: true,
            depth: 1,
        }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('\n');
        self.out.push_str(&"  ".repeat(self.depth));
        write_js_string(&mut self.out, k);
        self.out.push_str(": ");
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_js_string(&mut self.out, v);
    }

    fn opt(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn num(&mut self, k: &str, v: u32) {
        self.key(k);
        self.out.push_str(&v.to_string());
    }

    fn open(&mut self, k: &str) {
        self.key(k);
        self.out.push('{');
        self.first = true;
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth -= 1;
        self.out.push('\n');
        self.out.push_str(&"  ".repeat(self.depth));
        self.out.push('}');
        self.first = false;
    }

    fn finish(mut self) -> String {
        self.depth = 1;
        self.close();
        self.out
    }
}

impl Artifact {
    /// A new unsigned artifact around sealed ciphertext; `packedAt` and
    /// `revision` from `now_ms`, `expiresAt` = now + `ttl_secs`.
    pub fn new(
        identity: &str,
        environment: &str,
        ciphertext: String,
        envelope: Option<Envelope>,
        ttl_secs: Option<u64>,
        now_ms: i64,
    ) -> Artifact {
        Artifact {
            version: 1,
            identity: identity.to_owned(),
            environment: environment.to_owned(),
            packed_at: clock::iso_ms(now_ms),
            revision: clock::revision(now_ms),
            ciphertext_hash: ciphertext_hash(&ciphertext),
            ciphertext,
            envelope,
            expires_at: ttl_secs.map(|t| clock::iso_ms(now_ms + (t as i64).saturating_mul(1000))),
            signature: None,
            signature_algorithm: None,
        }
    }

    /// The `clef-sig-v3` payload: 14 fields joined by `\n`, absent ones empty.
    pub fn signing_payload(&self) -> String {
        let e = self.envelope.as_ref();
        let f = |g: fn(&Envelope) -> &str| e.map_or("", g);
        [
            "clef-sig-v3",
            &self.version.to_string(),
            &self.identity,
            &self.environment,
            &self.revision,
            &self.packed_at,
            &self.ciphertext_hash,
            self.expires_at.as_deref().unwrap_or(""),
            f(|e| &e.provider),
            f(|e| &e.key_id),
            f(|e| &e.wrapped_key),
            f(|e| &e.algorithm),
            f(|e| &e.iv),
            f(|e| &e.auth_tag),
        ]
        .join("\n")
    }

    /// Signs the artifact (sets `signature` and `signatureAlgorithm`).
    pub fn sign(&mut self, signer: &dyn crate::Signer) -> Result<(), ArtifactError> {
        let sig = signer.sign(self.signing_payload().as_bytes())?;
        self.signature = Some(base64::engine::general_purpose::STANDARD.encode(sig));
        self.signature_algorithm = Some(signer.algorithm().to_owned());
        Ok(())
    }

    /// The JSON text: 2-space indent, the reference's field order, absent
    /// optional fields omitted, no trailing newline.
    pub fn to_json(&self) -> String {
        let mut p = Pretty::new();
        p.num("version", self.version);
        p.str("identity", &self.identity);
        p.str("environment", &self.environment);
        p.str("packedAt", &self.packed_at);
        p.str("revision", &self.revision);
        p.str("ciphertextHash", &self.ciphertext_hash);
        p.str("ciphertext", &self.ciphertext);
        if let Some(e) = &self.envelope {
            p.open("envelope");
            p.str("provider", &e.provider);
            p.str("keyId", &e.key_id);
            p.str("wrappedKey", &e.wrapped_key);
            p.str("algorithm", &e.algorithm);
            p.str("iv", &e.iv);
            p.str("authTag", &e.auth_tag);
            p.close();
        }
        p.opt("expiresAt", self.expires_at.as_deref());
        p.opt("signature", self.signature.as_deref());
        p.opt("signatureAlgorithm", self.signature_algorithm.as_deref());
        p.finish()
    }

    /// Whether `ciphertextHash` matches `ciphertext`.
    pub fn hash_ok(&self) -> bool {
        ciphertext_hash(&self.ciphertext) == self.ciphertext_hash
    }

    /// Epoch ms of `expiresAt`, if set (the shape guard checked it parses).
    pub fn expires_ms(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(clock::parse_ms)
    }

    /// Verifies the signature with `key` (the algorithm comes from the key;
    /// a `signatureAlgorithm` that disagrees with the key is refused).
    pub fn verify_signature(&self, key: &VerifyKey) -> Result<(), ArtifactError> {
        let sig = self.signature.as_deref().ok_or(ArtifactError::Unsigned)?;
        if let Some(f) = &self.signature_algorithm
            && f != key.algorithm()
        {
            return Err(ArtifactError::AlgorithmMismatch {
                field: f.clone(),
                key: key.algorithm(),
            });
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .map_err(|_| ArtifactError::BadSignature)?;
        key.verify(self.signing_payload().as_bytes(), &sig)
    }

    /// The reader's checks except decryption: expiry, hash, then the
    /// signature when a key is given. Revocation is a [`Document`] variant.
    pub fn check(&self, key: Option<&VerifyKey>, now_ms: i64) -> Result<(), ArtifactError> {
        if let Some(t) = self.expires_ms()
            && t < now_ms
        {
            return Err(ArtifactError::Expired(
                self.expires_at.clone().unwrap_or_default(),
            ));
        }
        if !self.hash_ok() {
            return Err(ArtifactError::HashMismatch);
        }
        if let Some(k) = key {
            self.verify_signature(k)?;
        }
        Ok(())
    }
}

impl RevocationMarker {
    /// A marker for now.
    pub fn new(identity: &str, environment: &str, now_ms: i64) -> RevocationMarker {
        RevocationMarker {
            identity: identity.to_owned(),
            environment: environment.to_owned(),
            revoked_at: clock::iso_ms(now_ms),
        }
    }

    /// `JSON.stringify(marker, null, 2) + "\n"`, as the old tool writes it.
    pub fn to_json(&self) -> String {
        let mut p = Pretty::new();
        p.num("version", 1);
        p.str("identity", &self.identity);
        p.str("environment", &self.environment);
        p.str("revokedAt", &self.revoked_at);
        let mut s = p.finish();
        s.push('\n');
        s
    }
}

fn field<'a>(b: &'a Branch, k: &str, required: bool) -> Result<Option<&'a str>, ArtifactError> {
    match b.get(k) {
        None if !required => Ok(None),
        None => Err(ArtifactError::Shape(format!("missing '{k}'"))),
        Some(Value::Str(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ArtifactError::Shape(format!("'{k}' must be a string"))),
    }
}

fn req(b: &Branch, k: &str) -> Result<String, ArtifactError> {
    Ok(field(b, k, true)?.unwrap_or_default().to_owned())
}

fn opt(b: &Branch, k: &str) -> Result<Option<String>, ArtifactError> {
    Ok(field(b, k, false)?.map(str::to_owned))
}

const FIELDS: [&str; 12] = [
    "version",
    "identity",
    "environment",
    "packedAt",
    "revision",
    "ciphertextHash",
    "ciphertext",
    "envelope",
    "expiresAt",
    "revokedAt",
    "signature",
    "signatureAlgorithm",
];

const ENVELOPE_FIELDS: [&str; 6] = [
    "provider",
    "keyId",
    "wrappedKey",
    "algorithm",
    "iv",
    "authTag",
];

impl Document {
    /// Parses artifact text with the old tool's shape guard, made strict:
    /// unknown or duplicated fields, an unparsable `expiresAt`, and envelope
    /// fields that are not the right base64 lengths are refused too.
    pub fn parse(text: &[u8]) -> Result<Document, ArtifactError> {
        let text = std::str::from_utf8(text)
            .map_err(|e| ArtifactError::Json(format!("not UTF-8 (byte {})", e.valid_up_to())))?;
        let b = clef_doc::json::parse(text).map_err(|e| ArtifactError::Json(e.to_string()))?;
        let mut seen: Vec<&str> = Vec::new();
        for k in b.keys() {
            if !FIELDS.contains(&k) {
                return Err(ArtifactError::Shape(format!("unknown field '{k}'")));
            }
            if seen.contains(&k) {
                return Err(ArtifactError::Shape(format!("'{k}' appears twice")));
            }
            seen.push(k);
        }
        match b.get("version") {
            Some(Value::Float(f)) if *f == 1.0 => {}
            Some(Value::Int(1)) => {}
            None => return Err(ArtifactError::Shape("missing 'version'".into())),
            Some(_) => {
                return Err(ArtifactError::Shape(
                    "unsupported 'version' (expected 1)".into(),
                ));
            }
        }
        if let Some(r) = opt(&b, "revokedAt")?.filter(|r| !r.is_empty()) {
            return Ok(Document::Revoked(RevocationMarker {
                identity: opt(&b, "identity")?.unwrap_or_default(),
                environment: opt(&b, "environment")?.unwrap_or_default(),
                revoked_at: r,
            }));
        }
        let envelope = match b.get("envelope") {
            None => None,
            Some(Value::Map(e)) => {
                for k in e.keys() {
                    if !ENVELOPE_FIELDS.contains(&k) {
                        return Err(ArtifactError::Shape(format!(
                            "unknown field 'envelope.{k}'"
                        )));
                    }
                }
                let g = |k: &str| {
                    field(e, k, true)
                        .map(|v| v.unwrap_or_default().to_owned())
                        .map_err(|_| {
                            ArtifactError::Shape(format!("'envelope.{k}' must be a string"))
                        })
                };
                let env = Envelope {
                    provider: g("provider")?,
                    key_id: g("keyId")?,
                    wrapped_key: g("wrappedKey")?,
                    algorithm: g("algorithm")?,
                    iv: g("iv")?,
                    auth_tag: g("authTag")?,
                };
                check_b64_len(&env.iv, 12, "envelope.iv")?;
                check_b64_len(&env.auth_tag, 16, "envelope.authTag")?;
                Some(env)
            }
            Some(_) => return Err(ArtifactError::Shape("'envelope' must be an object".into())),
        };
        let a = Artifact {
            version: 1,
            identity: req(&b, "identity")?,
            environment: req(&b, "environment")?,
            packed_at: req(&b, "packedAt")?,
            revision: req(&b, "revision")?,
            ciphertext_hash: req(&b, "ciphertextHash")?,
            ciphertext: req(&b, "ciphertext")?,
            envelope,
            expires_at: opt(&b, "expiresAt")?,
            signature: opt(&b, "signature")?,
            signature_algorithm: opt(&b, "signatureAlgorithm")?,
        };
        if let Some(s) = &a.signature_algorithm
            && s != "Ed25519"
            && s != "ECDSA_SHA256"
        {
            return Err(ArtifactError::Shape(
                "'signatureAlgorithm' must be Ed25519 or ECDSA_SHA256".into(),
            ));
        }
        if let Some(e) = &a.expires_at
            && clock::parse_ms(e).is_none()
        {
            return Err(ArtifactError::Shape(
                "'expiresAt' is not an ISO-8601 time".into(),
            ));
        }
        Ok(Document::Artifact(Box::new(a)))
    }
}

fn check_b64_len(v: &str, len: usize, name: &str) -> Result<(), ArtifactError> {
    match base64::engine::general_purpose::STANDARD.decode(v) {
        Ok(b) if b.len() == len => Ok(()),
        _ => Err(ArtifactError::Shape(format!(
            "'{name}' must be {len} bytes of base64"
        ))),
    }
}
