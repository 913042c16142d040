//! The HTTP API on 127.0.0.1 (hyper 1, HTTP/1.1, keep-alive).
//!
//! Checks, in order: Host (`127.0.0.1:PORT` or `localhost:PORT`, else 403),
//! `X-Forwarded-For` (400: the agent is not to be reached through a relay),
//! method (GET only, else 405), then `/v1/health` and `/v1/ready` (no
//! token), then the bearer token (case-sensitive `Bearer `, compared in
//! constant time; else 401), then the routes. Every response carries
//! `Cache-Control: no-store`. A connection cap refuses connections beyond
//! it (closed at once), and idle or slow clients are cut after 10 s.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::log::{self, F};
use crate::state::{SecretsView, State, Unavailable};

/// The response body type.
pub type Body = Full<Bytes>;

/// How long a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's shared pieces.
pub struct App {
    /// The agent state.
    pub state: Arc<State>,
    /// SHA-256 of the token (compared in constant time).
    token_digest: [u8; 32],
    hosts: [String; 2],
}

impl App {
    /// The API for `state` on `port`, guarded by `token`.
    pub fn new(state: Arc<State>, token: &str, port: u16) -> App {
        App {
            state,
            token_digest: Sha256::digest(token.as_bytes()).into(),
            hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        }
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let Some(v) = req.headers().get(hyper::header::AUTHORIZATION) else {
            return false;
        };
        let Some(t) = v.as_bytes().strip_prefix(b"Bearer ") else {
            return false;
        };
        let d: [u8; 32] = Sha256::digest(t).into();
        // constant time over the digests: no early exit on the first difference
        d.iter()
            .zip(self.token_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let host_ok = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.hosts.iter().any(|x| x == h));
        if !host_ok {
            return json(
                StatusCode::FORBIDDEN,
                r#"{"error":"Forbidden: invalid Host header"}"#,
            );
        }
        if req.headers().contains_key("x-forwarded-for") {
            return json(
                StatusCode::BAD_REQUEST,
                r#"{"error":"Forbidden: X-Forwarded-For is not accepted"}"#,
            );
        }
        if req.method() != hyper::Method::GET {
            let mut r = json(
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"error":"Method not allowed"}"#,
            );
            r.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("GET"),
            );
            return r;
        }
        let now = clef_artifact::clock::now_ms();
        let path = req.uri().path();
        match path {
            "/v1/health" => return self.health(now),
            "/v1/ready" => {
                return match self.state.current(now) {
                    Ok(_) => json(StatusCode::OK, r#"{"ready":true}"#),
                    Err(u) => json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!(r#"{{"ready":false,"reason":"{}"}}"#, u.reason()),
                    ),
                };
            }
            _ => {}
        }
        if !self.authorized(&req) {
            return json(StatusCode::UNAUTHORIZED, r#"{"error":"Unauthorized"}"#);
        }
        let route = match path {
            "/v1/secrets" => Route::Secrets,
            "/v1/keys" => Route::Keys,
            p => match p
                .strip_prefix("/v1/secrets/")
                .and_then(|r| r.split_once('/'))
            {
                Some((ns, key)) if !ns.is_empty() && !key.is_empty() && !key.contains('/') => {
                    Route::One(ns.to_owned(), key.to_owned())
                }
                _ => return json(StatusCode::NOT_FOUND, r#"{"error":"Not found"}"#),
            },
        };
        let loaded = match self.state.current(now) {
            Ok(l) => l,
            Err(u) => {
                if route == Route::Keys && u == Unavailable::NotLoaded {
                    return json(StatusCode::OK, "[]");
                }
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    match u {
                        Unavailable::NotLoaded => r#"{"error":"Secrets not yet loaded"}"#,
                        Unavailable::Expired => r#"{"error":"Secrets expired"}"#,
                        Unavailable::Revoked => r#"{"error":"Secrets revoked"}"#,
                    },
                );
            }
        };
        match route {
            Route::Keys => json_bytes(StatusCode::OK, Bytes::from(loaded.keys_json.clone())),
            Route::Secrets if !self.state.jit => {
                json_bytes(StatusCode::OK, Bytes::from_owner(SecretsView(loaded)))
            }
            Route::Secrets | Route::One(..) => {
                let state = self.state.clone();
                let l = loaded.clone();
                let jit = self.state.jit;
                let one = match &route {
                    Route::One(ns, k) => Some((ns.clone(), k.clone())),
                    _ => None,
                };
                let out = tokio::task::spawn_blocking(move || render(&state, &l, jit, one)).await;
                match out {
                    Ok(Ok(Some(b))) => json_bytes(StatusCode::OK, b),
                    Ok(Ok(None)) => json(StatusCode::NOT_FOUND, r#"{"error":"No such key"}"#),
                    Ok(Err(reason)) => {
                        log::error("decrypt.failed", &[("reason", F::S(&reason))]);
                        json(
                            StatusCode::SERVICE_UNAVAILABLE,
                            r#"{"error":"Decryption failed"}"#,
                        )
                    }
                    Err(_) => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        r#"{"error":"Internal error"}"#,
                    ),
                }
            }
        }
    }

    fn health(&self, now: i64) -> Response<Body> {
        let cur = self.state.current(now);
        let mut s = String::from(r#"{"status":"ok","mode":"#);
        s.push_str(if self.state.jit {
            r#""jit""#
        } else {
            r#""cached""#
        });
        s.push_str(r#","revision":"#);
        match &cur {
            Ok(l) => clef_artifact::plaintext::write_js_string(&mut s, &l.artifact.revision),
            Err(_) => s.push_str("null"),
        }
        s.push_str(r#","lastRefreshAt":"#);
        match self.state.last_refresh_ms() {
            Some(t) if cur.is_ok() => s.push_str(&t.to_string()),
            _ => s.push_str("null"),
        }
        s.push_str(r#","expired":"#);
        s.push_str(if matches!(cur, Err(Unavailable::Expired)) {
            "true"
        } else {
            "false"
        });
        s.push('}');
        json(StatusCode::OK, &s)
    }
}

impl std::fmt::Debug for crate::state::Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loaded({})", self.artifact.revision)
    }
}

#[derive(PartialEq, Eq)]
enum Route {
    Secrets,
    Keys,
    One(String, String),
}

/// Renders `/v1/secrets` (JIT) or one key, in zeroized buffers.
fn render(
    state: &State,
    l: &crate::state::Loaded,
    jit: bool,
    one: Option<(String, String)>,
) -> Result<Option<Bytes>, String> {
    let opened;
    let p = if jit {
        opened = state.open_values(l).map_err(|e| e.to_string())?;
        &opened
    } else {
        match &l.values {
            Some(v) => &v.plaintext,
            None => return Err("no values loaded".into()),
        }
    };
    match one {
        None => Ok(Some(Bytes::from_owner(p.to_json()))),
        Some((ns, key)) => {
            let v = p
                .namespaces
                .iter()
                .find(|(n, _)| *n == ns)
                .and_then(|(_, b)| b.iter().find(|(k, _)| *k == key));
            Ok(v.map(|(_, v)| {
                let mut s = zeroize::Zeroizing::new(String::with_capacity(v.len() + 12));
                s.push_str(r#"{"value":"#);
                clef_artifact::plaintext::write_js_string(&mut s, v);
                s.push('}');
                Bytes::from_owner(s)
            }))
        }
    }
}

fn json(status: StatusCode, body: &str) -> Response<Body> {
    json_bytes(status, Bytes::copy_from_slice(body.as_bytes()))
}

fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Accepts connections until `stop` turns true; at most `max_conns` at
/// once (the ones beyond are closed at once, and logged once per burst).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    max_conns: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(max_conns));
    let accept = async {
        let mut refused_logged = false;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // EMFILE and the like: back off a moment
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                drop(stream);
                if !refused_logged {
                    refused_logged = true;
                    log::warn(
                        "connection.refused",
                        &[
                            ("reason", F::S("connection cap reached")),
                            ("cap", F::N(max_conns as i64)),
                        ],
                    );
                }
                continue;
            };
            refused_logged = false;
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let svc = hyper::service::service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(app.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(64 * 1024)
                    .serve_connection(io, svc)
                    .await;
                drop(permit);
            });
        }
    };
    let stopped = async {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    first(accept, stopped).await;
}

/// Runs two futures until the first finishes (a two-way select without
/// tokio's macros).
pub async fn first<A: std::future::Future<Output = ()>, B: std::future::Future<Output = ()>>(
    a: A,
    b: B,
) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
