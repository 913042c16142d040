//! The HTTP API on 127.0.0.1: HTTP/1.1 with keep-alive (and pipelining),
//! GET only, no request bodies.
//!
//! The server is small on purpose: request heads are parsed with `httparse`
//! (hyper's own parser) into a per-connection buffer that starts at 1 KiB
//! (hyper's two 8 KiB buffers per connection were most of the agent's
//! memory at 1,000 connections), and each response is one vectored write of
//! a head built in a reused buffer plus a body borrowed from the loaded
//! values (no copy of a value per request).
//!
//! Checks, in order: Host (`127.0.0.1:PORT` or `localhost:PORT`, exactly
//! one, else 403), `X-Forwarded-For` (400: the agent is not to be reached
//! through a relay), method (GET only, else 405), then `/v1/health` and
//! `/v1/ready` (no token), then the bearer token (case-sensitive `Bearer `,
//! compared in constant time; else 401), then the routes. Every response
//! carries `Cache-Control: no-store`. A request with a body (a
//! `Content-Length` other than 0, or any `Transfer-Encoding`) is answered
//! and the connection closed, so a body is never read as a request. A head
//! over 64 KiB or with more than 64 fields gets 431; a malformed one 400;
//! both close. A connection cap refuses connections beyond it (closed at
//! once); a client that takes more than 10 s to send a request head (idle
//! keep-alive included), or to take a response, is cut.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::log::{self, F};
use crate::state::{Loaded, State, Unavailable};

/// How long a client may take to send a request head, or to take a response.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in a request head.
pub const MAX_HEADERS: usize = 64;
/// A connection's first read buffer (an agent request is ~100-300 bytes).
const INIT_BUF: usize = 1024;

/// A response body.
pub enum Body {
    /// A fixed message (errors, `/v1/ready`).
    Static(&'static str),
    /// A non-secret body built per request (`/v1/health`, `/v1/ready` 503).
    Text(String),
    /// `/v1/secrets` in cached mode: the body rendered once per artifact
    /// (zeroized when the artifact is dropped), shared, not copied.
    Secrets(Arc<Loaded>),
    /// `/v1/keys`: the names, rendered once per artifact.
    Keys(Arc<Loaded>),
    /// A body built per request (JIT, one key), zeroized on drop.
    Secret(Zeroizing<String>),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Static(s) => s.as_bytes(),
            Body::Text(s) => s.as_bytes(),
            Body::Secrets(l) => l
                .values
                .as_ref()
                .map_or(&b"{}"[..], |v| v.secrets_json.as_bytes()),
            Body::Keys(l) => l.keys_json.as_bytes(),
            Body::Secret(s) => s.as_bytes(),
        }
    }
}

/// A response: status and body (always JSON).
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Body,
}

fn json(status: u16, body: &'static str) -> Response {
    Response {
        status,
        body: Body::Static(body),
    }
}

