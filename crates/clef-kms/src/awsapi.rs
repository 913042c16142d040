//! S3, Secrets Manager and SSM Parameter Store: the few calls `clef pack`
//! and the runtime agent make, as SigV4-signed HTTPS requests.
//!
//! Credentials, region, profile and AssumeRole come from the same SDK
//! configuration as KMS ([`crate::load_sdk_config`], the official credential
//! chain); signing is the SDK's own `aws-sigv4`; the transport is the crate's
//! hyper client with its bounded retries. This avoids compiling the
//! `aws-sdk-s3`/`-secretsmanager`/`-ssm` crates (measured in the README).
//!
//! Endpoints: `AWS_ENDPOINT_URL_<SERVICE>` (`S3`, `SECRETS_MANAGER`, `SSM`),
//! then `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`), else the public
//! regional endpoint. S3 uses path-style addressing for a configured endpoint
//! (moto, MinIO, loopback) and for bucket names that are not DNS labels.

use std::sync::OnceLock;
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use zeroize::Zeroizing;

use crate::http::{self, Answer, Client};
use crate::{AwsOptions, KmsError, rt};

/// An S3 object's body and ETag (as S3 quotes it).
pub type Object = (Vec<u8>, Option<String>);

/// An AWS service Clef calls over its wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3 (REST-XML).
    S3,
    /// AWS Secrets Manager (JSON 1.1).
    SecretsManager,
    /// AWS Systems Manager (JSON 1.1), for Parameter Store.
    Ssm,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
        }
    }

    fn env_suffix(self) -> &'static str {
        match self {
            Service::S3 => "S3",
            Service::SecretsManager => "SECRETS_MANAGER",
            Service::Ssm => "SSM",
        }
    }

    fn target_prefix(self) -> &'static str {
        match self {
            Service::S3 => "",
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "AmazonSSM",
        }
    }
}

/// An AWS error answer: its code (`ResourceNotFoundException`, `NoSuchKey`,
/// `AccessDenied`...) and one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (0 when no answer came).
    pub status: u16,
    /// The AWS error code, or a description of the transport failure.
    pub code: String,
    /// The message, possibly empty.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

fn transport(msg: impl Into<String>) -> ApiError {
    ApiError {
        status: 0,
        code: msg.into(),
        message: String::new(),
    }
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 {
        s.chars().take(300).chain("…".chars()).collect()
    } else {
        s
    }
}

/// The first `<tag>…</tag>` text of an XML body.
fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let i = body.find(&open)? + open.len();
    let j = body[i..].find(&close)? + i;
    Some(&body[i..j])
}

/// The code and message of an error body (JSON `__type`/`message`, or S3's XML).
fn api_error(status: u16, body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = v["__type"]
            .as_str()
            .or_else(|| v["code"].as_str())
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
        let msg = v["message"].as_str().or_else(|| v["Message"].as_str());
        if let Some(code) = code {
            return ApiError {
                status,
                code,
                message: one_line(msg.unwrap_or_default()),
            };
        }
    }
    match xml_text(&text, "Code") {
        Some(code) => ApiError {
            status,
            code: code.to_owned(),
            message: one_line(xml_text(&text, "Message").unwrap_or_default()),
        },
        None => ApiError {
            status,
            code: format!("HTTP {status}"),
            message: String::new(),
        },
    }
}

fn describe(status: u16, body: &[u8]) -> String {
    api_error(status, body).to_string()
}

/// Percent-encodes one URI path segment as SigV4 wants it (unreserved kept).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A bucket name usable as a DNS label in virtual-hosted addressing.
fn dns_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-')
}

/// A signed-request client for S3, Secrets Manager and SSM in one region,
/// with one set of credentials. Nothing is loaded until the first call.
pub struct AwsApi {
    region: Option<String>,
    opts: AwsOptions,
    conf: tokio::sync::OnceCell<SdkConfig>,
    client: OnceLock<Result<Client, String>>,
}

impl std::fmt::Debug for AwsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsApi")
            .field("region", &self.region)
            .field("opts", &self.opts)
            .finish()
    }
}

