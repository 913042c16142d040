//! The GCP backend against a small local HTTP server (in this file) that
//! implements the documented Cloud KMS REST contract: `POST /v1/{name}:encrypt`
//! and `:decrypt` with base64 JSON fields, bearer auth, the OAuth2 JWT-bearer
//! token exchange (the JWT's RS256 signature is verified), the metadata
//! server's token endpoint, and Google's error shape
//! `{"error":{"code","message","status"}}`. No GCP emulator exists offline, so
//! this is all the GCP backend has been exercised against. Loopback only.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use clef_kms::{GcpKms, GcpStanza, gcp::GcpAuth};
use zeroize::Zeroizing;

const TOKEN: &str = "ya29.test-token";
const KEY: &str = "projects/p1/locations/global/keyRings/ring/cryptoKeys/sops";
const DENIED: &str = "projects/p1/locations/global/keyRings/ring/cryptoKeys/not-yours";

struct Server {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    token_requests: Arc<AtomicUsize>,
    /// failures to answer (503) before serving normally
    fail_next: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
    sa_file: std::path::PathBuf,
}

struct State {
    public_key: Vec<u8>,
    token_uri: String,
    keys: HashSet<String>,
    requests: Arc<AtomicUsize>,
    token_requests: Arc<AtomicUsize>,
    fail_next: Arc<AtomicUsize>,
}

fn respond(s: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn gerror(code: u16, status: &str, message: &str) -> (u16, String) {
    (
        code,
        serde_json::json!({"error": {"code": code, "message": message, "status": status}})
            .to_string(),
    )
}

/// A reversible stand-in for KMS encryption, bound to the key name.
fn seal(name: &str, pt: &[u8]) -> Vec<u8> {
    let pad: Vec<u8> = name.bytes().collect();
    let mut out = b"CK1:".to_vec();
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend(
        pt.iter()
            .enumerate()
            .map(|(i, b)| b ^ pad[i % pad.len()] ^ 0x5a),
    );
    out
}

fn open(name: &str, ct: &[u8]) -> Option<Vec<u8>> {
    let rest = ct.strip_prefix(b"CK1:")?;
    let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if rest.get(4..4 + n)? != name.as_bytes() {
        return None;
    }
    let pad: Vec<u8> = name.bytes().collect();
    Some(
        rest[4 + n..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ pad[i % pad.len()] ^ 0x5a)
            .collect(),
    )
}

fn handle(
    st: &State,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    st.requests.fetch_add(1, Ordering::SeqCst);
    if st
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return gerror(503, "UNAVAILABLE", "try again");
    }
    let header = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    if method == "POST" && path == "/token" {
        st.token_requests.fetch_add(1, Ordering::SeqCst);
        let form = String::from_utf8_lossy(body);
        let mut grant = "";
        let mut assertion = "";
        for kv in form.split('&') {
            match kv.split_once('=') {
                Some(("grant_type", v)) => grant = v,
                Some(("assertion", v)) => assertion = v,
                _ => {}
            }
        }
        if grant != "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" {
            return (400, r#"{"error":"unsupported_grant_type"}"#.into());
        }
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 {
            return (
                400,
                r#"{"error":"invalid_grant","error_description":"bad JWT"}"#.into(),
            );
        }
        let sig = B64URL.decode(parts[2]).unwrap_or_default();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &st.public_key,
        );
        if key
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .is_err()
        {
            return (
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.into(),
            );
        }
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[1]).unwrap_or_default())
                .unwrap_or_default();
        let header: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[0]).unwrap_or_default())
                .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ok = header["alg"] == "RS256"
            && claims["iss"] == "clef-test@p1.iam.gserviceaccount.com"
            && claims["aud"] == st.token_uri.as_str()
            && claims["scope"].as_str().is_some_and(|s| {
                s.split(' ')
                    .any(|x| x == "https://www.googleapis.com/auth/cloudkms")
            })
            && claims["exp"]
                .as_u64()
                .is_some_and(|e| e > now && e <= now + 3600 + 5);
        if !ok {
            return (
                400,
                r#"{"error":"invalid_grant","error_description":"bad claims"}"#.into(),
            );
        }
        return (
            200,
            format!(r#"{{"access_token":"{TOKEN}","expires_in":3599,"token_type":"Bearer"}}"#),
        );
    }
    if method == "GET" && path == "/computeMetadata/v1/instance/service-accounts/default/token" {
        if header("metadata-flavor") != Some("Google") {
            return (403, "missing Metadata-Flavor".into());
        }
        return (
            200,
            format!(r#"{{"access_token":"{TOKEN}","expires_in":3599,"token_type":"Bearer"}}"#),
        );
    }
    let Some((name, verb)) = path.strip_prefix("/v1/").and_then(|p| p.rsplit_once(':')) else {
        return gerror(404, "NOT_FOUND", "no such method");
    };
    if method != "POST" {
        return gerror(404, "NOT_FOUND", "no such method");
    }
    if header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return gerror(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if header("content-type") != Some("application/json") {
        return gerror(400, "INVALID_ARGUMENT", "expected JSON");
    }
    if name == DENIED {
        return gerror(
            403,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'cloudkms.cryptoKeyVersions.useTo{}' denied on resource '{name}' (or it may not exist).",
                if verb == "encrypt" {
                    "Encrypt"
                } else {
                    "Decrypt"
                }
            ),
        );
    }
    if !st.keys.contains(name) {
        return gerror(404, "NOT_FOUND", &format!("CryptoKey {name} not found."));
    }
    let req: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return gerror(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
    };
    match verb {
        "encrypt" => {
            let Some(pt) = req["plaintext"].as_str().and_then(|p| B64.decode(p).ok()) else {
                return gerror(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid value at 'plaintext' (TYPE_BYTES)",
                );
            };
            (
                200,
                serde_json::json!({
                    "name": format!("{name}/cryptoKeyVersions/1"),
                    "ciphertext": B64.encode(seal(name, &pt)),
                    "verifiedPlaintextCrc32c": false,
                    "protectionLevel": "SOFTWARE",
                })
                .to_string(),
            )
        }
        "decrypt" => {
            let Some(ct) = req["ciphertext"].as_str().and_then(|p| B64.decode(p).ok()) else {
                return gerror(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid value at 'ciphertext' (TYPE_BYTES)",
                );
            };
            match open(name, &ct) {
                Some(pt) => (
                    200,
                    serde_json::json!({"plaintext": B64.encode(pt), "usedPrimary": true})
                        .to_string(),
                ),
                None => gerror(
                    400,
                    "INVALID_ARGUMENT",
                    "Decryption failed: the ciphertext is invalid.",
                ),
            }
        }
        _ => gerror(404, "NOT_FOUND", "no such method"),
    }
}

