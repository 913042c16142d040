//! AWS KMS: `Encrypt`, `Decrypt`, `Sign`, `GetPublicKey` and `DescribeKey`
//! as SigV4-signed JSON calls ([`crate::awsapi`], the SDK's own signer) with
//! the official SDK's configuration (`aws-config`).
//!
//! Credentials come from the SDK's default chain: environment variables, the
//! shared config and credentials files (profiles, `credential_process`, SSO
//! cache), web identity (EKS IRSA), ECS container credentials and IMDSv2. A
//! stanza's `role` is assumed through STS first; its `aws_profile` selects the
//! profile. Endpoints honour `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_KMS`.
//!
//! For decryption (sops issues 1073, 614, 694) `AwsOptions` may replace the
//! stored profile and role (`--aws-profile`, `CLEF_AWS_PROFILE`, `CLEF_AWS_ROLE`);
//! when the stored profile/role fails for a reason that is not the key's own
//! (missing profile, refused AssumeRole, access denied), the default chain is
//! tried next. Every call is bounded: at most 3 attempts with backoff inside
//! `AwsOptions::timeout` (default 10 s, `CLEF_KMS_TIMEOUT` seconds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clef_doc::Value;
use serde_json::json;
use zeroize::Zeroizing;

use crate::awsapi::{AwsApi, Service};
use crate::http;
use crate::stanza::AwsStanza;
use crate::{KmsError, rt, utc_now};

/// Default bound on one KMS call, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How stanzas are turned into credentials and how long a call may take.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// Replaces every stanza's `aws_profile` (`Some("")`: the default profile).
    pub profile: Option<String>,
    /// Replaces every stanza's `role` (`Some("")`: assume no role).
    pub role: Option<String>,
    /// Bound on one call including retries and backoff.
    pub timeout: Duration,
    /// KMS endpoint replacing the configured one (`AWS_ENDPOINT_URL_KMS` and
    /// `AWS_ENDPOINT_URL` are honoured without it).
    pub endpoint: Option<String>,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            profile: None,
            role: None,
            timeout: DEFAULT_TIMEOUT,
            endpoint: None,
        }
    }
}

impl AwsOptions {
    /// Options from `CLEF_AWS_PROFILE`, `CLEF_AWS_ROLE` and `CLEF_KMS_TIMEOUT` (seconds).
    pub fn from_env() -> AwsOptions {
        let timeout = std::env::var("CLEF_KMS_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64);
        AwsOptions {
            profile: std::env::var("CLEF_AWS_PROFILE").ok(),
            role: std::env::var("CLEF_AWS_ROLE").ok(),
            timeout,
            endpoint: None,
        }
    }
}

/// Which credentials one attempt uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Creds {
    region: String,
    profile: String,
    role: String,
}

/// An AWS KMS master-key backend: clients are built lazily, one per
/// (region, profile, role), and reused for every stanza of a run.
pub struct AwsKms {
    opts: AwsOptions,
    clients: Mutex<HashMap<Creds, Arc<AwsApi>>>,
}

impl std::fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKms").field("opts", &self.opts).finish()
    }
}

/// The AWS SDK configuration Clef uses everywhere (also for other AWS services):
/// default credential chain, `profile` when non-empty, `role` assumed through STS
/// when non-empty, the crate's HTTP client (rustls with ring for TLS), standard retries (3 attempts with
/// backoff) and `timeout` as the bound on one operation.
pub async fn load_sdk_config(
    region: Option<&str>,
    profile: &str,
    role: &str,
    timeout: Duration,
) -> Result<SdkConfig, KmsError> {
    let http = SharedHttpClient::new(SdkHttp(Arc::new(http::client())));
    let attempt = timeout.min(Duration::from_secs(5));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(attempt.min(Duration::from_secs(3)))
                .operation_attempt_timeout(attempt)
                .operation_timeout(timeout)
                .build(),
        );
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    if !profile.is_empty() {
        loader = loader.profile_name(profile);
    }
    if env_keys_set() {
        // The default chain tries the environment's keys first and returns
        // them whenever both are set, whatever the profile; building the rest
        // of the chain (web identity with its STS client, ECS, IMDS) is most
        // of what `load` costs a short-lived `clef`. Same provider, same answer.
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    let conf = loader.load().await;
    if role.is_empty() {
        return Ok(conf);
    }
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(session_name())
        .configure(&conf)
        .build()
        .await;
    Ok(conf
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// Whether the environment holds the static keys the default chain's first
/// provider returns (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, both
/// not blank, as that provider reads them).
fn env_keys_set() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")
}

/// aws-config's HTTP client (STS, SSO, IMDS and ECS credential calls): the
/// crate's one hyper client ([`crate::http`]), which the KMS calls use too.
/// Plain `http` goes out at once; TLS (rustls with ring, the system's roots)
/// is set up on the first `https` request, so a local endpoint or a metadata
/// server never loads the certificate store.
///
/// The SDK retries and bounds each attempt and the whole operation itself;
/// the connector bounds one request by the settings' connect plus read
/// timeouts (IMDS asks for 1 s each, so a machine that is not on EC2 gives
/// up on it quickly).
#[derive(Clone)]
struct SdkHttp(Arc<http::Client>);

impl std::fmt::Debug for SdkHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkHttp")
    }
}

