//! `clef-scan`: a parallel, SOPS-aware secret scanner.
//!
//! The engine is a library so that three fronts share it: the `clef-scan`
//! binary, `clef scan` (via [`run_cli`]) and the pre-commit/pre-push hooks
//! (via [`Scanner::scan_blob`] on staged blobs).
//!
//! How a buffer is scanned:
//!
//! 1. Binary buffers (a NUL in the first 8 KiB) and paths excluded by
//!    `.clefignore` are skipped.
//! 2. One Aho–Corasick DFA pass, ASCII-case-insensitive, finds every keyword
//!    of every rule (`ghp_`, `akia`, `-----begin rsa private key-----`, …),
//!    plus the generic detector's keywords (`password`, `token`, `secret`, …)
//!    and `sops`. Large buffers are walked as four interleaved slices
//!    ([`keywords`]), which hides the DFA's load latency.
//! 3. Each rule whose keyword hit runs its regex only on a window around the
//!    hit (the hit's line, or the next 20 KB for multi-line rules). Regexes
//!    are compiled on first use; a regex with large repetition bounds (the
//!    PEM bodies' `{64,16384}?`, the generic values' `{6,200}`) is searched
//!    with those bounds dropped, and again with them only when a match is
//!    longer than the smallest one ([`rules::Pattern`]): same matches, a
//!    fraction of the compile time and lazy-DFA states.
//! 4. The generic detector looks at assignments (`name = value`,
//!    `name: value`, `"name": "value"`, `export NAME=value`) on the hit lines
//!    and keeps values that are random for their charset (hex, base64,
//!    alphanumeric thresholds) and not placeholders, template references or
//!    code. Lock files are exempt.
//! 5. SOPS files are recognised from their metadata; `ENC[...]` values, age
//!    recipients and the metadata block are never findings, plaintext leaves
//!    are (`sops-plaintext-value`), and a `*.enc.*` file without metadata is
//!    one finding (`sops-unencrypted-file`).
//! 6. Suppression: inline markers (`clef:ignore`, `gitleaks:allow`,
//!    `pragma: allowlist secret`, `clef:ignore-next-line`), `rule:<id>` lines
//!    in `.clefignore`, the config's allowlist, and the baseline.
//!
//! ```
//! let scanner = clef_scan::Scanner::builtin()?;
//! let findings = scanner.scan_blob("app/config.py", b"token = 'ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'\n");
//! assert_eq!(findings[0].rule, "github-pat");
//! assert_eq!((findings[0].line, findings[0].column), (1, 10));
//! # Ok::<(), clef_scan::ScanError>(())
//! ```
#![deny(missing_docs)]

pub mod added;
pub mod baseline;
pub mod checksum;
pub mod cli;
pub mod engine;
pub mod entropy;
pub mod error;
pub mod finding;
mod grams;
pub mod keywords;
pub mod merge;
pub mod report;
pub mod rules;
pub mod shard;
pub mod sops;
pub mod source;
#[cfg(test)]
mod test_files;

pub use cli::{Args, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_TABLE, exit_help, run, run_cli};
pub use engine::{BlobScan, Scanner, ScannerOptions, Skip};
pub use error::ScanError;
pub use finding::{Finding, Secret};
pub use report::{Problem, Report};
