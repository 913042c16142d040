//! Clef's document model and format codecs.
//!
//! * [`Secret`] ([`secret`]): the one type for a secret string in memory,
//!   in every crate (zeroized on drop, redacted `Debug`/`Display`, no serde).
//! * [`tree`]: the ordered, comment-carrying tree (sops's `TreeBranches`).
//! * `yaml`, `json`, `dotenv`: readers and writers that produce and consume
//!   that tree, byte-compatible with what the Go `sops` binary writes.

pub mod secret;
pub mod tree;

pub use secret::Secret;
pub use tree::{Branch, Item, Value};
pub mod dotenv;
pub mod ini;
pub mod json;
pub mod yaml;
