//! The driver's command line, as git fills it in:
//! `clef-merge %O %A %B --path %P --marker-size %L --labels %S %X %Y`.

use crate::conflict::Labels;
use clef_core::conflict::DEFAULT_MARKER_SIZE;
use std::ffi::OsString;
use std::path::PathBuf;

/// Parsed driver arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// `%O`: temp file with the merge base (empty for add/add).
    pub base: PathBuf,
    /// `%A`: temp file with ours; the result is written here.
    pub ours: PathBuf,
    /// `%B`: temp file with theirs.
    pub theirs: PathBuf,
    /// `%P`: the real path in the repository (format and driver dispatch).
    pub path: PathBuf,
    /// `%L`: conflict marker size.
    pub marker_size: usize,
    /// `%S %X %Y` (placeholders git < 2.44 passes literally are replaced by
    /// generic labels).
    pub labels: Labels,
}

/// A command line that is not what git passes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    /// Missing or extra arguments.
    #[error("usage: clef-merge %O %A %B --path %P [--marker-size %L] [--labels %S %X %Y] ({0})")]
    Usage(String),
}

/// Whether git substituted the placeholder (git < 2.44 leaves `%S` etc. as is).
fn label(given: Option<String>, placeholder: &str, fallback: &str) -> String {
    match given {
        Some(s) if s != placeholder && !s.is_empty() => s,
        _ => fallback.to_owned(),
    }
}

impl Args {
    /// Parses `argv` without the program name.
    pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Args, ArgsError> {
        let usage = |m: &str| ArgsError::Usage(m.to_owned());
        let mut positional = Vec::new();
        let mut path = None;
        let mut marker = None;
        let mut labels: Vec<String> = Vec::new();
        let mut it = argv.into_iter();
        while let Some(arg) = it.next() {
            match arg.to_str() {
                Some("--path") => {
                    path = Some(PathBuf::from(
                        it.next().ok_or_else(|| usage("--path needs a value"))?,
                    ))
                }
                Some("--marker-size") => {
                    let v = it
                        .next()
                        .ok_or_else(|| usage("--marker-size needs a value"))?;
                    let v = v.to_string_lossy();
                    // git < 2.5 or a hand-written config may leave `%L` unexpanded.
                    marker = Some(if v == "%L" {
                        DEFAULT_MARKER_SIZE
                    } else {
                        v.parse::<usize>()
                            .map_err(|_| usage("--marker-size is not a number"))?
                    });
                }
                Some("--labels") => {
                    for _ in 0..3 {
                        let v = it
                            .next()
                            .ok_or_else(|| usage("--labels needs three values"))?;
                        labels.push(v.to_string_lossy().into_owned());
                    }
                }
                Some(s) if s.starts_with("--") => {
                    return Err(usage(&format!("unknown option {s}")));
                }
                _ => positional.push(PathBuf::from(arg)),
            }
        }
        let [base, ours, theirs]: [PathBuf; 3] = positional
            .try_into()
            .map_err(|_| usage("expected exactly three files: %O %A %B"))?;
        let path =
            path.ok_or_else(|| usage("--path %P is required (the format is taken from it)"))?;
        if path.as_os_str() == "%P" {
            return Err(usage("git did not expand %P (git older than 2.5?)"));
        }
        let mut l = labels.into_iter();
        let labels = Labels {
            base: label(l.next(), "%S", "base"),
            ours: label(l.next(), "%X", "ours"),
            theirs: label(l.next(), "%Y", "theirs"),
        };
        Ok(Args {
            base,
            ours,
            theirs,
            path,
            marker_size: marker
                .unwrap_or(DEFAULT_MARKER_SIZE)
                .max(DEFAULT_MARKER_SIZE),
            labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(s.iter().map(OsString::from))
    }

    #[test]
    fn full_command_line() {
        let a = args(&[
            ".merge_file_a",
            ".merge_file_b",
            ".merge_file_c",
            "--path",
            "secrets/dev.enc.yaml",
            "--marker-size",
            "9",
            "--labels",
            "parent of 1a2b (x)",
            "HEAD",
            "1a2b (x)",
        ])
        .unwrap();
        assert_eq!(a.base, PathBuf::from(".merge_file_a"));
        assert_eq!(a.path, PathBuf::from("secrets/dev.enc.yaml"));
        assert_eq!(a.marker_size, 9);
        assert_eq!(a.labels.base, "parent of 1a2b (x)");
        assert_eq!(a.labels.ours, "HEAD");
        assert_eq!(a.labels.theirs, "1a2b (x)");
    }

    #[test]
    fn old_git_literal_placeholders() {
        let a = args(&[
            "o",
            "a",
            "b",
            "--path",
            "x.enc.json",
            "--marker-size",
            "%L",
            "--labels",
            "%S",
            "%X",
            "%Y",
        ])
        .unwrap();
        assert_eq!(a.marker_size, 7);
        assert_eq!(
            a.labels,
            Labels {
                base: "base".into(),
                ours: "ours".into(),
                theirs: "theirs".into()
            }
        );
    }

    #[test]
    fn bad_command_lines() {
        assert!(args(&["o", "a", "--path", "x"]).is_err());
        assert!(args(&["o", "a", "b"]).is_err());
        assert!(args(&["o", "a", "b", "--path", "%P"]).is_err());
        assert!(args(&["o", "a", "b", "--path", "x", "--labels", "s"]).is_err());
        assert!(args(&["o", "a", "b", "--path", "x", "--marker-size", "big"]).is_err());
        assert!(args(&["o", "a", "b", "--path", "x", "--frobnicate"]).is_err());
        // Marker sizes below git's minimum are raised to 7.
        assert_eq!(
            args(&["o", "a", "b", "--path", "x", "--marker-size", "3"])
                .unwrap()
                .marker_size,
            7
        );
    }
}
