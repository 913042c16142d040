//! The access list (clef.yaml) is enforced wherever a data key is wrapped or
//! accepted. Each test is one attack from issue 10, played through real git,
//! the built binaries and (when installed) the real sops: a cell's `sops`
//! block is not covered by the MAC, so a branch can edit it freely.

use std::path::{Path, PathBuf};

use crate::cli_support::{Dev, World, stderr};
use clef_e2e::{TestKey, bin, ok, run, sops_bin};

const CELL: &str = "secrets/api/dev.enc.yaml";

/// A repository by alice with `api` × `dev, prod`, one value, committed.
fn repo(w: &World) -> Dev {
    let d = w.dev("alice");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev,prod"]);
    d.ok(&["set", "api/dev", "DB_PASSWORD", "base-password-0001"]);
    d.ok(&["set", "api/prod", "DB_PASSWORD", "prod-password-0001"]);
    commit(&d, "base");
    d
}

fn commit(d: &Dev, msg: &str) {
    ok(d.git(&["add", "-A"]));
    ok(d.git(&["commit", "-q", "--no-verify", "-m", msg]));
}

/// An outsider: an age identity in a directory of its own.
fn outsider(w: &World, name: &str) -> TestKey {
    let dir = w.dir.path().join(format!("{name}-keys"));
    std::fs::create_dir_all(&dir).unwrap();
    TestKey::new(&dir, "key.txt")
}

/// Whether `key` alone decrypts `bytes` (a cell), decrypting far from any
/// repository so that no other identity is found.
fn can_read(w: &World, key: &TestKey, bytes: &[u8]) -> bool {
    let home = w.dir.path().join("reader");
    std::fs::create_dir_all(&home).unwrap();
    let f = home.join("cell.enc.yaml");
    std::fs::write(&f, bytes).unwrap();
    let mut c = clef_e2e::clean_cmd(&bin("clef"), &home);
    c.current_dir(&home)
        .env("SOPS_AGE_KEY_FILE", &key.file)
        .args(["sops", "decrypt"])
        .arg(&f);
    run(c).status.success()
}

fn cell_bytes(d: &Dev, rel: &str) -> Vec<u8> {
    std::fs::read(d.root.join(rel)).unwrap()
}

/// The attacker's own sops (the real one when installed, else `clef sops`)
/// run in a directory outside the repository (so no clef.yaml governs it).
fn attacker_sops(d: &Dev, args: &[&str], file: &Path) -> std::process::Output {
    let dir = file.parent().unwrap();
    let prog: PathBuf = sops_bin().unwrap_or_else(|| bin("clef"));
    let mut c = d.cmd(&prog);
    if sops_bin().is_none() {
        c.arg("sops");
    }
    c.current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", d.identity())
        .args(args)
        .arg(file);
    let o = run(c);
    assert!(o.status.success(), "forging failed: {}", stderr(&o));
    o
}

