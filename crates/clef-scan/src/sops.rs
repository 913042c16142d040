//! Textual SOPS awareness, without decrypting anything.
//!
//! A file is a SOPS file when it carries SOPS metadata: a top-level `sops:`
//! mapping with `mac:` and `version:` keys (YAML), a top-level `"sops"` object
//! with `"mac"` (JSON), or `sops_version=` / `sops_mac=` lines (dotenv/INI). In
//! such a file every leaf value outside the metadata must be `ENC[...]`, unless
//! the metadata declares it as intentionally plaintext (`unencrypted_suffix`,
//! `encrypted_suffix`, `unencrypted_regex`, `encrypted_regex`).

use std::ops::Range;

use regex::Regex;

/// Which flavour of SOPS document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
    /// dotenv / INI (`key=value`).
    Dotenv,
}

/// A plaintext value found in a SOPS file: byte range of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plaintext {
    /// Byte range of the value in the file.
    pub value: Range<usize>,
    /// The key name (for messages only; never the value).
    pub key: String,
}

/// What [`analyze`] learned about a file.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The file has SOPS metadata.
    pub is_sops: bool,
    /// Byte ranges occupied by the metadata block: findings there are noise
    /// (encrypted data keys, recipients, MAC).
    pub metadata: Vec<Range<usize>>,
    /// Leaf values that should be encrypted but are not.
    pub plaintext: Vec<Plaintext>,
}

/// True for paths that by naming convention must be SOPS-encrypted:
/// `*.enc.yaml`, `*.enc.yml`, `*.enc.json`, `*.enc.env`.
pub fn is_encrypted_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [".enc.yaml", ".enc.yml", ".enc.json", ".enc.env", ".enc.ini"]
        .iter()
        .any(|s| name.ends_with(s))
}

fn format_of(path: &str, text: &str) -> Format {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".json") || text.trim_start().starts_with('{') {
        Format::Json
    } else if lower.ends_with(".env")
        || lower.ends_with(".ini")
        || text.contains("\nsops_version=")
        || text.starts_with("sops_version=")
    {
        Format::Dotenv
    } else {
        Format::Yaml
    }
}

struct Selectors {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
}

impl Selectors {
    fn from_meta(get: impl Fn(&str) -> Option<String>) -> Selectors {
        let re = |k: &str| get(k).and_then(|p| Regex::new(&p).ok());
        let has_any = [
            "unencrypted_suffix",
            "encrypted_suffix",
            "unencrypted_regex",
            "encrypted_regex",
        ]
        .iter()
        .any(|k| get(k).is_some());
        Selectors {
            unencrypted_suffix: get("unencrypted_suffix").or(if has_any {
                None
            } else {
                Some("_unencrypted".to_string())
            }),
            encrypted_suffix: get("encrypted_suffix"),
            unencrypted_regex: re("unencrypted_regex"),
            encrypted_regex: re("encrypted_regex"),
        }
    }

    /// Should the value under `key` be encrypted?
    fn should_encrypt(&self, key: &str) -> bool {
        if let Some(s) = &self.unencrypted_suffix
            && key.ends_with(s.as_str())
        {
            return false;
        }
        if let Some(s) = &self.encrypted_suffix {
            return key.ends_with(s.as_str());
        }
        if let Some(r) = &self.unencrypted_regex
            && r.is_match(key)
        {
            return false;
        }
        if let Some(r) = &self.encrypted_regex {
            return r.is_match(key);
        }
        true
    }
}

fn is_enc(v: &str) -> bool {
    v.starts_with("ENC[") && v.ends_with(']')
}

/// Lines of `text` with their byte offsets.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut off = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = off;
        off += l.len();
        (start, l.trim_end_matches(['\n', '\r']))
    })
}

/// Analyse a file. `text` must be the whole file.
pub fn analyze(path: &str, text: &str) -> Analysis {
    // cheap rejection: no "sops" anywhere
    if !text.contains("sops") {
        return Analysis::default();
    }
    match format_of(path, text) {
        Format::Yaml => analyze_yaml(text),
        Format::Json => analyze_json(text),
        Format::Dotenv => analyze_dotenv(text),
    }
}

