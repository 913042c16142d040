//! `clef service …` through real git, and the real sops 3.11 as the judge of
//! who can read which cell.

use std::process::Output;

use crate::cli_support::{Dev, World, assert_no_plaintext, stderr};
use clef_e2e::{run, sops_bin};

fn init(w: &World) -> Dev {
    let d = w.dev("sam");
    d.ok(&[
        "init",
        "--namespaces",
        "api,web",
        "--environments",
        "dev,production",
        "--backend",
        "age",
        "--non-interactive",
    ]);
    for t in ["api/dev", "api/production", "web/dev", "web/production"] {
        d.ok(&["set", t, "K", &format!("value-of-{t}-canary")]);
    }
    d
}

/// `{"env":"AGE-SECRET-KEY-…",…}` out of a JSON line.
fn private_keys(json: &str) -> Vec<(String, String)> {
    let at = json.find("\"privateKeys\":{").expect("privateKeys") + 15;
    let body = &json[at..at + json[at..].find('}').unwrap()];
    body.split(',')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once(':').unwrap();
            (
                k.trim_matches('"').to_owned(),
                v.trim_matches('"').to_owned(),
            )
        })
        .collect()
}

/// Whether the real sops decrypts `cell` with only `key`.
fn sops_reads(d: &Dev, cell: &str, key: &str) -> Option<bool> {
    let sops = sops_bin()?;
    let kf = d.tmp.join("k.txt");
    std::fs::write(&kf, format!("{key}\n")).unwrap();
    let mut c = d.cmd(&sops);
    c.env("SOPS_AGE_KEY_FILE", &kf)
        .arg("decrypt")
        .arg(d.root.join(format!("secrets/{cell}.enc.yaml")));
    let o = run(c);
    std::fs::remove_file(&kf).unwrap();
    Some(o.status.success())
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn create_gives_each_environment_its_own_key_and_scope() {
    let w = World::new();
    let d = init(&w);
    let out = d.ok(&["service", "create", "gw", "--namespaces", "api", "--json"]);
    assert!(out.starts_with("{\"action\":\"created\",\"identity\":\"gw\",\"namespaces\":[\"api\"],\"environments\":{\"dev\":{\"recipient\":\"age1"), "{out}");
    assert!(out.contains("\"sharedRecipient\":false,\"packOnly\":false}"));
    let keys = private_keys(&out);
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0].1, keys[1].1, "one key pair per environment");
    let (dev_key, prod_key) = (&keys[0].1, &keys[1].1);
    // scope = namespaces x environments, checked by the real sops
    if sops_bin().is_some() {
        assert_eq!(sops_reads(&d, "api/dev", dev_key), Some(true));
        assert_eq!(sops_reads(&d, "api/production", prod_key), Some(true));
        assert_eq!(
            sops_reads(&d, "api/production", dev_key),
            Some(false),
            "env isolation"
        );
        assert_eq!(
            sops_reads(&d, "web/dev", dev_key),
            Some(false),
            "namespace scope"
        );
    }
    // the manifest round-trips and validates; list/show are stable JSON
    let shown = d.ok(&["service", "show", "gw", "--json"]);
    assert!(shown.starts_with("{\"name\":\"gw\",\"description\":\"gw\",\"namespaces\":[\"api\"],\"environments\":{\"dev\":{\"recipient\":\"age1"), "{shown}");
    assert_eq!(
        d.ok(&["service", "list", "--json"]),
        format!("[{}]\n", shown.trim_end())
    );
    assert_eq!(
        d.ok(&["service", "validate", "--json"]),
        "{\"issues\":[]}\n"
    );
    d.ok(&["lint"]);

    // runtime identity: pack_only, not a recipient of any cell; KMS env
    let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let out = d.ok(&[
        "service",
        "create",
        "runner",
        "--namespaces",
        "web,api",
        "--runtime",
        "--kms-env",
        &format!("production=aws:{arn}"),
        "--json",
    ]);
    let rk = private_keys(&out);
    assert_eq!(rk.len(), 1, "production is KMS: {out}");
    assert!(out.contains(&format!(
        "\"production\":{{\"kms\":{{\"provider\":\"aws\",\"keyId\":\"{arn}\"}}}}"
    )));
    if sops_bin().is_some() {
        assert_eq!(
            sops_reads(&d, "web/dev", &rk[0].1),
            Some(false),
            "pack_only is no recipient"
        );
    }
    let m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    assert!(m.contains("    pack_only: true\n"), "{m}");
    // a pack_only identity packs from the developer's access
    let o = d.ok(&["pack", "runner", "dev", "-o", "r.json", "--json"]);
    assert!(o.contains("\"keys\":[\"api__K\",\"web__K\"]"), "{o}");
    // a KMS environment with no reachable KMS: a clear error naming the key, no file
    // (a closed loopback port as the endpoint: no traffic leaves the machine)
    let mut c = d.cmd(clef_e2e::bin("clef"));
    c.env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("CLEF_KMS_TIMEOUT", "3")
        .args(["pack", "runner", "production", "-o", "p.json"]);
    let kms_pack = clef_e2e::run(c);
    assert_eq!(code(&kms_pack), 1, "{}", stderr(&kms_pack));
    assert!(
        stderr(&kms_pack).contains("AWS KMS Encrypt: arn:aws:kms:"),
        "{}",
        stderr(&kms_pack)
    );
    assert!(!d.root.join("p.json").exists());

    // rotate one environment: the old key loses access, the new one reads
    let out = d.ok(&["service", "rotate", "gw", "-e", "production", "--json"]);
    let nk = private_keys(&out);
    assert_eq!(nk.len(), 1);
    if sops_bin().is_some() {
        assert_eq!(sops_reads(&d, "api/production", prod_key), Some(false));
        assert_eq!(sops_reads(&d, "api/production", &nk[0].1), Some(true));
        assert_eq!(
            sops_reads(&d, "api/dev", dev_key),
            Some(true),
            "dev untouched"
        );
    }
    // delete: its recipients are gone from the cells
    d.ok(&["service", "delete", "gw"]);
    if sops_bin().is_some() {
        assert_eq!(sops_reads(&d, "api/dev", dev_key), Some(false));
    }
    assert!(d.clef(&["service", "show", "gw"]).status.code() == Some(2));

    // private keys were shown, never written anywhere
    d.git(&["add", "-A"]);
    d.git(&["commit", "-qm", "services"]);
    let all: Vec<&str> = keys
        .iter()
        .chain(&rk)
        .chain(&nk)
        .map(|(_, k)| k.as_str())
        .collect();
    assert_no_plaintext(&d.home, &all);
    assert_no_plaintext(&d.root, &["value-of-api/dev-canary"]);
}

