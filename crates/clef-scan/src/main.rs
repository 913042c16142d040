//! `clef-scan`: see the `clef_scan` library for everything.

#[allow(
    clippy::disallowed_methods,
    reason = "the binary's main: the one place its exit code is set"
)]
fn main() {
    std::process::exit(clef_scan::run_cli(std::env::args_os()));
}
