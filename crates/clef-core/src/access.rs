//! The access list: who may read a cell, and whether a cell's `sops` block
//! agrees with it.
//!
//! `clef.yaml` is the only authority. A cell's own `sops` block is not covered
//! by the MAC (anyone can edit it in a branch), so every path that wraps or
//! accepts a data key asks [`Manifest::access`] and compares with
//! [`Access::drift`]; nothing trusts the stanza labels. New kinds of grantee
//! (cloud KMS keys, more service identities) are added here and nowhere else.

use std::path::Path;

use clef_keys::Identities;
use clef_sops::masterkey::Keyring;
use clef_sops::{CryptRule, KeyGroup, Metadata, PlainFile, SopsError};

use crate::manifest::{Backend, Manifest, ServiceKey};
use crate::matrix::Cell;

/// Who may read one cell, as clef.yaml grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The environment's backend. Only age cells are checked stanza by
    /// stanza so far; the cloud KMS backends extend this type.
    pub backend: Backend,
    /// The age recipients, without duplicates, in manifest order.
    pub age: Vec<String>,
}

/// How a cell's `sops` block differs from its [`Access`] and from clef's
/// crypt defaults. Empty everywhere: the cell conforms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Recipients with a stanza that clef.yaml does not grant.
    pub foreign: Vec<String>,
    /// Recipients clef.yaml grants that have no stanza.
    pub missing: Vec<String>,
    /// Recipients labelled on more than one stanza (one of them is not theirs).
    pub duplicated: Vec<String>,
    /// Master keys of other kinds (`kms`, `pgp`, …) clef.yaml does not grant.
    pub other_kinds: Vec<String>,
    /// More than one key group (Shamir): clef writes one.
    pub key_groups: bool,
    /// The crypt rule or `mac_only_encrypted` is not clef's default:
    /// `(field, argument)` as found.
    pub crypt: Option<(String, String)>,
}

impl Drift {
    /// Whether the cell conforms.
    pub fn is_clean(&self) -> bool {
        *self == Drift::default()
    }

    /// Whether the block lets someone read the data key who may not
    /// (foreign, duplicated or other-kind stanzas, key groups).
    pub fn grants_extra(&self) -> bool {
        !self.foreign.is_empty()
            || !self.duplicated.is_empty()
            || !self.other_kinds.is_empty()
            || self.key_groups
    }

    /// One line per difference, naming recipients (never values), each with
    /// whether it is an error: everything but a missing recipient (who is
    /// merely locked out) lets the wrong people read or write in clear.
    pub fn describe(&self) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        for r in &self.foreign {
            out.push(format!(
                "recipient {r} can decrypt this cell but clef.yaml does not grant it"
            ));
        }
        for r in &self.duplicated {
            out.push(format!(
                "recipient {r} labels more than one stanza (a stanza is mislabelled)"
            ));
        }
        for k in &self.other_kinds {
            out.push(format!(
                "a {k} master key can decrypt this cell but clef.yaml does not grant it"
            ));
        }
        if self.key_groups {
            out.push("the cell uses Shamir key groups; clef writes one group".into());
        }
        let errors = out.len();
        for r in &self.missing {
            out.push(format!(
                "recipient {r} is in clef.yaml but cannot decrypt this cell"
            ));
        }
        let missing_end = out.len();
        if let Some((field, arg)) = &self.crypt {
            out.push(format!(
                "the cell's crypt rule `{field}: {arg}` is not clef's (every value encrypted)"
            ));
        }
        out.into_iter()
            .enumerate()
            .map(|(i, l)| (i < errors || i >= missing_end, l))
            .collect()
    }
}

/// The crypt rule clef writes (every value encrypted, full MAC).
pub fn default_crypt() -> (CryptRule, bool) {
    (CryptRule::default(), false)
}

impl Access {
    /// Whether this list decides, stanza by stanza, who may read the cell:
    /// an age cell of a manifest that names at least one reader (other
    /// backends are not governed yet; a manifest naming nobody cannot be
    /// used to write a cell at all, so there is nothing to compare with).
    pub fn governs_keys(&self) -> bool {
        self.backend == Backend::Age && !self.age.is_empty()
    }

