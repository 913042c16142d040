//! Key handling: where age identities come from, and wrapping/unwrapping
//! the 32-byte data key (or a 33-byte Shamir share) for age recipients.
//!
//! This is the only crate that reads key material. Identity sources are the
//! ones sops uses, plus Clef's own:
//!
//! 1. `SOPS_AGE_KEY` (identities, one per line or several per line),
//! 2. `SOPS_AGE_KEY_FILE` (a path),
//! 3. `SOPS_AGE_KEY_CMD` (a command whose stdout holds identities),
//! 4. `$XDG_CONFIG_HOME/sops/age/keys.txt` (or `~/.config/sops/age/keys.txt`),
//! 5. `CLEF_AGE_KEY` and `CLEF_AGE_KEY_FILE`,
//! 6. an SSH private key (ssh-ed25519 or ssh-rsa, unencrypted):
//!    `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`
//!    when present,
//!
//! all combined: every identity found is tried. Recipients are `age1…` or
//! `ssh-ed25519 …`/`ssh-rsa …` public keys, as in sops.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clef_doc::Secret;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

/// A key-handling error. Never contains key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A recipient string is not a valid age recipient (holds the string
    /// as shown: a secret key is never quoted, see [`shown_recipient`]).
    #[error("invalid age recipient {0}")]
    BadRecipient(String),
    /// An identity source holds something that is not an age identity.
    #[error("{source_name}: line {line} is not an age identity (expected AGE-SECRET-KEY-1...)")]
    BadIdentity {
        /// Where the identity came from (an env var name or a path).
        source_name: String,
        /// 1-based line.
        line: usize,
    },
    /// An identity file could not be read.
    #[error("cannot read identity file {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// `SOPS_AGE_KEY_CMD` failed.
    #[error("SOPS_AGE_KEY_CMD failed: {0}")]
    Command(String),
    /// The age layer failed while wrapping.
    #[error("age encryption failed: {0}")]
    Wrap(String),
    /// None of the identities can open this wrapped key.
    #[error("no identity matches")]
    NoMatch,
    /// The wrapped key is not a valid armored age file.
    #[error("malformed age-wrapped key: {0}")]
    Malformed(String),
}

/// A set of age identities (private keys), zeroized on drop by the `age` crate.
#[derive(Default)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    ssh: Vec<age::ssh::Identity>,
    sources: Vec<String>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Identities({} from {:?})",
            self.keys.len() + self.ssh.len(),
            self.sources
        )
    }
}

impl Identities {
    /// No identities at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Collects identities from every sops and Clef source present in the environment.
    /// Missing sources are skipped; a source that exists but is broken is an error.
    pub fn discover() -> Result<Self, KeyError> {
        Self::discover_with(&|k| std::env::var(k).ok())
    }

