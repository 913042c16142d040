//! `clef self-check`: proves the installed toolchain works end to end, in memory.

use std::path::PathBuf;

use clef_keys::Identities;
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, PlainFile};

use crate::error::{CliError, code};

/// Runs the self-check and prints one line per step.
pub fn run() -> Result<(), CliError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        CliError::new(code::GENERIC, format!("self-check failed at {what}: {e}"))
    };
    let (secret, recipient) = clef_keys::generate_identity();
    let mut ids = Identities::empty();
    ids.add_text(secret.expose(), "self-check")
        .map_err(|e| fail("identity", &e))?;
    let sample = b"# self-check\napp:\n    password: self-check-value\n    port: 8080\n    list:\n        - a\n        - b\n";
    let docs = clef_sops::parse_plain(sample, Format::Yaml).map_err(|e| fail("parse", &e))?;
    let plain = PlainFile::new(
        Format::Yaml,
        docs,
        vec![KeyGroup::of_recipients(&[recipient])],
        0,
        CryptRule::default(),
        false,
        &clef_sops::Keyring::empty(),
    )
    .map_err(|e| fail("new file", &e))?;
    let bytes = plain
        .encrypt()
        .and_then(|f| f.to_bytes())
        .map_err(|e| fail("encrypt", &e))?;
    if String::from_utf8_lossy(&bytes).contains("self-check-value") {
        return Err(CliError::new(
            code::GENERIC,
            "self-check failed: plaintext in encrypted output",
        ));
    }
    let back = EncryptedFile::parse(&bytes, Format::Yaml)
        .and_then(|f| f.decrypt(&ids.into()))
        .map_err(|e| fail("decrypt", &e))?;
    let text = back.emit(Format::Yaml).map_err(|e| fail("emit", &e))?;
    if text.as_slice() != &sample[..] {
        return Err(CliError::new(
            code::GENERIC,
            "self-check failed: round trip changed the document",
        ));
    }
    println!("ok   sops engine: age wrap, AES-256-GCM, MAC, YAML round trip");
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from));
    for b in ["clef-merge", "clef-hook", "clef-scan"] {
        let path = here.as_ref().map(|d| d.join(b)).filter(|p| p.is_file());
        match path {
            Some(p) => match std::process::Command::new(&p).arg("--version").output() {
                Ok(o) if o.status.success() => {
                    println!("ok   {b}: {}", String::from_utf8_lossy(&o.stdout).trim())
                }
                _ => {
                    return Err(CliError::new(
                        code::GENERIC,
                        format!("self-check failed: {} --version does not run", p.display()),
                    ));
                }
            },
            None => println!("skip {b}: not installed next to clef"),
        }
    }
    Ok(())
}
