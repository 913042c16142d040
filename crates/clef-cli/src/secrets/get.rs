//! `clef get`: one decrypted value.

use super::*;

/// `clef get`
#[derive(Args, Debug)]
pub struct GetArgs {
    /// namespace/environment
    pub target: String,
    /// The key.
    pub key: String,
    /// Print {"namespace","environment","key","value"}.
    #[arg(long)]
    pub json: bool,
}

/// Runs `clef get`.
pub fn get(dir: Option<&Path>, a: GetArgs) -> Result<(), CliError> {
    let repo = Repo::open(dir)?;
    let c = repo.manifest.target(&a.target)?;
    let ids = repo.identities()?;
    let text = ops::get(repo.edit(), &ids, &c, &a.key)?;
    if a.json {
        let j = Zeroizing::new(
            Json::Obj(vec![
                ("namespace", Json::s(&c.namespace)),
                ("environment", Json::s(&c.environment)),
                ("key", Json::s(&a.key)),
                ("value", Json::s(text.as_str())),
            ])
            .render(),
        );
        return out::print_str(&j);
    }
    let mut bytes = Zeroizing::new(text.as_bytes().to_vec());
    if out::stdout_is_tty() {
        bytes.push(b'\n');
    }
    out::print(&bytes)
}
