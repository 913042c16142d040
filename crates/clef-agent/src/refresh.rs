//! The refresh loop: the first load (3 attempts, 2 s then 4 s apart, then
//! the disk cache), then polls on the reference's schedule with conditional
//! fetches. Every new document goes through [`State::apply`].

use std::sync::Arc;
use std::time::Duration;

use crate::cache::DiskCache;
use crate::log::{self, F};
use crate::source::{Fetched, Source};
use crate::state::{Applied, State};

/// The refresher's pieces.
pub struct Refresher {
    /// Where the artifact comes from.
    pub source: Source,
    /// The agent state.
    pub state: Arc<State>,
    /// The disk cache, if configured.
    pub cache: Option<DiskCache>,
    /// Overrides the schedule (and the start-up backoff base).
    pub interval: Option<Duration>,
    etag: Option<String>,
}

/// The next poll: with `expiresAt`, 80% of the remaining time (at least
/// 5 s); JIT, 5 s; otherwise a tenth of the TTL (at least 5 s).
pub fn schedule(state: &State, now_ms: i64) -> Duration {
    let min = Duration::from_secs(5);
    if let Some(t) = state.expires_ms() {
        let rem = (t - now_ms).max(0) as u64;
        return Duration::from_millis(rem * 8 / 10).max(min);
    }
    if state.jit {
        return min;
    }
    Duration::from_millis(state.ttl_ms.max(0) as u64 / 10).max(min)
}

impl Refresher {
    /// A refresher.
    pub fn new(
        source: Source,
        state: Arc<State>,
        cache: Option<DiskCache>,
        interval: Option<Duration>,
    ) -> Refresher {
        Refresher {
            source,
            state,
            cache,
            interval,
            etag: None,
        }
    }

    /// One poll. Returns whether the source answered.
    pub async fn poll(&mut self) -> bool {
        let now = clef_artifact::clock::now_ms();
        let src = self.source.describe();
        match self.source.fetch(self.etag.as_deref()).await {
            Err(reason) => {
                log::warn(
                    "fetch.failed",
                    &[("source", F::S(&src)), ("reason", F::S(&reason))],
                );
                false
            }
            Ok(Fetched::NotModified) => {
                self.state.touch(now);
                if let Some(c) = &self.cache
                    && self.state.loaded_digest().is_some()
                {
                    let _ = c.touch(now, self.etag.as_deref());
                }
                true
            }
            Ok(Fetched::New { bytes, etag }) => {
                let state = self.state.clone();
                let src2 = src.clone();
                let copy = self.cache.as_ref().map(|_| bytes.clone());
                let applied =
                    tokio::task::spawn_blocking(move || state.apply(bytes, now, &src2)).await;
                let applied = applied.unwrap_or(Applied::Invalid);
                match applied {
                    Applied::Refreshed | Applied::Unchanged => {
                        self.etag = etag;
                        if let (Some(c), Some(b)) = (&self.cache, copy) {
                            let r = if applied == Applied::Refreshed {
                                c.save(&b, now, self.etag.as_deref())
                            } else {
                                c.touch(now, self.etag.as_deref())
                            };
                            if let Err(e) = r {
                                log::warn(
                                    "cache.write_failed",
                                    &[("reason", F::S(&e.kind().to_string()))],
                                );
                            }
                        }
                    }
                    Applied::Revoked => {
                        self.etag = etag;
                        if let Some(c) = &self.cache {
                            c.remove();
                        }
                    }
                    Applied::Invalid => {}
                }
                true
            }
        }
    }

    /// The first load. `Err` when neither the source nor the disk cache
    /// gave a servable artifact (the agent then exits 1, as the old one).
    pub async fn initial(&mut self) -> Result<(), String> {
        let base = self.interval.unwrap_or(Duration::from_secs(2));
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(base * (1 << (attempt - 1))).await;
            }
            self.poll().await;
            match self.state.current(clef_artifact::clock::now_ms()) {
                Ok(_) | Err(crate::state::Unavailable::Revoked) => return Ok(()),
                Err(_) => {}
            }
        }
        if let Some(c) = &self.cache
            && let Some(cached) = c.load()
        {
            let src = format!("disk cache {}", c.artifact_path().display());
            let state = self.state.clone();
            let Ok(applied) = tokio::task::spawn_blocking(move || {
                state.apply(cached.bytes, cached.fetched_ms, &src)
            })
            .await
            else {
                return Err("the disk cache check was interrupted".into());
            };
            self.etag = cached.etag;
            if applied == Applied::Refreshed
                && self.state.current(clef_artifact::clock::now_ms()).is_ok()
            {
                return Ok(());
            }
        }
        Err(format!(
            "no valid artifact from {} after 3 attempts{}",
            self.source.describe(),
            if self.cache.is_some() {
                " nor in the disk cache"
            } else {
                ""
            }
        ))
    }

    /// Polls until `stop` turns true.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let now = clef_artifact::clock::now_ms();
            let _ = self.state.current(now); // expiry is logged even with no request
            let wait = self.interval.unwrap_or_else(|| schedule(&self.state, now));
            if *stop.borrow() {
                return;
            }
            if let Ok(r) = tokio::time::timeout(wait, stop.changed()).await
                && (r.is_err() || *stop.borrow())
            {
                return;
            }
            self.poll().await;
        }
    }
}
