//! Walking a tree to encrypt or decrypt it, exactly as sops does: which values
//! are encrypted (the crypt rule, evaluated on the key path and on the stack of
//! preceding comments), the AAD (key path joined with `:` plus a trailing `:`),
//! the MAC (SHA-512 over the leaf plaintexts in walk order), and the IV stash
//! that keeps unchanged values byte-identical.

use std::collections::HashMap;
use std::sync::OnceLock;

use clef_doc::tree::{Secret, go_format_float_f, secret};
use clef_doc::{Branch, Item, Value};
use regex::Regex;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::envelope::{Envelope, random_iv, seal};
use crate::metadata::CryptRule;
use crate::{DataKey, SopsError};

/// The compiled crypt rule.
pub(crate) enum Rule {
    UnencSuffix(String),
    EncSuffix(String),
    UnencRegex(Regex),
    EncRegex(Regex),
    UnencComment(Regex),
    EncComment(Regex),
}

impl Rule {
    pub(crate) fn compile(r: &CryptRule) -> Result<Self, SopsError> {
        let re = |s: &str| {
            crate::re2::compile(s).map_err(|e| SopsError::BadRule {
                field: r.field(),
                reason: e.0,
            })
        };
        Ok(match r {
            CryptRule::UnencryptedSuffix(s) => Rule::UnencSuffix(s.clone()),
            CryptRule::EncryptedSuffix(s) => Rule::EncSuffix(s.clone()),
            CryptRule::UnencryptedRegex(s) => Rule::UnencRegex(re(s)?),
            CryptRule::EncryptedRegex(s) => Rule::EncRegex(re(s)?),
            CryptRule::UnencryptedCommentRegex(s) => Rule::UnencComment(re(s)?),
            CryptRule::EncryptedCommentRegex(s) => Rule::EncComment(re(s)?),
        })
    }

    /// sops's `shouldBeEncrypted`.
    fn should_encrypt(&self, path: &[String], stack: &[Vec<String>], is_comment: bool) -> bool {
        match self {
            Rule::UnencSuffix(s) => s.is_empty() || !path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::EncSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::UnencRegex(re) => !path.iter().any(|p| re.is_match(p)),
            Rule::EncRegex(re) => path.iter().any(|p| re.is_match(p)),
            Rule::UnencComment(re) => !stack.iter().flatten().any(|c| re.is_match(c)),
            Rule::EncComment(re) => {
                let last = stack.len().saturating_sub(1);
                let last_len = stack.last().map_or(0, Vec::len);
                stack.iter().enumerate().any(|(i, cs)| {
                    cs.iter().enumerate().any(|(j, c)| {
                        // The comment line that matches is itself left in clear.
                        !(is_comment && i == last && j + 1 == last_len) && re.is_match(c)
                    })
                })
            }
        }
    }
}

fn stash_salt() -> &'static [u8; 32] {
    static SALT: OnceLock<[u8; 32]> = OnceLock::new();
    SALT.get_or_init(|| {
        let mut s = [0u8; 32];
        crate::fill_random(&mut s);
        s
    })
}

/// Remembers the IV each (key path, type, plaintext) had when it was decrypted,
/// so that re-encrypting an unchanged value reproduces its exact ciphertext.
/// Entries are keyed by a salted SHA-256, so the stash holds no plaintext.
#[derive(Default, Clone)]
pub struct Stash {
    map: HashMap<[u8; 32], [u8; 32]>,
}

impl std::fmt::Debug for Stash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stash({} entries)", self.map.len())
    }
}

impl Stash {
    fn key(aad: &str, typ: &str, plain: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(stash_salt());
        h.update((aad.len() as u64).to_le_bytes());
        h.update(aad.as_bytes());
        h.update((typ.len() as u64).to_le_bytes());
        h.update(typ.as_bytes());
        h.update(plain);
        h.finalize().into()
    }

    fn get(&self, aad: &str, typ: &str, plain: &[u8]) -> Option<[u8; 32]> {
        self.map.get(&Self::key(aad, typ, plain)).copied()
    }

    fn put(&mut self, aad: &str, typ: &str, plain: &[u8], iv: &[u8]) {
        if let Ok(iv) = <[u8; 32]>::try_from(iv) {
            self.map.insert(Self::key(aad, typ, plain), iv);
        }
    }

    /// Adds every entry of `other` (entries already present win).
    pub fn absorb(&mut self, other: &Stash) {
        for (k, v) in &other.map {
            self.map.entry(*k).or_insert(*v);
        }
    }

