//! Clef's one outbound HTTP client: the REST calls of clef-kms (AWS KMS,
//! S3, Secrets Manager and SSM, GCP KMS, and aws-config's credential calls)
//! and clef-agent's `https://` artifact source. hyper, with rustls/ring and
//! the system roots (or a caller's TLS configuration) for `https`, plus a
//! bounded retry loop ([`send`]: 3 attempts, backoff 100 ms then 400 ms, on
//! network failures, timed-out attempts and the answers the caller calls
//! retryable, all inside one deadline).
//!
//! The TLS side is set up on the first `https` request: loading the trust
//! roots reads every file of the system's certificate store, which a plain
//! `http` endpoint (a local KMS, a metadata server) never needs.
//!
//! Proxies come from the environment, as Go's `net/http` (so sops), curl
//! and the AWS CLI take them: `HTTPS_PROXY` for `https` URLs (a `CONNECT`
//! tunnel, TLS end to end), `HTTP_PROXY` for `http` ones (absolute-form
//! requests), `ALL_PROXY` for both, `NO_PROXY` exceptions, lowercase forms
//! too, `user:pass@` as `Proxy-Authorization`. This machine and the
//! metadata servers are never reached through a proxy (`never_proxied`).
//! Only `http://` proxy URLs are supported.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue, PROXY_AUTHORIZATION};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use zeroize::Zeroizing;

type Legacy<C> = hyper_util::client::legacy::Client<C, Full<Bytes>>;
type Plain = Legacy<HttpConnector>;
type Tls = Legacy<hyper_rustls::HttpsConnector<HttpConnector>>;

/// The client: plain HTTP at once, TLS on first use, and through the
/// environment's proxy where it applies (`Client::via`).
pub struct Client {
    plain: Plain,
    tls: OnceLock<Result<Tls, String>>,
    /// The TLS set-up of `https` requests, when the caller gives one;
    /// otherwise the system's roots with ring.
    tls_config: Option<Arc<rustls::ClientConfig>>,
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY` (and their
    /// lowercase forms), read when the client is made ([`Proxies`]).
    proxies: Proxies,
    /// Clients through a proxy, by the proxy's URI.
    via: Mutex<HashMap<String, Arc<Proxied>>>,
}

/// A fresh client (nothing is loaded until the first `https` request).
pub fn client() -> Client {
    Client {
        plain: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        tls: OnceLock::new(),
        tls_config: None,
        proxies: Proxies::from_env(),
        via: Mutex::new(HashMap::new()),
    }
}

/// A client whose `https` requests use `config` (its roots, protocol
/// versions and crypto provider) instead of the system's roots.
pub fn client_with_tls(config: rustls::ClientConfig) -> Client {
    Client {
        tls_config: Some(Arc::new(config)),
        ..client()
    }
}

/// A client that sets up TLS over the streams `connector` opens: `config`,
/// or rustls with ring and the system's roots.
fn https_on<C>(
    connector: C,
    config: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Legacy<hyper_rustls::HttpsConnector<C>>, String>
where
    C: tower_service::Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: Connection + hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match config {
        Some(c) => builder.with_tls_config(rustls::ClientConfig::clone(c)),
        None => builder
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?,
    };
    let https = builder
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

/// Whether requests to `host` always go direct: this machine (`localhost`,
/// loopback addresses), as Go's `net/http` (and so sops) decides, and the
/// cloud metadata servers (link-local addresses: IMDS, ECS and EKS Pod
/// Identity agents, `fd00:ec2::`, `metadata.google.internal`), whose
/// answers are this machine's credentials: a proxy would fetch its own.
fn never_proxied(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.eq_ignore_ascii_case("metadata.google.internal") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => {
            let s = ip.segments();
            ip.is_loopback() || s[0] & 0xffc0 == 0xfe80 || (s[0] == 0xfd00 && s[1] == 0x0ec2)
        }
        Err(_) => false,
    }
}

/// The proxy variables as hyper-util's [`Matcher`] reads them (the same
/// names, precedence and `NO_PROXY` rules), except that a variable that is
/// set but is not a proxy URL (`HTTPS_PROXY="not a url"`, `ftp://…`) is not
/// skipped: requests it would route fail, naming it, as curl and Go's
/// `net/http` refuse them. Skipping it would send them direct, around the
/// egress path the variable was meant to set.
struct Proxies {
    matcher: Matcher,
    /// (placeholder host, variable): the host put in place of each invalid
    /// value, so that `NO_PROXY` still decides which requests it routes.
    invalid: Vec<(&'static str, &'static str)>,
}

/// The variables, by the matcher's slot, in hyper-util's precedence
/// (uppercase first), and each slot's placeholder host for a bad value.
const PROXY_VARS: [(&str, &str, &str); 3] = [
    ("ALL_PROXY", "all_proxy", "all-proxy.invalid"),
    ("HTTP_PROXY", "http_proxy", "http-proxy.invalid"),
    ("HTTPS_PROXY", "https_proxy", "https-proxy.invalid"),
];

impl Proxies {
    fn from_env() -> Proxies {
        Proxies::from(|name| std::env::var(name).ok())
    }

