//! The YAML scanner: turns characters into tokens and collects comments.
//!
//! This follows the structure of go-yaml v3's `scannerc.go` (itself a port of
//! libyaml) closely, because sops's comment placement depends on exactly
//! where that scanner attaches each comment (head, line or foot comment of
//! which token). Positions are counted in characters like go-yaml does.

use std::collections::HashMap;

use super::YamlError;

pub(crate) type Res<T> = Result<T, YamlError>;

/// A position in the input (0-based; `index` counts characters).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub index: isize,
    pub line: isize,
    pub column: isize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum TokenType {
    #[default]
    None,
    StreamStart,
    StreamEnd,
    VersionDirective,
    TagDirective,
    DocumentStart,
    DocumentEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowSequenceEnd,
    FlowMappingStart,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias,
    Anchor,
    Tag,
    Scalar,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum ScalarStyle {
    #[default]
    Any,
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Clone, Default, Debug)]
pub(crate) struct Token {
    pub typ: TokenType,
    pub start: Mark,
    pub end: Mark,
    /// Scalar value, anchor/alias name, tag handle or directive handle.
    pub value: Vec<u8>,
    /// Tag suffix.
    pub suffix: Vec<u8>,
    /// Tag directive prefix.
    pub prefix: Vec<u8>,
    pub style: ScalarStyle,
    pub major: i8,
    pub minor: i8,
}

#[derive(Clone, Default, Debug)]
struct Comment {
    scan_mark: Mark,
    token_mark: Mark,
    start_mark: Mark,
    end_mark: Mark,
    head: Vec<u8>,
    line: Vec<u8>,
    foot: Vec<u8>,
}

#[derive(Clone, Copy, Default, Debug)]
struct SimpleKey {
    possible: bool,
    required: bool,
    token_number: usize,
    mark: Mark,
}

const MAX_FLOW_LEVEL: usize = 10000;
const MAX_INDENTS: usize = 10000;

/// Scanner state plus the comment accumulators the event parser reads.
pub(crate) struct Scanner {
    buf: Vec<u8>,
    pos: usize,
    pub(crate) mark: Mark,
    newlines: usize,

    stream_start_produced: bool,
    pub(crate) stream_end_produced: bool,
    flow_level: usize,

    tokens: Vec<Token>,
    tokens_head: usize,
    tokens_parsed: usize,
    token_available: bool,

    indent: isize,
    indents: Vec<isize>,

    simple_key_allowed: bool,
    simple_keys: Vec<SimpleKey>,
    simple_keys_by_tok: HashMap<usize, usize>,

    comments: Vec<Comment>,
    comments_head: usize,

    pub(crate) head_comment: Vec<u8>,
    pub(crate) line_comment: Vec<u8>,
    pub(crate) foot_comment: Vec<u8>,
    pub(crate) tail_comment: Vec<u8>,
    pub(crate) stem_comment: Vec<u8>,
}

fn scan_err(context: &str, problem: &str, mark: Mark) -> YamlError {
    let reason = if context.is_empty() {
        problem.to_owned()
    } else {
        format!("{context}: {problem}")
    };
    YamlError::at(mark.line, mark.column, reason)
}

#[inline]
fn width(b: u8) -> usize {
    if b & 0x80 == 0x00 {
        1
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        3
    } else if b & 0xF8 == 0xF0 {
        4
    } else {
        0
    }
}

