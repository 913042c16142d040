//! End-to-end tests: one test binary (ripgrep's layout), modules by area.
//! The binaries must be built first (`cargo build --workspace --bins`; the
//! test command does it).
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod access;
mod agent;
mod bad_input;
mod cli_bad_input;
mod cli_merge;
mod cli_support;
mod cli_tutorial;
mod cmd_snapshots;
mod exit_codes;
mod hardening;
mod hooks_framework;
mod hooks_hardening;
mod hooks_install;
mod hooks_precommit;
mod hooks_push;
pub mod hooks_util;
mod kms_clef;
mod kms_sops;
mod matrix;
mod pack_artifact;
mod pack_aws;
mod policy;
mod service_identities;
mod sops_cli;
mod sops_dropin;
mod sops_functional;
mod sops_interop;
mod sops_stores;
mod sops_yaml_kms;
mod sops_yaml_sync;
mod tls;
