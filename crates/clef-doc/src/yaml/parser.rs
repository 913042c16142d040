//! Events from tokens (go-yaml v3 `parserc.go`) and the node composer
//! (go-yaml v3 `decode.go` parser), including go-yaml's moves of comments
//! between nodes.

use std::collections::HashMap;

use super::YamlError;
use super::scanner::{Mark, Res, ScalarStyle, Scanner, Token, TokenType};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    StreamStart,
    ImplicitDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    BlockNode,
    BlockSequenceFirstEntry,
    BlockSequenceEntry,
    IndentlessSequenceEntry,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingValue,
    FlowSequenceFirstEntry,
    FlowSequenceEntry,
    FlowSequenceEntryMappingKey,
    FlowSequenceEntryMappingValue,
    FlowSequenceEntryMappingEnd,
    FlowMappingFirstKey,
    FlowMappingKey,
    FlowMappingValue,
    FlowMappingEmptyValue,
    End,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum EventType {
    #[default]
    None,
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
    TailComment,
}

#[derive(Clone, Default, Debug)]
pub(crate) struct Event {
    pub typ: EventType,
    pub start: Mark,
    pub anchor: Vec<u8>,
    pub tag: Vec<u8>,
    pub value: Vec<u8>,
    pub style: ScalarStyle,
    pub flow: bool,
    pub head_comment: Vec<u8>,
    pub line_comment: Vec<u8>,
    pub foot_comment: Vec<u8>,
}

struct TagDirective {
    handle: Vec<u8>,
    prefix: Vec<u8>,
}

/// The event parser.
pub(crate) struct Parser {
    sc: Scanner,
    state: State,
    states: Vec<State>,
    marks: Vec<Mark>,
    tag_directives: Vec<TagDirective>,
}

fn parse_err(problem: &str, mark: Mark) -> YamlError {
    YamlError::at(mark.line, mark.column, problem.to_owned())
}

impl Parser {
    pub(crate) fn new(input: &str) -> Parser {
        Parser {
            sc: Scanner::new(input),
            state: State::StreamStart,
            states: Vec::new(),
            marks: Vec::new(),
            tag_directives: Vec::new(),
        }
    }

    fn pop_state(&mut self) -> State {
        self.states.pop().unwrap_or(State::End)
    }

    fn set_event_comments(&mut self, ev: &mut Event) {
        ev.head_comment = std::mem::take(&mut self.sc.head_comment);
        ev.line_comment = std::mem::take(&mut self.sc.line_comment);
        ev.foot_comment = std::mem::take(&mut self.sc.foot_comment);
        self.sc.tail_comment.clear();
        self.sc.stem_comment.clear();
    }

    /// The next event.
    pub(crate) fn next_event(&mut self) -> Res<Event> {
        if self.sc.stream_end_produced || self.state == State::End {
            return Ok(Event::default());
        }
        match self.state {
            State::StreamStart => self.parse_stream_start(),
            State::ImplicitDocumentStart => self.parse_document_start(true),
            State::DocumentStart => self.parse_document_start(false),
            State::DocumentContent => self.parse_document_content(),
            State::DocumentEnd => self.parse_document_end(),
            State::BlockNode => self.parse_node(true, false),
            State::BlockSequenceFirstEntry => self.parse_block_sequence_entry(true),
            State::BlockSequenceEntry => self.parse_block_sequence_entry(false),
            State::IndentlessSequenceEntry => self.parse_indentless_sequence_entry(),
            State::BlockMappingFirstKey => self.parse_block_mapping_key(true),
            State::BlockMappingKey => self.parse_block_mapping_key(false),
            State::BlockMappingValue => self.parse_block_mapping_value(),
            State::FlowSequenceFirstEntry => self.parse_flow_sequence_entry(true),
            State::FlowSequenceEntry => self.parse_flow_sequence_entry(false),
            State::FlowSequenceEntryMappingKey => self.parse_flow_sequence_entry_mapping_key(),
            State::FlowSequenceEntryMappingValue => self.parse_flow_sequence_entry_mapping_value(),
            State::FlowSequenceEntryMappingEnd => self.parse_flow_sequence_entry_mapping_end(),
            State::FlowMappingFirstKey => self.parse_flow_mapping_key(true),
            State::FlowMappingKey => self.parse_flow_mapping_key(false),
            State::FlowMappingValue => self.parse_flow_mapping_value(false),
            State::FlowMappingEmptyValue => self.parse_flow_mapping_value(true),
            State::End => Ok(Event::default()),
        }
    }

