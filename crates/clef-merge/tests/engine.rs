//! The pure three-way engine: the old driver's 31 cases (ported to trees),
//! ordering, comments, nesting, and property tests.

#![allow(clippy::cloned_ref_to_slice_refs)]
use clef_doc::tree::{Branch, Item, Value, secret};
use clef_merge::tree3::{KeyPath, Side, branch_eq, differing_paths, value_eq};
use clef_merge::{ConflictKind, MergeError, merge_docs};
use proptest::prelude::*;

fn s(v: &str) -> Value {
    Value::str(v)
}

fn map(entries: &[(&str, Value)]) -> Branch {
    Branch(
        entries
            .iter()
            .map(|(k, v)| Item::Entry((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn strs(entries: &[(&str, &str)]) -> Branch {
    map(&entries.iter().map(|(k, v)| (*k, s(v))).collect::<Vec<_>>())
}

fn comment(c: &str) -> Item {
    Item::Comment(secret(c))
}

/// Merges single documents; returns (ours-materialized result, conflicts).
fn merge(b: &Branch, o: &Branch, t: &Branch) -> (Branch, Vec<(String, ConflictKind)>) {
    let m = merge_docs(&[b.clone()], &[o.clone()], &[t.clone()]).expect("merge");
    let conflicts = m
        .conflicts
        .iter()
        .map(|c| (c.path.to_string(), c.kind))
        .collect();
    (m.materialize_side(Side::Ours).remove(0), conflicts)
}

fn clean(b: &Branch, o: &Branch, t: &Branch) -> Branch {
    let (r, c) = merge(b, o, t);
    assert!(c.is_empty(), "unexpected conflicts {c:?}");
    // Every clean merge is symmetric up to key order.
    let (r2, c2) = merge(b, t, o);
    assert!(c2.is_empty());
    assert!(same_content(&r, &r2), "asymmetric: {r:?} vs {r2:?}");
    r
}

fn keys(b: &Branch) -> Vec<&str> {
    b.keys().collect()
}

fn same_content(a: &Branch, b: &Branch) -> bool {
    a.keys().count() == b.keys().count()
        && a.keys().all(|k| match (a.get(k), b.get(k)) {
            (Some(Value::Map(x)), Some(Value::Map(y))) => same_content(x, y),
            (Some(x), Some(y)) => value_eq(x, y),
            _ => false,
        })
}

fn assert_eq_branch(a: &Branch, b: &Branch) {
    assert!(branch_eq(a, b), "\n left: {a:?}\nright: {b:?}");
}

fn assert_val(b: &Branch, key: &str, v: &str) {
    match b.get(key) {
        Some(Value::Str(x)) => assert_eq!(x.as_str(), v, "value of {key}"),
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn identical_is_clean() {
    let b = strs(&[("A", "1"), ("B", "2")]);
    assert_eq_branch(&clean(&b, &b, &b), &b);
}

#[test]
fn one_sided_changes() {
    let b = strs(&[("A", "1"), ("B", "2"), ("C", "3")]);
    let o = strs(&[("A", "changed"), ("B", "2"), ("C", "3")]);
    let t = strs(&[("A", "1"), ("B", "2"), ("C", "new")]);
    let r = clean(&b, &o, &t);
    assert_eq_branch(&r, &strs(&[("A", "changed"), ("B", "2"), ("C", "new")]));
    assert_eq_branch(&clean(&b, &o, &b), &o);
    assert_eq_branch(&clean(&b, &b, &t), &t);
}

#[test]
fn adds_on_one_side_and_same_add_on_both() {
    let b = strs(&[("A", "1")]);
    let o = strs(&[("A", "1"), ("N", "x")]);
    assert_eq_branch(&clean(&b, &o, &b), &o);
    assert_eq_branch(&clean(&b, &b, &o), &o);
    assert_eq_branch(&clean(&b, &o, &o), &o);
}

#[test]
fn add_add_different_values_conflicts() {
    let b = strs(&[("A", "1")]);
    let o = strs(&[("A", "1"), ("NEW", "x")]);
    let t = strs(&[("A", "1"), ("NEW", "y")]);
    let (_, c) = merge(&b, &o, &t);
    assert_eq!(c, [("NEW".to_owned(), ConflictKind::AddAdd)]);
}

#[test]
fn modify_modify() {
    let b = strs(&[("A", "1")]);
    let (_, c) = merge(&b, &strs(&[("A", "2")]), &strs(&[("A", "3")]));
    assert_eq!(c, [("A".to_owned(), ConflictKind::ModifyModify)]);
    // The same change on both sides is clean.
    let r = clean(&b, &strs(&[("A", "2")]), &strs(&[("A", "2")]));
    assert_val(&r, "A", "2");
}

#[test]
fn deletes() {
    let b = strs(&[("A", "1"), ("B", "2")]);
    let without_b = strs(&[("A", "1")]);
    assert_eq_branch(&clean(&b, &without_b, &b), &without_b);
    assert_eq_branch(&clean(&b, &b, &without_b), &without_b);
    assert_eq_branch(&clean(&b, &without_b, &without_b), &without_b);
}

#[test]
fn delete_vs_modify_both_directions() {
    let b = strs(&[("A", "1"), ("B", "2")]);
    let del = strs(&[("A", "1")]);
    let modi = strs(&[("A", "1"), ("B", "3")]);
    assert_eq!(
        merge(&b, &del, &modi).1,
        [("B".to_owned(), ConflictKind::DeleteModify)]
    );
    assert_eq!(
        merge(&b, &modi, &del).1,
        [("B".to_owned(), ConflictKind::ModifyDelete)]
    );
}

#[test]
fn empty_base_is_two_way() {
    let o = strs(&[("A", "1"), ("B", "2")]);
    let t = strs(&[("A", "1"), ("C", "3")]);
    let m = merge_docs(&[], &[o.clone()], &[t.clone()]).unwrap();
    assert!(m.is_clean());
    let r = m.materialize_side(Side::Ours).remove(0);
    assert_eq!(keys(&r), ["A", "B", "C"]);
    let t2 = strs(&[("A", "other")]);
    let m = merge_docs(&[], &[o], &[t2]).unwrap();
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::AddAdd);
    // All three empty.
    let e = Branch::new();
    assert!(clean(&e, &e, &e).is_empty());
}

#[test]
fn never_sorts_and_places_theirs_additions_after_neighbours() {
    let b = strs(&[("Z", "1"), ("M", "2"), ("A", "3")]);
    let o = strs(&[("Z", "1"), ("O1", "o"), ("M", "2"), ("A", "3")]);
    let t = strs(&[
        ("Z", "1"),
        ("M", "2"),
        ("T1", "t"),
        ("T2", "t"),
        ("A", "3"),
        ("T3", "t"),
    ]);
    let (r, c) = merge(&b, &o, &t);
    assert!(c.is_empty());
    assert_eq!(keys(&r), ["Z", "O1", "M", "T1", "T2", "A", "T3"]);
    // An addition at the very top goes before its following neighbour.
    let t = strs(&[("T0", "t"), ("Z", "1"), ("M", "2"), ("A", "3")]);
    assert_eq!(keys(&merge(&b, &o, &t).0), ["T0", "Z", "O1", "M", "A"]);
    // A neighbour deleted by ours: the next surviving one above is used.
    let o = strs(&[("Z", "1"), ("A", "3")]);
    let t = strs(&[("Z", "1"), ("M", "2"), ("T1", "t"), ("A", "3")]);
    assert_eq!(keys(&merge(&b, &o, &t).0), ["Z", "T1", "A"]);
}

#[test]
fn motivating_example_and_mixed_conflict() {
    let b = strs(&[("DB", "x"), ("POOL_SIZE", "10"), ("HOST", "h")]);
    let o = strs(&[("DB", "x"), ("POOL_SIZE", "25"), ("HOST", "h")]);
    let t = strs(&[
        ("DB", "x"),
        ("POOL_SIZE", "10"),
        ("HOST", "h"),
        ("TIMEOUT", "30"),
    ]);
    let r = clean(&b, &o, &t);
    assert_eq!(keys(&r), ["DB", "POOL_SIZE", "HOST", "TIMEOUT"]);
    assert_val(&r, "POOL_SIZE", "25");

    let b = strs(&[("A", "1"), ("B", "1"), ("C", "1")]);
    let o = strs(&[("A", "o"), ("B", "o"), ("C", "1")]);
    let t = strs(&[("A", "t"), ("B", "1"), ("C", "t")]);
    let m = merge_docs(&[b], &[o], &[t]).unwrap();
    assert_eq!(m.conflicts.len(), 1);
    let theirs = m.materialize_side(Side::Theirs).remove(0);
    assert_val(&theirs, "A", "t");
    assert_val(&theirs, "B", "o");
    assert_val(&theirs, "C", "t");
    let base = m.materialize_side(Side::Base).remove(0);
    assert_val(&base, "A", "1");
}

#[test]
fn simultaneous_add_and_delete_on_both_sides() {
    let b = strs(&[("A", "a"), ("B", "b"), ("C", "c")]);
    let o = strs(&[("A", "a"), ("C", "c"), ("D", "d")]);
    let t = strs(&[("A", "a"), ("B", "b"), ("E", "e")]);
    let r = clean(&b, &o, &t);
    assert_eq!(keys(&r), ["A", "D", "E"]);
}

#[test]
fn empty_string_is_not_absent_and_types_matter() {
    let b = strs(&[("A", "1")]);
    let (_, c) = merge(&b, &strs(&[("A", "")]), &strs(&[]));
    assert_eq!(c, [("A".to_owned(), ConflictKind::ModifyDelete)]);
    // int 5 vs string "5": different values.
    let b = map(&[("P", Value::Int(1))]);
    let (_, c) = merge(&b, &map(&[("P", Value::Int(5))]), &map(&[("P", s("5"))]));
    assert_eq!(c.len(), 1);
    // NaN equals NaN (same sops bytes); -0 differs from 0.
    assert!(value_eq(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
    assert!(!value_eq(&Value::Float(0.0), &Value::Float(-0.0)));
    assert!(!value_eq(&Value::Int(1), &Value::Float(1.0)));
    assert!(!value_eq(&Value::Null, &s("")));
}

#[test]
fn opaque_values_are_atomic() {
    let pem = "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n";
    let b = strs(&[("K", pem), ("J", "{\"a\":1,\"b\":2}")]);
    let o = strs(&[
        ("K", &pem.replace("abc", "xyz")),
        ("J", "{\"a\":1,\"b\":2}"),
    ]);
    let t = strs(&[("K", pem), ("J", "{\"a\":1,\"b\":3}")]);
    clean(&b, &o, &t);
    let t2 = strs(&[
        ("K", &pem.replace("def", "uvw")),
        ("J", "{\"a\":1,\"b\":2}"),
    ]);
    assert_eq!(merge(&b, &o, &t2).1.len(), 1);
}

#[test]
fn lists_are_one_value() {
    let l = |xs: &[i64]| Value::List(xs.iter().map(|&x| Value::Int(x)).collect());
    let b = map(&[("L", l(&[1, 2, 3]))]);
    let o = map(&[("L", l(&[1, 2, 3, 4]))]);
    let t = map(&[("L", l(&[0, 1, 2, 3]))]);
    assert_eq!(
        merge(&b, &o, &t).1,
        [("L".to_owned(), ConflictKind::ModifyModify)]
    );
    assert_eq_branch(&clean(&b, &o, &b), &o);
}

#[test]
fn nested_maps_recurse() {
    let db = |host: &str, pw: &str| Value::Map(strs(&[("host", host), ("password", pw)]));
    let b = map(&[("db", db("h", "p")), ("x", s("1"))]);
    let o = map(&[("db", db("h2", "p")), ("x", s("1"))]);
    let t = map(&[("db", db("h", "p2")), ("x", s("1"))]);
    let r = clean(&b, &o, &t);
    let Some(Value::Map(m)) = r.get("db") else {
        panic!()
    };
    assert_val(m, "host", "h2");
    assert_val(m, "password", "p2");
    // A conflict deep down has the full path.
    let t = map(&[("db", db("h3", "p")), ("x", s("1"))]);
    assert_eq!(
        merge(&b, &o, &t).1,
        [("db.host".to_owned(), ConflictKind::ModifyModify)]
    );
    // Maps added on both sides merge two-way.
    let b = strs(&[("x", "1")]);
    let o = map(&[("x", s("1")), ("new", Value::Map(strs(&[("a", "1")])))]);
    let t = map(&[("x", s("1")), ("new", Value::Map(strs(&[("b", "2")])))]);
    let r = clean(&b, &o, &t);
    let Some(Value::Map(m)) = r.get("new") else {
        panic!()
    };
    assert_eq!(keys(m), ["a", "b"]);
    // Map vs scalar changes conflict at the map's key.
    let b = map(&[("k", s("v"))]);
    let o = map(&[("k", Value::Map(strs(&[("a", "1")])))]);
    let t = map(&[("k", s("w"))]);
    assert_eq!(
        merge(&b, &o, &t).1,
        [("k".to_owned(), ConflictKind::ModifyModify)]
    );
}

#[test]
fn comments_merge_three_way_ours_on_conflict() {
    let b = Branch(vec![
        comment(" about A"),
        Item::Entry("A".into(), s("1")),
        comment(" tail"),
    ]);
    let o = Branch(vec![
        comment(" about A"),
        Item::Entry("A".into(), s("2")),
        comment(" tail"),
    ]);
    let t = Branch(vec![
        comment(" better text about A"),
        Item::Entry("A".into(), s("1")),
        comment(" tail"),
    ]);
    let m = merge_docs(&[b.clone()], &[o.clone()], &[t.clone()]).unwrap();
    assert!(m.is_clean());
    assert_eq!(m.comment_conflicts, 0);
    let want = Branch(vec![
        comment(" better text about A"),
        Item::Entry("A".into(), s("2")),
        comment(" tail"),
    ]);
    assert_eq_branch(&m.materialize_side(Side::Ours)[0], &want);

    let o2 = Branch(vec![
        comment(" ours text"),
        Item::Entry("A".into(), s("1")),
        comment(" new tail"),
    ]);
    let m = merge_docs(&[b.clone()], &[o2.clone()], &[t]).unwrap();
    assert!(m.is_clean());
    assert_eq!(m.comment_conflicts, 1);
    assert_eq_branch(&m.materialize_side(Side::Ours)[0], &o2);

    // A key deleted on one side takes its comments with it.
    let del = Branch(vec![comment(" tail")]);
    let r = merge_docs(&[b.clone()], &[del.clone()], &[b]).unwrap();
    assert_eq_branch(&r.materialize_side(Side::Ours)[0], &del);
}

#[test]
fn multi_document_and_document_count_mismatch() {
    let d1 = strs(&[("a", "1")]);
    let d2 = strs(&[("b", "1")]);
    let d2o = strs(&[("b", "2")]);
    let m = merge_docs(
        &[d1.clone(), d2.clone()],
        &[d1.clone(), d2o.clone()],
        &[d1.clone(), d2.clone()],
    )
    .unwrap();
    assert!(m.is_clean());
    assert_eq!(m.docs.len(), 2);
    let d2t = strs(&[("b", "3")]);
    let m = merge_docs(
        &[d1.clone(), d2.clone()],
        &[d1.clone(), d2o],
        &[d1.clone(), d2t],
    )
    .unwrap();
    assert_eq!(m.conflicts[0].path.to_string(), "doc1:b");
    assert!(matches!(
        merge_docs(&[d1.clone()], &[d1.clone(), d2], &[d1]),
        Err(MergeError::DocumentCount { .. })
    ));
}

#[test]
fn duplicate_keys_are_refused() {
    let dup = strs(&[("a", "1"), ("a", "2")]);
    let ok = strs(&[("a", "1")]);
    assert!(matches!(
        merge_docs(&[ok.clone()], &[dup], &[ok]),
        Err(MergeError::DuplicateKey(_))
    ));
}

#[test]
fn many_keys_split_between_sides() {
    let base: Vec<(String, String)> = (0..200)
        .map(|i| (format!("K{i:03}"), "v".to_owned()))
        .collect();
    let mk = |f: &dyn Fn(usize) -> String| {
        Branch(
            base.iter()
                .enumerate()
                .map(|(i, (k, _))| Item::Entry(k.clone(), Value::str(f(i))))
                .collect(),
        )
    };
    let b = mk(&|_| "v".into());
    let o = mk(&|i| if i < 100 { format!("o{i}") } else { "v".into() });
    let t = mk(&|i| {
        if i >= 100 {
            format!("t{i}")
        } else {
            "v".into()
        }
    });
    let r = clean(&b, &o, &t);
    assert_val(&r, "K000", "o0");
    assert_val(&r, "K199", "t199");
}

#[test]
fn differing_paths_lists_exactly_the_conflicts() {
    let b = map(&[
        ("db", Value::Map(strs(&[("h", "1"), ("p", "1")]))),
        ("x", s("1")),
        ("y", s("1")),
    ]);
    let o = map(&[
        ("db", Value::Map(strs(&[("h", "2"), ("p", "1")]))),
        ("x", s("2")),
        ("y", s("1")),
    ]);
    let t = map(&[
        ("db", Value::Map(strs(&[("h", "3"), ("p", "1")]))),
        ("x", s("1")),
        ("y", s("3")),
    ]);
    let m = merge_docs(&[b], &[o], &[t]).unwrap();
    let ov = m.materialize_side(Side::Ours);
    let tv = m.materialize_side(Side::Theirs);
    let paths: Vec<KeyPath> = m.conflicts.iter().map(|c| c.path.clone()).collect();
    assert_eq!(differing_paths(&ov, &tv), paths);
    assert_eq!(paths.len(), 1);
}

// ---------------------------------------------------------------- properties

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-c]{0,2}".prop_map(Value::str),
        (0i64..3).prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn tree() -> impl Strategy<Value = Branch> {
    let leafmap = proptest::collection::vec(("[k-n]", leaf()), 0..5).prop_map(dedup);
    leafmap.prop_recursive(2, 24, 5, |inner| {
        proptest::collection::vec(
            (
                "[k-p]",
                prop_oneof![leaf(), inner.prop_map(Value::Map)],
                proptest::option::of("[xy]"),
            ),
            0..6,
        )
        .prop_map(|entries| {
            let mut items = Vec::new();
            let mut seen = Vec::new();
            for (k, v, c) in entries {
                if seen.contains(&k) {
                    continue;
                }
                seen.push(k.clone());
                if let Some(c) = c {
                    items.push(comment(&c));
                }
                items.push(Item::Entry(k, v));
            }
            Branch(items)
        })
    })
}

fn dedup(entries: Vec<(String, Value)>) -> Branch {
    let mut b = Branch::new();
    for (k, v) in entries {
        if b.get(&k).is_none() {
            b.0.push(Item::Entry(k, v));
        }
    }
    b
}

fn merged(b: &Branch, o: &Branch, t: &Branch) -> (Branch, usize) {
    let m = merge_docs(&[b.clone()], &[o.clone()], &[t.clone()]).expect("no duplicates");
    (m.materialize_side(Side::Ours).remove(0), m.conflicts.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_unchanged_theirs_gives_ours(b in tree(), a in tree()) {
        let (r, c) = merged(&b, &a, &b);
        prop_assert_eq!(c, 0);
        prop_assert!(branch_eq(&r, &a));
    }

    #[test]
    fn prop_unchanged_ours_gives_theirs(b in tree(), a in tree()) {
        let (r, c) = merged(&b, &b, &a);
        prop_assert_eq!(c, 0);
        prop_assert!(same_content(&r, &a));
    }

    #[test]
    fn prop_same_change_gives_it(b in tree(), a in tree()) {
        let (r, c) = merged(&b, &a, &a);
        prop_assert_eq!(c, 0);
        prop_assert!(branch_eq(&r, &a));
    }

    #[test]
    fn prop_conflict_count_and_content_symmetric(b in tree(), o in tree(), t in tree()) {
        let m1 = merge_docs(&[b.clone()], &[o.clone()], &[t.clone()]).unwrap();
        let m2 = merge_docs(&[b.clone()], &[t.clone()], &[o.clone()]).unwrap();
        prop_assert_eq!(m1.conflicts.len(), m2.conflicts.len());
        if m1.is_clean() {
            let r1 = m1.materialize_side(Side::Ours).remove(0);
            let r2 = m2.materialize_side(Side::Ours).remove(0);
            prop_assert!(same_content(&r1, &r2));
        } else {
            // Ours-side materialization of one is theirs-side of the other.
            let r1 = m1.materialize_side(Side::Ours).remove(0);
            let r2 = m2.materialize_side(Side::Theirs).remove(0);
            prop_assert!(same_content(&r1, &r2));
        }
    }

    #[test]
    fn prop_variants_differ_exactly_at_conflicts(b in tree(), o in tree(), t in tree()) {
        let m = merge_docs(&[b.clone()], &[o.clone()], &[t.clone()]).unwrap();
        let ov = m.materialize_side(Side::Ours);
        let tv = m.materialize_side(Side::Theirs);
        let bv = m.materialize_side(Side::Base);
        let mut want: Vec<KeyPath> = m.conflicts.iter().map(|c| c.path.clone()).collect();
        let mut got = differing_paths(&ov, &tv);
        want.sort();
        got.sort();
        prop_assert_eq!(&got, &want);
        // Re-merging the variants reproduces the same conflicts (what `resolve` relies on).
        let again = merge_docs(&bv, &ov, &tv).unwrap();
        let mut again_paths: Vec<KeyPath> = again.conflicts.iter().map(|c| c.path.clone()).collect();
        again_paths.sort();
        prop_assert_eq!(again_paths, want);
        // And picking ours everywhere gives ours' variant back.
        prop_assert!(branch_eq(&again.materialize_side(Side::Ours)[0], &ov[0]));
    }

    #[test]
    fn prop_no_key_lost_or_invented(b in tree(), o in tree(), t in tree()) {
        let (r, _) = merged(&b, &o, &t);
        for k in r.keys() {
            prop_assert!(o.get(k).is_some() || t.get(k).is_some());
        }
        for k in o.keys().chain(t.keys()) {
            // A key present on a side is only missing from the result if some side deleted it.
            if r.get(k).is_none() {
                prop_assert!(b.get(k).is_some() && (o.get(k).is_none() || t.get(k).is_none()));
            }
        }
    }
}

#[test]
fn key_paths_display_unambiguously() {
    let p = |doc: usize, keys: &[&str]| KeyPath {
        doc,
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
    };
    assert_eq!(p(0, &["db", "password"]).to_string(), "db.password");
    assert_eq!(p(0, &["db.password"]).to_string(), "db\\.password");
    assert_eq!(p(0, &["a\\b", "c"]).to_string(), "a\\\\b.c");
    assert_eq!(p(2, &["x"]).to_string(), "doc2:x");
    assert_ne!(p(0, &["a.b"]).to_string(), p(0, &["a", "b"]).to_string());
}
