//! The AWS calls Clef makes, as SigV4-signed requests: KMS (for
//! [`crate::aws`]), and S3, Secrets Manager and SSM Parameter Store for
//! `clef pack` and the runtime agent.
//!
//! Credentials, region, profile and AssumeRole come from the official SDK's
//! configuration ([`crate::load_sdk_config`], its credential chain); signing
//! is the SDK's own `aws-sigv4`; the transport is the crate's hyper client
//! with its bounded retries (network failures, stalled attempts, 429, 5xx
//! and throttling codes). This avoids compiling the `aws-sdk-kms`, `-s3`,
//! `-secretsmanager` and `-ssm` crates (measured in the README) and their
//! per-call orchestration, which cost a short-lived `clef get` about a
//! millisecond and a half.
//!
//! Endpoints, as the SDK resolves them: `AWS_ENDPOINT_URL_<SERVICE>` (`KMS`,
//! `S3`, `SECRETS_MANAGER`, `SSM`) or the profile's `services` section, then
//! `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`), else the public
//! regional endpoint of the region's partition (FIPS and dual-stack as
//! configured for the JSON services). S3 uses path-style addressing for a
//! configured endpoint (moto, MinIO, loopback) and for bucket names that are
//! not DNS labels.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::service_config::ServiceConfigKey;
use zeroize::Zeroizing;

use crate::http::{self, Answer, Client};
use crate::{AwsOptions, KmsError, rt};

/// An S3 object's body and ETag (as S3 quotes it).
pub type Object = (Vec<u8>, Option<String>);

/// An AWS service Clef calls over its wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// AWS KMS (JSON 1.1).
    Kms,
    /// Amazon S3 (REST-XML).
    S3,
    /// AWS Secrets Manager (JSON 1.1).
    SecretsManager,
    /// AWS Systems Manager (JSON 1.1), for Parameter Store.
    Ssm,
}

impl Service {
    /// The SigV4 signing name, also the endpoint's host prefix.
    fn signing_name(self) -> &'static str {
        match self {
            Service::Kms => "kms",
            Service::S3 => "s3",
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
        }
    }

    /// The SDK's service id: `AWS_ENDPOINT_URL_<ID>` (upper case, spaces as
    /// `_`) and the profile's `services` section key.
    fn service_id(self) -> &'static str {
        match self {
            Service::Kms => "KMS",
            Service::S3 => "S3",
            Service::SecretsManager => "Secrets Manager",
            Service::Ssm => "SSM",
        }
    }

    fn target_prefix(self) -> &'static str {
        match self {
            Service::Kms => "TrentService",
            Service::S3 => "",
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "AmazonSSM",
        }
    }

    /// The name messages use.
    fn title(self) -> &'static str {
        match self {
            Service::Kms => "AWS KMS",
            Service::S3 => "Amazon S3",
            Service::SecretsManager => "AWS Secrets Manager",
            Service::Ssm => "AWS SSM",
        }
    }
}

/// Error codes AWS answers when a caller is throttled (retried with backoff).
const THROTTLED: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
];

/// Whether an answer is worth another attempt, and why: throttling, 429, 5xx.
fn retryable(status: u16, body: &[u8]) -> Option<String> {
    if status == 429 || status >= 500 {
        return Some(describe(status, body));
    }
    if status == 400 {
        let e = api_error(status, body);
        if THROTTLED.contains(&e.code.as_str()) {
            return Some(e.to_string());
        }
    }
    None
}

