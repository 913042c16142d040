//! `clef-scan`: see the `clef_scan` library for everything.
//!
//! Exit codes: [`clef_scan::EXIT_TABLE`] (`--help` prints it). A panic is
//! an incomplete scan: [`clef_scan::EXIT_ERROR`], and its message (which
//! could quote a scanned line) is never printed, only where it happened.

#[allow(
    clippy::disallowed_methods,
    reason = "the binary's main: the one place its exit code is set"
)]
fn main() {
    clef_sops::process::quiet_panics(
        "clef-scan",
        "; the scan is incomplete",
        clef_scan::EXIT_ERROR,
    );
    std::process::exit(clef_scan::run_cli(std::env::args_os()));
}
