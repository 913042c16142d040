//! The agent's HTTP/1.1 layer over real loopback sockets: keep-alive,
//! pipelining, framing of the responses, and the malformed, oversized and
//! body-carrying requests that must be answered once and then closed. (The
//! API itself, with real artifacts, is tested in `tests/e2e/agent.rs`.)

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use clef_agent::server::{App, serve};
use clef_agent::state::{State, Verifier};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Server {
    port: u16,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An agent with nothing loaded (`/v1/ready` is 503 `not_loaded`, `/v1/keys`
/// is `[]`, `/v1/secrets` 503), on a free port.
fn server() -> Server {
    let verifier = Verifier {
        verify_key: None,
        ids: clef_keys::Identities::empty(),
        kms: None,
        identity: None,
        environment: None,
    };
    let state = Arc::new(State::new(false, 300, verifier));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = clef_agent::runtime(1).unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .unwrap();
            let port = l.local_addr().unwrap().port();
            let app = Arc::new(App::new(state, TOKEN, port));
            tx.send(port).unwrap();
            serve(l, app, 64, stop_rx).await;
        });
    });
    let port = rx.recv().unwrap();
    Server {
        port,
        stop,
        thread: Some(thread),
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one response (head + `content-length` body); `None` at EOF.
fn response(s: &mut TcpStream) -> Option<(u16, String, String)> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    Some((status, head, String::from_utf8(body).unwrap()))
}

fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
}

#[test]
fn keep_alive_and_pipelined_requests_are_answered_in_order() {
    let srv = server();
    let host = format!("127.0.0.1:{}", srv.port);
    let mut s = connect(srv.port);
    // three requests in one write, the last one asking to close
    let reqs = format!(
        "GET /v1/ready HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET /v1/keys?x=1 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n\
         GET /v1/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(reqs.as_bytes()).unwrap();
    let (st, head, body) = response(&mut s).unwrap();
    assert_eq!(
        (st, body.as_str()),
        (503, r#"{"ready":false,"reason":"not_loaded"}"#)
    );
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("\r\ndate: "), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let (st, _, body) = response(&mut s).unwrap();
    assert_eq!(
        (st, body.as_str()),
        (200, "[]"),
        "the query is not the path"
    );
    let (st, head, body) = response(&mut s).unwrap();
    assert_eq!(st, 200);
    assert!(body.starts_with(r#"{"status":"ok""#), "{body}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(closed(&mut s));

    // a request split over several writes, then another on the same connection
    let mut s = connect(srv.port);
    for part in [
        "GET /v1/rea",
        "dy HTTP/1.1\r\nHo",
        &format!("st: {host}\r\n"),
        "\r\n",
    ] {
        s.write_all(part.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(response(&mut s).unwrap().0, 503);
    s.write_all(format!("GET /v1/secrets HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(response(&mut s).unwrap().0, 401, "no token");
    s.write_all(
        format!(
            "GET /v1/secrets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (st, _, body) = response(&mut s).unwrap();
    assert_eq!(
        (st, body.as_str()),
        (503, r#"{"error":"Secrets not yet loaded"}"#)
    );
}

#[test]
fn bad_heads_and_bodies_are_answered_once_then_closed() {
    let srv = server();
    let host = format!("127.0.0.1:{}", srv.port);
    let big = "a".repeat(70 * 1024);
    let many: String = (0..70).map(|i| format!("X-F{i}: v\r\n")).collect();
    let cases: Vec<(String, u16)> = vec![
        ("GARBAGE\r\n\r\n".into(), 400),
        ("GET /v1/ready HTTP/2.0\r\n\r\n".into(), 400),
        (
            format!("GET /v1/ready HTTP/1.1\r\nHost: {host}\r\nX-Big: {big}\r\n\r\n"),
            431,
        ),
        (
            format!("GET /v1/ready HTTP/1.1\r\nHost: {host}\r\n{many}\r\n"),
            431,
        ),
        // two Host fields: refused like a wrong one (closed as asked)
        (
            format!(
                "GET /v1/ready HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            ),
            403,
        ),
        // a body: answered, then the connection is closed (the body is
        // never read as a request)
        (
            format!(
                "POST /v1/secrets HTTP/1.1\r\nHost: {host}\r\nContent-Length: 40\r\n\r\nGET /v1/ready HTTP/1.1\r\nHost: x\r\n\r\n\r\n"
            ),
            405,
        ),
        (
            format!(
                "GET /v1/ready HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            503,
        ),
        // HTTP/1.0 without keep-alive
        (
            format!("GET /v1/ready HTTP/1.0\r\nHost: {host}\r\n\r\n"),
            503,
        ),
    ];
    for (req, want) in cases {
        let mut s = connect(srv.port);
        let _ = s.write_all(req.as_bytes());
        let (st, head, body) = response(&mut s).expect("an answer");
        assert_eq!(st, want, "{}", &req[..req.len().min(60)]);
        assert!(head.contains("connection: close"), "{head}");
        assert!(body.starts_with('{'), "{body}");
        assert!(closed(&mut s), "closed after {}", &req[..req.len().min(60)]);
    }
    // HEAD: the head only (405 has a content-length, no body follows)
    let mut s = connect(srv.port);
    s.write_all(format!("HEAD /v1/ready HTTP/1.1\r\nHost: {host}\r\n\r\nGET /v1/ready HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    let mut all = Vec::new();
    let mut b = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains("not_loaded") {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0);
        all.extend_from_slice(&b[..n]);
    }
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    let second = text.find("HTTP/1.1 503 ").expect("the GET's answer");
    assert!(
        !text[..second].contains("\r\n\r\n{"),
        "a body after HEAD: {text}"
    );
}
