//! The AWS backend against the real moto_server that `./test.sh` starts, with the
//! real sops 3.11 as the oracle through the same endpoint. `./test.sh` gives the
//! test process the SDK environment (endpoint + dummy credentials, see
//! `AWS_TEST_ENV` there); without it these tests skip, unless `CLEF_REQUIRE_MOTO=1`.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

use std::path::Path;
use std::process::Command;

use clef_e2e::aws::Moto;
use clef_kms::{AwsKms, AwsOptions, AwsStanza};
use clef_sops::{EncryptedFile, Format, KeyGroup, Keyring, PlainFile};

/// The moto server, once this process's environment is known to point the SDK at it.
fn moto() -> Option<Moto> {
    let m = Moto::get()?;
    for (k, v) in [
        ("AWS_ENDPOINT_URL_KMS", m.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
    ] {
        assert_eq!(
            std::env::var(k).as_deref(),
            Ok(v),
            "the KMS tests need the SDK environment that ./test.sh sets (AWS_TEST_ENV); {k} differs"
        );
    }
    Some(m)
}

fn sops(m: &Moto) -> Option<Command> {
    let bin = clef_e2e::sops_bin()?;
    let home = std::env::temp_dir();
    let mut c = clef_e2e::clean_cmd(&bin, &home);
    m.env(&mut c);
    Some(c)
}

/// Runs sops with `args` and then `file`: its stdout, once it succeeded.
fn sops_ok(m: &Moto, args: &[&str], file: &Path) -> Vec<u8> {
    let out = sops(m)
        .expect("sops")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The encryption context of the sops interop tests.
const CONTEXT: &str = "env:prod,app:x";

/// `sops encrypt --kms ARN --encryption-context CONTEXT` of `text`, written
/// to `dir/p.yaml` first.
fn sops_encrypt_kms(m: &Moto, dir: &Path, arn: &str, text: &str) -> Vec<u8> {
    let plain = dir.join("p.yaml");
    std::fs::write(&plain, text).unwrap();
    let args = ["encrypt", "--kms", arn, "--encryption-context", CONTEXT];
    sops_ok(m, &args, &plain)
}

fn backend() -> AwsKms {
    AwsKms::new(AwsOptions::default())
}

#[test]
fn wrap_then_unwrap_round_trips_with_context() {
    let Some(m) = moto() else { return };
    let arn = m.create_key();
    let kms = backend();
    let ctx = clef_kms::parse_context("env:prod,app:clef").unwrap();
    let template = AwsStanza::from_arg(&arn, &ctx, "").to_value();
    let stanza = kms.wrap_stanza(&template, &[7u8; 32]).unwrap();
    let st = AwsStanza::from_value(&stanza).unwrap();
    assert_eq!(st.arn, arn);
    assert!(!st.enc.is_empty() && st.created_at.ends_with('Z'));
    assert_eq!(&kms.unwrap_stanza(&stanza).unwrap()[..], &[7u8; 32]);
    // the encryption context is bound to the ciphertext: a changed context fails
    let mut wrong = st.clone();
    wrong.context[0].1 = "other".into();
    let err = kms.unwrap_stanza(&wrong.to_value()).unwrap_err();
    assert_eq!(err.key, arn);
    assert!(err.reason.contains("InvalidCiphertextException"), "{err}");
}

#[test]
fn errors_name_the_key_and_the_aws_code() {
    let Some(m) = moto() else { return };
    let kms = backend();
    // (moto 5.2.5 does not enforce DisabledException; NotFoundException it does)
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000dead";
    let t = AwsStanza::from_arg(missing, &[], "").to_value();
    let err = kms.wrap_stanza(&t, &[1u8; 32]).unwrap_err();
    assert_eq!(err.key, missing);
    assert!(err.reason.contains("NotFoundException"), "{err}");
    let _ = &m;
    let bad = AwsStanza::from_arg("arn:aws:s3:::bucket", &[], "").to_value();
    assert!(
        kms.wrap_stanza(&bad, &[0u8; 32])
            .unwrap_err()
            .reason
            .contains("not a valid AWS KMS key ARN")
    );
}

#[test]
fn a_stored_profile_that_does_not_exist_falls_back_to_the_default_chain() {
    let Some(m) = moto() else { return };
    let arn = m.create_key();
    let kms = backend();
    let mut st = AwsStanza::from_arg(&arn, &[], "someone-elses-profile");
    let wrapped = kms.wrap_stanza(&st.to_value(), &[3u8; 32]).unwrap();
    st = AwsStanza::from_value(&wrapped).unwrap();
    assert_eq!(st.aws_profile, "someone-elses-profile");
    assert_eq!(&kms.unwrap_stanza(&wrapped).unwrap()[..], &[3u8; 32]);
    // an explicit override is used as given
    let forced = AwsKms::new(AwsOptions {
        profile: Some(String::new()),
        ..AwsOptions::default()
    });
    assert_eq!(&forced.unwrap_stanza(&wrapped).unwrap()[..], &[3u8; 32]);
}

#[test]
fn a_stanza_role_is_assumed_through_sts() {
    let Some(m) = moto() else { return };
    let arn = m.create_key();
    let kms = backend();
    let role = "arn:aws:iam::123456789012:role/clef-ci";
    let t = AwsStanza::from_arg(&format!("{arn}+{role}"), &[], "").to_value();
    let wrapped = kms.wrap_stanza(&t, &[4u8; 32]).unwrap();
    let st = AwsStanza::from_value(&wrapped).unwrap();
    assert_eq!(st.role, role);
    assert_eq!(&kms.unwrap_stanza(&wrapped).unwrap()[..], &[4u8; 32]);
}

#[test]
fn an_unreachable_kms_fails_within_the_time_bound() {
    if moto().is_none() {
        return;
    }
    // a loopback port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kms = AwsKms::new(AwsOptions {
        timeout: std::time::Duration::from_secs(3),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..AwsOptions::default()
    });
    let arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111";
    let t = AwsStanza::from_arg(arn, &[], "").to_value();
    let start = std::time::Instant::now();
    let err = kms.wrap_stanza(&t, &[5u8; 32]).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.key, arn);
    assert!(err.reason.contains("cannot reach AWS KMS"), "{err}");
    // the bound a hook or merge driver relies on (the backoff itself is
    // jittered, so no lower bound: a refused connection can retry in ms)
    assert!(took < std::time::Duration::from_secs(6), "took {took:?}");
}

