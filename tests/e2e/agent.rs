//! `clef-agent` end to end: artifacts made by the real `clef pack`, the
//! agent binary started as a process, real HTTP over 127.0.0.1 (a raw
//! client, so every header is ours to set), a real local HTTP source with
//! ETags. Every bad case checks the status and that nothing is served that
//! should not be; no value may reach the disk cache, the logs, or the
//! agent's own environment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli_support::{Dev, World};
use crate::tls::TlsServer;
use clef_e2e::{TestKey, ok};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const DB_URL: &str = "postgres://gw:agent-canary-7731@db/app";
const WEB_TOKEN: &str = "web-agent-canary-2284";

/// A repository with identity `gw` (api + web, production) and a signing key.
struct Fx {
    _w: World,
    d: Dev,
    svc: TestKey,
    private: String,
    public: String,
}

fn fixture() -> Fx {
    fixture_with(|svc| format!("        recipient: {}\n", svc.recipient))
}

/// [`fixture`] with `production`'s entry under `service_identities` given
/// by `production(svc)` (indented lines, e.g. a `kms:` block).
fn fixture_with(production: impl Fn(&TestKey) -> String) -> Fx {
    let w = World::new();
    let d = w.dev("ops");
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
    let svc = TestKey::new(&d.home, "svc-keys.txt");
    let prod = production(&svc);
    let mut m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    m.push_str(&format!(
        "service_identities:\n  - name: gw\n    description: gateway\n    namespaces: [api, web]\n{}    environments:\n      dev:\n        recipient: {}\n      production:\n{}",
        // a KMS environment has no recipient in the cells
        if prod.contains("kms:") { "    pack_only: true\n" } else { "" },
        TestKey::new(&d.home, "svc-dev.txt").recipient,
        prod
    ));
    std::fs::write(d.root.join("clef.yaml"), m).unwrap();
    d.ok(&["set", "api/production", "DB_URL", DB_URL]);
    d.ok(&["set", "web/production", "TOKEN", WEB_TOKEN]);
    let out = d.ok(&["keygen", "signing", "--json"]);
    let field = |k: &str| {
        let at = out.find(&format!("\"{k}\":\"")).expect(k) + k.len() + 4;
        out[at..at + out[at..].find('"').unwrap()].to_owned()
    };
    Fx {
        private: field("privateKey"),
        public: field("publicKey"),
        _w: w,
        d,
        svc,
    }
}

impl Fx {
    /// `clef pack gw production -o <name>` (signed unless `signed` is false).
    fn pack(&self, name: &str, signed: bool, extra: &[&str]) -> PathBuf {
        let out = self.d.tmp.join(name);
        let mut c = self.d.cmd(clef_e2e::bin("clef"));
        if signed {
            c.env("CLEF_SIGNING_KEY", &self.private);
        }
        c.args(["pack", "gw", "production", "-o"])
            .arg(&out)
            .args(extra);
        ok(clef_e2e::run(c));
        out
    }

    fn dir(&self) -> &Path {
        &self.d.tmp
    }
}