    /// Compares a cell's metadata with this access list and clef's defaults.
    pub fn drift(&self, meta: &Metadata) -> Drift {
        let mut d = Drift::default();
        let (rule, mac_only) = default_crypt();
        if meta.rule != rule {
            d.crypt = Some((meta.rule.field().to_owned(), meta.rule.arg().to_owned()));
        } else if meta.mac_only_encrypted != mac_only {
            d.crypt = Some(("mac_only_encrypted".into(), "true".into()));
        }
        if !self.governs_keys() {
            return d;
        }
        let labels = meta.age_recipients();
        for (i, r) in labels.iter().enumerate() {
            if !self.age.iter().any(|a| a == r) {
                if !d.foreign.iter().any(|f| f == r) {
                    d.foreign.push((*r).to_owned());
                }
            } else if labels[..i].contains(r) && !d.duplicated.iter().any(|f| f == r) {
                d.duplicated.push((*r).to_owned());
            }
        }
        d.missing = self
            .age
            .iter()
            .filter(|a| !labels.contains(&a.as_str()))
            .cloned()
            .collect();
        for (kind, _) in meta.key_groups.iter().flat_map(|g| &g.other) {
            if !d.other_kinds.contains(kind) {
                d.other_kinds.push(kind.clone());
            }
        }
        d.key_groups = meta.key_groups.len() > 1;
        d
    }

    /// Stanzas labelled with one of `ids`' own recipients that those
    /// identities cannot open: someone else's key under our name.
    pub fn mislabelled(meta: &Metadata, ids: &Identities) -> Vec<String> {
        let mine = ids.recipients();
        let mut out: Vec<String> = Vec::new();
        for k in meta.key_groups.iter().flat_map(|g| &g.age) {
            if mine.contains(&k.recipient)
                && ids.unwrap(&k.enc).is_err()
                && !out.contains(&k.recipient)
            {
                out.push(k.recipient.clone());
            }
        }
        out
    }

    /// The key groups a new or re-keyed cell gets: exactly these recipients.
    pub fn key_groups(&self) -> Vec<KeyGroup> {
        vec![KeyGroup::of_recipients(&self.age)]
    }

    /// Makes a decrypted cell's recipients exactly this list (and its crypt
    /// rule clef's) before it is written. When the block grants anyone else (a foreign, duplicated or
    /// other-kind stanza, key groups), the data key is replaced: whoever held
    /// the old one must not read what is written next. When recipients are
    /// only missing, the same data key is wrapped for them. Returns what was
    /// done, `None` when the cell already conformed. `rotate` forces a new
    /// data key (`clef rotate`, or someone lost access).
    pub fn conform(
        &self,
        plain: &mut PlainFile,
        rotate: bool,
        keys: &Keyring,
    ) -> Result<Option<Conformed>, SopsError> {
        let d = self.drift(&plain.meta);
        if d.is_clean() && !rotate {
            return Ok(None);
        }
        let (rule, mac_only) = default_crypt();
        plain.meta.rule = rule;
        plain.meta.mac_only_encrypted = mac_only;
        let rotate = rotate || d.grants_extra();
        plain.meta.key_groups = self.key_groups();
        plain.meta.shamir_threshold = 0;
        if rotate {
            plain.rotate(keys)?;
        } else {
            plain.set_key_groups(self.key_groups(), 0, keys)?;
        }
        Ok(Some(Conformed {
            rotated: rotate,
            drift: d,
        }))
    }
}

/// What [`Access::conform`] did.
#[derive(Debug, Clone)]
pub struct Conformed {
    /// A new data key was generated (someone not granted held the old one).
    pub rotated: bool,
    /// What differed before.
    pub drift: Drift,
}

impl Manifest {
    /// Who may read `cell`: the environment's own `recipients` list when it
    /// has one, otherwise the global `sops.age.recipients`, plus the service
    /// identities that cover the namespace (and are not `pack_only`). This is
    /// the one answer to "who may read this cell".
    pub fn access(&self, cell: &Cell) -> Access {
        let mut out: Vec<String> = Vec::new();
        let mut push = |r: &str| {
            if !out.iter().any(|x| x == r) {
                out.push(r.to_owned());
            }
        };
        match self
            .environment(&cell.environment)
            .and_then(|e| e.recipients.as_ref())
        {
            Some(list) => list.iter().for_each(|r| push(&r.key)),
            None => self.age_recipients.iter().for_each(|r| push(&r.key)),
        }
        for si in &self.service_identities {
            if si.pack_only || !si.namespaces.contains(&cell.namespace) {
                continue;
            }
            for (env, key) in &si.environments {
                if *env == cell.environment
                    && let ServiceKey::Recipient(r) = key
                {
                    push(r);
                }
            }
        }
        let backend = self
            .environment(&cell.environment)
            .map_or(Backend::Age, |e| self.backend_of(e));
        Access { backend, age: out }
    }

