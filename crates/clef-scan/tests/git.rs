//! Git modes against real `git` in temporary repositories: `--staged` reads the
//! index (not the work tree), `--range` reads what the commits added,
//! `--history` scans each unique blob once and attributes it to the commit
//! that introduced it, even if a later commit removed it. Also the
//! `clef-git` API that the hooks reuse.
#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixtures and tamper with files directly"
)]

mod common;

use clef_git::{BlobData, DiffScope, Repo};
use common::{AKIA, GHP, STRIPE, Sandbox, assert_only};

fn repo_with_history() -> (Sandbox, String, String) {
    let s = Sandbox::repo_with("README.md", "# demo\n");
    s.write("app.py", format!("import os\nTOKEN = \"{GHP}\"\n"));
    let added = s.commit_all("add token");
    s.write("app.py", "import os\nTOKEN = os.environ[\"TOKEN\"]\n");
    // the same content under another name: one blob, scanned once
    s.write("copy.py", format!("import os\nTOKEN = \"{GHP}\"\n"));
    s.commit_all("remove token from app.py");
    s.git(&["rm", "-q", "copy.py"]);
    let removed = s.commit_all("remove copy");
    (s, added, removed)
}

#[test]
fn staged_scans_the_index_not_the_work_tree() {
    let s = Sandbox::repo_with("a.txt", "nothing\n");
    s.write("config.env", format!("STRIPE_KEY={STRIPE}\n"));
    s.git(&["add", "config.env"]);
    // edited out of the work tree after staging: the commit would still contain it
    s.write("config.env", "STRIPE_KEY=${STRIPE_KEY}\n");
    // a secret only in the work tree (not staged) is not part of the commit
    s.write("a.txt", format!("{GHP}\n"));
    let (code, v) = s.scan_json(&["--staged"]);
    assert_eq!(code, 1, "{v}");
    assert_only(&v, "stripe-secret-key", "config.env", 1);
    // nothing staged: clean
    s.git(&["reset", "-q"]);
    let (code, v) = s.scan_json(&["--staged"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn staged_works_before_the_first_commit_and_honours_clefignore() {
    let s = Sandbox::new();
    s.git_init();
    s.write("k.env", format!("AWS={AKIA}\n"));
    s.write("fixtures/f.env", format!("AWS={AKIA}\n"));
    s.write(".clefignore", "fixtures/\n");
    s.git(&["add", "."]);
    let (code, v) = s.scan_json(&["--staged"]);
    assert_eq!(code, 1);
    assert_only(&v, "aws-access-key-id", "k.env", 1);
}

#[test]
fn history_finds_removed_secrets_once_with_provenance() {
    let (s, added, _) = repo_with_history();
    let (code, v) = s.scan_json(&["--history"]);
    assert_eq!(code, 1, "{v}");
    let f = v["findings"].as_array().expect("findings");
    assert_eq!(f.len(), 1, "one unique blob, one finding: {v}");
    assert_eq!(f[0]["rule"], "github-pat");
    assert_eq!(f[0]["path"], "app.py");
    assert_eq!(f[0]["line"], 2);
    assert_eq!(f[0]["commit"], added.as_str());
    assert_eq!(f[0]["author"], "Ada Tester <ada@example.test>");
    assert_eq!(f[0]["date"], "2026-01-02T03:04:05Z");
    // the work tree is clean
    let (code, _) = s.scan_json(&["."]);
    assert_eq!(code, 0);
}

#[test]
fn history_covers_other_branches_and_tags() {
    let s = Sandbox::repo_with("a.txt", "a\n");
    s.git(&["checkout", "-q", "-b", "feature"]);
    s.write("b.env", format!("AWS={AKIA}\n"));
    s.commit_all("feature secret");
    s.git(&["checkout", "-q", "main"]);
    let (_, v) = s.scan_json(&["--history"]);
    assert_only(&v, "aws-access-key-id", "b.env", 1);
}

#[test]
fn range_scans_only_what_the_range_added() {
    let (s, added, removed) = repo_with_history();
    let first = s.git(&["rev-list", "--max-parents=0", "HEAD"]);
    // before the secret: nothing
    let (code, _) = s.scan_json(&["--range", &format!("{first}..{first}")]);
    assert_eq!(code, 0);
    let (code, v) = s.scan_json(&["--range", &format!("{first}..{removed}")]);
    assert_eq!(code, 1);
    let f = &v["findings"];
    assert_eq!(
        f.as_array().map(Vec::len),
        Some(2),
        "app.py and copy.py blobs at their paths: {v}"
    );
    assert_eq!(f[0]["commit"], added.as_str());
    // a range starting after the secret was added does not see it
    let (code, v) = s.scan_json(&["--range", &format!("{added}..{removed}")]);
    assert_only(&v, "github-pat", "copy.py", 2);
    assert_eq!(code, 1);
    // option injection is refused
    let out = s.scan(&["--range", "--output=x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn history_and_range_scan_the_lines_each_commit_added() {
    let s = Sandbox::new();
    s.git_init();
    let filler: String = (0..60).map(|i| format!("let value_{i} = {i};\n")).collect();
    s.write("app.rs", format!("const A: &str = \"{GHP}\";\n{filler}"));
    let first = s.commit_all("token");
    // a later edit far from the token adds a key; the token's line is kept
    s.write(
        "app.rs",
        format!("const A: &str = \"{GHP}\";\n{filler}let k = \"{AKIA}\";\n"),
    );
    let second = s.commit_all("key");
    // an XML value on the line after its tag: the tag is context, the value is added
    s.write("conf.xml", format!("<config>\n{filler}</config>\n"));
    s.commit_all("xml");
    let secret = "kG7pQ2xZ9vR4mT8nW3cB6yL1hJ5dF0sA";
    s.write(
        "conf.xml",
        format!("<config>\n{filler}<apiToken>\n  {secret}\n</apiToken>\n</config>\n"),
    );
    let third = s.commit_all("xml token");
    // a key added inside a Rust test module is a fixture in history as in
    // the work tree, though the `#[cfg(test)]` line is not among the added
    let tests: String = (0..30).map(|i| format!("    fn t{i}() {{}}\n")).collect();
    s.write(
        "lib.rs",
        format!("pub fn f() {{}}\n#[cfg(test)]\nmod tests {{\n{tests}}}\n"),
    );
    s.commit_all("lib");
    s.write(
        "lib.rs",
        format!("pub fn f() {{}}\n#[cfg(test)]\nmod tests {{\n{tests}    const K: &str = \"{STRIPE}\";\n}}\n"),
    );
    s.commit_all("lib key");
    let (_, v) = s.scan_json(&["--history"]);
    let lib: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["path"] == "lib.rs")
        .collect();
    assert_eq!(lib.len(), 1, "{v}");
    assert_eq!(lib[0]["line"], 34);
    assert_eq!(lib[0]["severity"], "low", "{v}");
    assert_eq!(lib[0]["fixture"], "#[cfg(test)] module", "{v}");

    let (code, v) = s.scan_json(&["--history"]);
    assert_eq!(code, 1, "{v}");
    let f = v["findings"].as_array().expect("findings");
    let got: Vec<(String, String, u64, String)> = f
        .iter()
        .map(|x| {
            (
                x["rule"].as_str().unwrap_or_default().to_string(),
                x["path"].as_str().unwrap_or_default().to_string(),
                x["line"].as_u64().unwrap_or_default(),
                x["commit"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // each secret once, at its line in the blob, with the commit that added it
    assert!(
        got.contains(&("github-pat".into(), "app.rs".into(), 1, first.clone())),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "aws-access-key-id".into(),
            "app.rs".into(),
            62,
            second.clone()
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "generic-secret".into(),
            "conf.xml".into(),
            63,
            third.clone()
        )),
        "{got:?}"
    );
    assert_eq!(got.len(), 4, "{got:?}");
    // the range of the second commit reports only the key it added, not the
    // token already there
    let (code, v) = s.scan_json(&["--range", &format!("{first}..{second}")]);
    assert_eq!(code, 1, "{v}");
    assert_only(&v, "aws-access-key-id", "app.rs", 62);
}

#[test]
fn baseline_applies_to_history_too() {
    let (s, _, _) = repo_with_history();
    assert_eq!(
        s.scan(&["--history", "--baseline-write", "b.json"])
            .status
            .code(),
        Some(0)
    );
    let (code, v) = s.scan_json(&["--history", "--baseline", "b.json"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn clef_git_api_staged_blobs_and_added_lines() {
    let s = Sandbox::repo_with("a.txt", "one\ntwo\nthree\n");
    s.write("a.txt", "one\ntwo\nINSERTED\nthree\nTAIL\n");
    s.write("new.txt", "x\ny\n");
    s.git(&["add", "."]);
    let repo = Repo::discover(s.path()).expect("discover");
    let mut staged = repo.staged().expect("staged");
    staged.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        staged.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
        ["a.txt", "new.txt"]
    );
    let blobs: Vec<_> = repo
        .blobs(staged.iter().map(|c| c.oid.clone()).collect(), 1 << 20)
        .expect("blobs")
        .collect::<Result<_, _>>()
        .expect("read");
    match &blobs[1].data {
        BlobData::Bytes(b) => assert_eq!(&b[..], b"x\ny\n"),
        other => panic!("unexpected {other:?}"),
    }
    let lines = repo.added_lines(DiffScope::Staged).expect("added lines");
    assert_eq!(lines.get("a.txt"), Some(&vec![(3, 3), (5, 5)]));
    assert_eq!(lines.get("new.txt"), Some(&vec![(1, 2)]));
    // size limit and missing objects
    let too_big = repo
        .blobs(vec![staged[0].oid.clone()], 3)
        .expect("blobs")
        .next();
    assert!(matches!(
        too_big,
        Some(Ok(clef_git::Blob {
            data: BlobData::TooLarge(_),
            ..
        }))
    ));
    let missing = repo
        .blobs(vec!["0123456789012345678901234567890123456789".into()], 100)
        .expect("blobs")
        .next();
    assert!(matches!(
        missing,
        Some(Ok(clef_git::Blob {
            data: BlobData::Missing,
            ..
        }))
    ));
}

#[test]
fn hook_style_use_scan_blob_then_keep_added_lines() {
    // What the pre-commit hook does: scan staged blobs in-process and keep
    // findings on added lines only (a secret already committed is the
    // history scan's business).
    let s = Sandbox::new();
    s.git_init();
    s.write("c.env", format!("OLD={AKIA}\n"));
    s.commit_all("init");
    s.write("c.env", format!("OLD={AKIA}\nNEW={GHP}\n"));
    s.git(&["add", "."]);
    let repo = Repo::discover(s.path()).expect("repo");
    let scanner = clef_scan::Scanner::builtin().expect("scanner");
    let staged = repo.staged().expect("staged");
    let added = repo.added_lines(DiffScope::Staged).expect("lines");
    let mut kept = Vec::new();
    for (change, blob) in staged.iter().zip(
        repo.blobs(staged.iter().map(|c| c.oid.clone()).collect(), 1 << 20)
            .expect("blobs"),
    ) {
        let blob = blob.expect("blob");
        let BlobData::Bytes(bytes) = blob.data else {
            continue;
        };
        let ranges = added.get(&change.path).cloned().unwrap_or_default();
        for f in scanner.scan_blob(&change.path, &bytes) {
            if ranges
                .iter()
                .any(|&(a, b)| (a as usize..=b as usize).contains(&f.line))
            {
                kept.push((f.rule, f.line));
            }
        }
    }
    assert_eq!(kept, vec![("github-pat".to_string(), 2)]);
}

/// A repository with many versions of a few files, partly packed (deltas)
/// and partly loose, with secrets added and removed along the way.
fn repo_with_long_history() -> (Sandbox, Vec<String>) {
    let s = Sandbox::new();
    s.git_init();
    let mut secret_commits = Vec::new();
    for i in 0..40 {
        let mut body = String::new();
        for k in 0..60 {
            body.push_str(&format!(
                "line {k} of revision {i}: value_{k} = compute({k})\n"
            ));
        }
        if i % 10 == 3 {
            // a distinct key each time, so each is its own finding
            let tail = ["2RTY", "3RTZ", "4RUY", "5RVY"][i / 10];
            body.push_str(&format!("AWS_KEY_{i} = \"AKIAQ7XZ3KD5MLPW{tail}\"\n"));
        }
        s.write(&format!("src/m{}.py", i % 4), &body);
        let c = s.commit_all(&format!("revision {i}"));
        if i % 10 == 3 {
            secret_commits.push(c);
        }
        if i == 25 {
            s.git(&["gc", "-q", "--aggressive"]);
        }
    }
    (s, secret_commits)
}

#[test]
fn in_process_object_reads_equal_git_cat_file() {
    let (s, _) = repo_with_long_history();
    let repo = Repo::discover(s.path()).expect("discover");
    let store = repo
        .object_store()
        .expect("gix can open a plain repository");
    let reader = store.reader();
    let mut oids: Vec<String> = repo
        .history(0)
        .expect("history")
        .into_iter()
        .map(|c| c.oid)
        .collect();
    assert!(oids.len() >= 40, "{} blobs", oids.len());
    let tree = s.git(&["rev-parse", "HEAD^{tree}"]).trim().to_string();
    oids.push(tree); // not a blob
    oids.push("0123456789012345678901234567890123456789".into()); // absent
    for max in [1 << 20, 2000] {
        let via_git: Vec<_> = repo
            .blobs(oids.clone(), max)
            .expect("blobs")
            .collect::<Result<_, _>>()
            .expect("read");
        for (oid, g) in oids.iter().zip(&via_git) {
            let ours = reader.blob(oid, max).expect("read");
            let same = match (&ours.data, &g.data) {
                (BlobData::Bytes(a), BlobData::Bytes(b)) => a == b,
                (BlobData::TooLarge(a), BlobData::TooLarge(b)) => a == b,
                (BlobData::Missing, BlobData::Missing) => true,
                _ => false,
            };
            assert!(
                same,
                "{oid} (limit {max}): gix {:?} vs git {:?}",
                ours.data, g.data
            );
        }
    }
}

#[test]
fn long_history_is_attributed_the_same_with_and_without_the_object_store() {
    let (s, secret_commits) = repo_with_long_history();
    let (code, v) = s.scan_json(&["--history"]);
    assert_eq!(code, 1, "{v}");
    let commits = |v: &serde_json::Value| {
        let mut c: Vec<String> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["commit"].as_str().unwrap_or_default().to_string())
            .collect();
        c.sort();
        c
    };
    let mut want = secret_commits.clone();
    want.sort();
    assert_eq!(
        commits(&v),
        want,
        "each secret once, at the commit that added it"
    );
    // the environment redirects object lookup: clef falls back to git cat-file
    let objects = s.path().join(".git/objects");
    let out = s.scan_env(
        &["--format", "json", "--history"],
        &[(
            "GIT_OBJECT_DIRECTORY",
            objects.to_str().expect("utf-8 path"),
        )],
    );
    let v2: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(commits(&v2), want);
}

/// A distinct AWS access key id per `i` (base-32 digits of a scrambled `i`).
fn aws_key(i: usize) -> String {
    const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut n = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
    let tail: String = (0..16)
        .map(|_| {
            let c = B32[(n % 32) as usize] as char;
            n /= 32;
            c
        })
        .collect();
    format!("AKIA{tail}")
}

#[test]
fn history_reports_every_line_any_commit_added_across_chunks_and_branches() {
    // One file with many versions, each adding one key (read newest first,
    // in chunks that cut the path's versions apart), edits that remove keys
    // again, and a side branch whose versions' parents are not the versions
    // next to them in the path's list.
    let s = Sandbox::new();
    s.git_init();
    let filler: String = (0..40).map(|i| format!("value_{i} = {i}\n")).collect();
    let mut keys: Vec<String> = Vec::new();
    let mut want: Vec<(String, String)> = Vec::new(); // (key, commit)
    let line = |i: usize| format!("AWS_KEY_{i} = \"{}\"\n", aws_key(i));
    let body = |keys: &[String]| -> String { format!("{filler}{}{filler}", keys.concat()) };
    for i in 0..60 {
        keys.push(line(i));
        if i % 7 == 6 {
            keys.remove(0); // a later commit deletes an old key: still reported once
        }
        s.write("conf.py", body(&keys));
        want.push((aws_key(i), s.commit_all(&format!("v{i}"))));
        if i == 30 {
            // a side branch with keys of its own, then back to main
            s.git(&["checkout", "-q", "-b", "side"]);
            let mut side = keys.clone();
            for j in 100..105 {
                side.push(line(j));
                s.write("conf.py", body(&side));
                want.push((aws_key(j), s.commit_all(&format!("side {j}"))));
            }
            s.git(&["checkout", "-q", "-"]);
        }
    }
    let (code, v) = s.scan_json(&["--history", "--no-redact"]);
    assert_eq!(code, 1, "{v}");
    let mut got: Vec<(String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "aws-access-key-id")
        .map(|f| {
            (
                f["secret"].as_str().unwrap_or_default().to_string(),
                f["commit"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    // the keys the detector finds at all (a work-tree scan of every line)
    let all = Sandbox::new();
    all.write(
        "keys.py",
        (0..60).chain(100..105).map(line).collect::<String>(),
    );
    let (_, v) = all.scan_json(&["--no-redact"]);
    let found: std::collections::HashSet<String> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "aws-access-key-id")
        .map(|f| f["secret"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(found.len() >= 60, "{} of 65 keys found", found.len());
    want.retain(|(k, _)| found.contains(k));
    want.sort();
    assert_eq!(got, want);
}

/// Every kind of change `git log --raw` lists (or leaves out) for a history
/// scan: added, modified, renamed, copied (one blob at two paths, the
/// deeper path first in git's order), executable bit, file to symlink and
/// back, file to directory, a submodule, deletions, merges (diffed against
/// the first parent), a side branch and a tag off it, a second root commit,
/// and more commits than one listing thread takes at a time.
fn repo_with_every_kind_of_change() -> Sandbox {
    let s = Sandbox::new();
    s.git_init();
    s.write("README.md", "# demo\n");
    s.write("src/lib.rs", "fn a() {}\n");
    s.commit_all("init");
    for i in 0..150 {
        s.write(
            &format!("src/m{}.rs", i % 7),
            format!("const V: u32 = {i};\n"),
        );
        if i % 11 == 0 {
            s.write(&format!("docs/d{i}/x.md"), format!("doc {i}\n"));
        }
        s.commit_all(&format!("rev {i}"));
    }
    // the same new content at a shallow and a deeper path in one commit
    s.write("b.txt", "same\n");
    s.write("a/x.txt", "same\n");
    s.commit_all("copy");
    s.git(&["mv", "src/lib.rs", "src/core.rs"]);
    s.write("src/core.rs", "fn a() {}\nfn b() {}\n");
    s.commit_all("rename");
    let core = s.path().join("src/core.rs");
    std::fs::set_permissions(&core, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    s.commit_all("chmod");
    std::fs::remove_file(s.path().join("b.txt")).expect("rm");
    std::os::unix::fs::symlink("README.md", s.path().join("b.txt")).expect("symlink");
    s.commit_all("file to symlink");
    std::fs::remove_file(s.path().join("b.txt")).expect("rm");
    s.write("b.txt", "back to a file\n");
    s.commit_all("symlink to file");
    std::fs::remove_file(s.path().join("README.md")).expect("rm");
    s.write("README.md/inner.md", "now a directory\n");
    s.commit_all("file to directory");
    let head = s.git(&["rev-parse", "HEAD"]);
    s.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},vendor/sub"),
    ]);
    s.git(&["commit", "-q", "-m", "submodule"]);
    s.git(&["checkout", "-q", "-b", "side"]);
    s.write("side.txt", "side 1\n");
    s.write("src/m1.rs", "const V: u32 = 1000;\n");
    s.commit_all("side 1");
    s.write("side.txt", "side 1\nside 2\n");
    s.commit_all("side 2");
    s.git(&["tag", "on-side"]);
    s.git(&["checkout", "-q", "main"]);
    s.write("src/m2.rs", "const V: u32 = 2000;\n");
    s.commit_all("main moves on");
    s.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    s.git(&["checkout", "-q", "--orphan", "other-root"]);
    s.git(&["rm", "-rq", "--cached", "."]);
    s.write("orphan.txt", "other root\n");
    s.git(&["add", "orphan.txt"]);
    s.git(&["commit", "-q", "-m", "second root"]);
    s.git(&["checkout", "-q", "-f", "main"]);
    s
}

#[test]
fn in_process_history_listing_equals_git_log_raw() {
    let s = repo_with_every_kind_of_change();
    let repo = Repo::discover(s.path()).expect("discover");
    let store = repo
        .object_store()
        .expect("gix can open a plain repository");
    let from_git = repo.history_from_git().expect("git log");
    assert!(from_git.len() > 150, "{} changes", from_git.len());
    for threads in [1, 2, 5] {
        let ours = repo
            .history_in_process(&store, threads)
            .expect("in-process listing");
        assert_eq!(ours.len(), from_git.len(), "{threads} threads");
        for (a, b) in ours.iter().zip(&from_git) {
            assert_eq!(a, b, "{threads} threads");
        }
    }
    // the cases above are really in the listing
    let paths: Vec<&str> = from_git.iter().map(|c| c.path.as_str()).collect();
    for p in [
        "a/x.txt",
        "src/core.rs",
        "README.md/inner.md",
        "side.txt",
        "orphan.txt",
    ] {
        assert!(paths.contains(&p), "{p} listed");
    }
    // b.txt's first blob was listed at a/x.txt; its last replaced a symlink
    let b: Vec<_> = from_git.iter().filter(|c| c.path == "b.txt").collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].parent, None, "a symlink is no parent blob");
    assert!(!paths.contains(&"vendor/sub"), "a submodule is no blob");
}
