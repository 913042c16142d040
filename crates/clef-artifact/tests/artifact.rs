//! Layout, checks and tamper detection of packed artifacts.

use base64::Engine as _;
use clef_artifact::seal::{self, KeyWrapper};
use clef_artifact::{
    Artifact, ArtifactError, Document, Ed25519Signer, Envelope, Plaintext, RevocationMarker,
    Signer, VerifyKey, artifact::ciphertext_hash,
};
use zeroize::Zeroizing;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const NOW: i64 = 1_764_600_000_000; // 2025-12-01T14:40:00.000Z

fn plaintext() -> Plaintext {
    Plaintext {
        namespaces: vec![
            (
                "api".into(),
                vec![(
                    "DB_URL".into(),
                    Zeroizing::new("postgres://u:p@h/db".into()),
                )],
            ),
            (
                "web".into(),
                vec![("TOKEN".into(), Zeroizing::new("t0k".into()))],
            ),
        ],
    }
}

fn ids_and_recipient() -> (clef_keys::Identities, String) {
    let (sk, pk) = clef_keys::generate_identity();
    let mut ids = clef_keys::Identities::empty();
    ids.add_text(sk.expose(), "test").unwrap();
    (ids, pk)
}

/// A stand-in KMS for the GCM layer: XOR "wrapping" with a fixed pad. Only
/// the AES-GCM envelope layout is under test here; the real KMS runs in e2e.
struct XorWrapper;

impl KeyWrapper for XorWrapper {
    fn provider(&self) -> &'static str {
        "aws"
    }
    fn wrap(&self, key_id: &str, dek: &[u8]) -> Result<(String, Vec<u8>, String), ArtifactError> {
        Ok((
            format!("{key_id}-resolved"),
            dek.iter().map(|b| b ^ 0x5a).collect(),
            "SYMMETRIC_DEFAULT".into(),
        ))
    }
    fn unwrap(&self, _: &str, w: &[u8]) -> Result<Zeroizing<Vec<u8>>, ArtifactError> {
        Ok(Zeroizing::new(w.iter().map(|b| b ^ 0x5a).collect()))
    }
}

fn signed_age() -> (Artifact, clef_keys::Identities, Ed25519Signer) {
    let (ids, pk) = ids_and_recipient();
    let ct = seal::seal_age(&pk, plaintext().to_json().as_bytes()).unwrap();
    let mut a = Artifact::new("api-gw", "production", ct, None, Some(3600), NOW);
    let s = Ed25519Signer::generate();
    a.sign(&s).unwrap();
    (a, ids, s)
}

