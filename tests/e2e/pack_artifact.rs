//! `clef pack`, `clef envelope`, `clef revoke`, `clef keygen signing`,
//! checked against independent implementations: the `age` CLI opens the
//! artifact, Python's `cryptography` rebuilds the `clef-sig-v3` payload and
//! verifies the Ed25519 signature (and signs with its own key for us to
//! verify), `hashlib` recomputes `ciphertextHash`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::cli_support::{Dev, World, assert_no_plaintext, stderr};
use clef_e2e::{TestKey, ok, run};

/// The test venv's Python (with `cryptography`): `CLEF_TEST_PYTHON`, else
/// `~/.cache/clef-test/venv/bin/python`. Required when the test command runs.
pub(crate) fn python() -> Option<PathBuf> {
    let found = [
        std::env::var_os("CLEF_TEST_PYTHON").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/clef-test/venv/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|p| {
        p.is_file()
            && Command::new(p)
                .args(["-c", "import cryptography"])
                .output()
                .is_ok_and(|o| o.status.success())
    });
    if found.is_none() && std::env::var("CLEF_REQUIRE_ORACLE").as_deref() == Ok("1") {
        panic!(
            "Python with `cryptography` is required (CLEF_REQUIRE_ORACLE=1); set CLEF_TEST_PYTHON"
        );
    }
    found
}

