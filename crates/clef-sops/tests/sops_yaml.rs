//! A `.sops.yaml` rendered by `config::render_creation_rules` steers the real
//! sops 3.11 (`clef_e2e::sops_bin`: $SOPS_BIN, as test.sh sets it) to the same recipients.

use std::process::Command;

use clef_sops::config::{Creation, CreationRule, cell_path_regex, render_creation_rules};
use clef_sops::{EncryptedFile, Format, KeyGroup};

#[test]
fn real_sops_follows_the_rendered_rules() {
    let Some(sops) = clef_e2e::sops_bin() else {
        eprintln!("SKIP: the real sops is not installed (set SOPS_BIN)");
        return;
    };
    let (_, dev1) = clef_keys::generate_identity();
    let (_, dev2) = clef_keys::generate_identity();
    let (_, prod) = clef_keys::generate_identity();
    let rule = |env: &str, rs: &[&String]| CreationRule {
        path_regex: cell_path_regex("secrets", env),
        creation: Creation {
            groups: vec![KeyGroup::of_recipients(rs)],
            ..Creation::default()
        },
    };
    let text = render_creation_rules(&[rule("dev", &[&dev1, &dev2]), rule("prod", &[&prod])]);
    let dir = std::env::temp_dir().join(format!("clef-sops-yaml-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("secrets/api")).unwrap();
    clef_sops::io::atomic_write(&dir.join(".sops.yaml"), text.as_bytes(), false).unwrap();
    for (env, want) in [("dev", vec![&dev1, &dev2]), ("prod", vec![&prod])] {
        let rel = format!("secrets/api/{env}.enc.yaml");
        clef_sops::io::atomic_write(&dir.join(&rel), b"token: t0k\n", false).unwrap();
        let out = Command::new(&sops)
            .current_dir(&dir)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .args(["encrypt", &rel])
            .output()
            .expect("run sops");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let f = EncryptedFile::parse(&out.stdout, Format::Yaml).unwrap();
        let got: Vec<&str> = f.meta.age_recipients();
        let want: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
        assert_eq!(got, want, "{env}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