impl HttpClient for SdkHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let bound = match (settings.connect_timeout(), settings.read_timeout()) {
            (Some(c), Some(r)) => Some(c + r),
            (c, r) => c.or(r),
        };
        SharedHttpConnector::new(SdkConnector {
            client: self.0.clone(),
            bound,
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("clef-hyper", None))
    }
}

/// One request of the SDK, sent through [`SdkHttp`]'s client.
struct SdkConnector {
    client: Arc<http::Client>,
    bound: Option<Duration>,
}

impl std::fmt::Debug for SdkConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkConnector")
            .field("bound", &self.bound)
            .finish()
    }
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let bound = self.bound;
        HttpConnectorFuture::new(async move {
            // credential calls have small in-memory bodies
            let body = request.body().bytes().ok_or_else(|| {
                ConnectorError::other("a streaming request body is not supported".into(), None)
            })?;
            let mut req = hyper::Request::builder()
                .method(request.method())
                .uri(request.uri());
            for (k, v) in request.headers().iter() {
                req = req.header(k, v);
            }
            let req = req
                .body(http_body_util::Full::new(
                    hyper::body::Bytes::copy_from_slice(body),
                ))
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let sent = client.request(req);
            let answer = match bound {
                Some(b) => tokio::time::timeout(b, sent).await.map_err(|_| {
                    ConnectorError::timeout(
                        format!(
                            "no answer from {} within {b:?}",
                            http::host_of(request.uri())
                        )
                        .into(),
                    )
                })?,
                None => sent.await,
            }
            .map_err(|e| ConnectorError::io(e.into()))?;
            let status = StatusCode::try_from(answer.status)
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let mut response = HttpResponse::new(status, SdkBody::from(answer.body.to_vec()));
            for (k, v) in &answer.headers {
                // the SDK's headers are UTF-8; a header that is not is not one it reads
                if let Ok(v) = v.to_str() {
                    response
                        .headers_mut()
                        .try_append(k.as_str().to_owned(), v.to_owned())
                        .map_err(|e| ConnectorError::other(e.into(), None))?;
                }
            }
            Ok(response)
        })
    }
}

/// `clef@<hostname>`, sanitized and cut to STS's 64 characters (as sops names its sessions `sops@<hostname>`).
fn session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let mut name: String = "clef@"
        .chars()
        .chain(
            host.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c)),
        )
        .collect();
    name.truncate(64);
    name
}

/// Errors that belong to the key itself: trying other credentials cannot help.
const KEY_ERRORS: [&str; 7] = [
    "NotFoundException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "InvalidKeyUsageException",
    "KeyUnavailableException",
];