    /// The cell stored at `path` (relative to the repository root), if the
    /// manifest governs it.
    pub fn cell_at(&self, path: &Path) -> Option<Cell> {
        let norm = |p: &Path| -> std::path::PathBuf {
            p.components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect()
        };
        let want = norm(path);
        self.cells().into_iter().find(|c| norm(&c.file) == want)
    }
}

/// The access list of the cell stored at `file`, when a `clef.yaml` in one of
/// its parent directories governs it (`clef sops rotate`/`updatekeys` then
/// follow the manifest); `None` for a plain SOPS file outside any manifest.
pub fn governing(file: &Path) -> Result<Option<(Cell, Access)>, crate::ManifestError> {
    let Ok(abs) = std::fs::canonicalize(file) else {
        return Ok(None);
    };
    for dir in abs.ancestors().skip(1) {
        if !dir.join(crate::manifest::FILE_NAME).is_file() {
            continue;
        }
        let manifest = Manifest::load(dir)?;
        let rel = abs.strip_prefix(dir).unwrap_or(&abs);
        return Ok(manifest
            .cell_at(rel)
            .map(|c| (c.clone(), manifest.access(&c)))
            .filter(|(_, a)| a.governs_keys()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clef_sops::{AgeKey, Format};

    fn manifest(a: &str) -> Manifest {
        let text = Manifest::initial_text(&["api".into()], &["dev".into()], a);
        Manifest::parse(&text, Path::new("clef.yaml")).unwrap()
    }

    #[test]
    fn drift_names_foreign_duplicated_missing_and_crypt() {
        let (_, a) = clef_keys::generate_identity();
        let (_, b) = clef_keys::generate_identity();
        let m = manifest(&a);
        let cell = m.cell_at(Path::new("./secrets/api/dev.enc.yaml")).unwrap();
        let access = m.access(&cell);
        let mut meta = Metadata::new(
            vec![KeyGroup::of_recipients(&[&b])],
            0,
            CryptRule::default(),
            false,
        );
        let d = access.drift(&meta);
        assert_eq!(d.foreign, std::slice::from_ref(&b));
        assert_eq!(d.missing, std::slice::from_ref(&a));
        assert!(d.grants_extra());
        meta.key_groups[0].age = vec![
            AgeKey {
                recipient: a.clone(),
                enc: String::new(),
            },
            AgeKey {
                recipient: a.clone(),
                enc: String::new(),
            },
        ];
        meta.rule = CryptRule::EncryptedRegex("^NOTHING$".into());
        let d = access.drift(&meta);
        assert_eq!(d.duplicated, std::slice::from_ref(&a));
        assert!(d.foreign.is_empty() && d.missing.is_empty());
        assert_eq!(
            d.crypt,
            Some(("encrypted_regex".into(), "^NOTHING$".into()))
        );
        assert!(d.describe().iter().all(|(error, _)| *error));
    }

    #[test]
    fn conform_rotates_away_from_a_foreign_reader() {
        let (_, a) = clef_keys::generate_identity();
        let (_, b) = clef_keys::generate_identity();
        let m = manifest(&a);
        let access = m.access(&m.target("api/dev").unwrap());
        let mut plain = crate::cell::new_plain(Format::Yaml, &[a.clone(), b.clone()]).unwrap();
        let before = plain.data_key().clone();
        let done = access
            .conform(&mut plain, false, &Keyring::empty())
            .unwrap()
            .unwrap();
        assert!(done.rotated);
        assert!(*plain.data_key() != before, "a new data key");
        assert_eq!(plain.meta.age_recipients(), [a.as_str()]);
        assert!(
            access
                .conform(&mut plain, false, &Keyring::empty())
                .unwrap()
                .is_none()
        );
    }
}
