//! YAML reader and writer, byte-compatible with what sops 3.11 (go-yaml v3
//! underneath) reads and writes.
//!
//! * [`parse`] builds exactly the tree sops builds: go-yaml v3's scanner,
//!   parser and composer (ported, because comment placement depends on their
//!   details), go-yaml's type resolution, then sops's node-to-tree walk
//!   (comments become [`Item::Comment`]s or [`Value::Comment`]s, aliases are
//!   expanded, timestamps become [`Value::Time`]).
//! * [`emit`] prints a tree the way sops prints it through go-yaml's encoder
//!   (block style, `indent` spaces, go-yaml's quoting rules, literal blocks
//!   for multi-line strings, comments as `#text` lines).
//!
//! Errors carry a line, a column and a reason, never scalar contents.
//!
//! sops behaviours reproduced on purpose (verified against sops 3.11):
//!
//! * An inline comment (`a: 1 # c`) becomes a comment item *above* its key;
//!   comments inside sequences become [`Value::Comment`] items; blank lines
//!   are dropped; comments after a nested block may move into it.
//! * A sequence's head comment is replaced by the head comment of its first
//!   item when that item is a sequence or mapping with leading comments
//!   (go-yaml's emitter keeps a single pending head comment), and such
//!   heads are printed above the item's dash.
//! * `sops decrypt` re-reads sops's own *encrypted* text, where sequence
//!   comments are plain `- ENC[...]` values; comments written above a
//!   mapping item's dash then read back as sequence comments. Decrypting a
//!   file read with [`parse`] therefore prints what sops prints; printing
//!   the tree of a plaintext file directly can differ in that one respect.
//! * A multi-line string whose first line starts with a tab is printed as
//!   `null` (go-yaml cannot re-read its own literal block; sops ignores the
//!   error).
//! * A literal block starting with a space or newline gets an indentation
//!   indicator equal to `indent`, even inside sequence items where that is
//!   wrong YAML (go-yaml bug, output unreadable by any parser, sops's too).
//! * A plain `<<` string is printed as `!!merge <<`; strings starting with
//!   U+FEFF are printed with every character escaped.
//! * Keys longer than 128 bytes or containing line breaks are printed as
//!   `? key` / `: value`.
//! * Documents nested deeper than 200 levels and alias expansion beyond
//!   max(1,000,000, 10 x nodes) values are rejected (sops would recurse or
//!   blow up); `%YAML` directives other than 1.1 are rejected like go-yaml.

mod emitter;
mod parser;
mod resolve;
mod scanner;

use std::collections::HashSet;

use crate::tree::{Branch, Item, Value, secret};

use parser::{Composer, Kind, Node};
use resolve::Resolved;

/// A YAML syntax or structure error. The message names the position and the
/// reason; it never contains the text of a scalar (which may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML error at line {line}, column {column}: {reason}")]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

impl YamlError {
    /// From a 0-based scanner position.
    pub(crate) fn at(line: isize, column: isize, reason: String) -> YamlError {
        YamlError {
            line: usize::try_from(line).unwrap_or(0) + 1,
            column: usize::try_from(column).unwrap_or(0) + 1,
            reason,
        }
    }

    fn at_node(node: &Node, reason: &str) -> YamlError {
        YamlError {
            line: usize::try_from(node.line).unwrap_or(0).max(1),
            column: usize::try_from(node.column).unwrap_or(0).max(1),
            reason: reason.to_owned(),
        }
    }
}

/// Parses a YAML stream into one [`Branch`] per document, exactly as sops
/// 3.11 reads a YAML file. An input without any document (empty, or only
/// comments) yields no branch (sops refuses both: exit 92 "File cannot be
/// completely empty" for an empty file, exit 2 "Error unmarshalling file:
/// EOF" for comments only); an empty explicit document (`---`) yields an
/// empty branch.
///
/// Errors: syntax errors (tabs as indentation, unterminated quotes, bad
/// escapes, bad indentation, control characters), a top-level sequence or
/// scalar, duplicate keys, keys that are not strings (`1:`, `true:`,
/// `null:`, dates; quoted keys are fine), integers above `i64::MAX` that fit
/// a `u64` (sops: "unknown type: uint64"; larger ones are floats), tags whose
/// value does not resolve (`!!int abc`), invalid `!!binary` (or binary that
/// is not UTF-8), unknown or recursive aliases.
pub fn parse(input: &str) -> Result<Vec<Branch>, YamlError> {
    check_characters(input)?;
    let mut composer = Composer::new(input);
    let mut docs = Vec::new();
    while let Some(doc) = composer.next_document()? {
        let mut conv = Converter {
            nodes: &composer.nodes,
            in_progress: HashSet::new(),
            produced: 0,
            depth: 0,
        };
        let mut branch = Vec::new();
        conv.append_branch(doc, &mut branch, false)?;
        docs.push(Branch(branch));
    }
    Ok(docs)
}

