//! Merging the `sops:` metadata of the three sides.
//!
//! * Policy (crypt rule, `mac_only_encrypted`, key-group layout) must agree
//!   between ours and theirs, otherwise the merge is refused: it decides which
//!   values are encrypted and what the MAC covers.
//! * Recipients merge as a three-way *set* per key group, keyed by identity
//!   (age: the recipient; other master keys: their stanza without `enc` and
//!   `created_at`): added on one side → added, removed on one side → removed,
//!   no base → union. Order: ours, then theirs' additions.
//! * Wrapped keys are copied verbatim from a side whose data key is the
//!   merged one; an age recipient only known under another data key is
//!   re-wrapped offline (single key group); anything else is refused.

use crate::tree3::value_eq;
use crate::{DriverError, ResolveError};
use clef_doc::tree::{Branch, Item, Value};
use clef_sops::{AgeKey, DataKey, KeyGroup, Metadata};

/// One side's metadata and whether its data key is the merged one.
pub(crate) struct MetaSide<'a> {
    pub meta: &'a Metadata,
    pub same_key: bool,
}

/// Merges the metadata. `lastmodified` and `mac` are left to the encryptor.
/// The flag says the (Shamir) key groups need wrapping afresh with the data
/// key (their `enc` fields are empty).
pub(crate) fn merge_meta(
    base: Option<MetaSide<'_>>,
    ours: MetaSide<'_>,
    theirs: MetaSide<'_>,
    key: Option<&DataKey>,
) -> Result<(Metadata, bool), DriverError> {
    let (o, t) = (ours.meta, theirs.meta);
    if o.rule != t.rule {
        return Err(ResolveError::Policy(format!(
            "the sides use different encryption rules (ours `{}: {}`, theirs `{}: {}`); align them with sops on one branch first",
            o.rule.field(),
            o.rule.arg(),
            t.rule.field(),
            t.rule.arg()
        )).into());
    }
    if o.mac_only_encrypted != t.mac_only_encrypted {
        return Err(
            ResolveError::Policy("the sides disagree on `mac_only_encrypted`".into()).into(),
        );
    }
    if o.key_groups.len() != t.key_groups.len()
        || o.effective_threshold() != t.effective_threshold()
    {
        return Err(ResolveError::Policy(format!(
            "the sides have different key-group layouts (ours {} groups, threshold {}; theirs {} groups, threshold {})",
            o.key_groups.len(),
            o.effective_threshold(),
            t.key_groups.len(),
            t.effective_threshold()
        )).into());
    }
    let single_group = o.key_groups.len() <= 1;
    let mut groups = Vec::with_capacity(o.key_groups.len());
    for (gi, (og, tg)) in o.key_groups.iter().zip(&t.key_groups).enumerate() {
        let bg = base.as_ref().and_then(|b| b.meta.key_groups.get(gi));
        groups.push(merge_group(
            bg,
            (og, ours.same_key),
            (tg, theirs.same_key),
            key,
            single_group,
        )?);
    }
    if groups
        .iter()
        .all(|g| g.age.is_empty() && g.other.is_empty())
    {
        return Err(ResolveError::Policy("the merge would remove every recipient".into()).into());
    }
    let mut rewrap = false;
    if !single_group {
        // Shamir: every key of a group wraps that group's share, and a side
        // that changed recipients re-split the key. Stanzas may only be
        // copied all from one side; otherwise the data key is split afresh.
        let shape = |gs: &[KeyGroup]| -> Vec<(Vec<String>, usize)> {
            gs.iter()
                .map(|g| {
                    (
                        g.age.iter().map(|k| k.recipient.clone()).collect(),
                        g.other.len(),
                    )
                })
                .collect()
        };
        let (same_as_o, same_as_t) = (
            shape(&groups) == shape(&o.key_groups),
            shape(&groups) == shape(&t.key_groups),
        );
        if ours.same_key
            && same_as_o
            && o.key_groups
                .iter()
                .zip(&groups)
                .all(|(a, b)| a.other == b.other)
        {
            groups = o.key_groups.clone();
        } else if theirs.same_key
            && same_as_t
            && t.key_groups
                .iter()
                .zip(&groups)
                .all(|(a, b)| a.other == b.other)
        {
            groups = t.key_groups.clone();
        } else if key.is_some() && groups.iter().all(|g| g.other.is_empty()) {
            for k in groups.iter_mut().flat_map(|g| g.age.iter_mut()) {
                k.enc.clear();
            }
            rewrap = true;
        } else {
            return Err(DriverError::Rewrap(
                "the Shamir key groups changed on both sides; the data key would have to be split again (needs an identity, and age keys only)"
                    .into(),
            ));
        }
    }
    let mut meta = if ours.same_key { o.clone() } else { t.clone() };
    meta.key_groups = groups;
    meta.version = newer_version(&o.version, &t.version).to_owned();
    Ok((meta, rewrap))
}