fn analyze_yaml(text: &str) -> Analysis {
    // find the top-level `sops:` blocks (a multi-document file repeats the
    // metadata at the end of every document)
    let mut blocks: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    for (off, line) in lines(text) {
        if let Some(start) = open
            && (!line.is_empty() && !line.starts_with([' ', '\t', '#', '-']) || line == "---")
        {
            blocks.push(start..off);
            open = None;
        }
        if open.is_none() && line.trim_end() == "sops:" {
            open = Some(off);
        }
    }
    if let Some(start) = open {
        blocks.push(start..text.len());
    }
    let Some(first) = blocks.first().cloned() else {
        return Analysis::default();
    };
    let (meta_start, meta_end) = (first.start, first.end);
    let meta_text = &text[meta_start..meta_end];
    // metadata keys are indented one level below `sops:`
    let meta_value = |k: &str| -> Option<String> {
        lines(meta_text).find_map(|(_, l)| {
            let t = l.trim_start();
            let indent = l.len() - t.len();
            if indent == 0 || indent > 4 {
                return None;
            }
            let rest = t.strip_prefix(k)?.strip_prefix(':')?;
            Some(unquote(rest.trim()).to_string())
        })
    };
    if meta_value("mac").is_none() || meta_value("version").is_none() {
        return Analysis::default();
    }
    let selectors = Selectors::from_meta(meta_value);
    let mut plaintext = Vec::new();
    let mut in_block_scalar: Option<usize> = None;
    // key path by indentation, to know the leaf key of a list item
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (off, line) in lines(text) {
        if blocks.iter().any(|b| b.contains(&off)) {
            continue;
        }
        let t = line.trim_start();
        let mut indent = line.len() - t.len();
        // `- - x`: a sequence directly inside a sequence
        let mut t = t;
        while let Some(rest) = t
            .strip_prefix("- ")
            .filter(|r| r.trim_start().starts_with("- "))
        {
            let skipped = t.len() - rest.trim_start().len();
            indent += skipped;
            t = rest.trim_start();
        }
        if let Some(base) = in_block_scalar {
            if t.is_empty() || indent > base {
                continue;
            }
            in_block_scalar = None;
        }
        if t.is_empty() || t.starts_with('#') || t == "---" || t == "..." {
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let (key, value_part, value_col) = if let Some(item) = t.strip_prefix("- ") {
            let parent = stack.last().map(|(_, k)| k.clone()).unwrap_or_default();
            match split_yaml_kv(item) {
                Some((k, v, c)) => (k.to_string(), v, indent + 2 + c),
                None => (parent, item, indent + 2),
            }
        } else if let Some((k, v, c)) = split_yaml_kv(t) {
            (k.to_string(), v, indent + c)
        } else {
            continue;
        };
        let value = strip_comment(value_part).trim_end();
        if value.is_empty() {
            stack.push((indent, key));
            continue;
        }
        if value.starts_with('|') || value.starts_with('>') {
            // block scalar: its lines are plaintext too unless the key is excluded
            in_block_scalar = Some(indent);
            if selectors.should_encrypt(&key) {
                plaintext.push(Plaintext {
                    value: off + value_col..off + value_col + value.len(),
                    key,
                });
            }
            continue;
        }
        if value == "{}" || value == "[]" || value.starts_with('&') || value.starts_with('*') {
            continue;
        }
        // null and empty values are never encrypted by sops
        if matches!(value, "null" | "~" | "Null" | "NULL" | "\"\"" | "''") {
            continue;
        }
        let bare = unquote(value);
        if is_enc(bare) || !selectors.should_encrypt(&key) {
            continue;
        }
        let lead = value.len() - value.trim_start().len();
        plaintext.push(Plaintext {
            value: off + value_col + lead..off + value_col + value.len(),
            key,
        });
    }
    Analysis {
        is_sops: true,
        metadata: blocks,
        plaintext,
    }
}

/// `key: value` → (key, value text, byte column of the value).
fn split_yaml_kv(t: &str) -> Option<(&str, &str, usize)> {
    let (key, rest, col) = if let Some(q) = t.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], &q[end + 1..], end + 2)
    } else if let Some(q) = t.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], &q[end + 1..], end + 2)
    } else {
        let end = t
            .find(": ")
            .or_else(|| t.ends_with(':').then(|| t.len() - 1))?;
        (&t[..end], &t[end..], end)
    };
    let rest2 = rest.strip_prefix(':')?;
    let ws = rest2.len() - rest2.trim_start().len();
    Some((key.trim(), rest2.trim_start(), col + 1 + ws))
}

