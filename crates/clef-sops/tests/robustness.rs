//! Deterministic mutation testing of the parser and decryptor (runs in every
//! test run; `fuzz/` holds the coverage-guided cargo-fuzz target for longer runs).
//! Every mutated input must yield Ok or an error, never a panic, and a decrypt
//! of a tampered file must never succeed with a value that was not in the original.

use clef_doc::{Branch, Item, Value};
use clef_keys::Identities;
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, PlainFile};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn sample(format: Format) -> (Vec<u8>, Identities) {
    let (secret, recipient) = clef_keys::generate_identity();
    let mut ids = Identities::empty();
    ids.add_text(secret.expose(), "test").unwrap();
    let mut nested = Branch::new();
    nested.insert("secret", Value::str("hunter2"));
    nested.insert("n", Value::Int(5));
    let mut doc = Branch::new();
    if format == Format::Yaml {
        doc.0
            .push(Item::Comment(clef_doc::tree::secret(" a comment")));
    }
    doc.insert("password", Value::str("s3cr3t"));
    doc.insert("flag", Value::Bool(true));
    if format != Format::Dotenv {
        doc.insert("nested", Value::Map(nested));
        doc.insert(
            "list",
            Value::List(vec![Value::str("a"), Value::Float(1.5)]),
        );
    }
    let p = PlainFile::new(
        format,
        vec![doc],
        vec![KeyGroup::of_recipients(&[recipient])],
        0,
        CryptRule::default(),
        false,
        &clef_sops::Keyring::empty(),
    )
    .unwrap();
    (p.encrypt().unwrap().to_bytes().unwrap(), ids)
}

#[test]
fn mutated_files_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for format in [Format::Yaml, Format::Json, Format::Dotenv] {
        let (bytes, ids) = sample(format);
        let original = EncryptedFile::parse(&bytes, format).unwrap();
        let key = original.data_key(&ids.into()).unwrap();
        let clean = original.decrypt_with_key(key.clone()).unwrap();
        for _ in 0..1500 {
            let mut m = bytes.clone();
            for _ in 0..=rng.below(4) {
                if m.is_empty() {
                    break;
                }
                let i = rng.below(m.len());
                match rng.below(4) {
                    0 => m[i] = rng.next() as u8,
                    1 => {
                        m.remove(i);
                    }
                    2 => m.insert(i, b"{}[]:,\"'#-\n ENC"[rng.below(15)]),
                    _ => m.truncate(i),
                }
            }
            if let Ok(f) = EncryptedFile::parse(&m, format) {
                let _ = f.unencrypted_values();
                let _ = f.to_bytes();
                if let Ok(p) = f.decrypt_with_key(key.clone()) {
                    // A tampered file that still verifies must hold the same values.
                    assert_eq!(
                        p.emit(Format::Json).ok().map(|b| b.to_vec()),
                        clean.emit(Format::Json).ok().map(|b| b.to_vec()),
                        "a mutated file decrypted to different values with a valid MAC"
                    );
                }
            }
            let _ = clef_sops::parse_plain(&m, format);
        }
    }
}