/// The parts of a request head the API looks at.
pub struct Request<'a> {
    /// The method.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The Host field, if exactly one.
    pub host: Option<&'a [u8]>,
    /// The first Authorization field.
    pub authorization: Option<&'a [u8]>,
    /// Whether `X-Forwarded-For` is present.
    pub forwarded: bool,
}

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

    fn authorized(&self, req: &Request<'_>) -> bool {
        let Some(t) = req.authorization.and_then(|v| v.strip_prefix(b"Bearer ")) else {
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
    pub async fn handle(&self, req: &Request<'_>) -> Response {
        let host_ok = req
            .host
            .is_some_and(|h| self.hosts.iter().any(|x| x.as_bytes() == h));
        if !host_ok {
            return json(403, r#"{"error":"Forbidden: invalid Host header"}"#);
        }
        if req.forwarded {
            return json(
                400,
                r#"{"error":"Forbidden: X-Forwarded-For is not accepted"}"#,
            );
        }
        if req.method != "GET" {
            return json(405, r#"{"error":"Method not allowed"}"#);
        }
        let now = clef_artifact::clock::now_ms();
        match req.path {
            "/v1/health" => return self.health(now),
            "/v1/ready" => {
                return match self.state.current(now) {
                    Ok(_) => json(200, r#"{"ready":true}"#),
                    Err(u) => Response {
                        status: 503,
                        body: Body::Text(format!(r#"{{"ready":false,"reason":"{}"}}"#, u.reason())),
                    },
                };
            }
            _ => {}
        }
        if !self.authorized(req) {
            return json(401, r#"{"error":"Unauthorized"}"#);
        }
        let route = match req.path {
            "/v1/secrets" => Route::Secrets,
            "/v1/keys" => Route::Keys,
            p => match p
                .strip_prefix("/v1/secrets/")
                .and_then(|r| r.split_once('/'))
            {
                Some((ns, key)) if !ns.is_empty() && !key.is_empty() && !key.contains('/') => {
                    Route::One(ns.to_owned(), key.to_owned())
                }
                _ => return json(404, r#"{"error":"Not found"}"#),
            },
        };
        let loaded = match self.state.current(now) {
            Ok(l) => l,
            Err(u) => {
                if route == Route::Keys && u == Unavailable::NotLoaded {
                    return json(200, "[]");
                }
                return json(
                    503,
                    match u {
                        Unavailable::NotLoaded => r#"{"error":"Secrets not yet loaded"}"#,
                        Unavailable::Expired => r#"{"error":"Secrets expired"}"#,
                        Unavailable::Revoked => r#"{"error":"Secrets revoked"}"#,
                    },
                );
            }
        };
        match route {
            Route::Keys => Response {
                status: 200,
                body: Body::Keys(loaded),
            },
            Route::Secrets if !self.state.jit => Response {
                status: 200,
                body: Body::Secrets(loaded),
            },
            Route::Secrets | Route::One(..) => {
                let state = self.state.clone();
                let jit = self.state.jit;
                let one = match route {
                    Route::One(ns, k) => Some((ns, k)),
                    _ => None,
                };
                let out =
                    tokio::task::spawn_blocking(move || render(&state, &loaded, jit, one)).await;
                match out {
                    Ok(Ok(Some(b))) => Response {
                        status: 200,
                        body: Body::Secret(b),
                    },
                    Ok(Ok(None)) => json(404, r#"{"error":"No such key"}"#),
                    Ok(Err(reason)) => {
                        log::error("decrypt.failed", &[("reason", F::S(&reason))]);
                        json(503, r#"{"error":"Decryption failed"}"#)
                    }
                    Err(_) => json(500, r#"{"error":"Internal error"}"#),
                }
            }
        }
    }

    fn health(&self, now: i64) -> Response {
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
        Response {
            status: 200,
            body: Body::Text(s),
        }
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
    l: &Loaded,
    jit: bool,
    one: Option<(String, String)>,
) -> Result<Option<Zeroizing<String>>, String> {
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
        None => Ok(Some(p.to_json())),
        Some((ns, key)) => {
            let v = p
                .namespaces
                .iter()
                .find(|(n, _)| *n == ns)
                .and_then(|(_, b)| b.iter().find(|(k, _)| *k == key));
            Ok(v.map(|(_, v)| {
                let mut s = Zeroizing::new(String::with_capacity(v.len() + 12));
                s.push_str(r#"{"value":"#);
                clef_artifact::plaintext::write_js_string(&mut s, v);
                s.push('}');
                s
            }))
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// `Date:` in IMF-fixdate (`Tue, 01 Dec 2026 23:00:00 GMT`), recomputed
/// once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::Cell<(u64, [u8; 29])> = const { std::cell::Cell::new((u64::MAX, [0; 29])) };
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (at, mut text) = DATE.get();
    if at != secs {
        text = format_date(secs);
        DATE.set((secs, text));
    }
    out.extend_from_slice(&text);
}

fn format_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86400;
    let rem = secs % 86400;
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (y, mo, d) = clef_sops::time::civil_from_days(days as i64);
    let mut o = [0u8; 29];
    let w = |o: &mut [u8], n: u64, width: usize| {
        let mut n = n;
        for i in (0..width).rev() {
            o[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    o[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    o[3..5].copy_from_slice(b", ");
    w(&mut o[5..7], d as u64, 2);
    o[7] = b' ';
    o[8..11].copy_from_slice(MONTHS[(mo - 1) as usize]);
    o[11] = b' ';
    w(&mut o[12..16], y.clamp(0, 9999) as u64, 4);
    o[16] = b' ';
    w(&mut o[17..19], h, 2);
    o[19] = b':';
    w(&mut o[20..22], m, 2);
    o[22] = b':';
    w(&mut o[23..25], s, 2);
    o[25..29].copy_from_slice(b" GMT");
    o
}

/// Writes the response head into `out` (cleared first).
fn write_head(out: &mut Vec<u8>, status: u16, len: usize, close: bool, keep_alive_10: bool) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(
        b"\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n",
    );
    if status == 405 {
        out.extend_from_slice(b"allow: GET\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if keep_alive_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    http_date(out);
    out.extend_from_slice(b"\r\n\r\n");
}

/// Writes `head` then `body`, vectored (one segment in the common case).
async fn write_all2(s: &mut TcpStream, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    let total = head.len() + body.len();
    let mut off = 0;
    while off < total {
        let n = if off < head.len() {
            s.write_vectored(&[IoSlice::new(&head[off..]), IoSlice::new(body)])
                .await?
        } else {
            s.write(&body[off - head.len()..]).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        off += n;
    }
    Ok(())
}

fn has_token(v: &[u8], token: &[u8]) -> bool {
    v.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// A parsed request head: where its parts are in the buffer, and what it
/// asks of the connection.
struct Head {
    len: usize,
    method: std::ops::Range<usize>,
    path: std::ops::Range<usize>,
    host: Option<std::ops::Range<usize>>,
    authorization: Option<std::ops::Range<usize>>,
    forwarded: bool,
    /// `Connection: close`, HTTP/1.0, or a body follows (answer, then close).
    close: bool,
    /// HTTP/1.0 with `Connection: keep-alive`.
    keep_alive_10: bool,
}

enum Parsed {
    Complete(Head),
    Partial,
    TooLarge,
    Bad,
}

/// Parses the head at the start of `buf` (the field table lives on this
/// function's stack, not in the connection's future).
fn parse_head(buf: &[u8]) -> Parsed {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut fields);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::TooLarge,
        Err(_) => return Parsed::Bad,
    };
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| {
        let o = s.as_ptr() as usize - base;
        o..o + s.len()
    };
    let mut host = None;
    let mut hosts = 0;
    let mut authorization = None;
    let mut forwarded = false;
    let mut has_body = false;
    let mut close = r.version != Some(1);
    let mut keep_alive_10 = false;
    for h in r.headers.iter() {
        let n = h.name;
        if n.eq_ignore_ascii_case("host") {
            hosts += 1;
            host = Some(at(h.value));
        } else if n.eq_ignore_ascii_case("authorization") {
            if authorization.is_none() {
                authorization = Some(at(h.value));
            }
        } else if n.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded = true;
        } else if n.eq_ignore_ascii_case("content-length") {
            has_body |= h.value.trim_ascii() != b"0";
        } else if n.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        } else if n.eq_ignore_ascii_case("connection") {
            if has_token(h.value, b"close") {
                close = true;
                keep_alive_10 = false;
            } else if r.version == Some(0) && has_token(h.value, b"keep-alive") {
                close = false;
                keep_alive_10 = true;
            }
        }
    }
    let path = r.path.unwrap_or("").as_bytes();
    let path = path
        .iter()
        .position(|&b| b == b'?')
        .map_or(path, |q| &path[..q]);
    Parsed::Complete(Head {
        len,
        method: at(r.method.unwrap_or("").as_bytes()),
        path: at(path),
        host: if hosts == 1 { host } else { None },
        authorization,
        forwarded,
        close: close || has_body,
        keep_alive_10: keep_alive_10 && !has_body,
    })
}

/// `f`, unless `timer` fires first (`None`).
async fn within<F: std::future::Future>(
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    f: F,
) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Serves one connection until the client closes it, a request says
/// `Connection: close` (or has a body), or a timeout.
async fn connection(app: Arc<App>, mut stream: TcpStream) {
    let mut buf: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let timer = std::pin::pin!(tokio::time::sleep(HEADER_TIMEOUT));
    let mut timer = timer;
    loop {
        timer
            .as_mut()
            .reset(tokio::time::Instant::now() + HEADER_TIMEOUT);
        // read until a whole head is buffered (pipelined heads may be already)
        let parsed = loop {
            match parse_head(&buf) {
                Parsed::Partial if buf.len() < MAX_HEAD => {
                    if buf.capacity() - buf.len() < 256 {
                        let more = buf.capacity().clamp(INIT_BUF, MAX_HEAD);
                        buf.reserve(more);
                    }
                    match within(timer.as_mut(), stream.read_buf(&mut buf)).await {
                        Some(Ok(n)) if n > 0 => {}
                        _ => return, // closed, failed or idle too long
                    }
                }
                Parsed::Complete(h) => break Ok(h),
                Parsed::Partial | Parsed::TooLarge => break Err(431),
                Parsed::Bad => break Err(400),
            }
        };
        let (status, body, head_only, close, keep_alive_10, used) = match parsed {
            Ok(h) => {
                let s =
                    |r: &std::ops::Range<usize>| std::str::from_utf8(&buf[r.clone()]).unwrap_or("");
                let req = Request {
                    method: s(&h.method),
                    path: s(&h.path),
                    host: h.host.clone().map(|r| &buf[r]),
                    authorization: h.authorization.clone().map(|r| &buf[r]),
                    forwarded: h.forwarded,
                };
                let resp = app.handle(&req).await;
                let head_only = req.method == "HEAD";
                (
                    resp.status,
                    resp.body,
                    head_only,
                    h.close,
                    h.keep_alive_10,
                    h.len,
                )
            }
            Err(code) => (
                code,
                Body::Static(if code == 431 {
                    r#"{"error":"Request header fields too large"}"#
                } else {
                    r#"{"error":"Bad request"}"#
                }),
                false,
                true,
                false,
                buf.len(),
            ),
        };
        let b = body.bytes();
        write_head(&mut out, status, b.len(), close, keep_alive_10);
        timer
            .as_mut()
            .reset(tokio::time::Instant::now() + HEADER_TIMEOUT);
        let sent = within(
            timer.as_mut(),
            write_all2(&mut stream, &out, if head_only { &[] } else { b }),
        )
        .await;
        drop(body);
        if !matches!(sent, Some(Ok(()))) {
            return;
        }
        if close {
            // FIN, then read what the client still sends (a body, pipelined
            // requests) for up to a second, so closing with unread bytes
            // does not reset the connection before the answer is read
            let _ = stream.shutdown().await;
            timer
                .as_mut()
                .reset(tokio::time::Instant::now() + Duration::from_secs(1));
            let mut sink = vec![0u8; 512];
            let mut left = MAX_HEAD;
            while left > 0 {
                match within(timer.as_mut(), stream.read(&mut sink)).await {
                    Some(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                    _ => break,
                }
            }
            return;
        }
        buf.drain(..used);
        if buf.is_empty() && buf.capacity() > 4 * INIT_BUF {
            buf = Vec::new();
        }
    }
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
                connection(app, stream).await;
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

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(&super::format_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            &super::format_date(1_796_166_000),
            b"Tue, 01 Dec 2026 23:00:00 GMT"
        );
        assert_eq!(
            &super::format_date(951_782_400),
            b"Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }
}
