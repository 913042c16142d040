//! `clef pack` through AWS, against the real moto_server of the test run:
//! the KMS-envelope path (opened independently by Python's `cryptography`
//! and boto3), KMS ECDSA signing (also for age identities, which the old tool
//! refused), `clef envelope verify|decrypt` with KMS, and the S3, Secrets
//! Manager and Parameter Store backends (64 KiB check, prune, nothing
//! delivered on error).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use crate::cli_support::{Dev, World, stderr};
use crate::pack_artifact::{PAYLOAD_PY, python};
use clef_e2e::aws::{Moto, json_str, unique};
use clef_e2e::{TestKey, run};

struct Aws {
    _w: World,
    d: Dev,
    m: Moto,
    /// The envelope key of `gw`/production.
    kms_key: String,
}

/// A repository with identities `gw` (api+web; production sealed with a
/// moto KMS key, dev with an age key).
fn setup() -> Option<Aws> {
    let m = Moto::get()?;
    let kms_key = m.create_key();
    let (w, d) = repo(&kms_key);
    Some(Aws {
        _w: w,
        d,
        m,
        kms_key,
    })
}

/// The repository of [`setup`], its `gw`/production sealed with `kms_key`.
fn repo(kms_key: &str) -> (World, Dev) {
    let w = World::new();
    let d = w.dev("pat");
    d.ok(&[
        "init",
        "--namespaces",
        "api,web",
        "--environments",
        "dev,production",
        "--backend",
        "age",
        "--non-interactive",
    ]);
    let mut man = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    man.push_str(&format!(
        "service_identities:\n  - name: gw\n    description: gateway\n    namespaces: [api, web]\n    pack_only: true\n    environments:\n      dev:\n        recipient: {}\n      production:\n        kms:\n          provider: aws\n          keyId: {kms_key}\n",
        TestKey::new(&d.home, "svc-dev.txt").recipient,
    ));
    std::fs::write(d.root.join("clef.yaml"), man).unwrap();
    for env in ["dev", "production"] {
        d.ok(&[
            "set",
            &format!("api/{env}"),
            "DB_URL",
            "postgres://canary-pw-4417@db",
        ]);
        d.ok(&["set", &format!("web/{env}"), "TOKEN", "web-canary-9931"]);
    }
    (w, d)
}

