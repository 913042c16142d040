//! `.clef-meta.yaml` sidecar merge (the old driver's 11 cases, made three-way).

use clef_doc::tree::{Branch, Item, Value, secret};
use clef_merge::sidecar::merge_sidecar;
use clef_merge::tree3::{Side, branch_eq};

fn rot(key: &str, at: &str, by: &str, count: i64) -> Value {
    Value::Map(Branch(vec![
        Item::Entry("key".into(), Value::str(key)),
        Item::Entry("last_rotated_at".into(), Value::Time(at.into())),
        Item::Entry("rotated_by".into(), Value::str(by)),
        Item::Entry("rotation_count".into(), Value::Int(count)),
    ]))
}

fn pend(key: &str, since: &str, by: &str) -> Value {
    Value::Map(Branch(vec![
        Item::Entry("key".into(), Value::str(key)),
        Item::Entry("since".into(), Value::Time(since.into())),
        Item::Entry("setBy".into(), Value::str(by)),
    ]))
}

/// A sidecar holding one rotation record.
fn one_rotation(key: &str, at: &str, by: &str, count: i64) -> Branch {
    doc(vec![], vec![rot(key, at, by, count)])
}

fn doc(pending: Vec<Value>, rotations: Vec<Value>) -> Branch {
    Branch(vec![
        Item::Comment(secret(" Managed by Clef. Do not edit manually.")),
        Item::Entry("version".into(), Value::Int(1)),
        Item::Entry("pending".into(), Value::List(pending)),
        Item::Entry("rotations".into(), Value::List(rotations)),
    ])
}

fn run(b: Option<&Branch>, o: &Branch, t: &Branch) -> Branch {
    let m = merge_sidecar(b, o, t).expect("sidecar merge");
    assert!(m.is_clean());
    // The sidecar merge is symmetric up to list order.
    let m2 = merge_sidecar(b, t, o).expect("sidecar merge swapped");
    let r = m.materialize_side(Side::Ours).remove(0);
    let r2 = m2.materialize_side(Side::Ours).remove(0);
    assert_eq!(sorted(&r, "rotations"), sorted(&r2, "rotations"));
    assert_eq!(sorted(&r, "pending"), sorted(&r2, "pending"));
    r
}

fn list<'a>(d: &'a Branch, section: &str) -> &'a [Value] {
    match d.get(section) {
        Some(Value::List(l)) => l,
        other => panic!("{section}: {other:?}"),
    }
}

fn field(v: &Value, f: &str) -> String {
    let Value::Map(m) = v else { panic!() };
    match m.get(f) {
        Some(Value::Str(s)) => s.expose().to_owned(),
        Some(Value::Time(s)) => s.clone(),
        Some(Value::Int(i)) => i.to_string(),
        other => panic!("{f}: {other:?}"),
    }
}