    /// [`Identities::discover`] with an injectable environment lookup (for tests and
    /// for callers that sanitize the environment).
    pub fn discover_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, KeyError> {
        let mut ids = Self::empty();
        if let Some(v) = env("SOPS_AGE_KEY").filter(|v| !v.trim().is_empty()) {
            ids.add_text(&v, "SOPS_AGE_KEY")?;
        }
        if let Some(p) = env("SOPS_AGE_KEY_FILE").filter(|v| !v.is_empty()) {
            ids.add_file(Path::new(&p))?;
        }
        if let Some(cmd) = env("SOPS_AGE_KEY_CMD").filter(|v| !v.trim().is_empty()) {
            let out = run_key_cmd(&cmd)?;
            ids.add_text(&out, "SOPS_AGE_KEY_CMD")?;
        }
        let config = env("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")));
        if let Some(dir) = config {
            let p = dir.join("sops").join("age").join("keys.txt");
            if p.is_file() {
                ids.add_file(&p)?;
            }
        }
        if let Some(v) = env("CLEF_AGE_KEY").filter(|v| !v.trim().is_empty()) {
            ids.add_text(&v, "CLEF_AGE_KEY")?;
        }
        if let Some(p) = env("CLEF_AGE_KEY_FILE").filter(|v| !v.is_empty()) {
            ids.add_file(Path::new(&p))?;
        }
        if let Some(p) = env("SOPS_AGE_SSH_PRIVATE_KEY_FILE").filter(|v| !v.is_empty()) {
            ids.add_ssh_file(Path::new(&p), true)?;
        } else if let Some(home) = env("HOME").filter(|v| !v.is_empty()) {
            for name in ["id_ed25519", "id_rsa"] {
                let p = Path::new(&home).join(".ssh").join(name);
                if p.is_file() {
                    ids.add_ssh_file(&p, false)?;
                }
            }
        }
        Ok(ids)
    }

    /// Adds the identities in an identity file (`#` comments and blank lines ignored).
    pub fn add_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let bytes = read_key_file(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Io {
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        self.add_text(text, &path.display().to_string())
    }

    /// Adds an SSH private key file (OpenSSH format). `required`: a key that
    /// cannot be used (passphrase-protected, unsupported type) is an error;
    /// otherwise it is skipped, as an unused default.
    pub fn add_ssh_file(&mut self, path: &Path, required: bool) -> Result<(), KeyError> {
        let text = read_key_file(path)?;
        let unusable = |why: &str| KeyError::Io {
            path: path.to_owned(),
            reason: format!("not a usable SSH private key ({why})"),
        };
        let id = match age::ssh::Identity::from_buffer(&text[..], Some(path.display().to_string()))
        {
            Ok(id) => id,
            Err(_) if !required => return Ok(()),
            Err(_) => return Err(unusable("cannot parse it")),
        };
        match id {
            age::ssh::Identity::Unencrypted(_) => {
                self.ssh.push(id);
                self.sources.push(path.display().to_string());
                Ok(())
            }
            age::ssh::Identity::Encrypted(_) if required => {
                Err(unusable("it is passphrase-protected; clef does not prompt"))
            }
            age::ssh::Identity::Unsupported(_) if required => Err(unusable("unsupported key type")),
            _ => Ok(()),
        }
    }

    /// Adds identities from text: one or more `AGE-SECRET-KEY-1…` per line.
    pub fn add_text(&mut self, text: &str, source_name: &str) -> Result<(), KeyError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for word in line.split_whitespace() {
                let id =
                    age::x25519::Identity::from_str(word).map_err(|_| KeyError::BadIdentity {
                        source_name: source_name.to_owned(),
                        line: n + 1,
                    })?;
                self.keys.push(id);
            }
        }
        self.sources.push(source_name.to_owned());
        Ok(())
    }

    /// Number of identities.
    pub fn len(&self) -> usize {
        self.keys.len() + self.ssh.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ssh.is_empty()
    }

    /// Where the identities came from (env var names and paths, no key material).
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The public recipients (`age1…`) of these identities (SSH keys not included).
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// Opens an armored age file (the `enc` field of a sops age key entry).
    pub fn unwrap(&self, armored: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.open(armored.as_bytes())
    }

    /// Opens an age file, binary or armored (the armor is detected).
    pub fn open(&self, age_file: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if self.is_empty() {
            return Err(KeyError::NoMatch);
        }
        let reader = age::armor::ArmoredReader::new(age_file);
        let dec = age::Decryptor::new(reader).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let mut r = dec
            .decrypt(
                self.keys
                    .iter()
                    .map(|k| k as &dyn age::Identity)
                    .chain(self.ssh.iter().map(|k| k as &dyn age::Identity)),
            )
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => KeyError::NoMatch,
                other => KeyError::Malformed(other.to_string()),
            })?;
        let mut out = Zeroizing::new(Vec::with_capacity(33));
        r.read_to_end(&mut out)
            .map_err(|e| KeyError::Malformed(e.kind().to_string()))?;
        Ok(out)
    }
}

/// The largest key file clef reads: identity files hold a few lines, SSH
/// keys a few KiB.
pub const MAX_KEY_FILE: u64 = 256 * 1024;

