//! `clef sops exec-env` and `exec-file`: run a command with the decrypted
//! values, without writing plaintext to a regular file.
//!
//! * exec-env puts the top-level values of the first document into the
//!   command's environment (as sops: strings as they are, numbers and booleans
//!   in their sops text form; maps and lists are refused).
//! * exec-file hands the plaintext over through a FIFO in a fresh 0700
//!   directory; `{}` in the command is replaced by its path. sops's `--no-fifo`
//!   (a regular file) is refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use clef_doc::{Item, Value};

use super::{InputOpts, fail, format_of, open, sops_code};
use crate::error::CliError;

/// `exec-env`
#[derive(Args, Debug)]
pub struct ExecEnvArgs {
    /// The encrypted file.
    pub file: PathBuf,
    /// The command, run by `sh -c`.
    pub command: String,
    #[command(flatten)]
    pub input: InputOpts,
    /// Do not pass clef's own environment to the command.
    #[arg(long)]
    pub pristine: bool,
}

/// `exec-file`
#[derive(Args, Debug)]
pub struct ExecFileArgs {
    /// The encrypted file.
    pub file: PathBuf,
    /// The command, run by `sh -c`; `{}` is replaced by the FIFO's path.
    pub command: String,
    #[command(flatten)]
    pub input: InputOpts,
    /// Format of the plaintext handed over (default: the file's).
    #[arg(long)]
    pub output_type: Option<String>,
    /// Name of the FIFO inside its private directory.
    #[arg(long)]
    pub filename: Option<String>,
    /// sops writes a regular file with this flag: clef refuses.
    #[arg(long)]
    pub no_fifo: bool,
}

/// Exits like the command did.
fn finish(status: std::io::Result<std::process::ExitStatus>, cmd: &str) -> Result<(), CliError> {
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(CliError::new(s.code().unwrap_or(1), String::new())),
        Err(e) => Err(CliError::new(
            sops_code::GENERIC,
            format!("cannot run '{cmd}': {}", e.kind()),
        )),
    }
}

/// Runs `clef sops exec-env`.
pub fn exec_env(a: ExecEnvArgs) -> Result<(), CliError> {
    let plain = open(&a.file, a.input.input_type.as_deref())?;
    let mut vars: Vec<(String, zeroize::Zeroizing<String>)> = Vec::new();
    for item in plain.docs.first().map(|d| d.0.as_slice()).unwrap_or(&[]) {
        let Item::Entry(k, v) = item else { continue };
        if matches!(v, Value::Map(_) | Value::List(_)) {
            return Err(CliError::new(
                sops_code::GENERIC,
                format!("cannot use complex value in environment; offending key {k}"),
            ));
        }
        if k.contains('=') {
            return Err(CliError::new(
                sops_code::GENERIC,
                format!("cannot use keys with '=' in environment: {k}"),
            ));
        }
        let text = match v {
            Value::Null => zeroize::Zeroizing::new("<nil>".to_owned()),
            // Go's %v (the encryption form is "True"/"False").
            Value::Bool(b) => zeroize::Zeroizing::new(b.to_string()),
            v => {
                let b = clef_sops::to_bytes(v).unwrap_or_default();
                zeroize::Zeroizing::new(String::from_utf8_lossy(&b).into_owned())
            }
        };
        vars.push((k.clone(), text));
    }
    let mut c = std::process::Command::new("sh");
    c.arg("-c").arg(&a.command);
    if a.pristine {
        c.env_clear();
    }
    for (k, v) in &vars {
        c.env(k, v.as_str());
    }
    finish(c.status(), &a.command)
}

#[allow(unsafe_code)]
fn mkfifo(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `clef sops exec-file`.
#[allow(
    clippy::disallowed_methods,
    reason = "opens the FIFO (never a file on disk): the plaintext goes through the pipe only"
)]
pub fn exec_file(a: ExecFileArgs) -> Result<(), CliError> {
    if a.no_fifo {
        return Err(CliError::new(
            sops_code::GENERIC,
            "clef sops exec-file does not support --no-fifo: it would write the plaintext to a regular file",
        ));
    }
    let plain = open(&a.file, a.input.input_type.as_deref())?;
    let format = match &a.output_type {
        Some(t) => format_of(&a.file, Some(t))?,
        None => plain.format,
    };
    let text = plain.emit(format).map_err(|e| fail(&a.file, e))?;
    let dir =
        super::sops_edit::PrivateDir::create(&std::env::temp_dir(), "clef-exec").map_err(|e| {
            CliError::new(
                sops_code::WRITE,
                format!("cannot create a private directory: {}", e.kind()),
            )
        })?;
    let fifo = dir.0.join(a.filename.as_deref().unwrap_or("tmp-file"));
    mkfifo(&fifo).map_err(|e| {
        CliError::new(
            sops_code::WRITE,
            format!("cannot create the FIFO: {}", e.kind()),
        )
    })?;
    let cmd = a.command.replace("{}", &fifo.display().to_string());
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .spawn()
        .map_err(|e| CliError::new(sops_code::GENERIC, format!("cannot run 'sh': {}", e.kind())))?;
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            // Blocks until the command opens the FIFO for reading.
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = f.write_all(&text);
            }
        })
    };
    let status = child.wait();
    if !writer.is_finished() {
        // The command never read the FIFO: open the read end so the writer returns.
        use std::os::unix::fs::OpenOptionsExt;
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
        let _ = writer.join();
    }
    drop(dir);
    finish(status, &a.command)
}