    fn parse_stream_start(&mut self) -> Res<Event> {
        let (typ, start, _) = self.sc.peek_type()?;
        if typ != TokenType::StreamStart {
            return Err(parse_err("did not find expected <stream-start>", start));
        }
        self.state = State::ImplicitDocumentStart;
        self.sc.skip_token();
        Ok(Event {
            typ: EventType::StreamStart,
            start,
            ..Event::default()
        })
    }

    fn parse_document_start(&mut self, implicit: bool) -> Res<Event> {
        let (mut typ, mut start, _) = self.sc.peek_type()?;
        if !implicit {
            while typ == TokenType::DocumentEnd {
                self.sc.skip_token();
                (typ, start, _) = self.sc.peek_type()?;
            }
        }
        if implicit
            && typ != TokenType::VersionDirective
            && typ != TokenType::TagDirective
            && typ != TokenType::DocumentStart
            && typ != TokenType::StreamEnd
        {
            self.process_directives()?;
            self.states.push(State::DocumentEnd);
            self.state = State::BlockNode;

            let mut head_comment = Vec::new();
            let hc = &self.sc.head_comment;
            if !hc.is_empty() {
                // Split the header at the last empty line: the part before
                // goes to the document, the rest to the following event.
                let mut i = hc.len() - 1;
                while i > 0 {
                    if hc[i] == b'\n' {
                        if i == hc.len() - 1 {
                            head_comment = hc[..i].to_vec();
                            self.sc.head_comment = hc[i + 1..].to_vec();
                            break;
                        } else if hc[i - 1] == b'\n' {
                            head_comment = hc[..i - 1].to_vec();
                            self.sc.head_comment = hc[i + 1..].to_vec();
                            break;
                        }
                    }
                    i -= 1;
                }
            }
            return Ok(Event {
                typ: EventType::DocumentStart,
                start,
                head_comment,
                ..Event::default()
            });
        }
        if typ != TokenType::StreamEnd {
            self.process_directives()?;
            let (typ, start2, _) = self.sc.peek_type()?;
            if typ != TokenType::DocumentStart {
                return Err(parse_err("did not find expected <document start>", start2));
            }
            self.states.push(State::DocumentEnd);
            self.state = State::DocumentContent;
            self.sc.skip_token();
            return Ok(Event {
                typ: EventType::DocumentStart,
                start,
                ..Event::default()
            });
        }
        self.state = State::End;
        self.sc.skip_token();
        Ok(Event {
            typ: EventType::StreamEnd,
            start,
            ..Event::default()
        })
    }

    fn parse_document_content(&mut self) -> Res<Event> {
        let (typ, start, _) = self.sc.peek_type()?;
        if matches!(
            typ,
            TokenType::VersionDirective
                | TokenType::TagDirective
                | TokenType::DocumentStart
                | TokenType::DocumentEnd
                | TokenType::StreamEnd
        ) {
            self.state = self.pop_state();
            return Ok(empty_scalar(start));
        }
        self.parse_node(true, false)
    }

    fn parse_document_end(&mut self) -> Res<Event> {
        let (typ, start, _) = self.sc.peek_type()?;
        if typ == TokenType::DocumentEnd {
            self.sc.skip_token();
        }
        self.tag_directives.clear();
        self.state = State::DocumentStart;
        let mut ev = Event {
            typ: EventType::DocumentEnd,
            start,
            ..Event::default()
        };
        self.set_event_comments(&mut ev);
        if !ev.head_comment.is_empty() && ev.foot_comment.is_empty() {
            ev.foot_comment = std::mem::take(&mut ev.head_comment);
        }
        Ok(ev)
    }

