//! `clef-scan`: see the `clef_scan` library for everything.

fn main() {
    std::process::exit(clef_scan::run_cli(std::env::args_os()));
}