/// Prints documents as sops writes them: `indent` spaces per level (sops's
/// default is 4; go-yaml accepts 2..=9 and uses 2 otherwise), documents
/// separated by `---`, output ending with a newline.
pub fn emit(docs: &[Branch], indent: usize) -> String {
    emitter::emit_docs(docs, indent)
}

/// go-yaml's reader rejects control characters anywhere in the input.
fn check_characters(input: &str) -> Result<(), YamlError> {
    let (mut line, mut column) = (0isize, 0isize);
    for ch in input.chars() {
        let c = u32::from(ch);
        let ok = c == 0x09
            || c == 0x0A
            || c == 0x0D
            || (0x20..=0x7E).contains(&c)
            || c == 0x85
            || (0xA0..=0xD7FF).contains(&c)
            || (0xE000..=0xFFFD).contains(&c)
            || (0x10000..=0x10FFFF).contains(&c);
        if !ok {
            return Err(YamlError::at(
                line,
                column,
                "control characters are not allowed".into(),
            ));
        }
        if ch == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
    }
    Ok(())
}

/// Maximum nesting while building the tree (go-yaml allows 10000 levels of
/// flow nesting; a secrets file never gets near this and deep recursion
/// must not overflow the stack).
const MAX_DEPTH: usize = 200;

/// Tree values that alias expansion may produce: at least this many, or ten
/// times the number of nodes in the stream (a billion-laughs document is an
/// error rather than gigabytes of memory).
const MIN_PRODUCED_LIMIT: usize = 1_000_000;

struct Converter<'a> {
    nodes: &'a [Node],
    in_progress: HashSet<usize>,
    produced: usize,
    depth: usize,
}

fn push_map_comments(text: &str, branch: &mut Vec<Item>) {
    if text.is_empty() {
        return;
    }
    for line in text.split('\n') {
        if !line.is_empty() {
            branch.push(Item::Comment(secret(line.get(1..).unwrap_or(""))));
        }
    }
}

fn push_list_comments(text: &str, list: &mut Vec<Value>) {
    if text.is_empty() {
        return;
    }
    for line in text.split('\n') {
        if !line.is_empty() {
            list.push(Value::Comment(secret(line.get(1..).unwrap_or(""))));
        }
    }
}

fn get(nodes: &[Node], id: usize) -> Result<&Node, YamlError> {
    nodes.get(id).ok_or_else(|| YamlError {
        line: 1,
        column: 1,
        reason: "internal error: dangling node".into(),
    })
}

impl<'a> Converter<'a> {
    fn enter(&mut self, id: usize) -> Result<(), YamlError> {
        self.depth += 1;
        self.produced += 1;
        let node = get(self.nodes, id)?;
        if self.depth > MAX_DEPTH {
            return Err(YamlError::at_node(node, "document nesting is too deep"));
        }
        if self.produced > MIN_PRODUCED_LIMIT.max(self.nodes.len().saturating_mul(10)) {
            return Err(YamlError::at_node(
                node,
                "document contains excessive aliasing",
            ));
        }
        if !self.in_progress.insert(id) {
            return Err(YamlError::at_node(node, "anchor value contains itself"));
        }
        Ok(())
    }

    fn leave(&mut self, id: usize) {
        self.depth -= 1;
        self.in_progress.remove(&id);
    }

    /// sops's `appendYamlNodeToTreeBranch`.
    fn append_branch(
        &mut self,
        id: usize,
        branch: &mut Vec<Item>,
        handled: bool,
    ) -> Result<(), YamlError> {
        self.enter(id)?;
        let r = self.append_branch_inner(id, branch, handled);
        self.leave(id);
        r
    }

    fn append_branch_inner(
        &mut self,
        id: usize,
        branch: &mut Vec<Item>,
        handled: bool,
    ) -> Result<(), YamlError> {
        let nodes = self.nodes;
        let node = get(self.nodes, id)?;
        if !handled {
            push_map_comments(&node.head_comment, branch);
            push_map_comments(&node.line_comment, branch);
        }
        match node.kind {
            Kind::Document => {
                for &child in &node.content {
                    self.append_branch(child, branch, false)?;
                }
            }
            Kind::Sequence => {
                return Err(YamlError::at_node(
                    node,
                    "YAML documents that are sequences are not supported",
                ));
            }
            Kind::Mapping => {
                let mut seen: HashSet<&str> = HashSet::new();
                for pair in node.content.chunks(2) {
                    let (&kid, &vid) = match pair {
                        [k, v] => (k, v),
                        _ => return Err(YamlError::at_node(node, "mapping key without a value")),
                    };
                    let key = &nodes[kid];
                    let value = &nodes[vid];
                    push_map_comments(&key.head_comment, branch);
                    push_map_comments(&key.line_comment, branch);
                    let handle_value_comments = matches!(value.kind, Kind::Scalar | Kind::Alias);
                    if handle_value_comments {
                        push_map_comments(&value.head_comment, branch);
                        push_map_comments(&value.line_comment, branch);
                    }
                    let key_text = self.key_string(kid)?;
                    if !seen.insert(key_text) {
                        return Err(YamlError::at_node(key, "duplicate mapping key"));
                    }
                    let v = self.node_to_value(vid, handle_value_comments)?;
                    branch.push(Item::Entry(key_text.to_owned(), v));
                    if handle_value_comments {
                        push_map_comments(&value.foot_comment, branch);
                    }
                    push_map_comments(&key.foot_comment, branch);
                }
            }
            Kind::Scalar => {
                if node.tag != "!!null" {
                    return Err(YamlError::at_node(
                        node,
                        "YAML documents that are values are not supported",
                    ));
                }
            }
            Kind::Alias => {
                if let Some(target) = node.alias {
                    self.append_branch(target, branch, false)?;
                }
            }
        }
        if !handled {
            push_map_comments(&node.foot_comment, branch);
        }
        Ok(())
    }

