//! The `pgp` key backend: the data key is wrapped and unwrapped by the user's
//! own `gpg` (keys stay in the gpg agent), with the arguments sops 3.11 uses
//! for its gpg fallback: `gpg --use-agent -d` and `gpg --no-default-recipient
//! --yes --encrypt -a -r FP --trusted-key ID --no-encrypt-to`.
//!
//! The data key goes to gpg and comes back through pipes only. `$SOPS_GPG_EXEC`
//! names another gpg binary, as in sops; `$GNUPGHOME` is gpg's own.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clef_doc::Value;
use zeroize::Zeroizing;

use crate::masterkey::{MasterKey, MasterKeyError, stanza, stanza_field};

/// The gpg-backed `pgp` backend.
#[derive(Debug, Clone)]
pub struct GpgBackend {
    exec: PathBuf,
}

impl GpgBackend {
    /// gpg from `$SOPS_GPG_EXEC`, else `gpg` on the PATH.
    pub fn from_env() -> Self {
        let exec = std::env::var_os("SOPS_GPG_EXEC")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("gpg"), PathBuf::from);
        GpgBackend { exec }
    }

    /// Runs gpg with `args`, `input` on stdin; returns stdout (wiped on drop).
    fn run(
        &self,
        fp: &str,
        args: &[&str],
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let err = |reason: String| MasterKeyError::new(format!("pgp {fp}"), reason);
        let mut child = Command::new(&self.exec)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(format!("cannot run {}: {}", self.exec.display(), e.kind())))?;
        if let Some(mut stdin) = child.stdin.take() {
            // Small inputs (a data key or an armored block): the pipe holds them.
            stdin
                .write_all(input)
                .map_err(|e| err(format!("cannot talk to gpg: {}", e.kind())))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| err(format!("gpg did not finish: {}", e.kind())))?;
        let stdout = Zeroizing::new(out.stdout);
        if out.status.success() {
            return Ok(stdout);
        }
        // gpg's last stderr line names the key problem; it never holds the data key.
        let why = String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("gpg: ").to_owned())
            .unwrap_or_else(|| format!("gpg failed ({})", out.status));
        Err(err(why))
    }
}

impl MasterKey for GpgBackend {
    fn kind(&self) -> &'static str {
        "pgp"
    }

    fn unwrap(&self, st: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let fp = stanza_field(st, "fp").unwrap_or("");
        let enc = stanza_field(st, "enc")
            .filter(|e| !e.is_empty())
            .ok_or_else(|| MasterKeyError::new(format!("pgp {fp}"), "the stanza has no 'enc'"))?;
        self.run(fp, &["--use-agent", "-d"], enc.as_bytes())
    }

    fn wrap(&self, template: &Value, secret: &[u8]) -> Result<Value, MasterKeyError> {
        let fp = stanza_field(template, "fp").unwrap_or("").trim();
        if fp.is_empty() {
            return Err(MasterKeyError::new(
                "pgp",
                "the stanza has no fingerprint ('fp')",
            ));
        }
        let short = &fp[fp.len().saturating_sub(16)..];
        let armored = self.run(
            fp,
            &[
                "--no-default-recipient",
                "--yes",
                "--encrypt",
                "-a",
                "-r",
                fp,
                "--trusted-key",
                short,
                "--no-encrypt-to",
            ],
            secret,
        )?;
        let enc = String::from_utf8_lossy(&armored).into_owned();
        Ok(stanza(&[
            ("created_at", &crate::time::now_rfc3339()),
            ("enc", &enc),
            ("fp", fp),
        ]))
    }
}
