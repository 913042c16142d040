//! CLI snapshot cases (trycmd): `tests/cmd/*.toml` give the arguments, the
//! working directory and the expected status; `*.stdout`/`*.stderr` beside
//! them the expected output (`[..]` matches a varying part, such as a
//! timing). Every binary's `--help`, and each documented exit code that
//! needs no key (the others need repositories and keys made at run time:
//! `exit_codes.rs`). `TRYCMD=overwrite` rewrites the snapshots after a
//! deliberate change; review the diff.
//!
//! Each case runs with an empty environment plus `PATH`, so no key, config
//! or locale of the machine leaks into the output.

use clef_e2e::bin;

#[test]
fn cli_snapshot_cases() {
    let cases = trycmd::TestCases::new();
    for name in ["clef", "clef-merge", "clef-hook", "clef-scan", "clef-agent"] {
        cases.register_bin(name, bin(name));
    }
    cases
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .case("cmd/*.toml");
}
