//! The `clef-merge` binary's protocol: exit codes, `%A` handling, labels,
//! marker size, format from `%P` only, refusals.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod common;

use clef_sops::{CryptRule, Format, KeyGroup};
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tmp() -> Dir {
    let d = std::env::temp_dir().join(format!(
        "clef-merge-bin-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("mkdir");
    Dir(d)
}

/// Writes the sides as git does (extensionless temp names) and runs the driver.
fn drive(
    dir: &Path,
    o: &[u8],
    a: &[u8],
    b: &[u8],
    extra: &[&str],
    key: bool,
) -> (i32, Vec<u8>, String) {
    fs::write(dir.join(".merge_file_O1"), o).expect("write");
    fs::write(dir.join(".merge_file_A1"), a).expect("write");
    fs::write(dir.join(".merge_file_B1"), b).expect("write");
    let mut c = driver(dir);
    c.args([".merge_file_O1", ".merge_file_A1", ".merge_file_B1"])
        .args(extra);
    if key {
        c.env("SOPS_AGE_KEY_FILE", key_file(1));
    }
    let out = c.output().expect("spawn");
    let code = out.status.code().unwrap_or(-1);
    let result = fs::read(dir.join(".merge_file_A1")).expect("read %A");
    (
        code,
        result,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `clef-merge` binary, run in `dir` with a clean environment and no stdin.
fn driver(dir: &Path) -> std::process::Command {
    let mut c = clef_e2e::clean_cmd(Path::new(env!("CARGO_BIN_EXE_clef-merge")), dir);
    c.current_dir(dir).stdin(std::process::Stdio::null());
    c
}

/// `--path` [`P`], `--marker-size SIZE` and `--labels BASE OURS THEIRS`.
fn labelled<'a>(size: &'a str, [base, ours, theirs]: [&'a str; 3]) -> [&'a str; 8] {
    [
        P[0],
        P[1],
        "--marker-size",
        size,
        "--labels",
        base,
        ours,
        theirs,
    ]
}

fn sides() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ids = ids(&[1]);
    let b = encrypt_new("a: canary-a\nb: canary-b\n", Format::Yaml, &[R1]);
    let o = edit(&b, "a: canary-a2\nb: canary-b\n", Format::Yaml, &ids);
    let t = edit(&b, "a: canary-a\nb: canary-b3\n", Format::Yaml, &ids);
    (b, o, t)
}

const P: [&str; 2] = ["--path", "secrets/dev.enc.yaml"];

fn no_leftovers(dir: &Path) {
    let names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".merge_file_"))
        .collect();
    assert!(names.is_empty(), "stray files: {names:?}");
}

#[test]
fn clean_merge_exits_0_and_replaces_a() {
    let d = tmp();
    let (b, o, t) = sides();
    let args = labelled("7", ["base", "HEAD", "feat"]);
    let (code, out, err) = drive(&d.0, &b, &o, &t, &args, true);
    assert_eq!(code, 0, "{err}");
    let p = decrypt(&out, Format::Yaml, &ids(&[1]));
    assert_eq!(
        format!("{:?}", p.docs[0].keys().collect::<Vec<_>>()),
        "[\"a\", \"b\"]"
    );
    assert!(!String::from_utf8_lossy(&out).contains("canary"));
    assert!(!err.contains("canary"));
    no_leftovers(&d.0);
}

#[test]
fn conflict_exits_1_with_labelled_markers_of_the_given_size() {
    let d = tmp();
    let ids = ids(&[1]);
    let (b, _, _) = sides();
    let o = edit(&b, "a: canary-o\nb: canary-b\n", Format::Yaml, &ids);
    let t = edit(&b, "a: canary-t\nb: canary-b\n", Format::Yaml, &ids);
    let args = labelled("9", ["parent of x", "HEAD", "x (subj)"]);
    let (code, out, err) = drive(&d.0, &b, &o, &t, &args, true);
    assert_eq!(code, 1, "{err}");
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.contains("<<<<<<<<< HEAD\n") && text.contains("||||||||| parent of x\n"),
        "{text}"
    );
    assert!(text.contains("=========\n") && text.contains(">>>>>>>>> x (subj)\n"));
    assert!(!text.contains("canary") && !err.contains("canary"));
    assert!(err.contains("a  (changed on both sides)"), "{err}");
    // git < 2.44: literal placeholders become generic labels.
    let args = labelled("%L", ["%S", "%X", "%Y"]);
    let (code, out, _) = drive(&d.0, &b, &o, &t, &args, true);
    assert_eq!(code, 1);
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.contains("<<<<<<< ours\n")
            && text.contains("||||||| base\n")
            && text.contains(">>>>>>> theirs\n"),
        "{text}"
    );
    no_leftovers(&d.0);
}