#[test]
fn layout_matches_json_stringify() {
    let a = Artifact {
        version: 1,
        identity: "svc".into(),
        environment: "dev".into(),
        packed_at: "2024-01-15T10:30:00.007Z".into(),
        revision: "1705314600008-0a1b2c3d".into(),
        ciphertext_hash: ciphertext_hash("QUJD"),
        ciphertext: "QUJD".into(),
        envelope: Some(Envelope {
            provider: "aws".into(),
            key_id: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            wrapped_key: "d2s=".into(),
            algorithm: "SYMMETRIC_DEFAULT".into(),
            iv: B64.encode([1u8; 12]),
            auth_tag: B64.encode([2u8; 16]),
        }),
        expires_at: Some("2024-01-15T11:30:00.007Z".into()),
        signature: Some("c2ln".into()),
        signature_algorithm: Some("Ed25519".into()),
    };
    // JSON.stringify(artifact, null, 2) of the same object in node.
    let want = r#"{
  "version": 1,
  "identity": "svc",
  "environment": "dev",
  "packedAt": "2024-01-15T10:30:00.007Z",
  "revision": "1705314600008-0a1b2c3d",
  "ciphertextHash": "d9cae0dbdbf078b2020e2abe5fcd74bc1edba83c35f6b8a86d638ed9b8d3d1f9",
  "ciphertext": "QUJD",
  "envelope": {
    "provider": "aws",
    "keyId": "arn:aws:kms:us-east-1:123456789012:key/k",
    "wrappedKey": "d2s=",
    "algorithm": "SYMMETRIC_DEFAULT",
    "iv": "AQEBAQEBAQEBAQEB",
    "authTag": "AgICAgICAgICAgICAgICAg=="
  },
  "expiresAt": "2024-01-15T11:30:00.007Z",
  "signature": "c2ln",
  "signatureAlgorithm": "Ed25519"
}"#;
    assert_eq!(a.to_json(), want);
    // sha256 of the base64 text "QUJD", not of the bytes "ABC" (b5d4045c…).
    assert_eq!(
        Document::parse(want.as_bytes()).unwrap(),
        Document::Artifact(Box::new(a.clone()))
    );
    assert_eq!(
        a.signing_payload(),
        "clef-sig-v3\n1\nsvc\ndev\n1705314600008-0a1b2c3d\n2024-01-15T10:30:00.007Z\n\
         d9cae0dbdbf078b2020e2abe5fcd74bc1edba83c35f6b8a86d638ed9b8d3d1f9\n\
         2024-01-15T11:30:00.007Z\naws\narn:aws:kms:us-east-1:123456789012:key/k\nd2s=\n\
         SYMMETRIC_DEFAULT\nAQEBAQEBAQEBAQEB\nAgICAgICAgICAgICAgICAg=="
    );
    let mut bare = a.clone();
    bare.envelope = None;
    bare.expires_at = None;
    assert!(
        bare.signing_payload().ends_with(
            "d9cae0dbdbf078b2020e2abe5fcd74bc1edba83c35f6b8a86d638ed9b8d3d1f9\n\n\n\n\n\n\n"
        ),
        "absent fields are empty lines, no trailing newline"
    );
    let m = RevocationMarker::new("svc", "dev", 1_705_314_600_007);
    assert_eq!(
        m.to_json(),
        "{\n  \"version\": 1,\n  \"identity\": \"svc\",\n  \"environment\": \"dev\",\n  \"revokedAt\": \"2024-01-15T10:30:00.007Z\"\n}\n"
    );
    assert_eq!(
        Document::parse(m.to_json().as_bytes()).unwrap(),
        Document::Revoked(m)
    );
}

#[test]
fn age_artifact_opens_with_checks() {
    let (a, ids, s) = signed_age();
    assert_eq!(a.packed_at, "2025-12-01T14:40:00.000Z");
    assert_eq!(a.expires_at.as_deref(), Some("2025-12-01T15:40:00.000Z"));
    assert_eq!(a.signature_algorithm.as_deref(), Some("Ed25519"));
    let key = VerifyKey::from_spki_base64(&s.public_spki_base64()).unwrap();
    let text = a.to_json();
    let (back, p) = clef_artifact::open(text.as_bytes(), Some(&key), &ids, None, NOW).unwrap();
    assert_eq!(back, a);
    assert_eq!(p.keys(), ["api__DB_URL", "web__TOKEN"]);
    assert_eq!(p.flat()[0].1.as_str(), "postgres://u:p@h/db");
    // expired one millisecond after expiresAt
    let late = NOW + 3_600_001;
    assert!(matches!(
        clef_artifact::open(text.as_bytes(), Some(&key), &ids, None, late),
        Err(ArtifactError::Expired(_))
    ));
    // another identity
    let (other, _) = ids_and_recipient();
    assert!(matches!(
        clef_artifact::open(text.as_bytes(), Some(&key), &other, None, NOW),
        Err(ArtifactError::Decrypt(_))
    ));
    // another signer's key
    let k2 = VerifyKey::from_spki_base64(&Ed25519Signer::generate().public_spki_base64()).unwrap();
    assert!(matches!(
        clef_artifact::open(text.as_bytes(), Some(&k2), &ids, None, NOW),
        Err(ArtifactError::BadSignature)
    ));
    // unsigned with a key
    let mut u = a.clone();
    u.signature = None;
    u.signature_algorithm = None;
    assert!(matches!(
        clef_artifact::open(u.to_json().as_bytes(), Some(&key), &ids, None, NOW),
        Err(ArtifactError::Unsigned)
    ));
    // revoked
    let m = RevocationMarker::new("api-gw", "production", NOW).to_json();
    assert!(matches!(
        clef_artifact::open(m.as_bytes(), Some(&key), &ids, None, NOW),
        Err(ArtifactError::Revoked(_))
    ));
}

