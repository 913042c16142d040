//! The async runtime behind the sync facade: one current-thread tokio runtime,
//! created the first time a cloud call is actually made. A process that never
//! talks to a KMS (a hook run, a merge of cells whose data key needs no unwrap,
//! `clef-scan`) never creates it.

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// Whether the runtime has been created in this process (for tests and diagnostics).
pub fn started() -> bool {
    RUNTIME.get().is_some()
}

/// Runs `f` to completion on the shared current-thread runtime, creating it on first use.
/// Must not be called from inside an async context.
#[allow(
    clippy::disallowed_methods,
    reason = "no runtime, no KMS: exits 70 (EX_SOFTWARE); to be turned into an error by the owner"
)]
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| {
                    // Only fails when the OS refuses an epoll fd or a timer: nothing to recover.
                    eprintln!("clef: cannot start the async runtime for KMS calls: {e}");
                    std::process::exit(70)
                })
        })
        .block_on(f)
}
