//! The key-backend seam: dispatch by stanza kind, verbatim foreign stanzas,
//! and errors that say why each stanza failed.

use clef_doc::{Branch, Value};
use clef_keys::Identities;
use clef_sops::masterkey::{MasterKey, MasterKeyError, stanza, stanza_field};
use clef_sops::{CryptRule, EncryptedFile, Format, KeyGroup, Keyring, PlainFile, SopsError};
use zeroize::Zeroizing;

/// A backend that "wraps" by XOR with a fixed pad: enough to prove the seam
/// routes wrap and unwrap to the backend registered for the kind.
struct XorKms;
impl MasterKey for XorKms {
    fn kind(&self) -> &'static str {
        "kms"
    }
    fn unwrap(&self, s: &Value) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let arn = stanza_field(s, "arn").unwrap_or("");
        let enc = stanza_field(s, "enc").unwrap_or("");
        if arn.ends_with("denied") {
            return Err(MasterKeyError::new(arn, "AccessDeniedException"));
        }
        let bytes: Vec<u8> = enc
            .as_bytes()
            .chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap_or("zz"), 16).unwrap_or(0))
            .map(|b| b ^ 0x5a)
            .collect();
        Ok(Zeroizing::new(bytes))
    }
    fn wrap(&self, t: &Value, secret: &[u8]) -> Result<Value, MasterKeyError> {
        let arn = stanza_field(t, "arn").unwrap_or("");
        let enc: String = secret.iter().map(|b| format!("{:02x}", b ^ 0x5a)).collect();
        Ok(stanza(&[
            ("arn", arn),
            ("created_at", "2026-01-01T00:00:00Z"),
            ("enc", &enc),
            ("aws_profile", ""),
        ]))
    }
}

fn ids() -> (Identities, String) {
    let (secret, public) = clef_keys::generate_identity();
    let mut ids = Identities::empty();
    ids.add_text(secret.expose(), "test").unwrap();
    (ids, public)
}

fn doc() -> Vec<Branch> {
    let mut d = Branch::new();
    d.insert("password", Value::str("s3cr3t"));
    vec![d]
}

fn new_file(groups: Vec<KeyGroup>, ring: &Keyring) -> PlainFile {
    PlainFile::new(
        Format::Yaml,
        doc(),
        groups,
        0,
        CryptRule::default(),
        false,
        ring,
    )
    .unwrap()
}

fn kms_group(arn: &str) -> (String, Value) {
    ("kms".into(), stanza(&[("arn", arn)]))
}

#[test]
fn a_registered_backend_wraps_and_unwraps_its_kind() {
    let ring = Keyring::empty().with_backend(Box::new(XorKms));
    let mut g = KeyGroup::default();
    g.other.push(kms_group("arn:aws:kms:eu:1:key/a"));
    let p = new_file(vec![g], &ring);
    let bytes = p.encrypt().unwrap().to_bytes().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains("created_at: \"2026-01-01T00:00:00Z\"")
            || text.contains("created_at: 2026-01-01T00:00:00Z"),
        "{text}"
    );
    let f = EncryptedFile::parse(&bytes, Format::Yaml).unwrap();
    let back = f.decrypt(&ring).unwrap();
    assert_eq!(back.docs, doc());
    // Without the backend: the error names the stanza and why.
    let e = f.decrypt(&Keyring::empty()).unwrap_err().to_string();
    assert!(
        e.contains("kms arn:aws:kms:eu:1:key/a: clef has no 'kms' key backend"),
        "{e}"
    );
}

#[test]
fn every_failed_stanza_is_listed() {
    let (_, public) = ids();
    let (other, _) = ids();
    let ring = Keyring::empty().with_backend(Box::new(XorKms));
    let mut g = KeyGroup::of_recipients(std::slice::from_ref(&public));
    g.other.push(kms_group("arn:aws:kms:eu:1:key/denied"));
    let p = new_file(vec![g], &ring);
    let f = p.encrypt().unwrap();
    let e = f.decrypt(&Keyring::new(other).with_backend(Box::new(XorKms)));
    let Err(e @ SopsError::NoIdentity { .. }) = e else {
        panic!("expected NoIdentity");
    };
    let msg = e.to_string();
    assert!(
        msg.starts_with("no identity can decrypt the data key"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{public}: none of the 1 age identities matches")),
        "{msg}"
    );
    assert!(
        msg.contains("arn:aws:kms:eu:1:key/denied: AccessDeniedException"),
        "{msg}"
    );
}

#[test]
fn foreign_stanzas_stay_verbatim_unless_a_new_wrap_is_needed() {
    let (mine, public) = ids();
    let (_, public2) = ids();
    let ring = Keyring::new(mine);
    let pgp = stanza(&[
        ("created_at", "2020-01-01T00:00:00Z"),
        (
            "enc",
            "-----BEGIN PGP MESSAGE-----\nx\n-----END PGP MESSAGE-----\n",
        ),
        ("fp", "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
    ]);
    let p = new_file(
        vec![KeyGroup::of_recipients(std::slice::from_ref(&public))],
        &ring,
    );
    let mut f = p.encrypt().unwrap();
    f.meta.key_groups[0].other.push(("pgp".into(), pgp.clone()));
    // Same data key: the pgp stanza is kept as it is.
    clef_sops::update_recipients(&mut f, &ring, std::slice::from_ref(&public2), &[]).unwrap();
    assert_eq!(f.meta.key_groups[0].other, vec![("pgp".to_owned(), pgp)]);
    assert_eq!(f.meta.age_recipients(), [public.as_str(), public2.as_str()]);
    // A new data key would leave it stale: refused, naming the kind.
    let mut plain = f.decrypt(&ring).unwrap();
    let e = plain.rotate(&ring).unwrap_err();
    assert!(matches!(e, SopsError::UnsupportedMasterKey(ref k) if k == "pgp"));
    assert!(e.to_string().contains("no 'pgp' key backend"), "{e}");
}