/// Every field of a signed artifact, changed, is refused before decryption.
#[test]
fn every_field_is_tamper_evident() {
    let wrapper = XorWrapper;
    let p = plaintext();
    let (ct, env) = seal::seal_envelope(
        &wrapper,
        "arn:aws:kms:us-east-1:123456789012:alias/a",
        p.to_json().as_bytes(),
    )
    .unwrap();
    assert_eq!(
        env.key_id,
        "arn:aws:kms:us-east-1:123456789012:alias/a-resolved"
    );
    let mut a = Artifact::new("svc", "prod", ct, Some(env), Some(60), NOW);
    let s = Ed25519Signer::generate();
    a.sign(&s).unwrap();
    let key = VerifyKey::from_spki_base64(&s.public_spki_base64()).unwrap();
    let ids = clef_keys::Identities::empty();
    let (_, back) = clef_artifact::open(
        a.to_json().as_bytes(),
        Some(&key),
        &ids,
        Some(&wrapper),
        NOW,
    )
    .unwrap();
    assert_eq!(back.keys(), p.keys());

    let flip = |s: &str| -> String {
        // change one base64/hex/text character while keeping the shape valid
        let mut c: Vec<char> = s.chars().collect();
        let i = c.len() / 2;
        c[i] = if c[i] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect()
    };
    type Edit = fn(&mut Artifact, &dyn Fn(&str) -> String);
    let edits: Vec<(&str, Edit)> = vec![
        ("identity", |a, f| a.identity = f(&a.identity)),
        ("environment", |a, f| a.environment = f(&a.environment)),
        ("packedAt", |a, _| {
            a.packed_at = "2025-12-01T14:40:00.001Z".into()
        }),
        ("revision", |a, f| a.revision = f(&a.revision)),
        ("ciphertextHash", |a, f| {
            a.ciphertext_hash = f(&a.ciphertext_hash)
        }),
        ("ciphertext", |a, f| a.ciphertext = f(&a.ciphertext)),
        ("ciphertext+hash", |a, f| {
            a.ciphertext = f(&a.ciphertext);
            a.ciphertext_hash = ciphertext_hash(&a.ciphertext);
        }),
        ("envelope.provider", |a, _| {
            a.envelope.as_mut().unwrap().provider = "gcp".into()
        }),
        ("envelope.keyId", |a, f| {
            let e = a.envelope.as_mut().unwrap();
            e.key_id = f(&e.key_id)
        }),
        ("envelope.wrappedKey", |a, f| {
            let e = a.envelope.as_mut().unwrap();
            e.wrapped_key = f(&e.wrapped_key)
        }),
        ("envelope.algorithm", |a, _| {
            a.envelope.as_mut().unwrap().algorithm = "RSAES_OAEP_SHA_256".into()
        }),
        ("envelope.iv", |a, _| {
            a.envelope.as_mut().unwrap().iv = B64.encode([9u8; 12])
        }),
        ("envelope.authTag", |a, _| {
            a.envelope.as_mut().unwrap().auth_tag = B64.encode([9u8; 16])
        }),
        ("envelope removed", |a, _| a.envelope = None),
        ("expiresAt later", |a, _| {
            a.expires_at = Some("2099-01-01T00:00:00.000Z".into())
        }),
        ("expiresAt removed", |a, _| a.expires_at = None),
        ("signature", |a, f| {
            a.signature = Some(f(a.signature.as_deref().unwrap()))
        }),
        ("signatureAlgorithm", |a, _| {
            a.signature_algorithm = Some("ECDSA_SHA256".into())
        }),
        ("signature removed", |a, _| {
            a.signature = None;
            a.signature_algorithm = None
        }),
    ];
    for (name, edit) in edits {
        let mut t = a.clone();
        edit(&mut t, &flip);
        assert_ne!(t, a, "{name}: the edit changed nothing");
        let r = clef_artifact::open(
            t.to_json().as_bytes(),
            Some(&key),
            &ids,
            Some(&wrapper),
            NOW,
        );
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{name}: tampered artifact accepted"));
        let msg = e.to_string();
        assert!(!msg.contains("postgres"), "{name}: {msg}");
    }
    // without a verify key, the hash and the GCM tag still catch payload edits
    for edit in [
        |a: &mut Artifact| a.ciphertext = a.ciphertext.replacen(&a.ciphertext[..4], "AAAA", 1),
        |a: &mut Artifact| a.envelope.as_mut().unwrap().auth_tag = B64.encode([7u8; 16]),
        |a: &mut Artifact| a.envelope.as_mut().unwrap().iv = B64.encode([7u8; 12]),
    ] {
        let mut t = a.clone();
        edit(&mut t);
        t.ciphertext_hash = ciphertext_hash(&t.ciphertext);
        assert!(
            clef_artifact::open(t.to_json().as_bytes(), None, &ids, Some(&wrapper), NOW).is_err()
        );
    }
}