    /// The key of a mapping entry, which must decode to a string.
    fn key_string(&self, id: usize) -> Result<&'a str, YamlError> {
        let nodes = self.nodes;
        let mut node = get(self.nodes, id)?;
        let mut hops = 0;
        while node.kind == Kind::Alias {
            hops += 1;
            match node.alias {
                Some(t) if hops < 1000 => node = &nodes[t],
                _ => return Err(YamlError::at_node(node, "non-string key")),
            }
        }
        if node.kind != Kind::Scalar {
            return Err(YamlError::at_node(node, "non-string key"));
        }
        if node.tag == "!!str" {
            return Ok(node.value.as_str());
        }
        match resolve::resolve(&node.tag, &node.value) {
            Ok(Resolved::Str) => Ok(node.value.as_str()),
            Ok(_) => Err(YamlError::at_node(node, "non-string key")),
            Err(reason) => Err(YamlError::at_node(node, reason)),
        }
    }

    /// sops's `nodeToTreeValue`.
    fn node_to_value(&mut self, id: usize, handled: bool) -> Result<Value, YamlError> {
        self.enter(id)?;
        let r = self.node_to_value_inner(id, handled);
        self.leave(id);
        r
    }

    fn node_to_value_inner(&mut self, id: usize, handled: bool) -> Result<Value, YamlError> {
        let nodes = self.nodes;
        let node = get(self.nodes, id)?;
        match node.kind {
            Kind::Document => Err(YamlError::at_node(node, "nested document")),
            Kind::Sequence => {
                let mut list = Vec::with_capacity(node.content.len());
                if !handled {
                    push_list_comments(&node.head_comment, &mut list);
                    push_list_comments(&node.line_comment, &mut list);
                }
                for &item in &node.content {
                    let it = &nodes[item];
                    push_list_comments(&it.head_comment, &mut list);
                    push_list_comments(&it.line_comment, &mut list);
                    let v = self.node_to_value(item, true)?;
                    list.push(v);
                    push_list_comments(&it.foot_comment, &mut list);
                }
                if !handled {
                    push_list_comments(&node.foot_comment, &mut list);
                }
                Ok(Value::List(list))
            }
            Kind::Mapping => {
                let mut branch = Vec::with_capacity(node.content.len() / 2);
                // Already entered: call the inner walk directly.
                self.append_branch_inner(id, &mut branch, handled)?;
                Ok(Value::Map(Branch(branch)))
            }
            Kind::Scalar => decode_scalar(node),
            Kind::Alias => match node.alias {
                Some(target) => self.node_to_value(target, false),
                None => Ok(Value::Null),
            },
        }
    }
}

/// go-yaml's decoding of a scalar into `interface{}`, as sops stores it.
fn decode_scalar(node: &Node) -> Result<Value, YamlError> {
    if node.tag == "!!str" {
        return Ok(Value::Str(secret(node.value.as_str())));
    }
    match resolve::resolve(&node.tag, &node.value) {
        Ok(Resolved::Null) => Ok(Value::Null),
        Ok(Resolved::Bool(b)) => Ok(Value::Bool(b)),
        Ok(Resolved::Int(i)) => Ok(Value::Int(i)),
        Ok(Resolved::Uint(_)) => Err(YamlError::at_node(
            node,
            "integer does not fit a signed 64-bit integer (sops: unknown type uint64)",
        )),
        Ok(Resolved::Float(f)) => Ok(Value::Float(f)),
        Ok(Resolved::Str) => Ok(Value::Str(secret(node.value.as_str()))),
        Ok(Resolved::Time(t)) => Ok(Value::Time(t)),
        Ok(Resolved::Binary(bytes)) => match String::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(secret(s))),
            Err(_) => Err(YamlError::at_node(
                node,
                "!!binary value is not valid UTF-8",
            )),
        },
        Err(reason) => Err(YamlError::at_node(node, reason)),
    }
}