fn forge_dir(d: &Dev) -> PathBuf {
    let dir = d.home.join("forge");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `sops ARGS` on a copy of the cell and puts the result back in place.
fn forge(d: &Dev, rel: &str, args: &[&str]) {
    let f = forge_dir(d).join(Path::new(rel).file_name().unwrap());
    std::fs::copy(d.root.join(rel), &f).unwrap();
    attacker_sops(d, args, &f);
    std::fs::copy(&f, d.root.join(rel)).unwrap();
}

/// `sops encrypt EXTRA` of `plain`, written as the cell at `rel`.
fn forge_new(d: &Dev, rel: &str, plain: &str, extra: &[&str]) {
    let f = forge_dir(d).join("new.yaml");
    std::fs::write(&f, plain).unwrap();
    let args: Vec<&str> = std::iter::once("encrypt")
        .chain(extra.iter().copied())
        .collect();
    let o = attacker_sops(d, &args, &f);
    std::fs::write(d.root.join(rel), o.stdout).unwrap();
}

/// The merge failed, naming `who` and `word` (and git kept what it had).
fn assert_refused(m: &std::process::Output, who: &str, word: &str) {
    assert!(!m.status.success(), "the merge is refused");
    let err = stderr(m);
    assert!(err.contains(who) && err.contains(word), "{err}");
}

/// Adds an age stanza for `recipient` with junk in `enc` (no key material
/// needed) to the cell's `sops.age` list.
fn add_junk_stanza(d: &Dev, rel: &str, recipient: &str) {
    let text = String::from_utf8(cell_bytes(d, rel)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "age:")
        .expect("sops.age");
    let item = lines[at + 1];
    let indent = &item[..item.len() - item.trim_start().len()];
    let mut out: Vec<String> = lines[..=at].iter().map(|s| (*s).to_owned()).collect();
    out.push(format!("{indent}- recipient: {recipient}"));
    out.push(format!("{indent}  enc: junk"));
    out.extend(lines[at + 1..].iter().map(|s| (*s).to_owned()));
    std::fs::write(d.root.join(rel), out.join("\n") + "\n").unwrap();
}

fn merge(d: &Dev, branch: &str) -> std::process::Output {
    d.git(&["merge", "--no-edit", branch])
}

#[test]
fn merge_never_wraps_a_rotated_data_key_for_a_recipient_a_branch_added_to_the_cell() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    ok(d.git(&["checkout", "-q", "-b", "evil"]));
    add_junk_stanza(&d, CELL, &eve.recipient);
    commit(&d, "innocent-looking change");
    ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["rotate", "api/dev"]);
    d.ok(&["set", "api/dev", "API_TOKEN", "new-token-after-rotation"]);
    commit(&d, "rotate");

    let m = merge(&d, "evil");
    assert!(m.status.success(), "{}", stderr(&m));
    let merged = cell_bytes(&d, CELL);
    assert!(
        !String::from_utf8_lossy(&merged).contains(&eve.recipient),
        "the outsider's stanza was dropped"
    );
    assert!(!can_read(&w, &eve, &merged), "eve cannot read the new key");
    assert_eq!(
        d.ok(&["get", "api/dev", "API_TOKEN"]),
        "new-token-after-rotation"
    );
    assert!(d.ok(&["lint"]).contains("0 errors"));
    d.oracle_decrypts_all();
}

#[test]
fn merge_refuses_a_branch_that_adds_the_same_new_cell_for_an_outsider() {
    let w = World::new();
    let d = w.dev("alice");
    d.ok(&["init", "--namespaces", "api", "--environments", "dev"]);
    std::fs::remove_file(d.root.join(CELL)).unwrap();
    commit(&d, "base without the cell");
    let eve = outsider(&w, "eve");
    ok(d.git(&["checkout", "-q", "-b", "evil"]));
    let both = format!("{},{}", d.recipient(), eve.recipient);
    forge_new(&d, CELL, "SHARED: from-the-branch\n", &["--age", &both]);
    commit(&d, "add the cell");
    ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["set", "api/dev", "DB_PASSWORD", "main-password-77777"]);
    commit(&d, "add the cell on main");

    assert_refused(&merge(&d, "evil"), &eve.recipient, "does not grant");
    assert!(!can_read(&w, &eve, &cell_bytes(&d, CELL)));
}

#[test]
fn merge_refuses_a_branch_that_re_encrypted_the_cell_for_an_outsider() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    ok(d.git(&["checkout", "-q", "-b", "evil"]));
    let plain = d.ok(&["sops", "decrypt", CELL]);
    let both = format!("{},{}", d.recipient(), eve.recipient);
    forge_new(&d, CELL, &plain, &["--age", &both]);
    commit(&d, "reformat");
    ok(d.git(&["checkout", "-q", "main"]));
    d.ok(&["set", "api/dev", "API_TOKEN", "value-set-on-main-42"]);
    commit(&d, "new value");

    assert_refused(&merge(&d, "evil"), &eve.recipient, "theirs");
    assert!(
        !can_read(&w, &eve, &cell_bytes(&d, CELL)),
        "ours' new values were not moved under theirs' key"
    );
}