    fn parse_node(&mut self, block: bool, indentless_sequence: bool) -> Res<Event> {
        let (mut typ, mut start, _) = self.sc.peek_type()?;
        if typ == TokenType::Alias {
            self.state = self.pop_state();
            let tok = self.sc.peek_token()?.value.clone();
            let mut ev = Event {
                typ: EventType::Alias,
                start,
                anchor: tok,
                ..Event::default()
            };
            self.set_event_comments(&mut ev);
            self.sc.skip_token();
            return Ok(ev);
        }

        let node_start = start;
        let mut anchor = Vec::new();
        let mut tag_token: Option<(Vec<u8>, Vec<u8>, Mark)> = None;
        if typ == TokenType::Anchor {
            let t = self.sc.take_token();
            anchor = t.value;
            (typ, start, _) = self.sc.peek_type()?;
            if typ == TokenType::Tag {
                let t = self.sc.take_token();
                tag_token = Some((t.value, t.suffix, t.start));
                (typ, start, _) = self.sc.peek_type()?;
            }
        } else if typ == TokenType::Tag {
            let t = self.sc.take_token();
            tag_token = Some((t.value, t.suffix, t.start));
            (typ, start, _) = self.sc.peek_type()?;
            if typ == TokenType::Anchor {
                let t = self.sc.take_token();
                anchor = t.value;
                (typ, start, _) = self.sc.peek_type()?;
            }
        }
        let _ = start;

        let mut tag = Vec::new();
        if let Some((handle, suffix, tag_mark)) = tag_token {
            if handle.is_empty() {
                tag = suffix;
            } else {
                for d in &self.tag_directives {
                    if d.handle == handle {
                        tag = d.prefix.clone();
                        tag.extend_from_slice(&suffix);
                        break;
                    }
                }
                if tag.is_empty() {
                    return Err(parse_err(
                        "while parsing a node: found undefined tag handle",
                        tag_mark,
                    ));
                }
            }
        }

        if indentless_sequence && typ == TokenType::BlockEntry {
            self.state = State::IndentlessSequenceEntry;
            return Ok(Event {
                typ: EventType::SequenceStart,
                start: node_start,
                anchor,
                tag,
                ..Event::default()
            });
        }
        if typ == TokenType::Scalar {
            self.state = self.pop_state();
            let t = self.sc.take_token();
            let mut ev = Event {
                typ: EventType::Scalar,
                start: node_start,
                anchor,
                tag,
                value: t.value,
                style: t.style,
                ..Event::default()
            };
            // Comments were unfolded when the scalar was peeked.
            self.set_event_comments(&mut ev);
            return Ok(ev);
        }
        if typ == TokenType::FlowSequenceStart {
            self.state = State::FlowSequenceFirstEntry;
            let mut ev = Event {
                typ: EventType::SequenceStart,
                start: node_start,
                anchor,
                tag,
                flow: true,
                ..Event::default()
            };
            self.set_event_comments(&mut ev);
            return Ok(ev);
        }
        if typ == TokenType::FlowMappingStart {
            self.state = State::FlowMappingFirstKey;
            let mut ev = Event {
                typ: EventType::MappingStart,
                start: node_start,
                anchor,
                tag,
                flow: true,
                ..Event::default()
            };
            self.set_event_comments(&mut ev);
            return Ok(ev);
        }
        if block && typ == TokenType::BlockSequenceStart {
            self.state = State::BlockSequenceFirstEntry;
            let mut ev = Event {
                typ: EventType::SequenceStart,
                start: node_start,
                anchor,
                tag,
                ..Event::default()
            };
            if !self.sc.stem_comment.is_empty() {
                ev.head_comment = std::mem::take(&mut self.sc.stem_comment);
            }
            return Ok(ev);
        }
        if block && typ == TokenType::BlockMappingStart {
            self.state = State::BlockMappingFirstKey;
            let mut ev = Event {
                typ: EventType::MappingStart,
                start: node_start,
                anchor,
                tag,
                ..Event::default()
            };
            if !self.sc.stem_comment.is_empty() {
                ev.head_comment = std::mem::take(&mut self.sc.stem_comment);
            }
            return Ok(ev);
        }
        if !anchor.is_empty() || !tag.is_empty() {
            self.state = self.pop_state();
            return Ok(Event {
                typ: EventType::Scalar,
                start: node_start,
                anchor,
                tag,
                style: ScalarStyle::Plain,
                ..Event::default()
            });
        }
        let context = if block {
            "while parsing a block node"
        } else {
            "while parsing a flow node"
        };
        let (_, at, _) = self.sc.peek_type()?;
        Err(parse_err(
            &format!("{context}: did not find expected node content"),
            at,
        ))
    }