    /// Number of remembered IVs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The canonical plaintext bytes of a scalar (sops's `ToBytes` / cipher input).
pub fn to_bytes(v: &Value) -> Option<Zeroizing<Vec<u8>>> {
    Some(Zeroizing::new(match v {
        Value::Str(s) | Value::Comment(s) => s.as_bytes().to_vec(),
        Value::Time(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => go_format_float_f(*f).into_bytes(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Null | Value::Map(_) | Value::List(_) => return None,
    }))
}

/// Parses decrypted bytes back into a typed value.
fn from_bytes(typ: &str, bytes: &[u8], path: &str) -> Result<Value, SopsError> {
    let bad = || SopsError::BadPlaintext {
        path: path.to_owned(),
        typ: typ.to_owned(),
    };
    let text = || std::str::from_utf8(bytes).map_err(|_| bad());
    Ok(match typ {
        // Not UTF-8 (a binary-store file of raw bytes): refused rather than
        // altered, since clef holds plaintext as text.
        "str" | "bytes" => Value::Str(secret(text()?)),
        "comment" => Value::Comment(secret(text()?)),
        "int" | "int64" => Value::Int(text()?.parse().map_err(|_| bad())?),
        "float" => {
            let t = text()?;
            Value::Float(match t {
                "+Inf" | "Inf" | "inf" | "+inf" => f64::INFINITY,
                "-Inf" | "-inf" => f64::NEG_INFINITY,
                "NaN" | "nan" => f64::NAN,
                _ => t.parse().map_err(|_| bad())?,
            })
        }
        "bool" => Value::Bool(match text()? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(bad()),
        }),
        "time" => {
            let t = text()?;
            if crate::time::parse_rfc3339(t).is_none() {
                return Err(bad());
            }
            Value::Time(t.to_owned())
        }
        _ => return Err(bad()),
    })
}

/// What a walk does at each leaf.
pub(crate) enum Mode<'a> {
    /// Plaintext → ciphertext, consulting the stash for IVs.
    Encrypt { key: &'a DataKey, stash: &'a Stash },
    /// Ciphertext → plaintext, filling the stash.
    Decrypt {
        key: &'a DataKey,
        stash: &'a mut Stash,
    },
    /// Ciphertext → report of values that should be encrypted but are not (no key needed).
    Check { problems: &'a mut Vec<String> },
}

pub(crate) struct Walker<'a> {
    pub rule: &'a Rule,
    pub mac_only: bool,
    pub mode: Mode<'a>,
    pub hash: Sha512,
}

/// `["a"]["b"]`-style display of a key path (names only, never values).
pub fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        return "(top level)".to_owned();
    }
    path.iter().map(|p| format!("[\"{p}\"]")).collect()
}

