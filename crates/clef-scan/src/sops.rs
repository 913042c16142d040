//! SOPS awareness, without decrypting anything.
//!
//! Whether a file is a SOPS file, and which of its values must be encrypted,
//! is decided by the SOPS engine itself (`clef_sops`): its parsers for YAML,
//! JSON, dotenv and INI (a `[sops]` section of flattened metadata), and the
//! engine's crypt rules
//! (`unencrypted_suffix` on any ancestor, `encrypted_suffix`, the regexes,
//! `mac_only_encrypted`, empty values, block scalars). The text of the file is
//! only used to *locate* what the engine reports: each leaf is found with its
//! key path, and a leaf is reported when the engine lists that path.
//!
//! The metadata (`sops:` block, `"sops"` object, `sops_*` lines, `[sops]`
//! section) is not scanned where it holds the fields sops itself writes
//! (recipients, encrypted data keys, MAC, …); any other field in it is
//! scanned like the rest of the file (issue 11, item 11).

use std::collections::HashSet;
use std::ops::Range;

use clef_doc::{Branch, Item, Value};
use clef_sops::{EncryptedFile, Format};

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
    /// The file has SOPS metadata the engine accepts.
    pub is_sops: bool,
    /// Byte ranges of metadata fields sops writes: findings there are noise
    /// (encrypted data keys, recipients, MAC).
    pub metadata: Vec<Range<usize>>,
    /// Leaf values that should be encrypted but are not.
    pub plaintext: Vec<Plaintext>,
}

/// True for paths that by naming convention must be SOPS-encrypted:
/// `*.enc.yaml`, `*.enc.yml`, `*.enc.json`, `*.enc.env`, `*.enc.ini`.
pub fn is_encrypted_name(path: &str) -> bool {
    // compared in place, any case (asked once per scanned file or blob)
    let name = path.rsplit('/').next().unwrap_or(path).as_bytes();
    [".enc.yaml", ".enc.yml", ".enc.json", ".enc.env", ".enc.ini"]
        .iter()
        .any(|s| {
            name.len() >= s.len() && name[name.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
        })
}

/// The file formats sops stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Yaml,
    Json,
    Dotenv,
    Ini,
}

fn kind_of(path: &str, text: &str) -> Kind {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Kind::Json
    } else if lower.ends_with(".ini") {
        Kind::Ini
    } else if lower.ends_with(".env") {
        Kind::Dotenv
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Kind::Yaml
    } else if text.trim_start().starts_with('{') {
        Kind::Json
    } else if text.contains("\n[sops]") || text.starts_with("[sops]") {
        Kind::Ini
    } else if text.contains("\nsops_version=") || text.starts_with("sops_version=") {
        Kind::Dotenv
    } else {
        Kind::Yaml
    }
}

/// Field names sops writes in its metadata, besides the engine's crypt-rule
/// fields and key types. Anything else there is scanned.
const META_FIELDS: &[&str] = &[
    "sops",
    "age",
    "recipient",
    "enc",
    "arn",
    "role",
    "context",
    "created_at",
    "aws_profile",
    "resource_id",
    "vault_url",
    "name",
    "version",
    "vault_address",
    "engine_path",
    "key_name",
    "key_id",
    "region",
    "fp",
    "lastmodified",
    "mac",
    "mac_only_encrypted",
    "shamir_threshold",
    "key_groups",
];

fn known_field(k: &str) -> bool {
    META_FIELDS.contains(&k)
        || clef_sops::metadata::RULE_FIELDS.contains(&k)
        || clef_sops::metadata::OTHER_KEY_TYPES.contains(&k)
}

/// A flattened dotenv/INI metadata name (`age__list_0__map_enc`) made only
/// of fields sops writes.
fn known_flat(k: &str) -> bool {
    k.split("__").all(|seg| {
        let seg = seg.strip_prefix("map_").unwrap_or(seg);
        seg.strip_prefix("list_")
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            || known_field(seg)
    })
}

/// A leaf of the text with its key path (sops's: map keys only, no list
/// indices) and the byte range of its value.
struct Leaf {
    path: Vec<String>,
    value: Range<usize>,
}