fn serve(mut s: TcpStream, st: &State) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut it = line.split_whitespace();
    let (method, path) = (
        it.next().unwrap_or("").to_owned(),
        it.next().unwrap_or("").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0u8; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let (code, text) = handle(st, &method, &path, &headers, &body);
    respond(&mut s, code, &text);
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let pem_path = dir.path().join("key.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&pem_path)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl CLI (to make a throw-away service-account key)");
        assert!(ok.success());
        let pem = std::fs::read_to_string(&pem_path).unwrap();
        let der = B64
            .decode(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let kp = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let token_uri = format!("{endpoint}/token");
        let sa_file = dir.path().join("sa.json");
        std::fs::write(
            &sa_file,
            serde_json::json!({
                "type": "service_account",
                "project_id": "p1",
                "private_key_id": "0123",
                "private_key": pem,
                "client_email": "clef-test@p1.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            })
            .to_string(),
        )
        .unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let token_requests = Arc::new(AtomicUsize::new(0));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let st = Arc::new(State {
            public_key: kp.public().as_ref().to_vec(),
            token_uri,
            keys: [KEY.to_owned()].into_iter().collect(),
            requests: requests.clone(),
            token_requests: token_requests.clone(),
            fail_next: fail_next.clone(),
        });
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    serve(s, &st);
                });
            }
        });
        Server {
            endpoint,
            requests,
            token_requests,
            fail_next,
            _dir: dir,
            sa_file,
        }
    }

    fn kms(&self, auth: GcpAuth) -> GcpKms {
        GcpKms::new(&self.endpoint, auth, Duration::from_secs(5))
    }
}

fn template(id: &str) -> clef_doc::Value {
    GcpStanza::from_arg(id).to_value()
}

#[test]
fn service_account_jwt_is_exchanged_once_and_keys_round_trip() {
    let srv = Server::start();
    let kms = srv.kms(GcpAuth::ServiceAccount(srv.sa_file.clone()));
    let stanza = kms.wrap_stanza(&template(KEY), &[9u8; 32]).unwrap();
    let st = GcpStanza::from_value(&stanza).unwrap();
    assert_eq!(st.resource_id, KEY);
    assert!(st.created_at.ends_with('Z'));
    assert!(B64.decode(&st.enc).unwrap().starts_with(b"CK1:"));
    assert_eq!(&kms.unwrap_stanza(&stanza).unwrap()[..], &[9u8; 32]);
    assert_eq!(&kms.unwrap_stanza(&stanza).unwrap()[..], &[9u8; 32]);
    assert_eq!(
        srv.token_requests.load(Ordering::SeqCst),
        1,
        "token cached for the run"
    );
    let clef_doc::Value::Map(b) = stanza else {
        panic!("a stanza is a map")
    };
    assert_eq!(
        b.keys().collect::<Vec<_>>(),
        ["resource_id", "created_at", "enc"]
    );
}

