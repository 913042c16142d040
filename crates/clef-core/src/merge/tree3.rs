//! The pure three-way merge of decrypted document trees.
//!
//! No I/O, no git, no cryptography: base, ours and theirs are plaintext
//! [`Branch`]es and the result is a [`Merged`] tree in which every key is
//! either cleanly merged or a [`Conflict`] carrying the three competing
//! values. [`Merged::materialize`] turns it back into a plain [`Branch`],
//! choosing a side for every conflict (the conflict document is rendered from
//! three such materializations).
//!
//! Semantics, per key (values compared with their sops type, see [`value_eq`]):
//!
//! * changed on one side only (added, modified, deleted) → that side;
//! * the same change on both sides → that change;
//! * different changes, modify/delete, add/add with different values →
//!   conflict for that key;
//! * nested maps recurse (with an empty base when the base has no map there);
//!   lists are one value;
//! * key order: ours, with theirs' additions placed after their nearest
//!   preceding neighbour that survives (else before the nearest following
//!   one, else at the end); nothing is ever sorted;
//! * the comment lines directly above a key belong to that key and are merged
//!   three-way; when both sides changed them differently ours win (counted in
//!   [`Merged::comment_conflicts`], never a blocking conflict);
//! * an empty base (git's add/add) is a two-way merge.

use super::MergeError;
use clef_doc::tree::{Branch, Item, Secret, Value, go_format_float_f};
use std::collections::HashMap;
use std::fmt;

/// Which input a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The merge base (`%O`).
    Base,
    /// Our side (`%A`, the branch being merged into).
    Ours,
    /// Their side (`%B`, the branch being merged in).
    Theirs,
}

/// Why a key could not be merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// Both sides changed the value, differently.
    ModifyModify,
    /// Both sides added the key with different values (or the base had none).
    AddAdd,
    /// Ours changed the value, theirs deleted the key.
    ModifyDelete,
    /// Ours deleted the key, theirs changed the value.
    DeleteModify,
}

impl ConflictKind {
    /// A short human description (no values).
    pub fn describe(self) -> &'static str {
        match self {
            ConflictKind::ModifyModify => "changed on both sides",
            ConflictKind::AddAdd => "added on both sides with different values",
            ConflictKind::ModifyDelete => "changed in ours, deleted in theirs",
            ConflictKind::DeleteModify => "deleted in ours, changed in theirs",
        }
    }

    /// The stable machine label (`clef merge status --json`'s `kind`),
    /// git's own words for the same states in kebab-case: `both-modified`,
    /// `both-added`, `deleted-by-them` (ours changed it, theirs deleted it),
    /// `deleted-by-us` (ours deleted it, theirs changed it).
    pub fn label(self) -> &'static str {
        match self {
            ConflictKind::ModifyModify => "both-modified",
            ConflictKind::AddAdd => "both-added",
            ConflictKind::ModifyDelete => "deleted-by-them",
            ConflictKind::DeleteModify => "deleted-by-us",
        }
    }
}

/// A path of mapping keys from the document root (list indices are never
/// part of a path: lists are merged as one value).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath {
    /// Index of the YAML document (0 for JSON and dotenv).
    pub doc: usize,
    /// The mapping keys, outermost first.
    pub keys: Vec<String>,
}

impl fmt::Display for KeyPath {
    /// `a.b.c`, prefixed with `docN:` for documents after the first; a `.`
    /// or `\` inside a key is escaped with `\` so the form is unambiguous
    /// (it is what `resolve --pick` matches).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.doc > 0 {
            write!(f, "doc{}:", self.doc)?;
        }
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if k.contains(['.', '\\']) {
                f.write_str(&k.replace('\\', "\\\\").replace('.', "\\."))?;
            } else {
                f.write_str(k)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// One conflicting key (its values are in the [`Merged`] tree, never here,
/// so a `Conflict` can be logged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Where.
    pub path: KeyPath,
    /// Why.
    pub kind: ConflictKind,
}

/// A merged document: clean entries and conflicts, ready to materialize.
#[derive(Clone, Debug, Default)]
pub struct MBranch {
    items: Vec<MEntry>,
    trailing: Vec<Secret>,
}

