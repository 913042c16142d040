//! JSON lines on stderr: one object per event, `{"ts","level","event",…}`.
//! Only names, revisions, counts, paths and reasons go in; never a value,
//! a token or a key (the callers pass errors from `clef_artifact`, whose
//! messages never carry one).

use std::io::Write as _;

use clef_artifact::plaintext::write_js_string;

/// A field value.
pub enum F<'a> {
    /// A string.
    S(&'a str),
    /// A number.
    N(i64),
    /// A boolean.
    B(bool),
}

/// Writes one event line to stderr (one `write` call, so lines never mix).
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
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
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
