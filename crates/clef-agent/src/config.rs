//! The agent's configuration: the TypeScript agent's `CLEF_AGENT_*`
//! variables, the same names in a config file (`KEY=VALUE` lines), and
//! flags. Precedence: flag, then environment, then config file.
//!
//! Secrets (token, age key, source header) are read from the environment or
//! from files, never from flags (a flag is visible in the process list).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::AgentError;

/// Default port (the TypeScript agent's).
pub const DEFAULT_PORT: u16 = 7779;
/// Default cache TTL in seconds.
pub const DEFAULT_TTL: u64 = 300;
/// Default connection cap.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default runtime threads serving the API (see [`crate::runtime`]).
pub const DEFAULT_WORKER_THREADS: usize = 1;

/// Every variable the agent reads (the config file may hold only these).
pub const VARIABLES: &[&str] = &[
    "CLEF_AGENT_SOURCE",
    "CLEF_AGENT_SOURCE_HEADER",
    "CLEF_AGENT_SOURCE_HEADER_FILE",
    "CLEF_AGENT_CA_FILE",
    "CLEF_AGENT_CA_BUNDLE",
    "CLEF_AGENT_PORT",
    "CLEF_AGENT_CACHE_TTL",
    "CLEF_AGENT_CACHE_PATH",
    "CLEF_AGENT_AGE_KEY",
    "CLEF_AGENT_AGE_KEY_FILE",
    "CLEF_AGENT_TOKEN",
    "CLEF_AGENT_TOKEN_FILE",
    "CLEF_AGENT_VERIFY_KEY",
    "CLEF_AGENT_VERIFY_KEY_FILE",
    "CLEF_AGENT_IDENTITY",
    "CLEF_AGENT_ENVIRONMENT",
    "CLEF_AGENT_MAX_CONNECTIONS",
    "CLEF_AGENT_POLL_INTERVAL",
    "CLEF_AGENT_WORKER_THREADS",
    "CLEF_AGENT_ID",
];

/// Where the artifact comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local file.
    File(PathBuf),
    /// `https://…` (or `http://` to a loopback address only).
    Http(String),
    /// `s3://bucket/key`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
    },
}

/// The resolved configuration.
pub struct Config {
    /// The artifact's location.
    pub source: SourceSpec,
    /// An extra request header for an https source (`Name: value`).
    pub source_header: Option<(String, Zeroizing<String>)>,
    /// Extra trust anchors (PEM) for an https source.
    pub ca_file: Option<PathBuf>,
    /// Listening port on 127.0.0.1 (0: any free port, logged in `agent.started`).
    pub port: u16,
    /// Seconds without a successful refresh before the values expire; 0 = JIT.
    pub cache_ttl: u64,
    /// Directory of the disk cache of the *encrypted* artifact.
    pub cache_path: Option<PathBuf>,
    /// The age identities (from `CLEF_AGENT_AGE_KEY[_FILE]`).
    pub age_key: Option<Zeroizing<String>>,
    /// The bearer token, if configured (else one is generated).
    pub token: Option<Zeroizing<String>>,
    /// The signature verify key (base64 SPKI DER or PEM).
    pub verify_key: Option<clef_artifact::VerifyKey>,
    /// Pins: the artifact must be for this identity / environment.
    pub identity: Option<String>,
    /// See `identity`.
    pub environment: Option<String>,
    /// The connection cap.
    pub max_connections: usize,
    /// Overrides the reference's refresh schedule.
    pub poll_interval: Option<Duration>,
    /// Threads serving the API (1: single-threaded; 0: one per core, at most 4).
    pub worker_threads: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("port", &self.port)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

fn bad(msg: impl Into<String>) -> AgentError {
    AgentError::Config(msg.into())
}

/// Reads a `KEY=VALUE` config file (`#` comments, blank lines, optional
/// `export `, optional quotes). Unknown keys are refused.
pub fn read_config_file(path: &Path) -> Result<HashMap<String, Zeroizing<String>>, AgentError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| bad(format!("{}: cannot read: {}", path.display(), e.kind())))?,
    );
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| bad(format!("{}:{}: expected KEY=VALUE", path.display(), n + 1)))?;
        let k = k.trim();
        if !VARIABLES.contains(&k) {
            return Err(bad(format!(
                "{}:{}: unknown setting '{k}' (one of {})",
                path.display(),
                n + 1,
                VARIABLES.join(", ")
            )));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.to_owned(), Zeroizing::new(v.to_owned()));
    }
    Ok(out)
}

