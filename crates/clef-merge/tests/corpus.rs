//! Runs every case of `bench-corpus/merge/` through the file-level merge
//! (encrypting the plaintext sides on the fly, as `sops edit` would), in both
//! directions, and measures how many unchanged values keep their `ENC[...]`.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod common;

use clef_merge::conflict::Labels;
use clef_merge::resolve::{Choice, resolve, status};
use clef_merge::tree3::{Side, branch_eq, value_eq};
use clef_merge::{Outcome, merge_sops};
use clef_sops::Format;
use common::*;
use std::fs;

struct Case {
    name: String,
    base: String,
    ours: String,
    theirs: String,
    expected: Option<String>,
    conflicts: Option<Vec<String>>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = fs::read_dir(corpus())
        .expect("corpus dir")
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    dirs.sort_by_key(|e| e.file_name());
    for d in dirs {
        let p = d.path();
        let read = |n: &str| fs::read_to_string(p.join(n)).ok();
        out.push(Case {
            name: d.file_name().to_string_lossy().into_owned(),
            base: read("base.yaml").expect("base.yaml"),
            ours: read("ours.yaml").expect("ours.yaml"),
            theirs: read("theirs.yaml").expect("theirs.yaml"),
            expected: read("expected.yaml"),
            conflicts: read("expected.conflicts").map(|s| s.lines().map(str::to_owned).collect()),
        });
    }
    assert!(out.len() >= 15, "corpus has {} cases", out.len());
    out
}

/// Encrypts the three sides like real history would: ours and theirs are
/// `sops edit`s of the base (one data key); with an empty base both sides
/// were created independently (two data keys).
fn encrypt_sides(c: &Case) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ids = ids(&[1]);
    if c.base.trim().is_empty() {
        return (
            Vec::new(),
            encrypt_new(&c.ours, Format::Yaml, &[R1]),
            encrypt_new(&c.theirs, Format::Yaml, &[R1]),
        );
    }
    let b = encrypt_new(&c.base, Format::Yaml, &[R1]);
    let o = edit(&b, &c.ours, Format::Yaml, &ids);
    let t = edit(&b, &c.theirs, Format::Yaml, &ids);
    (b, o, t)
}

fn labels() -> Labels {
    Labels {
        base: "base".into(),
        ours: "HEAD".into(),
        theirs: "feature".into(),
    }
}

fn run(b: &[u8], o: &[u8], t: &[u8]) -> Outcome {
    merge_sops(b, o, t, Format::Yaml, &ids(&[1]), 7, &labels()).expect("merge runs")
}

fn same_content(a: &clef_doc::Branch, b: &clef_doc::Branch) -> bool {
    a.keys().count() == b.keys().count()
        && a.keys().all(|k| match (a.get(k), b.get(k)) {
            (Some(clef_doc::Value::Map(x)), Some(clef_doc::Value::Map(y))) => same_content(x, y),
            (Some(x), Some(y)) => value_eq(x, y),
            _ => false,
        })
}

