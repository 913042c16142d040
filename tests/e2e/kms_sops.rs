//! `clef sops` on AWS KMS files, with the real sops 3.11 as the oracle through the
//! same moto_server (`AWS_ENDPOINT_URL_KMS`): both directions, layout, mixed
//! age + KMS groups, Shamir across them, updatekeys, rotate, and a KMS that is
//! unreachable or refuses (clear error, nothing written).

use std::path::Path;
use std::process::{Command, Output};

use crate::tls::TlsServer;
use clef_e2e::aws::{Moto, mask_random};
use clef_e2e::{TestKey, bin, clean_cmd, ok, run, sops_bin};

struct Env {
    moto: Moto,
    sops: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Option<Env> {
        let moto = Moto::get()?;
        let sops = sops_bin()?;
        Some(Env {
            moto,
            sops,
            dir: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// An environment with `p.yaml` (PLAIN) encrypted by clef for a new
    /// moto key, and that key's ARN.
    fn with_kms_file() -> Option<(Env, String)> {
        let e = Env::new()?;
        let arn = e.moto.create_key();
        e.write("p.yaml", PLAIN);
        ok(run(e.clef(&["encrypt", "-i", "--kms", &arn, "p.yaml"])));
        Some((e, arn))
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, program: &Path) -> Command {
        let mut c = clean_cmd(program, self.dir.path());
        self.moto.env(&mut c);
        c.current_dir(self.dir.path());
        c
    }

    fn clef(&self, args: &[&str]) -> Command {
        let mut c = self.cmd(&bin("clef"));
        c.arg("sops").args(args);
        c
    }

    fn sops(&self, args: &[&str]) -> Command {
        let mut c = self.cmd(&self.sops);
        c.args(args);
        c
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

const PLAIN: &str = "# config\ndb:\n    user: app\n    # rotate me\n    password: hunter2\nport: 5432\nlist:\n    - a\n    - b\n";

fn text(o: Output) -> String {
    String::from_utf8(ok(o)).expect("utf-8")
}

fn fails(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got success");
    assert!(o.stdout.is_empty(), "nothing on stdout on failure");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("hunter2"));
    err
}

#[test]
fn clef_and_sops_read_each_others_kms_files_and_layouts_match() {
    let Some(e) = Env::new() else { return };
    let arn = e.moto.create_key();
    e.write("p.yaml", PLAIN);
    for (writer, reader) in [("clef", "sops"), ("sops", "clef")] {
        let args = [
            "encrypt",
            "--kms",
            &arn,
            "--encryption-context",
            "env:prod,app:clef",
            "p.yaml",
        ];
        let enc = text(run(if writer == "clef" {
            e.clef(&args)
        } else {
            e.sops(&args)
        }));
        assert!(enc.contains("    kms:\n        - arn: "), "{enc}");
        e.write(&format!("{writer}.enc.yaml"), &enc);
        let name = format!("{writer}.enc.yaml");
        let args = ["decrypt", name.as_str()];
        let dec = text(run(if reader == "clef" {
            e.clef(&args)
        } else {
            e.sops(&args)
        }));
        assert_eq!(dec, PLAIN, "{reader} decrypts {writer}'s file");
    }
    let ours = std::fs::read_to_string(e.path("clef.enc.yaml")).unwrap();
    let theirs = std::fs::read_to_string(e.path("sops.enc.yaml")).unwrap();
    assert_eq!(mask_random(&ours), mask_random(&theirs));
    // JSON layout too
    e.write("p.json", "{\"a\": \"x\", \"n\": 1}\n");
    let ours = text(run(e.clef(&["encrypt", "--kms", &arn, "p.json"])));
    let theirs = text(run(e.sops(&["encrypt", "--kms", &arn, "p.json"])));
    assert_eq!(mask_random(&ours), mask_random(&theirs));
}

#[test]
fn mixed_age_and_kms_in_one_group_open_with_either_key() {
    let Some(e) = Env::new() else { return };
    let arn = e.moto.create_key();
    let age = TestKey::new(e.dir.path(), "age.txt");
    e.write("p.yaml", PLAIN);
    let args = ["encrypt", "--kms", &arn, "--age", &age.recipient, "p.yaml"];
    let ours = text(run(e.clef(&args)));
    let theirs = text(run(e.sops(&args)));
    assert_eq!(mask_random(&ours), mask_random(&theirs));
    e.write("m.enc.yaml", &ours);
    // with KMS only (no age identity anywhere)
    assert_eq!(text(run(e.sops(&["decrypt", "m.enc.yaml"]))), PLAIN);
    assert_eq!(text(run(e.clef(&["decrypt", "m.enc.yaml"]))), PLAIN);
    // with the age key only, KMS unreachable
    let dead = dead_endpoint();
    for mut c in [
        e.clef(&["decrypt", "m.enc.yaml"]),
        e.sops(&["decrypt", "m.enc.yaml"]),
    ] {
        c.env("AWS_ENDPOINT_URL_KMS", &dead)
            .env("SOPS_AGE_KEY_FILE", &age.file);
        assert_eq!(text(run(c)), PLAIN);
    }
}

#[test]
fn shamir_across_kms_and_age_groups_both_ways() {
    let Some(e) = Env::new() else { return };
    let arn = e.moto.create_key();
    let age = TestKey::new(e.dir.path(), "age.txt");
    e.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - kms:\n          - arn: {arn}\n      - age:\n          - {}\n",
            age.recipient
        ),
    );
    e.write("p.yaml", PLAIN);
    let theirs = text(run(e.sops(&["encrypt", "p.yaml"])));
    e.write("s.enc.yaml", &theirs);
    let mut c = e.clef(&["decrypt", "s.enc.yaml"]);
    c.env("SOPS_AGE_KEY_FILE", &age.file);
    assert_eq!(
        text(run(c)),
        PLAIN,
        "clef joins a KMS share and an age share"
    );
    // clef re-splits the shares on rotate; sops reads the result
    let mut c = e.clef(&["rotate", "-i", "s.enc.yaml"]);
    c.env("SOPS_AGE_KEY_FILE", &age.file);
    ok(run(c));
    let rotated = std::fs::read_to_string(e.path("s.enc.yaml")).unwrap();
    assert_ne!(rotated, theirs);
    assert_eq!(mask_random(&rotated), mask_random(&theirs));
    let mut c = e.sops(&["decrypt", "s.enc.yaml"]);
    c.env("SOPS_AGE_KEY_FILE", &age.file);
    assert_eq!(text(run(c)), PLAIN);
    // one share is not enough
    let out = run(e.clef(&["decrypt", "s.enc.yaml"]));
    fails(&out);
}

#[test]
fn updatekeys_and_rotate_on_kms_files() {
    let Some(e) = Env::new() else { return };
    let arn = e.moto.create_key();
    let age = TestKey::new(e.dir.path(), "age.txt");
    e.write("p.yaml", PLAIN);
    ok(run(e.clef(&["encrypt", "-i", "--kms", &arn, "p.yaml"])));
    let before = std::fs::read_to_string(e.path("p.yaml")).unwrap();
    // updatekeys: the KMS key unwraps the data key, the new age key wraps the same one
    ok(run(e.clef(&[
        "updatekeys",
        "-y",
        "--add-age",
        &age.recipient,
        "p.yaml",
    ])));
    let after = std::fs::read_to_string(e.path("p.yaml")).unwrap();
    assert!(after.contains(&age.recipient));
    let mut c = e.sops(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", dead_endpoint())
        .env("SOPS_AGE_KEY_FILE", &age.file);
    assert_eq!(
        text(run(c)),
        PLAIN,
        "sops opens it with the added age key alone"
    );
    let kms_line = |s: &str| s.lines().find(|l| l.contains("enc: ")).map(str::to_owned);
    assert_eq!(kms_line(&before), kms_line(&after), "the KMS wrap is kept");
    // rotate: a new data key, wrapped by KMS again
    ok(run(e.clef(&["rotate", "-i", "p.yaml"])));
    let rotated = std::fs::read_to_string(e.path("p.yaml")).unwrap();
    assert_ne!(kms_line(&after), kms_line(&rotated));
    assert_eq!(text(run(e.sops(&["decrypt", "p.yaml"]))), PLAIN);
}

fn dead_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn unreachable_or_refusing_kms_gives_one_line_and_writes_nothing() {
    let Some((e, arn)) = Env::with_kms_file() else {
        return;
    };
    let before = std::fs::read(e.path("p.yaml")).unwrap();
    let dead = dead_endpoint();
    for args in [vec!["decrypt", "p.yaml"], vec!["rotate", "-i", "p.yaml"]] {
        let mut c = e.clef(&args);
        c.env("AWS_ENDPOINT_URL_KMS", &dead)
            .env("CLEF_KMS_TIMEOUT", "2");
        let t = std::time::Instant::now();
        let out = run(c);
        let err = fails(&out);
        assert!(
            err.contains(&arn) && err.contains("cannot reach AWS KMS"),
            "{err}"
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(8),
            "bounded: {:?}",
            t.elapsed()
        );
        assert_eq!(
            std::fs::read(e.path("p.yaml")).unwrap(),
            before,
            "nothing written"
        );
    }
    // encrypting for a key that does not exist (NotFoundException) writes nothing
    // (moto 5.2.5 does not enforce DisabledException, so that one is not tested here)
    e.write("q.yaml", PLAIN);
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000dead";
    let err = fails(&run(e.clef(&["encrypt", "-i", "--kms", missing, "q.yaml"])));
    assert!(
        err.contains(missing) && err.contains("NotFoundException"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(e.path("q.yaml")).unwrap(), PLAIN);
}

/// The KMS endpoint is found where the SDK finds it: `AWS_ENDPOINT_URL`
/// when there is no `AWS_ENDPOINT_URL_KMS`, and a profile's `services`
/// section (`kms = endpoint_url = …`) when neither variable is set.
#[test]
fn kms_endpoint_from_the_generic_variable_and_the_profile_services_section() {
    let Some((e, arn)) = Env::with_kms_file() else {
        return;
    };
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env_remove("AWS_ENDPOINT_URL_KMS")
        .env("AWS_ENDPOINT_URL", &e.moto.endpoint);
    assert_eq!(text(run(c)), PLAIN);
    let config = e.write(
        "aws-config",
        &format!(
            "[profile team]\nregion = us-east-1\nservices = local\n\n[services local]\nkms =\n  endpoint_url = {}\n",
            e.moto.endpoint
        ),
    );
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env_remove("AWS_ENDPOINT_URL_KMS")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "team");
    assert_eq!(text(run(c)), PLAIN);
    // the service variable wins over the profile: a dead one fails, naming the key
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", dead_endpoint())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "team")
        .env("CLEF_KMS_TIMEOUT", "2");
    let err = fails(&run(c));
    assert!(
        err.contains(&arn) && err.contains("cannot reach AWS KMS"),
        "{err}"
    );
}

/// Credentials are asked for once per run, not once per KMS call (the
/// providers do not cache; an assumed role or IMDS would be asked each time):
/// `rotate` makes two calls (`Decrypt` of the old data key, `Encrypt` of the
/// new one) and a counting `credential_process` runs once.
#[test]
fn credentials_are_fetched_once_per_run() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let count = e.path("count");
    let script = e.write(
        "creds.sh",
        &format!(
            "#!/bin/sh\necho x >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"testing\", \"SecretAccessKey\": \"testing\", \"Expiration\": \"2099-01-01T00:00:00Z\"}}'\n",
            count.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = e.write(
        "aws-config",
        &format!(
            "[default]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    );
    let before = std::fs::read_to_string(e.path("p.yaml")).unwrap();
    let mut c = e.clef(&["rotate", "-i", "p.yaml"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config);
    ok(run(c));
    assert_ne!(std::fs::read_to_string(e.path("p.yaml")).unwrap(), before);
    let calls = std::fs::read_to_string(&count).unwrap();
    assert_eq!(
        calls.lines().count(),
        1,
        "credential_process runs: {calls:?}"
    );
    assert_eq!(text(run(e.sops(&["decrypt", "p.yaml"]))), PLAIN);
}

/// The production path on EKS (IRSA): no keys in the environment, a web
/// identity token file and a role. aws-config exchanges the token at STS
/// (moto) through clef's own HTTP client, and the KMS calls are signed with
/// what STS returned.
#[test]
fn web_identity_credentials_are_exchanged_at_sts() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let token = e.write("token", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl");
    let web = |c: &mut Command| {
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/clef-web")
            .env("AWS_ROLE_SESSION_NAME", "clef-test");
    };
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    web(&mut c);
    assert_eq!(text(run(c)), PLAIN);
    // STS unreachable: the credentials error says so, on one line
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    web(&mut c);
    c.env("AWS_ENDPOINT_URL_STS", dead_endpoint())
        .env("CLEF_KMS_TIMEOUT", "3");
    let err = fails(&run(c));
    assert!(err.contains("credentials"), "{err}");
}

/// A metadata server that accepts connections and never answers (a laptop
/// whose network black-holes 169.254.169.254) is given up within the SDK's
/// IMDS connect and read timeouts (1 s each: about 2 s in all), not after
/// the SDK's 10 s attempt bound: the HTTP client honours the SDK's timeouts.
#[test]
fn a_silent_metadata_server_is_given_up_quickly() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    // the kernel completes the handshakes; nobody reads or answers
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("CLEF_KMS_TIMEOUT", "60");
    let start = std::time::Instant::now();
    let err = fails(&run(c));
    let took = start.elapsed();
    assert!(err.contains("credentials"), "{err}");
    assert!(took < std::time::Duration::from_secs(6), "took {took:?}");
    drop(silent);
}

/// ECS and EKS Pod Identity: the container credentials endpoint (here a
/// loopback server of the test) is asked through clef's HTTP client, with
/// the authorization token the agent expects, once per run.
#[test]
fn container_credentials_are_fetched_with_their_token() {
    use std::io::{BufRead, BufReader, Write};
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let mut requests = Vec::new();
        server.set_nonblocking(false).unwrap();
        // one request per connection; the run makes one (credentials are cached)
        let (conn, _) = server.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        let body = r#"{"AccessKeyId":"testing","SecretAccessKey":"testing","Token":"container-session","Expiration":"2099-01-01T00:00:00Z"}"#;
        let mut conn = conn;
        write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        requests.push(head);
        requests
    });
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{port}/v2/credentials"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "agent-token-1234");
    assert_eq!(text(run(c)), PLAIN);
    let requests = seen.join().unwrap();
    assert_eq!(requests.len(), 1);
    let head = &requests[0];
    assert_eq!(head[0], "GET /v2/credentials HTTP/1.1", "{head:?}");
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("authorization: agent-token-1234")),
        "{head:?}"
    );
}

/// A loopback HTTP proxy for one test: records each request line it gets;
/// forwards absolute-form requests to moto (whatever host they name) and
/// refuses `CONNECT` with 403. Stops accepting after `deadline`.
fn proxy(moto: &str, deadline: std::time::Duration) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let moto = moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let end = std::time::Instant::now() + deadline;
        while std::time::Instant::now() < end {
            let conn = match listener.accept() {
                Ok((c, _)) => c,
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
            };
            conn.set_nonblocking(false).unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut conn = conn;
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let request_line = line.trim_end().to_owned();
            seen.push(request_line.clone());
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let h = h.trim_end().to_owned();
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap();
                    }
                    if k.eq_ignore_ascii_case("connection") {
                        continue;
                    }
                }
                headers.push(h);
            }
            if request_line.starts_with("CONNECT ") {
                let _ = conn.write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            // `POST http://host:port/path HTTP/1.1` -> `POST /path HTTP/1.1` to moto
            let mut parts = request_line.splitn(3, ' ');
            let (method, target, version) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let path = target
                .splitn(4, '/')
                .nth(3)
                .map_or("/".to_owned(), |p| format!("/{p}"));
            let mut upstream = std::net::TcpStream::connect(&moto).unwrap();
            let mut out = format!("{method} {path} {version}\r\n");
            for h in &headers {
                out.push_str(h);
                out.push_str("\r\n");
            }
            out.push_str("Connection: close\r\n\r\n");
            upstream.write_all(out.as_bytes()).unwrap();
            upstream.write_all(&body).unwrap();
            let mut answer = Vec::new();
            upstream.read_to_end(&mut answer).unwrap();
            let _ = conn.write_all(&answer);
        }
        seen
    });
    (port, handle)
}