impl Walker<'_> {
    pub(crate) fn new<'a>(rule: &'a Rule, mac_only: bool, mode: Mode<'a>) -> Walker<'a> {
        let mut hash = Sha512::new();
        if mac_only {
            hash.update(Sha256::digest(b"sops"));
        }
        Walker {
            rule,
            mac_only,
            mode,
            hash,
        }
    }

    pub(crate) fn mac_hex(self) -> String {
        self.hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    pub(crate) fn branch(
        &mut self,
        b: &Branch,
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<Branch, SopsError> {
        stack.push(Vec::new());
        let mut out = Vec::with_capacity(b.0.len());
        for item in &b.0 {
            match item {
                Item::Comment(c) => {
                    if let Some(top) = stack.last_mut() {
                        top.push(c.expose().to_owned());
                    }
                    let enc = self.rule.should_encrypt(path, stack, true);
                    out.push(Item::Comment(self.comment(c, path, enc)?));
                }
                Item::Entry(k, v) => {
                    path.push(k.clone());
                    let nv = self.value(v, path, stack)?;
                    path.pop();
                    out.push(Item::Entry(k.clone(), nv));
                    if let Some(top) = stack.last_mut() {
                        top.clear();
                    }
                }
            }
        }
        stack.pop();
        Ok(Branch(out))
    }

    fn value(
        &mut self,
        v: &Value,
        path: &mut Vec<String>,
        stack: &mut Vec<Vec<String>>,
    ) -> Result<Value, SopsError> {
        match v {
            Value::Map(b) => Ok(Value::Map(self.branch(b, path, stack)?)),
            Value::List(items) => {
                stack.push(Vec::new());
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Value::Comment(c) = item {
                        if let Some(top) = stack.last_mut() {
                            top.push(c.expose().to_owned());
                        }
                        let enc = self.rule.should_encrypt(path, stack, true);
                        let text = self.comment(c, path, enc)?;
                        out.push(match (&self.mode, enc && !text.is_empty()) {
                            // sops stores a comment inside a sequence as an ordinary item.
                            (Mode::Encrypt { .. }, true) => Value::Str(text),
                            _ => Value::Comment(text),
                        });
                        continue;
                    }
                    out.push(self.value(item, path, stack)?);
                    if let Some(top) = stack.last_mut() {
                        top.clear();
                    }
                }
                stack.pop();
                Ok(Value::List(out))
            }
            Value::Null => Ok(Value::Null),
            leaf => {
                let enc = self.rule.should_encrypt(path, stack, false);
                self.leaf(leaf, path, enc)
            }
        }
    }

    fn aad(path: &[String]) -> String {
        let mut s = path.join(":");
        s.push(':');
        s
    }

    fn feed(&mut self, v: &Value, enc: bool) {
        if matches!(v, Value::Comment(_)) || (self.mac_only && !enc) {
            return;
        }
        if let Some(b) = to_bytes(v) {
            self.hash.update(&*b);
        }
    }

    fn comment(&mut self, c: &Secret, path: &[String], enc: bool) -> Result<Secret, SopsError> {
        if !enc || c.is_empty() {
            return Ok(c.clone());
        }
        let aad = Self::aad(path);
        match &mut self.mode {
            Mode::Encrypt { key, stash } => {
                let iv = stash
                    .get(&aad, "comment", c.as_bytes())
                    .unwrap_or_else(random_iv);
                Ok(secret(seal(key, &iv, c.as_bytes(), &aad, "comment")))
            }
            Mode::Decrypt { key, stash } => {
                // As sops: a comment that does not open is assumed to be a clear-text comment.
                let Ok(env) = Envelope::parse(c) else {
                    return Ok(c.clone());
                };
                let Ok(plain) = env.open(key, &aad) else {
                    return Ok(c.clone());
                };
                let text = secret(String::from_utf8_lossy(&plain).into_owned());
                stash.put(&aad, &env.typ, &plain, &env.iv);
                Ok(text)
            }
            Mode::Check { problems } => {
                if Envelope::parse(c).is_err() {
                    problems.push(format!("{} (comment)", display_path(path)));
                }
                Ok(c.clone())
            }
        }
    }

    fn leaf(&mut self, v: &Value, path: &[String], enc: bool) -> Result<Value, SopsError> {
        if !enc {
            self.feed(v, enc);
            return Ok(v.clone());
        }
        let aad = Self::aad(path);
        if let Mode::Encrypt { .. } = self.mode {
            self.feed(v, enc);
        }
        match &mut self.mode {
            Mode::Encrypt { key, stash } => {
                if let Value::Str(s) = v
                    && s.is_empty()
                {
                    return Ok(v.clone());
                }
                let (Some(typ), Some(bytes)) = (v.sops_type(), to_bytes(v)) else {
                    return Ok(v.clone());
                };
                let iv = stash.get(&aad, typ, &bytes).unwrap_or_else(random_iv);
                let key: &DataKey = key;
                Ok(Value::Str(secret(seal(key, &iv, &bytes, &aad, typ))))
            }
            Mode::Decrypt { key, stash } => {
                let Value::Str(s) = v else {
                    return Err(SopsError::NotEncrypted {
                        path: display_path(path),
                    });
                };
                if s.is_empty() {
                    self.hash.update(b"");
                    return Ok(v.clone());
                }
                let env = Envelope::parse(s).map_err(|e| match e {
                    crate::envelope::EnvelopeError::Malformed => SopsError::NotEncrypted {
                        path: display_path(path),
                    },
                    other => SopsError::Value {
                        path: display_path(path),
                        reason: other,
                    },
                })?;
                let plain = env.open(key, &aad).map_err(|e| SopsError::Value {
                    path: display_path(path),
                    reason: e,
                })?;
                let typed = from_bytes(&env.typ, &plain, &display_path(path))?;
                // The stash is keyed on the canonical bytes of the typed value.
                if let Some(canon) = to_bytes(&typed) {
                    stash.put(&aad, &env.typ, &canon, &env.iv);
                    if !matches!(typed, Value::Comment(_)) {
                        self.hash.update(&*canon);
                    }
                }
                Ok(typed)
            }
            Mode::Check { problems } => {
                match v {
                    Value::Str(s) if s.is_empty() || Envelope::parse(s).is_ok() => {}
                    _ => problems.push(display_path(path)),
                }
                Ok(v.clone())
            }
        }
    }
}
