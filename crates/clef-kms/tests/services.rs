//! S3, Secrets Manager and SSM calls of `clef_kms::awsapi` against the real
//! moto_server that `./test.sh` starts (signed requests, the SDK credential
//! chain, endpoints from `AWS_ENDPOINT_URL_<SERVICE>`). Without it these tests
//! skip, unless `CLEF_REQUIRE_MOTO=1`.

use clef_e2e::aws::Moto;
use clef_kms::{AwsApi, Service};

fn moto() -> Option<Moto> {
    let m = Moto::get()?;
    assert_eq!(
        std::env::var("AWS_ENDPOINT_URL_S3").as_deref(),
        Ok(m.endpoint.as_str()),
        "the service tests need the SDK environment that ./test.sh sets (AWS_TEST_ENV)"
    );
    Some(m)
}

#[test]
fn s3_put_then_get_with_etag_and_not_modified() {
    let Some(m) = moto() else { return };
    let bucket = m.create_bucket("clef-s3");
    let key = "packed/api gw/production.age.json";
    let body = br#"{"version":1}"#;
    clef_kms::awsapi::put_object(&bucket, key, body).unwrap();
    let (got, etag) = clef_kms::awsapi::get_object(&bucket, key, None)
        .unwrap()
        .expect("an object");
    assert_eq!(got, body);
    let etag = etag.expect("an ETag");
    // unchanged: 304, no body
    assert_eq!(
        clef_kms::awsapi::get_object(&bucket, key, Some(&etag)).unwrap(),
        None
    );
    // changed: the new body and a new ETag
    clef_kms::awsapi::put_object(&bucket, key, b"{\"version\":2}").unwrap();
    let (got, etag2) = clef_kms::awsapi::get_object(&bucket, key, Some(&etag))
        .unwrap()
        .expect("changed object");
    assert_eq!(got, b"{\"version\":2}");
    assert_ne!(etag2.as_deref(), Some(etag.as_str()));
    // the object as moto stores it (an independent read)
    let (st, raw) = m.http(
        "GET",
        &format!("/{bucket}/packed/api%20gw/production.age.json"),
        &[],
        b"",
        "s3",
    );
    assert_eq!((st, raw.as_str()), (200, "{\"version\":2}"));
}

#[test]
fn s3_errors_name_the_object_and_the_code() {
    let Some(m) = moto() else { return };
    let bucket = m.create_bucket("clef-s3-missing");
    let e = clef_kms::awsapi::get_object(&bucket, "nope.json", None).unwrap_err();
    assert_eq!(e.key, format!("s3://{bucket}/nope.json"));
    assert!(e.reason.starts_with("NoSuchKey"), "{e}");
    let e = clef_kms::awsapi::get_object("clef-no-such-bucket-x", "k", None).unwrap_err();
    assert!(e.reason.starts_with("NoSuchBucket"), "{e}");
}

#[test]
fn json_services_round_trip() {
    let Some(m) = moto() else { return };
    let api = AwsApi::from_env(None);
    let name = format!("clef/test/{}", clef_e2e::aws::unique());
    api.json(
        Service::SecretsManager,
        "CreateSecret",
        &serde_json::json!({"Name": name, "SecretString": "s3cr3t"}),
    )
    .unwrap();
    let (st, body) = m.json_call(
        "secretsmanager.GetSecretValue",
        &format!(r#"{{"SecretId":"{name}"}}"#),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        clef_e2e::aws::json_str(&body, "SecretString").as_deref(),
        Some("s3cr3t")
    );
    let e = api
        .json(
            Service::SecretsManager,
            "GetSecretValue",
            &serde_json::json!({"SecretId": "clef/absent"}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException", "{e}");
    let pname = format!("/clef-test/{}/K", clef_e2e::aws::unique());
    api.json(
        Service::Ssm,
        "PutParameter",
        &serde_json::json!({"Name": pname, "Value": "v1", "Type": "SecureString"}),
    )
    .unwrap();
    let v = api
        .json(
            Service::Ssm,
            "GetParameter",
            &serde_json::json!({"Name": pname, "WithDecryption": true}),
        )
        .unwrap();
    assert_eq!(v["Parameter"]["Value"], "v1");
}