/// A running agent.
struct Agent {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent_cmd(fx: &Fx, env: &[(&str, &str)]) -> (Command, PathBuf) {
    let log = fx.dir().join(format!(
        "agent-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut c = clef_e2e::clean_cmd(&clef_e2e::bin("clef-agent"), &fx.d.home);
    c.env("CLEF_AGENT_PORT", "0")
        .env("CLEF_AGENT_TOKEN", TOKEN)
        .env("CLEF_AGENT_AGE_KEY_FILE", &fx.svc.file)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    (c, log)
}

fn start(fx: &Fx, env: &[(&str, &str)]) -> Agent {
    let (mut c, log) = agent_cmd(fx, env);
    let mut agent = Agent {
        child: c.spawn().expect("spawn clef-agent"),
        port: 0,
        log,
    };
    let t = Instant::now();
    loop {
        let text = agent.logs();
        if let Some(line) = text.lines().find(|l| l.contains("\"agent.started\"")) {
            let port = line
                .split("\"port\":")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|p| p.parse().ok())
                .expect("port in agent.started");
            agent.port = port;
            return agent;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "agent did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Agent {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn count(&self, event: &str) -> usize {
        self.logs()
            .matches(&format!("\"event\":\"{event}\""))
            .count()
    }

    /// Waits until `event` was logged more than `n` times.
    fn wait_event(&self, event: &str, n: usize) {
        let t = Instant::now();
        while self.count(event) <= n {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no {event} after {n}: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        request(
            self.port,
            "GET",
            path,
            &[("Host", &self.host()), ("Authorization", &auth)],
        )
    }

    fn wait_ready(&self) {
        let t = Instant::now();
        while self.get("/v1/ready").status != 200 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "not ready: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> i32 {
        let pid = rustix_pid(&self.child);
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

fn rustix_pid(c: &Child) -> String {
    c.id().to_string()
}

#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: String,
}

/// One request on a fresh connection (`Connection: close`), raw.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Resp {
        status: head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

const SECRETS: &str = "{\"api\":{\"DB_URL\":\"postgres://gw:agent-canary-7731@db/app\"},\"web\":{\"TOKEN\":\"web-agent-canary-2284\"}}";

/// Replaces (or with None removes) a top-level string field of the pretty
/// artifact JSON `clef pack` writes (one field per line).
fn set_field(text: &str, name: &str, value: Option<&str>) -> String {
    let key = format!("\"{name}\": ");
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with(&key) {
            if let Some(v) = value {
                let indent = &line[..line.find('"').unwrap()];
                let comma = if line.ends_with(',') { "," } else { "" };
                out.push(format!("{indent}{key}{v}{comma}"));
            }
        } else {
            out.push(line.to_owned());
        }
    }
    // a removed last field leaves a trailing comma
    let mut s = out.join("\n");
    s = s.replace(",\n}", "\n}");
    s
}

fn field(text: &str, name: &str) -> String {
    let key = format!("\"{name}\": ");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&key))
        .expect(name);
    line.trim()
        .trim_start_matches(&key)
        .trim_end_matches(',')
        .to_owned()
}

/// Replaces the file atomically (the agent never sees half a file).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn assert_no_value(what: &str, text: &str) {
    for v in [DB_URL, WEB_TOKEN, "agent-canary", TOKEN] {
        assert!(!text.contains(v), "{what} holds a secret ({v})");
    }
}

#[test]
fn agent_serves_the_reference_api_and_guards_it() {
    let fx = fixture();
    let art = fx.pack("gw.json", true, &[]);
    let cache = fx.dir().join("cache");
    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", art.to_str().unwrap()),
            ("CLEF_AGENT_VERIFY_KEY", &fx.public),
            ("CLEF_AGENT_CACHE_PATH", cache.to_str().unwrap()),
        ],
    );
    a.wait_ready();
    let host = a.host();
    let auth = format!("Bearer {TOKEN}");

    // health and ready need no token
    let h = request(a.port, "GET", "/v1/health", &[("Host", &host)]);
    assert_eq!(h.status, 200);
    assert!(
        h.body
            .starts_with("{\"status\":\"ok\",\"mode\":\"cached\",\"revision\":\""),
        "{}",
        h.body
    );
    assert!(h.body.ends_with(",\"expired\":false}"), "{}", h.body);
    let r = request(a.port, "GET", "/v1/ready", &[("Host", &host)]);
    assert_eq!((r.status, r.body.as_str()), (200, "{\"ready\":true}"));

    // the values
    let s = a.get("/v1/secrets");
    assert_eq!((s.status, s.body.as_str()), (200, SECRETS));
    assert!(s.head.contains("cache-control: no-store"), "{}", s.head);
    assert!(
        s.head.contains("content-type: application/json"),
        "{}",
        s.head
    );
    let k = a.get("/v1/keys");
    assert_eq!(
        (k.status, k.body.as_str()),
        (200, "[\"api__DB_URL\",\"web__TOKEN\"]")
    );
    assert!(k.head.contains("cache-control: no-store"));
    let one = a.get("/v1/secrets/api/DB_URL");
    assert_eq!(
        (one.status, one.body.as_str()),
        (
            200,
            "{\"value\":\"postgres://gw:agent-canary-7731@db/app\"}"
        )
    );
    assert!(one.head.contains("cache-control: no-store"));
    assert_eq!(a.get("/v1/secrets/api/NOPE").status, 404);
    assert_eq!(a.get("/v1/secrets/nope/DB_URL").status, 404);
    assert_eq!(a.get("/v1/other").status, 404);

    // Host: only 127.0.0.1:PORT / localhost:PORT
    let other_port = format!("127.0.0.1:{}", a.port.wrapping_add(1));
    for bad in [
        "evil.example",
        "127.0.0.1",
        "localhost",
        other_port.as_str(),
        "127.0.0.2:7779",
    ] {
        let r = request(
            a.port,
            "GET",
            "/v1/secrets",
            &[("Host", bad), ("Authorization", &auth)],
        );
        assert_eq!(r.status, 403, "Host {bad}");
        assert_eq!(r.body, "{\"error\":\"Forbidden: invalid Host header\"}");
    }
    let r = request(a.port, "GET", "/v1/secrets", &[("Authorization", &auth)]);
    assert_eq!(r.status, 403, "no Host");
    let lh = format!("localhost:{}", a.port);
    assert_eq!(
        request(
            a.port,
            "GET",
            "/v1/secrets",
            &[("Host", &lh), ("Authorization", &auth)]
        )
        .status,
        200
    );

    // the token: missing, wrong, wrong case of the prefix, no space, extra
    let wrong_case = format!("bearer {TOKEN}");
    let caps = format!("BEARER {TOKEN}");
    let nospace = format!("Bearer{TOKEN}");
    let longer = format!("Bearer {TOKEN}x");
    let shorter = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    for bad in [
        None,
        Some("Bearer wrong-token-wrong-token-00"),
        Some(wrong_case.as_str()),
        Some(caps.as_str()),
        Some(nospace.as_str()),
        Some(longer.as_str()),
        Some(shorter.as_str()),
        Some(basic.as_str()),
    ] {
        for path in ["/v1/secrets", "/v1/keys", "/v1/secrets/api/DB_URL"] {
            let mut hs = vec![("Host", host.as_str())];
            if let Some(b) = bad {
                hs.push(("Authorization", b));
            }
            let r = request(a.port, "GET", path, &hs);
            assert_eq!(
                (r.status, r.body.as_str()),
                (401, "{\"error\":\"Unauthorized\"}"),
                "{bad:?} {path}"
            );
        }
    }

    // X-Forwarded-For: refused even with the right token
    let r = request(
        a.port,
        "GET",
        "/v1/secrets",
        &[
            ("Host", &host),
            ("Authorization", &auth),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
    );
    assert_eq!(r.status, 400);
    assert_no_value("an X-Forwarded-For answer", &r.body);

    // GET only
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = request(
            a.port,
            m,
            "/v1/secrets",
            &[
                ("Host", &host),
                ("Authorization", &auth),
                ("Content-Length", "0"),
            ],
        );
        assert_eq!(r.status, 405, "{m}");
        assert!(r.head.contains("allow: get"), "{}", r.head);
        assert_no_value("a 405", &r.body);
    }
    let r = request(
        a.port,
        "HEAD",
        "/v1/secrets",
        &[("Host", &host), ("Authorization", &auth)],
    );
    assert_eq!(r.status, 405);

    // nothing in the disk cache, the logs, or the agent's environment
    let cached = std::fs::read_to_string(cache.join("artifact.json")).unwrap();
    assert_eq!(
        cached,
        std::fs::read_to_string(&art).unwrap(),
        "the encrypted artifact as fetched"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(cache.join("artifact.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for f in std::fs::read_dir(&cache).unwrap() {
        assert_no_value(
            "the disk cache",
            &String::from_utf8_lossy(&std::fs::read(f.unwrap().path()).unwrap()),
        );
    }
    let environ = std::fs::read(format!("/proc/{}/environ", a.child.id())).unwrap();
    let environ = String::from_utf8_lossy(&environ).replace(TOKEN, "");
    for v in [DB_URL, WEB_TOKEN] {
        assert!(
            !environ.contains(v),
            "the agent's environment holds a value"
        );
    }
    let logs = a.logs();
    assert!(logs.contains("\"event\":\"artifact.refreshed\""), "{logs}");
    assert_no_value("the logs", &logs);
    assert_eq!(a.stop(), 0, "SIGTERM stops cleanly");
}

#[test]
fn agent_connection_cap_holds_under_a_flood() {
    let fx = fixture();
    let art = fx.pack("gw.json", false, &[]);
    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", art.to_str().unwrap()),
            ("CLEF_AGENT_MAX_CONNECTIONS", "16"),
        ],
    );
    a.wait_ready();
    // 200 idle connections: the ones over the cap are closed at once
    let mut held: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", a.port)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [0u8; 1];
        if matches!(s.read(&mut b), Ok(0)) {
            closed += 1;
        }
    }
    assert!(closed >= 200 - 16 - 2, "only {closed} of 200 were refused");
    assert!(a.logs().contains("connection.refused"));
    drop(held);
    // and it serves again once they are gone
    let t = Instant::now();
    loop {
        let r = a.get("/v1/secrets");
        if r.status == 200 {
            assert_eq!(r.body, SECRETS);
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no service after the flood"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.stop(), 0);
}

#[test]
fn agent_refuses_every_tampered_artifact_and_keeps_the_old_values() {
    let fx = fixture();
    let good_path = fx.pack("gw.json", true, &["--ttl", "3600"]);
    let good = std::fs::read_to_string(&good_path).unwrap();
    let served = fx.dir().join("served.json");
    std::fs::copy(&good_path, &served).unwrap();
    // another artifact, with another value, for the splices
    fx.d.ok(&[
        "set",
        "api/production",
        "DB_URL",
        "postgres://attacker@evil/db",
    ]);
    let other = std::fs::read_to_string(fx.pack("other.json", true, &["--ttl", "3600"])).unwrap();
    let unsigned_other =
        std::fs::read_to_string(fx.pack("other-unsigned.json", false, &[])).unwrap();

    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", served.to_str().unwrap()),
            ("CLEF_AGENT_VERIFY_KEY", &fx.public),
            ("CLEF_AGENT_POLL_INTERVAL", "0.1"),
        ],
    );
    a.wait_ready();
    let rev = field(&good, "revision");
    let hash = |ct: &str| {
        use std::fmt::Write as _;
        let d = sha256(ct.trim_matches('"').as_bytes());
        let mut s = String::new();
        for b in d {
            write!(s, "{b:02x}").unwrap();
        }
        format!("\"{s}\"")
    };
    let o_ct = field(&other, "ciphertext");
    let mut cases: Vec<(&str, String)> = vec![
        ("identity", set_field(&good, "identity", Some("\"other\""))),
        (
            "environment",
            set_field(&good, "environment", Some("\"dev\"")),
        ),
        (
            "packedAt",
            set_field(&good, "packedAt", Some("\"2030-01-01T00:00:00.000Z\"")),
        ),
        (
            "revision",
            set_field(&good, "revision", Some("\"9999999999999-00000000\"")),
        ),
        (
            "ciphertextHash",
            set_field(&good, "ciphertextHash", Some(&hash("x"))),
        ),
        ("ciphertext", set_field(&good, "ciphertext", Some(&o_ct))),
        (
            "ciphertext and its hash",
            set_field(
                &set_field(&good, "ciphertext", Some(&o_ct)),
                "ciphertextHash",
                Some(&hash(&o_ct)),
            ),
        ),
        (
            "expiresAt later",
            set_field(&good, "expiresAt", Some("\"2099-01-01T00:00:00.000Z\"")),
        ),
        ("expiresAt removed", set_field(&good, "expiresAt", None)),
        (
            "signature",
            set_field(&good, "signature", Some(&field(&other, "signature"))),
        ),
        (
            "signature removed",
            set_field(
                &set_field(&good, "signature", None),
                "signatureAlgorithm",
                None,
            ),
        ),
        (
            "signatureAlgorithm",
            set_field(&good, "signatureAlgorithm", Some("\"ECDSA_SHA256\"")),
        ),
        ("version", good.replace("\"version\": 1", "\"version\": 2")),
        (
            "unknown field",
            good.replacen("{\n", "{\n  \"extra\": \"x\",\n", 1),
        ),
        ("not JSON", good[..good.len() / 2].to_owned()),
        // another artifact, validly signed but for a replay: older revision
        ("unsigned other artifact", unsigned_other.clone()),
        // the old agent's JIT bypass: the current revision reused, new
        // ciphertext for the public recipient, no signature
        (
            "revision reuse, unsigned",
            set_field(
                &set_field(
                    &set_field(&unsigned_other, "revision", Some(&rev)),
                    "packedAt",
                    Some(&field(&good, "packedAt")),
                ),
                "expiresAt",
                Some(&field(&good, "expiresAt")),
            ),
        ),
    ];
    // the same forgery, signed fields otherwise intact but signature of the good one kept
    cases.push((
        "revision reuse, good signature kept",
        set_field(
            &set_field(
                &good,
                "ciphertext",
                Some(&field(&unsigned_other, "ciphertext")),
            ),
            "ciphertextHash",
            Some(&field(&unsigned_other, "ciphertextHash")),
        ),
    ));
    for (what, text) in &cases {
        assert_ne!(text, &good, "{what}: the case changes something");
        let n = a.count("artifact.invalid");
        replace(&served, text);
        a.wait_event("artifact.invalid", n);
        let r = a.get("/v1/secrets");
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, SECRETS),
            "{what}: the old values stay"
        );
        assert!(!r.body.contains("attacker"), "{what}");
    }
    // a valid newer signed artifact is taken
    let n = a.count("artifact.refreshed");
    replace(&served, &other);
    a.wait_event("artifact.refreshed", n);
    assert!(a.get("/v1/secrets").body.contains("attacker@evil"));
    // and the older good one is now a replay: refused
    let n = a.count("artifact.invalid");
    replace(&served, &good);
    a.wait_event("artifact.invalid", n);
    assert!(a.logs().contains("older than the loaded"), "{}", a.logs());
    assert!(a.get("/v1/secrets").body.contains("attacker@evil"));
    assert_no_value("the logs", &a.logs());
    assert_eq!(a.stop(), 0);
}