/// `HTTP_PROXY` carries `http://` requests, in absolute form, as sops's Go
/// client sends them (the KMS host name here exists only for the proxy).
#[test]
fn http_proxy_carries_kms_calls() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let (port, seen) = proxy(&e.moto.endpoint, std::time::Duration::from_secs(4));
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", "http://kms.proxy.test:4566")
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"));
    assert_eq!(text(run(c)), PLAIN);
    let seen = seen.join().unwrap();
    assert_eq!(
        seen,
        ["POST http://kms.proxy.test:4566/ HTTP/1.1"],
        "{seen:?}"
    );
}

/// `HTTPS_PROXY` is asked for a `CONNECT` tunnel to the KMS host; a proxy
/// that refuses it gives one line and nothing on stdout.
#[test]
fn https_proxy_is_asked_for_a_tunnel() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let (port, seen) = proxy(&e.moto.endpoint, std::time::Duration::from_secs(4));
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", "https://kms.proxy.test")
        .env("https_proxy", format!("http://127.0.0.1:{port}"))
        .env("CLEF_KMS_TIMEOUT", "3");
    let err = fails(&run(c));
    assert!(err.contains("kms.proxy.test"), "{err}");
    let seen = seen.join().unwrap();
    assert!(!seen.is_empty(), "the proxy was not asked");
    assert!(
        seen.iter()
            .all(|l| l == "CONNECT kms.proxy.test:443 HTTP/1.1"),
        "{seen:?}"
    );
}