#[test]
fn shape_guard_refusals() {
    let (a, _, _) = signed_age();
    let j = a.to_json();
    let bad = [
        ("[]", "not"),
        ("{", "JSON"),
        (&*j.replace("\"version\": 1", "\"version\": 2"), "version"),
        (
            &*j.replace("\"version\": 1", "\"version\": \"1\""),
            "version",
        ),
        (
            &*j.replace("\"identity\": \"api-gw\"", "\"identity\": 7"),
            "identity",
        ),
        (&*j.replace("\"Ed25519\"", "\"RSA\""), "signatureAlgorithm"),
        (
            &*j.replace("\"version\": 1,", "\"version\": 1, \"extra\": 1,"),
            "unknown field",
        ),
        (
            &*j.replace("\"expiresAt\": \"", "\"expiresAt\": \"x"),
            "expiresAt",
        ),
        (&*j.replace("\"revision\"", "\"revisionX\""), "revision"),
    ];
    for (text, want) in bad {
        let e = Document::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn ecdsa_p256_keys_verify_and_pick_their_algorithm() {
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;
    let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    struct Kms(p256::ecdsa::SigningKey);
    impl Signer for Kms {
        fn algorithm(&self) -> &'static str {
            "ECDSA_SHA256"
        }
        fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, ArtifactError> {
            let s: p256::ecdsa::DerSignature = self.0.sign(payload);
            Ok(s.as_bytes().to_vec())
        }
    }
    let (mut a, ids, ed) = signed_age();
    a.sign(&Kms(sk.clone())).unwrap();
    let spki = B64.encode(sk.verifying_key().to_public_key_der().unwrap().as_bytes());
    let key = VerifyKey::from_spki_base64(&spki).unwrap();
    assert_eq!(key.algorithm(), "ECDSA_SHA256");
    clef_artifact::open(a.to_json().as_bytes(), Some(&key), &ids, None, NOW).unwrap();
    // the Ed25519 key does not verify an ECDSA signature, whatever the field says
    let edk = VerifyKey::from_spki_base64(&ed.public_spki_base64()).unwrap();
    let mut t = a.clone();
    t.signature_algorithm = Some("Ed25519".into());
    assert!(clef_artifact::open(t.to_json().as_bytes(), Some(&edk), &ids, None, NOW).is_err());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &spki[..64],
        &spki[64..]
    );
    assert_eq!(
        VerifyKey::from_spki_base64(&pem).unwrap().algorithm(),
        "ECDSA_SHA256"
    );
}