    /// The proxies given by `var` (an environment).
    fn from(var: impl Fn(&str) -> Option<String>) -> Proxies {
        // hyper-util's guard against "httpoxy": a CGI program's HTTP_PROXY
        // can come from a request header, so under CGI no proxy is read
        if var("REQUEST_METHOD").is_some() {
            return Proxies {
                matcher: Matcher::builder().build(),
                invalid: Vec::new(),
            };
        }
        let mut invalid = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for (upper, lower, placeholder) in PROXY_VARS {
            let (name, value) = match (var(upper), var(lower)) {
                (Some(v), _) => (upper, v),
                (None, Some(v)) => (lower, v),
                (None, None) => (upper, String::new()),
            };
            if value.is_empty() || is_proxy_url(&value) {
                values.push(value);
            } else {
                invalid.push((placeholder, name));
                values.push(format!("http://{placeholder}:1"));
            }
        }
        let no = var("NO_PROXY")
            .or_else(|| var("no_proxy"))
            .unwrap_or_default();
        let [all, http, https] = <[String; 3]>::try_from(values).unwrap_or_default();
        Proxies {
            matcher: Matcher::builder()
                .all(all)
                .http(http)
                .https(https)
                .no(no)
                .build(),
            invalid,
        }
    }

    /// The variable whose value was invalid, when `proxy` stands for it.
    fn invalid(&self, proxy: &Uri) -> Option<&'static str> {
        let host = proxy.host()?;
        self.invalid
            .iter()
            .find(|(placeholder, _)| *placeholder == host)
            .map(|(_, name)| *name)
    }
}

/// Whether hyper-util would take `value` as a proxy: a URI with a host, and
/// no scheme (`host:port`, taken as `http`) or an http, https or socks one.
fn is_proxy_url(value: &str) -> bool {
    value.parse::<Uri>().is_ok_and(|u| {
        u.authority().is_some()
            && u.scheme_str().is_none_or(|s| {
                matches!(
                    s,
                    "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h"
                )
            })
    })
}

/// The clients through one proxy: `http` requests sent to it in absolute
/// form, `https` through a `CONNECT` tunnel (TLS set up on first use).
struct Proxied {
    plain: Legacy<ToProxy>,
    tls: OnceLock<Result<Legacy<hyper_rustls::HttpsConnector<Tunnel<HttpConnector>>>, String>>,
    uri: Uri,
    auth: Option<HeaderValue>,
}