/// Runs `program FLAG script args…` and returns its trimmed stdout.
fn script(program: &Path, flag: &str, script: &str, args: &[&str]) -> String {
    let o = Command::new(program)
        .arg(flag)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    assert!(
        o.status.success(),
        "{}: {}",
        program.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn py(python: &Path, code: &str, args: &[&str]) -> String {
    script(python, "-c", code, args)
}

/// A repository with namespaces api, web, db; identity `gw` reads api+web in
/// production with its own age key. db/production is encrypted for someone
/// else only, so a pack that touched it would fail.
struct Setup {
    _w: World,
    d: Dev,
    svc: TestKey,
}

fn setup() -> Setup {
    let w = World::new();
    let d = w.dev("pat");
    d.ok(&[
        "init",
        "--namespaces",
        "api,web,db",
        "--environments",
        "dev,production",
        "--backend",
        "age",
        "--non-interactive",
    ]);
    let svc = TestKey::new(&d.home, "svc-keys.txt");
    let other = TestKey::new(&d.home, "other-keys.txt");
    let mut m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    m.push_str(&format!(
        "service_identities:\n  - name: gw\n    description: gateway\n    namespaces: [web, api]\n    environments:\n      dev:\n        recipient: {}\n      production:\n        recipient: {}\n",
        TestKey::new(&d.home, "svc-dev.txt").recipient,
        svc.recipient
    ));
    std::fs::write(d.root.join("clef.yaml"), m).unwrap();
    d.ok(&[
        "set",
        "api/production",
        "DB_URL",
        "postgres://gw:canary-pw-4417@db/app",
    ]);
    d.ok(&["set", "api/production", "QUOTE", "a\"b\\c<&>\u{e9}\nline2"]);
    d.ok(&["set", "web/production", "TOKEN", "web-canary-9931"]);
    d.ok(&["set", "db/production", "ROOT", "db-canary-5120"]);
    // db/production: only `other` can read it now (re-keyed outside the
    // repository, where no clef.yaml governs it, then put back).
    let f = d.root.join("secrets/db/production.enc.yaml");
    let outside = d.tmp.join("production.enc.yaml");
    std::fs::copy(&f, &outside).unwrap();
    let mut c = d.cmd(clef_e2e::bin("clef"));
    c.env("SOPS_AGE_KEY_FILE", d.identity())
        .args([
            "sops",
            "updatekeys",
            "--add-age",
            &other.recipient,
            "--rm-age",
            &d.recipient(),
        ])
        .arg(&outside);
    ok(run(c));
    std::fs::rename(&outside, &f).unwrap();
    Setup { _w: w, d, svc }
}

fn keygen(d: &Dev) -> (String, String) {
    let out = d.ok(&["keygen", "signing", "--json"]);
    let field = |k: &str| {
        let at = out.find(&format!("\"{k}\":\"")).expect(k) + k.len() + 4;
        out[at..at + out[at..].find('"').unwrap()].to_owned()
    };
    (field("privateKey"), field("publicKey"))
}

fn clef_env(d: &Dev, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = d.cmd(clef_e2e::bin("clef"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args);
    run(c)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Python: `a` (the artifact JSON of argv[1]) and `payload` (its `clef-sig-v3` bytes).
pub(crate) const PAYLOAD_PY: &str = r#"
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.serialization import load_der_public_key
a = json.load(open(sys.argv[1]))
e = a.get("envelope") or {}
fields = ["clef-sig-v3", str(a["version"]), a["identity"], a["environment"], a["revision"],
          a["packedAt"], a["ciphertextHash"], a.get("expiresAt", "")] + \
         [e.get(k, "") for k in ("provider", "keyId", "wrappedKey", "algorithm", "iv", "authTag")]
payload = "\n".join(fields).encode()
"#;

const VERIFY_PY: &str = r#"
assert hashlib.sha256(a["ciphertext"].encode()).hexdigest() == a["ciphertextHash"], "hash"
key = load_der_public_key(base64.b64decode(sys.argv[2]))
key.verify(base64.b64decode(a["signature"]), payload)
print(a["signatureAlgorithm"], len(base64.b64decode(sys.argv[2])))
"#;

const KEYGEN_PY: &str = r#"
import base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization as s
k = Ed25519PrivateKey.generate()
print(base64.b64encode(k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())).decode())
print(base64.b64encode(k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)).decode())
"#;

#[test]
fn pack_is_wire_compatible_and_opens_with_age_and_python() {
    let s = setup();
    let d = &s.d;
    let (private, public) = keygen(d);
    let out = clef_env(
        d,
        &[("CLEF_SIGNING_KEY", &private)],
        &["pack", "gw", "production", "--ttl", "3600", "--json"],
    );
    let summary = String::from_utf8(ok(out)).unwrap();
    let path = d.root.join(".clef/packed/gw/production.age.json");
    for want in [
        "\"identity\":\"gw\"",
        "\"environment\":\"production\"",
        "\"keyCount\":3",
        "\"namespaceCount\":2",
        "\"backend\":\"json-envelope\"",
        "\"keys\":[\"api__DB_URL\",\"api__QUOTE\",\"web__TOKEN\"]",
        &format!("\"location\":\"{}\"", path.display()),
    ] {
        assert!(summary.contains(want), "{want} in {summary}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \"version\": 1,\n  \"identity\": \"gw\",\n  \"environment\": \"production\",\n  \"packedAt\": \""));
    assert!(
        text.ends_with("\"signatureAlgorithm\": \"Ed25519\"\n}"),
        "no trailing newline"
    );
    let order: Vec<usize> = [
        "packedAt",
        "revision",
        "ciphertextHash",
        "ciphertext\"",
        "expiresAt",
        "signature\"",
        "signatureAlgorithm",
    ]
    .iter()
    .map(|k| text.find(&format!("\"{k}")).expect(k))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "field order");

    // the age CLI opens the binary age ciphertext with the service's key
    let tmp = d.tmp.join("ct.age");
    let ct = text
        .split("\"ciphertext\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut c = Command::new("base64");
    c.arg("-d").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().expect("base64");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), ct.as_bytes()).unwrap();
    let bin = child.wait_with_output().unwrap().stdout;
    assert!(
        bin.starts_with(b"age-encryption.org/v1\n-> X25519 "),
        "binary age, one X25519 stanza"
    );
    std::fs::write(&tmp, &bin).unwrap();
    let plain = ok(run({
        let mut c = Command::new("age");
        c.arg("-d").arg("-i").arg(&s.svc.file).arg(&tmp);
        c
    }));
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        "{\"api\":{\"DB_URL\":\"postgres://gw:canary-pw-4417@db/app\",\"QUOTE\":\"a\\\"b\\\\c<&>\u{e9}\\nline2\"},\"web\":{\"TOKEN\":\"web-canary-9931\"}}",
        "JSON.stringify of {{ns:{{KEY:value}}}} in manifest namespace order"
    );
    std::fs::remove_file(&tmp).unwrap();

    // Python rebuilds the payload and verifies the signature with our SPKI key
    if let Some(python) = python() {
        let r = py(
            &python,
            &format!("{PAYLOAD_PY}{VERIFY_PY}"),
            &[path.to_str().unwrap(), &public],
        );
        assert_eq!(r, "Ed25519 44");
        // and the other way: a key made by Python signs, clef verifies
        let keys = py(&python, KEYGEN_PY, &[]);
        let (pk8, spki) = keys.split_once('\n').unwrap();
        let o = d.clef(&[
            "pack",
            "gw",
            "production",
            "--signing-key",
            pk8,
            "-o",
            "py.json",
        ]);
        ok(o);
        let r = py(
            &python,
            &format!("{PAYLOAD_PY}{VERIFY_PY}"),
            &[d.root.join("py.json").to_str().unwrap(), spki],
        );
        assert_eq!(r, "Ed25519 44");
        ok(d.clef(&["envelope", "verify", "py.json", "--signer-key", spki]));
        assert_eq!(
            code(&d.clef(&["envelope", "verify", "py.json", "--signer-key", &public])),
            3
        );
    }

    // envelope verify / decrypt
    let p = path.to_str().unwrap();
    let v = d.ok(&["envelope", "verify", p, "--signer-key", &public, "--json"]);
    assert!(
        v.contains("\"hash\":{\"status\":\"ok\"}") && v.contains("\"overall\":\"pass\""),
        "{v}"
    );
    let key_env = [("CLEF_AGE_KEY_FILE", s.svc.file.to_str().unwrap())];
    let o = clef_env(d, &key_env, &["envelope", "decrypt", p]);
    let masked = String::from_utf8(ok(o)).unwrap();
    assert_eq!(
        masked,
        "api__DB_URL=********\napi__QUOTE=********\nweb__TOKEN=********\n"
    );
    let o = clef_env(
        d,
        &key_env,
        &["envelope", "decrypt", p, "--key", "web__TOKEN"],
    );
    assert!(stderr(&o).contains("warning"));
    assert_eq!(
        String::from_utf8(ok(o)).unwrap(),
        "api__DB_URL=********\napi__QUOTE=********\nweb__TOKEN=web-canary-9931\n"
    );
    let o = clef_env(d, &key_env, &["envelope", "decrypt", p, "--key", "nope__X"]);
    assert_eq!(code(&o), 4);
    let o = clef_env(
        d,
        &[("CLEF_AGE_KEY_FILE", d.identity().to_str().unwrap())],
        &["envelope", "decrypt", p],
    );
    assert_eq!(code(&o), 4, "the developer is not the service's recipient");

    // nothing in clear on disk, in the work tree or git objects
    d.git(&["add", "-A"]);
    d.git(&["commit", "-qm", "packed"]);
    assert_no_plaintext(
        &d.root,
        &["canary-pw-4417", "web-canary-9931", "db-canary-5120"],
    );
}