/// Three-way set membership: kept unless removed on a side (relative to the
/// base), added when added on either side.
fn keep(in_b: Option<bool>, in_o: bool, in_t: bool) -> bool {
    match in_b {
        None => in_o || in_t,
        Some(true) => in_o && in_t,
        Some(false) => in_o || in_t,
    }
}

fn merge_group(
    b: Option<&KeyGroup>,
    (o, o_same): (&KeyGroup, bool),
    (t, t_same): (&KeyGroup, bool),
    key: Option<&DataKey>,
    single_group: bool,
) -> Result<KeyGroup, DriverError> {
    let mut out = KeyGroup::default();
    // age recipients
    let mut order: Vec<&str> = o.age.iter().map(|k| k.recipient.as_str()).collect();
    for k in &t.age {
        if !order.contains(&k.recipient.as_str()) {
            order.push(&k.recipient);
        }
    }
    for r in order {
        let find = |g: &KeyGroup| g.age.iter().find(|k| k.recipient == r).cloned();
        let (ko, kt) = (find(o), find(t));
        let in_b = b.map(|g| g.age.iter().any(|k| k.recipient == r));
        if !keep(in_b, ko.is_some(), kt.is_some()) {
            continue;
        }
        let stanza = match (ko, kt) {
            (Some(k), _) if o_same => k,
            (_, Some(k)) if t_same => k,
            // Shamir groups are settled as a whole by the caller.
            _ if !single_group => AgeKey {
                recipient: r.to_owned(),
                enc: String::new(),
            },
            _ => match key {
                Some(k) => AgeKey {
                    recipient: r.to_owned(),
                    enc: clef_keys::wrap(r, k.bytes())
                        .map_err(|e| DriverError::Rewrap(e.to_string()))?,
                },
                _ => {
                    return Err(DriverError::Rewrap(format!(
                        "age recipient {r} needs the merged data key wrapped for it (Shamir key groups, or no identity)"
                    )));
                }
            },
        };
        out.age.push(stanza);
    }
    // other master keys, kept verbatim
    let ident = |v: &Value| -> Value {
        match v {
            Value::Map(m) => Value::Map(Branch(
                m.0.iter()
                    .filter(|i| !matches!(i, Item::Entry(k, _) if k == "enc" || k == "created_at"))
                    .cloned()
                    .collect(),
            )),
            other => other.clone(),
        }
    };
    let same = |(ta, va): &(String, Value), (tb, vb): &(String, Value)| {
        ta == tb && value_eq(&ident(va), &ident(vb))
    };
    let mut order: Vec<&(String, Value)> = o.other.iter().collect();
    for x in &t.other {
        if !order.iter().any(|y| same(x, y)) {
            order.push(x);
        }
    }
    for x in order {
        let find = |g: &KeyGroup| g.other.iter().find(|y| same(x, y)).cloned();
        let (ko, kt) = (find(o), find(t));
        let in_b = b.map(|g| g.other.iter().any(|y| same(x, y)));
        if !keep(in_b, ko.is_some(), kt.is_some()) {
            continue;
        }
        let stanza = match (ko, kt) {
            (Some(k), _) if o_same => k,
            (_, Some(k)) if t_same => k,
            (Some(k), _) | (_, Some(k)) if !single_group => k,
            _ => {
                return Err(DriverError::Rewrap(format!(
                    "a {} master key would need the new data key wrapped by its key service",
                    x.0
                )));
            }
        };
        out.other.push(stanza);
    }
    Ok(out)
}

/// The higher of two `X.Y.Z` versions (ours when they don't parse).
fn newer_version<'a>(o: &'a str, t: &'a str) -> &'a str {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.trim_start_matches('v')
            .split('.')
            .map(|p| {
                p.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
            })
            .collect()
    };
    match (parse(o), parse(t)) {
        (Some(a), Some(b)) if b > a => t,
        _ => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_membership() {
        assert!(keep(None, true, false));
        assert!(keep(None, false, true));
        assert!(keep(Some(true), true, true));
        assert!(!keep(Some(true), false, true), "removed by ours");
        assert!(!keep(Some(true), true, false), "removed by theirs");
        assert!(keep(Some(false), false, true), "added by theirs");
        assert!(keep(Some(false), true, false), "added by ours");
    }

    #[test]
    fn versions() {
        assert_eq!(newer_version("3.9.0", "3.11.0"), "3.11.0");
        assert_eq!(newer_version("3.11.0", "3.9.4"), "3.11.0");
        assert_eq!(newer_version("garbage", "3.9.4"), "garbage");
    }
}