#[derive(Clone, Debug)]
struct MEntry {
    comments: Vec<Secret>,
    key: String,
    value: MValue,
}

#[derive(Clone, Debug)]
enum MValue {
    Clean(Value),
    Map(MBranch),
    Conflict(Box<Sides>),
}

#[derive(Clone, Debug)]
struct Sides {
    base: Option<Value>,
    ours: Option<Value>,
    theirs: Option<Value>,
}

/// The result of merging whole files (one [`MBranch`] per document).
#[derive(Clone, Debug, Default)]
pub struct Merged {
    /// The merged documents.
    pub docs: Vec<MBranch>,
    /// Every conflicting key, in document order.
    pub conflicts: Vec<Conflict>,
    /// How many comment blocks were changed differently on both sides
    /// (resolved to ours).
    pub comment_conflicts: usize,
}

impl Merged {
    /// Whether every key merged cleanly.
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty()
    }

    /// Builds plain documents, taking `pick(path)`'s side for each conflict
    /// (a side on which the key is absent drops it).
    pub fn materialize(&self, pick: &mut dyn FnMut(&KeyPath) -> Side) -> Vec<Branch> {
        self.docs
            .iter()
            .enumerate()
            .map(|(doc, b)| {
                let mut path = KeyPath {
                    doc,
                    keys: Vec::new(),
                };
                b.materialize(&mut path, pick)
            })
            .collect()
    }

    /// Builds plain documents with every conflict taken from `side`.
    pub fn materialize_side(&self, side: Side) -> Vec<Branch> {
        self.materialize(&mut |_| side)
    }
}

impl MBranch {
    fn materialize(&self, path: &mut KeyPath, pick: &mut dyn FnMut(&KeyPath) -> Side) -> Branch {
        let mut out = Vec::with_capacity(self.items.len() + self.trailing.len());
        for e in &self.items {
            path.keys.push(e.key.clone());
            let value = match &e.value {
                MValue::Clean(v) => Some(v.clone()),
                MValue::Map(m) => Some(Value::Map(m.materialize(path, pick))),
                MValue::Conflict(s) => match pick(path) {
                    Side::Base => s.base.clone(),
                    Side::Ours => s.ours.clone(),
                    Side::Theirs => s.theirs.clone(),
                },
            };
            path.keys.pop();
            if let Some(v) = value {
                out.extend(e.comments.iter().cloned().map(Item::Comment));
                out.push(Item::Entry(e.key.clone(), v));
            }
        }
        out.extend(self.trailing.iter().cloned().map(Item::Comment));
        Branch(out)
    }
}

/// Three-way merge of whole files. `base` may be empty (git's add/add:
/// two-way merge); ours and theirs must have the same number of documents.
pub fn merge_docs(
    base: &[Branch],
    ours: &[Branch],
    theirs: &[Branch],
) -> Result<Merged, MergeError> {
    if ours.len() != theirs.len() || (!base.is_empty() && base.len() != ours.len()) {
        return Err(MergeError::DocumentCount {
            base: base.len(),
            ours: ours.len(),
            theirs: theirs.len(),
        });
    }
    let empty = Branch::new();
    let mut merged = Merged::default();
    for (doc, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let b = base.get(doc).unwrap_or(&empty);
        let mut path = KeyPath {
            doc,
            keys: Vec::new(),
        };
        let m = merge_branch(b, o, t, &mut path, &mut merged)?;
        merged.docs.push(m);
    }
    Ok(merged)
}

/// A branch split into keyed blocks: each entry with the comment lines right
/// above it, plus the comments after the last entry.
struct Blocks<'a> {
    entries: Vec<(Vec<&'a Secret>, &'a str, &'a Value)>,
    index: HashMap<&'a str, usize>,
    trailing: Vec<&'a Secret>,
}

