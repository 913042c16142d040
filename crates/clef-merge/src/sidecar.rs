//! Merging `<env>.clef-meta.yaml` sidecars (plaintext pending/rotation
//! bookkeeping, format in the old Clef's docs §2.6):
//!
//! ```yaml
//! # Managed by Clef. Do not edit manually.
//! version: 1
//! pending:
//!   - key: API_TOKEN
//!     since: 2026-01-01T00:00:00Z
//!     setBy: clef set --random
//! rotations:
//!   - key: DB_URL
//!     last_rotated_at: 2026-01-02T00:00:00Z
//!     rotated_by: Alice <alice@example.com>
//!     rotation_count: 1
//! ```
//!
//! Three-way, per secret key:
//! * rotation records: changed on one side → that side; the same on both →
//!   kept; rotated on **both** sides → the record with the later
//!   `last_rotated_at` (and its `rotated_by`) with
//!   `rotation_count = max(ours, theirs) + 1`; a key untouched on both sides
//!   keeps its record byte for byte; a record modified on one side and deleted
//!   on the other is kept (bookkeeping is never silently lost);
//! * pending entries: three-way; changed differently on both sides → the later
//!   `since`; an entry resolved on either side (removed there, or the key
//!   rotated there since the base without re-marking it pending) is dropped;
//! * everything else in the file merges with the generic engine, and both
//!   sections are always written.
//!
//! Unlike the old driver, the base is used (deletions on one side stay
//! deleted) and untouched records are not inflated.

use crate::MergeError;
use crate::tree3::{Merged, merge_docs, value_eq};
use clef_core::sidecar::{PENDING, ROTATIONS, instant};
use clef_doc::tree::{Branch, Value};

/// Merges three sidecar documents (`base` empty for add/add). The pending
/// and rotation lists always merge cleanly; other top-level keys may
/// conflict.
pub fn merge_sidecar(
    base: Option<&Branch>,
    ours: &Branch,
    theirs: &Branch,
) -> Result<Merged, MergeError> {
    let empty = Branch::new();
    let b = base.unwrap_or(&empty);
    let rb = records(b, ROTATIONS)?;
    let ro = records(ours, ROTATIONS)?;
    let rt = records(theirs, ROTATIONS)?;
    let pb = records(b, PENDING)?;
    let po = records(ours, PENDING)?;
    let pt = records(theirs, PENDING)?;

    let mut rotations = Vec::new();
    for key in key_order(&ro, &rt) {
        let (xb, xo, xt) = (find(&rb, key), find(&ro, key), find(&rt, key));
        let merged = match three_way(xb, xo, xt) {
            Some(r) => r.cloned(),
            None => match (xo, xt) {
                (Some(x), Some(y)) => Some(both_rotated(x, y)),
                (x, y) => x.or(y).cloned(),
            },
        };
        rotations.extend(merged.map(Value::Map));
    }

    let mut pending = Vec::new();
    for key in key_order(&po, &pt) {
        let (xb, xo, xt) = (find(&pb, key), find(&po, key), find(&pt, key));
        let mut merged = match three_way(xb, xo, xt) {
            Some(p) => p.cloned(),
            None => match (xo, xt) {
                (Some(x), Some(y)) => Some(later(x, y, "since").clone()),
                // Resolved on one side, touched on the other: resolved wins.
                _ => None,
            },
        };
        let rot_b = find(&rb, key);
        for (p_side, r_side) in [(xo, find(&ro, key)), (xt, find(&rt, key))] {
            let rotated_here = r_side.is_some() && !opt_branch_eq(r_side, rot_b);
            if rotated_here && p_side.is_none() {
                merged = None;
            }
        }
        pending.extend(merged.map(Value::Map));
    }

    // Put the merged lists into all three inputs, so the generic engine sees
    // them as unchanged and only merges the rest (order, comments, version).
    let with = |doc: &Branch| {
        let mut d = doc.clone();
        d.insert(PENDING, Value::List(pending.clone()));
        d.insert(ROTATIONS, Value::List(rotations.clone()));
        d
    };
    let base_docs: Vec<Branch> = base.map(|b| vec![with(b)]).unwrap_or_default();
    merge_docs(&base_docs, &[with(ours)], &[with(theirs)])
}

/// The records of a list section ([`clef_core::sidecar::records`]); a key
/// listed twice cannot be merged.
fn records<'a>(doc: &'a Branch, section: &str) -> Result<Vec<(String, &'a Branch)>, MergeError> {
    let out = clef_core::sidecar::records(doc, section)
        .map_err(|e| MergeError::Sidecar(e.to_string()))?;
    for (i, (key, _)) in out.iter().enumerate() {
        if out[..i].iter().any(|(k, _)| k == key) {
            return Err(MergeError::Sidecar(format!(
                "`{section}`: key `{key}` listed twice"
            )));
        }
    }
    Ok(out)
}

fn key_order<'a>(o: &'a [(String, &Branch)], t: &'a [(String, &Branch)]) -> Vec<&'a str> {
    let mut keys: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
    for (k, _) in t {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    keys
}

fn find<'a>(records: &[(String, &'a Branch)], key: &str) -> Option<&'a Branch> {
    records.iter().find(|(k, _)| k == key).map(|(_, r)| *r)
}

fn opt_branch_eq(a: Option<&Branch>, b: Option<&Branch>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => value_eq(&Value::Map(x.clone()), &Value::Map(y.clone())),
        _ => false,
    }
}

/// The plain three-way decision, or `None` when both sides changed differently.
fn three_way<'a>(
    b: Option<&'a Branch>,
    o: Option<&'a Branch>,
    t: Option<&'a Branch>,
) -> Option<Option<&'a Branch>> {
    if opt_branch_eq(o, t) || opt_branch_eq(t, b) {
        Some(o)
    } else if opt_branch_eq(o, b) {
        Some(t)
    } else {
        None
    }
}

fn both_rotated(o: &Branch, t: &Branch) -> Branch {
    let count = |r: &Branch| match r.get("rotation_count") {
        Some(Value::Int(n)) => *n,
        Some(Value::Float(f)) if f.fract() == 0.0 => *f as i64,
        _ => 0,
    };
    let mut r = later(o, t, "last_rotated_at").clone();
    r.insert(
        "rotation_count",
        Value::Int(count(o).max(count(t)).saturating_add(1)),
    );
    r
}

/// The record whose `field` timestamp is later (ours on a tie or when
/// neither parses).
fn later<'a>(o: &'a Branch, t: &'a Branch, field: &str) -> &'a Branch {
    let ts = |r: &Branch| match r.get(field) {
        Some(Value::Time(s)) => instant(s),
        Some(Value::Str(s)) => instant(s),
        _ => None,
    };
    match (ts(o), ts(t)) {
        (Some(x), Some(y)) if y > x => t,
        (None, Some(_)) => t,
        _ => o,
    }
}
