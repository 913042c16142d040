//! Clef on top of cloud KMS (issue 13), against the moto_server `./test.sh`
//! starts, with the real sops 3.11 as the oracle: `clef init --backend
//! awskms`, the break-glass recipient, `clef migrate-backend` age → KMS → age,
//! a KMS that is unreachable or refuses (one line naming the ARN and the AWS
//! error code, nothing written), the access list over `kms` stanzas (hook and
//! merge driver refuse a foreign key), a merge of KMS cells under real git,
//! and `clef doctor`'s probe.

use std::process::Output;

use crate::cli_support::{Dev, stderr};
use clef_e2e::aws::Kms;
use clef_e2e::{TestKey, bin, ok, run, sops_bin};

fn commit(k: &Kms, d: &Dev, msg: &str) {
    ok(k.git(d, &["add", "-A"]));
    ok(k.git(d, &["commit", "-q", "--no-verify", "-m", msg]));
}

fn read(d: &Dev, rel: &str) -> String {
    std::fs::read_to_string(d.root.join(rel)).unwrap()
}

/// Every cell file and clef.yaml, to check that nothing was written.
fn snapshot(d: &Dev) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = d.cells();
    files.push(d.root.join("clef.yaml"));
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// One line on stderr, nothing on stdout, no value.
#[track_caller]
fn one_line_failure(o: &Output, needles: &[&str]) -> String {
    assert!(!o.status.success(), "expected a failure");
    assert!(o.stdout.is_empty(), "no output on failure");
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("s3cr3t"), "no value in: {err}");
    for n in needles {
        assert!(err.contains(n), "'{n}' in: {err}");
    }
    err
}

const PROD: &str = "secrets/api/prod.enc.yaml";
const DEV: &str = "secrets/api/dev.enc.yaml";