fn blocks<'a>(b: &'a Branch, path: &KeyPath) -> Result<Blocks<'a>, MergeError> {
    let mut entries = Vec::new();
    let mut index = HashMap::new();
    let mut pending = Vec::new();
    for item in &b.0 {
        match item {
            Item::Comment(c) => pending.push(c),
            Item::Entry(k, v) => {
                if index.insert(k.as_str(), entries.len()).is_some() {
                    let mut p = path.clone();
                    p.keys.push(k.clone());
                    return Err(MergeError::DuplicateKey(p));
                }
                entries.push((std::mem::take(&mut pending), k.as_str(), v));
            }
        }
    }
    Ok(Blocks {
        entries,
        index,
        trailing: pending,
    })
}

impl<'a> Blocks<'a> {
    fn get(&self, key: &str) -> Option<(&[&'a Secret], &'a Value)> {
        self.index.get(key).map(|&i| {
            let (c, _, v) = &self.entries[i];
            (c.as_slice(), *v)
        })
    }
}

fn merge_branch(
    base: &Branch,
    ours: &Branch,
    theirs: &Branch,
    path: &mut KeyPath,
    merged: &mut Merged,
) -> Result<MBranch, MergeError> {
    let b = blocks(base, path)?;
    let o = blocks(ours, path)?;
    let t = blocks(theirs, path)?;
    let mut out = MBranch::default();

    // Ours' keys, in ours' order.
    for (_, key, _) in &o.entries {
        if let Some(e) = merge_key(key, &b, &o, &t, path, merged)? {
            out.items.push(e);
        }
    }
    // Theirs' keys that ours does not have, next to their neighbours.
    for (ti, (_, key, _)) in t.entries.iter().enumerate() {
        if o.index.contains_key(key) {
            continue;
        }
        let Some(e) = merge_key(key, &b, &o, &t, path, merged)? else {
            continue;
        };
        let position = |k: &str| out.items.iter().position(|x| x.key == k);
        let before = t.entries[..ti]
            .iter()
            .rev()
            .find_map(|(_, k, _)| position(k));
        let at = match before {
            // After the neighbour and after what only ours added right
            // after it (both sides' insertions at one place: ours first).
            Some(p) => {
                let mut p = p + 1;
                while out.items.get(p).is_some_and(|x| {
                    let k = x.key.as_str();
                    b.get(k).is_none() && t.get(k).is_none()
                }) {
                    p += 1;
                }
                p
            }
            None => t.entries[ti + 1..]
                .iter()
                .find_map(|(_, k, _)| position(k))
                .unwrap_or(out.items.len()),
        };
        out.items.insert(at, e);
    }
    out.trailing = merge_comments(&b.trailing, &o.trailing, &t.trailing, merged);
    Ok(out)
}

fn merge_key(
    key: &str,
    b: &Blocks<'_>,
    o: &Blocks<'_>,
    t: &Blocks<'_>,
    path: &mut KeyPath,
    merged: &mut Merged,
) -> Result<Option<MEntry>, MergeError> {
    let (bc, bv) = split_opt(b.get(key));
    let (oc, ov) = split_opt(o.get(key));
    let (tc, tv) = split_opt(t.get(key));
    path.keys.push(key.to_owned());
    let value = merge_value(bv, ov, tv, path, merged);
    path.keys.pop();
    let Some(value) = value? else {
        return Ok(None);
    };
    // A side without the key has no say on its comments.
    let oc = if ov.is_some() { oc } else { bc };
    let tc = if tv.is_some() { tc } else { bc };
    let comments = merge_comments(bc, oc, tc, merged);
    Ok(Some(MEntry {
        comments,
        key: key.to_owned(),
        value,
    }))
}

fn split_opt<'a, 'b>(
    x: Option<(&'b [&'a Secret], &'a Value)>,
) -> (&'b [&'a Secret], Option<&'a Value>) {
    match x {
        Some((c, v)) => (c, Some(v)),
        None => (&[], None),
    }
}