    fn split_stem_comment(&mut self, stem_len: usize) -> Res<()> {
        if stem_len == 0 {
            return Ok(());
        }
        let (typ, _, _) = self.sc.peek_type()?;
        if typ != TokenType::BlockSequenceStart && typ != TokenType::BlockMappingStart {
            return Ok(());
        }
        let hc = std::mem::take(&mut self.sc.head_comment);
        let stem = stem_len.min(hc.len());
        self.sc.stem_comment = hc[..stem].to_vec();
        if hc.len() > stem + 1 {
            self.sc.head_comment = hc[stem + 1..].to_vec();
        }
        Ok(())
    }

    fn parse_block_sequence_entry(&mut self, first: bool) -> Res<Event> {
        if first {
            let (_, start, _) = self.sc.peek_type()?;
            self.marks.push(start);
            self.sc.skip_token();
        }
        let (typ, start, end) = self.sc.peek_type()?;
        if typ == TokenType::BlockEntry {
            let mark = end;
            let prior_head_len = self.sc.head_comment.len();
            self.sc.skip_token();
            self.split_stem_comment(prior_head_len)?;
            let (typ, _, _) = self.sc.peek_type()?;
            if typ != TokenType::BlockEntry && typ != TokenType::BlockEnd {
                self.states.push(State::BlockSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::BlockSequenceEntry;
            return Ok(empty_scalar(mark));
        }
        if typ == TokenType::BlockEnd {
            self.state = self.pop_state();
            self.marks.pop();
            self.sc.skip_token();
            return Ok(Event {
                typ: EventType::SequenceEnd,
                start,
                ..Event::default()
            });
        }
        let context_mark = self.marks.pop().unwrap_or(start);
        let _ = context_mark;
        Err(parse_err(
            "while parsing a block collection: did not find expected '-' indicator",
            start,
        ))
    }

    fn parse_indentless_sequence_entry(&mut self) -> Res<Event> {
        let (typ, start, end) = self.sc.peek_type()?;
        if typ == TokenType::BlockEntry {
            let mark = end;
            let prior_head_len = self.sc.head_comment.len();
            self.sc.skip_token();
            self.split_stem_comment(prior_head_len)?;
            let (typ, _, _) = self.sc.peek_type()?;
            if typ != TokenType::BlockEntry
                && typ != TokenType::Key
                && typ != TokenType::Value
                && typ != TokenType::BlockEnd
            {
                self.states.push(State::IndentlessSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::IndentlessSequenceEntry;
            return Ok(empty_scalar(mark));
        }
        self.state = self.pop_state();
        Ok(Event {
            typ: EventType::SequenceEnd,
            start,
            ..Event::default()
        })
    }

    fn parse_block_mapping_key(&mut self, first: bool) -> Res<Event> {
        if first {
            let (_, start, _) = self.sc.peek_type()?;
            self.marks.push(start);
            self.sc.skip_token();
        }
        let (typ, start, end) = self.sc.peek_type()?;
        if !self.sc.tail_comment.is_empty() {
            return Ok(Event {
                typ: EventType::TailComment,
                start,
                foot_comment: std::mem::take(&mut self.sc.tail_comment),
                ..Event::default()
            });
        }
        if typ == TokenType::Key {
            let mark = end;
            self.sc.skip_token();
            let (typ, _, _) = self.sc.peek_type()?;
            if typ != TokenType::Key && typ != TokenType::Value && typ != TokenType::BlockEnd {
                self.states.push(State::BlockMappingValue);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingValue;
            return Ok(empty_scalar(mark));
        }
        if typ == TokenType::BlockEnd {
            self.state = self.pop_state();
            self.marks.pop();
            let mut ev = Event {
                typ: EventType::MappingEnd,
                start,
                ..Event::default()
            };
            self.set_event_comments(&mut ev);
            self.sc.skip_token();
            return Ok(ev);
        }
        self.marks.pop();
        Err(parse_err(
            "while parsing a block mapping: did not find expected key",
            start,
        ))
    }

    fn parse_block_mapping_value(&mut self) -> Res<Event> {
        let (typ, start, end) = self.sc.peek_type()?;
        if typ == TokenType::Value {
            let mark = end;
            self.sc.skip_token();
            let (typ, _, _) = self.sc.peek_type()?;
            if typ != TokenType::Key && typ != TokenType::Value && typ != TokenType::BlockEnd {
                self.states.push(State::BlockMappingKey);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingKey;
            return Ok(empty_scalar(mark));
        }
        self.state = State::BlockMappingKey;
        Ok(empty_scalar(start))
    }

    fn parse_flow_sequence_entry(&mut self, first: bool) -> Res<Event> {
        if first {
            let (_, start, _) = self.sc.peek_type()?;
            self.marks.push(start);
            self.sc.skip_token();
        }
        let (mut typ, mut start, _) = self.sc.peek_type()?;
        if typ != TokenType::FlowSequenceEnd {
            if !first {
                if typ == TokenType::FlowEntry {
                    self.sc.skip_token();
                    (typ, start, _) = self.sc.peek_type()?;
                } else {
                    self.marks.pop();
                    return Err(parse_err(
                        "while parsing a flow sequence: did not find expected ',' or ']'",
                        start,
                    ));
                }
            }
            if typ == TokenType::Key {
                self.state = State::FlowSequenceEntryMappingKey;
                self.sc.skip_token();
                return Ok(Event {
                    typ: EventType::MappingStart,
                    start,
                    flow: true,
                    ..Event::default()
                });
            } else if typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntry);
                return self.parse_node(false, false);
            }
        }
        self.state = self.pop_state();
        self.marks.pop();
        let mut ev = Event {
            typ: EventType::SequenceEnd,
            start,
            ..Event::default()
        };
        self.set_event_comments(&mut ev);
        self.sc.skip_token();
        Ok(ev)
    }

    fn parse_flow_sequence_entry_mapping_key(&mut self) -> Res<Event> {
        let (typ, _, end) = self.sc.peek_type()?;
        if typ != TokenType::Value
            && typ != TokenType::FlowEntry
            && typ != TokenType::FlowSequenceEnd
        {
            self.states.push(State::FlowSequenceEntryMappingValue);
            return self.parse_node(false, false);
        }
        let mark = end;
        self.sc.skip_token();
        self.state = State::FlowSequenceEntryMappingValue;
        Ok(empty_scalar(mark))
    }

    fn parse_flow_sequence_entry_mapping_value(&mut self) -> Res<Event> {
        let (mut typ, mut start, _) = self.sc.peek_type()?;
        if typ == TokenType::Value {
            self.sc.skip_token();
            (typ, start, _) = self.sc.peek_type()?;
            if typ != TokenType::FlowEntry && typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntryMappingEnd);
                return self.parse_node(false, false);
            }
        }
        self.state = State::FlowSequenceEntryMappingEnd;
        Ok(empty_scalar(start))
    }

    fn parse_flow_sequence_entry_mapping_end(&mut self) -> Res<Event> {
        let (_, start, _) = self.sc.peek_type()?;
        self.state = State::FlowSequenceEntry;
        Ok(Event {
            typ: EventType::MappingEnd,
            start,
            ..Event::default()
        })
    }

    fn parse_flow_mapping_key(&mut self, first: bool) -> Res<Event> {
        if first {
            let (_, start, _) = self.sc.peek_type()?;
            self.marks.push(start);
            self.sc.skip_token();
        }
        let (mut typ, mut start, _) = self.sc.peek_type()?;
        if typ != TokenType::FlowMappingEnd {
            if !first {
                if typ == TokenType::FlowEntry {
                    self.sc.skip_token();
                    (typ, start, _) = self.sc.peek_type()?;
                } else {
                    self.marks.pop();
                    return Err(parse_err(
                        "while parsing a flow mapping: did not find expected ',' or '}'",
                        start,
                    ));
                }
            }
            if typ == TokenType::Key {
                self.sc.skip_token();
                let (typ, start, _) = self.sc.peek_type()?;
                if typ != TokenType::Value
                    && typ != TokenType::FlowEntry
                    && typ != TokenType::FlowMappingEnd
                {
                    self.states.push(State::FlowMappingValue);
                    return self.parse_node(false, false);
                }
                self.state = State::FlowMappingValue;
                return Ok(empty_scalar(start));
            } else if typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingEmptyValue);
                return self.parse_node(false, false);
            }
        }
        self.state = self.pop_state();
        self.marks.pop();
        let mut ev = Event {
            typ: EventType::MappingEnd,
            start,
            ..Event::default()
        };
        self.set_event_comments(&mut ev);
        self.sc.skip_token();
        Ok(ev)
    }

