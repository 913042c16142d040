//! The async runtime behind the sync facade: one current-thread tokio runtime,
//! created the first time a cloud call is actually made. A process that never
//! talks to a KMS (a hook run, a merge of cells whose data key needs no unwrap,
//! `clef-scan`) never creates it.

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// The runtime could not be started (the OS refused an epoll fd or a
/// timer): no cloud call can be made in this process.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot start the async runtime for KMS calls: {0}")]
pub struct RuntimeError(String);

/// Whether the runtime has been created in this process (for tests and diagnostics).
pub fn started() -> bool {
    RUNTIME.get().is_some_and(Result::is_ok)
}

/// Runs `f` to completion on the shared current-thread runtime, creating it
/// on first use; an error when it cannot be created (each call says so, the
/// caller's error names the key or service). Must not be called from inside
/// an async context.
pub fn block_on<F: Future>(f: F) -> Result<F::Output, RuntimeError> {
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match rt {
        Ok(rt) => Ok(rt.block_on(f)),
        Err(e) => Err(RuntimeError(e.clone())),
    }
}