#[test]
fn corpus_cases_both_directions() {
    let ids = ids(&[1]);
    let (mut reusable, mut reused) = (0, 0);
    for c in cases() {
        let (b, o, t) = encrypt_sides(&c);
        for reversed in [false, true] {
            let (x, y) = if reversed { (&t, &o) } else { (&o, &t) };
            let out = run(&b, x, y);
            let tag = format!("{}{}", c.name, if reversed { " (reversed)" } else { "" });
            let text = String::from_utf8(out.bytes.clone()).expect("utf8");
            for secretish in ["hunter2", "correct-horse", "from-ours", "from-theirs"] {
                assert!(!text.contains(secretish), "{tag}: plaintext in output");
            }
            match (&c.expected, &c.conflicts) {
                (Some(exp), _) => {
                    assert!(
                        out.is_clean(),
                        "{tag}: unexpected conflicts {:?}",
                        out.conflicts
                    );
                    let got = decrypt(&out.bytes, Format::Yaml, &ids);
                    let want = plain(exp, Format::Yaml);
                    if reversed {
                        assert!(
                            same_content(&got.docs[0], &want[0]),
                            "{tag}: content differs"
                        );
                    } else {
                        assert!(
                            branch_eq(&got.docs[0], &want[0]),
                            "{tag}:\n got {:?}\nwant {:?}",
                            got.docs[0],
                            want[0]
                        );
                    }
                    let (a, r) = enc_reuse(&out.bytes, &[&b, x, y], Format::Yaml, &ids);
                    reusable += a;
                    reused += r;
                    assert_eq!(a, r, "{tag}: {r}/{a} unchanged values kept their ENC[...]");
                }
                (None, Some(keys)) => {
                    assert!(!out.is_clean(), "{tag}: expected a conflict");
                    let got: Vec<String> =
                        out.conflicts.iter().map(|c| c.path.to_string()).collect();
                    assert_eq!(&got, keys, "{tag}");
                    assert!(
                        text.contains("<<<<<<< HEAD\n") && text.contains(">>>>>>> feature\n"),
                        "{tag}: markers"
                    );
                    assert!(
                        text.contains(clef_core::conflict::CONFLICT_MAC),
                        "{tag}: sentinel MAC"
                    );
                    // No tool can decrypt it by accident.
                    assert!(clef_sops::EncryptedFile::parse(&out.bytes, Format::Yaml).is_err());
                    let st = status(&out.bytes, Format::Yaml).expect("status");
                    let listed: Vec<String> = st.keys.iter().map(|k| k.path.to_string()).collect();
                    assert_eq!(&listed, keys, "{tag}: status");
                    assert!(st.is_conflict_document);
                    let cands =
                        clef_merge::candidates(&out.bytes, Format::Yaml, &ids).expect("candidates");
                    assert_eq!(
                        cands.iter().map(|c| c.path.to_string()).collect::<Vec<_>>(),
                        *keys
                    );
                    let (ours_src, theirs_src) = if reversed {
                        (&c.theirs, &c.ours)
                    } else {
                        (&c.ours, &c.theirs)
                    };
                    for cand in &cands {
                        let opt_eq =
                            |a: Option<&clef_doc::Value>, b: Option<&clef_doc::Value>| match (a, b)
                            {
                                (Some(x), Some(y)) => value_eq(x, y),
                                (None, None) => true,
                                _ => false,
                            };
                        let o = plain(ours_src, Format::Yaml);
                        let t = plain(theirs_src, Format::Yaml);
                        assert!(
                            opt_eq(cand.ours.as_ref(), get(&o[0], &cand.path.keys)),
                            "{tag}: ours candidate"
                        );
                        assert!(
                            opt_eq(cand.theirs.as_ref(), get(&t[0], &cand.path.keys)),
                            "{tag}: theirs candidate"
                        );
                    }
                    for side in [Side::Ours, Side::Theirs] {
                        let choice = Choice {
                            default: Some(side),
                            picks: Vec::new(),
                        };
                        let res =
                            resolve(&out.bytes, Format::Yaml, &ids, &choice).expect("resolve");
                        let got = decrypt(&res.bytes, Format::Yaml, &ids);
                        let (src, other) = match (side, reversed) {
                            (Side::Ours, false) | (Side::Theirs, true) => (&c.ours, &c.theirs),
                            _ => (&c.theirs, &c.ours),
                        };
                        let src = plain(src, Format::Yaml);
                        let other = plain(other, Format::Yaml);
                        for k in keys {
                            let path: Vec<String> = k.split('.').map(str::to_owned).collect();
                            let want = get(&src[0], &path);
                            let have = get(&got.docs[0], &path);
                            assert!(
                                match (want, have) {
                                    (Some(w), Some(h)) => value_eq(w, h),
                                    (None, None) => true,
                                    _ => false,
                                },
                                "{tag}: resolve {side:?} at {k}"
                            );
                            let _ = &other;
                        }
                        // Values outside the conflicts keep their ciphertext through resolve.
                        let (a, r) = enc_reuse(&res.bytes, &[&b, x, y], Format::Yaml, &ids);
                        assert_eq!(a, r, "{tag}: resolve {side:?} kept {r}/{a}");
                    }
                }
                _ => panic!("{}: needs expected.yaml or expected.conflicts", c.name),
            }
        }
    }
    eprintln!(
        "ENC reuse over the corpus: {reused}/{reusable} unchanged values kept their exact ENC[...]"
    );
    assert!(reusable > 50);
}
