//! Finishing a conflict document: the library side of `clef merge status`
//! and `clef merge resolve`.
//!
//! Both work on the document alone (the work-tree file), so they behave the
//! same mid-merge, mid-rebase, mid-cherry-pick: no index stages needed.
//! [`status`] needs no key; [`resolve`] decrypts the competing values in
//! memory, applies the choices, and returns a valid sops file (fresh MAC;
//! every value it did not have to change keeps its exact `ENC[...]`).

use super::ResolveError;
use super::conflict;
use super::tree3::{ConflictKind, KeyPath, Side, differing_paths, merge_docs};
use crate::conflict::CONFLICT_MAC;
use clef_sops::Keyring;
use clef_sops::{EncryptedFile, Format, PlainFile};
use std::collections::HashMap;

/// One conflicting key of a conflict document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictedKey {
    /// The key path; its `Display` (`a.b.c`) is what `--pick` matches.
    pub path: KeyPath,
    /// Present in the base / ours / theirs variant.
    pub in_base: bool,
    /// Present in ours.
    pub in_ours: bool,
    /// Present in theirs.
    pub in_theirs: bool,
}

impl ConflictedKey {
    /// The kind of conflict, from presence on each side.
    pub fn kind(&self) -> ConflictKind {
        match (self.in_base, self.in_ours, self.in_theirs) {
            (false, _, _) => ConflictKind::AddAdd,
            (true, false, _) => ConflictKind::DeleteModify,
            (true, _, false) => ConflictKind::ModifyDelete,
            _ => ConflictKind::ModifyModify,
        }
    }
}

/// What `status` reports about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Whether the file is a clef conflict document (markers and/or the sentinel MAC).
    pub is_conflict_document: bool,
    /// Number of marker hunks left in it.
    pub hunks: usize,
    /// The conflicting keys, in document order (no values).
    pub keys: Vec<ConflictedKey>,
}

/// How to resolve: a side for every conflict, or per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choice {
    /// `--ours` / `--theirs` (also `Side::Base`): applies to keys without a pick.
    pub default: Option<Side>,
    /// `--pick KEY=ours|theirs`: the key as [`ConflictedKey::path`] displays it.
    pub picks: Vec<(String, Side)>,
}

/// A resolved file.
#[derive(Debug)]
pub struct Resolved {
    /// The valid sops file to write and stage.
    pub bytes: Vec<u8>,
    /// Which side each conflicting key took.
    pub taken: Vec<(KeyPath, Side)>,
}

struct Variants {
    base: EncryptedFile,
    ours: EncryptedFile,
    theirs: EncryptedFile,
    hunks: usize,
    sentinel: bool,
}

impl Variants {
    /// Base, ours and theirs decrypted with the document's one data key
    /// (their MACs are not checked: the document's is the sentinel).
    fn decrypt(&self, ids: &Keyring) -> Result<[PlainFile; 3], ResolveError> {
        let key = self
            .ours
            .data_key(ids)
            .map_err(|source| ResolveError::Sops {
                side: "conflict document",
                source,
            })?;
        let dec = |f: &EncryptedFile, side: &'static str| {
            f.decrypt_ignore_mac(key.clone())
                .map_err(|source| ResolveError::Sops { side, source })
        };
        Ok([
            dec(&self.base, "base")?,
            dec(&self.ours, "ours")?,
            dec(&self.theirs, "theirs")?,
        ])
    }
}

fn variants(doc: &[u8], format: Format) -> Result<Variants, ResolveError> {
    let text = std::str::from_utf8(doc).map_err(|_| ResolveError::NotUtf8("conflict document"))?;
    let v = conflict::split(text)?;
    let parse = |t: &str, side: &'static str| {
        EncryptedFile::parse(t.as_bytes(), format)
            .map_err(|source| ResolveError::Sops { side, source })
    };
    let ours = parse(&v.ours, "ours")?;
    let sentinel = ours.meta.mac == CONFLICT_MAC;
    Ok(Variants {
        base: parse(&v.base, "base")?,
        theirs: parse(&v.theirs, "theirs")?,
        ours,
        hunks: v.hunks,
        sentinel,
    })
}

/// Lists the conflicting keys of a conflict document. Needs no key: the
/// variants share one data key and reuse IVs, so their ciphertexts differ
/// exactly at the conflicts.
pub fn status(doc: &[u8], format: Format) -> Result<Status, ResolveError> {
    let v = variants(doc, format)?;
    let has = |f: &EncryptedFile, p: &KeyPath| get_path(&f.docs, p).is_some();
    let keys = differing_paths(&v.ours.docs, &v.theirs.docs)
        .into_iter()
        .map(|path| ConflictedKey {
            in_base: has(&v.base, &path),
            in_ours: has(&v.ours, &path),
            in_theirs: has(&v.theirs, &path),
            path,
        })
        .collect();
    Ok(Status {
        is_conflict_document: v.sentinel || v.hunks > 0,
        hunks: v.hunks,
        keys,
    })
}

