//! sops tree paths: `["a"]["b"][0]` (quoted = mapping key, bare = list index),
//! and the extract / set / unset operations on a document. As in sops, a
//! comment inside a sequence counts as an item when indexing.

use clef_doc::{Branch, Item, Value};

/// A path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path error (names the path, never a value).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PathError {
    /// Syntax error in the path expression.
    #[error("invalid tree path '{0}': expected a form like [\"key\"][0][\"sub\"]")]
    Syntax(String),
    /// The path does not exist.
    #[error("component {0} not found")]
    NotFound(String),
    /// The path goes through a scalar.
    #[error("component {0} is not a mapping or list")]
    NotContainer(String),
    /// The value given to `set` is not valid JSON.
    #[error("the value is not valid JSON (strings must be quoted, e.g. '\"text\"')")]
    BadValue,
}

/// Parses a path expression. An empty string is the root.
pub fn parse(expr: &str) -> Result<Vec<Step>, PathError> {
    let err = || PathError::Syntax(expr.to_owned());
    let mut out = Vec::new();
    let mut rest = expr.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(err)?;
        if let Some(r) = rest.strip_prefix('"').or_else(|| rest.strip_prefix('\'')) {
            let quote = rest.as_bytes()[0] as char;
            let mut key = String::new();
            let mut chars = r.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, n) = chars.next().ok_or_else(err)?;
                        key.push(n);
                    }
                    c if c == quote => {
                        end = Some(i + 1);
                        break;
                    }
                    c => key.push(c),
                }
            }
            let end = end.ok_or_else(err)?;
            rest = r[end..].strip_prefix(']').ok_or_else(err)?;
            out.push(Step::Key(key));
        } else {
            let close = rest.find(']').ok_or_else(err)?;
            let idx = rest[..close].trim().parse().map_err(|_| err())?;
            out.push(Step::Index(idx));
            rest = &rest[close + 1..];
        }
    }
    Ok(out)
}

