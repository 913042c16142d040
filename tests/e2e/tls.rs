//! A throw-away certificate authority and a TLS server on 127.0.0.1 for
//! the tests of `https` clients (clef-agent's source, clef-kms's endpoints),
//! in Python with `cryptography` (the test command installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Python: makes a CA, another CA and a server certificate (for 127.0.0.1
/// and `artifacts.proxy.test`, signed by the first) in the directory
/// `sys.argv[1]`, bound to `d`: `ca.pem`, `other-ca.pem`, `server.pem`,
/// `server.key`. A handler script follows it (defining the request handler
/// class `H`), then [`SERVE_PY`].
const CERTS_PY: &str = r#"
import datetime, http.server, ipaddress, os, ssl, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def ca(cn):
    k = ec.generate_private_key(ec.SECP256R1())
    c = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - day).not_valid_after(now + day)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .sign(k, hashes.SHA256()))
    return k, c
def pem(c): return c.public_bytes(serialization.Encoding.PEM)
ca_key, ca_cert = ca("clef test CA")
_, other = ca("clef other CA")
k = ec.generate_private_key(ec.SECP256R1())
cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca_cert.subject)
        .public_key(k.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - day).not_valid_after(now + day)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("artifacts.proxy.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(os.path.join(d, "ca.pem"), "wb").write(pem(ca_cert))
open(os.path.join(d, "other-ca.pem"), "wb").write(pem(other))
open(os.path.join(d, "server.pem"), "wb").write(pem(cert) + pem(ca_cert))
open(os.path.join(d, "server.key"), "wb").write(k.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;

/// Python: serves `H` over TLS on a free 127.0.0.1 port and prints the port.
const SERVE_PY: &str = r#"
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// A running TLS server (killed on drop); its CA is `ca.pem` in its
/// directory.
pub(crate) struct TlsServer {
    child: Child,
    pub port: u16,
}

impl TlsServer {
    /// Starts `python` with [`CERTS_PY`], `handler` (Python defining the
    /// request handler class `H`) and [`SERVE_PY`]; `dir` and `args` are
    /// its arguments.
    pub(crate) fn start(python: &Path, dir: &Path, handler: &str, args: &[&str]) -> TlsServer {
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new(python)
            .arg("-c")
            .arg(format!("{CERTS_PY}{handler}{SERVE_PY}"))
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        TlsServer {
            port: line.trim().parse().expect("the TLS server's port"),
            child,
        }
    }

    /// The directory's CA certificate that signed the server's.
    pub(crate) fn ca(dir: &Path) -> PathBuf {
        dir.join("ca.pem")
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