fn get_path<'a>(docs: &'a [clef_doc::Branch], p: &KeyPath) -> Option<&'a clef_doc::Value> {
    let mut b = docs.get(p.doc)?;
    let (last, init) = p.keys.split_last()?;
    for k in init {
        match b.get(k)? {
            clef_doc::Value::Map(m) => b = m,
            _ => return None,
        }
    }
    b.get(last)
}

/// Resolves a conflict document into a valid sops file, in memory.
///
/// Every conflicting key needs a side (a pick, else `choice.default`);
/// otherwise [`ResolveError::Unresolved`] lists the keys left. A pick naming a
/// key that is not in conflict is an error (a typo must not pass silently).
pub fn resolve(
    doc: &[u8],
    format: Format,
    ids: &Keyring,
    choice: &Choice,
) -> Result<Resolved, ResolveError> {
    let v = variants(doc, format)?;
    if !v.sentinel && v.hunks == 0 {
        return Err(ResolveError::NotConflictDocument);
    }
    if v.base.meta.key_groups != v.ours.meta.key_groups
        || v.theirs.meta.key_groups != v.ours.meta.key_groups
    {
        return Err(ResolveError::Policy(
            "the conflict document's variants have different metadata (hand-edited inside the `sops` block?)".into(),
        ));
    }
    let [pb, mut po, pt] = v.decrypt(ids)?;
    let merged = merge_docs(&pb.docs, &po.docs, &pt.docs)?;

    let mut picks: HashMap<&str, Side> = HashMap::new();
    for (k, s) in &choice.picks {
        picks.insert(k.as_str(), *s);
    }
    let known: Vec<String> = merged
        .conflicts
        .iter()
        .map(|c| c.path.to_string())
        .collect();
    if let Some((k, _)) = choice.picks.iter().find(|(k, _)| !known.contains(k)) {
        return Err(ResolveError::UnknownPick(k.clone()));
    }
    let mut unresolved = Vec::new();
    let mut taken = Vec::new();
    for c in &merged.conflicts {
        match picks
            .get(c.path.to_string().as_str())
            .copied()
            .or(choice.default)
        {
            Some(s) => taken.push((c.path.clone(), s)),
            None => unresolved.push(c.path.clone()),
        }
    }
    if !unresolved.is_empty() {
        return Err(ResolveError::Unresolved(unresolved));
    }
    let docs = merged.materialize(&mut |p: &KeyPath| {
        taken
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, s)| *s)
            .unwrap_or(Side::Ours)
    });
    let mut docs = docs;
    for (i, d) in docs.iter_mut().enumerate() {
        if let (Some(b), Some(o), Some(t)) = (pb.docs.get(i), po.docs.get(i), pt.docs.get(i)) {
            reorder(d, [o, b, t]);
        }
    }
    po.absorb_stash(&pt);
    po.absorb_stash(&pb);
    drop((pb, pt));
    po.docs = docs;
    let enc = po.encrypt().map_err(ResolveError::Encrypt)?;
    let bytes = enc.to_bytes().map_err(ResolveError::Encrypt)?;
    Ok(Resolved { bytes, taken })
}

/// The sides git keeps in the index while a file is unmerged (stages 1, 2
/// and 3: base, ours, theirs); `None` where git has none (an add/add has no
/// base).
#[derive(Debug, Default)]
pub struct Stages {
    /// Stage 1.
    pub base: Option<Vec<u8>>,
    /// Stage 2.
    pub ours: Option<Vec<u8>>,
    /// Stage 3.
    pub theirs: Option<Vec<u8>>,
}

/// Checks that a conflict document still says what the merge of git's index
/// stages says, key by key, in each of its three variants: a hand-edited
/// document (a clean key deleted, a value swapped for one from another file)
/// is refused before [`resolve`] would seal it under a fresh MAC. Every
/// stage is decrypted with its own MAC checked. Names keys, never values.
pub fn verify_stages(
    doc: &[u8],
    format: Format,
    ids: &Keyring,
    stages: &Stages,
) -> Result<(), ResolveError> {
    let v = variants(doc, format)?;
    let [vb, vo, vt] = v.decrypt(ids)?;
    let dec_stage = |b: &Option<Vec<u8>>, side: &'static str| -> Result<_, ResolveError> {
        let Some(b) = b else { return Ok(Vec::new()) };
        EncryptedFile::parse(b, format)
            .and_then(|f| f.decrypt(ids))
            .map(|p| p.docs)
            .map_err(|source| ResolveError::Sops { side, source })
    };
    let sb = dec_stage(&stages.base, "index stage 1 (base)")?;
    let so = dec_stage(&stages.ours, "index stage 2 (ours)")?;
    let st = dec_stage(&stages.theirs, "index stage 3 (theirs)")?;
    let merged = merge_docs(&sb, &so, &st)?;
    for (side, found, name) in [
        (Side::Base, &vb.docs, "base"),
        (Side::Ours, &vo.docs, "ours"),
        (Side::Theirs, &vt.docs, "theirs"),
    ] {
        let expected = merged.materialize_side(side);
        let differ = differing_paths(&expected, found);
        if !differ.is_empty() {
            let keys: Vec<String> = differ.iter().map(ToString::to_string).collect();
            return Err(ResolveError::Policy(format!(
                "the conflict document was edited: in its {name} side, {} {} not what git recorded for the merge; recreate it with `git checkout -m FILE` and resolve again",
                keys.join(", "),
                if keys.len() == 1 { "is" } else { "are" }
            )));
        }
    }
    Ok(())
}