#[test]
fn agent_jit_mode_refuses_the_revision_reuse_forgery() {
    let fx = fixture();
    let good_path = fx.pack("gw.json", true, &[]);
    let good = std::fs::read_to_string(&good_path).unwrap();
    let served = fx.dir().join("served.json");
    std::fs::copy(&good_path, &served).unwrap();
    fx.d.ok(&[
        "set",
        "api/production",
        "DB_URL",
        "postgres://attacker@evil/db",
    ]);
    let forged_src = std::fs::read_to_string(fx.pack("forged.json", false, &[])).unwrap();
    let forged = set_field(
        &set_field(&forged_src, "revision", Some(&field(&good, "revision"))),
        "packedAt",
        Some(&field(&good, "packedAt")),
    );
    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", served.to_str().unwrap()),
            ("CLEF_AGENT_VERIFY_KEY", &fx.public),
            ("CLEF_AGENT_CACHE_TTL", "0"),
            ("CLEF_AGENT_POLL_INTERVAL", "0.1"),
        ],
    );
    a.wait_ready();
    assert!(a.get("/v1/health").body.contains("\"mode\":\"jit\""));
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    let n = a.count("artifact.invalid");
    replace(&served, &forged);
    a.wait_event("artifact.invalid", n);
    assert!(a.logs().contains("not signed"), "{}", a.logs());
    for _ in 0..5 {
        let r = a.get("/v1/secrets");
        assert_eq!((r.status, r.body.as_str()), (200, SECRETS));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        a.get("/v1/secrets/api/DB_URL").body,
        format!("{{\"value\":\"{DB_URL}\"}}")
    );
    assert_eq!(a.stop(), 0);
}