#[test]
fn init_with_awskms_seals_every_cell_with_the_key_and_the_break_glass_recipient() {
    let Some(k) = Kms::new() else { return };
    let arn = k.moto.create_key();
    let glass = TestKey::new(k.w.dir.path(), "glass.txt");
    let d = k.w.dev("alice");
    k.ok(
        &d,
        &[
            "init",
            "--namespaces",
            "api",
            "--environments",
            "dev,prod",
            "--backend",
            "awskms",
            "--aws-kms-arn",
            &arn,
            "--break-glass",
            &glass.recipient,
        ],
    );
    let manifest = read(&d, "clef.yaml");
    assert!(manifest.contains("default_backend: awskms"), "{manifest}");
    assert!(manifest.contains(&format!("aws_kms_arn: {arn}")));
    k.ok(&d, &["set", "api/prod", "DB_PASSWORD", "s3cr3t-prod"]);
    assert_eq!(k.ok(&d, &["get", "api/prod", "DB_PASSWORD"]), "s3cr3t-prod");
    let cell = read(&d, PROD);
    assert!(cell.contains(&format!("- arn: {arn}")), "{cell}");
    assert!(cell.contains(&glass.recipient), "break-glass stanza");
    assert!(
        !cell.contains(&d.recipient()),
        "no developer age key in a KMS cell"
    );
    // the real sops opens it through KMS alone, and with the break-glass key alone
    assert_eq!(k.oracle(&d, PROD, None), "DB_PASSWORD: s3cr3t-prod\n");
    let mut c = d.cmd(sops_bin().unwrap());
    c.env("SOPS_AGE_KEY_FILE", &glass.file)
        .env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
        .args(["decrypt", PROD]);
    assert_eq!(
        String::from_utf8(ok(run(c))).unwrap(),
        "DB_PASSWORD: s3cr3t-prod\n",
        "break-glass alone, KMS unreachable"
    );
    // plain sops run in the repository seals a new prod file for the same
    // readers, from the .sops.yaml clef keeps in step with clef.yaml
    let mut c = k.cmd(&d, sops_bin().unwrap());
    c.args([
        "encrypt",
        "--input-type",
        "yaml",
        "--filename-override",
        PROD,
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn sops");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"K: v\n").expect("stdin");
    let theirs = child.wait_with_output().expect("sops");
    assert!(
        theirs.status.success(),
        "plain sops: {}\n{}",
        stderr(&theirs),
        read(&d, ".sops.yaml")
    );
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    assert!(theirs.contains(&format!("- arn: {arn}")), "{theirs}");
    assert!(theirs.contains(&glass.recipient), "{theirs}");
    assert!(!theirs.contains(&d.recipient()), "{theirs}");
    // lint agrees with the manifest
    let lint = k.clef(&d, &["lint"]);
    assert!(lint.status.success(), "{}", stderr(&lint));
    // a missing flag is one clear line
    let e = k.w.dev("bob");
    let o = k.clef(&e, &["init", "--namespaces", "api", "--backend", "awskms"]);
    one_line_failure(&o, &["--aws-kms-arn"]);
}

#[test]
fn migrate_backend_moves_an_environment_to_kms_and_back_and_sops_reads_every_step() {
    let Some(k) = Kms::new() else { return };
    let (arn, d) = k.key_and_age_repo("alice");
    // a comment in clef.yaml must survive the edit
    let m =
        read(&d, "clef.yaml").replace("namespaces:\n", "# the team's namespaces\nnamespaces:\n");
    std::fs::write(d.root.join("clef.yaml"), m).unwrap();
    for (key, v) in [
        ("ZED", "s3cr3t-z"),
        ("ALPHA", "s3cr3t-a"),
        ("MID", "s3cr3t-m"),
    ] {
        k.ok(&d, &["set", "api/prod", key, v]);
        k.ok(&d, &["set", "api/dev", key, v]);
    }
    commit(&k, &d, "base");
    let plain = "ZED: s3cr3t-z\nALPHA: s3cr3t-a\nMID: s3cr3t-m\n";
    let id = d.identity();

    // dry run: says what, writes nothing, calls no KMS
    let before = snapshot(&d);
    let out = stderr(&k.clef(
        &d,
        &[
            "migrate-backend",
            "--aws-kms-arn",
            &arn,
            "-e",
            "prod",
            "--dry-run",
        ],
    ));
    assert!(out.contains("would migrate api/prod"), "{out}");
    assert!(!out.contains("api/dev"), "{out}");
    assert_eq!(snapshot(&d), before);

    k.ok(
        &d,
        &[
            "migrate-backend",
            "--aws-kms-arn",
            &arn,
            "--environment",
            "prod",
        ],
    );
    let cell = read(&d, PROD);
    assert!(cell.contains(&format!("- arn: {arn}")), "{cell}");
    assert!(!cell.contains("age1"), "no age stanza left: {cell}");
    assert_eq!(
        k.oracle(&d, PROD, None),
        plain,
        "sops through KMS, key order kept"
    );
    assert_eq!(k.oracle(&d, DEV, Some(&id)), plain, "dev untouched");
    assert_eq!(
        read(&d, DEV),
        String::from_utf8(before[0].1.clone()).unwrap()
    );
    let m = read(&d, "clef.yaml");
    assert!(m.contains("# the team's namespaces"), "{m}");
    assert!(m.contains("backend: awskms") && m.contains(&arn), "{m}");
    // clef's .sops.yaml follows, so plain sops seals new prod files for KMS
    assert!(read(&d, ".sops.yaml").contains(&arn));
    assert!(k.clef(&d, &["lint"]).status.success());
    assert_eq!(k.ok(&d, &["get", "api/prod", "ALPHA"]), "s3cr3t-a");
    // a new value goes in under KMS
    k.ok(&d, &["set", "api/prod", "NEW", "s3cr3t-n"]);
    assert!(read(&d, PROD).contains(&arn));

    // and back to age
    k.ok(&d, &["migrate-backend", "--age", "-e", "prod"]);
    let cell = read(&d, PROD);
    assert!(!cell.contains("arn:aws:kms"), "{cell}");
    assert_eq!(
        k.oracle(&d, PROD, Some(&id)),
        format!("{plain}NEW: s3cr3t-n\n")
    );
    let m = read(&d, "clef.yaml");
    assert!(!m.contains(&arn), "{m}");
    assert!(!read(&d, ".sops.yaml").contains(&arn));
    assert!(k.clef(&d, &["lint"]).status.success());
}

#[test]
fn migrate_backend_with_kms_unreachable_or_refusing_says_so_and_writes_nothing() {
    let Some(k) = Kms::new() else { return };
    let (arn, d) = k.key_and_age_repo("alice");
    k.ok(&d, &["set", "api/prod", "K", "s3cr3t-1"]);
    let before = snapshot(&d);

    // unreachable: a closed port
    let mut c = k.cmd(&d, bin("clef"));
    c.env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
        .env("CLEF_KMS_TIMEOUT", "3")
        .args(["migrate-backend", "--aws-kms-arn", &arn, "-e", "prod"]);
    let o = run(c);
    one_line_failure(&o, &[&arn, "nothing was written"]);
    assert_eq!(snapshot(&d), before);

    // refused: a disabled key
    let off = k.moto.create_key();
    k.moto.disable_key(&off);
    let o = k.clef(
        &d,
        &["migrate-backend", "--aws-kms-arn", &off, "-e", "prod"],
    );
    one_line_failure(&o, &[&off, "Disabled", "nothing was written"]);
    assert_eq!(snapshot(&d), before);

    // refused: a key that does not exist
    let gone = arn.replace(
        arn.rsplit('/').next().unwrap(),
        "00000000-0000-0000-0000-000000000000",
    );
    let o = k.clef(
        &d,
        &["migrate-backend", "--aws-kms-arn", &gone, "-e", "prod"],
    );
    one_line_failure(&o, &[&gone, "NotFoundException"]);
    assert_eq!(snapshot(&d), before);
}

/// A KMS repository: `prod` on `arn`, dev on age; one committed value each.
fn kms_repo(k: &Kms, arn: &str) -> Dev {
    let d = k.w.dev("alice");
    k.ok(
        &d,
        &["init", "--namespaces", "api", "--environments", "dev,prod"],
    );
    k.ok(&d, &["set", "api/prod", "BASE", "s3cr3t-b"]);
    k.ok(&d, &["migrate-backend", "--aws-kms-arn", arn, "-e", "prod"]);
    commit(k, &d, "base");
    d
}

#[test]
fn a_merge_of_kms_cells_under_git_unwraps_with_kms() {
    let Some(k) = Kms::new() else { return };
    let arn = k.moto.create_key();
    let d = kms_repo(&k, &arn);
    ok(k.git(&d, &["checkout", "-q", "-b", "feature"]));
    k.ok(&d, &["set", "api/prod", "THEIRS", "s3cr3t-t"]);
    commit(&k, &d, "theirs");
    ok(k.git(&d, &["checkout", "-q", "main"]));
    k.ok(&d, &["set", "api/prod", "OURS", "s3cr3t-o"]);
    commit(&k, &d, "ours");
    let m = k.git(&d, &["merge", "--no-edit", "feature"]);
    assert!(m.status.success(), "{}", stderr(&m));
    assert_eq!(
        k.oracle(&d, PROD, None),
        "BASE: s3cr3t-b\nOURS: s3cr3t-o\nTHEIRS: s3cr3t-t\n"
    );
    assert!(read(&d, PROD).contains(&arn));
}

#[test]
fn hook_and_merge_driver_refuse_a_branch_that_adds_a_foreign_kms_key() {
    let Some(k) = Kms::new() else { return };
    let arn = k.moto.create_key();
    let evil = k.moto.create_key();
    let d = kms_repo(&k, &arn);
    ok(k.git(&d, &["checkout", "-q", "-b", "evil"]));
    // the attacker's own sops adds their KMS key to the cell (same data key)
    let forge = d.home.join("forge");
    std::fs::create_dir_all(&forge).unwrap();
    let f = forge.join("prod.enc.yaml");
    std::fs::copy(d.root.join(PROD), &f).unwrap();
    let mut c = k.cmd(&d, sops_bin().unwrap());
    c.current_dir(&forge)
        .args(["rotate", "-i", "--add-kms", &evil])
        .arg(&f);
    let o = run(c);
    assert!(o.status.success(), "forging: {}", stderr(&o));
    std::fs::copy(&f, d.root.join(PROD)).unwrap();
    assert!(read(&d, PROD).contains(&evil));

    // the pre-commit hook refuses it
    ok(k.git(&d, &["add", PROD]));
    let o = k.git(&d, &["commit", "-q", "-m", "add a reader"]);
    assert!(!o.status.success(), "the hook refuses");
    let err = stderr(&o);
    assert!(
        err.contains(&evil) && err.contains("does not grant"),
        "{err}"
    );
    // committed anyway (--no-verify): the merge driver refuses it
    ok(k.git(&d, &["commit", "-q", "--no-verify", "-m", "add a reader"]));
    ok(k.git(&d, &["checkout", "-q", "main"]));
    k.ok(&d, &["set", "api/prod", "OURS", "s3cr3t-o"]);
    commit(&k, &d, "ours");
    let m = k.git(&d, &["merge", "--no-edit", "evil"]);
    assert!(!m.status.success(), "the merge is refused");
    let err = stderr(&m);
    assert!(err.contains(&evil), "{err}");
    let _ = k.git(&d, &["merge", "--abort"]);
    assert!(!read(&d, PROD).contains(&evil));
}

#[test]
fn doctor_probes_the_kms_key() {
    let Some(k) = Kms::new() else { return };
    let arn = k.moto.create_key();
    let d = kms_repo(&k, &arn);
    let all = |o: &Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    let out = all(&k.clef(&d, &["doctor"]));
    assert!(
        out.contains(&arn) && out.contains("Encrypt and Decrypt allowed"),
        "{out}"
    );
    k.moto.disable_key(&arn);
    let o = k.clef(&d, &["doctor"]);
    assert!(!o.status.success());
    let out = all(&o);
    assert!(
        out.contains(&arn) && out.contains("DisabledException"),
        "{out}"
    );
}

#[test]
fn reset_switches_an_environment_to_kms_and_back_without_decrypting() {
    let Some(k) = Kms::new() else { return };
    let arn = k.moto.create_key();
    let d = k.w.dev("alice");
    k.ok(
        &d,
        &[
            "init",
            "--namespaces",
            "api,web",
            "--environments",
            "dev,prod",
        ],
    );
    k.ok(&d, &["set", "api/prod", "DB_PASSWORD", "s3cr3t-old"]);
    k.ok(&d, &["set", "api/dev", "DB_PASSWORD", "s3cr3t-dev"]);
    commit(&k, &d, "base");
    let before = snapshot(&d);
    let sops_yaml = read(&d, ".sops.yaml");
    const WEB: &str = "secrets/web/prod.enc.yaml";

    // Bad input: one line, nothing written.
    // The override covers all of prod, but web/prod is outside the scope.
    let o = k.clef(
        &d,
        &[
            "reset",
            "--cell",
            "api/prod",
            "--aws-kms-arn",
            &arn,
            "--yes",
        ],
    );
    one_line_failure(&o, &["web/prod", "--env", "nothing was written"]);
    assert_eq!(snapshot(&d), before);
    let o = k.clef(
        &d,
        &[
            "reset",
            "--env",
            "prod",
            "--azure-kv-url",
            "https://v.vault.azure.net/keys/k",
            "--yes",
        ],
    );
    one_line_failure(&o, &["--azure-kv-url", "age, AWS KMS and GCP KMS only"]);
    let o = k.clef(
        &d,
        &[
            "reset",
            "--env",
            "prod",
            "--aws-kms-arn",
            &arn,
            "--age",
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    // A disabled key and a key that does not exist: named, with AWS's code.
    let off = k.moto.create_key();
    k.moto.disable_key(&off);
    let o = k.clef(
        &d,
        &["reset", "--env", "prod", "--aws-kms-arn", &off, "--yes"],
    );
    one_line_failure(&o, &[&off, "Disabled", "nothing was written"]);
    let gone = arn.replace(
        arn.rsplit('/').next().unwrap(),
        "00000000-0000-0000-0000-000000000000",
    );
    let o = k.clef(
        &d,
        &["reset", "--env", "prod", "--aws-kms-arn", &gone, "--yes"],
    );
    one_line_failure(&o, &[&gone, "NotFoundException"]);
    assert_eq!(snapshot(&d), before);
    assert_eq!(read(&d, ".sops.yaml"), sops_yaml);
    // The dry run says what, writes nothing.
    let to_kms = |last: &str| {
        k.ok(
            &d,
            &[
                "reset",
                "--env",
                "prod",
                "--aws-kms-arn",
                &arn,
                "--keys",
                "DB_PASSWORD",
                last,
            ],
        )
    };
    let plan = to_kms("--dry-run");
    assert!(
        plan.contains(&format!("clef.yaml: environment 'prod' -> kms {arn}"))
            && plan.contains("2 cell(s) would be reset"),
        "{plan}"
    );
    assert_eq!(snapshot(&d), before);

    // Disaster: no identity at hand. prod is reset onto the KMS key.
    let id = d.identity();
    let away = id.with_extension("away");
    std::fs::rename(&id, &away).unwrap();
    let out = to_kms("--yes");
    std::fs::rename(&away, &id).unwrap();
    assert!(
        out.contains("reset 2 cell(s); 2 pending placeholder(s)")
            && out.contains("updated clef.yaml"),
        "{out}"
    );
    let m = read(&d, "clef.yaml");
    assert!(m.contains("backend: awskms") && m.contains(&arn), "{m}");
    for cell in [PROD, WEB] {
        let text = read(&d, cell);
        assert!(text.contains(&format!("- arn: {arn}")), "{text}");
        assert!(!text.contains(&d.recipient()), "the access list: {text}");
        // the real sops, through moto, with no age key at all
        let plain = k.oracle(&d, cell, None);
        let v = plain.strip_prefix("DB_PASSWORD: ").unwrap_or("").trim();
        assert!(
            v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()),
            "{cell}: a 64-hex placeholder: {plain}"
        );
    }
    assert_eq!(
        read(&d, DEV),
        String::from_utf8(before[0].1.clone()).unwrap()
    );
    assert_eq!(k.oracle(&d, DEV, Some(&id)), "DB_PASSWORD: s3cr3t-dev\n");
    let side = read(&d, "secrets/api/prod.clef-meta.yaml");
    assert!(side.contains("setBy: clef reset"), "{side}");
    // clef's .sops.yaml follows clef.yaml; lint agrees (pending is a warning).
    assert!(read(&d, ".sops.yaml").contains(&arn));
    let lint = k.clef(&d, &["lint"]);
    assert!(lint.status.success(), "{}", stderr(&lint));
    k.ok(&d, &["set", "api/prod", "DB_PASSWORD", "s3cr3t-new"]);
    assert_eq!(k.oracle(&d, PROD, None), "DB_PASSWORD: s3cr3t-new\n");
    commit(&k, &d, "reset prod onto KMS");

    // And back to age, for the recipients clef.yaml lists.
    k.ok(&d, &["reset", "--env", "prod", "--age", "--yes"]);
    let m = read(&d, "clef.yaml");
    assert!(!m.contains(&arn), "{m}");
    for cell in [PROD, WEB] {
        let text = read(&d, cell);
        assert!(!text.contains("arn:aws:kms"), "{text}");
        assert!(text.contains(&d.recipient()), "{text}");
    }
    assert!(!read(&d, ".sops.yaml").contains(&arn));
    assert!(k.clef(&d, &["lint"]).status.success());
    d.oracle_decrypts_all();
}
