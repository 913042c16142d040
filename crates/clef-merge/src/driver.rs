//! File-level merging: bytes in, bytes out, everything in memory.
//!
//! [`merge_sops`] decrypts the three sides (verifying each MAC), merges the
//! trees ([`crate::tree3`]) and the metadata (`meta`), and either
//! re-encrypts the result (unchanged values keep their exact `ENC[...]`
//! through the IV stash; fresh `lastmodified` and MAC) or renders a
//! ciphertext-only conflict document ([`crate::conflict`]) with the sentinel
//! MAC [`clef_core::conflict::CONFLICT_MAC`]. [`merge_sidecar_bytes`] does the same for the
//! plaintext `.clef-meta.yaml` sidecar. [`run`] is the whole driver: read
//! `%O %A %B`, dispatch on `%P`, write `%A` atomically.
//! Which merge a path takes is [`clef_core::classify::merge_kind`].

use crate::args::Args;
use crate::conflict::{self, Labels};
use crate::meta::{MetaSide, merge_meta};
use crate::tree3::{Conflict, Merged, Side, merge_docs};
use crate::{DriverError, MergeError, ResolveError, sidecar};
use clef_core::access::Access;
use clef_core::classify::{MergeKind, merge_kind};
use clef_doc::tree::Branch;
use clef_sops::Keyring;
use clef_sops::masterkey::{stanza_field, stanza_id};
use clef_sops::{DataKey, EncryptedFile, Format, PlainFile, SopsError};
use std::fs;
use std::path::Path;
use zeroize::Zeroizing;

use clef_core::conflict::{CONFLICT_MAC, has_markers};

/// What a merge produced.
#[derive(Debug)]
pub struct Outcome {
    /// The bytes for `%A` (a valid file, or a conflict document). Never plaintext
    /// of an encrypted file.
    pub bytes: Vec<u8>,
    /// The conflicting keys (empty when clean).
    pub conflicts: Vec<Conflict>,
    /// Warnings for the user (no values).
    pub notes: Vec<String>,
}

impl Outcome {
    /// Whether the merge was clean.
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty()
    }
}

fn text<'a>(bytes: &'a [u8], side: &'static str) -> Result<&'a str, DriverError> {
    let t = std::str::from_utf8(bytes).map_err(|_| ResolveError::NotUtf8(side))?;
    if has_markers(t) {
        return Err(DriverError::Markers(side));
    }
    Ok(t)
}

fn parse_side(
    bytes: &[u8],
    format: Format,
    side: &'static str,
) -> Result<EncryptedFile, DriverError> {
    text(bytes, side)?;
    EncryptedFile::parse(bytes, format).map_err(|source| ResolveError::Sops { side, source }.into())
}

/// Merges three sops files of `format`. `base` may be empty (add/add).
/// Nothing governs the recipients: a plain SOPS file outside any clef.yaml.
pub fn merge_sops(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    format: Format,
    ids: &Keyring,
    marker_size: usize,
    labels: &Labels,
) -> Result<Outcome, DriverError> {
    merge_sops_governed([base, ours, theirs], format, ids, marker_size, labels, None)
}

