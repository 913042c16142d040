//! The YAML writer: prints a document tree the way sops 3.11 prints it
//! through go-yaml v3's encoder and emitter (block style, indentation
//! `indent`, no line wrapping, go-yaml's quoting rules).

use crate::tree::{Branch, Item, Value};

use super::resolve;

/// Scalar presentation styles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// go-yaml's `yaml_emitter_analyze_scalar` result.
#[derive(Debug, PartialEq, Eq)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_printable(b: &[u8], i: usize) -> bool {
    let c = b[i];
    let c1 = b.get(i + 1).copied().unwrap_or(0);
    let c2 = b.get(i + 2).copied().unwrap_or(0);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (c == 0xC2 && c1 >= 0xA0)
        || (c > 0xC2 && c < 0xED)
        || (c == 0xED && c1 < 0xA0)
        || c == 0xEE
        || (c == 0xEF && !(c1 == 0xBB && c2 == 0xBF) && !(c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)))
}

fn is_break_at(b: &[u8], i: usize) -> bool {
    let c = b[i];
    c == b'\r'
        || c == b'\n'
        || (c == 0xC2 && b.get(i + 1) == Some(&0x85))
        || (c == 0xE2
            && b.get(i + 1) == Some(&0x80)
            && matches!(b.get(i + 2), Some(&0xA8) | Some(&0xA9)))
}

fn is_blankz_at(b: &[u8], i: usize) -> bool {
    i >= b.len() || b[i] == b' ' || b[i] == b'\t' || is_break_at(b, i)
}

fn width(c: u8) -> usize {
    if c & 0x80 == 0 {
        1
    } else if c & 0xE0 == 0xC0 {
        2
    } else if c & 0xF0 == 0xE0 {
        3
    } else if c & 0xF8 == 0xF0 {
        4
    } else {
        1
    }
}

/// Whether `b` is a common plain-safe token (printable ASCII without
/// spaces, not starting with an indicator, not ending in `:`): its analysis
/// is known without the full scan.
fn simple_token(b: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    let indicator_start = matches!(
        first,
        b'#' | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    );
    let lone_indicator = b.len() == 1 && matches!(first, b'?' | b':' | b'-');
    let document_marker = b.starts_with(b"---") || b.starts_with(b"...");
    let printable_no_space = b.iter().all(|&c| (0x21..=0x7E).contains(&c));
    printable_no_space && !indicator_start && !lone_indicator && !document_marker && last != b':'
}

fn analyze(value: &str) -> Analysis {
    let b = value.as_bytes();
    if simple_token(b) {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
    }
    analyze_full(b)
}