/// The DNS suffix of a region's partition (China, the ISO partitions, else
/// the commercial and GovCloud one), and its dual-stack form.
fn dns_suffix(region: &str, dual_stack: bool) -> &'static str {
    match (region.split('-').next().unwrap_or(""), dual_stack) {
        ("cn", false) => "amazonaws.com.cn",
        ("cn", true) => "api.amazonwebservices.com.cn",
        _ if region.starts_with("us-isob-") => "sc2s.sgov.gov",
        _ if region.starts_with("us-iso-") => "c2s.ic.gov",
        (_, true) => "api.aws",
        (_, false) => "amazonaws.com",
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

/// The code and message of an error body (JSON `__type`/`message`, or the
/// XML of S3 and of IAM denials).
pub(crate) fn api_error(status: u16, body: &[u8]) -> ApiError {
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
    client: OnceLock<Client>,
    /// The last credentials, reused until a minute before they expire (the
    /// SDK's clients keep an identity cache; the providers themselves do
    /// not cache, so an assumed role or IMDS would be asked on every call).
    creds: tokio::sync::Mutex<Option<Credentials>>,
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
            creds: tokio::sync::Mutex::new(None),
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

    fn http(&self) -> &Client {
        self.client.get_or_init(http::client)
    }

    /// The region requests are signed for.
    fn region_of(conf: &SdkConfig) -> String {
        conf.region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned())
    }

    /// The configured endpoint of `svc`, if any, as the SDK resolves it:
    /// the options' endpoint, then `AWS_ENDPOINT_URL_<SERVICE>` and the
    /// profile's `services` section, then `AWS_ENDPOINT_URL` and the
    /// profile's `endpoint_url` (all off under
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`).
    fn configured_endpoint(&self, svc: Service, conf: &SdkConfig) -> Option<String> {
        if let Some(e) = &self.opts.endpoint {
            return Some(e.trim_end_matches('/').to_owned());
        }
        let key = ServiceConfigKey::builder()
            .service_id(svc.service_id())
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        conf.service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| conf.endpoint_url().map(str::to_owned))
            .filter(|e| !e.is_empty())
            .map(|e| e.trim_end_matches('/').to_owned())
    }

    /// The public regional endpoint of `svc` (FIPS and dual-stack as
    /// configured, for the JSON services).
    fn public_endpoint(svc: Service, conf: &SdkConfig) -> String {
        let region = Self::region_of(conf);
        let (fips, dual) = match svc {
            Service::S3 => (false, false),
            _ => (
                conf.use_fips().unwrap_or(false),
                conf.use_dual_stack().unwrap_or(false),
            ),
        };
        format!(
            "https://{}{}.{region}.{}",
            svc.signing_name(),
            if fips { "-fips" } else { "" },
            dns_suffix(&region, dual)
        )
    }

    /// The credentials to sign with: the cached ones while they are valid
    /// for more than a minute, else the provider's answer.
    async fn credentials(&self, conf: &SdkConfig) -> Result<Credentials, ApiError> {
        let mut cached = self.creds.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| {
            c.expiry()
                .is_none_or(|t| t > SystemTime::now() + Duration::from_secs(60))
        }) {
            return Ok(c.clone());
        }
        let provider = conf
            .credentials_provider()
            .ok_or_else(|| transport("no AWS credentials provider is configured"))?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            transport(format!(
                "no AWS credentials: {}",
                one_line(&http::causes(&e))
            ))
        })?;
        *cached = Some(creds.clone());
        Ok(creds)
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
        let identity: Identity = self.credentials(conf).await?.into();
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
        // a KMS call is small: a stalled attempt is cut at 5 s (as the SDK's
        // operation attempt timeout was) so that a retry fits in the bound;
        // an S3 object may take the whole bound to arrive
        let attempt = match svc {
            Service::Kms => self.opts.timeout.min(Duration::from_secs(5)),
            _ => self.opts.timeout,
        };
        let a = http::send(
            self.http(),
            self.opts.timeout,
            attempt,
            method,
            &url,
            &headers,
            body,
            retryable,
        )
        .await
        .map_err(|e| {
            if e.answered {
                transport(format!("{}: {}", svc.title(), e.reason))
            } else {
                transport(format!("cannot reach {}: {}", svc.title(), e.reason))
            }
        })?;
        if a.status >= 300 && a.status != 304 {
            return Err(api_error(a.status, &a.body));
        }
        Ok(a)
    }

    /// One JSON 1.1 operation (`Decrypt`, `PutSecretValue`...) with a
    /// ready request body: the answer's body, zeroized on drop.
    pub(crate) async fn call_json(
        &self,
        svc: Service,
        operation: &str,
        body: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let conf = self.conf().await?;
        let host = self
            .configured_endpoint(svc, conf)
            .unwrap_or_else(|| Self::public_endpoint(svc, conf));
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
        Ok(self
            .call(svc, "POST", &host, "/", headers, body)
            .await?
            .body)
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
        let answer = rt::block_on(self.call_json(svc, operation, &body))
            .map_err(|e| transport(e.to_string()))??;
        if answer.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&answer)
            .map_err(|_| transport(format!("{operation}: the answer is not JSON")))
    }

    /// Host URL and encoded path of an object.
    fn s3_url(&self, conf: &SdkConfig, bucket: &str, key: &str) -> (String, String) {
        let path: Vec<String> = key.split('/').map(encode_segment).collect();
        let path = path.join("/");
        match self.configured_endpoint(Service::S3, conf) {
            Some(e) => (e, format!("/{}/{path}", encode_segment(bucket))),
            None if dns_bucket(bucket) => (
                Self::public_endpoint(Service::S3, conf).replacen(
                    "://",
                    &format!("://{bucket}."),
                    1,
                ),
                format!("/{path}"),
            ),
            None => (
                Self::public_endpoint(Service::S3, conf),
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

    #[test]
    fn throttling_429_and_5xx_are_retried_other_refusals_are_not() {
        let throttled = br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        assert_eq!(
            retryable(400, throttled).as_deref(),
            Some("ThrottlingException: Rate exceeded")
        );
        assert!(retryable(429, b"").is_some());
        assert!(retryable(503, b"<Error><Code>SlowDown</Code></Error>").is_some());
        let denied = br#"{"__type":"AccessDeniedException","message":"no"}"#;
        assert_eq!(retryable(400, denied), None);
        assert_eq!(retryable(400, br#"{"__type":"NotFoundException"}"#), None);
        assert_eq!(retryable(200, b"{}"), None);
    }

    #[test]
    fn public_endpoints_follow_the_partition_fips_and_dual_stack() {
        use aws_config::Region;
        let conf = |region: &str, fips: bool, dual: bool| {
            SdkConfig::builder()
                .region(Region::new(region.to_owned()))
                .use_fips(fips)
                .use_dual_stack(dual)
                .build()
        };
        let at = |svc, c: &SdkConfig| AwsApi::public_endpoint(svc, c);
        assert_eq!(
            at(Service::Kms, &conf("eu-west-1", false, false)),
            "https://kms.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            at(Service::Kms, &conf("us-gov-west-1", true, false)),
            "https://kms-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            at(Service::Kms, &conf("us-east-2", false, true)),
            "https://kms.us-east-2.api.aws"
        );
        assert_eq!(
            at(Service::Kms, &conf("cn-north-1", false, false)),
            "https://kms.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            at(
                Service::SecretsManager,
                &conf("us-iso-east-1", false, false)
            ),
            "https://secretsmanager.us-iso-east-1.c2s.ic.gov"
        );
        // S3's FIPS and dual-stack hosts have another shape: not applied
        assert_eq!(
            at(Service::S3, &conf("us-east-1", true, true)),
            "https://s3.us-east-1.amazonaws.com"
        );
    }
}