/// A proxy variable that is set but is not a proxy URL is an error for the
/// requests it would route, naming the variable and not its value (which
/// may hold a password), as curl and Go refuse it; hyper-util alone would
/// skip it and send KMS calls direct, around the intended egress proxy.
#[test]
fn a_proxy_variable_that_is_not_a_url_is_refused_not_skipped() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", "https://kms.proxy.test")
        .env("HTTPS_PROXY", "http://ops:proxy-sekret-91@[::1")
        .env("CLEF_KMS_TIMEOUT", "3");
    let err = fails(&run(c));
    assert!(err.contains("HTTPS_PROXY is not a proxy URL"), "{err}");
    // a setting, not a network failure: not tried again
    assert!(!err.contains("attempts"), "{err}");
    assert!(!err.contains("proxy-sekret-91"), "{err}");
    // this machine is never reached through a proxy: a loopback KMS is
    // reached whatever the variables hold
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("HTTP_PROXY", "not a url")
        .env("HTTPS_PROXY", "not a url");
    assert_eq!(text(run(c)), PLAIN);
}

/// This machine is never reached through a proxy (Go's rule): a proxy
/// variable naming a dead port does not stop a loopback KMS.
#[test]
fn loopback_endpoints_bypass_the_proxy() {
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("HTTP_PROXY", dead_endpoint())
        .env("HTTPS_PROXY", dead_endpoint())
        .env("ALL_PROXY", dead_endpoint());
    assert_eq!(text(run(c)), PLAIN);
}

