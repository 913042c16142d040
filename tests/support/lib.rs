//! Shared helpers for the end-to-end tests (temporary git sandboxes, binaries, oracle lookup).
