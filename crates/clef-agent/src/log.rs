//! The agent's log: JSON lines, one object per event,
//! `{"ts","level","event",…}`, and the plain `clef-agent: …` lines of a
//! failure. Only names, revisions, counts, paths and reasons go in; never a
//! value, a token or a key (the callers pass errors from `clef_artifact`,
//! whose messages never carry one).
//!
//! The library never prints: every line goes to the [`Sink`] that the
//! binary installs with [`set_sink`] (`clef-agent` and `clef serve` write
//! them to stderr). Until one is installed, lines are dropped.

use std::sync::OnceLock;

use clef_artifact::plaintext::write_js_string;

/// Where log lines go: called with one whole line (newline included), from
/// any thread; one call a line, so a sink that writes once never mixes lines.
pub type Sink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the process's sink (the binary's choice). The first one stays:
/// a second call returns its sink back.
pub fn set_sink(sink: Sink) -> Result<(), Sink> {
    SINK.set(sink)
}

fn emit(line: &str) {
    if let Some(sink) = SINK.get() {
        sink(line);
    }
}

/// A plain line for a person, `message` and a newline (a failure the
/// agent stops on, prefixed by the caller: `clef-agent: …`).
pub fn say(message: &str) {
    emit(&format!("{message}\n"));
}

/// A field value.
pub enum F<'a> {
    /// A string.
    S(&'a str),
    /// A number.
    N(i64),
    /// A boolean.
    B(bool),
}

/// Sends one event line to the sink.
pub fn event(level: &str, event: &str, fields: &[(&str, F<'_>)]) {
    let mut s = String::with_capacity(128);
    s.push_str("{\"ts\":");
    write_js_string(
        &mut s,
        &clef_artifact::clock::iso_ms(clef_artifact::clock::now_ms()),
    );
    s.push_str(",\"level\":");
    write_js_string(&mut s, level);
    s.push_str(",\"event\":");
    write_js_string(&mut s, event);
    for (k, v) in fields {
        s.push(',');
        write_js_string(&mut s, k);
        s.push(':');
        match v {
            F::S(v) => write_js_string(&mut s, v),
            F::N(n) => s.push_str(&n.to_string()),
            F::B(b) => s.push_str(if *b { "true" } else { "false" }),
        }
    }
    s.push_str("}\n");
    emit(&s);
}

/// `event("info", …)`.
pub fn info(name: &str, fields: &[(&str, F<'_>)]) {
    event("info", name, fields);
}

/// `event("warn", …)`.
pub fn warn(name: &str, fields: &[(&str, F<'_>)]) {
    event("warn", name, fields);
}

/// `event("error", …)`.
pub fn error(name: &str, fields: &[(&str, F<'_>)]) {
    event("error", name, fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn lines_go_to_the_binarys_sink_only() {
        let got = Arc::new(Mutex::new(Vec::<String>::new()));
        let g = Arc::clone(&got);
        // other tests of this binary may log too: only this test's lines count
        assert!(
            set_sink(Box::new(move |l| g.lock().unwrap().push(l.to_owned()))).is_ok(),
            "no other test installs a sink"
        );
        warn(
            "test.sink",
            &[("reason", F::S("a \"quoted\" reason")), ("n", F::N(3))],
        );
        say("clef-agent: test.sink plain line");
        let lines: Vec<String> = got
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("test.sink"))
            .cloned()
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("{\"ts\":\""), "{}", lines[0]);
        assert!(
            lines[0].ends_with(
                ",\"level\":\"warn\",\"event\":\"test.sink\",\"reason\":\"a \\\"quoted\\\" reason\",\"n\":3}\n"
            ),
            "{}",
            lines[0]
        );
        assert_eq!(lines[1], "clef-agent: test.sink plain line\n");
        assert!(set_sink(Box::new(|_| {})).is_err(), "the first sink stays");
    }
}
