//! Fetching the artifact: a file, `https://` (plain `http://` to loopback
//! only), or `s3://bucket/key`. Conditional: an ETag given back is sent as
//! `If-None-Match`, and a 304 is "not modified". The bytes fetched are the
//! encrypted artifact; nothing here decrypts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use zeroize::Zeroizing;

use crate::config::{Config, SourceSpec};

/// The largest artifact accepted (a 50-key artifact is a few KiB).
pub const MAX_ARTIFACT: usize = 16 * 1024 * 1024;
/// Bound on one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What a fetch found.
pub enum Fetched {
    /// The source says the artifact did not change (HTTP/S3 304).
    NotModified,
    /// The document's bytes and its ETag, if the source gives one.
    New {
        /// The bytes (an encrypted artifact or a revocation marker).
        bytes: Vec<u8>,
        /// The source's validator.
        etag: Option<String>,
    },
}

/// A configured source.
pub struct Source {
    spec: SourceSpec,
    header: Option<(String, Zeroizing<String>)>,
    http: Option<clef_http::Client>,
    #[cfg(feature = "aws")]
    s3: Option<Arc<clef_kms::AwsApi>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({})", self.describe())
    }
}

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(p) = ca_file {
        let mut n = 0;
        for c in
            CertificateDer::pem_file_iter(p).map_err(|e| format!("CA file {}: {e}", p.display()))?
        {
            let c = c.map_err(|e| format!("CA file {}: {e}", p.display()))?;
            roots
                .add(c)
                .map_err(|e| format!("CA file {}: {e}", p.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("CA file {}: no PEM certificate in it", p.display()));
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

impl Source {
    /// A source for the configuration (the HTTP client is built for an
    /// http(s) source only).
    pub fn new(cfg: &Config) -> Result<Source, String> {
        let http = match &cfg.source {
            // through the environment's proxy (HTTPS_PROXY, NO_PROXY…), as
            // curl and the AWS CLI; loopback sources always go direct
            SourceSpec::Http(_) => Some(clef_http::client_with_tls(tls_config(
                cfg.ca_file.as_deref(),
            )?)),
            _ => None,
        };
        #[cfg(not(feature = "aws"))]
        if matches!(cfg.source, SourceSpec::S3 { .. }) {
            return Err(
                "s3:// sources need the AWS support of clef-agent (cargo feature `aws`), which is not in this build"
                    .to_owned(),
            );
        }
        Ok(Source {
            spec: cfg.source.clone(),
            header: cfg.source_header.clone(),
            http,
            // the workload's own credentials: the SDK's default chain (env,
            // profile/SSO, web identity/IRSA, ECS, IMDS), loaded on first use
            #[cfg(feature = "aws")]
            s3: matches!(cfg.source, SourceSpec::S3 { .. })
                .then(|| Arc::new(clef_kms::AwsApi::from_env(None))),
        })
    }

    /// A source that is a file (for `clef serve` and tests).
    pub fn describe(&self) -> String {
        match &self.spec {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::Http(u) => u.split('?').next().unwrap_or(u).to_owned(),
            SourceSpec::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Fetches, conditionally on `etag`. Errors are one line, with no
    /// header value in them.
    pub async fn fetch(&self, etag: Option<&str>) -> Result<Fetched, String> {
        match &self.spec {
            SourceSpec::File(p) => {
                let p = p.clone();
                let bytes = tokio::task::spawn_blocking(move || read_file(&p))
                    .await
                    .map_err(|_| "the file read was interrupted".to_owned())??;
                Ok(Fetched::New { bytes, etag: None })
            }
            SourceSpec::Http(url) => {
                let client = self.http.as_ref().ok_or("no HTTP client")?;
                tokio::time::timeout(FETCH_TIMEOUT, self.fetch_http(client, url, etag))
                    .await
                    .map_err(|_| format!("no answer within {}s", FETCH_TIMEOUT.as_secs()))?
            }
            #[cfg(feature = "aws")]
            SourceSpec::S3 { bucket, key } => {
                let api = self.s3.clone().ok_or("no S3 client")?;
                let (bucket, key) = (bucket.clone(), key.clone());
                let etag = etag.map(str::to_owned);
                // clef-kms's calls are synchronous (its own runtime, bounded
                // by CLEF_KMS_TIMEOUT and its retries): off the workers
                let got = tokio::task::spawn_blocking(move || {
                    api.get_object(&bucket, &key, etag.as_deref())
                })
                .await
                .map_err(|_| "the S3 request was interrupted".to_owned())?;
                match got {
                    Ok(None) => Ok(Fetched::NotModified),
                    Ok(Some((bytes, etag))) if bytes.len() <= MAX_ARTIFACT => {
                        Ok(Fetched::New { bytes, etag })
                    }
                    Ok(Some(_)) => Err(format!("larger than {MAX_ARTIFACT} bytes")),
                    Err(e) => Err(format!("S3 GetObject: {e}")),
                }
            }
            #[cfg(not(feature = "aws"))]
            SourceSpec::S3 { .. } => Err("no S3 support in this build".to_owned()),
        }
    }

    async fn fetch_http(
        &self,
        client: &clef_http::Client,
        url: &str,
        etag: Option<&str>,
    ) -> Result<Fetched, String> {
        let mut req = hyper::Request::get(url).header("user-agent", "clef-agent");
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        if let Some((n, v)) = &self.header {
            req = req.header(n.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|_| "cannot build the request (bad URL or header)".to_owned())?;
        let mut answer = client
            .request_capped(req, MAX_ARTIFACT)
            .await
            .map_err(|why| {
                if why.contains("certificate") {
                    format!(
                        "TLS: {why} (trust the server's CA with CLEF_AGENT_CA_BUNDLE or SSL_CERT_FILE)"
                    )
                } else {
                    format!("request failed: {why}")
                }
            })?;
        match answer.status {
            304 => return Ok(Fetched::NotModified),
            200 => {}
            status => return Err(format!("HTTP {status}")),
        }
        let etag = answer
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Fetched::New {
            bytes: std::mem::take(&mut *answer.body),
            etag,
        })
    }
}

fn read_file(p: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {}", p.display(), e.kind()))?;
    let mut out = Vec::new();
    f.take(MAX_ARTIFACT as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{}: {}", p.display(), e.kind()))?;
    if out.len() > MAX_ARTIFACT {
        return Err(format!("{}: larger than {MAX_ARTIFACT} bytes", p.display()));
    }
    Ok(out)
}