    fn parse_flow_mapping_value(&mut self, empty: bool) -> Res<Event> {
        let (mut typ, mut start, _) = self.sc.peek_type()?;
        if empty {
            self.state = State::FlowMappingKey;
            return Ok(empty_scalar(start));
        }
        if typ == TokenType::Value {
            self.sc.skip_token();
            (typ, start, _) = self.sc.peek_type()?;
            if typ != TokenType::FlowEntry && typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingKey);
                return self.parse_node(false, false);
            }
        }
        self.state = State::FlowMappingKey;
        Ok(empty_scalar(start))
    }

    fn process_directives(&mut self) -> Res<()> {
        let mut seen_version = false;
        let mut local: Vec<Vec<u8>> = Vec::new();
        loop {
            let (typ, start, _) = self.sc.peek_type()?;
            match typ {
                TokenType::VersionDirective => {
                    let t: &Token = self.sc.peek_token()?;
                    let (major, minor) = (t.major, t.minor);
                    if seen_version {
                        return Err(parse_err("found duplicate %YAML directive", start));
                    }
                    if major != 1 || minor != 1 {
                        return Err(parse_err("found incompatible YAML document", start));
                    }
                    seen_version = true;
                }
                TokenType::TagDirective => {
                    let t = self.sc.peek_token()?;
                    let (handle, prefix) = (t.value.clone(), t.prefix.clone());
                    if local.contains(&handle)
                        || self.tag_directives.iter().any(|d| d.handle == handle)
                    {
                        return Err(parse_err("found duplicate %TAG directive", start));
                    }
                    local.push(handle.clone());
                    self.tag_directives.push(TagDirective { handle, prefix });
                }
                _ => break,
            }
            self.sc.skip_token();
        }
        for (h, p) in [
            (&b"!"[..], &b"!"[..]),
            (&b"!!"[..], &b"tag:yaml.org,2002:"[..]),
        ] {
            if !self.tag_directives.iter().any(|d| d.handle == h) {
                self.tag_directives.push(TagDirective {
                    handle: h.to_vec(),
                    prefix: p.to_vec(),
                });
            }
        }
        Ok(())
    }
}

