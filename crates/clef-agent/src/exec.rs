//! `clef-agent exec -- CMD …`: the values in the child's environment (as
//! `KEY`; the same KEY in two namespaces is refused), the child restarted
//! on a new revision only when the values it would get changed, after a
//! debounce (several revisions in a burst make one restart). Signals are
//! forwarded; the child's exit code is the agent's.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::log::{self, F};
use crate::state::State;

/// Variables of the agent's own that the child never inherits.
const PRIVATE_VARS: &[&str] = &[
    "CLEF_AGENT_TOKEN",
    "CLEF_AGENT_AGE_KEY",
    "CLEF_AGENT_SOURCE_HEADER",
];

type Env = BTreeMap<String, Zeroizing<String>>;

/// The child's variables from the served values.
pub fn env_of(state: &State) -> Result<Env, String> {
    let l = state
        .current(clef_artifact::clock::now_ms())
        .map_err(|u| format!("no values to run with ({})", u.reason()))?;
    let opened;
    let p = match &l.values {
        Some(v) => &v.plaintext,
        None => {
            opened = state.open_values(&l).map_err(|e| e.to_string())?;
            &opened
        }
    };
    let mut env = Env::new();
    for (ns, bucket) in &p.namespaces {
        for (k, v) in bucket {
            if env.insert(k.clone(), v.clone()).is_some() {
                return Err(format!(
                    "key {k} is in more than one namespace (last seen in {ns}); cannot name one variable for both"
                ));
            }
        }
    }
    Ok(env)
}

/// [`env_of`] off the async workers: in JIT mode it decrypts, possibly
/// through KMS (a blocking call).
async fn env_of_blocking(state: &Arc<State>) -> Result<Env, String> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || env_of(&state))
        .await
        .map_err(|_| "the decryption was interrupted".to_owned())?
}

/// Starts the command and logs `exec.started`; `None`, said on stderr, when
/// it cannot be started (the caller exits 127, as a shell does).
fn start(cmd: &[OsString], env: &Env) -> Option<tokio::process::Child> {
    match spawn(cmd, env) {
        Ok(c) => {
            log::info("exec.started", &[("pid", F::N(c.id().unwrap_or(0) as i64))]);
            Some(c)
        }
        Err(e) => {
            log::say(&format!("clef-agent exec: {e}"));
            None
        }
    }
}

fn spawn(cmd: &[OsString], env: &Env) -> Result<tokio::process::Child, String> {
    let mut c = tokio::process::Command::new(&cmd[0]);
    c.args(&cmd[1..]);
    for v in PRIVATE_VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v.as_str());
    }
    c.spawn()
        .map_err(|e| format!("cannot run {}: {}", cmd[0].to_string_lossy(), e.kind()))
}

fn signal(child: &tokio::process::Child, sig: rustix::process::Signal) {
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

fn exit_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

enum Ev {
    Exited(std::io::Result<std::process::ExitStatus>),
    Changed,
    Signal(rustix::process::Signal),
}

/// Runs the child until it exits; returns its exit code.
pub async fn supervise(state: Arc<State>, cmd: Vec<OsString>, debounce: Duration) -> i32 {
    use tokio::signal::unix::{SignalKind, signal as sig};
    let mut env = match env_of_blocking(&state).await {
        Ok(e) => e,
        Err(e) => {
            log::say(&format!("clef-agent exec: {e}"));
            return 1;
        }
    };
    let Some(mut child) = start(&cmd, &env) else {
        return 127;
    };
    let mut changes = state.changes.subscribe();
    changes.borrow_and_update();
    let kinds = [
        (SignalKind::terminate(), rustix::process::Signal::TERM),
        (SignalKind::interrupt(), rustix::process::Signal::INT),
        (SignalKind::hangup(), rustix::process::Signal::HUP),
        (SignalKind::quit(), rustix::process::Signal::QUIT),
        (SignalKind::user_defined1(), rustix::process::Signal::USR1),
        (SignalKind::user_defined2(), rustix::process::Signal::USR2),
    ];
    let mut sigs: Vec<_> = kinds
        .iter()
        .filter_map(|(k, s)| sig(*k).ok().map(|st| (st, *s)))
        .collect();
    let mut stopping = false;
    loop {
        let ev = {
            let mut wait = std::pin::pin!(child.wait());
            let mut changed = std::pin::pin!(changes.changed());
            std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(r) = wait.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Ev::Exited(r));
                }
                if !stopping
                    && let std::task::Poll::Ready(r) = changed.as_mut().poll(cx)
                    && r.is_ok()
                {
                    return std::task::Poll::Ready(Ev::Changed);
                }
                for (st, s) in sigs.iter_mut() {
                    if st.poll_recv(cx).is_ready() {
                        return std::task::Poll::Ready(Ev::Signal(*s));
                    }
                }
                std::task::Poll::Pending
            })
            .await
        };
        match ev {
            Ev::Exited(r) => {
                let code = r.map(exit_code).unwrap_or(1);
                log::info("exec.exited", &[("code", F::N(i64::from(code)))]);
                return code;
            }
            Ev::Signal(s) => {
                if s == rustix::process::Signal::TERM || s == rustix::process::Signal::INT {
                    stopping = true;
                }
                signal(&child, s);
            }
            Ev::Changed => {
                // debounce: let a burst of revisions settle
                tokio::time::sleep(debounce).await;
                changes.borrow_and_update();
                let new = match env_of_blocking(&state).await {
                    Ok(e) => e,
                    Err(e) => {
                        // expired or revoked: the child keeps what it has
                        log::warn("exec.not_restarted", &[("reason", F::S(&e))]);
                        continue;
                    }
                };
                if new == env {
                    log::info("exec.unchanged", &[]);
                    continue;
                }
                log::info(
                    "exec.restarting",
                    &[("pid", F::N(child.id().unwrap_or(0) as i64))],
                );
                signal(&child, rustix::process::Signal::TERM);
                if tokio::time::timeout(Duration::from_secs(10), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
                env = new;
                let Some(c) = start(&cmd, &env) else {
                    return 127;
                };
                child = c;
            }
        }
    }
}
