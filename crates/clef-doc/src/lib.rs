//! Clef's document model and format codecs.
//!
//! * [`tree`]: the ordered, comment-carrying tree (sops's `TreeBranches`).
//! * `yaml`, `json`, `dotenv`: readers and writers that produce and consume
//!   that tree, byte-compatible with what the Go `sops` binary writes.

pub mod tree;

pub use tree::{Branch, Item, Secret, Value};
pub mod dotenv;
pub mod ini;
pub mod json;
pub mod yaml;
