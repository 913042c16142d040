//! Clef's repository model, on top of the native SOPS engine.
//!
//! * [`manifest`]: `clef.yaml` (parse, validate with line numbers, edit
//!   recipients while keeping comments).
//! * [`matrix`]: the cells (`namespace/environment` → file) and targets.
//! * [`sidecar`]: the plaintext `.clef-meta.yaml` bookkeeping (pending
//!   placeholders, rotation records).
//! * [`cell`]: reading and writing a cell together with its sidecar.
//! * [`edit`]: the edit session (open → edit → write cell and sidecar together).
//! * [`ops`]: set, get, delete, values (exec/export) and diff as typed operations.
//! * [`envfile`]: `.env` files as the dotenv libraries read them (for import).
//! * [`classify`]: what a path is (cell, sidecar, other SOPS file, other).
//! * [`conflict`]: is this a conflict document (the one predicate).
//! * [`merge`]: the three-way merge engine, conflict documents and their resolution.
//! * [`access`]: who may read a cell (the access list) and how a cell's
//!   `sops` block drifts from it.
//! * [`recipients`]: editing the recipient lists.
//! * [`schema`]: namespace schemas (checked without ever printing values).
//! * [`lint`]: the repository health check.
//! * [`policy`]: `.clef/policy.yaml` and the rotation verdicts.
//! * [`drift`]: key-name drift between repositories, constant-time value comparison.
//! * [`structure`]: adding, renaming and removing namespaces and environments.
//! * [`report`]: `clef report`, the metadata report (no key names).
//! * [`reset`]: `clef reset`, disaster recovery: fresh cells without decrypting.
//! * [`ci`]: the CI job `clef policy init` scaffolds.
//! * [`compliance`]: `compliance.json` (the CI evidence).
//! * [`service`]: service identities: scope, lookup, validation.
//! * [`exit`]: the exit codes of `clef` and its help table.
//! * [`lock`]: the edit session's guard (flock write lock: no stale lock after a crash; no write mid-merge).
//! * [`local`]: the per-developer `.clef/config.yaml` and the identity it names.
//! * [`term`]: the one escaping function for text shown on a terminal.
//!
//! Errors carry file names, key names and reasons, never secret values.
#![deny(missing_docs)]

pub mod access;
pub mod cell;
pub mod ci;
pub mod classify;
pub mod compliance;
pub mod conflict;
pub mod drift;
pub mod edit;
pub mod envfile;
pub mod exit;
pub mod lint;
pub mod local;
pub mod locate;
pub mod lock;
pub mod manifest;
pub mod matrix;
pub mod merge;
pub mod migrate;
pub mod ops;
pub mod policy;
pub mod recipients;
pub mod report;
pub mod reset;
pub mod schema;
pub mod service;
pub mod sidecar;
pub mod sops_config;
pub mod structure;
pub mod term;

pub use manifest::{Manifest, ManifestError};
pub use matrix::Cell;
