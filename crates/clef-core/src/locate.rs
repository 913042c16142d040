//! Finding the line of a key path in block-style YAML text, so that manifest
//! and schema errors can say *where* (the document tree itself carries no
//! positions). Flow-style collections are located at their parent's line.

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

impl Seg {
    /// A key step.
    pub fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }
}

/// Renders a path as `environments[1].name`.
pub fn display(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[derive(Debug)]
enum Tok {
    Dash,
    Key(String),
}

#[derive(Debug)]
struct Token {
    line: usize,
    indent: usize,
    tok: Tok,
}

fn key_of(content: &str) -> Option<String> {
    let content = content.trim_end();
    let (raw, rest) = if let Some(q) = content.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], &q[end + 1..])
    } else if let Some(q) = content.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], &q[end + 1..])
    } else {
        let pos = content
            .find(": ")
            .or_else(|| content.strip_suffix(':').map(str::len))?;
        (&content[..pos], &content[pos..])
    };
    let rest = rest.trim_start();
    if rest.starts_with(':') {
        Some(raw.trim().to_owned())
    } else {
        None
    }
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut indent = line.len() - line.trim_start_matches(' ').len();
        let mut rest = &line[indent..];
        if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") {
            continue;
        }
        while let Some(r) = rest
            .strip_prefix('-')
            .filter(|r| r.is_empty() || r.starts_with(' '))
        {
            out.push(Token {
                line: n + 1,
                indent,
                tok: Tok::Dash,
            });
            let skip = r.len() - r.trim_start_matches(' ').len();
            indent += 1 + skip;
            rest = &r[skip..];
        }
        if let Some(k) = key_of(rest) {
            out.push(Token {
                line: n + 1,
                indent,
                tok: Tok::Key(k),
            });
        }
    }
    out
}

/// The 1-based line where `path` is written in `text`, or the line of the
/// deepest ancestor found; `None` when not even the first step is there.
pub fn line_of(text: &str, path: &[Seg]) -> Option<usize> {
    let toks = tokens(text);
    let (mut lo, mut hi) = (0usize, toks.len());
    let mut found = None;
    for seg in path {
        let level = toks.get(lo..hi).and_then(|t| t.first()).map(|t| t.indent)?;
        let hit = match seg {
            Seg::Key(k) => (lo..hi).find(|&i| {
                toks[i].indent == level && matches!(&toks[i].tok, Tok::Key(x) if x == k)
            }),
            Seg::Index(n) => (lo..hi)
                .filter(|&i| toks[i].indent == level && matches!(toks[i].tok, Tok::Dash))
                .nth(*n),
        };
        let Some(i) = hit else { break };
        found = Some(toks[i].line);
        let own = toks[i].indent;
        let is_key = matches!(toks[i].tok, Tok::Key(_));
        let end = (i + 1..hi)
            .find(|&j| {
                toks[j].indent < own
                    || (toks[j].indent == own && !(is_key && matches!(toks[j].tok, Tok::Dash)))
            })
            .unwrap_or(hi);
        lo = i + 1;
        hi = end;
        if lo >= hi {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\n# c\nenvironments:\n  - name: dev\n    description: d\n  - name: prod\n    recipients:\n      - age1x\n      - key: age1y\n        label: bob\nnamespaces:\n- name: api\n  description: x\nsops:\n  age:\n    recipients: [a, b]\n";

    #[test]
    fn finds_nested_paths() {
        let p = |s: &[Seg]| line_of(DOC, s);
        assert_eq!(p(&[Seg::key("version")]), Some(1));
        assert_eq!(
            p(&[Seg::key("environments"), Seg::Index(1), Seg::key("name")]),
            Some(6)
        );
        assert_eq!(
            p(&[
                Seg::key("environments"),
                Seg::Index(1),
                Seg::key("recipients"),
                Seg::Index(1),
                Seg::key("label")
            ]),
            Some(10)
        );
        assert_eq!(
            p(&[
                Seg::key("environments"),
                Seg::Index(0),
                Seg::key("description")
            ]),
            Some(5)
        );
        assert_eq!(
            p(&[
                Seg::key("namespaces"),
                Seg::Index(0),
                Seg::key("description")
            ]),
            Some(13)
        );
        assert_eq!(
            p(&[
                Seg::key("sops"),
                Seg::key("age"),
                Seg::key("recipients"),
                Seg::Index(1)
            ]),
            Some(16)
        );
        assert_eq!(
            p(&[
                Seg::key("environments"),
                Seg::Index(0),
                Seg::key("recipients")
            ]),
            Some(4)
        );
        assert_eq!(p(&[Seg::key("nope")]), None);
        assert_eq!(
            display(&[Seg::key("environments"), Seg::Index(1), Seg::key("name")]),
            "environments[1].name"
        );
    }
}
