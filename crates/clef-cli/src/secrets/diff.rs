//! `clef diff`: two environments of a namespace, key by key.

use super::*;

/// `clef diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The namespace.
    pub namespace: String,
    /// First environment.
    pub env_a: String,
    /// Second environment.
    pub env_b: String,
    /// Print the values instead of masks.
    #[arg(long)]
    pub show_values: bool,
    /// Also list keys whose values are identical.
    #[arg(long)]
    pub show_identical: bool,
    /// Print [{"key","status","a","b"}] (values only with --show-values).
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef diff`: exit 0 when identical, 1 when different.
pub fn diff(dir: Option<&Path>, a: DiffArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let ca = repo.manifest.cell(&a.namespace, &a.env_a)?;
    let cb = repo.manifest.cell(&a.namespace, &a.env_b)?;
    let ids = repo.identities()?;
    let (rows, nested) = ops::diff(repo.edit(), &ids, &ca, &cb)?;
    warn_nested(&nested);
    let differs = rows.iter().any(|r| r.status != ops::DiffStatus::Identical);
    let shown = |v: &Option<Zeroizing<String>>| -> Zeroizing<String> {
        match v {
            None => Zeroizing::new("(absent)".into()),
            Some(s) if a.show_values => s.clone(),
            Some(_) => Zeroizing::new(MASK.into()),
        }
    };
    let identical = |r: &ops::DiffRow| r.status == ops::DiffStatus::Identical;
    let mut text = Zeroizing::new(String::new());
    if a.json {
        let arr = rows
            .iter()
            .filter(|r| a.show_identical || !identical(r))
            .map(|r| {
                let val = |v: &Option<Zeroizing<String>>| {
                    if a.show_values {
                        Json::opt(v.as_ref().map(|s| s.to_string()))
                    } else {
                        Json::Null
                    }
                };
                Json::Obj(vec![
                    ("key", Json::s(&r.key)),
                    ("status", Json::s(r.status.name())),
                    ("a", val(&r.a)),
                    ("b", val(&r.b)),
                ])
            })
            .collect();
        text.push_str(&Json::Arr(arr).render());
    } else {
        let width = rows
            .iter()
            .map(|r| out::shown(&r.key).len())
            .max()
            .unwrap_or(0);
        for r in &rows {
            if identical(r) && !a.show_identical {
                continue;
            }
            let k = out::shown(&r.key);
            let st = match r.status {
                ops::DiffStatus::MissingA => format!("only in {}", a.env_b),
                ops::DiffStatus::MissingB => format!("only in {}", a.env_a),
                other => other.name().to_owned(),
            };
            text.push_str(&format!(
                "{st:<10} {k:<width$}  {}: {}  {}: {}\n",
                a.env_a,
                shown(&r.a).as_str(),
                a.env_b,
                shown(&r.b).as_str()
            ));
        }
        if !differs {
            out::note(format!(
                "{}/{} and {}/{} hold the same keys and values",
                a.namespace, a.env_a, a.namespace, a.env_b
            ));
        }
    }
    out::print_str(&text)?;
    if differs {
        return Err(CliError::new(code::GENERIC, String::new()));
    }
    Ok(())
}