fn show(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("[\"{k}\"]"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// The value at `steps` (the whole document for an empty path).
pub fn get<'a>(doc: &'a Branch, steps: &[Step]) -> Result<Value, PathError> {
    let mut cur: Option<&'a Value> = None;
    let mut branch = Some(doc);
    for (n, step) in steps.iter().enumerate() {
        let here = || show(&steps[..=n]);
        let next = match (step, cur, branch) {
            (Step::Key(k), None, Some(b)) | (Step::Key(k), Some(Value::Map(b)), _) => {
                b.get(k).ok_or_else(|| PathError::NotFound(here()))?
            }
            (Step::Index(i), Some(Value::List(l)), _) => {
                l.get(*i).ok_or_else(|| PathError::NotFound(here()))?
            }
            _ => return Err(PathError::NotContainer(here())),
        };
        cur = Some(next);
        branch = None;
    }
    Ok(match cur {
        Some(v) => v.clone(),
        None => Value::Map(doc.clone()),
    })
}

/// Sets the value at `steps`, creating missing mappings; an out-of-range index appends.
pub fn set(doc: &mut Branch, steps: &[Step], value: Value) -> Result<(), PathError> {
    let Some((first, rest)) = steps.split_first() else {
        return match value {
            Value::Map(b) => {
                *doc = b;
                Ok(())
            }
            _ => Err(PathError::NotContainer("(root)".into())),
        };
    };
    let Step::Key(k) = first else {
        return Err(PathError::NotContainer("(root)".into()));
    };
    if doc.get(k).is_none() {
        doc.0.push(Item::Entry(k.clone(), Value::Null));
    }
    let slot = doc
        .get_mut(k)
        .ok_or_else(|| PathError::NotFound(show(&steps[..1])))?;
    set_in(slot, rest, value, steps, 1)
}

fn set_in(
    slot: &mut Value,
    steps: &[Step],
    value: Value,
    all: &[Step],
    depth: usize,
) -> Result<(), PathError> {
    let Some((first, rest)) = steps.split_first() else {
        *slot = value;
        return Ok(());
    };
    match first {
        Step::Key(k) => {
            if !matches!(slot, Value::Map(_)) {
                if matches!(slot, Value::Null) {
                    *slot = Value::Map(Branch::new());
                } else {
                    return Err(PathError::NotContainer(show(&all[..depth])));
                }
            }
            let Value::Map(b) = slot else {
                return Err(PathError::NotContainer(show(&all[..depth])));
            };
            if b.get(k).is_none() {
                b.0.push(Item::Entry(k.clone(), Value::Null));
            }
            let next = b
                .get_mut(k)
                .ok_or_else(|| PathError::NotFound(show(&all[..=depth])))?;
            set_in(next, rest, value, all, depth + 1)
        }
        Step::Index(i) => {
            if matches!(slot, Value::Null) {
                *slot = Value::List(Vec::new());
            }
            let Value::List(l) = slot else {
                return Err(PathError::NotContainer(show(&all[..depth])));
            };
            let pos = if *i < l.len() {
                *i
            } else {
                l.push(Value::Null);
                l.len() - 1
            };
            set_in(&mut l[pos], rest, value, all, depth + 1)
        }
    }
}

/// Removes the value at `steps`.
pub fn unset(doc: &mut Branch, steps: &[Step]) -> Result<(), PathError> {
    let Some((last, parent)) = steps.split_last() else {
        return Err(PathError::NotContainer("(root)".into()));
    };
    let missing = || PathError::NotFound(show(steps));
    if parent.is_empty() {
        let Step::Key(k) = last else {
            return Err(PathError::NotContainer("(root)".into()));
        };
        return doc.remove(k).map(|_| ()).ok_or_else(missing);
    }
    let Some((first, mid)) = parent.split_first() else {
        return Err(missing());
    };
    let Step::Key(k0) = first else {
        return Err(PathError::NotContainer("(root)".into()));
    };
    let mut cur = doc.get_mut(k0).ok_or_else(missing)?;
    for step in mid {
        cur = match (step, cur) {
            (Step::Key(k), Value::Map(b)) => b.get_mut(k).ok_or_else(missing)?,
            (Step::Index(i), Value::List(l)) => l.get_mut(*i).ok_or_else(missing)?,
            _ => return Err(PathError::NotContainer(show(parent))),
        };
    }
    match (last, cur) {
        (Step::Key(k), Value::Map(b)) => b.remove(k).map(|_| ()).ok_or_else(missing),
        (Step::Index(i), Value::List(l)) => {
            if *i >= l.len() {
                return Err(missing());
            }
            l.remove(*i);
            Ok(())
        }
        _ => Err(PathError::NotContainer(show(parent))),
    }
}

/// Parses a `sops set` value: JSON, so numbers become floats as in sops.
pub fn parse_json_value(text: &str) -> Result<Value, PathError> {
    let wrapped = format!("{{\"v\":{text}}}");
    let mut b = clef_doc::json::parse(&wrapped).map_err(|_| PathError::BadValue)?;
    b.remove("v").ok_or(PathError::BadValue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_paths() {
        assert_eq!(
            parse(r#"["a"][0]["b c"]"#).unwrap(),
            [
                Step::Key("a".into()),
                Step::Index(0),
                Step::Key("b c".into())
            ]
        );
        assert_eq!(parse("").unwrap(), []);
        assert!(parse(r#"["a""#).is_err());
        assert!(parse("a").is_err());
        assert!(parse("[x]").is_err());
    }

    #[test]
    fn set_get_unset() {
        let mut d = Branch::new();
        set(&mut d, &parse(r#"["a"]["b"]"#).unwrap(), Value::str("x")).unwrap();
        set(&mut d, &parse(r#"["l"][5]"#).unwrap(), Value::Int(1)).unwrap();
        assert_eq!(
            get(&d, &parse(r#"["a"]["b"]"#).unwrap()).unwrap(),
            Value::str("x")
        );
        assert_eq!(
            get(&d, &parse(r#"["l"][0]"#).unwrap()).unwrap(),
            Value::Int(1)
        );
        unset(&mut d, &parse(r#"["a"]["b"]"#).unwrap()).unwrap();
        assert!(get(&d, &parse(r#"["a"]["b"]"#).unwrap()).is_err());
        assert!(unset(&mut d, &parse(r#"["zz"]"#).unwrap()).is_err());
        assert_eq!(parse_json_value("9090").unwrap(), Value::Float(9090.0));
        assert!(parse_json_value("unquoted").is_err());
    }
}
