//! The one HTTP client of the REST calls (AWS KMS, S3, Secrets Manager and
//! SSM through [`crate::awsapi`], GCP KMS, and aws-config's credential calls): hyper, with rustls/ring and
//! the system roots for `https`, plus a bounded retry loop (3 attempts,
//! backoff 100 ms then 400 ms, on network failures, timed-out attempts and
//! the answers the caller calls retryable, all inside one deadline).
//!
//! The TLS side is set up on the first `https` request: loading the trust
//! roots reads every file of the system's certificate store, which a plain
//! `http` endpoint (a local KMS, a metadata server) never needs.

use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper_util::client::legacy::connect::HttpConnector;
use zeroize::Zeroizing;

type Plain = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;
type Tls =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The client: plain HTTP at once, TLS on first use.
pub(crate) struct Client {
    plain: Plain,
    tls: OnceLock<Result<Tls, String>>,
}

/// A fresh client (nothing is loaded until the first `https` request).
pub(crate) fn client() -> Client {
    Client {
        plain: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        tls: OnceLock::new(),
    }
}

impl Client {
    fn tls(&self) -> Result<&Tls, String> {
        self.tls
            .get_or_init(|| {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
                    .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(
                    hyper_util::client::legacy::Client::builder(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .build(https),
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// One request, its answer read in full; the error is one line.
    pub(crate) async fn request(&self, req: hyper::Request<Full<Bytes>>) -> Result<Answer, String> {
        let resp = if req.uri().scheme_str() == Some("http") {
            self.plain.request(req).await
        } else {
            self.tls()?.request(req).await
        }
        .map_err(|e| causes(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            body: Zeroizing::new(bytes.to_vec()),
        })
    }
}

/// An HTTP answer: status, headers, body (zeroized: it may hold a secret).
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

/// Why [`send`] gave up.
#[derive(Debug)]
pub(crate) struct SendError {
    /// Whether the last attempt got an answer (a retryable status) rather
    /// than failing to connect or timing out.
    pub answered: bool,
    /// One line: what happened, with the last attempt's reason.
    pub reason: String,
}

/// An error and its sources, `outer: inner: …` on one line.
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}

/// `host[:port]` of a URL (for messages).
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Sends one request (same headers and body on every attempt) with up to 3
/// attempts inside `timeout`, each bounded by `attempt_bound` (a stalled
/// connection then leaves time for a retry). `retryable` says whether an
/// answer should be tried again and why (429, 5xx, throttling).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    client: &Client,
    timeout: Duration,
    attempt_bound: Duration,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    retryable: impl Fn(u16, &[u8]) -> Option<String>,
) -> Result<Answer, SendError> {
    let start = tokio::time::Instant::now();
    let deadline = start + timeout;
    let mut last = String::new();
    let mut answered = false;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << (2 * (attempt - 1)))).await;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| SendError {
                answered: false,
                reason: format!("bad request: {e}"),
            })?;
        match tokio::time::timeout_at(deadline.min(now + attempt_bound), client.request(req)).await
        {
            Err(_) => {
                answered = false;
                last = format!(" (no answer from {} within the bound)", host_of(url));
            }
            Ok(Ok(a)) => match retryable(a.status, &a.body) {
                Some(why) => {
                    answered = true;
                    last = format!(" ({why})");
                }
                None => return Ok(a),
            },
            Ok(Err(e)) => {
                answered = false;
                last = format!(" (cannot reach {}: {e})", host_of(url));
            }
        }
    }
    let reason = if tokio::time::Instant::now() >= deadline {
        format!("timed out after {timeout:?}{last}")
    } else {
        format!("failed after 3 attempts{last}")
    };
    Err(SendError { answered, reason })
}