#[test]
fn token_and_metadata_credentials_work() {
    let srv = Server::start();
    let by_token = srv.kms(GcpAuth::Token(Zeroizing::new(TOKEN.into())));
    let stanza = by_token.wrap_stanza(&template(KEY), b"share").unwrap();
    let host = srv.endpoint.trim_start_matches("http://").to_owned();
    let by_metadata = srv.kms(GcpAuth::Metadata(host));
    assert_eq!(&by_metadata.unwrap_stanza(&stanza).unwrap()[..], b"share");
}

#[test]
fn errors_name_the_resource_and_the_google_status() {
    let srv = Server::start();
    let kms = srv.kms(GcpAuth::Token(Zeroizing::new(TOKEN.into())));
    let e = kms.wrap_stanza(&template(DENIED), &[1; 32]).unwrap_err();
    assert_eq!(e.key, DENIED);
    assert!(e.reason.starts_with("PERMISSION_DENIED (403)"), "{e}");
    let missing = "projects/p1/locations/global/keyRings/ring/cryptoKeys/gone";
    let e = kms.wrap_stanza(&template(missing), &[1; 32]).unwrap_err();
    assert!(e.reason.starts_with("NOT_FOUND (404)"), "{e}");
    // a ciphertext of another key
    let stanza = kms.wrap_stanza(&template(KEY), &[1; 32]).unwrap();
    let mut st = GcpStanza::from_value(&stanza).unwrap();
    st.enc = B64.encode(seal(
        "projects/x/locations/l/keyRings/r/cryptoKeys/k",
        &[1; 32],
    ));
    let e = kms.unwrap_stanza(&st.to_value()).unwrap_err();
    assert!(e.reason.starts_with("INVALID_ARGUMENT (400)"), "{e}");
    let bad = srv.kms(GcpAuth::Token(Zeroizing::new("wrong".into())));
    let e = bad.unwrap_stanza(&stanza).unwrap_err();
    assert!(e.reason.starts_with("UNAUTHENTICATED (401)"), "{e}");
    assert!(!e.to_string().contains("wrong"), "no token in errors");
    let e = kms
        .wrap_stanza(&template("projects/p1/keyRings/r"), &[1; 32])
        .unwrap_err();
    assert!(e.reason.contains("not a Cloud KMS key resource id"), "{e}");
}

#[test]
fn transient_failures_are_retried_and_dead_endpoints_fail_fast() {
    let srv = Server::start();
    let kms = srv.kms(GcpAuth::Token(Zeroizing::new(TOKEN.into())));
    srv.fail_next.store(2, Ordering::SeqCst);
    let before = srv.requests.load(Ordering::SeqCst);
    kms.wrap_stanza(&template(KEY), &[1; 32]).unwrap();
    assert_eq!(
        srv.requests.load(Ordering::SeqCst) - before,
        3,
        "two 503s then success"
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = GcpKms::new(
        &format!("http://127.0.0.1:{port}"),
        GcpAuth::Token(Zeroizing::new(TOKEN.into())),
        Duration::from_secs(2),
    );
    let t = std::time::Instant::now();
    let e = dead.wrap_stanza(&template(KEY), &[1; 32]).unwrap_err();
    assert!(e.reason.contains("cannot reach 127.0.0.1"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn credential_sources_are_chosen_in_order() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(matches!(
        GcpAuth::select(env(&[
            ("GOOGLE_OAUTH_ACCESS_TOKEN", "t"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/sa.json")
        ])),
        GcpAuth::Token(_)
    ));
    assert!(matches!(
        GcpAuth::select(env(&[
            ("GOOGLE_APPLICATION_CREDENTIALS", "/sa.json"),
            ("GCE_METADATA_HOST", "127.0.0.1:1")
        ])),
        GcpAuth::ServiceAccount(_)
    ));
    assert!(matches!(
        GcpAuth::select(env(&[("GCE_METADATA_HOST", "127.0.0.1:1")])),
        GcpAuth::Metadata(h) if h == "127.0.0.1:1"
    ));
}
