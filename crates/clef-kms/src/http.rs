//! The one HTTPS client of the REST calls (GCP KMS, and the signed AWS calls
//! of [`crate::awsapi`]): hyper with rustls/ring and the system roots, plus a
//! bounded retry loop (3 attempts, backoff 100 ms then 400 ms, on network
//! failures, 429 and 5xx, all inside one deadline).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use zeroize::Zeroizing;

/// The client type.
pub(crate) type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A fresh client (TLS roots loaded from the system).
pub(crate) fn client() -> Result<Client, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

/// An HTTP answer: status, headers, body (zeroized: it may hold a secret).
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

/// `host[:port]` of a URL (for messages).
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Sends one request (same headers and body on every attempt) with up to 3
/// attempts inside `timeout`. `describe` turns a retryable status's body into
/// the reason shown when every attempt failed.
pub(crate) async fn send(
    client: &Client,
    timeout: Duration,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    describe: impl Fn(u16, &[u8]) -> String,
) -> Result<Answer, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << (2 * (attempt - 1)))).await;
        }
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let call = async {
            let resp = client.request(req).await.map_err(|e| {
                let mut s = e.to_string();
                let mut cur = std::error::Error::source(&e);
                while let Some(c) = cur {
                    s = format!("{s}: {c}");
                    cur = c.source();
                }
                s
            })?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>(Answer {
                status,
                headers,
                body: Zeroizing::new(bytes.to_vec()),
            })
        };
        match tokio::time::timeout_at(deadline, call).await {
            Err(_) => return Err(format!("timed out after {timeout:?}{last}")),
            Ok(Ok(a)) if a.status == 429 || a.status >= 500 => {
                last = format!(" ({})", describe(a.status, &a.body));
            }
            Ok(Ok(a)) => return Ok(a),
            Ok(Err(e)) => last = format!(" (cannot reach {}: {e})", host_of(url)),
        }
    }
    Err(format!("failed after 3 attempts{last}"))
}