/// Reads a key file: only a regular file (a FIFO, device or directory named
/// by a config could hang or read forever), at most [`MAX_KEY_FILE`] bytes.
/// Opened without blocking, and checked again once open.
#[allow(
    clippy::disallowed_methods,
    reason = "opened read-only (O_NONBLOCK so a FIFO cannot hang it); nothing is written"
)]
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let fail = |reason: String| KeyError::Io {
        path: path.to_owned(),
        reason,
    };
    let check = |m: &std::fs::Metadata| {
        if !m.is_file() {
            Err(fail("not a regular file".into()))
        } else if m.len() > MAX_KEY_FILE {
            Err(fail(format!(
                "larger than {} KiB, not a key file",
                MAX_KEY_FILE / 1024
            )))
        } else {
            Ok(())
        }
    };
    check(&std::fs::metadata(path).map_err(|e| fail(e.kind().to_string()))?)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path).map_err(|e| fail(e.kind().to_string()))?;
    check(&f.metadata().map_err(|e| fail(e.kind().to_string()))?)?;
    // Reserved up front: growing the buffer would leave unwiped copies.
    let mut buf = Zeroizing::new(Vec::with_capacity(
        usize::try_from(MAX_KEY_FILE).unwrap_or(usize::MAX) + 1,
    ));
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| fail(e.kind().to_string()))?;
    if buf.len() as u64 > MAX_KEY_FILE {
        return Err(fail("grew past the size limit while being read".into()));
    }
    Ok(buf)
}

/// Generates a new X25519 identity; returns (secret key line, public
/// recipient). The key is a [`Secret`] (the one secret type): read it with
/// [`Secret::expose`] to write the identity file.
pub fn generate_identity() -> (Secret, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    // age's own SecretString is wiped when it drops here
    (Secret::new(id.to_string().expose_secret()), public)
}

/// The public recipient of a secret key string, if it is one.
pub fn recipient_of(secret_key: &str) -> Option<String> {
    age::x25519::Identity::from_str(secret_key.trim())
        .ok()
        .map(|id| id.to_public().to_string())
}

/// How a string that should have been a recipient is quoted in a message:
/// an age secret key is never echoed (its public recipient is named instead,
/// when it is a valid one), and anything long is cut.
pub fn shown_recipient(r: &str) -> String {
    let t = r.trim();
    if t.len() >= 15 && t[..15].eq_ignore_ascii_case("AGE-SECRET-KEY-") {
        return match recipient_of(t) {
            Some(public) => format!(
                "(that is an age SECRET key, not shown; never share it: its public recipient is {public})"
            ),
            None => "(it looks like an age SECRET key, not shown; give the public age1… recipient)"
                .to_owned(),
        };
    }
    if t.contains("PRIVATE KEY") {
        return "(it looks like a private key, not shown; give the public key)".to_owned();
    }
    let cut: String = t.chars().take(80).collect();
    let mut q = format!("'{}'", cut.escape_debug());
    if cut.len() < t.len() {
        q.push('…');
    }
    q
}

/// Checks an age recipient string (`age1…`).
pub fn parse_recipient(r: &str) -> Result<age::x25519::Recipient, KeyError> {
    age::x25519::Recipient::from_str(r.trim())
        .map_err(|_| KeyError::BadRecipient(shown_recipient(r)))
}

/// Checks a recipient sops accepts for age: `age1…`, `ssh-ed25519 …` or `ssh-rsa …`.
pub fn check_recipient(r: &str) -> Result<(), KeyError> {
    any_recipient(r).map(drop)
}

fn any_recipient(r: &str) -> Result<Box<dyn age::Recipient + Send>, KeyError> {
    let t = r.trim();
    if t.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(t)
            .map(|x| Box::new(x) as Box<dyn age::Recipient + Send>)
            .map_err(|_| KeyError::BadRecipient(shown_recipient(r)));
    }
    parse_recipient(t).map(|x| Box::new(x) as Box<dyn age::Recipient + Send>)
}