impl Aws {
    fn clef(&self, args: &[&str]) -> Output {
        let mut c = self.d.cmd(clef_e2e::bin("clef"));
        self.m.env(&mut c);
        c.args(args);
        run(c)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let o = self.clef(args);
        assert!(o.status.success(), "clef {args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    }

    #[track_caller]
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let o = self.clef(args);
        assert!(!o.status.success(), "clef {args:?} should fail");
        let e = stderr(&o);
        assert!(
            !e.contains("canary-pw-4417") && !e.contains("web-canary-9931"),
            "a value leaked: {e}"
        );
        (o.status.code().unwrap_or(-1), e)
    }

    /// Python (boto3 + cryptography, pointed at moto) running `code` with `args`.
    fn py(&self, code: &str, args: &[&str]) -> String {
        let python = python().expect("the test venv's python with cryptography");
        let mut c = Command::new(python);
        self.m.env(&mut c);
        c.env("AWS_DEFAULT_REGION", clef_e2e::aws::REGION)
            .env("MOTO", &self.m.endpoint)
            .arg("-c")
            .arg(code)
            .args(args)
            .stdin(Stdio::null());
        let o = c.output().expect("run python");
        assert!(
            o.status.success(),
            "python: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }
}

/// Opens a KMS-envelope artifact without Clef: boto3 `Decrypt` of the wrapped
/// key and AES-256-GCM with `cryptography`.
const OPEN_PY: &str = r#"
import base64, hashlib, json, os, sys, boto3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
a = json.load(open(sys.argv[1]))
e = a["envelope"]
kms = boto3.client("kms", endpoint_url=os.environ["MOTO"])
assert hashlib.sha256(a["ciphertext"].encode()).hexdigest() == a["ciphertextHash"]
assert e["provider"] == "aws" and e["algorithm"] == "SYMMETRIC_DEFAULT"
iv, tag = base64.b64decode(e["iv"]), base64.b64decode(e["authTag"])
assert len(iv) == 12 and len(tag) == 16
dek = kms.decrypt(CiphertextBlob=base64.b64decode(e["wrappedKey"]), KeyId=e["keyId"])["Plaintext"]
assert len(dek) == 32
plain = AESGCM(dek).decrypt(iv, base64.b64decode(a["ciphertext"]) + tag, None)
print(json.dumps(json.loads(plain), sort_keys=True))
"#;

/// The `clef-sig-v3` payload of an artifact (`a`, `payload`) and a KMS client (`kms`), in Python.
fn payload_py(rest: &str) -> String {
    format!(
        "{PAYLOAD_PY}\nimport os, boto3\nfrom cryptography.hazmat.primitives.asymmetric import ec\nfrom cryptography.hazmat.primitives import hashes\nkms = boto3.client(\"kms\", endpoint_url=os.environ[\"MOTO\"])\n{rest}"
    )
}

/// Checks clef's KMS signature. Clef sends KMS `Sign` the SHA-256 digest of
/// the payload with `MessageType: DIGEST` (what real KMS signs as is). moto
/// 5.2.5 does not implement DIGEST and signs those 32 bytes as a RAW message
/// (hashing them again), so through moto the signature verifies with the
/// digest as the message: that proves clef sent exactly SHA-256(payload).
const SIG_PY: &str = r#"
pub = load_der_public_key(kms.get_public_key(KeyId=sys.argv[2])["PublicKey"])
assert a["signatureAlgorithm"] == "ECDSA_SHA256"
pub.verify(base64.b64decode(a["signature"]), hashlib.sha256(payload).digest(), ec.ECDSA(hashes.SHA256()))
print("ok")
"#;

/// Re-signs an artifact the way real KMS signs a digest (moto's RAW mode over
/// the payload), for `clef envelope verify --signer-kms-key` to check.
const RESIGN_PY: &str = r#"
sig = kms.sign(KeyId=sys.argv[2], Message=payload, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
a["signature"] = base64.b64encode(sig).decode()
open(sys.argv[3], "w").write(json.dumps(a, indent=2))
"#;

fn edit_json(path: &Path, from: &Path, f: impl Fn(&mut String)) {
    let mut s = std::fs::read_to_string(from).unwrap();
    f(&mut s);
    std::fs::write(path, s).unwrap();
}

/// Replaces the string value of `"field": "…"` (first occurrence).
fn set_field(s: &mut String, field: &str, value: &str) {
    let pat = format!("\"{field}\": \"");
    let at = s.find(&pat).unwrap_or_else(|| panic!("{field}")) + pat.len();
    let end = at + s[at..].find('"').unwrap();
    s.replace_range(at..end, value);
}

#[test]
fn kms_envelope_pack_opens_in_python_and_kms_signatures_verify() {
    let Some(a) = setup() else { return };
    let sign_key = a.m.create_signing_key();
    let art = a.d.tmp.join("prod.json");
    let art_s = art.to_str().unwrap();
    let out = a.ok(&[
        "pack",
        "gw",
        "production",
        "-o",
        art_s,
        "--signing-kms-key",
        &sign_key,
        "--ttl",
        "3600",
        "--json",
    ]);
    assert!(
        out.contains("\"signatureAlgorithm\":\"ECDSA_SHA256\""),
        "{out}"
    );
    let text = std::fs::read_to_string(&art).unwrap();
    assert!(!text.contains("canary"), "plaintext in the artifact");
    // the reference's field order, with the envelope between ciphertext and expiresAt
    let order: Vec<usize> = [
        "\"version\"",
        "\"identity\"",
        "\"environment\"",
        "\"packedAt\"",
        "\"revision\"",
        "\"ciphertextHash\"",
        "\"ciphertext\"",
        "\"envelope\"",
        "\"provider\"",
        "\"keyId\"",
        "\"wrappedKey\"",
        "\"algorithm\"",
        "\"iv\"",
        "\"authTag\"",
        "\"expiresAt\"",
        "\"signature\"",
        "\"signatureAlgorithm\"",
    ]
    .iter()
    .map(|f| text.find(&format!("{f}:")).unwrap_or_else(|| panic!("{f}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(
        json_str(&text, "keyId").as_deref(),
        Some(a.kms_key.as_str())
    );

    // opened and its signature checked without Clef
    let plain = a.py(OPEN_PY, &[art_s]);
    assert_eq!(
        plain,
        r#"{"api": {"DB_URL": "postgres://canary-pw-4417@db"}, "web": {"TOKEN": "web-canary-9931"}}"#
    );
    assert_eq!(a.py(&payload_py(SIG_PY), &[art_s, &sign_key]), "ok");
    // clef envelope verifies with the public key from GetPublicKey (the
    // artifact re-signed as real KMS signs, see RESIGN_PY)
    a.py(&payload_py(RESIGN_PY), &[art_s, &sign_key, art_s]);
    a.ok(&["envelope", "verify", art_s, "--signer-kms-key", &sign_key]);
    let shown = a.ok(&[
        "envelope",
        "decrypt",
        art_s,
        "--signer-kms-key",
        &sign_key,
        "--key",
        "web__TOKEN",
    ]);
    assert!(shown.contains("web-canary-9931"), "{shown}");

    // a wrong signing key: exit 3
    let other = a.m.create_signing_key();
    assert_eq!(
        a.fails(&["envelope", "verify", art_s, "--signer-kms-key", &other])
            .0,
        3
    );
    // every envelope field is signed: changing one fails verification (3)
    let bad = a.d.tmp.join("bad.json");
    let bad_s = bad.to_str().unwrap();
    for (field, value) in [
        ("provider", "gcp"),
        ("keyId", "arn:aws:kms:us-east-1:123456789012:key/other"),
        ("wrappedKey", "AAAA"),
        ("algorithm", "RSAES_OAEP_SHA_256"),
        ("iv", "AAAAAAAAAAAAAAAA"),
        ("authTag", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("expiresAt", "2999-01-01T00:00:00.000Z"),
    ] {
        edit_json(&bad, &art, |s| set_field(s, field, value));
        let (code, e) = a.fails(&["envelope", "verify", bad_s, "--signer-kms-key", &sign_key]);
        assert_eq!(code, 3, "{field}: {e}");
    }
    // without a verify key a changed tag or IV still cannot decrypt (GCM): exit 4
    for (field, value) in [
        ("authTag", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("iv", "AAAAAAAAAAAAAAAA"),
    ] {
        edit_json(&bad, &art, |s| set_field(s, field, value));
        let (code, e) = a.fails(&["envelope", "decrypt", bad_s]);
        assert_eq!(code, 4, "{field}: {e}");
        assert!(e.contains("authentication failed"), "{e}");
    }

    // the old tool's bug: KMS signing of an age identity's artifact works
    let dev = a.d.tmp.join("dev.json");
    let dev_s = dev.to_str().unwrap();
    a.ok(&[
        "pack",
        "gw",
        "dev",
        "-o",
        dev_s,
        "--signing-kms-key",
        &sign_key,
    ]);
    assert_eq!(a.py(&payload_py(SIG_PY), &[dev_s, &sign_key]), "ok");
    let t = std::fs::read_to_string(&dev).unwrap();
    assert!(
        !t.contains("\"envelope\"") && t.contains("\"ECDSA_SHA256\""),
        "{t}"
    );

    // a KMS key the caller cannot use (moto 5.2.5 enforces neither
    // DisabledException nor key policies on Encrypt/Decrypt, so: a key that
    // does not exist): a clear error naming the key, nothing written
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000dead";
    let man = a.d.root.join("clef.yaml");
    let text = std::fs::read_to_string(&man).unwrap();
    std::fs::write(&man, text.replace(&a.kms_key, missing)).unwrap();
    let gone = a.d.tmp.join("denied.json");
    let (_, e) = a.fails(&["pack", "gw", "production", "-o", gone.to_str().unwrap()]);
    assert!(
        e.contains("NotFoundException") && e.contains(missing),
        "{e}"
    );
    assert!(!gone.exists());
    // decrypting needs the key too: exit 4 with the AWS error
    edit_json(&bad, &art, |s| set_field(s, "keyId", missing));
    let (code, e) = a.fails(&["envelope", "decrypt", bad_s]);
    assert_eq!(code, 4, "{e}");
    assert!(e.contains("NotFoundException"), "{e}");
}

#[test]
fn s3_backend_delivers_the_artifact() {
    let Some(a) = setup() else { return };
    let bucket = a.m.create_bucket("clef-pack");
    let url = format!("s3://{bucket}/gw/production.json");
    let out = a.ok(&["pack", "gw", "production", "-b", &url, "--json"]);
    assert!(out.contains(&format!("\"location\":\"{url}\"")), "{out}");
    let (st, body) = a.m.http(
        "GET",
        &format!("/{bucket}/gw/production.json"),
        &[],
        b"",
        "s3",
    );
    assert_eq!(st, 200, "{body}");
    let art = a.d.tmp.join("from-s3.json");
    std::fs::write(&art, &body).unwrap();
    let plain = a.py(OPEN_PY, &[art.to_str().unwrap()]);
    assert!(plain.contains("web-canary-9931"), "{plain}");
    // a missing bucket: the S3 error code, exit non-zero
    let (_, e) = a.fails(&[
        "pack",
        "gw",
        "production",
        "-b",
        "s3://clef-no-such-bucket-zz/k.json",
    ]);
    assert!(e.contains("NoSuchBucket"), "{e}");
}

fn secret(a: &Aws, name: &str) -> (u16, String) {
    a.m.json_call(
        "secretsmanager.GetSecretValue",
        &format!(r#"{{"SecretId":"{name}"}}"#),
    )
}

#[test]
fn secrets_manager_json_single_prune_and_the_64k_check() {
    let Some(a) = setup() else { return };
    let prefix = format!("clef/{}", unique());
    let out = a.ok(&[
        "pack",
        "gw",
        "production",
        "-b",
        "aws-secrets-manager",
        "--backend-opt",
        &format!("prefix={prefix}"),
        "--json",
    ]);
    assert!(
        out.contains("\"keys\":[\"api__DB_URL\",\"web__TOKEN\"]"),
        "{out}"
    );
    let (st, body) = secret(&a, &prefix);
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["SecretString"],
        r#"{"api__DB_URL":"postgres://canary-pw-4417@db","web__TOKEN":"web-canary-9931"}"#
    );

    // mode=single with prune: one secret per key; an orphan under the prefix goes
    let single = format!("clef/{}", unique());
    let orphan = format!("{single}/old__GONE");
    let (st, body) = a.m.json_call(
        "secretsmanager.CreateSecret",
        &format!(r#"{{"Name":"{orphan}","SecretString":"x"}}"#),
    );
    assert_eq!(st, 200, "{body}");
    a.ok(&[
        "pack",
        "gw",
        "dev",
        "-b",
        "aws-secrets-manager",
        "--backend-opt",
        &format!("prefix={single}"),
        "--backend-opt",
        "mode=single",
        "--backend-opt",
        "prune=true",
        "--backend-opt",
        "recovery-days=7",
    ]);
    let (st, body) = secret(&a, &format!("{single}/web__TOKEN"));
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("web-canary-9931"));
    let (_, body) = a.m.json_call(
        "secretsmanager.DescribeSecret",
        &format!(r#"{{"SecretId":"{orphan}"}}"#),
    );
    assert!(
        body.contains("DeletedDate"),
        "the orphan is scheduled for deletion: {body}"
    );

    // over 64 KiB: refused before anything is sent
    a.ok(&["set", "api/production", "BIG", &"x".repeat(70_000)]);
    let big = format!("clef/{}", unique());
    let (_, e) = a.fails(&[
        "pack",
        "gw",
        "production",
        "-b",
        "aws-secrets-manager",
        "--backend-opt",
        &format!("prefix={big}"),
    ]);
    assert!(e.contains("65536"), "{e}");
    let (st, body) = secret(&a, &big);
    assert!(
        st != 200 && body.contains("ResourceNotFoundException"),
        "nothing was created: {body}"
    );
}

#[test]
fn parameter_store_securestrings_tags_prune_and_nothing_on_error() {
    let Some(a) = setup() else { return };
    let prefix = format!("/clef/{}", unique());
    let orphan = format!("{prefix}/old__GONE");
    let (st, body) = a.m.json_call(
        "AmazonSSM.PutParameter",
        &format!(r#"{{"Name":"{orphan}","Value":"x","Type":"SecureString"}}"#),
    );
    assert_eq!(st, 200, "{body}");
    let out = a.ok(&[
        "pack",
        "gw",
        "production",
        "-b",
        "aws-parameter-store",
        "--backend-opt",
        &format!("prefix={prefix}"),
        "--backend-opt",
        "prune=true",
        "--json",
    ]);
    let rev = json_str(&out, "revision").unwrap();
    let (st, body) = a.m.json_call(
        "AmazonSSM.GetParameter",
        &format!(r#"{{"Name":"{prefix}/api__DB_URL","WithDecryption":true}}"#),
    );
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Parameter"]["Type"], "SecureString");
    assert_eq!(v["Parameter"]["Value"], "postgres://canary-pw-4417@db");
    let (_, tags) = a.m.json_call(
        "AmazonSSM.ListTagsForResource",
        &format!(r#"{{"ResourceType":"Parameter","ResourceId":"{prefix}/web__TOKEN"}}"#),
    );
    for t in [
        "clef:identity",
        "clef:environment",
        "clef:revision",
        "gw",
        "production",
        &rev,
    ] {
        assert!(tags.contains(&format!("\"{t}\"")), "{t}: {tags}");
    }
    let (st, _) = a.m.json_call(
        "AmazonSSM.GetParameter",
        &format!(r#"{{"Name":"{orphan}"}}"#),
    );
    assert_eq!(st, 400, "pruned");

    // a write that fails half-way (SSM refuses an empty value): what the run
    // wrote is rolled back, an overwritten parameter gets its old value back
    let fresh = format!("/clef/{}", unique());
    let (st, body) = a.m.json_call(
        "AmazonSSM.PutParameter",
        &format!(r#"{{"Name":"{fresh}/api__DB_URL","Value":"old-value","Type":"SecureString"}}"#),
    );
    assert_eq!(st, 200, "{body}");
    a.ok(&["set", "web/production", "ZZ_EMPTY", ""]);
    let (_, e) = a.fails(&[
        "pack",
        "gw",
        "production",
        "-b",
        "aws-parameter-store",
        "--backend-opt",
        &format!("prefix={fresh}"),
    ]);
    assert!(
        e.contains("web__ZZ_EMPTY") && e.contains("rolled back"),
        "{e}"
    );
    let (_, body) = a.m.json_call(
        "AmazonSSM.GetParametersByPath",
        &format!(r#"{{"Path":"{fresh}","WithDecryption":true}}"#),
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ps = v["Parameters"].as_array().unwrap();
    assert_eq!(ps.len(), 1, "{body}");
    assert_eq!(ps[0]["Value"], "old-value");
}

/// Starts a moto_server of its own that checks every request against IAM
/// (`INITIAL_NO_AUTH_ACTION_COUNT`: the first 4 calls, the set-up, go
/// unchecked), with a `workload` user, its access key, a KMS key and a bucket;
/// then replaces the user's policy on each stdin line ("allow everything but
/// the actions named"). Closing stdin stops the server. moto 5.2.5 ignores a
/// key's Disabled state and its key policy on Encrypt/Decrypt, so an IAM
/// denial is how a KMS that really says no is tested here.
const IAM_MOTO_PY: &str = r#"
import boto3, json, os, socket, subprocess, sys, time, urllib.request
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
p = subprocess.Popen([sys.argv[1], "-H", "127.0.0.1", "-p", str(port)],
                     env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4"),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    ep = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(ep + "/moto-api/", timeout=1); break
        except Exception:
            assert p.poll() is None, "moto_server exited"
            time.sleep(0.1)
    def doc(deny):
        st = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        if deny:
            st.append({"Effect": "Deny", "Action": deny, "Resource": "*"})
        return json.dumps({"Version": "2012-10-17", "Statement": st})
    root = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    iam = boto3.client("iam", **root)
    iam.create_user(UserName="workload")
    iam.put_user_policy(UserName="workload", PolicyName="clef", PolicyDocument=doc([]))
    k = iam.create_access_key(UserName="workload")["AccessKey"]
    arn = boto3.client("kms", **root).create_key(Description="clef IAM test key")["KeyMetadata"]["Arn"]
    me = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])
    boto3.client("s3", **me).create_bucket(Bucket="clef-iam")
    print(json.dumps({"endpoint": ep, "id": k["AccessKeyId"], "secret": k["SecretAccessKey"], "key": arn}), flush=True)
    for line in sys.stdin:
        if line.startswith("exists "):
            try:
                boto3.client("s3", **me).head_object(Bucket="clef-iam", Key=line.split()[1]); print("yes", flush=True)
            except Exception:
                print("no", flush=True)
            continue
        boto3.client("iam", **me).put_user_policy(UserName="workload", PolicyName="clef", PolicyDocument=doc(line.split()))
        print("ok", flush=True)
finally:
    p.kill()
"#;

/// A moto_server that enforces IAM (see [`IAM_MOTO_PY`]): bucket `clef-iam`,
/// a KMS key, and the `workload` user's credentials.
pub(crate) struct IamMoto {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    id: String,
    secret: String,
    /// The KMS key's ARN.
    pub key: String,
}

impl IamMoto {
    /// `None` (the test skips) without the test venv, unless the test command
    /// requires moto.
    pub(crate) fn start() -> Option<IamMoto> {
        let Some(py) = python() else {
            assert!(
                std::env::var("CLEF_REQUIRE_MOTO").as_deref() != Ok("1"),
                "moto_server is required but the test venv is missing; run ./test.sh"
            );
            return None;
        };
        let moto = py.with_file_name("moto_server");
        let mut c = Command::new(&py);
        c.arg("-c")
            .arg(IAM_MOTO_PY)
            .arg(&moto)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = c.spawn().expect("start the IAM-checking moto_server");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the IAM moto did not start: {line}"));
        let f = |k: &str| v[k].as_str().unwrap().to_owned();
        Some(IamMoto {
            endpoint: f("endpoint"),
            id: f("id"),
            secret: f("secret"),
            key: f("key"),
            child,
            stdin,
            stdout,
        })
    }

    fn say(&mut self, line: &str) -> String {
        let i = self.stdin.as_mut().unwrap();
        writeln!(i, "{line}").unwrap();
        i.flush().unwrap();
        let mut out = String::new();
        self.stdout.read_line(&mut out).unwrap();
        out.trim().to_owned()
    }

    /// The workload may do everything but `actions` (`kms:Decrypt`, `s3:GetObject`...).
    pub(crate) fn deny(&mut self, actions: &[&str]) {
        assert_eq!(self.say(&actions.join(" ")), "ok");
    }

    /// Whether `key` exists in bucket `clef-iam`.
    pub(crate) fn exists(&mut self, key: &str) -> bool {
        self.say(&format!("exists {key}")) == "yes"
    }

    /// The AWS variables of a process running as the workload user.
    pub(crate) fn env<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        for v in ["KMS", "STS", "S3", "SECRETS_MANAGER", "SSM"] {
            c.env(format!("AWS_ENDPOINT_URL_{v}"), &self.endpoint);
        }
        c.env("AWS_ACCESS_KEY_ID", &self.id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", clef_e2e::aws::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("CLEF_KMS_TIMEOUT", "5")
    }

    /// Stops the server (closing stdin ends the script, which kills moto).
    pub(crate) fn stop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for IamMoto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `repo` with `gw`/production sealed by the IAM moto's key, and `clef`
/// run as its workload user.
fn iam_clef(m: &IamMoto, d: &Dev, args: &[&str]) -> Output {
    let mut c = d.cmd(clef_e2e::bin("clef"));
    m.env(&mut c);
    c.args(args);
    run(c)
}

#[test]
fn denied_kms_names_the_key_and_the_aws_code_and_delivers_nothing() {
    let Some(mut m) = IamMoto::start() else {
        return;
    };
    let (_w, d) = repo(&m.key);
    let file = d.tmp.join("denied.json");
    // allowed: the artifact reaches S3
    let o = iam_clef(
        &m,
        &d,
        &["pack", "gw", "production", "-b", "s3://clef-iam/ok.json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(m.exists("ok.json"));
    // Encrypt denied: one line naming the key and the AWS code; nothing
    // written, nothing delivered
    m.deny(&["kms:Encrypt"]);
    for target in [
        vec!["-b", "s3://clef-iam/denied.json"],
        vec!["-o", file.to_str().unwrap()],
    ] {
        let mut args = vec!["pack", "gw", "production"];
        args.extend(&target);
        let o = iam_clef(&m, &d, &args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{target:?} should fail");
        assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
        assert!(e.contains(&m.key) && e.contains("AccessDenied"), "{e}");
        assert!(!e.contains("canary"), "a value leaked: {e}");
    }
    assert!(!m.exists("denied.json"), "nothing delivered");
    assert!(!file.exists(), "nothing written");
    // KMS signing denied: the same
    m.deny(&["kms:Sign"]);
    let key = m.key.clone();
    let o = iam_clef(
        &m,
        &d,
        &[
            "pack",
            "gw",
            "production",
            "-o",
            file.to_str().unwrap(),
            "--signing-kms-key",
            &key,
        ],
    );
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("AccessDenied") && e.contains(&m.key),
        "{e}"
    );
    assert!(!file.exists(), "nothing written");
}
