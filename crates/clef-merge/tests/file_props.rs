//! Property tests over whole encrypted files: for random base/ours/theirs
//! trees (ours and theirs are `sops edit`s of the base), the driver's result
//! decrypts to exactly what the pure engine computes, every unchanged value
//! keeps its ciphertext, and conflict documents list, reveal and resolve
//! exactly the engine's conflicts.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod common;

use clef_doc::tree::{Branch, Item, Value};
use clef_merge::conflict::Labels;
use clef_merge::resolve::{Choice, resolve, status};
use clef_merge::tree3::{Side, branch_eq};
use clef_merge::{merge_docs, merge_sops};
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, PlainFile};
use common::*;
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-c]{1,2}".prop_map(Value::str),
        (0i64..3).prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn tree() -> impl Strategy<Value = Branch> {
    let flat = proptest::collection::vec(("[k-n]", leaf()), 0..5).prop_map(dedup);
    flat.prop_recursive(2, 16, 4, |inner| {
        proptest::collection::vec(
            ("[k-o]", prop_oneof![leaf(), inner.prop_map(Value::Map)]),
            0..5,
        )
        .prop_map(dedup)
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

fn new_file(doc: &Branch) -> PlainFile {
    PlainFile::new(
        Format::Yaml,
        vec![doc.clone()],
        vec![KeyGroup::of_recipients(&[R1])],
        0,
        CryptRule::UnencryptedSuffix("_unencrypted".into()),
        false,
        &clef_sops::Keyring::empty(),
    )
    .expect("new")
}

fn bytes(p: &PlainFile) -> Vec<u8> {
    p.encrypt().expect("encrypt").to_bytes().expect("emit")
}

fn edited(base: &[u8], doc: &Branch) -> Vec<u8> {
    let mut p = EncryptedFile::parse(base, Format::Yaml)
        .expect("parse")
        .decrypt(&ids(&[1]))
        .expect("decrypt");
    p.docs = vec![doc.clone()];
    bytes(&p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn driver_agrees_with_engine(b in tree(), o in tree(), t in tree()) {
        let ids = ids(&[1]);
        let be = bytes(&new_file(&b));
        let oe = edited(&be, &o);
        let te = edited(&be, &t);
        let out = merge_sops(&be, &oe, &te, Format::Yaml, &ids, 7, &Labels::default()).expect("merge");
        let engine = merge_docs(std::slice::from_ref(&b), std::slice::from_ref(&o), std::slice::from_ref(&t)).expect("engine");
        prop_assert_eq!(out.conflicts.len(), engine.conflicts.len());
        if engine.is_clean() {
            let got = decrypt(&out.bytes, Format::Yaml, &ids);
            prop_assert!(branch_eq(&got.docs[0], &engine.materialize_side(Side::Ours)[0]));
            let (reusable, reused) = enc_reuse(&out.bytes, &[&be, &oe, &te], Format::Yaml, &ids);
            prop_assert_eq!(reusable, reused);
        } else {
            let st = status(&out.bytes, Format::Yaml).expect("status");
            let mut want: Vec<String> = engine.conflicts.iter().map(|c| c.path.to_string()).collect();
            let mut got: Vec<String> = st.keys.iter().map(|k| k.path.to_string()).collect();
            want.sort();
            got.sort();
            prop_assert_eq!(got, want);
            for side in [Side::Ours, Side::Theirs, Side::Base] {
                let r = resolve(&out.bytes, Format::Yaml, &ids, &Choice { default: Some(side), picks: vec![] }).expect("resolve");
                let got = decrypt(&r.bytes, Format::Yaml, &ids);
                prop_assert!(branch_eq(&got.docs[0], &engine.materialize_side(side)[0]), "resolve {:?}", side);
            }
        }
    }
}