/// Puts the keys of a resolved branch back in the conflict document's order.
///
/// The three variants are subsequences of one merged key order, and any two
/// keys share a variant (a clean key is in all three, a conflicting one in at
/// least two), so the order is recoverable: a topological sort of the
/// variants' successions, ties broken by ours, base, theirs positions. If the
/// document was hand-edited into an inconsistent order, the current order is
/// kept.
fn reorder(result: &mut clef_doc::Branch, variants: [&clef_doc::Branch; 3]) {
    use clef_doc::{Item, Value};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Blocks: (comments, entry), plus trailing comments.
    let mut blocks: Vec<Vec<Item>> = Vec::new();
    let mut pending = Vec::new();
    for item in std::mem::take(&mut result.0) {
        let is_entry = matches!(item, Item::Entry(..));
        pending.push(item);
        if is_entry {
            blocks.push(std::mem::take(&mut pending));
        }
    }
    let key_of = |b: &[Item]| match b.last() {
        Some(Item::Entry(k, _)) => k.clone(),
        _ => String::new(),
    };
    let keys: Vec<String> = blocks.iter().map(|b| key_of(b)).collect();
    let index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let n = keys.len();
    let mut rank = vec![[usize::MAX; 3]; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for (vi, v) in variants.iter().enumerate() {
        let mut prev: Option<usize> = None;
        for (pos, k) in v.keys().enumerate() {
            let Some(&i) = index.get(k) else { continue };
            rank[i][vi] = pos;
            if let Some(p) = prev {
                succ[p].push(i);
                indeg[i] += 1;
            }
            prev = Some(i);
        }
    }
    let mut heap: BinaryHeap<Reverse<([usize; 3], usize)>> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(|i| Reverse((rank[i], i)))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, i))) = heap.pop() {
        order.push(i);
        for &j in &succ[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                heap.push(Reverse((rank[j], j)));
            }
        }
    }
    if order.len() != n {
        order = (0..n).collect();
    }
    let mut slots: Vec<Option<Vec<Item>>> = blocks.into_iter().map(Some).collect();
    for i in order {
        if let Some(mut block) = slots[i].take() {
            if let Some(Item::Entry(k, Value::Map(m))) = block.last_mut() {
                let sub = |v: &clef_doc::Branch| match v.get(k) {
                    Some(Value::Map(x)) => Some(x.clone()),
                    _ => None,
                };
                let [o, b, t] = [sub(variants[0]), sub(variants[1]), sub(variants[2])]
                    .map(Option::unwrap_or_default);
                reorder(m, [&o, &b, &t]);
            }
            result.0.extend(block);
        }
    }
    result.0.extend(pending);
}

/// The competing values of one conflicting key, decrypted (for the
/// interactive resolver, which shows them masked unless asked). Plaintext:
/// keep in memory, never log.
#[derive(Debug)]
pub struct Candidates {
    /// The key.
    pub path: KeyPath,
    /// The base value (`None`: absent).
    pub base: Option<clef_doc::Value>,
    /// Ours.
    pub ours: Option<clef_doc::Value>,
    /// Theirs.
    pub theirs: Option<clef_doc::Value>,
}

/// Decrypts the competing values of every conflicting key.
pub fn candidates(
    doc: &[u8],
    format: Format,
    ids: &Keyring,
) -> Result<Vec<Candidates>, ResolveError> {
    let v = variants(doc, format)?;
    let [pb, po, pt] = v.decrypt(ids)?;
    let merged = merge_docs(&pb.docs, &po.docs, &pt.docs)?;
    Ok(merged
        .conflicts
        .into_iter()
        .map(|c| Candidates {
            base: get_path(&pb.docs, &c.path).cloned(),
            ours: get_path(&po.docs, &c.path).cloned(),
            theirs: get_path(&pt.docs, &c.path).cloned(),
            path: c.path,
        })
        .collect())
}

/// Parses `ours`/`theirs`/`base` (as `--pick KEY=SIDE` spells them).
pub fn parse_side(s: &str) -> Option<Side> {
    match s {
        "ours" => Some(Side::Ours),
        "theirs" => Some(Side::Theirs),
        "base" => Some(Side::Base),
        _ => None,
    }
}

/// Splits `KEY=SIDE` at the last `=` (keys may contain `=`).
pub fn parse_pick(s: &str) -> Option<(String, Side)> {
    let (k, side) = s.rsplit_once('=')?;
    Some((k.to_owned(), parse_side(side)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks() {
        assert_eq!(
            parse_pick("db.password=theirs"),
            Some(("db.password".into(), Side::Theirs))
        );
        assert_eq!(parse_pick("A=B=ours"), Some(("A=B".into(), Side::Ours)));
        assert_eq!(parse_pick("x=mine"), None);
        assert_eq!(parse_pick("x"), None);
    }
}
