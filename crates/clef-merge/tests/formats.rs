//! Conflict documents and resolution in every format (JSON commas, dotenv
//! flat keys, multi-document YAML).
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod common;

use clef_merge::conflict::Labels;
use clef_merge::merge_sops;
use clef_merge::resolve::{Choice, parse_pick, resolve, status};
use clef_merge::tree3::Side;
use clef_sops::Format;
use common::*;

fn roundtrip(
    format: Format,
    base: &str,
    ours: &str,
    theirs: &str,
    conflicts: &[&str],
    pick: &str,
    want: &[(&str, &str)],
) {
    let ids = ids(&[1]);
    let b = encrypt_new(base, format, &[R1]);
    let o = edit(&b, ours, format, &ids);
    let t = edit(&b, theirs, format, &ids);
    let out = merge_sops(&b, &o, &t, format, &ids, 7, &Labels::default()).expect("merge");
    let listed: Vec<String> = out.conflicts.iter().map(|c| c.path.to_string()).collect();
    assert_eq!(listed, conflicts, "{format:?}");
    let text = String::from_utf8(out.bytes.clone()).expect("utf8");
    assert!(
        text.contains("<<<<<<<\n") && !text.contains("canary"),
        "{format:?}:\n{text}"
    );
    let st = status(&out.bytes, format).expect("status");
    assert_eq!(
        st.keys
            .iter()
            .map(|k| k.path.to_string())
            .collect::<Vec<_>>(),
        conflicts
    );
    let (k, side) = parse_pick(pick).expect("pick");
    let res = resolve(
        &out.bytes,
        format,
        &ids,
        &Choice {
            default: None,
            picks: vec![(k, side)],
        },
    )
    .expect("resolve");
    let p = decrypt(&res.bytes, format, &ids);
    for (key, v) in want {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        let doc = if format == Format::Yaml && key.starts_with("d1:") {
            &p.docs[1]
        } else {
            &p.docs[0]
        };
        let path: Vec<String> = path
            .iter()
            .map(|s| s.trim_start_matches("d1:").to_owned())
            .collect();
        match get(doc, &path) {
            Some(clef_doc::Value::Str(s)) => assert_eq!(s.as_str(), *v, "{format:?} {key}"),
            Some(clef_doc::Value::Float(f)) => assert_eq!(f.to_string(), *v, "{format:?} {key}"),
            other => panic!("{format:?} {key}: {other:?}"),
        }
    }
    // An unknown pick and a missing choice are errors, not silent defaults.
    assert!(
        resolve(
            &out.bytes,
            format,
            &ids,
            &Choice {
                default: None,
                picks: vec![("nope".into(), Side::Ours)]
            }
        )
        .is_err()
    );
    assert!(resolve(&out.bytes, format, &ids, &Choice::default()).is_err());
}

#[test]
fn json_conflict_round_trip() {
    roundtrip(
        Format::Json,
        "{\"a\": \"canary-1\", \"b\": \"canary-2\", \"c\": 1}",
        "{\"a\": \"canary-1o\", \"b\": \"canary-2\", \"c\": 1}",
        "{\"a\": \"canary-1t\", \"b\": \"canary-2\", \"c\": 2, \"d\": \"canary-4\"}",
        &["a"],
        "a=theirs",
        &[("a", "canary-1t"), ("c", "2"), ("d", "canary-4")],
    );
    // A conflicting last key (comma changes on the neighbouring line).
    roundtrip(
        Format::Json,
        "{\"a\": \"canary-1\", \"z\": \"canary-2\"}",
        "{\"a\": \"canary-1\"}",
        "{\"a\": \"canary-1\", \"z\": \"canary-2t\"}",
        &["z"],
        "z=theirs",
        &[("a", "canary-1"), ("z", "canary-2t")],
    );
}