#[test]
fn agent_expiry_revocation_and_a_source_that_goes_down() {
    let fx = fixture();
    // expires in 3 s; the source disappears after the first load
    let art = fx.pack("short.json", true, &["--ttl", "3"]);
    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", art.to_str().unwrap()),
            ("CLEF_AGENT_POLL_INTERVAL", "0.2"),
        ],
    );
    a.wait_ready();
    std::fs::remove_file(&art).unwrap();
    a.wait_event("fetch.failed", 0);
    let r = a.get("/v1/secrets");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, SECRETS),
        "served while the source is down"
    );
    let t = Instant::now();
    while a.get("/v1/secrets").status == 200 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = a.get("/v1/secrets");
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "{\"error\":\"Secrets expired\"}")
    );
    let r = a.get("/v1/ready");
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "{\"ready\":false,\"reason\":\"cache_expired\"}")
    );
    assert!(a.get("/v1/health").body.contains("\"expired\":true"));
    assert_eq!(a.get("/v1/keys").status, 503);
    assert!(a.count("cache.expired") >= 1);
    drop(a);

    // revocation: `clef revoke` writes the marker where the artifact was
    let packed = fx.d.root.join(".clef/packed/gw/production.age.json");
    let c = {
        let mut c = fx.d.cmd(clef_e2e::bin("clef"));
        c.env("CLEF_SIGNING_KEY", &fx.private)
            .args(["pack", "gw", "production"]);
        c
    };
    ok(clef_e2e::run(c));
    let cache = fx.dir().join("cache2");
    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", packed.to_str().unwrap()),
            ("CLEF_AGENT_POLL_INTERVAL", "0.2"),
            ("CLEF_AGENT_CACHE_PATH", cache.to_str().unwrap()),
        ],
    );
    a.wait_ready();
    // the disk cache is written right after the artifact is applied (which is
    // what makes the agent ready): give it the moment it takes
    let t0 = std::time::Instant::now();
    while !cache.join("artifact.json").exists() && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(cache.join("artifact.json").exists());
    fx.d.ok(&["revoke", "gw", "production"]);
    a.wait_event("artifact.revoked", 0);
    let r = a.get("/v1/secrets");
    assert_eq!(r.status, 503);
    assert_no_value("after revocation", &r.body);
    let r = a.get("/v1/ready");
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "{\"ready\":false,\"reason\":\"revoked\"}")
    );
    assert!(
        !cache.join("artifact.json").exists(),
        "the disk cache is wiped too"
    );
    assert_eq!(a.stop(), 0);
}

