//! Output: the one place that decides how data is printed (text or JSON).

use std::fmt::Write as _;

use crate::error::CliError;

/// A JSON value for `--json` output.
pub enum Json {
    /// null
    Null,
    /// true/false
    Bool(bool),
    /// A number.
    Num(i64),
    /// A string (may be a secret value: wiped on drop).
    Str(zeroize::Zeroizing<String>),
    /// An array.
    Arr(Vec<Json>),
    /// An object (ordered).
    Obj(Vec<(&'static str, Json)>),
    /// An object whose keys are data (environment or key names; ordered).
    Map(Vec<(String, Json)>),
}

impl Json {
    /// A string.
    pub fn s(v: impl Into<String>) -> Json {
        Json::Str(zeroize::Zeroizing::new(v.into()))
    }

    /// An optional string (null when absent).
    pub fn opt(v: Option<impl Into<String>>) -> Json {
        v.map_or(Json::Null, |s| Json::Str(zeroize::Zeroizing::new(s.into())))
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => clef_doc::json::write_string(out, s),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(o) => {
                let o: Vec<(&str, &Json)> = o.iter().map(|(k, v)| (*k, v)).collect();
                Json::write_obj(&o, out);
            }
            Json::Map(o) => {
                let o: Vec<(&str, &Json)> = o.iter().map(|(k, v)| (k.as_str(), v)).collect();
                Json::write_obj(&o, out);
            }
        }
    }

    fn write_obj(o: &[(&str, &Json)], out: &mut String) {
        out.push('{');
        for (i, (k, v)) in o.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            clef_doc::json::write_string(out, k);
            out.push(':');
            v.write(out);
        }
        out.push('}');
    }

    /// The compact JSON text plus a newline. May hold secret values (get,
    /// export): callers wrap it in `Zeroizing` when it does.
    pub fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s.push('\n');
        s
    }
}

/// Prints bytes to stdout (a closed pipe is not an error).
pub fn print(bytes: &[u8]) -> Result<(), CliError> {
    crate::sops_cmd::write_stdout(bytes)
}

/// Prints text to stdout.
pub fn print_str(s: &str) -> Result<(), CliError> {
    print(s.as_bytes())
}

/// A message for the user on stderr, `clef: ` first; control characters in
/// it (from key or file names) are escaped ([`clef_core::term::escape_lines`]).
pub fn note(msg: impl AsRef<str>) {
    eprintln!("clef: {}", clef_core::term::escape_lines(msg.as_ref()));
}

/// A line for the user on stderr as is (sops's own wording, no `clef: `
/// prefix), its control characters escaped like [`note`]'s.
pub fn info(msg: impl AsRef<str>) {
    eprintln!("{}", clef_core::term::escape_lines(msg.as_ref()));
}

/// Text for stdout that a person reads (listings, not data): control
/// characters in names, descriptions or paths are escaped.
pub fn print_human(s: &str) -> Result<(), CliError> {
    print_str(&clef_core::term::escape_lines(s))
}

/// A name (key, file, branch) escaped for a terminal.
pub fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    clef_core::term::escape(name)
}

/// What a hidden value looks like in listings.
pub const MASK: &str = "********";

/// Asks `prompt` (followed by ` [y/N] `) on stderr and reads one line of
/// stdin: whether the answer is yes.
pub fn confirm(prompt: &str) -> Result<bool, CliError> {
    eprint!("{prompt} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| {
        CliError::new(
            crate::error::code::READ,
            format!("cannot read the answer: {}", e.kind()),
        )
    })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