fn strip_comment(v: &str) -> &str {
    if v.starts_with('"') || v.starts_with('\'') {
        return v;
    }
    match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

fn analyze_json(text: &str) -> Analysis {
    // Locate `"sops": {` at depth 1 and its matching brace.
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    let mut in_str = false;
    let mut str_start = 0;
    let mut last_key: Option<(usize, usize)> = None;
    let mut meta: Option<(usize, usize)> = None;
    let mut meta_open: Option<(usize, i32)> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'"' {
                in_str = false;
                // a key if followed by ':'
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.get(j) == Some(&b':') {
                    last_key = Some((str_start, i));
                }
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                str_start = i + 1;
            }
            b'{' => {
                depth += 1;
                if depth == 2
                    && meta_open.is_none()
                    && let Some((s, e)) = last_key
                    && &text[s..e] == "sops"
                {
                    meta_open = Some((s.saturating_sub(1), depth));
                }
            }
            b'}' => {
                if let Some((s, d)) = meta_open
                    && d == depth
                    && meta.is_none()
                {
                    meta = Some((s, i + 1));
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    let Some((ms, me)) = meta else {
        return Analysis::default();
    };
    let meta_text = &text[ms..me];
    let meta_value = |k: &str| -> Option<String> {
        let pat = format!("\"{k}\"");
        let at = meta_text.find(&pat)?;
        let rest = meta_text[at + pat.len()..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    };
    if meta_value("mac").is_none() {
        return Analysis::default();
    }
    let selectors = Selectors::from_meta(meta_value);
    let mut plaintext = Vec::new();
    // Leaf string/number/bool values outside the metadata.
    let re = leaf_json_regex();
    for c in re.captures_iter(text) {
        let (Some(k), Some(v)) = (c.get(1), c.get(2)) else {
            continue;
        };
        if v.start() >= ms && v.start() < me {
            continue;
        }
        let key = k.as_str();
        let val = unquote(v.as_str());
        if is_enc(val) || !selectors.should_encrypt(key) {
            continue;
        }
        plaintext.push(Plaintext {
            value: v.range(),
            key: key.to_string(),
        });
    }
    Analysis {
        is_sops: true,
        metadata: std::iter::once(ms..me).collect(),
        plaintext,
    }
}

fn leaf_json_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#""((?:[^"\\]|\\.)*)"\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false)"#)
            .unwrap_or_else(|_| unreachable!("constant regex compiles"))
    })
}

fn analyze_dotenv(text: &str) -> Analysis {
    let mut kv: Vec<(usize, &str, &str, usize)> = Vec::new();
    let mut meta = Vec::new();
    let mut has_version = false;
    let mut has_mac = false;
    for (off, line) in lines(text) {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') || t.starts_with('[') {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.starts_with("sops_") {
            has_version |= k == "sops_version";
            has_mac |= k == "sops_mac";
            meta.push(off..off + line.len());
            continue;
        }
        let col = line.len() - t.len() + t.find('=').map_or(0, |i| i + 1);
        kv.push((off, k, v, col));
    }
    if !(has_version || has_mac) {
        return Analysis::default();
    }
    let metadata_value = |k: &str| -> Option<String> {
        lines(text).find_map(|(_, l)| {
            let (kk, v) = l.split_once('=')?;
            (kk.trim() == format!("sops_{k}")).then(|| v.trim().to_string())
        })
    };
    let selectors = Selectors::from_meta(metadata_value);
    let mut plaintext = Vec::new();
    for (off, k, v, col) in kv {
        let val = unquote(v.trim());
        if val.is_empty() || is_enc(val) || !selectors.should_encrypt(k) {
            continue;
        }
        let lead = v.len() - v.trim_start().len();
        plaintext.push(Plaintext {
            value: off + col + lead..off + col + lead + v.trim().len(),
            key: k.to_string(),
        });
    }
    Analysis {
        is_sops: true,
        metadata: meta,
        plaintext,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "db:\n    password: ENC[AES256_GCM,data:q83=,iv:a=,tag:b=,type:str]\n    host: db.internal\n    port_unencrypted: 5432\nsops:\n    age:\n        - recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:m=,iv:i=,tag:t=,type:str]\n    version: 3.9.0\n";

    #[test]
    fn yaml_plaintext_value_is_found_and_suffix_respected() {
        let a = analyze("x.enc.yaml", YAML);
        assert!(a.is_sops);
        let keys: Vec<_> = a.plaintext.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["host"]);
        assert_eq!(&YAML[a.plaintext[0].value.clone()], "db.internal");
    }

    #[test]
    fn sops_word_alone_is_not_metadata() {
        let a = analyze("x.yaml", "sops:\n  note: we use sops\n");
        assert!(!a.is_sops);
    }

    #[test]
    fn json_and_dotenv() {
        let json = "{\n  \"token\": \"plain-value-123\",\n  \"ok\": \"ENC[AES256_GCM,data:x,type:str]\",\n  \"sops\": {\n    \"mac\": \"ENC[AES256_GCM,data:m,type:str]\",\n    \"version\": \"3.9.0\"\n  }\n}\n";
        let a = analyze("s.enc.json", json);
        assert!(a.is_sops);
        assert_eq!(a.plaintext.len(), 1);
        assert_eq!(&json[a.plaintext[0].value.clone()], "\"plain-value-123\"");
        let env = "API=ENC[AES256_GCM,data:x,type:str]\nLEAK=hunter2hunter\nsops_version=3.9.0\nsops_mac=ENC[AES256_GCM,data:m,type:str]\n";
        let a = analyze("s.enc.env", env);
        assert_eq!(a.plaintext.len(), 1);
        assert_eq!(&env[a.plaintext[0].value.clone()], "hunter2hunter");
    }

    #[test]
    fn encrypted_regex_limits_what_must_be_encrypted() {
        let y = "data:\n  password: ENC[AES256_GCM,data:x,type:str]\n  username: admin\nsops:\n  encrypted_regex: ^(password|token)$\n  mac: ENC[AES256_GCM,data:m,type:str]\n  version: 3.9.0\n";
        assert!(analyze("a.yaml", y).plaintext.is_empty());
    }

    #[test]
    fn names() {
        assert!(is_encrypted_name("secrets/prod.enc.yaml"));
        assert!(is_encrypted_name("a/B.ENC.JSON"));
        assert!(!is_encrypted_name("a/enc.yaml"));
    }

    #[test]
    fn multi_document_nested_sequences_and_nulls() {
        let enc = "ENC[AES256_GCM,data:Yg==,iv:AAAA,tag:BBBB,type:str]";
        let meta = "sops:\n    age:\n        - recipient: age1qxz2sr4cshvls83qvm9wxpt5h26rh0um6uce9tznhcsq2c6g7sgqgwd7h5\n          enc: |\n            x\n    lastmodified: \"2026-11-24T00:03:20Z\"\n    mac: X\n    unencrypted_suffix: _unencrypted\n    version: 3.11.0\n";
        let text = format!(
            "a: {enc}\nnested:\n    - - {enc}\n      - {enc}\n    - null\nempty: \"\"\n{meta}---\nb: {enc}\nleak: plain-value\n{meta}"
        );
        let a = analyze("m.enc.yaml", &text);
        assert!(a.is_sops);
        assert_eq!(
            a.metadata.len(),
            2,
            "both documents' metadata blocks are metadata"
        );
        let keys: Vec<&str> = a.plaintext.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["leak"], "only the real plaintext value is reported");
    }
}