fn keyring() -> Keyring {
    clef_kms::with_cloud_backends(Keyring::empty(), AwsOptions::default())
}

/// sops encrypts with KMS; clef (through the key-backend seam) decrypts every value.
#[test]
fn clef_decrypts_what_sops_encrypted_with_kms() {
    let Some(m) = moto() else { return };
    if sops(&m).is_none() {
        return;
    }
    let arn = m.create_key();
    let dir = tempfile::tempdir().unwrap();
    let sops_out = sops_encrypt_kms(&m, dir.path(), &arn, "a: 1\nb: two # note\nlist:\n  - x\n");
    let file = EncryptedFile::parse(&sops_out, Format::Yaml).unwrap();
    assert_eq!(file.meta.key_groups[0].other[0].0, "kms");
    let pf = file.decrypt(&keyring()).unwrap();
    let text = pf.emit(Format::Yaml).unwrap();
    let enc = dir.path().join("s.enc.yaml");
    std::fs::write(&enc, &sops_out).unwrap();
    let theirs = sops_ok(&m, &["decrypt"], &enc);
    assert_eq!(
        String::from_utf8_lossy(&text),
        String::from_utf8_lossy(&theirs)
    );
    // without the KMS backend the error names the stanza it could not open
    let err = file.decrypt(&Keyring::empty()).unwrap_err().to_string();
    assert!(err.contains(&arn), "{err}");
}

/// clef writes a KMS file; sops decrypts it, and the layout is sops's own.
#[test]
fn sops_decrypts_what_clef_encrypted_with_kms_and_layouts_match() {
    let Some(m) = moto() else { return };
    if sops(&m).is_none() {
        return;
    }
    let arn = m.create_key();
    let ctx = clef_kms::parse_context(CONTEXT).unwrap();
    let src = "a: 1\nb: two\n";
    let docs = clef_sops::parse_plain(src.as_bytes(), Format::Yaml).unwrap();
    let group = KeyGroup {
        age: Vec::new(),
        other: vec![("kms".into(), AwsStanza::from_arg(&arn, &ctx, "").to_value())],
    };
    let pf = PlainFile::new(
        Format::Yaml,
        docs,
        vec![group],
        0,
        Default::default(),
        false,
        &keyring(),
    )
    .unwrap();
    let ours = pf.encrypt().unwrap().to_bytes().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let enc = dir.path().join("c.enc.yaml");
    std::fs::write(&enc, &ours).unwrap();
    let out = sops_ok(&m, &["decrypt"], &enc);
    assert_eq!(String::from_utf8_lossy(&out), src);

    let theirs = sops_encrypt_kms(&m, dir.path(), &arn, src);
    assert_eq!(
        clef_e2e::aws::mask_random(&String::from_utf8_lossy(&ours)),
        clef_e2e::aws::mask_random(&String::from_utf8_lossy(&theirs))
    );
}