#[test]
fn recipients_remove_rotates_every_cell_a_relabelled_stanza_could_read() {
    let w = World::new();
    let d = repo(&w);
    let mallory = outsider(&w, "mallory");
    let bob = outsider(&w, "bob");
    d.ok(&["recipients", "add", &bob.recipient, "--label", "bob"]);
    d.ok(&[
        "recipients",
        "add",
        &mallory.recipient,
        "--label",
        "mallory",
    ]);
    commit(&d, "team");
    // mallory relabels his own stanza as bob's
    for rel in [CELL, "secrets/api/prod.enc.yaml"] {
        let text = String::from_utf8(cell_bytes(&d, rel)).unwrap();
        std::fs::write(
            d.root.join(rel),
            text.replace(&mallory.recipient, &bob.recipient),
        )
        .unwrap();
    }
    commit(&d, "mallory's relabel");
    assert!(can_read(&w, &mallory, &cell_bytes(&d, CELL)));

    let o = d.clef(&["recipients", "remove", &mallory.recipient]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        listed.contains("api/dev: DB_PASSWORD") && listed.contains("api/prod: DB_PASSWORD"),
        "the values mallory could read are listed: {listed}"
    );
    d.ok(&["set", "api/dev", "DB_PASSWORD", "changed-after-removal"]);
    for rel in [CELL, "secrets/api/prod.enc.yaml"] {
        assert!(!can_read(&w, &mallory, &cell_bytes(&d, rel)), "{rel}");
        assert!(can_read(&w, &bob, &cell_bytes(&d, rel)), "{rel}");
    }
    d.oracle_decrypts_all();
}

#[test]
fn recipients_remove_without_e_removes_the_key_from_every_per_environment_list() {
    let w = World::new();
    let d = repo(&w);
    let bob = outsider(&w, "bob");
    let carol = outsider(&w, "carol");
    d.ok(&["recipients", "add", &bob.recipient]);
    // copies the global list (alice, bob) into prod's own list
    d.ok(&["recipients", "add", &carol.recipient, "-e", "prod"]);
    d.ok(&["recipients", "remove", &bob.recipient]);
    let m = std::fs::read_to_string(d.root.join("clef.yaml")).unwrap();
    assert!(!m.contains(&bob.recipient), "{m}");
    d.ok(&["set", "api/prod", "DB_PASSWORD", "prod-after-removal"]);
    let prod = cell_bytes(&d, "secrets/api/prod.enc.yaml");
    assert!(!can_read(&w, &bob, &prod));
    assert!(can_read(&w, &carol, &prod));
    assert!(d.ok(&["lint"]).contains("0 errors"));
}

#[test]
fn set_never_carries_an_outsiders_stanza_into_what_it_writes() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    forge(&d, CELL, &["rotate", "-i", "--add-age", &eve.recipient]);
    assert!(can_read(&w, &eve, &cell_bytes(&d, CELL)));
    let o = d.clef(&["set", "api/dev", "API_TOKEN", "written-after-forgery"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&eve.recipient), "{}", stderr(&o));
    assert!(!can_read(&w, &eve, &cell_bytes(&d, CELL)));
    assert_eq!(
        d.ok(&["get", "api/dev", "DB_PASSWORD"]),
        "base-password-0001"
    );
    d.oracle_decrypts_all();
}

#[test]
fn lint_reports_a_foreign_stanza_as_an_error_and_fix_rekeys_the_cell() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    forge(&d, CELL, &["rotate", "-i", "--add-age", &eve.recipient]);
    let l = d.clef(&["lint"]);
    assert_eq!(l.status.code(), Some(1));
    let out = String::from_utf8_lossy(&l.stdout).into_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("error") && l.contains(&eve.recipient)),
        "{out}"
    );
    let f = d.clef(&["lint", "--fix"]);
    assert!(
        f.status.success(),
        "{}{}",
        String::from_utf8_lossy(&f.stdout),
        stderr(&f)
    );
    assert!(!can_read(&w, &eve, &cell_bytes(&d, CELL)));
    d.oracle_decrypts_all();
}

#[test]
fn lint_reports_a_stanza_relabelled_as_a_teammate_as_an_error() {
    let w = World::new();
    let d = repo(&w);
    let mallory = outsider(&w, "mallory");
    d.ok(&["recipients", "add", &mallory.recipient]);
    let text = String::from_utf8(cell_bytes(&d, CELL)).unwrap();
    std::fs::write(
        d.root.join(CELL),
        text.replace(&mallory.recipient, &d.recipient()),
    )
    .unwrap();
    let l = d.clef(&["lint"]);
    assert_eq!(l.status.code(), Some(1));
    let out = String::from_utf8_lossy(&l.stdout).into_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("error") && l.contains("mislabelled")),
        "{out}"
    );
}