/// [`merge_sops`] for a cell that clef.yaml governs: `access` is what the
/// manifest at HEAD grants. A side whose data key is new (changed from the
/// base, or no base) must not be readable by anyone else
/// ([`DriverError::Ungranted`]); the merged data key is never wrapped for a
/// recipient outside `access` (such stanzas are dropped, with a note).
pub fn merge_sops_governed(
    [base, ours, theirs]: [&[u8]; 3],
    format: Format,
    ids: &Keyring,
    marker_size: usize,
    labels: &Labels,
    access: Option<&Access>,
) -> Result<Outcome, DriverError> {
    let base_empty = base.iter().all(u8::is_ascii_whitespace);
    let eb = if base_empty {
        None
    } else {
        Some(parse_side(base, format, "base")?)
    };
    let eo = parse_side(ours, format, "ours")?;
    let et = parse_side(theirs, format, "theirs")?;

    // Data keys: ours and theirs must open; the base may be encrypted for
    // recipients we no longer have, in which case ours' or theirs' key is tried.
    let mut dropped = Vec::new();
    let (eb, eo, et) = match access {
        None => (eb, eo, et),
        Some(a) => (
            eb.map(|f| granted_only(f, a, "base", &mut dropped)),
            granted_only(eo, a, "ours", &mut dropped),
            granted_only(et, a, "theirs", &mut dropped),
        ),
    };
    let ko = match eo.data_key(ids) {
        Ok(k) => k,
        Err(e) => return keyless(eb.as_ref(), &eo, &et, e).map(|o| with_dropped(o, &dropped)),
    };
    let kt = match et.data_key(ids) {
        Ok(k) => k,
        Err(e) => return keyless(eb.as_ref(), &eo, &et, e).map(|o| with_dropped(o, &dropped)),
    };
    let po = eo
        .decrypt_with_key(ko.clone())
        .map_err(|source| ResolveError::Sops {
            side: "ours",
            source,
        })?;
    let pt = et
        .decrypt_with_key(kt.clone())
        .map_err(|source| ResolveError::Sops {
            side: "theirs",
            source,
        })?;
    let pb = match &eb {
        None => None,
        Some(eb) => Some(decrypt_base(eb, ids, &ko, &kt)?),
    };
    if let Some(a) = access {
        // A new data key arrives only with exactly the granted readers.
        let kb = pb.as_ref().map(PlainFile::data_key);
        for (side, k, f) in [("ours", &ko, &eo), ("theirs", &kt, &et)] {
            if kb == Some(k) {
                continue;
            }
            let extra: Vec<String> = dropped
                .iter()
                .filter(|(s, _)| *s == side)
                .map(|(_, r)| r.clone())
                .chain(a.drift(&f.meta).other_kinds)
                .collect();
            if !extra.is_empty() {
                return Err(DriverError::Ungranted {
                    side,
                    recipients: extra,
                });
            }
        }
    }

    // The merged data key: shared, or the one a side rotated to.
    let kb = pb.as_ref().map(PlainFile::data_key);
    let adopt = if ko == kt || kb != Some(&ko) {
        Side::Ours
    } else {
        Side::Theirs
    };
    let key = if adopt == Side::Ours {
        ko.clone()
    } else {
        kt.clone()
    };
    let mut notes = dropped_notes(&dropped);
    if ko != kt {
        notes.push(match (kb, adopt) {
            (Some(_), Side::Theirs) => {
                "theirs rotated the data key: ours' changes were re-encrypted under it".to_owned()
            }
            (Some(k), _) if *k != kt => {
                "both sides rotated the data key: ours' key was kept, theirs' changes re-encrypted"
                    .to_owned()
            }
            (Some(_), _) => {
                "ours rotated the data key: theirs' changes were re-encrypted under it".to_owned()
            }
            (None, _) => {
                "the sides were encrypted with different data keys: ours' key was kept".to_owned()
            }
        });
    }

    let (meta, rewrap) = merge_meta(
        pb.as_ref().map(|p| MetaSide {
            meta: &p.meta,
            same_key: *p.data_key() == key,
        }),
        MetaSide {
            meta: &po.meta,
            same_key: ko == key,
        },
        MetaSide {
            meta: &pt.meta,
            same_key: kt == key,
        },
        Some(&key),
    )?;

    let merged = merge_docs(pb.as_ref().map_or(&[][..], |p| &p.docs), &po.docs, &pt.docs)?;
    if merged.comment_conflicts > 0 {
        notes.push(format!(
            "{} comment block(s) were changed differently on both sides; ours were kept",
            merged.comment_conflicts
        ));
    }

    let (mut result, others) = match adopt {
        Side::Theirs => (pt, [Some(po), pb]),
        _ => (po, [Some(pt), pb]),
    };
    for other in others.iter().flatten() {
        result.absorb_stash(other);
    }
    drop(others);
    result.meta = meta;
    if rewrap {
        let (groups, threshold) = (result.meta.key_groups.clone(), result.meta.shamir_threshold);
        result
            .set_key_groups(groups, threshold, ids)
            .map_err(|e| DriverError::Rewrap(e.to_string()))?;
        notes.push(
            "the Shamir key groups changed on both sides: the data key was split afresh".to_owned(),
        );
    }

    if merged.is_clean() {
        result.docs = merged.materialize_side(Side::Ours);
        let enc = result.encrypt().map_err(ResolveError::Encrypt)?;
        let bytes = enc.to_bytes().map_err(ResolveError::Encrypt)?;
        return Ok(Outcome {
            bytes,
            conflicts: Vec::new(),
            notes,
        });
    }
    let bytes = conflict_document(&mut result, &merged, marker_size, labels)?;
    Ok(Outcome {
        bytes,
        conflicts: merged.conflicts,
        notes,
    })
}