fn analyze_full(b: &[u8]) -> Analysis {
    if b.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut tab_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut preceded_by_whitespace;
    let mut previous_space = false;
    let mut previous_break = false;

    if b.len() >= 3 && (b.starts_with(b"---") || b.starts_with(b"...")) {
        block_indicators = true;
    }
    preceded_by_whitespace = true;
    let mut i = 0;
    while i < b.len() {
        let w = width(b[i]);
        let followed_by_whitespace = i + w >= b.len() || is_blankz_at(b, i + w);
        let c = b[i];
        if i == 0 {
            match c {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => block_indicators = true,
                b'?' | b':' | b'-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                b':' if followed_by_whitespace => block_indicators = true,
                b'#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if c == b'\t' {
            tab_characters = true;
        } else if !is_printable(b, i) {
            special_characters = true;
        }
        if c == b' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + w == b.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break_at(b, i) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == b.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz_at(b, i);
        i += w;
    }

    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tab_characters || special_characters {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        a.block_allowed = false;
    }
    if line_breaks {
        a.block_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The style go-yaml gives a string value (`simple_key`: written as a
/// simple mapping key).
pub(crate) fn string_style(s: &str, simple_key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if resolve::resolve_tag(s) == "!!str"
        && !resolve::is_base60_float(s)
        && !resolve::is_old_bool(s)
    {
        Style::Plain
    } else {
        Style::DoubleQuoted
    };
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !a.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

fn push_double_quoted(out: &mut String, s: &str) {
    let b = s.as_bytes();
    out.push('"');
    // go-yaml's BOM test looks at the start of the value, not at the current
    // position: a value that starts with U+FEFF gets every character escaped.
    let is_bom = s.starts_with('\u{feff}');
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !is_printable(b, i) || is_bom || is_break_at(b, i) || c == b'"' || c == b'\\' {
            let w = width(c);
            let ch = s[i..].chars().next().map(u32::from).unwrap_or(u32::from(c));
            i += w;
            out.push('\\');
            match ch {
                0x00 => out.push('0'),
                0x07 => out.push('a'),
                0x08 => out.push('b'),
                0x09 => out.push('t'),
                0x0A => out.push('n'),
                0x0B => out.push('v'),
                0x0C => out.push('f'),
                0x0D => out.push('r'),
                0x1B => out.push('e'),
                0x22 => out.push('"'),
                0x5C => out.push('\\'),
                0x85 => out.push('N'),
                0xA0 => out.push('_'),
                0x2028 => out.push('L'),
                0x2029 => out.push('P'),
                _ => {
                    let (prefix, digits) = if ch <= 0xFF {
                        ('x', 2)
                    } else if ch <= 0xFFFF {
                        ('u', 4)
                    } else {
                        ('U', 8)
                    };
                    out.push(prefix);
                    for k in (0..digits).rev() {
                        let d = (ch >> (k * 4)) & 0xF;
                        out.push(char::from_digit(d, 16).unwrap_or('0').to_ascii_uppercase());
                    }
                }
            }
        } else {
            let w = width(c);
            out.push_str(&s[i..i + w]);
            i += w;
        }
    }
    out.push('"');
}

/// go-yaml's single-quoted writer. Line breaks can only be the printable
/// ones (U+2028, U+2029) here; after a break the text continues at
/// `indent`.
fn push_single_quoted(out: &mut String, s: &str, indent: usize) {
    let b = s.as_bytes();
    out.push('\'');
    let mut breaks = false;
    let mut i = 0;
    while i < b.len() {
        let w = width(b[i]);
        if is_break_at(b, i) {
            if !breaks && b[i] == b'\n' {
                out.push('\n');
            }
            if b[i] == b'\n' {
                out.push('\n');
            } else {
                out.push_str(&s[i..i + w]);
            }
            breaks = true;
        } else {
            if breaks {
                out.extend(std::iter::repeat_n(' ', indent));
            }
            if b[i] == b'\'' {
                out.push('\'');
            }
            out.push_str(&s[i..i + w]);
            breaks = false;
        }
        i += w;
    }
    out.push('\'');
}

/// Writes a scalar string in `style` (not literal).
fn push_inline(out: &mut String, s: &str, style: Style, indent: usize) {
    match style {
        // go-yaml's encoder re-parses its own output: a plain `<<` comes
        // back as a merge key and is then written with an explicit tag.
        Style::Plain if s == "<<" => out.push_str("!!merge <<"),
        Style::Plain => out.push_str(s),
        Style::SingleQuoted => push_single_quoted(out, s, indent),
        Style::DoubleQuoted | Style::Literal => push_double_quoted(out, s),
    }
}

struct Emitter {
    out: String,
    n: usize,
    /// Indentation of the most recent foot comment (go-yaml's `foot_indent`):
    /// the next line written at that same indentation gets a blank line
    /// before it.
    foot_indent: Option<usize>,
    /// Column of the key being written.
    current_key_indent: usize,
}

impl Emitter {
    fn child(&self, c: usize) -> usize {
        (c / self.n + 1) * self.n
    }

    /// Starts a new line at `indent`.
    fn line(&mut self, indent: usize) {
        if self.foot_indent == Some(indent) {
            self.out.push('\n');
        }
        self.foot_indent = None;
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    fn comment_line(&mut self, indent: usize, text: &str) {
        self.line(indent);
        self.out.push('#');
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn foot_comments(&mut self, indent: usize, texts: &[&str]) {
        if texts.is_empty() {
            return;
        }
        for t in texts {
            self.comment_line(indent, t);
        }
        self.foot_indent = Some(indent);
    }

    /// A literal block scalar: header already positioned after the key or
    /// dash (`prefix` written by the caller), content at `content_indent`.
    fn literal(&mut self, s: &str, content_indent: usize) {
        let b = s.as_bytes();
        self.out.push('|');
        if b.first().is_some_and(|&c| c == b' ') || is_break_at(b, 0) {
            self.out.push_str(&self.n.to_string());
        }
        // Chomping indicator.
        let chomp = {
            let mut i = b.len();
            // Find the start of the last character.
            let last_start = |mut i: usize| {
                i -= 1;
                while i > 0 && b[i] & 0xC0 == 0x80 {
                    i -= 1;
                }
                i
            };
            if b.is_empty() {
                Some('-')
            } else {
                i = last_start(i);
                if !is_break_at(b, i) {
                    Some('-')
                } else if i == 0 {
                    Some('+')
                } else {
                    let j = last_start(i);
                    if is_break_at(b, j) { Some('+') } else { None }
                }
            }
        };
        if let Some(c) = chomp {
            self.out.push(c);
        }
        self.out.push('\n');
        let mut at_line_start = true;
        let mut i = 0;
        while i < b.len() {
            if is_break_at(b, i) {
                let w = if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    width(b[i])
                };
                // go-yaml's write_break: CR LF and LF become '\n', others
                // are copied.
                if b[i] == b'\n' || (b[i] == b'\r' && w == 2) {
                    self.out.push('\n');
                } else {
                    self.out.push_str(&s[i..i + w]);
                    if b[i] == b'\r' {
                        // A lone CR is a break too.
                    }
                }
                i += w;
                at_line_start = true;
            } else {
                if at_line_start {
                    for _ in 0..content_indent {
                        self.out.push(' ');
                    }
                    at_line_start = false;
                }
                let w = width(b[i]);
                self.out.push_str(&s[i..i + w]);
                i += w;
            }
        }
        if !at_line_start {
            self.out.push('\n');
        }
    }

    /// Writes a scalar value after `key:` / `- ` (the caller wrote the
    /// separator space). `parent` is the indentation that block scalar
    /// content is relative to.
    fn scalar(&mut self, v: &Value, content_indent: usize) {
        match v {
            Value::Null => self.out.push_str("null\n"),
            Value::Bool(b) => self.out.push_str(if *b { "true\n" } else { "false\n" }),
            Value::Int(i) => {
                self.out.push_str(&i.to_string());
                self.out.push('\n');
            }
            Value::Float(f) => {
                self.out.push_str(&resolve::format_float_yaml(*f));
                self.out.push('\n');
            }
            Value::Time(t) => {
                self.out.push_str(t);
                self.out.push('\n');
            }
            Value::Str(s) | Value::Comment(s) => {
                let style = string_style(s, false);
                if style == Style::Literal && s.starts_with('\t') {
                    // sops builds each value node with go-yaml's
                    // `Node.Encode`, which re-parses the encoded text; a
                    // literal block whose first line starts with a tab does
                    // not parse back, sops ignores the error and the empty
                    // node is written as `null`.
                    self.out.push_str("null\n");
                } else if style == Style::Literal {
                    self.literal(s, content_indent);
                } else {
                    push_inline(&mut self.out, s, style, content_indent);
                    self.out.push('\n');
                }
            }
            Value::Map(_) | Value::List(_) => {}
        }
    }

    fn key(&mut self, k: &str) -> bool {
        let simple = k.len() <= 128 && !analyze(k).multiline;
        if simple {
            let style = string_style(k, true);
            let ci = self.child(self.current_key_indent);
            push_inline(&mut self.out, k, style, ci);
            self.out.push(':');
        } else {
            // Not a simple key (longer than 128 bytes or multi-line): go-yaml
            // writes `? key` with the key in its normal value style.
            self.out.push_str("? ");
            let ci = self.child(self.current_key_indent);
            self.scalar(&Value::Str(crate::tree::secret(k)), ci);
        }
        simple
    }

    /// A mapping's items. `indent` is the column of its keys; if `inline`,
    /// the cursor already sits at that column (after `- `).
    fn mapping(&mut self, items: &[Item], indent: usize, mut inline: bool) {
        let mut pending: Vec<&str> = Vec::new();
        let mut any_entry = false;
        for item in items {
            match item {
                Item::Comment(c) => pending.push(c.as_str()),
                Item::Entry(k, v) => {
                    for c in pending.drain(..) {
                        if inline {
                            // A head comment right after "- ".
                            self.out.push('#');
                            self.out.push_str(c);
                            self.out.push('\n');
                            inline = false;
                        } else {
                            self.comment_line(indent, c);
                        }
                    }
                    if inline {
                        inline = false;
                        self.foot_indent = None;
                    } else {
                        self.line(indent);
                    }
                    any_entry = true;
                    self.current_key_indent = indent;
                    if self.key(k) {
                        self.value_after_key(v, indent);
                    } else {
                        self.line(indent);
                        self.out.push(':');
                        self.value_after_complex_key(v, indent);
                    }
                }
            }
        }
        if !any_entry {
            // Only comments: go-yaml prints them before an empty flow map.
            for c in pending.drain(..) {
                if inline {
                    self.out.push('#');
                    self.out.push_str(c);
                    self.out.push('\n');
                    inline = false;
                } else {
                    self.comment_line(indent, c);
                }
            }
            if !inline {
                self.line(indent);
            }
            self.out.push_str("{}\n");
            return;
        }
        let trailing: Vec<&str> = pending;
        self.foot_comments(indent, &trailing);
    }

    fn value_after_key(&mut self, v: &Value, key_indent: usize) {
        match v {
            Value::Map(b) if b.keys().next().is_some() => {
                self.out.push('\n');
                let ci = self.child(key_indent);
                self.mapping(&b.0, ci, false);
            }
            Value::Map(_) => self.out.push_str(" {}\n"),
            Value::List(l) if l.iter().any(|x| !matches!(x, Value::Comment(_))) => {
                self.out.push('\n');
                let ci = self.child(key_indent);
                self.sequence(l, ci, false, false);
            }
            Value::List(_) => self.out.push_str(" []\n"),
            other => {
                self.out.push(' ');
                let ci = self.child(key_indent);
                self.scalar(other, ci);
            }
        }
    }

    /// The value after the `:` of a `? key` entry: collections start on the
    /// same line at the child indentation.
    fn value_after_complex_key(&mut self, v: &Value, key_indent: usize) {
        let ci = self.child(key_indent);
        let pad = |out: &mut String| {
            out.extend(std::iter::repeat_n(' ', ci.saturating_sub(key_indent + 1)))
        };
        match v {
            Value::Map(b) if b.keys().next().is_some() => {
                pad(&mut self.out);
                self.mapping(&b.0, ci, true);
            }
            Value::List(l) if has_values(l) => {
                pad(&mut self.out);
                self.sequence(l, ci, true, false);
            }
            other => self.value_after_key(other, key_indent),
        }
    }

    /// A sequence with dashes at `indent`. If `inline`, the cursor already
    /// sits at that column (after a parent's `- ` or a `? key`'s `:`); if
    /// `head_printed`, the sequence's own leading comments were printed by
    /// the parent sequence (this sequence is one of its items).
    ///
    /// go-yaml's emitter keeps one pending head comment: a sequence's head
    /// (its leading comments) is replaced by the head of its first item when
    /// that item has one, and is printed before the first dash. The head of a
    /// mapping or sequence item is its own leading comments, preceded by the
    /// comments written between it and the previous item.
    fn sequence(&mut self, l: &[Value], indent: usize, mut inline: bool, head_printed: bool) {
        let lead = if head_printed { leading_values(l) } else { 0 };
        let mut pending: Vec<&str> = Vec::new();
        let mut first = true;
        for item in &l[lead..] {
            if let Value::Comment(c) = item {
                pending.push(c.as_str());
                continue;
            }
            let own: Vec<&str> = match item {
                Value::Map(b) if b.keys().next().is_some() => b.0[..leading_items(&b.0)]
                    .iter()
                    .filter_map(|i| match i {
                        Item::Comment(c) => Some(c.as_str()),
                        Item::Entry(..) => None,
                    })
                    .collect(),
                Value::List(inner) if has_values(inner) => inner[..leading_values(inner)]
                    .iter()
                    .filter_map(|v| match v {
                        Value::Comment(c) => Some(c.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let head: Vec<&str> = if first && !own.is_empty() {
                own
            } else {
                let mut h = std::mem::take(&mut pending);
                h.extend(own);
                h
            };
            pending.clear();
            first = false;
            for c in head {
                self.lead_comment(&mut inline, indent, c);
            }
            if inline {
                inline = false;
                self.foot_indent = None;
            } else {
                self.line(indent);
            }
            self.out.push('-');
            match item {
                Value::Map(b) if b.keys().next().is_some() => {
                    self.out.push(' ');
                    let lead = leading_items(&b.0);
                    self.mapping(&b.0[lead..], indent + 2, true);
                }
                Value::Map(_) => self.out.push_str(" {}\n"),
                Value::List(inner) if has_values(inner) => {
                    self.out.push(' ');
                    self.sequence(inner, indent + 2, true, true);
                }
                Value::List(_) => self.out.push_str(" []\n"),
                other => {
                    self.out.push(' ');
                    self.scalar(other, indent + 2);
                }
            }
        }
        self.foot_comments(indent, &pending);
    }

    /// A comment line printed before a sequence item's dash.
    fn lead_comment(&mut self, inline: &mut bool, indent: usize, c: &str) {
        if *inline {
            self.out.push('#');
            self.out.push_str(c);
            self.out.push('\n');
            *inline = false;
        } else {
            self.comment_line(indent, c);
        }
    }
}

fn leading_items(items: &[Item]) -> usize {
    items
        .iter()
        .take_while(|i| matches!(i, Item::Comment(_)))
        .count()
}

fn leading_values(items: &[Value]) -> usize {
    items
        .iter()
        .take_while(|i| matches!(i, Value::Comment(_)))
        .count()
}

fn has_values(items: &[Value]) -> bool {
    items.iter().any(|x| !matches!(x, Value::Comment(_)))
}

/// Prints documents the way sops does (see the module docs of
/// [`crate::yaml`]).
pub(crate) fn emit_docs(docs: &[Branch], indent: usize) -> String {
    let n = if (2..=9).contains(&indent) { indent } else { 2 };
    let mut e = Emitter {
        out: String::new(),
        n,
        foot_indent: None,
        current_key_indent: 0,
    };
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.foot_indent = None;
            e.out.push_str("---\n");
        }
        e.mapping(&doc.0, 0, false);
    }
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        let mut out = String::new();
        push_inline(&mut out, s, string_style(s, false), 4);
        out
    }

    #[test]
    fn quoting() {
        assert_eq!(q("plain"), "plain");
        assert_eq!(q("123"), "\"123\"");
        assert_eq!(q("0123"), "\"0123\"");
        assert_eq!(q("true"), "\"true\"");
        assert_eq!(q("null"), "\"null\"");
        assert_eq!(q(""), "\"\"");
        assert_eq!(q("yes"), "\"yes\"");
        assert_eq!(q("on"), "\"on\"");
        assert_eq!(q("y"), "\"y\"");
        assert_eq!(q("1:20"), "\"1:20\"");
        assert_eq!(q("12:30:00"), "\"12:30:00\"");
        assert_eq!(q("2026-11-24T00:02:41Z"), "\"2026-11-24T00:02:41Z\"");
        assert_eq!(q("a\tb"), "\"a\\tb\"");
        assert_eq!(q("\u{1}"), "\"\\x01\"");
        assert_eq!(q("\u{7}"), "\"\\a\"");
        assert_eq!(q("a: b"), "'a: b'");
        assert_eq!(q("a #b"), "'a #b'");
        assert_eq!(q("*x"), "'*x'");
        assert_eq!(q("- x"), "'- x'");
        assert_eq!(q("x "), "'x '");
        assert_eq!(q(" x"), "' x'");
        assert_eq!(q("it's"), "it's");
        assert_eq!(q("'quoted'"), "'''quoted'''");
        assert_eq!(q("é ✓"), "é ✓");
        assert_eq!(q("😀"), "\"\\U0001F600\"");
        assert_eq!(q("a:b"), "a:b");
        assert_eq!(q("a#b"), "a#b");
        assert_eq!(q("-x"), "-x");
        assert_eq!(q("-"), "'-'");
        assert_eq!(q("---"), "'---'");
        assert_eq!(
            q("ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]"),
            "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]"
        );
        assert_eq!(q("3.11.0"), "3.11.0");
        assert_eq!(q("a\u{a0}b"), "a\u{a0}b");
        assert_eq!(q("\u{feff}x"), "\"\\uFEFF\\x78\"");
        assert_eq!(q("\u{feff}\u{e9}x"), "\"\\uFEFF\\xE9\\x78\"");
        assert_eq!(q("q\u{feff}x"), "\"q\\uFEFFx\"");
    }

    #[test]
    fn fast_analysis_agrees_with_full_scan() {
        let pieces = [
            "a", "Z", "0", "-", "?", ":", "#", ",", "[", "]", "{", "}", "&", "*", "!", "|", ">",
            "'", "\"", "%", "@", "`", ".", "=", "/", "+", "_", "~", "---", "...", "ENC[", "data:",
            "=,",
        ];
        let mut state: u64 = 0x1234_5678;
        for _ in 0..20_000 {
            let mut s = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = 1 + (state % 5) as usize;
            for k in 0..n {
                let idx = ((state >> (k * 8)) as usize) % pieces.len();
                s.push_str(pieces[idx]);
            }
            if simple_token(s.as_bytes()) {
                assert_eq!(analyze(&s), analyze_full(s.as_bytes()), "{s:?}");
            }
        }
    }

    #[test]
    fn styles_of_multiline() {
        assert_eq!(string_style("a\nb", false), Style::Literal);
        assert_eq!(string_style("a\nb ", false), Style::DoubleQuoted);
        assert_eq!(string_style("a \nb", false), Style::DoubleQuoted);
        assert_eq!(string_style("a\n b", false), Style::Literal);
        assert_eq!(string_style("a\nb", true), Style::DoubleQuoted);
        assert_eq!(string_style("a\rb", false), Style::DoubleQuoted);
    }
}