#[test]
fn refusals_exit_129_and_leave_a_untouched() {
    let d = tmp();
    let (b, o, t) = sides();
    let check = |args: &[&str], o_in: &[u8], a_in: &[u8], b_in: &[u8], key: bool, why: &str| {
        let (code, out, err) = drive(&d.0, o_in, a_in, b_in, args, key);
        assert_eq!(code, 129, "{why}: {err}");
        assert_eq!(out, a_in, "{why}: %A must be untouched");
        assert!(!err.contains("canary"), "{why}: {err}");
        err
    };
    check(&[], &b, &o, &t, true, "no --path");
    check(
        &["--path", "secrets/dev.enc.txt"],
        &b,
        &o,
        &t,
        true,
        "unknown format",
    );
    check(&["--bogus"], &b, &o, &t, true, "unknown option");
    let err = check(&P, &b, &o, &t, false, "no identity");
    assert!(err.contains(R1), "names the recipients: {err}");
    // A tampered side (MAC no longer matches).
    let tampered = String::from_utf8(t.clone()).expect("utf8").replacen(
        "lastmodified: \"20",
        "lastmodified: \"19",
        1,
    );
    check(&P, &b, &o, tampered.as_bytes(), true, "bad MAC");
    // Markers already present.
    let mut marked = o.clone();
    marked.extend_from_slice(b"<<<<<<< HEAD\n");
    check(&P, &b, &marked, &t, true, "markers");
    // Plaintext where a sops file is expected.
    check(&P, &b, b"a: canary-plain\n", &t, true, "not encrypted");
    // Different encryption rules on the two sides.
    let other_rule = encrypt_with(
        "a: canary-a\nb: canary-b3\n",
        Format::Yaml,
        vec![KeyGroup::of_recipients(&[R1])],
        0,
        CryptRule::EncryptedRegex("^a$".into()),
    );
    let err = check(&P, &b, &o, &other_rule, true, "crypt rule");
    assert!(err.contains("encryption rules"), "{err}");
    no_leftovers(&d.0);
}

#[test]
fn format_comes_from_path_not_content() {
    let d = tmp();
    let ids = ids(&[1]);
    // dotenv sides, merged because %P says .env.
    let b = encrypt_new("A=canary-1\nB=canary-2\n", Format::Dotenv, &[R1]);
    let o = edit(&b, "A=canary-1x\nB=canary-2\n", Format::Dotenv, &ids);
    let t = edit(
        &b,
        "A=canary-1\nB=canary-2\nC=canary-3\n",
        Format::Dotenv,
        &ids,
    );
    let (code, out, err) = drive(&d.0, &b, &o, &t, &["--path", "deploy/prod.enc.env"], true);
    assert_eq!(code, 0, "{err}");
    let p = decrypt(&out, Format::Dotenv, &ids);
    assert_eq!(p.docs[0].keys().collect::<Vec<_>>(), ["A", "B", "C"]);
    // The same bytes under a .json path are refused, not sniffed.
    let (code, out, _) = drive(&d.0, &b, &o, &t, &["--path", "deploy/prod.enc.json"], true);
    assert_eq!(code, 129);
    assert_eq!(out, o);
}

