//! `clef-agent`: serves a packed artifact's values to a workload on
//! 127.0.0.1, behind a bearer token, wire-compatible with the TypeScript
//! Clef's agent (routes, bodies, `CLEF_AGENT_*` variables, refresh
//! schedule) and without its bugs (see the crate README).
//!
//! * [`config`]: variables, config file, flags.
//! * [`source`]: file, https, s3; conditional fetches.
//! * [`state`]: verification of every new document, the served values.
//! * [`refresh`]: first load and the poll schedule.
//! * [`cache`]: the disk cache of the encrypted artifact.
//! * [`server`]: the HTTP API.
//! * [`exec`]: `clef-agent exec -- CMD`.
//! * [`exit`]: the exit codes and the table `--help` prints.
//! * [`log`]: JSON lines and failure lines, to the sink the binary installs.
#![deny(missing_docs)]

pub mod cache;
pub mod config;
pub mod exec;
pub mod exit;
pub mod log;
pub mod refresh;
pub mod server;
pub mod source;
pub mod state;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::Config;
use crate::log::F;
use crate::state::{State, Verifier};

/// What can stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A bad setting.
    #[error("{0}")]
    Config(String),
    /// Cannot listen, no runtime, …
    #[error("{0}")]
    Start(String),
}

/// A fresh random token: 32 bytes, hex.
pub fn generate_token() -> Zeroizing<String> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(b.as_mut()).expect("the OS random source failed");
    let mut s = Zeroizing::new(String::with_capacity(64));
    for x in b.iter() {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Where a generated token is written: a memory-backed directory only
/// (`$XDG_RUNTIME_DIR/clef-agent/`, else `/dev/shm/clef-agent-<uid>/`),
/// mode 0600 in a 0700 directory.
pub fn token_path(port: u16) -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty() && std::path::Path::new(d).is_dir())
        .map(|d| PathBuf::from(d).join("clef-agent"))
        .or_else(|| {
            std::path::Path::new("/dev/shm")
                .is_dir()
                .then(|| PathBuf::from(format!("/dev/shm/clef-agent-{uid}")))
        })?;
    Some(dir.join(format!("token-{port}")))
}

fn write_token(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir()
        || m.uid() != rustix::process::getuid().as_raw()
        || m.permissions().mode() & 0o077 != 0
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the token directory is not a private directory of this user",
        ));
    }
    clef_sops::io::atomic_write(path, format!("{token}\n").as_bytes(), true)
}

/// The pieces of a running agent, for the binary and `clef serve`.
pub struct Agent {
    /// The state.
    pub state: Arc<State>,
    /// The configuration.
    pub config: Config,
}

/// Builds the verifier from the configuration (age identities, KMS).
pub fn verifier(cfg: &mut Config) -> Result<Verifier, AgentError> {
    let mut ids = clef_keys::Identities::empty();
    if let Some(k) = cfg.age_key.take() {
        ids.add_text(&k, "CLEF_AGENT_AGE_KEY")
            .map_err(|e| AgentError::Config(e.to_string()))?;
    }
    Ok(Verifier {
        verify_key: cfg.verify_key.take(),
        ids,
        #[cfg(feature = "aws")]
        kms: Some(Box::new(state::KmsUnwrapper::from_env())),
        #[cfg(not(feature = "aws"))]
        kms: None,
        identity: cfg.identity.clone(),
        environment: cfg.environment.clone(),
    })
}

/// The runtime the agent runs on. `workers` 1: one thread serves
/// everything (the default: lowest tail latency and memory, see the README);
/// more: a work-stealing pool of that many; 0: one per core, at most 4.
/// Decryption and KMS/S3 calls run on the blocking pool either way.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, AgentError> {
    let workers = if workers == 0 {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4)
    } else {
        workers
    };
    let mut b = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    b.max_blocking_threads(16)
        .enable_all()
        .build()
        .map_err(|e| AgentError::Start(format!("cannot start the runtime: {e}")))
}

/// Waits for SIGTERM or SIGINT.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut t), Ok(mut i)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    server::first(
        async {
            t.recv().await;
        },
        async {
            i.recv().await;
        },
    )
    .await;
}

