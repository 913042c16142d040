//! Shared pieces of the `clef` CLI tests: a throw-away git repository per
//! developer with a sanitized environment, the real-sops oracle over every
//! cell, and the plaintext canary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub use clef_e2e::{Dev, World};
use clef_e2e::{bin, files_below};

/// Every file below `dir`, plus the decompressed content of every git object
/// of every repository found there: no `needle` may appear in any of them.
#[track_caller]
pub fn assert_no_plaintext(dir: &Path, needles: &[&str]) {
    let mut files = Vec::new();
    files_below(dir, &mut files);
    assert!(!files.is_empty());
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut git_bytes = 0;
    for f in &files {
        if let Ok(b) = std::fs::read(f) {
            blobs.push((f.display().to_string(), b));
        }
        if f.file_name().is_some_and(|n| n == "HEAD")
            && f.parent().is_some_and(|p| p.ends_with(".git"))
        {
            let git_dir = f.parent().expect("parent");
            let out = Command::new("git")
                .env("GIT_DIR", git_dir)
                .args(["cat-file", "--batch-all-objects", "--batch"])
                .stdin(Stdio::null())
                .output()
                .expect("git cat-file");
            assert!(out.status.success());
            git_bytes += out.stdout.len();
            blobs.push((format!("git objects of {}", git_dir.display()), out.stdout));
        }
    }
    assert!(
        git_bytes > 0,
        "no git objects found below {}",
        dir.display()
    );
    for n in needles {
        assert!(n.len() >= 8, "canary too short to be meaningful");
        for (name, b) in &blobs {
            assert!(
                !b.windows(n.len()).any(|w| w == n.as_bytes()),
                "plaintext canary found in {name}"
            );
        }
    }
}

/// Runs `clef ARGS` under a pseudo-terminal (util-linux `script`): for each
/// `(prompt, answer)`, waits for `prompt` in the output, then types `answer`
/// and a newline. Returns whether clef succeeded and everything it printed.
pub fn clef_in_pty(d: &Dev, args: &str, steps: &[(&str, &str)]) -> (bool, String) {
    use std::io::Read;
    let mut c = d.cmd("script");
    c.arg("-qec")
        .arg(format!("'{}' {args}", bin("clef").display()))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .expect("util-linux `script` is needed for terminal tests");
    let mut out = child.stdout.take().expect("stdout");
    let mut input = child.stdin.take().expect("stdin");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    for (prompt, answer) in steps {
        let start = seen.len();
        while !String::from_utf8_lossy(&seen[start..]).contains(prompt) {
            let n = out.read(&mut buf).expect("read pty");
            assert!(
                n > 0,
                "no prompt '{prompt}': {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        input
            .write_all(format!("{answer}\n").as_bytes())
            .expect("type");
    }
    drop(input);
    out.read_to_end(&mut seen).expect("read pty");
    let ok = child.wait().expect("wait").success();
    (ok, String::from_utf8_lossy(&seen).into_owned())
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