#[test]
fn empty_base_is_add_add() {
    let d = tmp();
    let o = encrypt_new("shared: canary-s\nx: canary-x\n", Format::Yaml, &[R1]);
    let t = encrypt_new("shared: canary-s\ny: canary-y\n", Format::Yaml, &[R1, R2]);
    let (code, out, err) = drive(&d.0, b"", &o, &t, &P, true);
    assert_eq!(code, 0, "{err}");
    let p = decrypt(&out, Format::Yaml, &ids(&[1]));
    assert_eq!(p.docs[0].keys().collect::<Vec<_>>(), ["shared", "x", "y"]);
    // Theirs' recipient was added and wrapped for ours' (kept) data key.
    assert!(parse(&out, Format::Yaml).decrypt(&ids(&[2])).is_ok());
}

#[test]
fn sidecar_dispatch_is_by_path() {
    let d = tmp();
    let side = |at: &str, by: &str, n: u32| {
        format!(
            "# Managed by Clef. Do not edit manually.\nversion: 1\npending: []\nrotations:\n  - key: K\n    last_rotated_at: {at}\n    rotated_by: {by}\n    rotation_count: {n}\n"
        )
    };
    let b = side("2026-01-01T00:00:00Z", "B", 1);
    let o = side("2026-02-01T00:00:00Z", "O", 2);
    let t = side("2026-01-15T00:00:00Z", "T", 2);
    let (code, out, err) = drive(
        &d.0,
        b.as_bytes(),
        o.as_bytes(),
        t.as_bytes(),
        &["--path", "secrets/dev.clef-meta.yaml"],
        false,
    );
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8(out).expect("utf8");
    assert!(
        out.contains("rotated_by: O") && out.contains("rotation_count: 3"),
        "{out}"
    );
    assert!(out.starts_with("# Managed by Clef."), "{out}");
}

#[test]
fn more_refusals() {
    let d = tmp();
    let (b, o, _) = sides();
    let run = |args: &[&str], o_in: &[u8], a_in: &[u8], b_in: &[u8]| {
        let (code, out, err) = drive(&d.0, o_in, a_in, b_in, args, true);
        assert_eq!(code, 129, "{err}");
        assert_eq!(out, a_in);
        err
    };
    // Not UTF-8.
    run(&P, &b, &o, b"\xff\xfe\x00binary");
    // Different numbers of YAML documents.
    let ids = ids(&[1]);
    let two = edit(&b, "a: canary-a\n---\nb: canary-b\n", Format::Yaml, &ids);
    let err = run(&P, &b, &o, &two);
    assert!(err.contains("documents"), "{err}");
    // A malformed sidecar is refused, not dropped.
    let err = run(
        &["--path", "x.clef-meta.yaml"],
        b"version: 1\n",
        b"version: 1\nrotations: nope\n",
        b"version: 1\n",
    );
    assert!(err.contains("rotations"), "{err}");
    // A missing input file.
    fs::write(d.0.join(".merge_file_A1"), &o).expect("write");
    let out = driver(&d.0)
        .env("SOPS_AGE_KEY_FILE", key_file(1))
        .args([
            ".merge_file_O1",
            ".merge_file_A1",
            ".missing",
            "--path",
            "s.enc.yaml",
        ])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(129));
    // An identity file that is not one.
    fs::write(d.0.join("bad-key.txt"), "not a key\n").expect("write");
    let out = driver(&d.0)
        .env("SOPS_AGE_KEY_FILE", d.0.join("bad-key.txt"))
        .args([
            ".merge_file_O1",
            ".merge_file_A1",
            ".merge_file_B1",
            "--path",
            "s.enc.yaml",
        ])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(129));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not a key"));
    // resolve on a file that is not a conflict document.
    let err = clef_merge::resolve(&o, Format::Yaml, &ids, &clef_merge::Choice::default())
        .expect_err("not a conflict");
    assert!(matches!(err, clef_merge::ResolveError::NotConflictDocument));
}
