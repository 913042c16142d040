//! A local AWS KMS for the tests: the `moto_server` that `./test.sh` starts on a
//! loopback port (`CLEF_TEST_AWS_ENDPOINT`). Each test creates its own keys.
//! Requests are plain HTTP/1.1 over `std::net` to 127.0.0.1 only; moto does not
//! check signatures, so a syntactically valid dummy `Authorization` is enough.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::{Dev, World, bin, ok, run, sops_bin};

/// Region every test key lives in.
pub const REGION: &str = "us-east-1";

/// The moto server of this test run.
#[derive(Debug, Clone)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    addr: String,
}

impl Moto {
    /// The server named by `CLEF_TEST_AWS_ENDPOINT`, or `None` (the test then skips)
    /// unless `CLEF_REQUIRE_MOTO=1`, when its absence is a failure.
    pub fn get() -> Option<Moto> {
        let Ok(endpoint) = std::env::var("CLEF_TEST_AWS_ENDPOINT") else {
            assert!(
                std::env::var("CLEF_REQUIRE_MOTO").as_deref() != Ok("1"),
                "moto_server is required (CLEF_REQUIRE_MOTO=1) but CLEF_TEST_AWS_ENDPOINT is not set; run ./test.sh"
            );
            eprintln!("skipping: CLEF_TEST_AWS_ENDPOINT not set (no moto_server)");
            return None;
        };
        let addr = endpoint
            .strip_prefix("http://")
            .expect("CLEF_TEST_AWS_ENDPOINT is http://127.0.0.1:PORT")
            .trim_end_matches('/')
            .to_owned();
        assert!(
            addr.starts_with("127.0.0.1:") || addr.starts_with("localhost:"),
            "the test KMS must be on loopback, not {addr}"
        );
        Some(Moto { endpoint, addr })
    }

    /// Calls one KMS operation (`TrentService.<op>`) and returns the JSON body;
    /// panics on a non-2xx answer.
    pub fn call(&self, op: &str, body: &str) -> String {
        let (status, text) = self.try_call(op, body);
        assert!(
            (200..300).contains(&status),
            "KMS {op} answered {status}: {text}"
        );
        text
    }

    /// Calls one KMS operation, returning the HTTP status and body.
    pub fn try_call(&self, op: &str, body: &str) -> (u16, String) {
        self.json_call(&format!("TrentService.{op}"), body)
    }

    /// One JSON 1.1 operation of any service (`X-Amz-Target`, e.g.
    /// `secretsmanager.GetSecretValue`, `AmazonSSM.GetParameter`).
    pub fn json_call(&self, target: &str, body: &str) -> (u16, String) {
        let service = match target.split('.').next() {
            Some("secretsmanager") => "secretsmanager",
            Some("AmazonSSM") => "ssm",
            _ => "kms",
        };
        self.http(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", target),
            ],
            body.as_bytes(),
            service,
        )
    }

    /// One raw HTTP request to the server (S3 REST calls: `PUT /bucket`,
    /// `GET /bucket/key`), returning the status and body.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        service: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect to moto_server");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=00\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        s.write_all(&bytes).expect("send request");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read response");
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("HTTP status line");
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Creates an S3 bucket with a fresh name and returns it.
    pub fn create_bucket(&self, hint: &str) -> String {
        let name = format!("{hint}-{}", unique());
        let (st, body) = self.http("PUT", &format!("/{name}"), &[], b"", "s3");
        assert!((200..300).contains(&st), "CreateBucket {name}: {st} {body}");
        name
    }

    /// Creates a fresh symmetric key and returns its ARN.
    pub fn create_key(&self) -> String {
        let body = self.call(
            "CreateKey",
            r#"{"Description":"clef test key","KeyUsage":"ENCRYPT_DECRYPT","KeySpec":"SYMMETRIC_DEFAULT"}"#,
        );
        json_str(&body, "Arn").expect("CreateKey returns an Arn")
    }

    /// Creates a fresh ECC_NIST_P256 signing key (SIGN_VERIFY) and returns its ARN.
    pub fn create_signing_key(&self) -> String {
        let body = self.call(
            "CreateKey",
            r#"{"Description":"clef test signing key","KeyUsage":"SIGN_VERIFY","KeySpec":"ECC_NIST_P256"}"#,
        );
        json_str(&body, "Arn").expect("CreateKey returns an Arn")
    }

    /// Disables a key (later Encrypt/Decrypt answer DisabledException).
    pub fn disable_key(&self, arn: &str) {
        // moto looks the key up by id, not by ARN
        let id = arn.rsplit('/').next().unwrap_or(arn);
        self.call("DisableKey", &format!(r#"{{"KeyId":"{id}"}}"#));
    }

    /// Sets the AWS variables a child process needs to reach this server with
    /// dummy credentials (and nothing from the developer's own AWS setup).
    pub fn env<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.env("AWS_ENDPOINT_URL_KMS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_STS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_S3", &self.endpoint)
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.endpoint)
            .env("AWS_ENDPOINT_URL_SSM", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    }
}

