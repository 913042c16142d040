//! Who a cell is encrypted for.
//!
//! An environment's own `recipients` list, when present, is its complete
//! list; otherwise the global `sops.age.recipients` apply. Service identities
//! that cover the namespace (and are not `pack_only`) add their age recipient
//! for the environment. [`crate::manifest::Manifest::add_recipient`] starts a
//! per-environment list from the current effective list, so adding someone
//! to one environment never drops the people who already had access.

use crate::manifest::Manifest;

impl Manifest {
    /// Every recipient named anywhere in the manifest (globals, per-env lists).
    pub fn all_recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = self.age_recipients.iter().map(|r| r.key.clone()).collect();
        for e in &self.environments {
            for r in e.recipients.iter().flatten() {
                if !out.contains(&r.key) {
                    out.push(r.key.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::{Manifest, Recipient};
    use std::path::Path;

    #[test]
    fn per_env_and_service_identities() {
        let (_, a) = clef_keys::generate_identity();
        let (_, b) = clef_keys::generate_identity();
        let (_, ci) = clef_keys::generate_identity();
        let mut text = Manifest::initial_text(
            &["api".into(), "web".into()],
            &["dev".into(), "prod".into()],
            &a,
        );
        text.push_str(&format!("service_identities:\n  - name: ci\n    namespaces: [api]\n    environments:\n      prod:\n        recipient: {ci}\n"));
        let mut m = Manifest::parse(&text, Path::new("clef.yaml")).unwrap();
        let api_prod = m.target("api/prod").unwrap();
        assert_eq!(m.access(&api_prod).age, [a.clone(), ci.clone()]);
        assert_eq!(
            m.access(&m.target("web/prod").unwrap()).age,
            std::slice::from_ref(&a)
        );
        m.add_recipient(
            &Recipient {
                key: b.clone(),
                label: None,
            },
            Some("dev"),
        )
        .unwrap();
        assert_eq!(
            m.access(&m.target("api/dev").unwrap()).age,
            [a.clone(), b.clone()]
        );
        assert_eq!(m.access(&api_prod).age, [a.clone(), ci]);
        assert_eq!(m.all_recipients(), [a, b]);
    }
}
