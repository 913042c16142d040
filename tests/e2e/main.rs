//! End-to-end tests: one test binary (ripgrep's layout), modules by area.
//! The binaries must be built first (`cargo build --workspace --bins`; the
//! test command does it).

mod bad_input;
mod sops_interop;