/// Analyse a file. `text` must be the whole file.
pub fn analyze(path: &str, text: &str) -> Analysis {
    // cheap rejection: no "sops" anywhere
    if !text.contains("sops") {
        return Analysis::default();
    }
    let kind = kind_of(path, text);
    // cheap rejection before the engine parses anything: no metadata key
    let signature = match kind {
        Kind::Yaml => text.starts_with("sops:") || text.contains("\nsops:"),
        Kind::Json => text.contains("\"sops\""),
        Kind::Dotenv => text.starts_with("sops_") || text.contains("\nsops_"),
        Kind::Ini => text.contains("[sops]"),
    };
    if !signature {
        return Analysis::default();
    }
    let leaks = match engine_leaks(kind, text) {
        Leaks::Paths(p) => Some(p),
        Leaks::NotSops => return Analysis::default(),
        Leaks::BadMetadata => None,
    };
    let (leaves, metadata) = match kind {
        Kind::Yaml => yaml_leaves(text),
        Kind::Json => json_leaves(text),
        Kind::Dotenv | Kind::Ini => ini_leaves(text, kind == Kind::Ini),
    };
    // the engine names paths, and list items share their list's path: a
    // leaf that is itself a well-formed envelope is never the leak
    let plaintext = leaves
        .into_iter()
        .filter(|l| match &leaks {
            Some(p) => p.contains(&clef_sops::display_path(&l.path)),
            // metadata the engine cannot read: sops's default rule
            None => !l.path.iter().any(|k| k.ends_with("_unencrypted")),
        })
        .filter(|l| !is_envelope(&text[l.value.clone()]))
        .map(|l| Plaintext {
            value: l.value,
            key: l.path.last().cloned().unwrap_or_default(),
        })
        .collect();
    Analysis {
        is_sops: true,
        metadata,
        plaintext,
    }
}

/// `ENC[...]` (quoted or not) with the envelope's fields. A damaged envelope
/// (bad base64) is a broken file, not a plaintext secret: the hooks' check 1
/// reports it; the scanner does not call it plaintext.
fn is_envelope(v: &str) -> bool {
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(v);
    clef_sops::envelope::Envelope::parse(v).is_ok()
        || (v.starts_with("ENC[AES256_GCM,data:")
            && v.ends_with(']')
            && v.contains(",iv:")
            && v.contains(",tag:")
            && v.contains(",type:"))
}

/// What the engine says of a text.
enum Leaks {
    /// A sops file; these key paths (as `clef_sops::display_path` prints
    /// them) must be encrypted but are not.
    Paths(HashSet<String>),
    /// A `sops` key whose metadata the engine rejects (a damaged or
    /// hand-made file): still a sops file, judged by sops's default rule.
    BadMetadata,
    /// Not a sops file.
    NotSops,
}

fn engine_leaks(kind: Kind, text: &str) -> Leaks {
    let parsed = match kind {
        Kind::Yaml => EncryptedFile::parse(text.as_bytes(), Format::Yaml),
        Kind::Json => EncryptedFile::parse(text.as_bytes(), Format::Json),
        Kind::Dotenv => EncryptedFile::parse(text.as_bytes(), Format::Dotenv),
        Kind::Ini => EncryptedFile::parse(text.as_bytes(), Format::Ini),
    };
    match parsed {
        Ok(f) => leaks_of(&f),
        // a `sops` key with envelopes in the file, but metadata the engine
        // rejects; a `sops:` key without any envelope is just a word
        Err(clef_sops::SopsError::Meta(_)) if text.contains("ENC[AES256_GCM,") => {
            Leaks::BadMetadata
        }
        Err(_) => Leaks::NotSops,
    }
}

fn leaks_of(file: &EncryptedFile) -> Leaks {
    Leaks::Paths(match file.unencrypted_values() {
        Ok(paths) => paths
            .into_iter()
            .filter(|p| !p.ends_with(" (comment)"))
            .collect(),
        // a crypt rule the engine cannot compile: every plain leaf is suspect
        Err(_) => all_paths(file),
    })
}

/// Every path of a non-empty leaf that is not `ENC[...]` (when the crypt
/// rule cannot be applied).
fn all_paths(file: &EncryptedFile) -> HashSet<String> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut HashSet<String>) {
        match v {
            Value::Map(b) => branch(b, path, out),
            Value::List(items) => items.iter().for_each(|i| walk(i, path, out)),
            Value::Null => {}
            Value::Str(s) if s.is_empty() || s.starts_with("ENC[") => {}
            _ => {
                out.insert(clef_sops::display_path(path));
            }
        }
    }
    fn branch(b: &Branch, path: &mut Vec<String>, out: &mut HashSet<String>) {
        for item in &b.0 {
            if let Item::Entry(k, v) = item {
                path.push(k.clone());
                walk(v, path, out);
                path.pop();
            }
        }
    }
    let mut out = HashSet::new();
    for d in &file.docs {
        branch(d, &mut Vec::new(), &mut out);
    }
    out
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