fn empty_scalar(mark: Mark) -> Event {
    Event {
        typ: EventType::Scalar,
        start: mark,
        style: ScalarStyle::Plain,
        ..Event::default()
    }
}

// ---------------------------------------------------------------------------
// Composer: events to nodes.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Document,
    Sequence,
    Mapping,
    Scalar,
    Alias,
}

/// A node of go-yaml's node tree (arena-allocated; aliases point to the
/// anchored node by index).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    /// Short tag (`!!str`, `!!int`, ...) or a custom tag.
    pub tag: String,
    pub style: ScalarStyle,
    pub value: String,
    pub alias: Option<usize>,
    pub content: Vec<usize>,
    pub head_comment: String,
    pub line_comment: String,
    pub foot_comment: String,
    pub line: isize,
    pub column: isize,
}

pub(crate) struct Composer {
    p: Parser,
    event: Option<Event>,
    pub nodes: Vec<Node>,
    anchors: HashMap<String, usize>,
    done_init: bool,
    depth: usize,
}

/// Collection nesting limit of the composer (its recursion must not overflow
/// the stack on hostile input).
const MAX_NESTING: usize = 200;

fn bytes_to_string(b: Vec<u8>, mark: Mark) -> Res<String> {
    String::from_utf8(b)
        .map_err(|_| YamlError::at(mark.line, mark.column, "invalid UTF-8 in scalar".into()))
}

