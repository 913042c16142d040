//! `kms:` and `gcp_kms:` in `.sops.yaml` creation rules (issue 12: clef read
//! age and pgp only), both forms sops 3.11 reads: a rule's comma-separated
//! `ARN[+ROLE]`, and key groups of `{arn, role, context, aws_profile}` maps.
//! Checked against the real sops through the same moto_server KMS.

use std::path::Path;
use std::process::Command;

use clef_e2e::aws::{Moto, mask_random};
use clef_e2e::{TestKey, bin, clean_cmd, ok, run, sops_bin};

fn tool(m: &Moto, dir: &Path, program: &Path, clef: bool, args: &[&str]) -> Command {
    let mut c = clean_cmd(program, dir);
    m.env(&mut c);
    c.current_dir(dir);
    if clef {
        c.arg("sops");
    }
    c.args(args);
    c
}

#[test]
fn kms_creation_rules_in_sops_yaml_like_sops() {
    let (Some(m), Some(sops)) = (Moto::get(), sops_bin()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let arn = m.create_key();
    let age = TestKey::new(dir, "age.txt");
    std::fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: flat\\.yaml$\n    kms: {arn}\n  - path_regex: groups\\.yaml$\n    key_groups:\n      - kms:\n          - arn: {arn}\n            context:\n              app: clef\n        age:\n          - {}\n",
            age.recipient
        ),
    )
    .expect("write .sops.yaml");
    for name in ["flat", "groups"] {
        let plain = format!("{name}.yaml");
        std::fs::write(dir.join(&plain), "a: 1\nb: secret\n").expect("write");
        let by_sops = ok(run(tool(&m, dir, &sops, false, &["encrypt", &plain])));
        let by_clef = ok(run(tool(&m, dir, &bin("clef"), true, &["encrypt", &plain])));
        let (s, c) = (
            String::from_utf8_lossy(&by_sops).into_owned(),
            String::from_utf8_lossy(&by_clef).into_owned(),
        );
        assert!(c.contains(&format!("- arn: {arn}")), "{c}");
        if name == "groups" {
            assert!(c.contains("app: clef") && c.contains(&age.recipient), "{c}");
        }
        assert_eq!(mask_random(&c), mask_random(&s), "{name}: layout");
        // Each tool opens the other's file through KMS alone (no age key).
        for (f, text) in [("s", &by_sops), ("c", &by_clef)] {
            let enc = format!("{name}.{f}.enc.yaml");
            std::fs::write(dir.join(&enc), text).expect("write");
            for (prog, clef) in [(&sops, false), (&bin("clef"), true)] {
                let out = ok(run(tool(&m, dir, prog, clef, &["decrypt", &enc])));
                assert_eq!(out, b"a: 1\nb: secret\n", "{name} {f} by clef={clef}");
            }
        }
    }
    // A key group's kms entry must be a mapping with an arn.
    std::fs::write(
        dir.join(".sops.yaml"),
        "creation_rules:\n  - key_groups:\n      - kms:\n          - role: x\n",
    )
    .expect("write");
    let o = run(tool(&m, dir, &bin("clef"), true, &["encrypt", "flat.yaml"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no arn"));
    assert!(o.stdout.is_empty());
}

#[test]
fn updatekeys_with_a_kms_rule_is_up_to_date_like_sops() {
    let (Some(m), Some(sops)) = (Moto::get(), sops_bin()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (a1, a2) = (m.create_key(), m.create_key());
    let rule = |arns: &str| format!("creation_rules:\n  - kms: {arns}\n");
    std::fs::write(dir.join(".sops.yaml"), rule(&a1)).expect("write");
    std::fs::write(dir.join("p.yaml"), "a: 1\n").expect("write");
    let enc = ok(run(tool(&m, dir, &sops, false, &["encrypt", "p.yaml"])));
    std::fs::write(dir.join("f.enc.yaml"), &enc).expect("write");
    // In step with the rule: nothing written, as sops says.
    let o = run(tool(
        &m,
        dir,
        &bin("clef"),
        true,
        &["updatekeys", "-y", "f.enc.yaml"],
    ));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already up to date"));
    assert_eq!(std::fs::read(dir.join("f.enc.yaml")).unwrap(), enc);
    // A second key in the rule: added (shown as sops shows it), and either key opens it.
    std::fs::write(dir.join(".sops.yaml"), rule(&format!("{a1},{a2}"))).expect("write");
    let o = run(tool(
        &m,
        dir,
        &bin("clef"),
        true,
        &["updatekeys", "-y", "f.enc.yaml"],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("+++ {a2}")));
    let text = std::fs::read_to_string(dir.join("f.enc.yaml")).unwrap();
    assert_eq!(text.matches("- arn: ").count(), 2, "{text}");
    let out = ok(run(tool(&m, dir, &sops, false, &["decrypt", "f.enc.yaml"])));
    assert_eq!(out, b"a: 1\n");
}