fn merge_value(
    b: Option<&Value>,
    o: Option<&Value>,
    t: Option<&Value>,
    path: &mut KeyPath,
    merged: &mut Merged,
) -> Result<Option<MValue>, MergeError> {
    let clean = |v: Option<&Value>| v.map(|v| MValue::Clean(v.clone()));
    if opt_eq(o, t) {
        return Ok(clean(o));
    }
    if opt_eq(o, b) {
        return Ok(clean(t));
    }
    if opt_eq(t, b) {
        return Ok(clean(o));
    }
    if let (Some(Value::Map(om)), Some(Value::Map(tm))) = (o, t) {
        let empty = Branch::new();
        let bm = match b {
            Some(Value::Map(bm)) => bm,
            _ => &empty,
        };
        return Ok(Some(MValue::Map(merge_branch(bm, om, tm, path, merged)?)));
    }
    let kind = match (b, o, t) {
        (None, _, _) => ConflictKind::AddAdd,
        (_, None, _) => ConflictKind::DeleteModify,
        (_, _, None) => ConflictKind::ModifyDelete,
        _ => ConflictKind::ModifyModify,
    };
    merged.conflicts.push(Conflict {
        path: path.clone(),
        kind,
    });
    Ok(Some(MValue::Conflict(Box::new(Sides {
        base: b.cloned(),
        ours: o.cloned(),
        theirs: t.cloned(),
    }))))
}

fn merge_comments(b: &[&Secret], o: &[&Secret], t: &[&Secret], merged: &mut Merged) -> Vec<Secret> {
    let pick = if o == t || t == b {
        o
    } else if o == b {
        t
    } else {
        merged.comment_conflicts += 1;
        o
    };
    pick.iter().map(|&c| c.clone()).collect()
}

fn opt_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => value_eq(a, b),
        _ => false,
    }
}

/// Equality the way sops sees values: same type and same plaintext bytes
/// (so `NaN` equals `NaN`, `0` and `-0` differ, an int never equals a float
/// or a string of the same digits). Maps compare entries and comments in
/// order; lists element by element.
pub fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Str(x), Value::Str(y)) | (Value::Comment(x), Value::Comment(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => go_format_float_f(*x) == go_format_float_f(*y),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::Map(x), Value::Map(y)) => branch_eq(x, y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| value_eq(a, b))
        }
        _ => false,
    }
}

/// [`value_eq`] for whole branches (entries and comments, in order).
pub fn branch_eq(a: &Branch, b: &Branch) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|(x, y)| match (x, y) {
            (Item::Entry(k1, v1), Item::Entry(k2, v2)) => k1 == k2 && value_eq(v1, v2),
            (Item::Comment(c1), Item::Comment(c2)) => c1 == c2,
            _ => false,
        })
}

/// The key paths whose values differ between two versions of the same file
/// (recursing into maps present on both sides; comments ignored). Used to
/// list the keys of a conflict document, whose variants differ exactly at
/// the conflicts.
pub fn differing_paths(a: &[Branch], b: &[Branch]) -> Vec<KeyPath> {
    let mut out = Vec::new();
    let empty = Branch::new();
    for doc in 0..a.len().max(b.len()) {
        let mut path = KeyPath {
            doc,
            keys: Vec::new(),
        };
        diff_branch(
            a.get(doc).unwrap_or(&empty),
            b.get(doc).unwrap_or(&empty),
            &mut path,
            &mut out,
        );
    }
    out
}

fn diff_branch(a: &Branch, b: &Branch, path: &mut KeyPath, out: &mut Vec<KeyPath>) {
    let mut keys: Vec<&str> = a.keys().collect();
    for k in b.keys() {
        if a.get(k).is_none() {
            keys.push(k);
        }
    }
    for k in keys {
        path.keys.push(k.to_owned());
        match (a.get(k), b.get(k)) {
            (Some(Value::Map(x)), Some(Value::Map(y))) => diff_branch(x, y, path, out),
            (x, y) if opt_eq(x, y) => {}
            _ => out.push(path.clone()),
        }
        path.keys.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::ConflictKind;

    #[test]
    fn conflict_labels_are_stable_kebab_case() {
        // `clef merge status --json` prints these: scripts depend on them
        let all = [
            (ConflictKind::ModifyModify, "both-modified"),
            (ConflictKind::AddAdd, "both-added"),
            (ConflictKind::ModifyDelete, "deleted-by-them"),
            (ConflictKind::DeleteModify, "deleted-by-us"),
        ];
        for (kind, label) in all {
            assert_eq!(kind.label(), label);
        }
    }
}