fn read_secret_file(path: &str, what: &str) -> Result<Zeroizing<String>, AgentError> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("{what} file {path}: cannot read: {}", e.kind())))?;
    Ok(Zeroizing::new(s))
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.rsplit('@').next().unwrap_or(host);
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.split(':').next().unwrap_or("")
    };
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses `CLEF_AGENT_SOURCE`.
pub fn parse_source(s: &str) -> Result<SourceSpec, AgentError> {
    if s.starts_with("s3://") {
        let (bucket, key) =
            clef_artifact::delivery::s3_location(s).map_err(|e| bad(e.to_string()))?;
        return Ok(SourceSpec::S3 { bucket, key });
    }
    if let Some(rest) = s.strip_prefix("http://") {
        let host = rest.split('/').next().unwrap_or("");
        if !is_loopback_host(host) {
            return Err(bad(format!(
                "source '{s}': plain http is allowed to a loopback address only; use https://"
            )));
        }
        return Ok(SourceSpec::Http(s.to_owned()));
    }
    if s.starts_with("https://") {
        return Ok(SourceSpec::Http(s.to_owned()));
    }
    if s.contains("://") {
        return Err(bad(format!(
            "source '{s}': expected a file path, https://…, or s3://bucket/key"
        )));
    }
    if s.is_empty() {
        return Err(bad("CLEF_AGENT_SOURCE is empty"));
    }
    Ok(SourceSpec::File(PathBuf::from(s)))
}