/// Runs the agent (or, with `exec`, the supervised command) until
/// SIGTERM; returns the process exit code.
pub fn run(mut cfg: Config, exec: Option<Vec<OsString>>, debounce: Duration) -> i32 {
    let fail = |e: &dyn std::fmt::Display| {
        log::say(&format!("clef-agent: {e}"));
        i32::from(exit::FAILED)
    };
    let verifier = match verifier(&mut cfg) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    let src = match source::Source::new(&cfg) {
        Ok(s) => s,
        Err(e) => {
            // a CA bundle that cannot be read, an unsupported source: configuration
            log::say(&format!("clef-agent: {e}"));
            return i32::from(exit::CONFIG);
        }
    };
    let rt = match runtime(cfg.worker_threads) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let state = Arc::new(State::new(cfg.jit(), cfg.cache_ttl, verifier));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let code = rt.block_on(async {
        // SIGTERM/SIGINT are caught once, from the start, into a flag: a
        // signal that arrives while the first load is still running is not lost.
        let (term_tx, mut term_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            terminated().await;
            term_tx.send_replace(true);
        });
        let mut term_rx2 = term_rx.clone();
        let term_wait = async move |rx: &mut tokio::sync::watch::Receiver<bool>| {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        // The API is up before the first load, so /v1/health answers and
        // /v1/ready says not_loaded while the source is tried.
        let serving = if exec.is_none() {
            let listener =
                match tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await {
                    Ok(l) => l,
                    Err(e) => {
                        return fail(&format!("cannot listen on 127.0.0.1:{}: {}", cfg.port, e.kind()));
                    }
                };
            let port = listener.local_addr().map_or(cfg.port, |a| a.port());
            let (token, token_file) = match cfg.token.take() {
                Some(t) => (t, None),
                None => {
                    let t = generate_token();
                    let Some(p) = token_path(port) else {
                        return fail(&"no token given (CLEF_AGENT_TOKEN or CLEF_AGENT_TOKEN_FILE) and no memory-backed directory ($XDG_RUNTIME_DIR, /dev/shm) to write a generated one to");
                    };
                    if let Err(e) = write_token(&p, &t) {
                        return fail(&format!("cannot write the generated token to {}: {e}", p.display()));
                    }
                    (t, Some(p))
                }
            };
            let app = Arc::new(server::App::new(state.clone(), &token, port));
            drop(token);
            log::info(
                "agent.started",
                &[
                    ("port", F::N(i64::from(port))),
                    ("source", F::S(&src.describe())),
                    ("mode", F::S(if cfg.jit() { "jit" } else { "cached" })),
                    (
                        "tokenFile",
                        F::S(&token_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
                    ),
                    ("pid", F::N(i64::from(std::process::id()))),
                ],
            );
            Some((
                tokio::spawn(server::serve(listener, app, cfg.max_connections, stop_rx.clone())),
                token_file,
            ))
        } else {
            None
        };
        let cache = cfg.cache_path.as_deref().map(cache::DiskCache::new);
        let mut r = refresh::Refresher::new(src, state.clone(), cache, cfg.poll_interval);
        let first = {
            let init = r.initial();
            let mut init = std::pin::pin!(init);
            let mut term = std::pin::pin!(term_wait(&mut term_rx));
            std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(x) = init.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Some(x));
                }
                term.as_mut().poll(cx).map(|()| None)
            })
            .await
        };
        let code = match first {
            None => i32::from(exit::STOPPED),
            Some(Err(e)) => {
                log::error("agent.start_failed", &[("reason", F::S(&e))]);
                i32::from(exit::FAILED)
            }
            Some(Ok(())) => {
                let refresher = tokio::spawn(r.run(stop_rx.clone()));
                let code = match &exec {
                    Some(cmd) => exec::supervise(state.clone(), cmd.clone(), debounce).await,
                    None => {
                        term_wait(&mut term_rx2).await;
                        i32::from(exit::STOPPED)
                    }
                };
                let _ = stop_tx.send(true);
                let _ = refresher.await;
                code
            }
        };
        let _ = stop_tx.send(true);
        if let Some((h, token_file)) = serving {
            let _ = h.await;
            if let Some(p) = token_file {
                let _ = std::fs::remove_file(p);
            }
        }
        log::info("agent.stopped", &[("code", F::N(i64::from(code)))]);
        code
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Serves an already loaded `state` on 127.0.0.1:`port` (0: any free port)
/// until SIGTERM or SIGINT: what `clef serve` runs. `ready(port)` is called
/// once the socket listens.
pub fn serve_until_terminated(
    state: Arc<State>,
    token: &str,
    port: u16,
    ready: impl FnOnce(u16),
) -> Result<(), AgentError> {
    let rt = runtime(config::DEFAULT_WORKER_THREADS)?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| {
                AgentError::Start(format!("cannot listen on 127.0.0.1:{port}: {}", e.kind()))
            })?;
        let port = listener.local_addr().map_or(port, |a| a.port());
        let app = Arc::new(server::App::new(state, token, port));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let h = tokio::spawn(server::serve(
            listener,
            app,
            config::DEFAULT_MAX_CONNECTIONS,
            stop_rx,
        ));
        ready(port);
        terminated().await;
        let _ = stop_tx.send(true);
        let _ = h.await;
        Ok(())
    })
}