impl Client {
    fn tls(&self) -> Result<&Tls, String> {
        self.tls
            .get_or_init(|| {
                // the connector under TLS is asked for `https` URIs: it
                // must not insist on `http` (its default)
                let mut tcp = HttpConnector::new();
                tcp.enforce_http(false);
                https_on(tcp, self.tls_config.as_ref())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The proxy `uri` goes through, if any ([`never_proxied`] hosts go direct).
    fn via(&self, uri: &Uri) -> Result<Option<Arc<Proxied>>, String> {
        let Some(host) = uri.host() else {
            return Ok(None);
        };
        if never_proxied(host) {
            return Ok(None);
        }
        let Some(hit) = self.proxies.matcher.intercept(uri) else {
            return Ok(None);
        };
        if let Some(name) = self.proxies.invalid(hit.uri()) {
            return Err(format!(
                "{name} is not a proxy URL (expected http://[user:password@]host:port)"
            ));
        }
        let proxy = hit.uri().clone();
        if proxy.scheme_str() != Some("http") {
            return Err(format!(
                "the proxy for {host} is a {}:// URL; only http:// proxies are supported",
                proxy.scheme_str().unwrap_or("?")
            ));
        }
        let mut via = self
            .via
            .lock()
            .map_err(|_| "the proxy table is poisoned".to_owned())?;
        let p = via.entry(proxy.to_string()).or_insert_with(|| {
            Arc::new(Proxied {
                plain: hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build(ToProxy {
                    proxy: proxy.clone(),
                    inner: HttpConnector::new(),
                }),
                tls: OnceLock::new(),
                uri: proxy,
                auth: hit.basic_auth().cloned(),
            })
        });
        Ok(Some(p.clone()))
    }

    /// One request, its answer read in full; the error is one line.
    pub async fn request(&self, req: hyper::Request<Full<Bytes>>) -> Result<Answer, String> {
        self.request_capped(req, usize::MAX).await
    }

    /// [`Client::request`], refusing an answer whose body is larger than
    /// `max_body` bytes (it is not read past that).
    pub async fn request_capped(
        &self,
        mut req: hyper::Request<Full<Bytes>>,
        max_body: usize,
    ) -> Result<Answer, String> {
        let plain = req.uri().scheme_str() == Some("http");
        let resp = match self.via(req.uri())? {
            None if plain => self.plain.request(req).await,
            None => self.tls()?.request(req).await,
            Some(p) if plain => {
                if let Some(a) = &p.auth {
                    req.headers_mut().insert(PROXY_AUTHORIZATION, a.clone());
                }
                p.plain.request(req).await
            }
            Some(p) => {
                let tls = p
                    .tls
                    .get_or_init(|| {
                        let mut tunnel = Tunnel::new(p.uri.clone(), HttpConnector::new());
                        if let Some(a) = &p.auth {
                            tunnel = tunnel.with_auth(a.clone());
                        }
                        https_on(tunnel, self.tls_config.as_ref())
                    })
                    .as_ref()
                    .map_err(Clone::clone)?;
                tls.request(req).await
            }
        }
        .map_err(|e| causes(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = http_body_util::Limited::new(resp.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("reading the answer: larger than {max_body} bytes")
                } else {
                    format!("reading the answer: {e}")
                }
            })?
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            body: Zeroizing::new(bytes.to_vec()),
        })
    }
}

/// Connects every request to the proxy; hyper then writes the request
/// line in absolute form (`GET http://host/path`), as a proxy expects.
#[derive(Clone)]
struct ToProxy {
    proxy: Uri,
    inner: HttpConnector,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for ToProxy {
    type Response = ProxyConn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxyConn, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, _dst: Uri) -> Self::Future {
        let connecting = self.inner.call(self.proxy.clone());
        Box::pin(async move { Ok(ProxyConn(connecting.await?)) })
    }
}

/// A connection to a proxy (so hyper sends absolute-form requests on it).
struct ProxyConn(TokioIo<tokio::net::TcpStream>);

impl Connection for ProxyConn {
    fn connected(&self) -> Connected {
        self.0.connected().proxy(true)
    }
}

impl hyper::rt::Read for ProxyConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ProxyConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// An HTTP answer: status, headers, body (zeroized: it may hold a secret).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

/// Why [`send`] gave up.
#[derive(Debug)]
pub struct SendError {
    /// Whether the last attempt got an answer (a retryable status) rather
    /// than failing to connect or timing out.
    pub answered: bool,
    /// One line: what happened, with the last attempt's reason.
    pub reason: String,
}

/// An error and its sources, `outer: inner: …` on one line.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}

/// `host[:port]` of a URL (for messages).
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Sends one request (same headers and body on every attempt) with up to 3
/// attempts inside `timeout`, each bounded by `attempt_bound` (a stalled
/// connection then leaves time for a retry). `retryable` says whether an
/// answer should be tried again and why (429, 5xx, throttling).
#[allow(clippy::too_many_arguments)]
pub async fn send(
    client: &Client,
    timeout: Duration,
    attempt_bound: Duration,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    retryable: impl Fn(u16, &[u8]) -> Option<String>,
) -> Result<Answer, SendError> {
    // a proxy variable that is not a URL is the same on every attempt
    if let Ok(uri) = url.parse::<Uri>()
        && let Err(e) = client.via(&uri)
    {
        return Err(SendError {
            answered: false,
            reason: e,
        });
    }
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

#[cfg(test)]
mod tests {
    use super::{Proxies, Uri, never_proxied};

    /// The proxy `proxies` picks for `url`, or the error.
    fn route(proxies: &Proxies, url: &str) -> Result<Option<String>, &'static str> {
        let uri: Uri = url.parse().unwrap();
        match proxies.matcher.intercept(&uri) {
            None => Ok(None),
            Some(hit) => match proxies.invalid(hit.uri()) {
                Some(name) => Err(name),
                None => Ok(Some(hit.uri().to_string())),
            },
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_proxy_variable_that_is_not_a_url_is_an_error_where_it_applies() {
        let p = Proxies::from(env(&[
            ("HTTPS_PROXY", "not a url"),
            ("http_proxy", "127.0.0.1:3128"),
            ("NO_PROXY", "internal.example"),
        ]));
        assert_eq!(route(&p, "https://kms.example/"), Err("HTTPS_PROXY"));
        // NO_PROXY still decides: this host goes direct
        assert_eq!(route(&p, "https://internal.example/"), Ok(None));
        // http requests use http_proxy (no scheme: http)
        assert_eq!(
            route(&p, "http://kms.example/"),
            Ok(Some("http://127.0.0.1:3128/".to_owned()))
        );
        for bad in ["http://[::1", "ftp://proxy.example:21", "http://"] {
            let p = Proxies::from(move |n: &str| (n == "all_proxy").then(|| bad.to_owned()));
            assert_eq!(route(&p, "https://kms.example/"), Err("all_proxy"), "{bad}");
            assert_eq!(route(&p, "http://kms.example/"), Err("all_proxy"), "{bad}");
        }
        // uppercase wins, as in hyper-util
        let p = Proxies::from(env(&[
            ("HTTPS_PROXY", "http://good.example:8080"),
            ("https_proxy", "not a url"),
        ]));
        assert_eq!(
            route(&p, "https://kms.example/"),
            Ok(Some("http://good.example:8080/".to_owned()))
        );
        // under CGI no variable is read, a bad one neither
        let p = Proxies::from(env(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTPS_PROXY", "not a url"),
        ]));
        assert_eq!(route(&p, "https://kms.example/"), Ok(None));
        // unset and empty: direct
        let p = Proxies::from(env(&[("HTTPS_PROXY", "")]));
        assert_eq!(route(&p, "https://kms.example/"), Ok(None));
    }

    #[test]
    fn this_machine_and_metadata_servers_are_never_proxied() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.8.9.10",
            "[::1]",
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "[fd00:ec2::254]",
            "[fd00:ec2::23]",
            "[fe80::1]",
            "metadata.google.internal",
        ] {
            assert!(never_proxied(h), "{h}");
        }
        for h in [
            "kms.us-east-1.amazonaws.com",
            "10.0.0.1",
            "169.255.0.1",
            "[fd00:ec3::1]",
            "[2001:db8::1]",
            "localhost.example.com",
        ] {
            assert!(!never_proxied(h), "{h}");
        }
    }
}
