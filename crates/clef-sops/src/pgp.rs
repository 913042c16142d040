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
        // sops keeps gpg's output trimmed (YAML `enc: |-`).
        let enc = String::from_utf8_lossy(&armored).trim().to_owned();
        Ok(stanza(&[
            ("created_at", &crate::time::now_rfc3339()),
            ("enc", &enc),
            ("fp", fp),
        ]))
    }
}

/// sops's `--add-pgp` / `--rm-pgp` on a file's key groups: the `pgp`
/// stanzas whose fingerprint is in `rm` leave every group; each fingerprint of
/// `add` that no group has yet joins the first group (as sops does), with no
/// wrapped key yet: the caller wraps it (a rotation, or
/// [`crate::update_master_keys`] with the current data key). Fingerprints
/// compare without case and surrounding blanks.
pub fn change_stanzas(groups: &mut Vec<crate::KeyGroup>, add: &[String], rm: &[String]) {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let fp_in = |v: &Value, list: &[String]| {
        stanza_field(v, "fp").is_some_and(|fp| list.iter().any(|x| same(x, fp)))
    };
    if groups.is_empty() {
        groups.push(crate::KeyGroup::default());
    }
    for g in groups.iter_mut() {
        g.other.retain(|(kind, v)| kind != "pgp" || !fp_in(v, rm));
    }
    for fp in add {
        let one = std::slice::from_ref(fp);
        let there = groups
            .iter()
            .any(|g| g.other.iter().any(|(k, v)| k == "pgp" && fp_in(v, one)));
        if !there {
            groups[0]
                .other
                .extend(crate::config::pgp_stanzas(&[fp.trim().to_owned()]));
        }
    }
}
