//! The trees `clef_doc::yaml::parse` builds (what the SOPS engine walks),
//! and the text `emit` writes for trees the engine builds itself. Expected
//! values are sops 3.11's (see the oracle tests for the byte comparison).

use clef_doc::tree::secret;
use clef_doc::yaml::{emit, parse};
use clef_doc::{Branch, Item, Value};

fn one(text: &str) -> Branch {
    let mut docs = parse(text).expect("valid YAML");
    assert_eq!(docs.len(), 1, "one document");
    docs.remove(0)
}

fn comment(t: &str) -> Item {
    Item::Comment(secret(t))
}

fn entry(k: &str, v: Value) -> Item {
    Item::Entry(k.to_owned(), v)
}

#[test]
fn scalar_types_resolve_like_go_yaml() {
    let b = one(
        "i: 0x1F\no: 017\nb: 0b101\nu: 1_000\np: +12\nf: 1.5e3\ninf: -.Inf\nt: TRUE\n\
         y: yes\nn: ~\ne:\nd: 2024-01-02\nts: 2024-01-02 10:00:00.5\nq: \"123\"\ns: !!str 12\n\
         fl: !!float 3\nbin: !!binary aGVsbG8=\n",
    );
    assert_eq!(b.get("i"), Some(&Value::Int(31)));
    assert_eq!(b.get("o"), Some(&Value::Int(15)));
    assert_eq!(b.get("b"), Some(&Value::Int(5)));
    assert_eq!(b.get("u"), Some(&Value::Int(1000)));
    assert_eq!(b.get("p"), Some(&Value::Int(12)));
    assert_eq!(b.get("f"), Some(&Value::Float(1500.0)));
    assert_eq!(b.get("inf"), Some(&Value::Float(f64::NEG_INFINITY)));
    assert_eq!(b.get("t"), Some(&Value::Bool(true)));
    assert_eq!(b.get("y"), Some(&Value::str("yes")));
    assert_eq!(b.get("n"), Some(&Value::Null));
    assert_eq!(b.get("e"), Some(&Value::Null));
    assert_eq!(
        b.get("d"),
        Some(&Value::Time("2024-01-02T00:00:00Z".into()))
    );
    assert_eq!(
        b.get("ts"),
        Some(&Value::Time("2024-01-02T10:00:00.5Z".into()))
    );
    assert_eq!(b.get("q"), Some(&Value::str("123")));
    assert_eq!(b.get("s"), Some(&Value::str("12")));
    assert_eq!(b.get("fl"), Some(&Value::Float(3.0)));
    assert_eq!(b.get("bin"), Some(&Value::str("hello")));
}

#[test]
fn inline_comments_move_above_their_key() {
    let b = one("# top\na: 1 # on a\nb:\n  c: 2 # on c\n# end\n");
    assert_eq!(
        b.0,
        vec![
            comment(" top"),
            comment(" on a"),
            entry("a", Value::Int(1)),
            entry(
                "b",
                Value::Map(Branch(vec![comment(" on c"), entry("c", Value::Int(2))]))
            ),
            comment(" end"),
        ]
    );
}

#[test]
fn comments_in_sequences_are_values() {
    let b = one("l:\n  # first\n  - x # on x\n  - y\n  # last\n");
    assert_eq!(
        b.get("l"),
        Some(&Value::List(vec![
            Value::Comment(secret(" first")),
            Value::Comment(secret(" on x")),
            Value::str("x"),
            Value::str("y"),
            Value::Comment(secret(" last")),
        ]))
    );
}

#[test]
fn aliases_are_expanded_and_flow_becomes_plain_collections() {
    let b = one("a: &x {k: [1, 2]}\nb: *x\n");
    let expected = Value::Map(Branch(vec![entry(
        "k",
        Value::List(vec![Value::Int(1), Value::Int(2)]),
    )]));
    assert_eq!(b.get("a"), Some(&expected));
    assert_eq!(b.get("b"), Some(&expected));
}

#[test]
fn multi_line_scalars_fold_like_yaml() {
    let b = one("l: |\n  a\n  b\nf: >\n  a\n  b\n\n  c\ns: |-\n  x\nk: |+\n  x\n\np: one\n  two\n");
    assert_eq!(b.get("l"), Some(&Value::str("a\nb\n")));
    assert_eq!(b.get("f"), Some(&Value::str("a b\nc\n")));
    assert_eq!(b.get("s"), Some(&Value::str("x")));
    assert_eq!(b.get("k"), Some(&Value::str("x\n\n")));
    assert_eq!(b.get("p"), Some(&Value::str("one two")));
}

#[test]
fn documents_and_empty_inputs() {
    assert_eq!(parse("").expect("empty input").len(), 0);
    assert_eq!(parse("# only a comment\n").expect("comments only").len(), 0);
    let docs = parse("---\n---\na: 1\n").expect("documents");
    assert_eq!(docs.len(), 2);
    assert!(docs[0].is_empty());
    assert_eq!(emit(&docs, 4), "{}\n---\na: 1\n");
}

#[test]
fn emitter_layout_for_engine_built_trees() {
    let mut inner = Branch::new();
    inner.insert(
        "enc",
        Value::str("-----BEGIN AGE ENCRYPTED FILE-----\nYWJj\n-----END AGE ENCRYPTED FILE-----\n"),
    );
    inner.insert("recipient", Value::str("age1xyz"));
    let mut meta = Branch::new();
    meta.insert("age", Value::List(vec![Value::Map(inner)]));
    meta.insert("lastmodified", Value::str("2026-11-24T00:02:41Z"));
    meta.insert("version", Value::str("3.11.0"));
    let mut doc = Branch(vec![comment("ENC[AES256_GCM,data:x,type:comment]")]);
    doc.insert("num", Value::Float(1e-7));
    doc.insert(
        "l",
        Value::List(vec![
            Value::Comment(secret(" c")),
            Value::Int(1),
            Value::List(vec![]),
        ]),
    );
    doc.insert("sops", Value::Map(meta));
    assert_eq!(
        emit(&[doc], 4),
        "#ENC[AES256_GCM,data:x,type:comment]\n\
         num: 1e-07\n\
         l:\n    # c\n    - 1\n    - []\n\
         sops:\n    age:\n        - enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            YWJj\n            -----END AGE ENCRYPTED FILE-----\n          recipient: age1xyz\n    lastmodified: \"2026-11-24T00:02:41Z\"\n    version: 3.11.0\n"
    );
}

#[test]
fn yaml_1_1_booleans_are_quoted_even_as_keys() {
    let doc = Branch(vec![
        entry("n", Value::str("y")),
        entry("on", Value::str("off")),
    ]);
    assert_eq!(emit(&[doc], 4), "\"n\": \"y\"\n\"on\": \"off\"\n");
}

#[test]
fn emitter_handles_unusual_engine_trees() {
    // A mapping that holds only comments, comment values outside sequences,
    // and empty collections in sequences: printed without panicking.
    let doc = Branch(vec![
        entry("only_comments", Value::Map(Branch(vec![comment(" a")]))),
        entry("stray", Value::Comment(secret("x"))),
        entry(
            "l",
            Value::List(vec![
                Value::Map(Branch::new()),
                Value::List(vec![Value::Comment(secret("c"))]),
            ]),
        ),
    ]);
    let text = emit(&[doc], 2);
    assert!(text.starts_with("only_comments:"), "{text}");
    assert!(text.ends_with('\n'));
    assert!(parse(&text).is_ok(), "{text}");
}
