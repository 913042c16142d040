//! Helpers shared by the integration tests: test keys, sops-like encryption
//! of plaintext corpus files, ciphertext/plaintext leaf walks.
#![allow(dead_code)]

use clef_doc::tree::{Branch, Value};
use clef_keys::Identities;
use clef_sops::Keyring;
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, PlainFile};
use std::path::{Path, PathBuf};

pub const R1: &str = "age12w4jr2qttqd5zqrpu8fxqlc7c37kdkqt7ldu3fel58cvysuwzakq26uvgn";
pub const R2: &str = "age16d8mp2pxejlsyxzavqgsnwwvvccvcmujhr9qqk6z2petcq6gjdhsq0e3wq";
pub const R3: &str = "age1qxz2sr4cshvls83qvm9wxpt5h26rh0um6uce9tznhcsq2c6g7sgqgwd7h5";

/// The shared test keys: `shared/` sits beside the repository (in CI too),
/// or `CLEF_TEST_KEYS` points at the folder.
pub fn examples() -> PathBuf {
    if let Some(d) = std::env::var_os("CLEF_TEST_KEYS") {
        return PathBuf::from(d);
    }
    let beside =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/sops-examples");
    if beside.join("key.txt").is_file() {
        return beside;
    }
    PathBuf::from("/work/shared/reference/sops-examples")
}

pub fn key_file(n: usize) -> PathBuf {
    examples().join(match n {
        1 => "key.txt",
        2 => "k2.txt",
        _ => "k3.txt",
    })
}

pub fn ids(which: &[usize]) -> Keyring {
    let mut ids = Identities::empty();
    for &n in which {
        ids.add_file(&key_file(n)).expect("test key");
    }
    Keyring::new(ids)
}

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-corpus/merge")
}

pub fn plain(text: &str, format: Format) -> Vec<Branch> {
    clef_sops::parse_plain(text.as_bytes(), format).expect("plaintext parses")
}

/// `sops encrypt` of a new file: fresh data key.
pub fn encrypt_new(text: &str, format: Format, recipients: &[&str]) -> Vec<u8> {
    encrypt_with(
        text,
        format,
        vec![KeyGroup::of_recipients(recipients)],
        0,
        CryptRule::UnencryptedSuffix("_unencrypted".into()),
    )
}

/// `sops encrypt` of a new file with these key groups, Shamir threshold and
/// crypt rule: fresh data key.
pub fn encrypt_with(
    text: &str,
    format: Format,
    groups: Vec<KeyGroup>,
    threshold: usize,
    rule: CryptRule,
) -> Vec<u8> {
    let p = PlainFile::new(
        format,
        plain(text, format),
        groups,
        threshold,
        rule,
        false,
        &clef_sops::Keyring::empty(),
    )
    .expect("new file");
    p.encrypt().expect("encrypt").to_bytes().expect("emit")
}

/// `sops edit`: same data key, unchanged values keep their ciphertext.
pub fn edit(enc: &[u8], text: &str, format: Format, ids: &Keyring) -> Vec<u8> {
    let mut p = decrypt(enc, format, ids);
    p.docs = plain(text, format);
    p.encrypt().expect("encrypt").to_bytes().expect("emit")
}

/// `sops rotate`: new data key, same recipients.
pub fn rotate(enc: &[u8], format: Format, ids: &Keyring) -> Vec<u8> {
    let mut p = decrypt(enc, format, ids);
    p.rotate(ids).expect("rotate");
    p.encrypt().expect("encrypt").to_bytes().expect("emit")
}

/// `sops updatekeys` adding/removing recipients (same data key).
pub fn recipients(
    enc: &[u8],
    format: Format,
    ids: &Keyring,
    add: &[&str],
    remove: &[&str],
) -> Vec<u8> {
    let mut f = EncryptedFile::parse(enc, format).expect("parse");
    let add: Vec<String> = add.iter().map(|s| (*s).to_owned()).collect();
    let remove: Vec<String> = remove.iter().map(|s| (*s).to_owned()).collect();
    clef_sops::update_recipients(&mut f, ids, &add, &remove).expect("update recipients");
    f.to_bytes().expect("emit")
}

pub fn decrypt(enc: &[u8], format: Format, ids: &Keyring) -> PlainFile {
    EncryptedFile::parse(enc, format)
        .expect("parse")
        .decrypt(ids)
        .expect("decrypt with valid MAC")
}

pub fn parse(enc: &[u8], format: Format) -> EncryptedFile {
    EncryptedFile::parse(enc, format).expect("parse")
}

/// Every non-map value with its key path (lists are one leaf).
pub fn leaves<'a>(
    b: &'a Branch,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    for k in b.keys() {
        let Some(v) = b.get(k) else { continue };
        prefix.push(k.to_owned());
        match v {
            Value::Map(m) => leaves(m, prefix, out),
            other => out.push((prefix.clone(), other)),
        }
        prefix.pop();
    }
}

pub fn get<'a>(b: &'a Branch, path: &[String]) -> Option<&'a Value> {
    let (last, init) = path.split_last()?;
    let mut cur = b;
    for k in init {
        match cur.get(k)? {
            Value::Map(m) => cur = m,
            _ => return None,
        }
    }
    cur.get(last)
}

/// ENC reuse of a merged file against the sides it came from: a result value
/// is *reusable* when a side with the same data key had the same plaintext at
/// the same path; it is *reused* when its ciphertext is byte-identical there.
pub fn enc_reuse(result: &[u8], sides: &[&[u8]], format: Format, ids: &Keyring) -> (usize, usize) {
    let re = parse(result, format);
    let rp = re.decrypt(ids).expect("result decrypts");
    let sides: Vec<(EncryptedFile, PlainFile)> = sides
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| (parse(s, format), decrypt(s, format, ids)))
        .collect();
    let (mut reusable, mut reused) = (0, 0);
    for (doc, pdoc) in re.docs.iter().zip(&rp.docs) {
        let mut cipher = Vec::new();
        leaves(doc, &mut Vec::new(), &mut cipher);
        for (path, c) in cipher {
            let Some(pv) = get(pdoc, &path) else { continue };
            let matching: Vec<&Value> = sides
                .iter()
                .filter(|(_, sp)| sp.data_key() == rp.data_key())
                .filter(|(_, sp)| {
                    sp.docs
                        .first()
                        .and_then(|d| get(d, &path))
                        .is_some_and(|v| clef_merge::tree3::value_eq(v, pv))
                })
                .filter_map(|(se, _)| se.docs.first().and_then(|d| get(d, &path)))
                .collect();
            if matching.is_empty() || matches!(pv, Value::Null) {
                continue;
            }
            reusable += 1;
            if matching.iter().any(|sc| clef_merge::tree3::value_eq(sc, c)) {
                reused += 1;
            }
        }
    }
    (reusable, reused)
}