#[test]
fn dotenv_conflict_round_trip() {
    roundtrip(
        Format::Dotenv,
        "A=canary-1\nB=canary-2\n",
        "A=canary-1o\nB=canary-2\nC=canary-3\n",
        "A=canary-1t\nB=canary-2x\n",
        &["A"],
        "A=ours",
        &[("A", "canary-1o"), ("B", "canary-2x"), ("C", "canary-3")],
    );
}

#[test]
fn multi_document_yaml_conflict_round_trip() {
    roundtrip(
        Format::Yaml,
        "a: canary-1\n---\nb: canary-2\nc: canary-3\n",
        "a: canary-1o\n---\nb: canary-2o\nc: canary-3\n",
        "a: canary-1\n---\nb: canary-2t\nc: canary-3t\n",
        &["doc1:b"],
        "doc1:b=theirs",
        &[
            ("a", "canary-1o"),
            ("d1:b", "canary-2t"),
            ("d1:c", "canary-3t"),
        ],
    );
}

/// Shamir key groups: stanzas are copied from one side only, or the data key
/// is split afresh; never mixed shares.
#[test]
fn shamir_groups_never_mix_shares() {
    use clef_sops::{CryptRule, EncryptedFile, KeyGroup};
    let both = ids(&[1, 2]);
    let base = encrypt_with(
        "a: canary-1\nb: canary-2\n",
        Format::Yaml,
        vec![
            KeyGroup::of_recipients(&[R1]),
            KeyGroup::of_recipients(&[R2]),
        ],
        2,
        CryptRule::UnencryptedSuffix("_unencrypted".into()),
    );
    let regroup = |groups: Vec<KeyGroup>, text: &str| {
        let mut p = EncryptedFile::parse(&base, Format::Yaml)
            .expect("parse")
            .decrypt(&both)
            .expect("decrypt");
        p.set_key_groups(groups, 2, &both).expect("regroup");
        p.docs = plain(text, Format::Yaml);
        p.encrypt().expect("enc").to_bytes().expect("emit")
    };
    let same = |text: &str| {
        regroup(
            vec![
                KeyGroup::of_recipients(&[R1]),
                KeyGroup::of_recipients(&[R2]),
            ],
            text,
        )
    };
    let r3_in_1 = |text: &str| {
        regroup(
            vec![
                KeyGroup::of_recipients(&[R1, R3]),
                KeyGroup::of_recipients(&[R2]),
            ],
            text,
        )
    };
    let r3_in_2 = |text: &str| {
        regroup(
            vec![
                KeyGroup::of_recipients(&[R1]),
                KeyGroup::of_recipients(&[R2, R3]),
            ],
            text,
        )
    };

    // One side re-split (R3 added to group 1), the other changed a value.
    let o = same("a: canary-1o\nb: canary-2\n");
    let t = r3_in_1("a: canary-1\nb: canary-2t\n");
    let out = merge_sops(&base, &o, &t, Format::Yaml, &both, 7, &Labels::default()).expect("merge");
    assert!(out.is_clean());
    let f = parse(&out.bytes, Format::Yaml);
    assert_eq!(f.meta.key_groups.len(), 2);
    for ks in [&[1, 2][..], &[3, 2][..]] {
        let p = f
            .decrypt(&ids(ks))
            .unwrap_or_else(|e| panic!("keys {ks:?}: {e}"));
        assert_eq!(p.docs[0].keys().count(), 2);
    }
    // Both sides re-split differently: the key is split afresh.
    let o = r3_in_1("a: canary-1o\nb: canary-2\n");
    let t = r3_in_2("a: canary-1\nb: canary-2t\n");
    let out = merge_sops(&base, &o, &t, Format::Yaml, &both, 7, &Labels::default()).expect("merge");
    assert!(
        out.notes.iter().any(|n| n.contains("split afresh")),
        "{:?}",
        out.notes
    );
    let f = parse(&out.bytes, Format::Yaml);
    for ks in [&[1, 2][..], &[3][..], &[1, 3][..]] {
        assert!(f.decrypt(&ids(ks)).is_ok(), "keys {ks:?}");
    }
    assert!(f.decrypt(&ids(&[1])).is_err(), "one group is not enough");
}
