//! `clef-scan merge`: one report from the reports of several shards (or of
//! several repositories). JSON reports are merged into a JSON report
//! (findings and problems concatenated and sorted as one run sorts them,
//! statistics summed, the wall time the longest), SARIF logs into one SARIF
//! log (all runs' results in one run, rules de-duplicated by id). Reports
//! from shards of one scan must share the fingerprint salt (`--baseline` or
//! `--fingerprint-salt`), or their fingerprints could not be compared: a
//! mix is refused.

use serde_json::{Value, json};

/// Merge parsed reports (all JSON or all SARIF).
pub fn merge(reports: &[Value]) -> Result<Value, String> {
    let sarif = |v: &Value| v.get("runs").is_some();
    match reports {
        [] => Err("nothing to merge: give the reports to merge".into()),
        [first, ..] if sarif(first) => {
            if !reports.iter().all(sarif) {
                return Err("cannot merge SARIF with JSON reports".into());
            }
            Ok(merge_sarif(reports))
        }
        _ => {
            if reports.iter().any(sarif) {
                return Err("cannot merge SARIF with JSON reports".into());
            }
            merge_json(reports)
        }
    }
}

fn merge_json(reports: &[Value]) -> Result<Value, String> {
    let mut salt: Option<&str> = None;
    let mut findings: Vec<Value> = Vec::new();
    let mut problems: Vec<Value> = Vec::new();
    let mut stats = [0u64; 4];
    let mut duration = 0u64;
    for (i, r) in reports.iter().enumerate() {
        let list = r
            .get("findings")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("report {}: not a clef-scan JSON report", i + 1))?;
        let s = r
            .get("fingerprint_salt")
            .and_then(Value::as_str)
            .unwrap_or("");
        match salt {
            Some(prev) if prev != s && !list.is_empty() => {
                return Err(format!(
                    "report {}: another fingerprint salt than the reports before it; give every shard the same --fingerprint-salt (or --baseline)",
                    i + 1
                ));
            }
            None if !list.is_empty() => salt = Some(s),
            _ => {}
        }
        findings.extend(list.iter().cloned());
        if let Some(p) = r.get("problems").and_then(Value::as_array) {
            problems.extend(p.iter().cloned());
        }
        let st = &r["stats"];
        for (k, name) in ["files", "bytes", "skipped", "baselined"]
            .iter()
            .enumerate()
        {
            stats[k] += st[name].as_u64().unwrap_or(0);
        }
        duration = duration.max(st["duration_ms"].as_u64().unwrap_or(0));
    }
    let key = |f: &Value| {
        (
            f["path"].as_str().unwrap_or("").to_owned(),
            f["line"].as_u64().unwrap_or(0),
            f["column"].as_u64().unwrap_or(0),
            f["rule"].as_str().unwrap_or("").to_owned(),
            f["commit"].as_str().map(str::to_owned),
        )
    };
    findings.sort_by_key(key);
    problems.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(json!({
        "fingerprint_salt": salt.unwrap_or(""),
        "findings": findings,
        "stats": {
            "files": stats[0],
            "bytes": stats[1],
            "duration_ms": duration,
            "skipped": stats[2],
            "baselined": stats[3],
        },
        "problems": problems,
    }))
}

fn merge_sarif(reports: &[Value]) -> Value {
    let mut base = reports[0].clone();
    let mut results: Vec<Value> = Vec::new();
    let mut rules: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in reports {
        for run in r["runs"].as_array().into_iter().flatten() {
            results.extend(run["results"].as_array().into_iter().flatten().cloned());
            for rule in run["tool"]["driver"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if seen.insert(rule["id"].as_str().unwrap_or("").to_owned()) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    let loc = |v: &Value| {
        let l = &v["locations"][0]["physicalLocation"];
        (
            l["artifactLocation"]["uri"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            l["region"]["startLine"].as_u64().unwrap_or(0),
            l["region"]["startColumn"].as_u64().unwrap_or(0),
            v["ruleId"].as_str().unwrap_or("").to_owned(),
        )
    };
    results.sort_by_key(loc);
    if let Some(run) = base["runs"].get_mut(0) {
        run["results"] = Value::Array(results);
        run["tool"]["driver"]["rules"] = Value::Array(rules);
    }
    if let Some(runs) = base["runs"].as_array_mut() {
        runs.truncate(1);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reports_concatenate_sort_and_sum() {
        let a = json!({"fingerprint_salt": "s", "findings": [{"path": "b", "line": 1, "column": 1, "rule": "r"}],
            "stats": {"files": 2, "bytes": 10, "duration_ms": 5, "skipped": 0, "baselined": 1}, "problems": []});
        let b = json!({"fingerprint_salt": "s", "findings": [{"path": "a", "line": 9, "column": 1, "rule": "r"}],
            "stats": {"files": 3, "bytes": 1, "duration_ms": 7, "skipped": 1, "baselined": 0}, "problems": []});
        let m = merge(&[a.clone(), b]).expect("merge");
        assert_eq!(m["findings"][0]["path"], "a");
        assert_eq!(m["stats"]["files"], 5);
        assert_eq!(m["stats"]["duration_ms"], 7);
        let c = json!({"fingerprint_salt": "t", "findings": [{"path": "c"}], "stats": {}});
        assert!(
            merge(&[a, c])
                .expect_err("salts")
                .contains("--fingerprint-salt")
        );
        assert!(merge(&[]).is_err());
    }
}
