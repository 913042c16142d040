//! Is this a conflict document? The one predicate every front end asks
//! (the hooks, `clef get`/`set`, the merge driver), and the marker grammar
//! `clef-merge` renders and reads back.
//!
//! A conflict document is what `clef-merge` leaves when a merge conflicts:
//! git-style markers around the conflicting lines, or the sentinel MAC
//! [`CONFLICT_MAC`] that stops the file from passing as a valid SOPS file.

/// The `mac` written into conflict documents: not an `ENC[...]`, so sops and
/// clef refuse to decrypt the document until `clef merge resolve` rewrites it.
pub const CONFLICT_MAC: &str = "CLEF-CONFLICT-unresolved-merge-do-not-deploy";

/// Default and minimum conflict marker size.
pub const DEFAULT_MARKER_SIZE: usize = 7;

/// The kind of a marker line (`<`, `|`, `=` or `>`), if `line` is one of
/// size `n` (`None` = any size ≥ 7, which a start marker then sets).
pub fn marker_kind(line: &str, n: &mut Option<usize>) -> Option<char> {
    let c = line.chars().next()?;
    if !matches!(c, '<' | '|' | '=' | '>') {
        return None;
    }
    let run = line.chars().take_while(|&x| x == c).count();
    let rest = &line[run..];
    let rest = rest.strip_suffix('\n').unwrap_or(rest);
    let rest = rest.strip_suffix('\r').unwrap_or(rest);
    if !(rest.is_empty() || rest.starts_with(' ')) || (c == '=' && !rest.is_empty()) {
        return None;
    }
    match *n {
        Some(size) if size == run => Some(c),
        None if c == '<' && run >= DEFAULT_MARKER_SIZE => {
            *n = Some(run);
            Some(c)
        }
        _ => None,
    }
}

/// The 1-based line of the first conflict start marker (of any size ≥ 7).
pub fn first_marker_line(doc: &str) -> Option<usize> {
    doc.split_inclusive('\n')
        .position(|l| marker_kind(l, &mut None) == Some('<'))
        .map(|i| i + 1)
}

/// Whether a text contains a conflict start marker (of any size ≥ 7).
pub fn has_markers(doc: &str) -> bool {
    first_marker_line(doc).is_some()
}

/// Whether `raw` is a conflict document left by the merge driver: conflict
/// markers, or the sentinel MAC ([`CONFLICT_MAC`]). The one test every
/// front end uses.
pub fn is_conflict_document(raw: &[u8]) -> bool {
    let mac = CONFLICT_MAC.as_bytes();
    raw.windows(mac.len()).any(|w| w == mac) || has_markers(&String::from_utf8_lossy(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert!(is_conflict_document(b"<<<<<<< ours\n"));
        assert!(is_conflict_document(b"a: 1\n<<<<<<< ours\n"));
        assert!(!is_conflict_document(b"a: '<<<<<<<'\n"));
        assert!(is_conflict_document(
            format!("sops:\n    mac: {CONFLICT_MAC}\n").as_bytes()
        ));
        assert!(!has_markers("<<<<<< six\n"));
        assert!(!has_markers("  <<<<<<< indented\n"));
        assert!(!has_markers("<<<<<<<x\n"));
        assert!(has_markers("a\n<<<<<<<\n"));
        assert!(has_markers("<<<<<<<<<< HEAD\n"));
        assert_eq!(first_marker_line("a: 1\nb: 2\n<<<<<<< HEAD\n"), Some(3));
    }
}