impl Config {
    /// Resolves the configuration from a lookup (flags, environment, file).
    pub fn resolve(get: &dyn Fn(&str) -> Option<Zeroizing<String>>) -> Result<Config, AgentError> {
        let val = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let plain = |k: &str| val(k).map(|v| v.trim().to_owned());
        let source = plain("CLEF_AGENT_SOURCE").ok_or_else(|| {
            bad("no source: set CLEF_AGENT_SOURCE or --source (a file, https://…, s3://bucket/key)")
        })?;
        let source = parse_source(&source)?;
        let header_text = match (
            val("CLEF_AGENT_SOURCE_HEADER"),
            plain("CLEF_AGENT_SOURCE_HEADER_FILE"),
        ) {
            (Some(h), _) => Some(h),
            (None, Some(p)) => Some(read_secret_file(&p, "source header")?),
            (None, None) => None,
        };
        let source_header = match header_text {
            None => None,
            Some(h) => {
                if !matches!(source, SourceSpec::Http(_)) {
                    return Err(bad(
                        "CLEF_AGENT_SOURCE_HEADER applies to an https source only",
                    ));
                }
                let (n, v) = h
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| bad("CLEF_AGENT_SOURCE_HEADER: expected 'Name: value'"))?;
                let n = n.trim();
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(bad(
                        "CLEF_AGENT_SOURCE_HEADER: the header name is not a token",
                    ));
                }
                Some((n.to_owned(), Zeroizing::new(v.trim().to_owned())))
            }
        };
        let port = match plain("CLEF_AGENT_PORT") {
            None => DEFAULT_PORT,
            Some(p) => p.parse::<u16>().ok().ok_or_else(|| {
                bad(format!(
                    "CLEF_AGENT_PORT '{p}': a port number (0: any free port)"
                ))
            })?,
        };
        let cache_ttl = match plain("CLEF_AGENT_CACHE_TTL") {
            None => DEFAULT_TTL,
            Some(t) => match t.parse::<u64>() {
                Ok(t) if t == 0 || t >= 30 => t,
                _ => {
                    return Err(bad(format!(
                        "CLEF_AGENT_CACHE_TTL '{t}': 0 (JIT: decrypt on every request) or at least 30 seconds"
                    )));
                }
            },
        };
        let age_key = match (val("CLEF_AGENT_AGE_KEY"), plain("CLEF_AGENT_AGE_KEY_FILE")) {
            (Some(k), _) => Some(k),
            (None, Some(p)) => Some(read_secret_file(&p, "age key")?),
            (None, None) => None,
        };
        let token = match (val("CLEF_AGENT_TOKEN"), plain("CLEF_AGENT_TOKEN_FILE")) {
            (Some(t), _) => Some(Zeroizing::new(t.trim().to_owned())),
            (None, Some(p)) => Some(Zeroizing::new(
                read_secret_file(&p, "token")?.trim().to_owned(),
            )),
            (None, None) => None,
        };
        if let Some(t) = &token
            && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(bad(
                "the token must be at least 16 printable ASCII characters without spaces",
            ));
        }
        let vk_text = match (
            plain("CLEF_AGENT_VERIFY_KEY"),
            plain("CLEF_AGENT_VERIFY_KEY_FILE"),
        ) {
            (Some(k), _) => Some(k),
            (None, Some(p)) => Some(
                std::fs::read_to_string(&p)
                    .map_err(|e| bad(format!("verify key file {p}: cannot read: {}", e.kind())))?,
            ),
            (None, None) => None,
        };
        let verify_key = vk_text
            .map(|k| {
                clef_artifact::VerifyKey::from_spki_base64(&k)
                    .map_err(|e| bad(format!("CLEF_AGENT_VERIFY_KEY: {e}")))
            })
            .transpose()?;
        let max_connections = match plain("CLEF_AGENT_MAX_CONNECTIONS") {
            None => DEFAULT_MAX_CONNECTIONS,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=65_536).contains(n))
                .ok_or_else(|| bad(format!("CLEF_AGENT_MAX_CONNECTIONS '{n}': 1 to 65536")))?,
        };
        let poll_interval = match plain("CLEF_AGENT_POLL_INTERVAL") {
            None => None,
            Some(s) => Some(
                s.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.05 && *s <= 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        bad(format!(
                            "CLEF_AGENT_POLL_INTERVAL '{s}': seconds, 0.05 to 86400"
                        ))
                    })?,
            ),
        };
        let worker_threads = match plain("CLEF_AGENT_WORKER_THREADS") {
            None => DEFAULT_WORKER_THREADS,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 64)
                .ok_or_else(|| {
                    bad(format!(
                        "CLEF_AGENT_WORKER_THREADS '{n}': 0 (one per core) to 64"
                    ))
                })?,
        };
        Ok(Config {
            source,
            source_header,
            ca_file: plain("CLEF_AGENT_CA_FILE")
                .or_else(|| plain("CLEF_AGENT_CA_BUNDLE"))
                .map(PathBuf::from),
            port,
            cache_ttl,
            cache_path: plain("CLEF_AGENT_CACHE_PATH").map(PathBuf::from),
            age_key,
            token,
            verify_key,
            identity: plain("CLEF_AGENT_IDENTITY"),
            environment: plain("CLEF_AGENT_ENVIRONMENT"),
            max_connections,
            poll_interval,
            worker_threads,
        })
    }

    /// Whether values are decrypted on every request (`CLEF_AGENT_CACHE_TTL=0`).
    pub fn jit(&self) -> bool {
        self.cache_ttl == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, AgentError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::resolve(&|k| m.get(k).map(|v| Zeroizing::new(v.clone())))
    }

    #[test]
    fn sources_and_limits() {
        assert_eq!(
            parse_source("/x/a.json").unwrap(),
            SourceSpec::File("/x/a.json".into())
        );
        assert!(parse_source("http://127.0.0.1:9/a").is_ok());
        assert!(parse_source("http://localhost/a").is_ok());
        assert!(parse_source("http://[::1]:80/a").is_ok());
        assert!(parse_source("http://example.com/a").is_err());
        assert!(parse_source("http://127.0.0.1.evil.com/a").is_err());
        assert!(parse_source("ftp://x/y").is_err());
        assert!(matches!(
            parse_source("s3://b/k/a.json").unwrap(),
            SourceSpec::S3 { .. }
        ));
        let c = cfg(&[("CLEF_AGENT_SOURCE", "/a")]).unwrap();
        assert_eq!((c.port, c.cache_ttl, c.jit()), (7779, 300, false));
        assert!(cfg(&[("CLEF_AGENT_SOURCE", "/a"), ("CLEF_AGENT_CACHE_TTL", "10")]).is_err());
        assert!(
            cfg(&[("CLEF_AGENT_SOURCE", "/a"), ("CLEF_AGENT_CACHE_TTL", "0")])
                .unwrap()
                .jit()
        );
        assert!(cfg(&[("CLEF_AGENT_SOURCE", "/a"), ("CLEF_AGENT_TOKEN", "short")]).is_err());
        assert!(
            cfg(&[
                ("CLEF_AGENT_SOURCE", "/a"),
                ("CLEF_AGENT_VERIFY_KEY", "bm9wZQ==")
            ])
            .is_err()
        );
        assert!(
            cfg(&[
                ("CLEF_AGENT_SOURCE", "/a"),
                ("CLEF_AGENT_SOURCE_HEADER", "A: b")
            ])
            .is_err()
        );
        assert!(cfg(&[]).is_err());
    }
}