/// The stanza's encryption context as KMS takes it: none when it is empty.
fn encryption_context(st: &AwsStanza) -> Option<serde_json::Value> {
    (!st.context.is_empty()).then(|| {
        serde_json::Value::Object(
            st.context
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    })
}

/// A KMS answer as JSON.
fn answer_json(answer: &[u8], operation: &str) -> Result<serde_json::Value, String> {
    serde_json::from_slice(answer).map_err(|_| format!("{operation}: the answer is not JSON"))
}

/// Takes the base64 blob `field` out of an answer and decodes it; both the
/// text and the bytes are zeroized on drop (a `Plaintext` is a data key).
fn blob(
    v: &mut serde_json::Value,
    field: &str,
    operation: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = match v.get_mut(field).map(serde_json::Value::take) {
        Some(serde_json::Value::String(s)) => Zeroizing::new(s),
        _ => return Err(format!("{operation} returned no {field}")),
    };
    B64.decode(text.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| format!("{operation} returned a {field} that is not base64"))
}

impl AwsKms {
    /// A backend with the given options; nothing is loaded until the first call.
    pub fn new(opts: AwsOptions) -> AwsKms {
        AwsKms {
            opts,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The credential attempts for a stanza: the stanza's (or overridden)
    /// profile and role, then the plain default chain if that differs.
    fn attempts(&self, st: &AwsStanza) -> Result<Vec<Creds>, KmsError> {
        let region = st
            .region()
            .ok_or_else(|| KmsError::new(&st.arn, "not a valid AWS KMS key ARN"))?
            .to_owned();
        let first = Creds {
            region: region.clone(),
            profile: self
                .opts
                .profile
                .clone()
                .unwrap_or_else(|| st.aws_profile.clone()),
            role: self.opts.role.clone().unwrap_or_else(|| st.role.clone()),
        };
        let plain = Creds {
            region,
            profile: String::new(),
            role: String::new(),
        };
        Ok(if first == plain {
            vec![first]
        } else {
            vec![first, plain]
        })
    }

    /// The signed-request client for one credential attempt.
    fn client(&self, c: &Creds) -> Result<Arc<AwsApi>, KmsError> {
        let mut clients = self.clients.lock().map_err(|_| poisoned())?;
        let api = clients.entry(c.clone()).or_insert_with(|| {
            Arc::new(AwsApi::new(
                Some(&c.region),
                AwsOptions {
                    profile: Some(c.profile.clone()),
                    role: Some(c.role.clone()),
                    ..self.opts.clone()
                },
            ))
        });
        Ok(Arc::clone(api))
    }

    /// Sends the KMS operation `operation` with the JSON `body` under each
    /// credential attempt until one succeeds or fails for a reason of the
    /// key's own, and reads the answer with `read`; the error names the ARN
    /// and every reason.
    fn run<T>(
        &self,
        st: &AwsStanza,
        operation: &str,
        body: &[u8],
        read: impl Fn(Zeroizing<Vec<u8>>) -> Result<T, String>,
    ) -> Result<T, KmsError> {
        let attempts = self.attempts(st)?;
        rt::block_on(async {
            let mut reasons = Vec::new();
            for c in &attempts {
                let via = match (c.profile.as_str(), c.role.as_str()) {
                    ("", "") => String::new(),
                    (p, "") => format!(" (profile {p})"),
                    ("", r) => format!(" (role {r})"),
                    (p, r) => format!(" (profile {p}, role {r})"),
                };
                let api = self.client(c)?;
                match api.call_json(Service::Kms, operation, body).await {
                    Ok(answer) => {
                        return read(answer).map_err(|why| KmsError::new(&st.arn, why));
                    }
                    Err(e) => {
                        reasons.push(format!("{e}{via}"));
                        if KEY_ERRORS.contains(&e.code.as_str()) {
                            break;
                        }
                    }
                }
            }
            Err(KmsError::new(
                &st.arn,
                reasons.join("; then with the default credentials: "),
            ))
        })
        .map_err(|e| KmsError::new(&st.arn, e.to_string()))?
    }

    /// Wraps `secret` for the stanza's key with KMS `Encrypt` and the stanza's
    /// encryption context; returns the base64 ciphertext blob (the `enc` field).
    pub fn encrypt(&self, st: &AwsStanza, secret: &[u8]) -> Result<String, KmsError> {
        let (_, blob) = self.kms_encrypt(st, &st.arn, secret)?;
        Ok(B64.encode(blob))
    }

    /// Unwraps the stanza's `enc` with KMS `Decrypt` (key id and encryption context as sops sends them).
    pub fn decrypt(&self, st: &AwsStanza) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let blob = B64
            .decode(st.enc.trim())
            .map_err(|_| KmsError::new(&st.arn, "enc is not valid base64"))?;
        self.kms_decrypt(st, &st.arn, &blob)
    }

    /// `Encrypt` of a data key for an artifact envelope (no encryption context):
    /// the key ARN as KMS resolved it (aliases resolved) and the ciphertext blob.
    pub fn wrap_data_key(&self, key_id: &str, dek: &[u8]) -> Result<(String, Vec<u8>), KmsError> {
        self.kms_encrypt(&AwsStanza::from_arg(key_id, &[], ""), key_id, dek)
    }

    /// `Decrypt` of an artifact envelope's wrapped data key (the key id is sent,
    /// as the TypeScript agent does).
    pub fn unwrap_data_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        self.kms_decrypt(&AwsStanza::from_arg(key_id, &[], ""), key_id, wrapped)
    }

    /// KMS `Encrypt` of `plaintext` under `key_id` with the stanza's
    /// encryption context (none when it is empty), with the stanza's
    /// credentials: the key ARN as KMS resolved it and the ciphertext blob.
    fn kms_encrypt(
        &self,
        st: &AwsStanza,
        key_id: &str,
        plaintext: &[u8],
    ) -> Result<(String, Vec<u8>), KmsError> {
        let mut input = json!({ "KeyId": key_id });
        if let Some(ctx) = encryption_context(st) {
            input["EncryptionContext"] = ctx;
        }
        // the plaintext goes into the body here, never into a JSON value
        let rest = input.to_string();
        let mut body = Zeroizing::new(String::with_capacity(rest.len() + plaintext.len() * 2));
        body.push_str("{\"Plaintext\":\"");
        B64.encode_string(plaintext, &mut body);
        body.push_str("\",");
        body.push_str(&rest[1..]);
        self.run(st, "Encrypt", body.as_bytes(), |answer| {
            let mut v = answer_json(&answer, "Encrypt")?;
            let resolved = v["KeyId"].as_str().unwrap_or(key_id).to_owned();
            let blob = blob(&mut v, "CiphertextBlob", "Encrypt")?;
            Ok((resolved, blob.to_vec()))
        })
    }

    /// KMS `Decrypt` of `blob`, sending `key_id` and the stanza's encryption
    /// context (none when it is empty), with the stanza's credentials.
    fn kms_decrypt(
        &self,
        st: &AwsStanza,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let mut input = json!({ "CiphertextBlob": B64.encode(ciphertext), "KeyId": key_id });
        if let Some(ctx) = encryption_context(st) {
            input["EncryptionContext"] = ctx;
        }
        self.run(st, "Decrypt", input.to_string().as_bytes(), |answer| {
            blob(
                &mut answer_json(&answer, "Decrypt")?,
                "Plaintext",
                "Decrypt",
            )
        })
    }

    /// `Sign` with `ECDSA_SHA_256` over a SHA-256 `digest` (`MessageType:
    /// DIGEST`): the DER signature.
    pub fn sign_digest(&self, key_id: &str, digest: &[u8; 32]) -> Result<Vec<u8>, KmsError> {
        let input = json!({
            "KeyId": key_id,
            "Message": B64.encode(digest),
            "MessageType": "DIGEST",
            "SigningAlgorithm": "ECDSA_SHA_256",
        });
        let st = AwsStanza::from_arg(key_id, &[], "");
        self.run(&st, "Sign", input.to_string().as_bytes(), |answer| {
            Ok(blob(&mut answer_json(&answer, "Sign")?, "Signature", "Sign")?.to_vec())
        })
    }

    /// `GetPublicKey`: the key's SPKI DER.
    pub fn public_key(&self, key_id: &str) -> Result<Vec<u8>, KmsError> {
        let input = json!({ "KeyId": key_id });
        let st = AwsStanza::from_arg(key_id, &[], "");
        self.run(
            &st,
            "GetPublicKey",
            input.to_string().as_bytes(),
            |answer| {
                let mut v = answer_json(&answer, "GetPublicKey")?;
                Ok(blob(&mut v, "PublicKey", "GetPublicKey")?.to_vec())
            },
        )
    }

    /// Checks that the caller may use the key: `DescribeKey`, then reports its state
    /// (for `doctor`). Returns the key state (`Enabled`, `Disabled`, ...).
    pub fn key_state(&self, st: &AwsStanza) -> Result<String, KmsError> {
        let input = json!({ "KeyId": st.arn });
        self.run(st, "DescribeKey", input.to_string().as_bytes(), |answer| {
            let v = answer_json(&answer, "DescribeKey")?;
            Ok(v["KeyMetadata"]["KeyState"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned())
        })
    }

    /// `DescribeKey` on `arn`: an error naming the key unless it is
    /// `Enabled` (a disabled key answers `DisabledException`, one pending
    /// deletion `KMSInvalidStateException`, to every `Encrypt`/`Decrypt`).
    /// Used before a change that would seal cells with the key.
    pub fn check_enabled(&self, arn: &str) -> Result<(), KmsError> {
        let state = self.key_state(&AwsStanza::from_arg(arn, &[], ""))?;
        match state.as_str() {
            "Enabled" => Ok(()),
            "Disabled" => Err(KmsError::new(
                arn,
                "the key is Disabled (KMS answers DisabledException)",
            )),
            other => Err(KmsError::new(
                arn,
                format!("the key is {other} (KMS answers KMSInvalidStateException)"),
            )),
        }
    }

    /// Recovers the secret from one `kms` stanza of a file.
    pub fn unwrap_stanza(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let st = AwsStanza::from_value(stanza)?;
        if st.enc.is_empty() {
            return Err(KmsError::new(&st.arn, "stanza has no enc"));
        }
        self.decrypt(&st)
    }

    /// Wraps `secret` for the key a `kms` stanza names: the complete stanza with a
    /// fresh `enc` and `created_at`, in sops 3.11's field order.
    pub fn wrap_stanza(&self, template: &Value, secret: &[u8]) -> Result<Value, KmsError> {
        let mut st = AwsStanza::from_value(template)?;
        st.enc = self.encrypt(&st, secret)?;
        st.created_at = utc_now();
        Ok(st.to_value())
    }
}

fn poisoned() -> KmsError {
    KmsError::new("kms", "internal client cache poisoned")
}
