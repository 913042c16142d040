//! Google Cloud KMS through its REST API (`cloudkms.googleapis.com/v1`):
//! `POST /v1/{resource_id}:encrypt` with `{"plaintext": base64}` answers
//! `{"ciphertext": base64, ...}`; `POST /v1/{resource_id}:decrypt` with
//! `{"ciphertext": base64}` answers `{"plaintext": base64}`; errors are
//! `{"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}`.
//! The `enc` field of a `gcp_kms` stanza is the base64 ciphertext (as sops 3.11 writes it).
//!
//! Credentials, first that applies:
//! 1. `GOOGLE_OAUTH_ACCESS_TOKEN` (a bearer token, as sops accepts it);
//! 2. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account JSON key; a JWT signed
//!    with its key (RS256) is exchanged at its `token_uri` for an access token;
//! 3. the metadata server (`GCE_METADATA_HOST`, else `metadata.google.internal`),
//!    asked only when running on Google Cloud is plausible (1 s connect bound);
//! 4. `gcloud auth print-access-token`.
//!
//! The endpoint is `CLEF_GCP_KMS_ENDPOINT` when set (tests point it at a local
//! server), else `https://cloudkms.googleapis.com`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use clef_doc::Value;
use zeroize::Zeroizing;

use crate::http::{self, Client};
use crate::stanza::GcpStanza;
use crate::{KmsError, rt, utc_now};

/// The public Cloud KMS endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";
const SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";

/// Where the access token comes from.
#[derive(Clone)]
pub enum GcpAuth {
    /// A bearer token as given (`GOOGLE_OAUTH_ACCESS_TOKEN`).
    Token(Zeroizing<String>),
    /// A service-account JSON key file (`GOOGLE_APPLICATION_CREDENTIALS`).
    ServiceAccount(std::path::PathBuf),
    /// The metadata server on this host (`GCE_METADATA_HOST` or `metadata.google.internal`).
    Metadata(String),
    /// `gcloud auth print-access-token`.
    Gcloud,
}

impl std::fmt::Debug for GcpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcpAuth::Token(_) => f.write_str("Token(..)"),
            GcpAuth::ServiceAccount(p) => write!(f, "ServiceAccount({})", p.display()),
            GcpAuth::Metadata(h) => write!(f, "Metadata({h})"),
            GcpAuth::Gcloud => f.write_str("Gcloud"),
        }
    }
}

impl GcpAuth {
    /// The first source that applies, given a variable lookup (`std::env::var` in real use).
    pub fn select(var: impl Fn(&str) -> Option<String>) -> GcpAuth {
        let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        if let Some(t) = set("GOOGLE_OAUTH_ACCESS_TOKEN") {
            return GcpAuth::Token(Zeroizing::new(t.trim().to_owned()));
        }
        if let Some(p) = set("GOOGLE_APPLICATION_CREDENTIALS") {
            return GcpAuth::ServiceAccount(p.into());
        }
        if let Some(h) = set("GCE_METADATA_HOST") {
            return GcpAuth::Metadata(h);
        }
        if on_gce() {
            return GcpAuth::Metadata("metadata.google.internal".into());
        }
        GcpAuth::Gcloud
    }
}

/// A Cloud KMS master-key backend. The access token is fetched once per run, on first use.
pub struct GcpKms {
    endpoint: String,
    timeout: Duration,
    auth: GcpAuth,
    token: std::sync::Mutex<Option<Zeroizing<String>>>,
    client: std::sync::OnceLock<Client>,
}

impl std::fmt::Debug for GcpKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpKms")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Default for GcpKms {
    fn default() -> Self {
        GcpKms::from_env()
    }
}

/// A resource id as Cloud KMS names a crypto key.
fn valid_resource_id(id: &str) -> bool {
    let p: Vec<&str> = id.split('/').collect();
    p.len() == 8
        && p[0] == "projects"
        && p[2] == "locations"
        && p[4] == "keyRings"
        && p[6] == "cryptoKeys"
        && p.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        })
}

/// The `message` (and `status`) of a Google API error body, in one line.
fn api_error(status: u16, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let e = &v["error"];
    let st = e["status"].as_str().map(str::to_owned);
    let msg = e["message"]
        .as_str()
        .or_else(|| v["error_description"].as_str())
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "));
    match (st, msg) {
        (Some(s), Some(m)) => format!("{s} ({status}): {m}"),
        (Some(s), None) => format!("{s} ({status})"),
        (None, Some(m)) => format!("HTTP {status}: {m}"),
        (None, None) => format!("HTTP {status}"),
    }
}

impl GcpKms {
    /// The backend for the endpoint in `CLEF_GCP_KMS_ENDPOINT` (or the public one),
    /// with the call bound of `CLEF_KMS_TIMEOUT` (default 10 s).
    pub fn from_env() -> GcpKms {
        let endpoint = std::env::var("CLEF_GCP_KMS_ENDPOINT")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        GcpKms::new(
            &endpoint,
            GcpAuth::select(|k| std::env::var(k).ok()),
            crate::AwsOptions::from_env().timeout,
        )
    }