impl AwsApi {
    /// A client for `region` (None: the default chain's region, else
    /// `us-east-1`), with `opts`' profile, role and call bound.
    pub fn new(region: Option<&str>, opts: AwsOptions) -> AwsApi {
        AwsApi {
            region: region.filter(|r| !r.is_empty()).map(str::to_owned),
            opts,
            conf: tokio::sync::OnceCell::new(),
            client: OnceLock::new(),
        }
    }

    /// A client configured from the environment (`CLEF_AWS_PROFILE`,
    /// `CLEF_AWS_ROLE`, `CLEF_KMS_TIMEOUT`, `AWS_REGION`...).
    pub fn from_env(region: Option<&str>) -> AwsApi {
        AwsApi::new(region, AwsOptions::from_env())
    }

    async fn conf(&self) -> Result<&SdkConfig, ApiError> {
        self.conf
            .get_or_try_init(|| async {
                crate::load_sdk_config(
                    self.region.as_deref(),
                    self.opts.profile.as_deref().unwrap_or(""),
                    self.opts.role.as_deref().unwrap_or(""),
                    self.opts.timeout,
                )
                .await
                .map_err(|e| transport(e.reason))
            })
            .await
    }

    fn http(&self) -> Result<&Client, ApiError> {
        self.client
            .get_or_init(http::client)
            .as_ref()
            .map_err(|e| transport(e.clone()))
    }

    /// The region requests are signed for.
    fn region_of(conf: &SdkConfig) -> String {
        conf.region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned())
    }

    /// The configured endpoint of `svc`, if any (service variable first).
    fn configured_endpoint(&self, svc: Service, conf: &SdkConfig) -> Option<String> {
        if let Some(e) = &self.opts.endpoint {
            return Some(e.clone());
        }
        std::env::var(format!("AWS_ENDPOINT_URL_{}", svc.env_suffix()))
            .ok()
            .filter(|e| !e.is_empty())
            .or_else(|| conf.endpoint_url().map(str::to_owned))
            .map(|e| e.trim_end_matches('/').to_owned())
    }

    /// Signs and sends one request; `path_and_query` is already encoded.
    async fn call(
        &self,
        svc: Service,
        method: &str,
        host_url: &str,
        path_and_query: &str,
        mut headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<Answer, ApiError> {
        let conf = self.conf().await?;
        let region = Self::region_of(conf);
        let provider = conf
            .credentials_provider()
            .ok_or_else(|| transport("no AWS credentials provider is configured"))?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            let mut s = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                s = format!("{s}: {c}");
                cur = c.source();
            }
            transport(format!("no AWS credentials: {}", one_line(&s)))
        })?;
        let identity: Identity = creds.into();
        let url = format!("{host_url}{path_and_query}");
        headers.push(("host".to_owned(), http::host_of(host_url).to_owned()));
        let mut settings = SigningSettings::default();
        if svc == Service::S3 {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name(svc.signing_name())
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| transport(format!("cannot sign: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| transport(format!("cannot sign: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| transport(format!("cannot sign: {e}")))?
            .into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_owned(), v.to_owned()));
        }
        let a = http::send(
            self.http()?,
            self.opts.timeout,
            method,
            &url,
            &headers,
            body,
            describe,
        )
        .await
        .map_err(transport)?;
        if a.status >= 300 && a.status != 304 {
            return Err(api_error(a.status, &a.body));
        }
        Ok(a)
    }

    /// One JSON 1.1 operation (`PutSecretValue`, `PutParameter`...): the
    /// answer's JSON. Runs on the shared runtime.
    pub fn json(
        &self,
        svc: Service,
        operation: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let body = Zeroizing::new(input.to_string().into_bytes());
        rt::block_on(async {
            let conf = self.conf().await?;
            let host = self.configured_endpoint(svc, conf).unwrap_or_else(|| {
                format!(
                    "https://{}.{}.amazonaws.com",
                    svc.signing_name(),
                    Self::region_of(conf)
                )
            });
            let headers = vec![
                (
                    "content-type".to_owned(),
                    "application/x-amz-json-1.1".to_owned(),
                ),
                (
                    "x-amz-target".to_owned(),
                    format!("{}.{operation}", svc.target_prefix()),
                ),
            ];
            let a = self.call(svc, "POST", &host, "/", headers, &body).await?;
            if a.body.is_empty() {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_slice(&a.body)
                .map_err(|_| transport(format!("{operation}: the answer is not JSON")))
        })
        .map_err(|e| transport(e.to_string()))?
    }

    /// Host URL and encoded path of an object.
    fn s3_url(&self, conf: &SdkConfig, bucket: &str, key: &str) -> (String, String) {
        let path: Vec<String> = key.split('/').map(encode_segment).collect();
        let path = path.join("/");
        match self.configured_endpoint(Service::S3, conf) {
            Some(e) => (e, format!("/{}/{path}", encode_segment(bucket))),
            None if dns_bucket(bucket) => (
                format!(
                    "https://{bucket}.s3.{}.amazonaws.com",
                    Self::region_of(conf)
                ),
                format!("/{path}"),
            ),
            None => (
                format!("https://s3.{}.amazonaws.com", Self::region_of(conf)),
                format!("/{}/{path}", encode_segment(bucket)),
            ),
        }
    }

    /// S3 `GetObject`. `Ok(None)`: not modified since `if_none_match` (an ETag).
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        if_none_match: Option<&str>,
    ) -> Result<Option<Object>, ApiError> {
        rt::block_on(async {
            let conf = self.conf().await?;
            let (host, path) = self.s3_url(conf, bucket, key);
            let mut headers = Vec::new();
            if let Some(e) = if_none_match {
                headers.push(("if-none-match".to_owned(), e.to_owned()));
            }
            let a = self
                .call(Service::S3, "GET", &host, &path, headers, b"")
                .await?;
            if a.status == 304 {
                return Ok(None);
            }
            let etag = a
                .headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(Some((a.body.to_vec(), etag)))
        })
        .map_err(|e| transport(e.to_string()))?
    }

    /// S3 `PutObject`; returns the new object's ETag.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<Option<String>, ApiError> {
        rt::block_on(async {
            let conf = self.conf().await?;
            let (host, path) = self.s3_url(conf, bucket, key);
            let headers = vec![("content-type".to_owned(), content_type.to_owned())];
            let a = self
                .call(Service::S3, "PUT", &host, &path, headers, bytes)
                .await?;
            Ok(a.headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned))
        })
        .map_err(|e| transport(e.to_string()))?
    }
}