#[test]
fn agent_source_down_at_start_then_the_disk_cache() {
    let fx = fixture();
    let missing = fx.dir().join("missing.json");
    let (mut c, log) = agent_cmd(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", missing.to_str().unwrap()),
            ("CLEF_AGENT_POLL_INTERVAL", "0.1"),
        ],
    );
    let st = c.status().unwrap();
    assert_eq!(st.code(), Some(1), "no artifact at start: exit 1");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logs.matches("\"fetch.failed\"").count(), 3, "{logs}");
    assert!(logs.contains("agent.start_failed"));

    // a run that filled the disk cache, then a restart with the source down
    let art = fx.pack("gw.json", true, &[]);
    let cache = fx.dir().join("cache");
    let env = |src: &Path| {
        vec![
            ("CLEF_AGENT_SOURCE", src.to_str().unwrap().to_owned()),
            ("CLEF_AGENT_POLL_INTERVAL", "0.1".to_owned()),
            ("CLEF_AGENT_CACHE_PATH", cache.to_str().unwrap().to_owned()),
            ("CLEF_AGENT_VERIFY_KEY", fx.public.clone()),
        ]
    };
    let e1 = env(&art);
    let e1: Vec<(&str, &str)> = e1.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = start(&fx, &e1);
    a.wait_ready();
    assert_eq!(a.stop(), 0);
    std::fs::remove_file(&art).unwrap();
    let a = start(&fx, &e1);
    a.wait_ready();
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    assert!(a.logs().contains("disk cache"));
    assert_eq!(a.stop(), 0);
    // a tampered disk cache is checked like any source
    let cached = cache.join("artifact.json");
    let text = std::fs::read_to_string(&cached).unwrap();
    std::fs::write(&cached, set_field(&text, "identity", Some("\"x\""))).unwrap();
    let (mut c, log) = agent_cmd(&fx, &e1);
    assert_eq!(c.status().unwrap().code(), Some(1));
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("artifact.invalid")
    );
}

/// A one-file HTTP server on 127.0.0.1 with ETags; counts 200s and 304s.
struct HttpSource {
    port: u16,
    body: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    hits: std::sync::Arc<std::sync::Mutex<(usize, usize, Vec<String>)>>,
}

impl HttpSource {
    fn start(body: &str) -> HttpSource {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let body = std::sync::Arc::new(std::sync::Mutex::new(Some(body.to_owned())));
        let hits = std::sync::Arc::new(std::sync::Mutex::new((0, 0, Vec::new())));
        let (b, h) = (body.clone(), hits.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let Some(body) = b.lock().unwrap().clone() else {
                    let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                };
                let etag = format!(
                    "\"{:x}\"",
                    body.len() * 31 + body.bytes().map(usize::from).sum::<usize>()
                );
                let inm = req
                    .lines()
                    .find_map(|l| l.strip_prefix("if-none-match: "))
                    .map(str::to_owned);
                let auth = req
                    .lines()
                    .find_map(|l| l.strip_prefix("x-source-key: "))
                    .map(str::to_owned);
                let mut g = h.lock().unwrap();
                g.2.push(auth.unwrap_or_default());
                let resp = if inm.as_deref() == Some(etag.as_str()) {
                    g.1 += 1;
                    "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    g.0 += 1;
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                drop(g);
                let _ = s.write_all(resp.as_bytes());
            }
        });
        HttpSource { port, body, hits }
    }
}

#[test]
fn agent_http_source_conditional_fetch_and_outage() {
    let fx = fixture();
    let good = std::fs::read_to_string(fx.pack("gw.json", true, &[])).unwrap();
    let src = HttpSource::start(&good);
    let url = format!("http://127.0.0.1:{}/gw.json", src.port);
    let header = fx.dir().join("header");
    std::fs::write(&header, "X-Source-Key: source-secret-1\n").unwrap();
    let a = start(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", &url),
            ("CLEF_AGENT_SOURCE_HEADER_FILE", header.to_str().unwrap()),
            ("CLEF_AGENT_VERIFY_KEY", &fx.public),
            ("CLEF_AGENT_POLL_INTERVAL", "0.1"),
        ],
    );
    a.wait_ready();
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    std::thread::sleep(Duration::from_millis(800));
    {
        let g = src.hits.lock().unwrap();
        assert_eq!(g.0, 1, "one full fetch");
        assert!(g.1 >= 3, "then 304s: {}", g.1);
        assert!(
            g.2.iter().all(|h| h == "source-secret-1"),
            "the header on every request"
        );
    }
    // the source goes down: still served
    *src.body.lock().unwrap() = None;
    a.wait_event("fetch.failed", 0);
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    assert!(a.logs().contains("HTTP 503"));
    assert!(
        !a.logs().contains("source-secret-1"),
        "the header value is not logged"
    );
    assert_eq!(a.stop(), 0);
    // plain http to anything but loopback is refused at start
    let (mut c, log) = agent_cmd(&fx, &[("CLEF_AGENT_SOURCE", "http://example.com/a.json")]);
    assert_eq!(c.status().unwrap().code(), Some(2));
    assert!(std::fs::read_to_string(log).unwrap().contains("loopback"));
}

