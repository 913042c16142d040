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
use clef_doc::tree::{Branch, Value};

const PENDING: &str = "pending";
const ROTATIONS: &str = "rotations";

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

/// The records of a list section, each a map with a string `key`.
fn records<'a>(doc: &'a Branch, section: &str) -> Result<Vec<(String, &'a Branch)>, MergeError> {
    let malformed = |why: &str| MergeError::Sidecar(format!("`{section}`: {why}"));
    let items = match doc.get(section) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(_) => return Err(malformed("not a list")),
    };
    let mut out: Vec<(String, &Branch)> = Vec::new();
    for item in items {
        let Value::Map(m) = item else {
            if matches!(item, Value::Comment(_)) {
                continue;
            }
            return Err(malformed("an entry is not a mapping"));
        };
        let key = match m.get("key") {
            Some(Value::Str(k)) => k.to_string(),
            _ => return Err(malformed("an entry has no string `key`")),
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(malformed(&format!("key `{key}` listed twice")));
        }
        out.push((key, m));
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
        Some(Value::Time(s)) => parse_rfc3339(s),
        Some(Value::Str(s)) => parse_rfc3339(s),
        _ => None,
    };
    match (ts(o), ts(t)) {
        (Some(x), Some(y)) if y > x => t,
        (None, Some(_)) => t,
        _ => o,
    }
}

/// Parses an RFC 3339 timestamp into (seconds since the epoch, nanoseconds).
pub fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = s.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let off = oh * 3600 + om * 60;
            if tz.starts_with('-') { -off } else { off }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2026-11-24T00:02:41Z"),
            Some((1_795_478_561, 0))
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T01:02:41+01:00"),
            parse_rfc3339("2026-11-24T00:02:41Z")
        );
        assert_eq!(
            parse_rfc3339("2024-01-02T00:00:00.5Z"),
            Some((1_704_153_600, 500_000_000))
        );
        assert_eq!(parse_rfc3339("2024-02-30"), None);
        assert_eq!(parse_rfc3339("not a date at all!!"), None);
        assert_eq!(parse_rfc3339("2024-01-02T00:00:00"), None);
        assert!(parse_rfc3339("2024-01-02T00:00:01Z") > parse_rfc3339("2024-01-02T00:00:00.999Z"));
    }
}
