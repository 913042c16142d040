//! Output conversions that would lose data are refused, naming the difference.

use clef_sops::{Format, SopsError, emit_plain, parse_plain};

#[test]
fn multi_document_yaml_is_not_silently_cut_to_one_document() {
    let docs = parse_plain(b"a: 1\n---\nb: 2\n", Format::Yaml).unwrap();
    for f in [Format::Json, Format::Dotenv] {
        let e = emit_plain(&docs, f).unwrap_err();
        assert!(matches!(e, SopsError::Output { .. }));
        assert!(e.to_string().contains("only the first"), "{e}");
    }
    let one = parse_plain(b"a: 1\n", Format::Yaml).unwrap();
    assert_eq!(&*emit_plain(&one, Format::Dotenv).unwrap(), b"a=1\n");
}