#[test]
fn agent_exec_restarts_once_per_real_change() {
    let fx = fixture();
    let served = fx.pack("gw.json", true, &[]);
    let starts = fx.dir().join("starts");
    let script = format!(
        "echo \"$$ $(printf %s \"$DB_URL\" | sha256sum | cut -c1-8) ${{CLEF_AGENT_TOKEN:-none}}\" >> {}; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        starts.display()
    );
    let (mut c, log) = agent_cmd(
        &fx,
        &[
            ("CLEF_AGENT_SOURCE", served.to_str().unwrap()),
            ("CLEF_AGENT_POLL_INTERVAL", "0.1"),
        ],
    );
    c.args(["exec", "--debounce", "0.3", "--", "sh", "-c", &script]);
    let mut child = c.spawn().unwrap();
    let lines = |n: usize| {
        let t = Instant::now();
        loop {
            let s = std::fs::read_to_string(&starts).unwrap_or_default();
            if s.lines().count() >= n {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{n} starts: {s} {}",
                std::fs::read_to_string(&log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let first = lines(1);
    assert!(
        first.ends_with(" none\n"),
        "the token is not passed on: {first}"
    );
    // a new revision with the same values: no restart
    let out = fx.dir().join("gw.json");
    let mut c2 = fx.d.cmd(clef_e2e::bin("clef"));
    c2.env("CLEF_SIGNING_KEY", &fx.private)
        .args(["pack", "gw", "production", "-o"])
        .arg(&out);
    ok(clef_e2e::run(c2));
    let t = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("exec.unchanged")
    {
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 1);
    // two changes in a burst: one restart
    fx.d.ok(&["set", "api/production", "DB_URL", "postgres://new-1@db/app"]);
    fx.pack("gw.json", true, &[]);
    fx.d.ok(&["set", "api/production", "DB_URL", "postgres://new-2@db/app"]);
    fx.pack("gw.json", true, &[]);
    let s = lines(2);
    std::thread::sleep(Duration::from_millis(1200));
    let s2 = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(s2.lines().count(), 2, "one restart for the burst: {s2}");
    let l: Vec<&str> = s.lines().collect();
    assert_ne!(
        l[0].split(' ').nth(1),
        l[1].split(' ').nth(1),
        "the new value"
    );
    // SIGTERM goes to the child, whose exit code (0 by its trap) is the agent's
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_no_value("the exec logs", &std::fs::read_to_string(&log).unwrap());

    // the exit code passes through
    let (mut c, _) = agent_cmd(&fx, &[("CLEF_AGENT_SOURCE", out.to_str().unwrap())]);
    c.args(["exec", "--", "sh", "-c", "exit 7"]);
    assert_eq!(c.status().unwrap().code(), Some(7));
}

fn sha256(b: &[u8]) -> [u8; 32] {
    // the test's own SHA-256 via the coreutils binary (no crypto crate here)
    let mut c = Command::new("sha256sum");
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut ch = c.spawn().unwrap();
    ch.stdin.take().unwrap().write_all(b).unwrap();
    let out = ch.wait_with_output().unwrap().stdout;
    let hex = String::from_utf8(out).unwrap();
    let mut d = [0u8; 32];
    for (i, x) in d.iter_mut().enumerate() {
        *x = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    d
}

#[test]
fn clef_serve_packs_in_memory_and_refuses_protected_envs() {
    let fx = fixture();
    fx.d.ok(&["set", "api/dev", "DB_URL", DB_URL]);
    fx.d.ok(&["set", "web/dev", "TOKEN", WEB_TOKEN]);
    let out = fx.dir().join("serve.out");
    let mut c = fx.d.cmd(clef_e2e::bin("clef"));
    c.args(["serve", "-i", "gw", "-e", "dev", "-p", "0"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(out.with_extension("err")).unwrap());
    let mut child = c.spawn().unwrap();
    let t = Instant::now();
    let text = loop {
        let s = std::fs::read_to_string(&out).unwrap_or_default();
        if s.contains("CLEF_AGENT_TOKEN=") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "clef serve did not start: {s} {}",
            std::fs::read_to_string(out.with_extension("err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let port: u16 = text
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    let token = text
        .split("CLEF_AGENT_TOKEN=")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let host = format!("127.0.0.1:{port}");
    let auth = format!("Bearer {token}");
    let r = request(
        port,
        "GET",
        "/v1/secrets",
        &[("Host", &host), ("Authorization", &auth)],
    );
    assert_eq!((r.status, r.body.as_str()), (200, SECRETS));
    let r = request(port, "GET", "/v1/secrets", &[("Host", &host)]);
    assert_eq!(r.status, 401);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // production is protected (clef init's default): refused
    let o =
        fx.d.clef(&["serve", "-i", "gw", "-e", "production", "-p", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::cli_support::stderr(&o).contains("protected"));
}

/// The AWS variables `m.env` sets, as pairs for [`start`].
fn aws_env(m: &crate::pack_aws::IamMoto) -> Vec<(String, String)> {
    let mut probe = Command::new("true");
    m.env(&mut probe);
    probe
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect()
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn agent_s3_source_kms_envelope_jit_and_a_kms_that_denies() {
    let Some(mut m) = crate::pack_aws::IamMoto::start() else {
        return;
    };
    let key = m.key.clone();
    let fx = fixture_with(|_| {
        format!("        kms:\n          provider: aws\n          keyId: {key}\n")
    });
    // `clef pack` delivers the KMS-envelope artifact to S3, signed
    let url = "s3://clef-iam/gw/production.json";
    let mut c = fx.d.cmd(clef_e2e::bin("clef"));
    m.env(&mut c).env("CLEF_SIGNING_KEY", &fx.private).args([
        "pack",
        "gw",
        "production",
        "-b",
        url,
    ]);
    ok(clef_e2e::run(c));
    let cache = fx.dir().join("s3-cache");
    let mut env = aws_env(&m);
    env.extend(
        [
            ("CLEF_AGENT_SOURCE", url),
            ("CLEF_AGENT_VERIFY_KEY", fx.public.as_str()),
            ("CLEF_AGENT_POLL_INTERVAL", "0.2"),
            ("CLEF_AGENT_CACHE_PATH", cache.to_str().unwrap()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    // cached mode: unwrapped once with the workload's identity (KMS Decrypt)
    let cached = start(&fx, &pairs(&env));
    cached.wait_ready();
    assert_eq!(cached.get("/v1/secrets").body, SECRETS);
    // polls are conditional (S3 answers 304): one refresh, no failure
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(cached.count("artifact.refreshed"), 1, "{}", cached.logs());
    assert_eq!(cached.count("fetch.failed"), 0, "{}", cached.logs());
    // JIT mode: KMS Decrypt on every request
    let mut jit_env = env.clone();
    jit_env.push(("CLEF_AGENT_CACHE_TTL".into(), "0".into()));
    jit_env.retain(|(k, _)| k != "CLEF_AGENT_CACHE_PATH");
    let jit = start(&fx, &pairs(&jit_env));
    jit.wait_ready();
    assert_eq!(jit.get("/v1/secrets").body, SECRETS);
    assert!(jit.get("/v1/health").body.contains("\"mode\":\"jit\""));

    // the workload loses kms:Decrypt: JIT answers 503 on the next request
    // (proof it asks KMS each time), cached mode keeps its values
    m.deny(&["kms:Decrypt"]);
    let r = jit.get("/v1/secrets");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.body, r#"{"error":"Decryption failed"}"#);
    assert_eq!(jit.get("/v1/secrets/api/DB_URL").status, 503);
    let failed = jit.logs();
    assert!(
        failed.contains("decrypt.failed")
            && failed.contains("AccessDenied")
            && failed.contains(&key),
        "{failed}"
    );
    assert_eq!(cached.get("/v1/secrets").body, SECRETS);
    // a new agent under the denial: never ready, nothing served, one clear
    // line naming the key and the AWS code; exit 1 (the disk cache cannot be
    // opened either)
    let (mut c, log) = agent_cmd(&fx, &pairs(&env));
    assert_eq!(c.status().unwrap().code(), Some(1));
    let logs = std::fs::read_to_string(&log).unwrap();
    let invalid: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("\"artifact.invalid\""))
        .collect();
    assert!(!invalid.is_empty(), "{logs}");
    assert!(
        invalid[0].contains("AccessDenied") && invalid[0].contains(&key),
        "{}",
        invalid[0]
    );
    assert!(logs.contains("agent.start_failed"), "{logs}");

    // S3 unavailable at start (GetObject denied), KMS fine: the disk cache
    // of the encrypted artifact serves the restart
    m.deny(&["s3:GetObject"]);
    let restarted = start(&fx, &pairs(&env));
    restarted.wait_ready();
    assert_eq!(restarted.get("/v1/secrets").body, SECRETS);
    let logs = restarted.logs();
    assert!(
        logs.contains("disk cache") && logs.contains("AccessDenied"),
        "{logs}"
    );
    // AWS goes away entirely: both keep serving what they hold
    m.stop();
    cached.wait_event("fetch.failed", 0);
    restarted.wait_event("fetch.failed", 3);
    assert_eq!(cached.get("/v1/secrets").body, SECRETS);
    assert_eq!(restarted.get("/v1/secrets").body, SECRETS);
    for a in [&cached, &jit, &restarted] {
        assert_no_value("the agent log", &a.logs());
    }
    let disk = std::fs::read_to_string(cache.join("artifact.json")).unwrap();
    assert_no_value("the disk cache", &disk);
    for a in [cached, jit, restarted] {
        assert_eq!(a.stop(), 0);
    }
}

/// The artifact server of the `https` source tests (a [`TlsServer`]
/// handler): serves DIR/served.json only to requests carrying
/// `PRIVATE-TOKEN: TOKEN` (404 otherwise, as GitLab's raw API).
const SOURCE_PY: &str = r#"
token = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("PRIVATE-TOKEN") != token:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        body = open(os.path.join(d, "served.json"), "rb").read()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"%x"' % hash(body)); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
"#;

/// [`SOURCE_PY`] serving `fx`'s signed `gw.json` to requests with the
/// header `PRIVATE-TOKEN: token`; the server and its directory.
fn https_source(fx: &Fx, py: &Path, token: &str) -> (TlsServer, PathBuf) {
    let dir = fx.dir().join("https");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fx.pack("gw.json", true, &[]), dir.join("served.json")).unwrap();
    let src = TlsServer::start(py, &dir, SOURCE_PY, &[token]);
    (src, dir)
}

#[test]
fn agent_https_source_with_a_private_ca_a_header_and_a_wrong_ca() {
    let Some(py) = crate::pack_artifact::python() else {
        return;
    };
    let fx = fixture();
    let header_token = "glpat-source-canary-5521";
    let (src, dir) = https_source(&fx, &py, header_token);
    let url = format!(
        "https://127.0.0.1:{}/api/v4/projects/1/repository/files/gw.json/raw",
        src.port
    );
    let header = format!("PRIVATE-TOKEN: {header_token}");
    let ca = TlsServer::ca(&dir);
    let other = dir.join("other-ca.pem");
    let base = [
        ("CLEF_AGENT_SOURCE", url.as_str()),
        ("CLEF_AGENT_VERIFY_KEY", fx.public.as_str()),
        ("CLEF_AGENT_POLL_INTERVAL", "0.1"),
    ];
    // trusted through CLEF_AGENT_CA_BUNDLE, with the private-URL header
    let mut env = base.to_vec();
    env.extend([
        ("CLEF_AGENT_CA_BUNDLE", ca.to_str().unwrap()),
        ("CLEF_AGENT_SOURCE_HEADER", header.as_str()),
    ]);
    let a = start(&fx, &env);
    a.wait_ready();
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    assert!(!a.logs().contains(header_token), "the header is not logged");
    assert_eq!(a.stop(), 0);
    // through SSL_CERT_FILE, as other TLS clients
    let mut env = base.to_vec();
    env.extend([
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("CLEF_AGENT_SOURCE_HEADER", header.as_str()),
    ]);
    let a = start(&fx, &env);
    a.wait_ready();
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    assert_eq!(a.stop(), 0);
    // without the header: the private URL answers 404, the agent says so
    let mut env = base.to_vec();
    env.push(("CLEF_AGENT_CA_BUNDLE", ca.to_str().unwrap()));
    let (mut c, log) = agent_cmd(&fx, &env);
    assert_eq!(c.status().unwrap().code(), Some(1));
    assert!(std::fs::read_to_string(&log).unwrap().contains("HTTP 404"));
    // the wrong CA: a clear TLS error, nothing fetched, exit 1
    for wrong in [
        ("CLEF_AGENT_CA_BUNDLE", other.to_str().unwrap()),
        ("SSL_CERT_FILE", other.to_str().unwrap()),
    ] {
        let mut env = base.to_vec();
        env.extend([wrong, ("CLEF_AGENT_SOURCE_HEADER", header.as_str())]);
        let (mut c, log) = agent_cmd(&fx, &env);
        assert_eq!(c.status().unwrap().code(), Some(1));
        let logs = std::fs::read_to_string(&log).unwrap();
        let failed = logs
            .lines()
            .find(|l| l.contains("\"fetch.failed\""))
            .unwrap_or_else(|| panic!("{logs}"));
        assert!(
            failed.contains("certificate") && failed.contains("UnknownIssuer"),
            "{failed}"
        );
        assert!(!logs.contains(header_token));
    }
    // a CA bundle that is not PEM: refused at start, exit 2
    let mut env = base.to_vec();
    env.push(("CLEF_AGENT_CA_BUNDLE", url.as_str()));
    let (mut c, log) = agent_cmd(&fx, &env);
    assert_eq!(
        c.status().unwrap().code(),
        Some(2),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    drop(src);
}

/// A loopback proxy that tunnels every `CONNECT` to 127.0.0.1:`to` (as a
/// corporate egress proxy would to the real host) and answers anything else
/// 403. Gives its port and, per connection, the request line and the
/// `Proxy-Authorization` header.
fn tunnel_proxy(to: u16) -> (u16, std::sync::mpsc::Receiver<(String, Option<String>)>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut line, mut auth) = (String::new(), None);
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':')
                    && k.eq_ignore_ascii_case("proxy-authorization")
                {
                    auth = Some(v.trim().to_owned());
                }
            }
            let line = line.trim_end().to_owned();
            let connect = line.starts_with("CONNECT ");
            let _ = tx.send((line, auth));
            if !connect {
                let _ = conn.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
                continue;
            }
            let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let _ = conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
            let mut down_w = conn;
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut reader, &mut up_w);
                let _ = up_w.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_r, &mut down_w);
                let _ = down_w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, rx)
}

/// An `https://` source behind the environment's proxy, as curl and the
/// AWS CLI take it: the agent asks the proxy for a tunnel to the source's
/// host (with the credentials of the proxy URL), verifies the source's
/// certificate through it, and serves the artifact. The proxy password is
/// not logged.
#[test]
fn agent_https_source_through_the_environments_proxy() {
    let Some(py) = crate::pack_artifact::python() else {
        return;
    };
    let fx = fixture();
    let header_token = "glpat-source-canary-7730";
    let (src, dir) = https_source(&fx, &py, header_token);
    let (proxy, seen) = tunnel_proxy(src.port);
    let ca = TlsServer::ca(&dir);
    let header = format!("PRIVATE-TOKEN: {header_token}");
    let proxy_url = format!("http://ops:proxy-pw-4417@127.0.0.1:{proxy}");
    let env = [
        (
            "CLEF_AGENT_SOURCE",
            "https://artifacts.proxy.test/api/v4/projects/1/repository/files/gw.json/raw",
        ),
        ("CLEF_AGENT_VERIFY_KEY", fx.public.as_str()),
        ("CLEF_AGENT_CA_BUNDLE", ca.to_str().unwrap()),
        ("CLEF_AGENT_SOURCE_HEADER", header.as_str()),
        ("HTTPS_PROXY", proxy_url.as_str()),
    ];
    let a = start(&fx, &env);
    a.wait_ready();
    assert_eq!(a.get("/v1/secrets").body, SECRETS);
    let (line, auth) = seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the proxy was asked");
    assert_eq!(line, "CONNECT artifacts.proxy.test:443 HTTP/1.1");
    // base64("ops:proxy-pw-4417")
    assert_eq!(auth.as_deref(), Some("Basic b3BzOnByb3h5LXB3LTQ0MTc="));
    let logs = a.logs();
    assert!(
        !logs.contains("proxy-pw-4417") && !logs.contains(header_token),
        "{logs}"
    );
    assert_eq!(a.stop(), 0);
    drop(src);
}