    /// A backend for `endpoint` (`https://cloudkms.googleapis.com` in real use)
    /// with the given credentials and bound on one call (retries included).
    pub fn new(endpoint: &str, auth: GcpAuth, timeout: Duration) -> GcpKms {
        GcpKms {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            timeout,
            auth,
            token: std::sync::Mutex::new(None),
            client: std::sync::OnceLock::new(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(http::client)
    }

    /// One HTTP request with the call bound and up to 3 attempts (backoff 100 ms,
    /// 400 ms) on network failures and 429/5xx. Returns status and body.
    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Zeroizing<Vec<u8>>), String> {
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let bytes = match body {
            Some((ct, b)) => {
                hs.push(("content-type".to_owned(), ct.to_owned()));
                Zeroizing::new(b)
            }
            None => Zeroizing::new(Vec::new()),
        };
        let a = http::send(
            self.client(),
            self.timeout,
            self.timeout,
            method,
            url,
            &hs,
            &bytes,
            |s, b| (s == 429 || s >= 500).then(|| api_error(s, b)),
        )
        .await
        .map_err(|e| e.reason)?;
        Ok((a.status, a.body))
    }

    /// The access token, from the first credential source that applies.
    async fn token(&self) -> Result<Zeroizing<String>, String> {
        if let Some(t) = self
            .token
            .lock()
            .map_err(|_| "token cache poisoned")?
            .as_ref()
        {
            return Ok(t.clone());
        }
        let t = self.fetch_token().await?;
        *self.token.lock().map_err(|_| "token cache poisoned")? = Some(t.clone());
        Ok(t)
    }

    async fn fetch_token(&self) -> Result<Zeroizing<String>, String> {
        match &self.auth {
            GcpAuth::Token(t) => Ok(t.clone()),
            GcpAuth::ServiceAccount(p) => self.service_account_token(p).await,
            GcpAuth::Metadata(host) => {
                let url = format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                );
                let (s, b) = self
                    .send("GET", &url, &[("metadata-flavor", "Google")], None)
                    .await
                    .map_err(|e| format!("metadata server: {e}"))?;
                token_from(s, &b).map_err(|e| format!("metadata server: {e}"))
            }
            GcpAuth::Gcloud => gcloud_token(),
        }
    }

