//! Accuracy on the labelled corpus (bench-corpus/scan): recall >= 0.97 and
//! precision >= 0.99, the targets of issue 5. The same numbers are what
//! `bench/scan.sh` reports for clef-scan next to the peers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[test]
fn labelled_corpus_precision_and_recall() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-corpus/scan");
    let files = base.join("files");
    let labels_text = std::fs::read_to_string(base.join("labels.tsv")).expect("labels.tsv");
    let labels: Vec<(String, usize, usize)> = labels_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let p: Vec<&str> = l.split('\t').collect();
            let start: usize = p[1].parse().expect("line");
            let end: usize = p.get(3).and_then(|e| e.parse().ok()).unwrap_or(start);
            (p[0].to_string(), start, end)
        })
        .collect();
    assert!(labels.len() >= 70, "corpus too small");
    let opts = clef_scan::ScannerOptions {
        root: files.clone(),
        ..Default::default()
    };
    let scanner = clef_scan::Scanner::new(&opts).expect("scanner");
    let report =
        clef_scan::source::scan_paths(&scanner, &files, &[PathBuf::from(&files)], 2, false);
    assert!(!report.has_errors(), "{:?}", report.problems);
    let found: HashSet<(String, usize)> = report
        .findings
        .iter()
        .map(|f| (f.path.clone(), f.line))
        .collect();
    let mut hit = HashSet::new();
    let mut fp = Vec::new();
    for (path, line) in &found {
        match labels
            .iter()
            .position(|(p, s, e)| p == path && (*s..=*e).contains(line))
        {
            Some(i) => {
                hit.insert(i);
            }
            None => fp.push(format!("{path}:{line}")),
        }
    }
    let tp = hit.len() as f64;
    let precision = tp / (tp + fp.len() as f64);
    let recall = tp / labels.len() as f64;
    let missed: Vec<String> = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| !hit.contains(i))
        .map(|(_, (p, s, _))| format!("{p}:{s}"))
        .collect();
    assert!(
        precision >= 0.99,
        "precision {precision:.3}; false positives: {fp:?}"
    );
    assert!(recall >= 0.97, "recall {recall:.3}; missed: {missed:?}");
}