#[test]
fn pre_commit_blocks_a_cell_with_a_recipient_clef_yaml_does_not_grant() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    add_junk_stanza(&d, CELL, &eve.recipient);
    ok(d.git(&["add", CELL]));
    let c = d.git(&["commit", "-q", "-m", "sneak"]);
    assert!(!c.status.success(), "the hook blocks");
    let err = stderr(&c);
    assert!(
        err.contains(&eve.recipient) && err.contains("clef rotate api/dev"),
        "{err}"
    );
}

#[test]
fn pre_commit_blocks_a_cell_whose_own_crypt_rule_leaves_a_token_in_clear() {
    let w = World::new();
    let d = repo(&w);
    let token = "tok_live_0123456789abcdefghij";
    forge_new(
        &d,
        CELL,
        &format!("API_TOKEN: {token}\n"),
        &["--encrypted-regex", "^NOTHING$", "--age", &d.recipient()],
    );
    ok(d.git(&["add", CELL]));
    let c = d.git(&["commit", "-q", "-m", "sneak"]);
    assert!(!c.status.success(), "the hook blocks");
    let err = stderr(&c);
    assert!(err.contains("encrypted_regex"), "{err}");
    assert!(!err.contains(token), "no value in the message");
}

#[test]
fn clef_sops_rotate_and_updatekeys_on_a_cell_follow_clef_yaml() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    let refused = d.clef(&["sops", "rotate", "-i", "--add-age", &eve.recipient, CELL]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("clef recipients add"));
    let refused = d.clef(&[
        "sops",
        "updatekeys",
        "-y",
        "--add-age",
        &eve.recipient,
        CELL,
    ]);
    assert!(!refused.status.success());
    assert!(!can_read(&w, &eve, &cell_bytes(&d, CELL)));

    forge(&d, CELL, &["rotate", "-i", "--add-age", &eve.recipient]);
    d.ok(&["sops", "rotate", "-i", CELL]);
    assert!(!can_read(&w, &eve, &cell_bytes(&d, CELL)));
    forge(&d, CELL, &["rotate", "-i", "--add-age", &eve.recipient]);
    d.ok(&["sops", "updatekeys", "-y", CELL]);
    assert!(!can_read(&w, &eve, &cell_bytes(&d, CELL)));
    assert_eq!(
        d.ok(&["get", "api/dev", "DB_PASSWORD"]),
        "base-password-0001"
    );
    d.oracle_decrypts_all();
}

#[test]
fn clef_sops_groups_add_and_delete_on_a_cell_are_refused_but_work_on_other_sops_files() {
    let w = World::new();
    let d = repo(&w);
    let eve = outsider(&w, "eve");
    let before = cell_bytes(&d, CELL);
    let add = d.clef(&[
        "sops",
        "groups",
        "add",
        "--file",
        CELL,
        "-i",
        "--age",
        &eve.recipient,
    ]);
    assert_eq!(add.status.code(), Some(2), "{}", stderr(&add));
    assert!(
        stderr(&add).contains("clef recipients add"),
        "{}",
        stderr(&add)
    );
    let del = d.clef(&["sops", "groups", "delete", "--file", CELL, "-i", "0"]);
    assert_eq!(del.status.code(), Some(2), "{}", stderr(&del));
    assert_eq!(cell_bytes(&d, CELL), before, "the cell was written");
    assert!(!can_read(&w, &eve, &before));

    // A SOPS file that clef.yaml does not govern keeps sops's semantics.
    let other = d.root.join("other.enc.yaml");
    std::fs::write(d.root.join("other.yaml"), "token: abc\n").unwrap();
    let enc = d.ok(&["sops", "encrypt", "--age", &d.recipient(), "other.yaml"]);
    std::fs::write(&other, enc).unwrap();
    d.ok(&[
        "sops",
        "groups",
        "add",
        "--file",
        "other.enc.yaml",
        "-i",
        "--age",
        &eve.recipient,
    ]);
    // (sops's rule: the new group joins the threshold, so both keys are needed now)
    let text = std::fs::read_to_string(&other).unwrap();
    assert!(text.contains(&eve.recipient), "group added: {text}");
    assert_eq!(text.matches("- recipient:").count(), 2, "{text}");
    assert!(text.contains("shamir_threshold: 2"), "{text}");
}