fn sorted(d: &Branch, section: &str) -> Vec<String> {
    let mut v: Vec<String> = list(d, section)
        .iter()
        .map(|r| {
            let Value::Map(m) = r else { panic!() };
            m.keys()
                .map(|k| format!("{k}={}", field(r, k)))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn rotated_on_both_sides_later_wins_and_count_is_max_plus_one() {
    let b = one_rotation("DB_URL", "2026-01-01T00:00:00Z", "Base <b@x>", 3);
    let o = one_rotation("DB_URL", "2026-02-01T00:00:00Z", "Alice <a@x>", 4);
    let t = one_rotation("DB_URL", "2026-03-01T00:00:00Z", "Bob <b@x>", 4);
    let r = run(Some(&b), &o, &t);
    let recs = list(&r, "rotations");
    assert_eq!(recs.len(), 1);
    assert_eq!(field(&recs[0], "rotated_by"), "Bob <b@x>");
    assert_eq!(field(&recs[0], "last_rotated_at"), "2026-03-01T00:00:00Z");
    assert_eq!(field(&recs[0], "rotation_count"), "5");
}

#[test]
fn max_plus_one_even_when_the_older_side_has_the_higher_count() {
    let o = one_rotation("K", "2026-05-01T00:00:00Z", "Old <o@x>", 5);
    let t = one_rotation("K", "2026-06-01T00:00:00+02:00", "New <n@x>", 2);
    let r = run(None, &o, &t);
    let recs = list(&r, "rotations");
    assert_eq!(field(&recs[0], "rotation_count"), "6");
    assert_eq!(field(&recs[0], "rotated_by"), "New <n@x>");
}

#[test]
fn untouched_and_one_sided_records_are_kept_verbatim() {
    let keep = rot("KEEP", "2025-01-01T00:00:00Z", "K <k@x>", 7);
    let b = doc(vec![], vec![keep.clone()]);
    let o = doc(
        vec![],
        vec![
            keep.clone(),
            rot("NEW_O", "2026-01-01T00:00:00Z", "A <a@x>", 1),
        ],
    );
    let t = doc(
        vec![],
        vec![
            keep.clone(),
            rot("NEW_T", "2026-01-02T00:00:00Z", "B <b@x>", 1),
        ],
    );
    let r = run(Some(&b), &o, &t);
    let recs = list(&r, "rotations");
    assert_eq!(recs.len(), 3);
    assert_eq!(field(&recs[0], "key"), "KEEP");
    assert_eq!(
        field(&recs[0], "rotation_count"),
        "7",
        "untouched record must not be inflated"
    );
    assert_eq!(field(&recs[1], "key"), "NEW_O");
    assert_eq!(field(&recs[2], "key"), "NEW_T");
    // Identical records on both sides (no base) are not inflated either.
    let r = run(None, &b, &b);
    assert_eq!(field(&list(&r, "rotations")[0], "rotation_count"), "7");
}

#[test]
fn a_deletion_on_one_side_stays_deleted() {
    let b = one_rotation("GONE", "2025-01-01T00:00:00Z", "K <k@x>", 2);
    let o = doc(vec![], vec![]);
    let r = run(Some(&b), &o, &b);
    assert!(list(&r, "rotations").is_empty());
}

#[test]
fn pending_resolved_on_either_side_is_dropped() {
    let p = pend("API_TOKEN", "2026-01-01T00:00:00Z", "clef set --random");
    let b = doc(vec![p.clone()], vec![]);
    // Ours set a real value: pending removed, rotation recorded.
    let o = one_rotation("API_TOKEN", "2026-01-05T00:00:00Z", "A <a@x>", 1);
    let r = run(Some(&b), &o, &b);
    assert!(list(&r, "pending").is_empty());
    assert_eq!(list(&r, "rotations").len(), 1);
    // Theirs re-marked it pending (newer `since`) while ours resolved it: resolved wins.
    let t = doc(
        vec![pend("API_TOKEN", "2026-01-09T00:00:00Z", "clef reset")],
        vec![],
    );
    let r = run(Some(&b), &o, &t);
    assert!(list(&r, "pending").is_empty());
    // Theirs added a pending entry for a key ours rotated: dropped.
    let b0 = doc(vec![], vec![]);
    let r = run(Some(&b0), &o, &doc(vec![p.clone()], vec![]));
    assert!(list(&r, "pending").is_empty());
}

#[test]
fn pending_on_both_sides_takes_the_later_since_and_one_sided_is_kept() {
    let o = doc(
        vec![pend("T", "2026-01-01T00:00:00Z", "clef set --random")],
        vec![],
    );
    let t = doc(
        vec![pend("T", "2026-01-03T00:00:00Z", "clef reset")],
        vec![],
    );
    let r = run(None, &o, &t);
    let p = list(&r, "pending");
    assert_eq!(p.len(), 1);
    assert_eq!(field(&p[0], "setBy"), "clef reset");
    let r = run(Some(&doc(vec![], vec![])), &o, &doc(vec![], vec![]));
    assert_eq!(list(&r, "pending").len(), 1);
}

#[test]
fn both_sections_always_written_and_header_kept() {
    let o = Branch(vec![
        Item::Comment(secret(" Managed by Clef. Do not edit manually.")),
        Item::Entry("version".into(), Value::Int(1)),
    ]);
    let r = run(None, &o, &o);
    assert!(matches!(r.0.first(), Some(Item::Comment(_))));
    assert!(list(&r, "pending").is_empty());
    assert!(list(&r, "rotations").is_empty());
    let e = Branch::new();
    let r = run(None, &e, &e);
    assert!(list(&r, "rotations").is_empty());
}

#[test]
fn malformed_sections_are_refused_not_dropped() {
    let bad = Branch(vec![Item::Entry("rotations".into(), Value::str("oops"))]);
    let ok = doc(vec![], vec![]);
    assert!(merge_sidecar(None, &bad, &ok).is_err());
    let nokey = Branch(vec![Item::Entry(
        "rotations".into(),
        Value::List(vec![Value::Map(Branch(vec![Item::Entry(
            "count".into(),
            Value::Int(1),
        )]))]),
    )]);
    assert!(merge_sidecar(None, &ok, &nokey).is_err());
    let dup = doc(
        vec![],
        vec![
            rot("A", "2026-01-01T00:00:00Z", "x", 1),
            rot("A", "2026-01-01T00:00:00Z", "x", 1),
        ],
    );
    assert!(merge_sidecar(None, &ok, &dup).is_err());
}

#[test]
fn other_keys_merge_generically_and_can_conflict() {
    let b = doc(vec![], vec![]);
    let mut o = b.clone();
    o.insert("version", Value::Int(2));
    let m = merge_sidecar(Some(&b), &o, &b).unwrap();
    assert!(m.is_clean());
    assert!(branch_eq(&m.materialize_side(Side::Ours)[0], &o));
    let mut t = b.clone();
    t.insert("version", Value::Int(3));
    let m = merge_sidecar(Some(&b), &o, &t).unwrap();
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].path.to_string(), "version");
}