#[test]
fn service_bad_input_and_drift() {
    let w = World::new();
    let d = init(&w);
    let bad: [(&[&str], &str); 6] = [
        (
            &["service", "create", "Bad_Name", "--namespaces", "api"],
            "DNS label",
        ),
        (
            &["service", "create", "gw", "--namespaces", "nope"],
            "unknown namespace 'nope'",
        ),
        (
            &[
                "service",
                "create",
                "gw",
                "--namespaces",
                "api",
                "--kms-env",
                "qa=aws:arn:aws:kms:us-east-1:123456789012:key/k",
            ],
            "unknown environment 'qa'",
        ),
        (
            &[
                "service",
                "create",
                "gw",
                "--namespaces",
                "api",
                "--kms-env",
                "dev=aws:not-an-arn",
            ],
            "not an AWS KMS key",
        ),
        (
            &[
                "service",
                "create",
                "gw",
                "--namespaces",
                "api",
                "--kms-env",
                "dev=vault:x",
            ],
            "unknown KMS provider",
        ),
        (&["service", "rotate", "nope"], "unknown service identity"),
    ];
    let before = std::fs::read(d.root.join("clef.yaml")).unwrap();
    for (args, want) in bad {
        let o = d.clef(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(
        std::fs::read(d.root.join("clef.yaml")).unwrap(),
        before,
        "nothing written"
    );
    d.ok(&["service", "create", "gw", "--namespaces", "api"]);
    let o = d.clef(&["service", "create", "gw", "--namespaces", "api"]);
    assert!(stderr(&o).contains("already exists (new keys: clef service rotate gw)"));
    // coverage: an environment removed by hand is reported; add-env fixes it
    let m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    let at = m.find("      production:\n        recipient: ").unwrap();
    let end = at
        + m[at..].find("age1").unwrap()
        + m[at..].split("age1").nth(1).unwrap().find('\n').unwrap()
        + 5;
    std::fs::write(
        d.root.join("clef.yaml"),
        format!("{}{}", &m[..at], &m[end..]),
    )
    .unwrap();
    let v = d.clef(&["service", "validate", "--json"]);
    assert_eq!(code(&v), 1);
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(
        text.contains(
            "\"type\":\"missing_environment\",\"identity\":\"gw\",\"environment\":\"production\",\"file\":null,\"message\":\"no key for environment 'production'\""
        ),
        "{text}"
    );
    // the dropped recipient still has its stanza on api/production: lint names it
    let l = d.clef(&["lint"]);
    let lint_out = format!("{}{}", String::from_utf8_lossy(&l.stdout), stderr(&l));
    assert_eq!(code(&l), 1, "{lint_out}");
    assert!(
        lint_out.contains("service identity 'gw': no key for environment 'production'"),
        "lint reports the coverage gap: {lint_out}"
    );
    let out = d.ok(&["service", "add-env", "gw", "production", "--json"]);
    assert!(out.starts_with("{\"action\":\"env-added\",\"identity\":\"gw\",\"environment\":\"production\",\"provider\":\"age\",\"privateKey\":\"AGE-SECRET-KEY-1"), "{out}");
    assert_eq!(
        d.ok(&["service", "validate", "--json"]),
        "{\"issues\":[]}\n"
    );
    // a recipient declared by hand, cells not re-encrypted: not registered
    let (_, r) = clef_keys::generate_identity();
    let m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    std::fs::write(
        d.root.join("clef.yaml"),
        format!("{m}  - name: hand\n    namespaces: [web]\n    environments:\n      dev:\n        recipient: {r}\n      production:\n        recipient: {r}\n"),
    )
    .unwrap();
    let v = d.clef(&["service", "validate"]);
    assert_eq!(code(&v), 1);
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(text.contains("warning: hand [shared_recipient]"), "{text}");
    assert!(
        text.contains("warning: hand [recipient_not_registered]")
            && text.contains("secrets/web/dev.enc.yaml"),
        "{text}"
    );
}
