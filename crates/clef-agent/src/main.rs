//! `clef-agent`: parse flags, resolve the configuration, run.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use clef_agent::exit;
use zeroize::Zeroizing;

/// Serves a Clef packed artifact's values on 127.0.0.1 behind a bearer token.
///
/// Every setting is also an environment variable (shown with each flag) and
/// a `KEY=VALUE` line of a config file; flags win over the environment,
/// which wins over the file. Secrets (token, age key, source header) come
/// from the environment or files only.
#[derive(Parser, Debug)]
#[command(name = "clef-agent", version, after_help = clef_agent::exit::help())]
struct Cli {
    /// Config file of CLEF_AGENT_*=VALUE lines [env: CLEF_AGENT_CONFIG]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Artifact location: a file, https://…, or s3://bucket/key [env: CLEF_AGENT_SOURCE]
    #[arg(long, global = true)]
    source: Option<String>,
    /// Port on 127.0.0.1 (default 7779) [env: CLEF_AGENT_PORT]
    #[arg(long, global = true)]
    port: Option<String>,
    /// Seconds without a successful refresh before the values expire; 0 = JIT
    /// (decrypt on every request); else at least 30 (default 300) [env: CLEF_AGENT_CACHE_TTL]
    #[arg(long = "cache-ttl", global = true)]
    cache_ttl: Option<String>,
    /// Directory for the disk cache of the encrypted artifact [env: CLEF_AGENT_CACHE_PATH]
    #[arg(long = "cache-path", global = true)]
    cache_path: Option<String>,
    /// File with the age identity [env: CLEF_AGENT_AGE_KEY_FILE; or CLEF_AGENT_AGE_KEY]
    #[arg(long = "age-key-file", global = true)]
    age_key_file: Option<String>,
    /// File with the bearer token [env: CLEF_AGENT_TOKEN_FILE; or CLEF_AGENT_TOKEN]
    #[arg(long = "token-file", global = true)]
    token_file: Option<String>,
    /// Signature verify key, base64 SPKI DER or PEM [env: CLEF_AGENT_VERIFY_KEY]
    #[arg(long = "verify-key", global = true)]
    verify_key: Option<String>,
    /// File with the verify key [env: CLEF_AGENT_VERIFY_KEY_FILE]
    #[arg(long = "verify-key-file", global = true)]
    verify_key_file: Option<String>,
    /// File with an extra request header `Name: value` for an https source
    /// [env: CLEF_AGENT_SOURCE_HEADER_FILE; or CLEF_AGENT_SOURCE_HEADER]
    #[arg(long = "source-header-file", global = true)]
    source_header_file: Option<String>,
    /// PEM file of extra trust anchors for an https source [env: CLEF_AGENT_CA_FILE or
    /// CLEF_AGENT_CA_BUNDLE; SSL_CERT_FILE/SSL_CERT_DIR replace the system roots]
    #[arg(long = "ca-file", global = true)]
    ca_file: Option<String>,
    /// Refuse artifacts of another identity [env: CLEF_AGENT_IDENTITY]
    #[arg(long, global = true)]
    identity: Option<String>,
    /// Refuse artifacts of another environment [env: CLEF_AGENT_ENVIRONMENT]
    #[arg(long, global = true)]
    environment: Option<String>,
    /// Connection cap (default 1024) [env: CLEF_AGENT_MAX_CONNECTIONS]
    #[arg(long = "max-connections", global = true)]
    max_connections: Option<String>,
    /// Seconds between polls, replacing the schedule [env: CLEF_AGENT_POLL_INTERVAL]
    #[arg(long = "poll-interval", global = true)]
    poll_interval: Option<String>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a command with the values in its environment; restart it when a new
    /// revision changes them (after a debounce); forward signals; exit with its code.
    Exec {
        /// Seconds to wait for more revisions before restarting.
        #[arg(long, default_value = "2")]
        debounce: f64,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<OsString>,
    },
}

fn main() -> std::process::ExitCode {
    clef_sops::process::quiet_panics("clef-agent", "", exit::INTERNAL.into());
    // The library's log lines (JSON events, failure lines; names and reasons,
    // never a value) go to stderr, one write a line.
    let _ = clef_agent::log::set_sink(Box::new(|line: &str| {
        use std::io::Write as _;
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }));
    let cli = Cli::parse();
    let flags: HashMap<&str, String> = [
        ("CLEF_AGENT_SOURCE", &cli.source),
        ("CLEF_AGENT_PORT", &cli.port),
        ("CLEF_AGENT_CACHE_TTL", &cli.cache_ttl),
        ("CLEF_AGENT_CACHE_PATH", &cli.cache_path),
        ("CLEF_AGENT_AGE_KEY_FILE", &cli.age_key_file),
        ("CLEF_AGENT_TOKEN_FILE", &cli.token_file),
        ("CLEF_AGENT_VERIFY_KEY", &cli.verify_key),
        ("CLEF_AGENT_VERIFY_KEY_FILE", &cli.verify_key_file),
        ("CLEF_AGENT_SOURCE_HEADER_FILE", &cli.source_header_file),
        ("CLEF_AGENT_CA_FILE", &cli.ca_file),
        ("CLEF_AGENT_IDENTITY", &cli.identity),
        ("CLEF_AGENT_ENVIRONMENT", &cli.environment),
        ("CLEF_AGENT_MAX_CONNECTIONS", &cli.max_connections),
        ("CLEF_AGENT_POLL_INTERVAL", &cli.poll_interval),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect();
    let config_file = cli
        .config
        .clone()
        .or_else(|| std::env::var_os("CLEF_AGENT_CONFIG").map(PathBuf::from));
    let file = match config_file
        .as_deref()
        .map(clef_agent::config::read_config_file)
    {
        None => HashMap::new(),
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            eprintln!("clef-agent: {e}");
            return std::process::ExitCode::from(exit::CONFIG);
        }
    };
    let get = |k: &str| -> Option<Zeroizing<String>> {
        if let Some(v) = flags.get(k) {
            return Some(Zeroizing::new(v.clone()));
        }
        // a flag for the file form wins over the environment's inline form
        let file_flag = format!("{k}_FILE");
        if flags.contains_key(file_flag.as_str()) {
            return None;
        }
        if let Ok(v) = std::env::var(k) {
            return Some(Zeroizing::new(v));
        }
        file.get(k).cloned()
    };
    let cfg = match clef_agent::config::Config::resolve(&get) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("clef-agent: {e}");
            return std::process::ExitCode::from(exit::CONFIG);
        }
    };
    let (exec, debounce) = match cli.cmd {
        Some(Cmd::Exec { debounce, command }) => {
            if !(debounce.is_finite() && (0.0..=3600.0).contains(&debounce)) {
                eprintln!("clef-agent: --debounce: seconds, 0 to 3600");
                return std::process::ExitCode::from(exit::CONFIG);
            }
            (Some(command), Duration::from_secs_f64(debounce))
        }
        None => (None, Duration::ZERO),
    };
    // the exit code of `exec`'s child passes through; codes outside 0..=255 become 1
    std::process::ExitCode::from(
        u8::try_from(clef_agent::run(cfg, exec, debounce)).unwrap_or(exit::FAILED),
    )
}