/// YAML leaves outside the top-level `sops:` blocks, and the metadata lines
/// of fields sops writes.
fn yaml_leaves(text: &str) -> (Vec<Leaf>, Vec<Range<usize>>) {
    let mut leaves = Vec::new();
    let mut metadata = Vec::new();
    let mut in_meta = false;
    let mut in_block_scalar: Option<usize> = None;
    // (indent of the key, key, inside metadata: all ancestors known)
    let mut stack: Vec<(usize, String, bool)> = Vec::new();
    for (off, line) in lines(text) {
        let t = line.trim_start();
        let mut indent = line.len() - t.len();
        if line == "---" || line == "..." {
            in_meta = false;
            in_block_scalar = None;
            stack.clear();
            continue;
        }
        if indent == 0 && !t.is_empty() && !t.starts_with('#') {
            in_meta = line.trim_end() == "sops:";
            if in_meta {
                metadata.push(off..off + line.len());
            }
        }
        if let Some(base) = in_block_scalar {
            if t.is_empty() || indent > base {
                if in_meta && stack.last().is_some_and(|s| s.2) {
                    metadata.push(off..off + line.len());
                }
                continue;
            }
            in_block_scalar = None;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        // `- - x`: a sequence directly inside a sequence
        let mut t = t;
        while let Some(rest) = t
            .strip_prefix("- ")
            .filter(|r| r.trim_start().starts_with("- "))
        {
            indent += t.len() - rest.trim_start().len();
            t = rest.trim_start();
        }
        while stack.last().is_some_and(|(i, _, _)| *i >= indent) {
            stack.pop();
        }
        let (key, key_indent, value_part, value_col) = if let Some(item) = t.strip_prefix("- ") {
            let lead = item.len() - item.trim_start().len();
            let item = item.trim_start();
            match split_yaml_kv(item) {
                Some((k, v, c)) => (
                    Some(k.to_string()),
                    indent + 2 + lead,
                    v,
                    indent + 2 + lead + c,
                ),
                None => (None, indent, item, indent + 2 + lead),
            }
        } else if let Some((k, v, c)) = split_yaml_kv(t) {
            (Some(k.to_string()), indent, v, indent + c)
        } else {
            continue;
        };
        let parent_known = stack.last().is_none_or(|s| s.2);
        let known = parent_known && key.as_deref().is_none_or(known_field);
        let mut path: Vec<String> = stack.iter().map(|s| s.1.clone()).collect();
        path.extend(key.iter().cloned());
        // other fields in the metadata are scanned, never "plaintext"
        if in_meta && known {
            metadata.push(off..off + line.len());
        }
        let value = strip_comment(value_part).trim_end();
        if value.is_empty() {
            if let Some(k) = key {
                stack.push((key_indent, k, known));
            }
            continue;
        }
        if value.starts_with('|') || value.starts_with('>') {
            in_block_scalar = Some(indent);
            if let Some(k) = &key {
                // for the metadata test of the scalar's lines
                stack.push((key_indent, k.clone(), known));
            }
        }
        if in_meta {
            continue;
        }
        let lead = value.len() - value.trim_start().len();
        leaves.push(Leaf {
            path,
            value: off + value_col + lead..off + value_col + value.len(),
        });
    }
    (leaves, metadata)
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

/// JSON leaves (strings, numbers, booleans) with their object-key paths,
/// outside the top-level `"sops"` object; the lines of that object that
/// hold fields sops writes.
fn json_leaves(text: &str) -> (Vec<Leaf>, Vec<Range<usize>>) {
    let b = text.as_bytes();
    let mut leaves = Vec::new();
    // one entry per open container: Some(current key) for objects
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut meta: Option<(usize, usize)> = None; // (start, depth)
    let mut meta_range: Option<Range<usize>> = None;
    let mut expect_key = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => {
                stack.push(None);
                expect_key = true;
                i += 1;
            }
            b'[' => {
                stack.push(None);
                expect_key = false;
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                if let Some((s, d)) = meta
                    && stack.len() < d
                {
                    meta_range.get_or_insert(s..i + 1);
                    meta = None;
                }
                i += 1;
            }
            b',' => {
                // inside an object (its current key is set) the next string
                // is a key
                expect_key = stack.last().is_some_and(Option::is_some);
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(b.len());
                i = end;
                if expect_key {
                    let key = unescape_json(&text[start + 1..end.saturating_sub(1).max(start + 1)]);
                    if stack.len() == 1 && key == "sops" && meta.is_none() && meta_range.is_none() {
                        meta = Some((start, 2));
                    }
                    if let Some(top) = stack.last_mut() {
                        *top = Some(key);
                    }
                    expect_key = false;
                } else if meta.is_none() {
                    leaves.push(json_leaf(&stack, start..end));
                }
            }
            b':' => i += 1,
            c if c == b'-' || c.is_ascii_alphanumeric() => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'+' | b'.'))
                {
                    i += 1;
                }
                if meta.is_none() && &text[start..i] != "null" {
                    leaves.push(json_leaf(&stack, start..i));
                }
            }
            _ => i += 1,
        }
    }
    let mut metadata = Vec::new();
    if let Some(r) = meta_range {
        for (off, line) in lines(&text[r.clone()]) {
            let t = line.trim_start();
            let unknown = t
                .strip_prefix('"')
                .and_then(|k| k.split_once('"'))
                .is_some_and(|(k, rest)| rest.trim_start().starts_with(':') && !known_field(k));
            if !unknown {
                metadata.push(r.start + off..r.start + off + line.len());
            }
        }
    }
    (leaves, metadata)
}

