//! The access list: who may read a cell, and whether a cell's `sops` block
//! agrees with it.
//!
//! `clef.yaml` is the only authority. A cell's own `sops` block is not covered
//! by the MAC (anyone can edit it in a branch), so every path that wraps or
//! accepts a data key asks [`Manifest::access`] and compares with
//! [`Access::drift`]; nothing trusts the stanza labels. New kinds of grantee
//! (cloud KMS keys, more service identities) are added here and nowhere else.

use std::path::Path;

use clef_doc::Value;
use clef_keys::Identities;
use clef_sops::masterkey::{Keyring, stanza, stanza_field, stanza_id};
use clef_sops::{CryptRule, KeyGroup, Metadata, PlainFile, SopsError};

use crate::manifest::{Backend, KmsKey, Manifest, ServiceKey};
use crate::matrix::Cell;

/// Who may read one cell, as clef.yaml grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The environment's backend.
    pub backend: Backend,
    /// The age recipients, without duplicates, in manifest order (for a
    /// cloud KMS environment: the break-glass recipient and the service
    /// identities' recipients).
    pub age: Vec<String>,
    /// The cloud KMS key of a KMS environment (its only `kms`/`gcp_kms` stanza).
    pub kms: Option<KmsKey>,
}

/// The stanza kinds of the cloud KMS backends clef governs.
pub const KMS_KINDS: [&str; 2] = ["kms", "gcp_kms"];

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
    /// Cloud KMS keys with a stanza that clef.yaml does not grant
    /// (`kms arn:…`, `gcp_kms projects/…`).
    pub foreign_kms: Vec<String>,
    /// The cloud KMS key clef.yaml grants, when the cell has no stanza for it.
    pub missing_kms: Option<String>,
    /// Master keys of other kinds (`pgp`, `azure_kv`, …) clef.yaml does not grant.
    pub other_kinds: Vec<String>,
    /// The cell is sealed with another backend than clef.yaml names for its
    /// environment: `(found, expected)` (`clef migrate-backend` moves it).
    pub backend: Option<(Backend, Backend)>,
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
            || !self.foreign_kms.is_empty()
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
        for k in &self.foreign_kms {
            out.push(format!(
                "{k} can decrypt this cell but clef.yaml does not grant it"
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
        if let Some((found, expected)) = self.backend {
            out.push(format!(
                "the cell is sealed with {} but clef.yaml names {} for its environment (run `clef migrate-backend`)",
                found.name(),
                expected.name()
            ));
        }
        for r in &self.missing {
            out.push(format!(
                "recipient {r} is in clef.yaml but cannot decrypt this cell"
            ));
        }
        if let Some(k) = &self.missing_kms {
            out.push(format!("{k} is in clef.yaml but cannot decrypt this cell"));
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
    /// a cloud KMS environment with its key, or an age cell of a manifest
    /// that names at least one reader (azurekv/pgp/hsm environments are not
    /// governed; a manifest naming nobody cannot be used to write a cell at
    /// all, so there is nothing to compare with).
    pub fn governs_keys(&self) -> bool {
        self.kms.is_some() || (self.backend == Backend::Age && !self.age.is_empty())
    }

    /// Whether clef.yaml grants a stanza of a cloud KMS `kind`: `None` for
    /// other kinds (age, pgp, …), which this does not answer.
    pub fn grants_kms_stanza(&self, kind: &str, stanza: &Value) -> Option<bool> {
        if !KMS_KINDS.contains(&kind) {
            return None;
        }
        Some(self.kms.as_ref().is_some_and(|k| {
            k.kind() == kind && stanza_field(stanza, k.id_field()) == Some(k.id())
        }))
    }

    /// The backend a cell's block is sealed with, as the old Clef detects
    /// it: a cloud KMS stanza makes it that backend (a break-glass age
    /// stanza beside it does not count), else age.
    pub fn sealed_with(meta: &Metadata) -> Backend {
        let kinds = || {
            meta.key_groups
                .iter()
                .flat_map(|g| &g.other)
                .map(|(k, _)| k.as_str())
        };
        if kinds().any(|k| k == "kms") {
            Backend::AwsKms
        } else if kinds().any(|k| k == "gcp_kms") {
            Backend::GcpKms
        } else {
            Backend::Age
        }
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
        let mut kms_seen = 0;
        for (kind, st) in meta.key_groups.iter().flat_map(|g| &g.other) {
            match self.grants_kms_stanza(kind, st) {
                Some(true) => kms_seen += 1,
                Some(false) => {
                    let id = stanza_id(kind, st);
                    if !d.foreign_kms.contains(&id) {
                        d.foreign_kms.push(id);
                    }
                }
                None if !d.other_kinds.contains(kind) => d.other_kinds.push(kind.clone()),
                None => {}
            }
        }
        if let Some(k) = &self.kms {
            match kms_seen {
                0 => d.missing_kms = Some(k.to_string()),
                1 => {}
                _ => d.duplicated.push(k.to_string()),
            }
        }
        let found = Self::sealed_with(meta);
        let expected = self.kms.as_ref().map_or(Backend::Age, KmsKey::backend);
        if found != expected {
            d.backend = Some((found, expected));
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

    /// The key groups a new or re-keyed cell gets: exactly these recipients
    /// and the KMS key (stanzas not wrapped yet: a `Keyring` with the cloud
    /// backends wraps them).
    pub fn key_groups(&self) -> Vec<KeyGroup> {
        let mut g = KeyGroup::of_recipients(&self.age);
        if let Some(k) = &self.kms {
            g.other
                .push((k.kind().to_owned(), stanza(&[(k.id_field(), k.id())])));
        }
        vec![g]
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
        let listed = match self
            .environment(&cell.environment)
            .and_then(|e| e.recipients.as_ref())
        {
            Some(list) => list,
            None => &self.age_recipients,
        };
        for r in listed {
            if !out.contains(&r.key) {
                out.push(r.key.clone());
            }
        }
        self.service_recipients(cell, &mut out);
        let env = self.environment(&cell.environment);
        let backend = env.map_or(Backend::Age, |e| self.backend_of(e));
        let kms = env.and_then(|e| self.kms_key(e));
        if kms.is_some() {
            // a KMS cell: the KMS key, the break-glass recipient and the
            // service identities; the developers' age list does not apply
            out.clear();
            if let Some(b) = &self.break_glass {
                out.push(b.clone());
            }
            self.service_recipients(cell, &mut out);
        }
        Access {
            backend,
            age: out,
            kms,
        }
    }

    /// Adds the age recipients of the service identities that read `cell`
    /// (not `pack_only`) to `out`, without duplicates.
    fn service_recipients(&self, cell: &Cell, out: &mut Vec<String>) {
        for si in &self.service_identities {
            if si.pack_only || !si.namespaces.contains(&cell.namespace) {
                continue;
            }
            for (env, key) in &si.environments {
                if *env == cell.environment
                    && let ServiceKey::Recipient(r) = key
                    && !out.contains(r)
                {
                    out.push(r.clone());
                }
            }
        }
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

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_kms_environment_grants_its_key_the_break_glass_and_service_recipients() {
        let (_, dev) = clef_keys::generate_identity();
        let (_, glass) = clef_keys::generate_identity();
        let text = Manifest::initial_text(&["api".into()], &["dev".into(), "prod".into()], &dev)
            .replace(
                "  - name: prod\n    description: Live system\n",
                &format!("  - name: prod\n    description: Live system\n    sops:\n      backend: awskms\n      aws_kms_arn: {ARN}\n"),
            )
            .replace("  default_backend: age\n", &format!("  default_backend: age\n  break_glass: {glass}\n"));
        let m = Manifest::parse(&text, Path::new("clef.yaml")).unwrap();
        let prod = m.access(&m.target("api/prod").unwrap());
        assert_eq!(prod.kms, Some(KmsKey::Aws(ARN.into())));
        assert_eq!(prod.age, std::slice::from_ref(&glass), "no developer key");
        assert!(prod.governs_keys());
        let dev_access = m.access(&m.target("api/dev").unwrap());
        assert_eq!(dev_access.kms, None);
        assert_eq!(dev_access.age, std::slice::from_ref(&dev));

        // a prod cell still on age: the developer is foreign, the key and the
        // break-glass recipient are missing, the backend differs
        let meta = Metadata::new(
            vec![KeyGroup::of_recipients(&[&dev])],
            0,
            CryptRule::default(),
            false,
        );
        let d = prod.drift(&meta);
        assert_eq!(d.foreign, std::slice::from_ref(&dev));
        assert_eq!(d.missing_kms, Some(format!("kms {ARN}")));
        assert_eq!(d.backend, Some((Backend::Age, Backend::AwsKms)));
        // the groups clef writes: the break-glass recipient and the key
        let groups = prod.key_groups();
        let d = prod.drift(&Metadata::new(
            groups.clone(),
            0,
            CryptRule::default(),
            false,
        ));
        assert!(d.is_clean(), "{d:?}");
        // a second, foreign KMS key is an error that grants a reader
        let mut evil = groups;
        evil[0].other.push((
            "kms".into(),
            stanza(&[("arn", "arn:aws:kms:us-east-1:999999999999:key/evil")]),
        ));
        let d = prod.drift(&Metadata::new(evil, 0, CryptRule::default(), false));
        assert_eq!(
            d.foreign_kms,
            ["kms arn:aws:kms:us-east-1:999999999999:key/evil"]
        );
        assert!(d.grants_extra());
        assert!(
            d.describe()
                .iter()
                .any(|(e, l)| *e && l.contains("key/evil"))
        );
        // the age environment refuses any KMS stanza
        let d = dev_access.drift(&Metadata::new(
            prod.key_groups(),
            0,
            CryptRule::default(),
            false,
        ));
        assert_eq!(d.foreign_kms, [format!("kms {ARN}")]);
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