/// S3 `GetObject` with the default configuration (see [`AwsApi::get_object`]).
/// Errors are `s3://bucket/key: <code>: <message>`.
pub fn get_object(
    bucket: &str,
    key: &str,
    if_none_match: Option<&str>,
) -> Result<Option<Object>, KmsError> {
    AwsApi::from_env(None)
        .get_object(bucket, key, if_none_match)
        .map_err(|e| KmsError::new(format!("s3://{bucket}/{key}"), e.to_string()))
}

/// S3 `PutObject` with the default configuration (see [`AwsApi::put_object`]).
pub fn put_object(bucket: &str, key: &str, bytes: &[u8]) -> Result<(), KmsError> {
    AwsApi::from_env(None)
        .put_object(bucket, key, bytes, "application/json")
        .map(drop)
        .map_err(|e| KmsError::new(format!("s3://{bucket}/{key}"), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_urls() {
        let e = api_error(
            400,
            br#"{"__type":"com.amazonaws#ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
        );
        assert_eq!(e.code, "ResourceNotFoundException");
        let e = api_error(
            404,
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
        );
        assert_eq!(
            e.to_string(),
            "NoSuchKey: The specified key does not exist."
        );
        assert_eq!(api_error(403, b"").to_string(), "HTTP 403");
        assert_eq!(encode_segment("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
        assert!(dns_bucket("my-bucket") && !dns_bucket("My_Bucket") && !dns_bucket("a.b"));
    }
}