fn json_leaf(stack: &[Option<String>], value: Range<usize>) -> Leaf {
    Leaf {
        path: stack.iter().flatten().cloned().collect(),
        value,
    }
}

fn unescape_json(s: &str) -> String {
    serde_json::from_str::<String>(&format!("\"{s}\"")).unwrap_or_else(|_| s.to_owned())
}

/// dotenv (`KEY=value`, metadata in `sops_*` lines) or INI (`[section]`,
/// `key = value`, metadata in the `[sops]` section) leaves.
fn ini_leaves(text: &str, ini: bool) -> (Vec<Leaf>, Vec<Range<usize>>) {
    let mut leaves = Vec::new();
    let mut metadata = Vec::new();
    let mut section: Option<String> = None;
    for (off, line) in lines(text) {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if ini
            && let Some(name) = t
                .trim_end()
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
        {
            section = Some(name.trim().to_owned());
            if name.trim() == "sops" {
                metadata.push(off..off + line.len());
            }
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let flat_meta = if ini {
            (section.as_deref() == Some("sops")).then_some(k)
        } else {
            k.strip_prefix("sops_")
        };
        if let Some(flat) = flat_meta {
            if known_flat(flat) {
                metadata.push(off..off + line.len());
            }
            continue;
        }
        let col = line.len() - t.len() + t.find('=').map_or(0, |i| i + 1);
        let lead = v.len() - v.trim_start().len();
        let val = v.trim();
        if val.is_empty() {
            continue;
        }
        let mut path: Vec<String> = section.iter().cloned().collect();
        path.push(k.to_owned());
        leaves.push(Leaf {
            path,
            value: off + col + lead..off + col + lead + val.len(),
        });
    }
    (leaves, metadata)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ENC: &str = "ENC[AES256_GCM,data:Zm9vYmFy,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
    pub(crate) const META: &str = "sops:\n    age:\n        - recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSB4\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:m=,iv:i=,tag:t=,type:str]\n    unencrypted_suffix: _unencrypted\n    version: 3.11.0\n";

    fn plain<'a>(text: &'a str, a: &Analysis) -> Vec<&'a str> {
        a.plaintext.iter().map(|p| &text[p.value.clone()]).collect()
    }

    #[test]
    fn yaml_plaintext_value_is_found_and_suffix_respected() {
        let y = format!(
            "db:\n    password: {ENC}\n    host: db.internal\n    port_unencrypted: 5432\n{META}"
        );
        let a = analyze("x.enc.yaml", &y);
        assert!(a.is_sops);
        assert_eq!(plain(&y, &a), ["db.internal"]);
        assert_eq!(a.plaintext[0].key, "host");
    }

    #[test]
    fn nested_unencrypted_suffix_covers_the_whole_map() {
        // sops: a key with the suffix leaves everything below it in clear
        let y = format!(
            "cfg_unencrypted:\n    host: db.internal\n    list:\n        - a\n        - b\nleak: plain\n{META}"
        );
        let a = analyze("x.enc.yaml", &y);
        assert_eq!(plain(&y, &a), ["plain"]);
    }

    #[test]
    fn block_scalar_holding_enc_and_empty_values_are_fine() {
        let y = format!("cert: |-\n    {ENC}\nempty: \"\"\nnothing: null\n{META}");
        let a = analyze("x.enc.yaml", &y);
        assert!(a.is_sops);
        assert!(a.plaintext.is_empty(), "{:?}", plain(&y, &a));
        let j = format!(
            "{{\n  \"anEmptyValue\": \"\",\n  \"k\": \"{ENC}\",\n  \"sops\": {{\n    \"mac\": \"ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]\",\n    \"age\": [{{\"recipient\": \"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\", \"enc\": \"x\"}}],\n    \"lastmodified\": \"2026-01-01T00:00:00Z\",\n    \"version\": \"3.11.0\"\n  }}\n}}\n"
        );
        let a = analyze("x.enc.json", &j);
        assert!(a.is_sops);
        assert!(a.plaintext.is_empty(), "{:?}", plain(&j, &a));
    }

    #[test]
    fn sops_word_alone_is_not_metadata() {
        let a = analyze("x.yaml", "sops:\n  note: we use sops\n");
        assert!(!a.is_sops);
    }

    #[test]
    fn json_and_dotenv() {
        let json = format!(
            "{{\n  \"token\": \"plain-value-123\",\n  \"ok\": \"{ENC}\",\n  \"nested\": {{\"deep\": [\"{ENC}\", 7]}},\n  \"sops\": {{\n    \"age\": [{{\"recipient\": \"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\", \"enc\": \"x\"}}],\n    \"lastmodified\": \"2026-01-01T00:00:00Z\",\n    \"mac\": \"ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]\",\n    \"version\": \"3.11.0\"\n  }}\n}}\n"
        );
        let a = analyze("s.enc.json", &json);
        assert!(a.is_sops);
        assert_eq!(plain(&json, &a), ["\"plain-value-123\"", "7"]);
        let env = format!(
            "API={ENC}\nLEAK=hunter2hunter\nsops_age__list_0__map_recipient=age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\nsops_age__list_0__map_enc=x\nsops_lastmodified=2026-01-01T00:00:00Z\nsops_version=3.11.0\nsops_mac=ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]\nsops_unencrypted_suffix=_unencrypted\n"
        );
        let a = analyze("s.enc.env", &env);
        assert_eq!(plain(&env, &a), ["hunter2hunter"]);
    }

    #[test]
    fn ini_files_written_by_sops_are_sops_files() {
        let ini = format!(
            "[database]\nuser = {ENC}\npassword = {ENC}\n\n[app]\nleak = plain-value\n\n[sops]\nage__list_0__map_recipient = age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\nage__list_0__map_enc = x\nlastmodified = 2026-01-01T00:00:00Z\nmac = ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]\nunencrypted_suffix = _unencrypted\nversion = 3.11.0\n"
        );
        let a = analyze("config.enc.ini", &ini);
        assert!(a.is_sops);
        assert_eq!(plain(&ini, &a), ["plain-value"]);
    }

    #[test]
    fn encrypted_regex_limits_what_must_be_encrypted() {
        let y = format!(
            "data:\n  password: {ENC}\n  username: admin\nsops:\n  age:\n    - recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n      enc: x\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  encrypted_regex: ^(password|token)$\n  mac: ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]\n  version: 3.9.0\n"
        );
        let a = analyze("a.yaml", &y);
        assert!(a.is_sops);
        assert!(a.plaintext.is_empty(), "{:?}", plain(&y, &a));
    }

    #[test]
    fn extra_metadata_fields_are_not_metadata() {
        let y = format!("a: {ENC}\n{META}    note: look here\n");
        let a = analyze("m.enc.yaml", &y);
        let at = y.find("look here").expect("note");
        assert!(
            !a.metadata.iter().any(|m| m.contains(&at)),
            "extra field hidden"
        );
        let enc_at = y.find("YWdl").expect("enc");
        assert!(
            a.metadata.iter().any(|m| m.contains(&enc_at)),
            "data key scanned"
        );
    }

    #[test]
    fn names() {
        assert!(is_encrypted_name("secrets/prod.enc.yaml"));
        assert!(is_encrypted_name("a/B.ENC.JSON"));
        assert!(!is_encrypted_name("a/enc.yaml"));
        for yes in [
            "x.enc.yml",
            "dir.enc.yaml/x.Enc.Env",
            "x.enc.ini",
            ".enc.json",
            "d/ü.enc.YAML",
        ] {
            assert!(is_encrypted_name(yes), "{yes}");
        }
        for no in [
            "x.enc.yaml/readme",
            "x.enc.yaml.bak",
            "ini",
            "",
            "ü",
            "x.enc_yaml",
        ] {
            assert!(!is_encrypted_name(no), "{no}");
        }
    }

    #[test]
    fn multi_document_nested_sequences_and_nulls() {
        let text = format!(
            "a: {ENC}\nnested:\n    - - {ENC}\n      - {ENC}\n    - null\nempty: \"\"\n{META}---\nb: {ENC}\nleak: plain-value\n{META}"
        );
        let a = analyze("m.enc.yaml", &text);
        assert!(a.is_sops);
        assert_eq!(plain(&text, &a), ["plain-value"]);
    }
}