#[test]
fn bad_artifacts_fail_with_the_reference_exit_codes() {
    let s = setup();
    let d = &s.d;
    let (private, public) = keygen(d);
    ok(clef_env(
        d,
        &[("CLEF_SIGNING_KEY", &private)],
        &["pack", "gw", "production", "-o", "a.json"],
    ));
    let good = std::fs::read_to_string(d.root.join("a.json")).unwrap();
    let key_env = [("CLEF_AGE_KEY_FILE", s.svc.file.to_str().unwrap())];
    let field = |k: &str| -> String {
        good.split(&format!("\"{k}\": \""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let flip = |v: &str| -> String {
        let mut c: Vec<char> = v.chars().collect();
        let i = c.len() / 2;
        c[i] = if c[i] == '1' { '2' } else { '1' };
        c.into_iter().collect()
    };
    // (field, verify exit, decrypt-with-key exit)
    for (k, v_exit, d_exit) in [
        ("identity", 3, 3),
        ("environment", 3, 3),
        ("packedAt", 3, 3),
        ("revision", 3, 3),
        ("ciphertextHash", 2, 2),
        ("ciphertext", 2, 2),
        ("signature", 3, 3),
    ] {
        let bad = good.replacen(&field(k), &flip(&field(k)), 1);
        assert_ne!(bad, good, "{k}");
        std::fs::write(d.root.join("bad.json"), &bad).unwrap();
        let o = d.clef(&["envelope", "verify", "bad.json", "--signer-key", &public]);
        assert_eq!(code(&o), v_exit, "verify {k}: {}", stderr(&o));
        let o = clef_env(
            d,
            &key_env,
            &["envelope", "decrypt", "bad.json", "--signer-key", &public],
        );
        assert_eq!(code(&o), d_exit, "decrypt {k}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{k}: nothing printed");
    }
    // an expiresAt added after signing
    let bad = good.replacen(
        "\n  \"signature\"",
        "\n  \"expiresAt\": \"2999-01-01T00:00:00.000Z\",\n  \"signature\"",
        1,
    );
    std::fs::write(d.root.join("bad.json"), bad).unwrap();
    assert_eq!(
        code(&d.clef(&["envelope", "verify", "bad.json", "--signer-key", &public])),
        3
    );
    // another signing key
    let (_, other_pub) = keygen(d);
    assert_eq!(
        code(&d.clef(&["envelope", "verify", "a.json", "--signer-key", &other_pub])),
        3
    );
    // not JSON / not an artifact
    std::fs::write(d.root.join("bad.json"), "{\"version\": 2}").unwrap();
    assert_eq!(code(&d.clef(&["envelope", "inspect", "bad.json"])), 1);
    // expired
    ok(d.clef(&["pack", "gw", "production", "--ttl", "1", "-o", "e.json"]));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = clef_env(d, &key_env, &["envelope", "decrypt", "e.json"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("expired"));
    // revoked: the marker replaces the delivered artifact
    ok(d.clef(&["pack", "gw", "production"]));
    let r = d.ok(&["revoke", "gw", "production", "--json"]);
    assert!(
        r.contains("\"markerPath\":\".clef/packed/gw/production.age.json\""),
        "{r}"
    );
    let marker =
        std::fs::read_to_string(d.root.join(".clef/packed/gw/production.age.json")).unwrap();
    assert!(marker.starts_with("{\n  \"version\": 1,\n  \"identity\": \"gw\",\n  \"environment\": \"production\",\n  \"revokedAt\": \"") && marker.ends_with("\"\n}\n"));
    let o = clef_env(
        d,
        &key_env,
        &["envelope", "decrypt", ".clef/packed/gw/production.age.json"],
    );
    assert_eq!(code(&o), 5);
    // bad invocations: one line, non-zero, nothing written
    for (args, want) in [
        (
            vec!["pack", "nope", "production"],
            "unknown service identity 'nope'",
        ),
        (
            vec!["pack", "gw", "staging"],
            "no key for environment 'staging'",
        ),
        (
            vec![
                "pack",
                "gw",
                "production",
                "--signing-key",
                "bm90LWEta2V5",
                "-o",
                "x.json",
            ],
            "invalid signing key",
        ),
        (
            vec!["pack", "gw", "production", "-b", "s3://b"],
            "not an s3://bucket/key URL",
        ),
        (
            vec!["pack", "gw", "production", "-b", "vault"],
            "unknown backend 'vault'",
        ),
        (
            vec!["pack", "gw", "production", "-b", "aws-secrets-manager"],
            "needs --backend-opt prefix=",
        ),
        (
            vec![
                "pack",
                "gw",
                "production",
                "-b",
                "aws-secrets-manager",
                "--backend-opt",
                "prefix=p",
                "--backend-opt",
                "prune=true",
            ],
            "only allowed with mode=single",
        ),
        (
            vec![
                "pack",
                "gw",
                "production",
                "-b",
                "aws-parameter-store",
                "--backend-opt",
                "prefix=app",
            ],
            "must start with '/'",
        ),
        (
            vec!["pack", "gw", "production", "--backend-opt", "tier=Advanced"],
            "not an option of json-envelope",
        ),
        (vec!["revoke", "gw", "qa"], "no key for environment"),
    ] {
        let o = d.clef(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        let e = stderr(&o);
        assert!(e.contains(want) && e.lines().count() == 1, "{args:?}: {e}");
    }
    assert!(!d.root.join("x.json").exists());
    // a Secrets Manager payload over 64 KiB is refused before anything is sent
    let big: String = (0..70)
        .map(|i| format!("BIG_{i:02}={}\n", "x".repeat(1000)))
        .collect();
    std::fs::write(d.tmp.join("big.env"), big).unwrap();
    ok(d.clef(&[
        "import",
        "web/production",
        d.tmp.join("big.env").to_str().unwrap(),
    ]));
    std::fs::remove_file(d.tmp.join("big.env")).unwrap();
    let o = d.clef(&[
        "pack",
        "gw",
        "production",
        "-b",
        "aws-secrets-manager",
        "--backend-opt",
        "prefix=app/prod",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("over the 65536-byte limit; use mode=single"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("xxxxxxxx"));
    let _ = private;
}

/// Node, the old tool's runtime, with its signer's exact calls
/// (`core/src/artifact/signer.ts`): a key pair made by
/// `generateKeyPairSync("ed25519")` signs through `clef pack`, and
/// `crypto.verify(null, payload, spki)` accepts the result; `JSON.stringify(a,
/// null, 2)` of the parsed artifact gives back the same bytes.
#[test]
fn node_reads_and_verifies_like_the_typescript_clef() {
    let Some(node) = which("node") else {
        if std::env::var("CLEF_REQUIRE_ORACLE").as_deref() == Ok("1") {
            panic!("node is required (CLEF_REQUIRE_ORACLE=1)");
        }
        eprintln!("skipped: node not installed");
        return;
    };
    let s = setup();
    let d = &s.d;
    let keys = node_out(
        &node,
        r#"const c=require("crypto");const p=c.generateKeyPairSync("ed25519");
console.log(p.privateKey.export({type:"pkcs8",format:"der"}).toString("base64"));
console.log(p.publicKey.export({type:"spki",format:"der"}).toString("base64"));"#,
        &[],
    );
    let (pk8, spki) = keys.split_once('\n').unwrap();
    ok(d.clef(&[
        "pack",
        "gw",
        "production",
        "--ttl",
        "600",
        "--signing-key",
        pk8,
        "-o",
        "n.json",
    ]));
    let path = d.root.join("n.json");
    let r = node_out(
        &node,
        r#"const crypto=require("crypto"),fs=require("fs");
const raw=fs.readFileSync(process.argv[1],"utf8"), a=JSON.parse(raw), e=a.envelope;
const f=["clef-sig-v3",String(a.version),a.identity,a.environment,a.revision,a.packedAt,a.ciphertextHash,
 a.expiresAt??"",e?.provider??"",e?.keyId??"",e?.wrappedKey??"",e?.algorithm??"",e?.iv??"",e?.authTag??""];
const k=crypto.createPublicKey({key:Buffer.from(process.argv[2],"base64"),format:"der",type:"spki"});
console.log(crypto.verify(null,Buffer.from(f.join("\n"),"utf-8"),k,Buffer.from(a.signature,"base64")),
 crypto.createHash("sha256").update(a.ciphertext).digest("hex")===a.ciphertextHash,
 JSON.stringify(a,null,2)===raw, new Date(a.expiresAt).getTime()-new Date(a.packedAt).getTime());"#,
        &[path.to_str().unwrap(), spki],
    );
    assert_eq!(r, "true true true 600000");
    ok(d.clef(&["envelope", "verify", "n.json", "--signer-key", spki]));

    // the other way: an artifact built as the old packer builds it (the `age`
    // CLI seals the payload, node lays out and signs) is read by clef
    let payload = "{\"api\":{\"K\":\"node-made-canary\"}}";
    let mut c = Command::new("age");
    c.args(["-r", &s.svc.recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("age");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), payload.as_bytes()).unwrap();
    let sealed = child.wait_with_output().unwrap();
    assert!(sealed.status.success());
    let ct = base64_std(&sealed.stdout);
    let out = d.root.join("old.json");
    node_out(
        &node,
        r#"const crypto=require("crypto"),fs=require("fs");
const [ct,pk8,out]=process.argv.slice(1), now=Date.now();
const a={version:1,identity:"gw",environment:"production",packedAt:new Date(now).toISOString(),
 revision:`${Date.now()}-${crypto.randomBytes(4).toString("hex")}`,
 ciphertextHash:crypto.createHash("sha256").update(ct).digest("hex"),ciphertext:ct,
 expiresAt:new Date(now+60000).toISOString()};
const f=["clef-sig-v3",String(a.version),a.identity,a.environment,a.revision,a.packedAt,a.ciphertextHash,a.expiresAt,"","","","","",""];
const key=crypto.createPrivateKey({key:Buffer.from(pk8,"base64"),format:"der",type:"pkcs8"});
a.signature=crypto.sign(null,Buffer.from(f.join("\n")),key).toString("base64");a.signatureAlgorithm="Ed25519";
fs.writeFileSync(out,JSON.stringify(a,null,2));"#,
        &[&ct, pk8, out.to_str().unwrap()],
    );
    let mut c = d.cmd(clef_e2e::bin("clef"));
    c.env("CLEF_AGE_KEY_FILE", &s.svc.file).args([
        "envelope",
        "decrypt",
        "old.json",
        "--signer-key",
        spki,
        "--reveal",
    ]);
    assert_eq!(
        String::from_utf8(ok(run(c))).unwrap(),
        "api__K=node-made-canary\n"
    );
    std::fs::remove_file(&out).unwrap();
}

/// Standard padded base64 (the `base64` tool, so the test needs no crate).
fn base64_std(bytes: &[u8]) -> String {
    let mut c = Command::new("base64");
    c.arg("-w0").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().expect("base64");
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    String::from_utf8(o.stdout).unwrap()
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|f| f.is_file())
    })
}

fn node_out(node: &Path, code: &str, args: &[&str]) -> String {
    script(node, "-e", code, args)
}