/// A name part unique to this process and call (for buckets, secrets, prefixes).
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The string value of `"field": "..."` in a flat JSON answer.
pub fn json_str(body: &str, field: &str) -> Option<String> {
    let pat = format!("\"{field}\"");
    let rest = &body[body.find(&pat)? + pat.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// A sops file with its random material masked (ciphertexts, IVs, tags, wrapped
/// keys, timestamps), so two files written by different tools at different times
/// compare equal exactly when their layout is the same.
pub fn mask_random(file: &str) -> String {
    let mut out = String::new();
    let mut in_armor = false;
    for line in file.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let t = line.trim_start();
        let masked = if t.starts_with("-----BEGIN AGE") {
            in_armor = true;
            line.to_owned()
        } else if t.starts_with("-----END AGE") {
            in_armor = false;
            line.to_owned()
        } else if in_armor {
            // age armor length differs between implementations: one line for the body
            if out.ends_with("…\n") {
                continue;
            }
            format!("{indent}…")
        } else if let Some(i) = line.find("ENC[AES256_GCM,") {
            let end = line[i..].find(']').map_or(line.len(), |e| i + e);
            let ty = line[i..end].rsplit(',').next().unwrap_or("");
            format!("{}ENC[…,{ty}]{}", &line[..i], &line[end + 1..])
        } else {
            let mut l = line.to_owned();
            for field in [
                "enc: ",
                "created_at: ",
                "lastmodified: ",
                "\"enc\": ",
                "\"created_at\": ",
                "\"lastmodified\": ",
            ] {
                if let Some(i) = line.find(field)
                    && !line[i + field.len()..].starts_with('|')
                {
                    l = format!("{}{field}…", &line[..i]);
                    break;
                }
            }
            l
        };
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

/// What a test of clef over AWS KMS needs: moto, the sops oracle, a world
/// of developers (`tests/e2e/kms_clef.rs`).
pub struct Kms {
    /// The moto server.
    pub moto: Moto,
    /// The developers' world.
    pub w: World,
}

impl Kms {
    /// `None` (the test skips) without moto or the oracle.
    pub fn new() -> Option<Kms> {
        let moto = Moto::get()?;
        sops_bin()?;
        Some(Kms {
            moto,
            w: World::new(),
        })
    }

    /// `program` as `d` runs it, with the AWS variables that reach moto.
    pub fn cmd(&self, d: &Dev, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = d.cmd(program);
        self.moto.env(&mut c);
        c
    }

    /// Runs `clef ARGS` as `d`, reaching moto.
    pub fn clef(&self, d: &Dev, args: &[&str]) -> Output {
        let mut c = self.cmd(d, bin("clef"));
        c.args(args);
        run(c)
    }

    /// `clef ARGS` as `d` must succeed; returns stdout.
    #[track_caller]
    pub fn ok(&self, d: &Dev, args: &[&str]) -> String {
        String::from_utf8(ok(self.clef(d, args))).expect("utf-8")
    }

    /// Runs git as `d`, reaching moto (the merge driver may call KMS).
    pub fn git(&self, d: &Dev, args: &[&str]) -> Output {
        let mut c = self.cmd(d, "git");
        c.args(args);
        run(c)
    }

    /// The real sops decrypts `rel` with only the given age identity (or
    /// none: KMS only), to what `clef sops decrypt` prints.
    #[track_caller]
    pub fn oracle(&self, d: &Dev, rel: &str, age: Option<&Path>) -> String {
        let mut c = self.cmd(d, sops_bin().unwrap());
        c.env(
            "SOPS_AGE_KEY_FILE",
            age.unwrap_or(Path::new("/nonexistent")),
        )
        .args(["decrypt", rel]);
        let theirs = run(c);
        assert!(
            theirs.status.success(),
            "sops cannot decrypt {rel}: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        String::from_utf8(theirs.stdout).unwrap()
    }

    /// A new key in moto and `name`'s repository (`api` × `dev`, `prod`)
    /// sealed for age: where the `migrate-backend` tests start.
    #[track_caller]
    pub fn key_and_age_repo(&self, name: &str) -> (String, Dev) {
        let arn = self.moto.create_key();
        let d = self.w.dev(name);
        self.ok(
            &d,
            &["init", "--namespaces", "api", "--environments", "dev,prod"],
        );
        (arn, d)
    }
}