/// Go's `shortTag`: `tag:yaml.org,2002:x` becomes `!!x`.
fn short_tag(tag: &str) -> String {
    if let Some(rest) = tag.strip_prefix("tag:yaml.org,2002:") {
        format!("!!{rest}")
    } else {
        tag.to_owned()
    }
}

impl Composer {
    pub(crate) fn new(input: &str) -> Composer {
        let input = if input.is_empty() { "\n" } else { input };
        Composer {
            p: Parser::new(input),
            event: None,
            nodes: Vec::new(),
            anchors: HashMap::new(),
            done_init: false,
            depth: 0,
        }
    }

    fn peek(&mut self) -> Res<EventType> {
        if self.event.is_none() {
            self.event = Some(self.p.next_event()?);
        }
        Ok(self.event.as_ref().map(|e| e.typ).unwrap_or_default())
    }

    fn take(&mut self, expected: EventType) -> Res<Event> {
        self.peek()?;
        let ev = self.event.take().unwrap_or_default();
        if ev.typ == EventType::StreamEnd {
            return Err(parse_err(
                "attempted to go past the end of stream",
                ev.start,
            ));
        }
        if ev.typ != expected {
            return Err(parse_err("unexpected event", ev.start));
        }
        Ok(ev)
    }

    fn init(&mut self) -> Res<()> {
        if !self.done_init {
            self.take(EventType::StreamStart)?;
            self.done_init = true;
        }
        Ok(())
    }

    /// The next document node, or `None` at the end of the stream.
    pub(crate) fn next_document(&mut self) -> Res<Option<usize>> {
        self.init()?;
        match self.peek()? {
            EventType::StreamEnd | EventType::None => Ok(None),
            EventType::DocumentStart => self.document().map(Some),
            _ => {
                let start = self.event.as_ref().map(|e| e.start).unwrap_or_default();
                Err(parse_err("expected a document", start))
            }
        }
    }

