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
