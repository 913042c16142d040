//! CLI snapshot cases (trycmd): `tests/cmd/*.toml` give the arguments,
//! stdin, the working directory and the expected status;
//! `*.stdout`/`*.stderr` beside them the expected output (`[..]` matches a
//! varying part, such as a timing). `tests/cmd/*.trycmd` are sequences (a
//! fresh git repository, then the hook) run in a copy of `<name>.in/`.
//! Every binary's `--help`, and each documented exit code that needs no
//! key: clef 0/1/2/3/92/100/128/203, clef-hook 0/1/2, clef-merge 0/129,
//! clef-scan 0/1/2, clef-agent 1/2. The others need repositories and keys
//! made at run time (`exit_codes.rs`), a signal (clef-agent 0) or a bug
//! (clef-merge 134). `TRYCMD=overwrite` rewrites the snapshots after a
//! deliberate change; review the diff.
//!
//! Each `.toml` case runs with an empty environment plus `PATH`, so no key,
//! config or locale of the machine leaks into the output; the `.trycmd`
//! steps set `HOME` to the sandbox and turn off system git config.

use clef_e2e::bin;

#[test]
fn cli_snapshot_cases() {
    let cases = trycmd::TestCases::new();
    for name in ["clef", "clef-merge", "clef-hook", "clef-scan", "clef-agent"] {
        cases.register_bin(name, bin(name));
    }
    // the `.trycmd` sequences set up their repository with the real git
    let path = "/usr/local/bin:/usr/bin:/bin";
    let git = std::env::split_paths(path)
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on /usr/local/bin:/usr/bin:/bin");
    cases.register_bin("git", git);
    cases
        .env("PATH", path)
        .case("cmd/*.toml")
        .case("cmd/*.trycmd");
}