    async fn service_account_token(
        &self,
        path: &std::path::Path,
    ) -> Result<Zeroizing<String>, String> {
        let what = format!("GOOGLE_APPLICATION_CREDENTIALS ({})", path.display());
        let raw = Zeroizing::new(std::fs::read(path).map_err(|e| format!("{what}: {e}"))?);
        let sa: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|_| format!("{what}: not valid JSON"))?;
        if sa["type"].as_str() != Some("service_account") {
            return Err(format!(
                "{what}: not a service-account key (\"type\": \"service_account\")"
            ));
        }
        let field = |k: &str| {
            sa[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{what}: missing \"{k}\""))
        };
        let email = field("client_email")?;
        let token_uri = sa["token_uri"]
            .as_str()
            .unwrap_or("https://oauth2.googleapis.com/token");
        let pem = Zeroizing::new(field("private_key")?.to_owned());
        let der = Zeroizing::new(
            B64.decode(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .map_err(|_| format!("{what}: private_key is not PEM"))?,
        );
        let key = ring::signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|_| format!("{what}: private_key is not an RSA PKCS#8 key"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = B64URL.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = B64URL.encode(
            serde_json::json!({
                "iss": email, "scope": SCOPE, "aud": token_uri,
                "iat": now, "exp": now + 3600,
            })
            .to_string(),
        );
        let signing_input = format!("{header}.{claims}");
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| format!("{what}: cannot sign the token request"))?;
        let jwt = Zeroizing::new(format!("{signing_input}.{}", B64URL.encode(sig)));
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            jwt.as_str()
        );
        let (s, b) = self
            .send(
                "POST",
                token_uri,
                &[],
                Some(("application/x-www-form-urlencoded", form.into_bytes())),
            )
            .await
            .map_err(|e| format!("token exchange at {token_uri}: {e}"))?;
        token_from(s, &b).map_err(|e| format!("token exchange at {token_uri}: {e}"))
    }

    /// One `:encrypt` / `:decrypt` call; returns the named base64 field of the answer.
    fn call(
        &self,
        resource_id: &str,
        verb: &str,
        field: &str,
        value: &str,
    ) -> Result<Zeroizing<String>, KmsError> {
        let err = |r: String| KmsError::new(resource_id, r);
        if !valid_resource_id(resource_id) {
            return Err(err(
                "not a Cloud KMS key resource id (projects/P/locations/L/keyRings/R/cryptoKeys/K)"
                    .into(),
            ));
        }
        let in_field = if verb == "encrypt" {
            "plaintext"
        } else {
            "ciphertext"
        };
        let body = Zeroizing::new(
            serde_json::json!({ in_field: value })
                .to_string()
                .into_bytes(),
        );
        let url = format!("{}/v1/{resource_id}:{verb}", self.endpoint);
        rt::block_on(async {
            let token = self.token().await.map_err(err)?;
            let auth = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let (s, b) = self
                .send(
                    "POST",
                    &url,
                    &[("authorization", auth.as_str())],
                    Some(("application/json", body.to_vec())),
                )
                .await
                .map_err(err)?;
            if !(200..300).contains(&s) {
                return Err(err(api_error(s, &b)));
            }
            let v: serde_json::Value = serde_json::from_slice(&b)
                .map_err(|_| err(format!("{verb} answer is not JSON")))?;
            let out = v[field]
                .as_str()
                .ok_or_else(|| err(format!("{verb} answer has no \"{field}\"")))?;
            Ok(Zeroizing::new(out.to_owned()))
        })
        .map_err(|e| err(e.to_string()))?
    }

    /// Wraps `secret` with `:encrypt`; returns the base64 ciphertext (the `enc` field).
    pub fn encrypt(&self, resource_id: &str, secret: &[u8]) -> Result<String, KmsError> {
        let pt = Zeroizing::new(B64.encode(secret));
        let ct = self.call(resource_id, "encrypt", "ciphertext", &pt)?;
        // normalise to standard padded base64 of the raw ciphertext, as sops stores it
        let raw = B64
            .decode(ct.as_str())
            .map_err(|_| KmsError::new(resource_id, "encrypt answer is not base64"))?;
        Ok(B64.encode(raw))
    }

    /// Unwraps a base64 ciphertext with `:decrypt`.
    pub fn decrypt(&self, resource_id: &str, enc: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        B64.decode(enc.trim())
            .map_err(|_| KmsError::new(resource_id, "enc is not valid base64"))?;
        let pt = self.call(resource_id, "decrypt", "plaintext", enc.trim())?;
        B64.decode(pt.as_str())
            .map(Zeroizing::new)
            .map_err(|_| KmsError::new(resource_id, "decrypt answer is not base64"))
    }

    /// Recovers the secret from one `gcp_kms` stanza of a file.
    pub fn unwrap_stanza(&self, stanza: &Value) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let st = GcpStanza::from_value(stanza)?;
        if st.enc.is_empty() {
            return Err(KmsError::new(&st.resource_id, "stanza has no enc"));
        }
        self.decrypt(&st.resource_id, &st.enc)
    }

    /// Wraps `secret` for the key a `gcp_kms` stanza names: the complete stanza
    /// with a fresh `enc` and `created_at`.
    pub fn wrap_stanza(&self, template: &Value, secret: &[u8]) -> Result<Value, KmsError> {
        let mut st = GcpStanza::from_value(template)?;
        st.enc = self.encrypt(&st.resource_id, secret)?;
        st.created_at = utc_now();
        Ok(st.to_value())
    }
}

fn token_from(status: u16, body: &[u8]) -> Result<Zeroizing<String>, String> {
    if !(200..300).contains(&status) {
        return Err(api_error(status, body));
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "answer is not JSON".to_owned())?;
    v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(|t| Zeroizing::new(t.to_owned()))
        .ok_or_else(|| "answer has no access_token".to_owned())
}

/// Whether this looks like a Google Cloud machine (DMI product name), so that the
/// metadata server is worth asking.
fn on_gce() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/product_name").is_ok_and(|s| s.contains("Google"))
}

fn gcloud_token() -> Result<Zeroizing<String>, String> {
    let out = std::process::Command::new("gcloud")
        .args(["auth", "print-access-token"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|_| {
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_OAUTH_ACCESS_TOKEN, or log in with gcloud".to_owned()
        })?;
    let t = Zeroizing::new(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if !out.status.success() || t.is_empty() {
        return Err(
            "`gcloud auth print-access-token` gave no token (run `gcloud auth login`)".into(),
        );
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_are_checked() {
        assert!(valid_resource_id(
            "projects/p-1/locations/global/keyRings/r/cryptoKeys/k_1"
        ));
        assert!(!valid_resource_id("projects/p/locations/global/keyRings/r"));
        assert!(!valid_resource_id(
            "projects/p/locations/global/keyRings/r/cryptoKeys/k/../x"
        ));
        assert!(!valid_resource_id(
            "projects/p?x/locations/l/keyRings/r/cryptoKeys/k"
        ));
    }

    #[test]
    fn api_errors_are_one_line() {
        let b = br#"{"error":{"code":403,"message":"Permission 'cloudkms.cryptoKeyVersions.useToDecrypt'\n denied","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(
            api_error(403, b),
            "PERMISSION_DENIED (403): Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied"
        );
        assert_eq!(api_error(502, b"<html>"), "HTTP 502");
    }
}