/// Wraps `payload` (a data key or Shamir share) for one recipient (`age1…` or an
/// SSH public key), producing the armored text sops stores in `enc` (ends with a newline).
pub fn wrap(recipient: &str, payload: &[u8]) -> Result<String, KeyError> {
    let out = encrypt_to(recipient, payload, age::armor::Format::AsciiArmor)?;
    let mut s = String::from_utf8(out).map_err(|_| KeyError::Wrap("armor is not UTF-8".into()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Encrypts `payload` for one recipient as a binary (not armored) age file.
pub fn seal(recipient: &str, payload: &[u8]) -> Result<Vec<u8>, KeyError> {
    encrypt_to(recipient, payload, age::armor::Format::Binary)
}

fn encrypt_to(
    recipient: &str,
    payload: &[u8],
    format: age::armor::Format,
) -> Result<Vec<u8>, KeyError> {
    let r = any_recipient(recipient)?;
    let enc = age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
        .map_err(|e| KeyError::Wrap(e.to_string()))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, format)
        .map_err(|e| KeyError::Wrap(e.kind().to_string()))?;
    let mut w = enc
        .wrap_output(armor)
        .map_err(|e| KeyError::Wrap(e.kind().to_string()))?;
    w.write_all(payload)
        .and_then(|()| w.finish())
        .and_then(|armor| armor.finish())
        .map_err(|e| KeyError::Wrap(e.kind().to_string()))?;
    Ok(out)
}

fn run_key_cmd(cmd: &str) -> Result<String, KeyError> {
    let argv = split_command(cmd).ok_or_else(|| KeyError::Command("unbalanced quotes".into()))?;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| KeyError::Command("empty command".into()))?;
    let out = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| KeyError::Command(format!("cannot run '{prog}': {}", e.kind())))?;
    if !out.status.success() {
        return Err(KeyError::Command(format!(
            "'{prog}' exited with {}",
            out.status
        )));
    }
    let out = Zeroizing::new(out.stdout);
    String::from_utf8(out.to_vec()).map_err(|_| KeyError::Command("output is not UTF-8".into()))
}

/// Splits a command line the way a POSIX shell would for simple cases
/// (whitespace, single and double quotes, backslash escapes).
fn split_command(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                have = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                have = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                have = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                have = true;
                cur.push(c);
            }
        }
    }
    if have {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures directly")]
mod tests {
    use super::*;

    const KEY: &str = "AGE-SECRET-KEY-1SHC4MP2DDM9HT2Z55J9Q8DN6Q3H2TUXM8UU6YL02KXARK08FMGJQVQQQ6H";
    const PUB: &str = "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn";

    #[test]
    fn wrap_unwrap_round_trip_and_armor_shape() {
        let enc = wrap(PUB, &[7u8; 32]).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert!(enc.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let mut ids = Identities::empty();
        ids.add_text(KEY, "test").unwrap();
        assert_eq!(ids.recipients(), [PUB]);
        assert_eq!(&*ids.unwrap(&enc).unwrap(), &[7u8; 32]);
    }

    #[test]
    fn wrong_identity_is_no_match() {
        let enc = wrap(PUB, &[1u8; 32]).unwrap();
        let (other, _) = generate_identity();
        let mut ids = Identities::empty();
        ids.add_text(other.expose(), "other").unwrap();
        assert!(matches!(ids.unwrap(&enc), Err(KeyError::NoMatch)));
        assert!(matches!(
            Identities::empty().unwrap(&enc),
            Err(KeyError::NoMatch)
        ));
    }

    #[test]
    fn bad_identity_line_is_named_not_echoed() {
        let mut ids = Identities::empty();
        let e = ids
            .add_text("# c\n\nAGE-SECRET-KEY-1NOTVALID", "SOPS_AGE_KEY")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 3") && msg.contains("SOPS_AGE_KEY"));
        assert!(!msg.contains("NOTVALID"));
    }

    #[test]
    fn discovery_combines_sources() {
        let dir = std::env::temp_dir().join(format!("clef-keys-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sops/age")).unwrap();
        let (k2, p2) = generate_identity();
        std::fs::write(
            dir.join("sops/age/keys.txt"),
            format!("# x\n{}\n", k2.expose()),
        )
        .unwrap();
        let env = |k: &str| match k {
            "SOPS_AGE_KEY" => Some(KEY.to_owned()),
            "XDG_CONFIG_HOME" => Some(dir.display().to_string()),
            _ => None,
        };
        let ids = Identities::discover_with(&env).unwrap();
        assert_eq!(ids.recipients(), [PUB.to_owned(), p2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_cmd_runs() {
        let env = |k: &str| match k {
            "SOPS_AGE_KEY_CMD" => Some(format!("printf '%s\\n' {KEY}")),
            _ => None,
        };
        let ids = Identities::discover_with(&env).unwrap();
        assert_eq!(ids.recipients(), [PUB]);
        assert_eq!(
            split_command("a 'b c' \"d\\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
    }
}
