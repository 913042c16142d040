//! `clef list`: the keys of a cell (no decryption).

use super::*;

/// `clef list`
#[derive(Args, Debug)]
pub struct ListArgs {
    /// namespace/environment
    pub target: String,
    /// Print [{"key","pending"}].
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef list` (no decryption: key names are in clear in SOPS files).
pub fn list(dir: Option<&Path>, a: ListArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let loaded = cell::load_existing(&repo.root, &c)?;
    let keys = loaded.file.keys();
    if a.json {
        let arr = keys
            .iter()
            .map(|k| {
                Json::Obj(vec![
                    ("key", Json::s(k)),
                    ("pending", Json::Bool(loaded.sidecar.is_pending(k))),
                ])
            })
            .collect();
        return out::print_str(&Json::Arr(arr).render());
    }
    let width = keys.iter().map(|k| out::shown(k).len()).max().unwrap_or(0);
    let mut s = String::new();
    for k in &keys {
        let p = if loaded.sidecar.is_pending(k) {
            "  (pending)"
        } else {
            ""
        };
        let k = out::shown(k);
        s.push_str(&format!("{k:<width$}  {MASK}{p}\n"));
    }
    if keys.is_empty() {
        out::note(format!("{} is empty", c.target()));
    }
    out::print_str(&s)
}