/// A [`TlsServer`] handler in front of moto (`sys.argv[2]`): every request
/// is sent on to it as it came (method, path, headers, body) and its answer
/// given back, as AWS's own TLS endpoints front KMS.
const MOTO_FRONT_PY: &str = r#"
import urllib.request, urllib.error
upstream = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        req = urllib.request.Request(upstream + self.path, data=body, method="POST")
        for k, v in self.headers.items():
            if k.lower() not in ("content-length", "connection"):
                req.add_header(k, v)
        try:
            r = urllib.request.urlopen(req, timeout=10)
            status, data, headers = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, data, headers = e.code, e.read(), e.headers
        self.send_response(status)
        self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a): pass
"#;

/// KMS over `https`, as every real endpoint is: clef verifies the endpoint's
/// certificate against the system's roots (`SSL_CERT_FILE` here, a private
/// CA) and decrypts; with roots that do not hold that CA it refuses in one
/// line naming the certificate problem. (A proxy change once made every
/// direct `https` request fail with "scheme is not http" while every test,
/// all on plain-`http` endpoints, passed.)
#[test]
fn kms_over_https_verifies_the_endpoint_certificate() {
    let Some(py) = crate::pack_artifact::python() else {
        return;
    };
    let Some((e, _)) = Env::with_kms_file() else {
        return;
    };
    let dir = e.path("tls");
    let front = TlsServer::start(&py, &dir, MOTO_FRONT_PY, &[e.moto.endpoint.as_str()]);
    let endpoint = format!("https://127.0.0.1:{}", front.port);
    let ca = TlsServer::ca(&dir);
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", &endpoint)
        .env("SSL_CERT_FILE", &ca);
    assert_eq!(text(run(c)), PLAIN);
    let mut c = e.clef(&["decrypt", "p.yaml"]);
    c.env("AWS_ENDPOINT_URL_KMS", &endpoint)
        .env("SSL_CERT_FILE", dir.join("other-ca.pem"))
        .env("CLEF_KMS_TIMEOUT", "3");
    let err = fails(&run(c));
    assert!(err.contains("certificate"), "{err}");
}