    fn new_node(
        &mut self,
        kind: Kind,
        default_tag: &str,
        ev: &mut Event,
        value: String,
    ) -> Res<usize> {
        let raw_tag = bytes_to_string(std::mem::take(&mut ev.tag), ev.start)?;
        let tag = if !raw_tag.is_empty() && raw_tag != "!" {
            short_tag(&raw_tag)
        } else if !default_tag.is_empty() {
            default_tag.to_owned()
        } else if kind == Kind::Scalar {
            super::resolve::resolve_tag(&value).to_owned()
        } else {
            String::new()
        };
        let node = Node {
            kind,
            tag,
            style: ScalarStyle::Any,
            value,
            alias: None,
            content: Vec::new(),
            head_comment: bytes_to_string(std::mem::take(&mut ev.head_comment), ev.start)?,
            line_comment: bytes_to_string(std::mem::take(&mut ev.line_comment), ev.start)?,
            foot_comment: bytes_to_string(std::mem::take(&mut ev.foot_comment), ev.start)?,
            line: ev.start.line + 1,
            column: ev.start.column + 1,
        };
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn set_anchor(&mut self, id: usize, anchor: &[u8], mark: Mark) -> Res<()> {
        if !anchor.is_empty() {
            let name = bytes_to_string(anchor.to_vec(), mark)?;
            self.anchors.insert(name, id);
        }
        Ok(())
    }

    fn parse(&mut self) -> Res<usize> {
        match self.peek()? {
            EventType::Scalar => self.scalar(),
            EventType::Alias => self.alias(),
            EventType::MappingStart | EventType::SequenceStart => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    let start = self.event.as_ref().map(|e| e.start).unwrap_or_default();
                    return Err(parse_err("document nesting is too deep", start));
                }
                let r = if self.peek()? == EventType::MappingStart {
                    self.mapping()
                } else {
                    self.sequence()
                };
                self.depth -= 1;
                r
            }
            EventType::DocumentStart => self.document(),
            _ => {
                let start = self.event.as_ref().map(|e| e.start).unwrap_or_default();
                Err(parse_err("unexpected event", start))
            }
        }
    }

    fn document(&mut self) -> Res<usize> {
        let mut ev = self.take(EventType::DocumentStart)?;
        let n = self.new_node(Kind::Document, "", &mut ev, String::new())?;
        let child = self.parse()?;
        self.nodes[n].content.push(child);
        if self.peek()? == EventType::DocumentEnd {
            let foot = self
                .event
                .as_ref()
                .map(|e| e.foot_comment.clone())
                .unwrap_or_default();
            self.nodes[n].foot_comment = bytes_to_string(foot, ev.start)?;
        }
        self.take(EventType::DocumentEnd)?;
        Ok(n)
    }

    fn alias(&mut self) -> Res<usize> {
        let mut ev = self.take(EventType::Alias)?;
        let name = bytes_to_string(std::mem::take(&mut ev.anchor), ev.start)?;
        let n = self.new_node(Kind::Alias, "", &mut ev, name.clone())?;
        match self.anchors.get(&name) {
            Some(&target) => self.nodes[n].alias = Some(target),
            None => return Err(parse_err("unknown anchor referenced", ev.start)),
        }
        Ok(n)
    }

    fn scalar(&mut self) -> Res<usize> {
        let mut ev = self.take(EventType::Scalar)?;
        let style = ev.style;
        let quoted = !matches!(style, ScalarStyle::Plain | ScalarStyle::Any);
        let value = bytes_to_string(std::mem::take(&mut ev.value), ev.start)?;
        let default_tag = if !quoted {
            if value == "<<" { "!!merge" } else { "" }
        } else {
            "!!str"
        };
        let n = self.new_node(Kind::Scalar, default_tag, &mut ev, value)?;
        self.nodes[n].style = style;
        self.set_anchor(n, &ev.anchor, ev.start)?;
        Ok(n)
    }

    fn sequence(&mut self) -> Res<usize> {
        let mut ev = self.take(EventType::SequenceStart)?;
        let n = self.new_node(Kind::Sequence, "!!seq", &mut ev, String::new())?;
        self.set_anchor(n, &ev.anchor, ev.start)?;
        while self.peek()? != EventType::SequenceEnd {
            let child = self.parse()?;
            self.nodes[n].content.push(child);
        }
        let end = self.take(EventType::SequenceEnd)?;
        self.nodes[n].line_comment = bytes_to_string(end.line_comment, end.start)?;
        self.nodes[n].foot_comment = bytes_to_string(end.foot_comment, end.start)?;
        Ok(n)
    }

    fn mapping(&mut self) -> Res<usize> {
        let mut ev = self.take(EventType::MappingStart)?;
        let block = !ev.flow;
        let n = self.new_node(Kind::Mapping, "!!map", &mut ev, String::new())?;
        self.set_anchor(n, &ev.anchor, ev.start)?;
        while self.peek()? != EventType::MappingEnd {
            let k = self.parse()?;
            self.nodes[n].content.push(k);
            if block && !self.nodes[k].foot_comment.is_empty() {
                // Must be a foot comment for the prior value when dedented.
                let len = self.nodes[n].content.len();
                if len > 2 {
                    let prior = self.nodes[n].content[len - 3];
                    let foot = std::mem::take(&mut self.nodes[k].foot_comment);
                    self.nodes[prior].foot_comment = foot;
                }
            }
            if self.peek()? == EventType::MappingEnd {
                // A key without a value cannot happen with go-yaml's events,
                // but never index past the content.
                break;
            }
            let v = self.parse()?;
            self.nodes[n].content.push(v);
            if self.nodes[k].foot_comment.is_empty() && !self.nodes[v].foot_comment.is_empty() {
                let foot = std::mem::take(&mut self.nodes[v].foot_comment);
                self.nodes[k].foot_comment = foot;
            }
            if self.peek()? == EventType::TailComment {
                let tail = self.take(EventType::TailComment)?;
                if self.nodes[k].foot_comment.is_empty() {
                    self.nodes[k].foot_comment = bytes_to_string(tail.foot_comment, tail.start)?;
                }
            }
        }
        let end = self.take(EventType::MappingEnd)?;
        self.nodes[n].line_comment = bytes_to_string(end.line_comment, end.start)?;
        let foot = bytes_to_string(end.foot_comment, end.start)?;
        let len = self.nodes[n].content.len();
        if block && !foot.is_empty() && len > 1 {
            let key = self.nodes[n].content[len - 2];
            self.nodes[key].foot_comment = foot;
        } else {
            self.nodes[n].foot_comment = foot;
        }
        Ok(n)
    }
}