impl Scanner {
    pub(crate) fn new(input: &str) -> Scanner {
        let mut bytes = input.as_bytes();
        // The reader drops a leading byte order mark.
        if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bytes = &bytes[3..];
        }
        let mut buf = Vec::with_capacity(bytes.len() + 8);
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(&[0; 8]);
        Scanner {
            buf,
            pos: 0,
            mark: Mark::default(),
            newlines: 0,
            stream_start_produced: false,
            stream_end_produced: false,
            flow_level: 0,
            tokens: Vec::new(),
            tokens_head: 0,
            tokens_parsed: 0,
            token_available: false,
            indent: 0,
            indents: Vec::new(),
            simple_key_allowed: false,
            simple_keys: Vec::new(),
            simple_keys_by_tok: HashMap::new(),
            comments: Vec::new(),
            comments_head: 0,
            head_comment: Vec::new(),
            line_comment: Vec::new(),
            foot_comment: Vec::new(),
            tail_comment: Vec::new(),
            stem_comment: Vec::new(),
        }
    }

    // ----- character classes -------------------------------------------------

    #[inline]
    fn at(&self, i: usize) -> u8 {
        self.buf.get(self.pos + i).copied().unwrap_or(0)
    }
    #[inline]
    fn cur(&self) -> u8 {
        self.at(0)
    }
    #[inline]
    fn is_alpha(&self, i: usize) -> bool {
        let b = self.at(i);
        b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
    }
    #[inline]
    fn is_digit(&self, i: usize) -> bool {
        self.at(i).is_ascii_digit()
    }
    #[inline]
    fn is_hex(&self, i: usize) -> bool {
        self.at(i).is_ascii_hexdigit()
    }
    #[inline]
    fn as_hex(&self, i: usize) -> u32 {
        let b = self.at(i);
        match b {
            b'A'..=b'F' => u32::from(b - b'A') + 10,
            b'a'..=b'f' => u32::from(b - b'a') + 10,
            _ => u32::from(b.wrapping_sub(b'0')),
        }
    }
    #[inline]
    fn is_z(&self, i: usize) -> bool {
        self.at(i) == 0
    }
    #[inline]
    fn is_space(&self, i: usize) -> bool {
        self.at(i) == b' '
    }
    #[inline]
    fn is_tab(&self, i: usize) -> bool {
        self.at(i) == b'\t'
    }
    #[inline]
    fn is_blank(&self, i: usize) -> bool {
        let b = self.at(i);
        b == b' ' || b == b'\t'
    }
    #[inline]
    fn is_break(&self, i: usize) -> bool {
        let b = self.at(i);
        b == b'\r'
            || b == b'\n'
            || (b == 0xC2 && self.at(i + 1) == 0x85)
            || (b == 0xE2
                && self.at(i + 1) == 0x80
                && (self.at(i + 2) == 0xA8 || self.at(i + 2) == 0xA9))
    }
    #[inline]
    fn is_crlf(&self, i: usize) -> bool {
        self.at(i) == b'\r' && self.at(i + 1) == b'\n'
    }
    #[inline]
    fn is_breakz(&self, i: usize) -> bool {
        self.is_break(i) || self.is_z(i)
    }
    #[inline]
    fn is_blankz(&self, i: usize) -> bool {
        self.is_blank(i) || self.is_breakz(i)
    }
    #[inline]
    fn is_bom(&self, i: usize) -> bool {
        self.at(i) == 0xEF && self.at(i + 1) == 0xBB && self.at(i + 2) == 0xBF
    }

    // ----- cursor movement ---------------------------------------------------

    fn skip(&mut self) {
        if !self.is_blank(0) {
            self.newlines = 0;
        }
        self.mark.index += 1;
        self.mark.column += 1;
        self.pos += width(self.cur()).max(1);
    }

    fn skip_line(&mut self) {
        if self.is_crlf(0) {
            self.mark.index += 2;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += 2;
            self.newlines += 1;
        } else if self.is_break(0) {
            self.mark.index += 1;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += width(self.cur()).max(1);
            self.newlines += 1;
        }
    }

    fn read(&mut self, s: &mut Vec<u8>) {
        if !self.is_blank(0) {
            self.newlines = 0;
        }
        let w = width(self.cur()).max(1);
        let end = (self.pos + w).min(self.buf.len());
        s.extend_from_slice(&self.buf[self.pos..end]);
        self.pos += w;
        self.mark.index += 1;
        self.mark.column += 1;
    }

    fn read_line(&mut self, s: &mut Vec<u8>) {
        let b = self.cur();
        if b == b'\r' && self.at(1) == b'\n' {
            s.push(b'\n');
            self.pos += 2;
            self.mark.index += 1;
        } else if b == b'\r' || b == b'\n' {
            s.push(b'\n');
            self.pos += 1;
        } else if b == 0xC2 && self.at(1) == 0x85 {
            s.push(b'\n');
            self.pos += 2;
        } else if b == 0xE2 && self.at(1) == 0x80 && (self.at(2) == 0xA8 || self.at(2) == 0xA9) {
            s.extend_from_slice(&self.buf[self.pos..self.pos + 3]);
            self.pos += 3;
        } else {
            return;
        }
        self.mark.index += 1;
        self.mark.column = 0;
        self.mark.line += 1;
        self.newlines += 1;
    }

    // ----- token queue -------------------------------------------------------

    fn insert_token(&mut self, pos: Option<usize>, token: Token) {
        match pos {
            None => self.tokens.push(token),
            Some(p) => {
                let at = (self.tokens_head + p).min(self.tokens.len());
                self.tokens.insert(at, token);
            }
        }
    }

    /// The next token (fetching as needed), with pending comments unfolded
    /// into the head/line/foot accumulators.
    pub(crate) fn peek_token(&mut self) -> Res<&Token> {
        if !self.token_available {
            self.fetch_more_tokens()?;
        }
        self.unfold_comments();
        self.tokens.get(self.tokens_head).ok_or_else(|| {
            YamlError::at(
                self.mark.line,
                self.mark.column,
                "unexpected end of token stream".into(),
            )
        })
    }

    /// The type and marks of the next token.
    pub(crate) fn peek_type(&mut self) -> Res<(TokenType, Mark, Mark)> {
        let t = self.peek_token()?;
        Ok((t.typ, t.start, t.end))
    }

    /// Takes the next token out of the queue (after `peek_token`).
    pub(crate) fn take_token(&mut self) -> Token {
        self.token_available = false;
        self.tokens_parsed += 1;
        let t = self
            .tokens
            .get_mut(self.tokens_head)
            .map(std::mem::take)
            .unwrap_or_default();
        self.stream_end_produced = t.typ == TokenType::StreamEnd;
        self.tokens_head += 1;
        // Drop consumed tokens from time to time so memory stays bounded.
        if self.tokens_head > 4096 && self.tokens_head * 2 > self.tokens.len() {
            self.compact_tokens();
        }
        t
    }

    fn compact_tokens(&mut self) {
        // Keep the last consumed token: the comment scanner looks back at it.
        let keep_from = self.tokens_head.saturating_sub(2);
        self.tokens.drain(..keep_from);
        self.tokens_head -= keep_from;
        // Token numbers of simple keys are absolute (tokens_parsed based), so
        // nothing else needs renumbering.
    }

    pub(crate) fn skip_token(&mut self) {
        let _ = self.take_token();
    }

    fn unfold_comments(&mut self) {
        let Some(token) = self.tokens.get(self.tokens_head) else {
            return;
        };
        let (start_index, typ) = (token.start.index, token.typ);
        while self.comments_head < self.comments.len()
            && start_index >= self.comments[self.comments_head].token_mark.index
        {
            let comment = &mut self.comments[self.comments_head];
            if !comment.head.is_empty() {
                if typ == TokenType::BlockEnd {
                    // No heads on ends, so keep comment.head for a follow up token.
                    break;
                }
                if !self.head_comment.is_empty() {
                    self.head_comment.push(b'\n');
                }
                self.head_comment.extend_from_slice(&comment.head);
            }
            if !comment.foot.is_empty() {
                if !self.foot_comment.is_empty() {
                    self.foot_comment.push(b'\n');
                }
                self.foot_comment.extend_from_slice(&comment.foot);
            }
            if !comment.line.is_empty() {
                if !self.line_comment.is_empty() {
                    self.line_comment.push(b'\n');
                }
                self.line_comment.extend_from_slice(&comment.line);
            }
            *comment = Comment::default();
            self.comments_head += 1;
        }
    }

    fn fetch_more_tokens(&mut self) -> Res<()> {
        loop {
            // The comment logic needs a lookahead of two tokens.
            if (self.tokens_head as isize) < self.tokens.len() as isize - 2 {
                match self.simple_keys_by_tok.get(&self.tokens_parsed).copied() {
                    None => break,
                    Some(idx) => {
                        if !self.simple_key_is_valid(idx)? {
                            break;
                        }
                    }
                }
            }
            self.fetch_next_token()?;
        }
        self.token_available = true;
        Ok(())
    }

    fn fetch_next_token(&mut self) -> Res<()> {
        if !self.stream_start_produced {
            self.fetch_stream_start();
            return Ok(());
        }
        let scan_mark = self.mark;
        self.scan_to_next_token()?;
        self.unroll_indent(self.mark.column, scan_mark);

        if self.is_z(0) {
            return self.fetch_stream_end();
        }
        let c = self.cur();
        if self.mark.column == 0 && c == b'%' {
            return self.fetch_directive();
        }
        if self.mark.column == 0
            && c == b'-'
            && self.at(1) == b'-'
            && self.at(2) == b'-'
            && self.is_blankz(3)
        {
            return self.fetch_document_indicator(TokenType::DocumentStart);
        }
        if self.mark.column == 0
            && c == b'.'
            && self.at(1) == b'.'
            && self.at(2) == b'.'
            && self.is_blankz(3)
        {
            return self.fetch_document_indicator(TokenType::DocumentEnd);
        }

        let mut comment_mark = self.mark;
        if let Some(last) = self.tokens.last()
            && ((self.flow_level == 0 && c == b':') || (self.flow_level > 0 && c == b','))
        {
            // Associate any following comments with the prior token.
            comment_mark = last.start;
        }

        self.fetch_token_body(c)?;

        if self.tokens.last().map(|t| t.typ) == Some(TokenType::BlockEntry) {
            // Sequence indicators alone have no line comments.
            return Ok(());
        }
        self.scan_line_comment(comment_mark)
    }

    fn fetch_token_body(&mut self, c: u8) -> Res<()> {
        match c {
            b'[' => return self.fetch_flow_collection_start(TokenType::FlowSequenceStart),
            b'{' => return self.fetch_flow_collection_start(TokenType::FlowMappingStart),
            b']' => return self.fetch_flow_collection_end(TokenType::FlowSequenceEnd),
            b'}' => return self.fetch_flow_collection_end(TokenType::FlowMappingEnd),
            b',' => return self.fetch_flow_entry(),
            _ => {}
        }
        if c == b'-' && self.is_blankz(1) {
            return self.fetch_block_entry();
        }
        if c == b'?' && self.is_blankz(1) {
            return self.fetch_key();
        }
        if c == b':' && (self.flow_level > 0 || self.is_blankz(1)) {
            return self.fetch_value();
        }
        match c {
            b'*' => return self.fetch_anchor(TokenType::Alias),
            b'&' => return self.fetch_anchor(TokenType::Anchor),
            b'!' => return self.fetch_tag(),
            b'|' if self.flow_level == 0 => return self.fetch_block_scalar(true),
            b'>' if self.flow_level == 0 => return self.fetch_block_scalar(false),
            b'\'' => return self.fetch_flow_scalar(true),
            b'"' => return self.fetch_flow_scalar(false),
            _ => {}
        }
        let indicator = matches!(
            c,
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
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
        if !(self.is_blankz(0) || indicator)
            || (c == b'-' && !self.is_blank(1))
            || ((c == b'?' || c == b':') && !self.is_blankz(1))
        {
            return self.fetch_plain_scalar();
        }
        Err(scan_err(
            "while scanning for the next token",
            "found character that cannot start any token",
            self.mark,
        ))
    }

    // ----- simple keys and indentation --------------------------------------

    fn simple_key_is_valid(&mut self, idx: usize) -> Res<bool> {
        let mark = self.mark;
        let Some(sk) = self.simple_keys.get_mut(idx) else {
            return Ok(false);
        };
        if !sk.possible {
            return Ok(false);
        }
        if sk.mark.line < mark.line || sk.mark.index + 1024 < mark.index {
            if sk.required {
                return Err(scan_err(
                    "while scanning a simple key",
                    "could not find expected ':'",
                    sk.mark,
                ));
            }
            sk.possible = false;
            return Ok(false);
        }
        Ok(true)
    }

    fn save_simple_key(&mut self) -> Res<()> {
        let required = self.flow_level == 0 && self.indent == self.mark.column;
        if self.simple_key_allowed {
            let sk = SimpleKey {
                possible: true,
                required,
                token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
                mark: self.mark,
            };
            self.remove_simple_key()?;
            let last = self.simple_keys.len() - 1;
            self.simple_keys[last] = sk;
            self.simple_keys_by_tok.insert(sk.token_number, last);
        }
        Ok(())
    }

    fn remove_simple_key(&mut self) -> Res<()> {
        let i = self.simple_keys.len() - 1;
        let sk = self.simple_keys[i];
        if sk.possible {
            if sk.required {
                return Err(scan_err(
                    "while scanning a simple key",
                    "could not find expected ':'",
                    sk.mark,
                ));
            }
            self.simple_keys[i].possible = false;
            self.simple_keys_by_tok.remove(&sk.token_number);
        }
        Ok(())
    }

    fn increase_flow_level(&mut self) -> Res<()> {
        self.simple_keys.push(SimpleKey {
            possible: false,
            required: false,
            token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
            mark: self.mark,
        });
        self.flow_level += 1;
        if self.flow_level > MAX_FLOW_LEVEL {
            return Err(scan_err(
                "while increasing flow level",
                "exceeded max depth",
                self.mark,
            ));
        }
        Ok(())
    }

    fn decrease_flow_level(&mut self) {
        if self.flow_level > 0 {
            self.flow_level -= 1;
            if let Some(last) = self.simple_keys.pop() {
                self.simple_keys_by_tok.remove(&last.token_number);
            }
        }
    }

    fn roll_indent(
        &mut self,
        column: isize,
        number: Option<usize>,
        typ: TokenType,
        mark: Mark,
    ) -> Res<()> {
        if self.flow_level > 0 {
            return Ok(());
        }
        if self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
            if self.indents.len() > MAX_INDENTS {
                return Err(scan_err(
                    "while increasing indent level",
                    "exceeded max depth",
                    self.mark,
                ));
            }
            let token = Token {
                typ,
                start: mark,
                end: mark,
                ..Token::default()
            };
            let pos = match number {
                None => None,
                Some(n) => Some(n.checked_sub(self.tokens_parsed).ok_or_else(|| {
                    scan_err("while scanning", "internal token queue inconsistency", mark)
                })?),
            };
            self.insert_token(pos, token);
        }
        Ok(())
    }

    fn unroll_indent(&mut self, column: isize, scan_mark: Mark) {
        if self.flow_level > 0 {
            return;
        }
        let mut block_mark = scan_mark;
        block_mark.index -= 1;
        while self.indent > column {
            // Reposition the end token before potential following foot
            // comments of parent blocks.
            let mut stop_index = block_mark.index;
            for comment in self.comments.iter().rev() {
                if comment.end_mark.index < stop_index {
                    break;
                }
                if comment.start_mark.column == self.indent + 1 {
                    block_mark = comment.start_mark;
                }
                stop_index = comment.scan_mark.index;
            }
            self.insert_token(
                None,
                Token {
                    typ: TokenType::BlockEnd,
                    start: block_mark,
                    end: block_mark,
                    ..Token::default()
                },
            );
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    // ----- fetchers -----------------------------------------------------------

    fn fetch_stream_start(&mut self) {
        self.indent = -1;
        self.simple_keys.push(SimpleKey::default());
        self.simple_key_allowed = true;
        self.stream_start_produced = true;
        self.insert_token(
            None,
            Token {
                typ: TokenType::StreamStart,
                start: self.mark,
                end: self.mark,
                ..Token::default()
            },
        );
    }

    fn fetch_stream_end(&mut self) -> Res<()> {
        if self.mark.column != 0 {
            self.mark.column = 0;
            self.mark.line += 1;
        }
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        self.insert_token(
            None,
            Token {
                typ: TokenType::StreamEnd,
                start: self.mark,
                end: self.mark,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_directive(&mut self) -> Res<()> {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_directive()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_document_indicator(&mut self, typ: TokenType) -> Res<()> {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let start = self.mark;
        self.skip();
        self.skip();
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_flow_collection_start(&mut self, typ: TokenType) -> Res<()> {
        self.save_simple_key()?;
        self.increase_flow_level()?;
        self.simple_key_allowed = true;
        let start = self.mark;
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_flow_collection_end(&mut self, typ: TokenType) -> Res<()> {
        self.remove_simple_key()?;
        self.decrease_flow_level();
        self.simple_key_allowed = false;
        let start = self.mark;
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_flow_entry(&mut self) -> Res<()> {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start = self.mark;
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ: TokenType::FlowEntry,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_block_entry(&mut self) -> Res<()> {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                return Err(scan_err(
                    "",
                    "block sequence entries are not allowed in this context",
                    self.mark,
                ));
            }
            self.roll_indent(
                self.mark.column,
                None,
                TokenType::BlockSequenceStart,
                self.mark,
            )?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start = self.mark;
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ: TokenType::BlockEntry,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_key(&mut self) -> Res<()> {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                return Err(scan_err(
                    "",
                    "mapping keys are not allowed in this context",
                    self.mark,
                ));
            }
            self.roll_indent(
                self.mark.column,
                None,
                TokenType::BlockMappingStart,
                self.mark,
            )?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = self.flow_level == 0;
        let start = self.mark;
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ: TokenType::Key,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_value(&mut self) -> Res<()> {
        let idx = self.simple_keys.len() - 1;
        if self.simple_key_is_valid(idx)? {
            let sk = self.simple_keys[idx];
            let pos = sk
                .token_number
                .checked_sub(self.tokens_parsed)
                .ok_or_else(|| {
                    scan_err(
                        "while scanning a simple key",
                        "internal token queue inconsistency",
                        sk.mark,
                    )
                })?;
            self.insert_token(
                Some(pos),
                Token {
                    typ: TokenType::Key,
                    start: sk.mark,
                    end: sk.mark,
                    ..Token::default()
                },
            );
            self.roll_indent(
                sk.mark.column,
                Some(sk.token_number),
                TokenType::BlockMappingStart,
                sk.mark,
            )?;
            self.simple_keys[idx].possible = false;
            self.simple_keys_by_tok.remove(&sk.token_number);
            self.simple_key_allowed = false;
        } else {
            if self.flow_level == 0 {
                if !self.simple_key_allowed {
                    return Err(scan_err(
                        "",
                        "mapping values are not allowed in this context",
                        self.mark,
                    ));
                }
                self.roll_indent(
                    self.mark.column,
                    None,
                    TokenType::BlockMappingStart,
                    self.mark,
                )?;
            }
            self.simple_key_allowed = self.flow_level == 0;
        }
        let start = self.mark;
        self.skip();
        let end = self.mark;
        self.insert_token(
            None,
            Token {
                typ: TokenType::Value,
                start,
                end,
                ..Token::default()
            },
        );
        Ok(())
    }

    fn fetch_anchor(&mut self, typ: TokenType) -> Res<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_anchor(typ)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_tag(&mut self) -> Res<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_tag()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_block_scalar(&mut self, literal: bool) -> Res<()> {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let token = self.scan_block_scalar(literal)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_flow_scalar(&mut self, single: bool) -> Res<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_flow_scalar(single)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_plain_scalar(&mut self) -> Res<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_plain_scalar()?;
        self.insert_token(None, token);
        Ok(())
    }

    // ----- whitespace and comments ---------------------------------------------

    fn scan_to_next_token(&mut self) -> Res<()> {
        let scan_mark = self.mark;
        loop {
            if self.mark.column == 0 && self.is_bom(0) {
                self.skip();
            }
            while self.cur() == b' '
                || ((self.flow_level > 0 || !self.simple_key_allowed) && self.cur() == b'\t')
            {
                self.skip();
            }

            // A line comment right after a lone sequence indicator that looks
            // more like a header of the following content becomes a head
            // comment of what follows.
            if !self.comments.is_empty() && self.tokens.len() > 1 {
                let a = self.tokens[self.tokens.len() - 2].typ;
                let b = self.tokens[self.tokens.len() - 1].typ;
                let at_break = self.is_break(0);
                let mark = self.mark;
                if let Some(comment) = self.comments.last_mut()
                    && a == TokenType::BlockSequenceStart
                    && b == TokenType::BlockEntry
                    && !comment.line.is_empty()
                    && !at_break
                {
                    comment.head = std::mem::take(&mut comment.line);
                    if comment.start_mark.line == mark.line - 1 {
                        comment.token_mark = mark;
                    }
                }
            }

            if self.cur() == b'#' {
                self.scan_comments(scan_mark)?;
            }

            if self.is_break(0) {
                self.skip_line();
                if self.flow_level == 0 {
                    self.simple_key_allowed = true;
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    fn scan_line_comment(&mut self, token_mark: Mark) -> Res<()> {
        if self.newlines > 0 {
            return Ok(());
        }
        let mut start_mark = Mark::default();
        let mut text = Vec::new();
        let mut peek = 0;
        while peek < 512 {
            if self.is_blank(peek) {
                peek += 1;
                continue;
            }
            if self.at(peek) == b'#' {
                let seen = self.mark.index + peek as isize;
                loop {
                    if self.is_breakz(0) {
                        if self.mark.index >= seen {
                            break;
                        }
                        self.skip_line();
                    } else if self.mark.index >= seen {
                        if text.is_empty() {
                            start_mark = self.mark;
                        }
                        self.read(&mut text);
                    } else {
                        self.skip();
                    }
                }
            }
            break;
        }
        if !text.is_empty() {
            self.comments.push(Comment {
                token_mark,
                start_mark,
                line: text,
                ..Comment::default()
            });
        }
        Ok(())
    }

    fn scan_comments(&mut self, scan_mark: Mark) -> Res<()> {
        let Some(last) = self.tokens.last() else {
            return Ok(());
        };
        let mut token = (last.typ, last.start);
        if last.typ == TokenType::FlowEntry && self.tokens.len() > 1 {
            let t = &self.tokens[self.tokens.len() - 2];
            token = (t.typ, t.start);
        }
        let mut token_mark = token.1;
        let mut start_mark = Mark::default();
        let mut next_indent = self.indent.max(0);

        let mut recent_empty = false;
        let mut first_empty = self.newlines <= 1;

        let mut line = self.mark.line;
        let mut column = self.mark.column;

        let mut text: Vec<u8> = Vec::new();

        let mut foot_line: isize = -1;
        if scan_mark.line > 0 {
            foot_line = self.mark.line - self.newlines as isize + 1;
            if self.newlines == 0 && self.mark.column > 1 {
                foot_line += 1;
            }
        }

        let mut scan_mark = scan_mark;
        // Mirrors Go's `for peek := 0; peek < 512; peek++`: every `continue`
        // and the end of the body advance `peek` by one byte.
        let mut peek: usize = 0;
        let mut first_iteration = true;
        loop {
            if !first_iteration {
                peek += 1;
            }
            first_iteration = false;
            if peek >= 512 {
                break;
            }
            column += 1;
            if self.is_blank(peek) {
                continue;
            }
            let c = self.at(peek);
            let close_flow = self.flow_level > 0 && (c == b']' || c == b'}');
            if close_flow || self.is_breakz(peek) {
                // Got line break or terminator.
                if close_flow || !recent_empty {
                    if close_flow
                        || first_empty
                            && ((start_mark.line == foot_line && token.0 != TokenType::Value)
                                || start_mark.column - 1 < next_indent)
                    {
                        // The initial part of the comment is a foot of the
                        // prior token instead of a head of the following one.
                        if !text.is_empty() {
                            if start_mark.column - 1 < next_indent {
                                // If dedented it's unrelated to the prior token.
                                token_mark = start_mark;
                            }
                            let end = Mark {
                                index: self.mark.index + peek as isize,
                                line,
                                column,
                            };
                            self.comments.push(Comment {
                                scan_mark,
                                token_mark,
                                start_mark,
                                end_mark: end,
                                foot: std::mem::take(&mut text),
                                ..Comment::default()
                            });
                            scan_mark = end;
                            token_mark = scan_mark;
                        }
                    } else if !text.is_empty() && self.at(peek) != 0 {
                        text.push(b'\n');
                    }
                }
                if !self.is_break(peek) {
                    break;
                }
                first_empty = false;
                recent_empty = true;
                column = 0;
                line += 1;
                continue;
            }

            if !text.is_empty()
                && (close_flow || column - 1 < next_indent && column != start_mark.column)
            {
                // The comment at the different indentation is a foot of the
                // preceding data rather than a head of the upcoming one.
                let end = Mark {
                    index: self.mark.index + peek as isize,
                    line,
                    column,
                };
                self.comments.push(Comment {
                    scan_mark,
                    token_mark,
                    start_mark,
                    end_mark: end,
                    foot: std::mem::take(&mut text),
                    ..Comment::default()
                });
                scan_mark = end;
                token_mark = scan_mark;
            }

            if self.at(peek) != b'#' {
                break;
            }

            if text.is_empty() {
                start_mark = Mark {
                    index: self.mark.index + peek as isize,
                    line,
                    column,
                };
            } else {
                text.push(b'\n');
            }

            recent_empty = false;

            // Consume until after the consumed comment line.
            let seen = self.mark.index + peek as isize;
            loop {
                if self.is_breakz(0) {
                    if self.mark.index >= seen {
                        break;
                    }
                    self.skip_line();
                } else if self.mark.index >= seen {
                    self.read(&mut text);
                } else {
                    self.skip();
                }
            }

            peek = 0;
            column = 0;
            line = self.mark.line;
            next_indent = self.indent.max(0);
        }

        if !text.is_empty() {
            self.comments.push(Comment {
                scan_mark,
                token_mark: start_mark,
                start_mark,
                end_mark: Mark {
                    index: self.mark.index + peek as isize - 1,
                    line,
                    column,
                },
                head: text,
                ..Comment::default()
            });
        }
        Ok(())
    }

    // ----- directives, anchors, tags ------------------------------------------------

    fn scan_directive(&mut self) -> Res<Token> {
        let start = self.mark;
        self.skip();
        let name = self.scan_directive_name(start)?;
        let token = if name == b"YAML" {
            let (major, minor) = self.scan_version_directive_value(start)?;
            Token {
                typ: TokenType::VersionDirective,
                start,
                end: self.mark,
                major,
                minor,
                ..Token::default()
            }
        } else if name == b"TAG" {
            let (handle, prefix) = self.scan_tag_directive_value(start)?;
            Token {
                typ: TokenType::TagDirective,
                start,
                end: self.mark,
                value: handle,
                prefix,
                ..Token::default()
            }
        } else {
            return Err(scan_err(
                "while scanning a directive",
                "found unknown directive name",
                start,
            ));
        };
        while self.is_blank(0) {
            self.skip();
        }
        if self.cur() == b'#' {
            while !self.is_breakz(0) {
                self.skip();
            }
        }
        if !self.is_breakz(0) {
            return Err(scan_err(
                "while scanning a directive",
                "did not find expected comment or line break",
                start,
            ));
        }
        if self.is_break(0) {
            self.skip_line();
        }
        Ok(token)
    }

    fn scan_directive_name(&mut self, start: Mark) -> Res<Vec<u8>> {
        let mut s = Vec::new();
        while self.is_alpha(0) {
            self.read(&mut s);
        }
        if s.is_empty() {
            return Err(scan_err(
                "while scanning a directive",
                "could not find expected directive name",
                start,
            ));
        }
        if !self.is_blankz(0) {
            return Err(scan_err(
                "while scanning a directive",
                "found unexpected non-alphabetical character",
                start,
            ));
        }
        Ok(s)
    }

    fn scan_version_directive_value(&mut self, start: Mark) -> Res<(i8, i8)> {
        while self.is_blank(0) {
            self.skip();
        }
        let major = self.scan_version_directive_number(start)?;
        if self.cur() != b'.' {
            return Err(scan_err(
                "while scanning a %YAML directive",
                "did not find expected digit or '.' character",
                start,
            ));
        }
        self.skip();
        let minor = self.scan_version_directive_number(start)?;
        Ok((major, minor))
    }

    fn scan_version_directive_number(&mut self, start: Mark) -> Res<i8> {
        let mut value: i8 = 0;
        let mut length = 0;
        while self.is_digit(0) {
            length += 1;
            if length > 2 {
                return Err(scan_err(
                    "while scanning a %YAML directive",
                    "found extremely long version number",
                    start,
                ));
            }
            value = value * 10 + (self.cur() - b'0') as i8;
            self.skip();
        }
        if length == 0 {
            return Err(scan_err(
                "while scanning a %YAML directive",
                "did not find expected version number",
                start,
            ));
        }
        Ok(value)
    }

    fn scan_tag_directive_value(&mut self, start: Mark) -> Res<(Vec<u8>, Vec<u8>)> {
        while self.is_blank(0) {
            self.skip();
        }
        let handle = self.scan_tag_handle(true, start)?;
        if !self.is_blank(0) {
            return Err(scan_err(
                "while scanning a %TAG directive",
                "did not find expected whitespace",
                start,
            ));
        }
        while self.is_blank(0) {
            self.skip();
        }
        let prefix = self.scan_tag_uri(true, &[], start)?;
        if !self.is_blankz(0) {
            return Err(scan_err(
                "while scanning a %TAG directive",
                "did not find expected whitespace or line break",
                start,
            ));
        }
        Ok((handle, prefix))
    }

    fn scan_anchor(&mut self, typ: TokenType) -> Res<Token> {
        let start = self.mark;
        self.skip();
        let mut s = Vec::new();
        while self.is_alpha(0) {
            self.read(&mut s);
        }
        let end = self.mark;
        let c = self.cur();
        if s.is_empty()
            || !(self.is_blankz(0)
                || matches!(c, b'?' | b':' | b',' | b']' | b'}' | b'%' | b'@' | b'`'))
        {
            let context = if typ == TokenType::Anchor {
                "while scanning an anchor"
            } else {
                "while scanning an alias"
            };
            return Err(scan_err(
                context,
                "did not find expected alphabetic or numeric character",
                start,
            ));
        }
        Ok(Token {
            typ,
            start,
            end,
            value: s,
            ..Token::default()
        })
    }

    fn scan_tag(&mut self) -> Res<Token> {
        let start = self.mark;
        let mut handle;
        let suffix;
        if self.at(1) == b'<' {
            handle = Vec::new();
            self.skip();
            self.skip();
            suffix = self.scan_tag_uri(false, &[], start)?;
            if self.cur() != b'>' {
                return Err(scan_err(
                    "while scanning a tag",
                    "did not find the expected '>'",
                    start,
                ));
            }
            self.skip();
        } else {
            handle = self.scan_tag_handle(false, start)?;
            if handle.len() > 1 && handle[0] == b'!' && handle[handle.len() - 1] == b'!' {
                suffix = self.scan_tag_uri(false, &[], start)?;
            } else {
                let s = self.scan_tag_uri(false, &handle, start)?;
                handle = vec![b'!'];
                if s.is_empty() {
                    // The '!' tag: handle '' and suffix '!'.
                    suffix = std::mem::take(&mut handle);
                } else {
                    suffix = s;
                }
            }
        }
        if !self.is_blankz(0) {
            return Err(scan_err(
                "while scanning a tag",
                "did not find expected whitespace or line break",
                start,
            ));
        }
        Ok(Token {
            typ: TokenType::Tag,
            start,
            end: self.mark,
            value: handle,
            suffix,
            ..Token::default()
        })
    }

    fn scan_tag_handle(&mut self, directive: bool, start: Mark) -> Res<Vec<u8>> {
        let context = if directive {
            "while parsing a %TAG directive"
        } else {
            "while parsing a tag"
        };
        if self.cur() != b'!' {
            return Err(scan_err(context, "did not find expected '!'", start));
        }
        let mut s = Vec::new();
        self.read(&mut s);
        while self.is_alpha(0) {
            self.read(&mut s);
        }
        if self.cur() == b'!' {
            self.read(&mut s);
        } else if directive && s != b"!" {
            return Err(scan_err(context, "did not find expected '!'", start));
        }
        Ok(s)
    }

    fn scan_tag_uri(&mut self, directive: bool, head: &[u8], start: Mark) -> Res<Vec<u8>> {
        let context = if directive {
            "while parsing a %TAG directive"
        } else {
            "while parsing a tag"
        };
        let mut s = Vec::new();
        let mut has_tag = !head.is_empty();
        if head.len() > 1 {
            s.extend_from_slice(&head[1..]);
        }
        loop {
            let c = self.cur();
            let ok = self.is_alpha(0)
                || matches!(
                    c,
                    b';' | b'/'
                        | b'?'
                        | b':'
                        | b'@'
                        | b'&'
                        | b'='
                        | b'+'
                        | b'$'
                        | b','
                        | b'.'
                        | b'!'
                        | b'~'
                        | b'*'
                        | b'\''
                        | b'('
                        | b')'
                        | b'['
                        | b']'
                        | b'%'
                );
            if !ok {
                break;
            }
            if c == b'%' {
                self.scan_uri_escapes(context, start, &mut s)?;
            } else {
                self.read(&mut s);
            }
            has_tag = true;
        }
        if !has_tag {
            return Err(scan_err(context, "did not find expected tag URI", start));
        }
        Ok(s)
    }

    fn scan_uri_escapes(&mut self, context: &str, start: Mark, s: &mut Vec<u8>) -> Res<()> {
        let mut w: usize = 1024;
        let mut bytes = Vec::new();
        while w > 0 {
            if !(self.cur() == b'%' && self.is_hex(1) && self.is_hex(2)) {
                return Err(scan_err(context, "did not find URI escaped octet", start));
            }
            let octet = ((self.as_hex(1) << 4) + self.as_hex(2)) as u8;
            if w == 1024 {
                w = width(octet);
                if w == 0 {
                    return Err(scan_err(
                        context,
                        "found an incorrect leading UTF-8 octet",
                        start,
                    ));
                }
            } else if octet & 0xC0 != 0x80 {
                return Err(scan_err(
                    context,
                    "found an incorrect trailing UTF-8 octet",
                    start,
                ));
            }
            bytes.push(octet);
            self.skip();
            self.skip();
            self.skip();
            w -= 1;
        }
        if std::str::from_utf8(&bytes).is_err() {
            return Err(scan_err(
                context,
                "found an incorrect UTF-8 sequence",
                start,
            ));
        }
        s.extend_from_slice(&bytes);
        Ok(())
    }

    // ----- scalars ---------------------------------------------------------------

    fn scan_block_scalar(&mut self, literal: bool) -> Res<Token> {
        let start = self.mark;
        self.skip();

        let mut chomping = 0i32;
        let mut increment: isize = 0;
        if self.cur() == b'+' || self.cur() == b'-' {
            chomping = if self.cur() == b'+' { 1 } else { -1 };
            self.skip();
            if self.is_digit(0) {
                if self.cur() == b'0' {
                    return Err(scan_err(
                        "while scanning a block scalar",
                        "found an indentation indicator equal to 0",
                        start,
                    ));
                }
                increment = (self.cur() - b'0') as isize;
                self.skip();
            }
        } else if self.is_digit(0) {
            if self.cur() == b'0' {
                return Err(scan_err(
                    "while scanning a block scalar",
                    "found an indentation indicator equal to 0",
                    start,
                ));
            }
            increment = (self.cur() - b'0') as isize;
            self.skip();
            if self.cur() == b'+' || self.cur() == b'-' {
                chomping = if self.cur() == b'+' { 1 } else { -1 };
                self.skip();
            }
        }

        while self.is_blank(0) {
            self.skip();
        }
        if self.cur() == b'#' {
            self.scan_line_comment(start)?;
            while !self.is_breakz(0) {
                self.skip();
            }
        }
        if !self.is_breakz(0) {
            return Err(scan_err(
                "while scanning a block scalar",
                "did not find expected comment or line break",
                start,
            ));
        }
        if self.is_break(0) {
            self.skip_line();
        }

        let mut end = self.mark;
        let mut indent: isize = 0;
        if increment > 0 {
            indent = if self.indent >= 0 {
                self.indent + increment
            } else {
                increment
            };
        }

        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        self.scan_block_scalar_breaks(&mut indent, &mut trailing_breaks, start, &mut end)?;

        let mut leading_blank = false;
        while self.mark.column == indent && !self.is_z(0) {
            let trailing_blank = self.is_blank(0);
            if !literal
                && !leading_blank
                && !trailing_blank
                && leading_break.first() == Some(&b'\n')
            {
                if trailing_breaks.is_empty() {
                    s.push(b' ');
                }
            } else {
                s.extend_from_slice(&leading_break);
            }
            leading_break.clear();
            s.extend_from_slice(&trailing_breaks);
            trailing_breaks.clear();

            leading_blank = self.is_blank(0);
            while !self.is_breakz(0) {
                self.read(&mut s);
            }
            self.read_line(&mut leading_break);
            self.scan_block_scalar_breaks(&mut indent, &mut trailing_breaks, start, &mut end)?;
        }

        if chomping != -1 {
            s.extend_from_slice(&leading_break);
        }
        if chomping == 1 {
            s.extend_from_slice(&trailing_breaks);
        }

        Ok(Token {
            typ: TokenType::Scalar,
            start,
            end,
            value: s,
            style: if literal {
                ScalarStyle::Literal
            } else {
                ScalarStyle::Folded
            },
            ..Token::default()
        })
    }

    fn scan_block_scalar_breaks(
        &mut self,
        indent: &mut isize,
        breaks: &mut Vec<u8>,
        start: Mark,
        end: &mut Mark,
    ) -> Res<()> {
        *end = self.mark;
        let mut max_indent: isize = 0;
        loop {
            while (*indent == 0 || self.mark.column < *indent) && self.is_space(0) {
                self.skip();
            }
            if self.mark.column > max_indent {
                max_indent = self.mark.column;
            }
            if (*indent == 0 || self.mark.column < *indent) && self.is_tab(0) {
                return Err(scan_err(
                    "while scanning a block scalar",
                    "found a tab character where an indentation space is expected",
                    start,
                ));
            }
            if !self.is_break(0) {
                break;
            }
            self.read_line(breaks);
            *end = self.mark;
        }
        if *indent == 0 {
            *indent = max_indent;
            if *indent < self.indent + 1 {
                *indent = self.indent + 1;
            }
            if *indent < 1 {
                *indent = 1;
            }
        }
        Ok(())
    }

    fn is_document_indicator(&self) -> bool {
        self.mark.column == 0
            && ((self.at(0) == b'-' && self.at(1) == b'-' && self.at(2) == b'-')
                || (self.at(0) == b'.' && self.at(1) == b'.' && self.at(2) == b'.'))
            && self.is_blankz(3)
    }

    fn scan_flow_scalar(&mut self, single: bool) -> Res<Token> {
        let start = self.mark;
        self.skip();
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        let mut whitespaces = Vec::new();
        loop {
            if self.is_document_indicator() {
                return Err(scan_err(
                    "while scanning a quoted scalar",
                    "found unexpected document indicator",
                    start,
                ));
            }
            if self.is_z(0) {
                return Err(scan_err(
                    "while scanning a quoted scalar",
                    "found unexpected end of stream",
                    start,
                ));
            }

            let mut leading_blanks = false;
            while !self.is_blankz(0) {
                let c = self.cur();
                if single && c == b'\'' && self.at(1) == b'\'' {
                    s.push(b'\'');
                    self.skip();
                    self.skip();
                } else if (single && c == b'\'') || (!single && c == b'"') {
                    break;
                } else if !single && c == b'\\' && self.is_break(1) {
                    self.skip();
                    self.skip_line();
                    leading_blanks = true;
                    break;
                } else if !single && c == b'\\' {
                    let mut code_length = 0usize;
                    match self.at(1) {
                        b'0' => s.push(0),
                        b'a' => s.push(0x07),
                        b'b' => s.push(0x08),
                        b't' | b'\t' => s.push(0x09),
                        b'n' => s.push(0x0A),
                        b'v' => s.push(0x0B),
                        b'f' => s.push(0x0C),
                        b'r' => s.push(0x0D),
                        b'e' => s.push(0x1B),
                        b' ' => s.push(0x20),
                        b'"' => s.push(b'"'),
                        b'\'' => s.push(b'\''),
                        b'\\' => s.push(b'\\'),
                        b'N' => s.extend_from_slice(&[0xC2, 0x85]),
                        b'_' => s.extend_from_slice(&[0xC2, 0xA0]),
                        b'L' => s.extend_from_slice(&[0xE2, 0x80, 0xA8]),
                        b'P' => s.extend_from_slice(&[0xE2, 0x80, 0xA9]),
                        b'x' => code_length = 2,
                        b'u' => code_length = 4,
                        b'U' => code_length = 8,
                        _ => {
                            return Err(scan_err(
                                "while parsing a quoted scalar",
                                "found unknown escape character",
                                start,
                            ));
                        }
                    }
                    self.skip();
                    self.skip();
                    if code_length > 0 {
                        let mut value: u32 = 0;
                        for k in 0..code_length {
                            if !self.is_hex(k) {
                                return Err(scan_err(
                                    "while parsing a quoted scalar",
                                    "did not find expected hexadecimal number",
                                    start,
                                ));
                            }
                            value = (value << 4) + self.as_hex(k);
                        }
                        let Some(ch) = char::from_u32(value) else {
                            return Err(scan_err(
                                "while parsing a quoted scalar",
                                "found invalid Unicode character escape code",
                                start,
                            ));
                        };
                        let mut tmp = [0u8; 4];
                        s.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        for _ in 0..code_length {
                            self.skip();
                        }
                    }
                } else {
                    self.read(&mut s);
                }
            }

            if single {
                if self.cur() == b'\'' {
                    break;
                }
            } else if self.cur() == b'"' {
                break;
            }

            while self.is_blank(0) || self.is_break(0) {
                if self.is_blank(0) {
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }

            if leading_blanks {
                if leading_break.first() == Some(&b'\n') {
                    if trailing_breaks.is_empty() {
                        s.push(b' ');
                    } else {
                        s.extend_from_slice(&trailing_breaks);
                    }
                } else {
                    s.extend_from_slice(&leading_break);
                    s.extend_from_slice(&trailing_breaks);
                }
                trailing_breaks.clear();
                leading_break.clear();
            } else {
                s.extend_from_slice(&whitespaces);
                whitespaces.clear();
            }
        }
        self.skip();
        Ok(Token {
            typ: TokenType::Scalar,
            start,
            end: self.mark,
            value: s,
            style: if single {
                ScalarStyle::SingleQuoted
            } else {
                ScalarStyle::DoubleQuoted
            },
            ..Token::default()
        })
    }

    /// Length of the run of printable ASCII bytes at the cursor that a
    /// plain scalar consumes without any check (no blanks, no `:`, and in
    /// flow context none of `,?[]{}`).
    fn plain_ascii_run(&self) -> usize {
        let flow = self.flow_level > 0;
        self.buf[self.pos..]
            .iter()
            .take_while(|&&b| {
                (0x21..=0x7E).contains(&b)
                    && b != b':'
                    && !(flow && matches!(b, b',' | b'?' | b'[' | b']' | b'{' | b'}'))
            })
            .count()
    }

    fn scan_plain_scalar(&mut self) -> Res<Token> {
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        let mut whitespaces = Vec::new();
        let mut leading_blanks = false;
        let indent = self.indent + 1;
        let start = self.mark;
        let mut end = self.mark;
        loop {
            if self.is_document_indicator() {
                break;
            }
            if self.cur() == b'#' {
                break;
            }
            while !self.is_blankz(0) {
                let c = self.cur();
                if (c == b':' && self.is_blankz(1))
                    || (self.flow_level > 0
                        && (c == b','
                            || (c == b'?' && self.is_blankz(1))
                            || c == b'['
                            || c == b']'
                            || c == b'{'
                            || c == b'}'))
                {
                    break;
                }
                if leading_blanks || !whitespaces.is_empty() {
                    if leading_blanks {
                        if leading_break.first() == Some(&b'\n') {
                            if trailing_breaks.is_empty() {
                                s.push(b' ');
                            } else {
                                s.extend_from_slice(&trailing_breaks);
                            }
                        } else {
                            s.extend_from_slice(&leading_break);
                            s.extend_from_slice(&trailing_breaks);
                        }
                        trailing_breaks.clear();
                        leading_break.clear();
                        leading_blanks = false;
                    } else {
                        s.extend_from_slice(&whitespaces);
                        whitespaces.clear();
                    }
                }
                // Fast path: copy a run of ASCII characters that cannot end
                // the scalar at once (same effect as reading them one by one).
                let run = self.plain_ascii_run();
                if run > 0 {
                    s.extend_from_slice(&self.buf[self.pos..self.pos + run]);
                    self.pos += run;
                    self.mark.index += run as isize;
                    self.mark.column += run as isize;
                    self.newlines = 0;
                } else {
                    self.read(&mut s);
                }
                end = self.mark;
            }
            if !(self.is_blank(0) || self.is_break(0)) {
                break;
            }
            while self.is_blank(0) || self.is_break(0) {
                if self.is_blank(0) {
                    if leading_blanks && self.mark.column < indent && self.is_tab(0) {
                        return Err(scan_err(
                            "while scanning a plain scalar",
                            "found a tab character that violates indentation",
                            start,
                        ));
                    }
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }
            if self.flow_level == 0 && self.mark.column < indent {
                break;
            }
        }
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(Token {
            typ: TokenType::Scalar,
            start,
            end,
            value: s,
            style: ScalarStyle::Plain,
            ..Token::default()
        })
    }
}