/// `f` without the age stanzas of recipients `access` does not grant; each
/// one dropped is recorded with its side.
fn granted_only(
    mut f: EncryptedFile,
    access: &Access,
    side: &'static str,
    dropped: &mut Vec<(&'static str, String)>,
) -> EncryptedFile {
    for g in &mut f.meta.key_groups {
        g.age.retain(|k| {
            let ok = access.age.contains(&k.recipient);
            if !ok {
                dropped.push((side, k.recipient.clone()));
            }
            ok
        });
        // a cloud KMS stanza clef.yaml does not grant goes the same way
        g.other.retain(|(kind, st)| {
            let ok = access.grants_kms_stanza(kind, st) != Some(false);
            if !ok {
                dropped.push((side, stanza_id(kind, st)));
            }
            ok
        });
    }
    f
}

/// One note per recipient dropped from the merge (each named once).
fn dropped_notes(dropped: &[(&'static str, String)]) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for (side, r) in dropped {
        if *side != "base" && !names.contains(&r.as_str()) {
            names.push(r);
        }
    }
    names
        .into_iter()
        .map(|r| {
            let who = if r.starts_with("age1") { format!("recipient {r}") } else { r.to_owned() };
            format!("{who} is not granted by clef.yaml at HEAD: the merged data key is not wrapped for it")
        })
        .collect()
}

fn with_dropped(mut o: Outcome, dropped: &[(&'static str, String)]) -> Outcome {
    let mut notes = dropped_notes(dropped);
    notes.append(&mut o.notes);
    o.notes = notes;
    o
}

fn decrypt_base(
    eb: &EncryptedFile,
    ids: &Keyring,
    ko: &DataKey,
    kt: &DataKey,
) -> Result<PlainFile, DriverError> {
    let err = |source| ResolveError::Sops {
        side: "base",
        source,
    };
    match eb.data_key(ids) {
        Ok(k) => Ok(eb.decrypt_with_key(k).map_err(err)?),
        Err(first) => {
            // The base predates a recipient change that kept the data key.
            for k in [ko, kt] {
                if let Ok(p) = eb.decrypt_with_key(k.clone()) {
                    return Ok(p);
                }
            }
            Err(err(first).into())
        }
    }
}

/// Renders the ciphertext-only conflict document from the three
/// materializations of `merged`, all under `result`'s data key.
fn conflict_document(
    result: &mut PlainFile,
    merged: &Merged,
    marker_size: usize,
    labels: &Labels,
) -> Result<Vec<u8>, DriverError> {
    let lastmodified = clef_sops::time::now_rfc3339();
    let key = result.data_key().clone();
    let render = |result: &mut PlainFile, side: Side| -> Result<String, DriverError> {
        result.docs = merged.materialize_side(side);
        let mut enc = result
            .encrypt_at(&lastmodified)
            .map_err(ResolveError::Encrypt)?;
        enc.meta.mac = CONFLICT_MAC.to_owned();
        let bytes = enc.to_bytes().map_err(ResolveError::Encrypt)?;
        String::from_utf8(bytes).map_err(|_| ResolveError::NotUtf8("merged").into())
    };
    // Encrypt ours' variant first and remember its IVs, so that every clean
    // value has the same ciphertext in all three variants.
    let ours_text = render(result, Side::Ours)?;
    let reread = EncryptedFile::parse(ours_text.as_bytes(), result.format)
        .and_then(|e| e.decrypt_ignore_mac(key))
        .map_err(ResolveError::Encrypt)?;
    result.absorb_stash(&reread);
    drop(reread);
    let base_text = render(result, Side::Base)?;
    let theirs_text = render(result, Side::Theirs)?;
    result.docs.clear();
    rendered(&base_text, &ours_text, &theirs_text, marker_size, labels)
}

/// Renders and checks that the document reads back as exactly the three
/// variants (what `status` and `resolve` rely on).
fn rendered(
    base: &str,
    ours: &str,
    theirs: &str,
    marker_size: usize,
    labels: &Labels,
) -> Result<Vec<u8>, DriverError> {
    let (doc, _) = conflict::render(base, ours, theirs, marker_size, labels);
    let v = conflict::split(&doc)?;
    if v.base != base || v.ours != ours || v.theirs != theirs {
        return Err(ResolveError::Policy(
            "the conflict document would not read back exactly (a value's text contains conflict markers?)".into(),
        )
        .into());
    }
    Ok(doc.into_bytes())
}

/// Without a usable identity nothing can be decrypted. The merge is still
/// safe when the data key is provably the same on all sides (a recipient's
/// wrapped key is byte-identical between them) and at most one side changed
/// values: the result is that side's ciphertext tree with its own
/// `lastmodified`/`mac` (the MAC covers values only), plus the three-way
/// merge of the recipients, whose wrapped keys are copied verbatim.
/// Otherwise the merge is refused with the recipients that would be needed.
fn keyless(
    eb: Option<&EncryptedFile>,
    eo: &EncryptedFile,
    et: &EncryptedFile,
    why: SopsError,
) -> Result<Outcome, DriverError> {
    // the same wrapped key under the same recipient or KMS key on both sides
    let wrapped = |f: &EncryptedFile| -> Vec<(String, String)> {
        let groups = || f.meta.key_groups.iter();
        groups()
            .flat_map(|g| &g.age)
            .map(|k| (k.recipient.clone(), k.enc.clone()))
            .chain(groups().flat_map(|g| &g.other).filter_map(|(kind, st)| {
                let enc = stanza_field(st, "enc").filter(|e| !e.is_empty())?;
                Some((stanza_id(kind, st), enc.to_owned()))
            }))
            .collect()
    };
    let same_key = |a: &EncryptedFile, b: &EncryptedFile| {
        let wb = wrapped(b);
        wrapped(a).iter().any(|x| wb.contains(x))
    };
    let same_docs = |a: &EncryptedFile, b: &EncryptedFile| {
        a.docs.len() == b.docs.len()
            && a.docs
                .iter()
                .zip(&b.docs)
                .all(|(x, y)| crate::tree3::branch_eq(x, y))
    };
    let proven = match eb {
        Some(b) => same_key(b, eo) && same_key(b, et),
        None => same_key(eo, et),
    };
    let values_from = if !proven {
        None
    } else if same_docs(eo, et) || eb.is_some_and(|b| same_docs(b, et)) {
        Some(eo)
    } else if eb.is_some_and(|b| same_docs(b, eo)) {
        Some(et)
    } else {
        None
    };
    let Some(values_from) = values_from else {
        return Err(ResolveError::Sops {
            side: "ours/theirs",
            source: why,
        }
        .into());
    };
    let (mut meta, _) = merge_meta(eb.map(verbatim), verbatim(eo), verbatim(et), None)?;
    meta.lastmodified = values_from.meta.lastmodified.clone();
    meta.mac = values_from.meta.mac.clone();
    let merged = EncryptedFile {
        format: values_from.format,
        docs: values_from.docs.clone(),
        meta,
    };
    Ok(Outcome {
        bytes: merged.to_bytes().map_err(ResolveError::Encrypt)?,
        conflicts: Vec::new(),
        notes: vec![
            "merged without decrypting (no identity): only one side changed values and the data key is unchanged".to_owned(),
        ],
    })
}

/// A side whose wrapped keys are copied as they are.
fn verbatim(f: &EncryptedFile) -> MetaSide<'_> {
    MetaSide {
        meta: &f.meta,
        same_key: true,
    }
}

/// Merges three `.clef-meta.yaml` sidecars (plaintext bookkeeping, no secrets).
pub fn merge_sidecar_bytes(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    marker_size: usize,
    labels: &Labels,
) -> Result<Outcome, DriverError> {
    let parse = |bytes: &[u8], side: &'static str| -> Result<Option<Branch>, DriverError> {
        let t = text(bytes, side)?;
        if t.trim().is_empty() {
            return Ok(None);
        }
        let mut docs =
            clef_doc::yaml::parse(t).map_err(|e| MergeError::Sidecar(format!("{side}: {e}")))?;
        match docs.len() {
            0 => Ok(None),
            1 => Ok(docs.pop()),
            _ => Err(MergeError::Sidecar(format!("{side}: more than one YAML document")).into()),
        }
    };
    let b = parse(base, "base")?;
    let o = parse(ours, "ours")?.unwrap_or_default();
    let t = parse(theirs, "theirs")?.unwrap_or_default();
    let indent = detect_indent(ours);
    let merged = sidecar::merge_sidecar(b.as_ref(), &o, &t)?;
    let emit = |side: Side| clef_doc::yaml::emit(&merged.materialize_side(side), indent);
    if merged.is_clean() {
        return Ok(Outcome {
            bytes: emit(Side::Ours).into_bytes(),
            conflicts: Vec::new(),
            notes: Vec::new(),
        });
    }
    let doc = rendered(
        &emit(Side::Base),
        &emit(Side::Ours),
        &emit(Side::Theirs),
        marker_size,
        labels,
    )?;
    Ok(Outcome {
        bytes: doc,
        conflicts: merged.conflicts,
        notes: Vec::new(),
    })
}

/// The indentation of the first indented line (2 when there is none).
fn detect_indent(bytes: &[u8]) -> usize {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .find(|&n| n > 0)
        .filter(|&n| n <= 8)
        .unwrap_or(2)
}

/// Reads a side; an unreadable file is an error (never treated as empty).
fn read(path: &Path, side: &'static str) -> Result<Zeroizing<Vec<u8>>, DriverError> {
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| DriverError::Io { what: side, source })
}

/// What clef.yaml at `HEAD` of the repository at `dir` grants for the cell
/// at `path` (relative to the work tree root, as git's `%P`); `None` when
/// there is no clef.yaml at HEAD or it does not govern `path` (a plain SOPS
/// file keeps sops's semantics). During a merge the work tree may already
/// hold the other side's clef.yaml: changes to the access list arrive
/// through review of clef.yaml, never through a cell.
pub fn head_access(dir: &Path, path: &Path) -> Result<Option<Access>, DriverError> {
    let err = |e: &dyn std::fmt::Display| DriverError::Manifest(e.to_string());
    // Outside a repository (the driver run by hand) there is no HEAD.
    let repo = match clef_git::Repo::discover(dir) {
        Ok(r) => r,
        Err(clef_git::GitError::Failed { .. }) => return Ok(None),
        Err(e) => return Err(err(&e)),
    };
    let Some(text) = repo
        .file_at("HEAD", clef_core::manifest::FILE_NAME)
        .map_err(|e| err(&e))?
    else {
        return Ok(None);
    };
    let text = String::from_utf8(text).map_err(|_| err(&"not UTF-8"))?;
    let manifest = clef_core::Manifest::parse(&text, Path::new(clef_core::manifest::FILE_NAME))
        .map_err(|e| err(&e))?;
    Ok(manifest
        .cell_at(path)
        .map(|c| manifest.access(&c))
        .filter(Access::governs_keys))
}

/// The whole driver: read `%O %A %B`, merge by `%P`'s kind, write `%A`.
/// `%A` is only written when the merge produced a result (clean or conflict
/// document); on error it is left as git wrote it. `access` answers who may
/// read the cell at `%P` ([`head_access`] in the binary).
pub fn run(
    args: &Args,
    identities: &dyn Fn() -> Result<Keyring, DriverError>,
    access: &dyn Fn(&Path) -> Result<Option<Access>, DriverError>,
) -> Result<Outcome, DriverError> {
    let kind =
        merge_kind(&args.path).ok_or_else(|| DriverError::UnknownFormat(args.path.clone()))?;
    let base = read(&args.base, "%O")?;
    let ours = read(&args.ours, "%A")?;
    let theirs = read(&args.theirs, "%B")?;
    let outcome = match kind {
        MergeKind::Sidecar => {
            merge_sidecar_bytes(&base, &ours, &theirs, args.marker_size, &args.labels)?
        }
        MergeKind::Sops(format) => {
            let ids = identities()?;
            let access = access(&args.path)?;
            merge_sops_governed(
                [&base, &ours, &theirs],
                format,
                &ids,
                args.marker_size,
                &args.labels,
                access.as_ref(),
            )?
        }
    };
    // Only ever ciphertext or a sidecar, through the one writer.
    clef_sops::io::atomic_write(&args.ours, &outcome.bytes, false)
        .map_err(|source| DriverError::Io { what: "%A", source })?;
    Ok(outcome)
}
