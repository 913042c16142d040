//! Every built-in rule is well-formed, and its examples behave as written:
//! each positive example produces a finding of that rule through the full
//! engine (keyword prefilter, window, regex, entropy, placeholder filters),
//! and each negative example does not.

use clef_scan::Scanner;
use clef_scan::rules::{builtin_specs, validate};

#[test]
fn catalogue_has_at_least_150_valid_rules_with_examples() {
    let specs = builtin_specs().expect("builtin rules parse");
    assert!(specs.len() >= 150, "only {} rules", specs.len());
    let mut ids = std::collections::HashSet::new();
    for s in &specs {
        assert!(ids.insert(s.id.clone()), "duplicate id {}", s.id);
        validate(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.examples.is_empty(), "{} has no positive example", s.id);
        assert!(!s.negatives.is_empty(), "{} has no negative example", s.id);
    }
}

#[test]
fn every_positive_example_is_found_and_no_negative_is() {
    let scanner = Scanner::builtin().expect("scanner");
    let mut failures = Vec::new();
    for s in builtin_specs().expect("builtin rules parse") {
        for ex in &s.examples {
            let f = scanner.scan_blob("examples/config.txt", format!("{ex}\n").as_bytes());
            if !f.iter().any(|f| f.rule == s.id) {
                failures.push(format!(
                    "{}: positive not found: {ex:?} (got {:?})",
                    s.id,
                    f.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>()
                ));
            }
        }
        for ex in &s.negatives {
            let f = scanner.scan_blob("examples/config.txt", format!("{ex}\n").as_bytes());
            if f.iter().any(|f| f.rule == s.id) {
                failures.push(format!("{}: negative matched: {ex:?}", s.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn compiled_catalogue_equals_a_runtime_parse_of_the_toml() {
    let parsed = clef_scan::rules::parse_rule_file(
        clef_scan::rules::BUILTIN_RULES,
        std::path::Path::new("rules/builtin.toml"),
    )
    .expect("builtin.toml parses");
    let compiled = builtin_specs().expect("compiled rules");
    assert_eq!(parsed.len(), compiled.len());
    for (p, c) in parsed.iter().zip(&compiled) {
        assert_eq!(p, c, "rule {} differs between build.rs and the TOML", p.id);
    }
}

/// A GitHub token whose CRC-32 verifies is reported with high confidence; one
/// whose checksum does not is still reported, with a low severity and the
/// reason (values generated here, not real tokens).
#[test]
fn vendor_checksums_set_confidence_and_severity() {
    use clef_scan::checksum::{Checksum, base62_crc32};
    let scanner = Scanner::builtin().expect("scanner");
    let body = "Qx7Lm2Vr9Tz4Kp8Ws3Yd6Nh1Bc5Fg0";
    let good = format!("ghp_{body}{}", base62_crc32(body.as_bytes()));
    let bad = format!("ghp_{body}aaaaaa");
    let text = format!("token = \"{good}\"\nother = \"{bad}\"\n");
    let f = scanner.scan_blob("src/config.py", text.as_bytes());
    let of = |v: &str| {
        f.iter()
            .find(|x| x.secret.expose() == v)
            .unwrap_or_else(|| panic!("no finding for {v}"))
    };
    let (g, b) = (of(&good), of(&bad));
    assert_eq!(
        (g.rule.as_str(), g.checksum),
        ("github-pat", Some(Checksum::Valid))
    );
    assert_eq!((g.confidence(), g.low_severity()), ("high", None));
    assert_eq!(b.checksum, Some(Checksum::Invalid));
    assert!(b.low_severity().is_some_and(|w| w.contains("checksum")));
    let report = clef_scan::Report {
        findings: f.clone(),
        ..Default::default()
    };
    let json = serde_json::to_value(report.to_json(true)).expect("json");
    let rows = json["findings"].as_array().expect("findings");
    let row = |line: u64| {
        rows.iter()
            .find(|r| r["line"] == line)
            .expect("row for line")
    };
    assert_eq!(row(1)["checksum"], "valid");
    assert_eq!(row(1)["confidence"], "high");
    assert_eq!(row(1)["severity"], "high");
    assert_eq!(row(2)["checksum"], "invalid");
    assert_eq!(row(2)["severity"], "low");
}

/// Lowercase and uppercase age secret keys are found (issue 11, item 11), and
/// a Bech32 checksum that verifies gives high confidence.
#[test]
fn age_secret_keys_in_both_cases_with_checksum() {
    use clef_scan::checksum::{Checksum, bech32_checksum};
    const CHARS: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let data: Vec<u8> = (0..52u8)
        .map(|i| i.wrapping_mul(7).wrapping_add(3) % 32)
        .collect();
    let chars: String = data
        .iter()
        .map(|&d| CHARS[usize::from(d)] as char)
        .collect();
    let sum = bech32_checksum("age-secret-key-", &data);
    let key = format!("age-secret-key-1{chars}{}", String::from_utf8_lossy(&sum));
    let scanner = Scanner::builtin().expect("scanner");
    for k in [key.clone(), key.to_ascii_uppercase()] {
        let f = scanner.scan_blob("keys.txt", format!("{k}\n").as_bytes());
        assert_eq!(f.len(), 1, "{k}");
        assert_eq!(f[0].rule, "age-secret-key");
        assert_eq!(f[0].checksum, Some(Checksum::Valid));
    }
}
