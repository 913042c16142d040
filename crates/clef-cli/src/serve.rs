//! `clef serve -i IDENTITY -e ENV`: developer mode of the agent. Packs the
//! identity's cells in memory to an ephemeral age key (never written), and
//! serves the agent's API (`clef-agent`'s routes and guards) on 127.0.0.1
//! with a printed token. No TTL, no reload. Protected environments are
//! refused: their values do not belong on a developer's loopback port.

use std::path::Path;
use std::sync::Arc;

use clap::Args;
use clef_agent::state::{Applied, State, Verifier};
use clef_artifact::{Artifact, clock, seal};

use crate::error::{CliError, code};
use crate::repo::Repo;

/// `clef serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The service identity.
    #[arg(short = 'i', long = "identity")]
    pub identity: String,
    /// The environment (not a protected one).
    #[arg(short = 'e', long = "env")]
    pub environment: String,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(short = 'p', long, default_value_t = 7779)]
    pub port: u16,
}

/// Runs `clef serve`.
pub fn serve(dir: Option<&Path>, a: ServeArgs) -> Result<(), CliError> {
    // the agent library's log lines (JSON, names and reasons only): to stderr
    let _ = clef_agent::log::set_sink(Box::new(|line: &str| {
        use std::io::Write as _;
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }));
    let repo = Repo::open(dir)?;
    let scope = repo
        .manifest
        .service_scope(&a.identity, &a.environment)
        .map_err(|e| CliError::new(code::USAGE, e.to_string()))?;
    if repo
        .manifest
        .environment(&a.environment)
        .is_some_and(|e| e.protected)
    {
        return Err(CliError::new(
            code::GENERIC,
            format!(
                "'{}' is a protected environment: clef serve is for development; deploy clef-agent with a packed artifact instead",
                a.environment
            ),
        ));
    }
    let p = crate::pack::plaintext(&repo, &scope.cells)?;
    let (secret, recipient) = clef_keys::generate_identity();
    let fail = |e: clef_artifact::ArtifactError| CliError::new(code::GENERIC, e.to_string());
    let ct = seal::seal_age(&recipient, p.to_json().as_bytes()).map_err(fail)?;
    drop(p);
    let art = Artifact::new(&a.identity, &a.environment, ct, None, None, clock::now_ms());
    let mut ids = clef_keys::Identities::empty();
    ids.add_text(secret.expose(), "ephemeral key")
        .map_err(|e| CliError::new(code::GENERIC, e.to_string()))?;
    drop(secret);
    let state = Arc::new(State::new(
        false,
        0,
        Verifier {
            verify_key: None,
            ids,
            kms: None,
            identity: None,
            environment: None,
        },
    ));
    let applied = state.apply(art.to_json().into_bytes(), clock::now_ms(), "memory");
    if applied != Applied::Refreshed {
        return Err(CliError::new(
            code::GENERIC,
            "the in-memory artifact did not open",
        ));
    }
    let token = clef_agent::generate_token();
    let keys = state
        .current(clock::now_ms())
        .map(|l| l.keys_json.matches("__").count())
        .unwrap_or(0);
    clef_agent::serve_until_terminated(state, &token, a.port, |port| {
        crate::out::print_str(&format!(
            "clef serve: {}/{} ({keys} key(s)) on http://127.0.0.1:{port}/v1/secrets (Ctrl-C stops)\nCLEF_AGENT_TOKEN={}\n",
            a.identity,
            a.environment,
            token.as_str()
        ))
        .ok();
    })
    .map_err(|e| CliError::new(code::GENERIC, e.to_string()))
}
