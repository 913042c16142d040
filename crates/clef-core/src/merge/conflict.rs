//! Conflict documents: rendering git-style markers and reading them back.
//!
//! A conflict document is built from three *variants* of the merged file,
//! identical everywhere except at the conflicting keys (where they hold the
//! base, ours and theirs value). Because every variant is emitted by the same
//! writer under the same data key, with the same IVs for the same values and
//! a fixed `lastmodified`/sentinel `mac`, a line-level diff3 of the three
//! texts yields hunks exactly around the conflicting `KEY: ENC[...]` lines.
//! The texts are ciphertext only; this module never sees plaintext.
//!
//! [`split`] is the inverse: it recovers the three variants from a document
//! (possibly partly hand-edited), which `resolve` and `status` then parse.

use super::MergeError;
use similar::{Algorithm, DiffOp, capture_diff_slices};

/// Labels for the markers (`%X`, `%S`, `%Y`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// Base (`|||||||` line).
    pub base: String,
    /// Ours (`<<<<<<<` line).
    pub ours: String,
    /// Theirs (`>>>>>>>` line).
    pub theirs: String,
}

use crate::conflict::{DEFAULT_MARKER_SIZE, marker_kind};

/// Renders a diff3-style conflict document from three variant texts.
/// Returns the document and the number of conflict hunks.
pub fn render(
    base: &str,
    ours: &str,
    theirs: &str,
    marker_size: usize,
    labels: &Labels,
) -> (String, usize) {
    let b: Vec<&str> = base.split_inclusive('\n').collect();
    let o: Vec<&str> = ours.split_inclusive('\n').collect();
    let t: Vec<&str> = theirs.split_inclusive('\n').collect();
    let mo = matches(&b, &o);
    let mt = matches(&b, &t);
    let n = marker_size.max(DEFAULT_MARKER_SIZE);

    // Stable lines and difference chunks. Every difference becomes a hunk,
    // even one a text merge would take cleanly: the variants differ only at
    // semantic conflicts (a list changed at both ends must not be spliced),
    // and `split` must give back exactly the three variants.
    let mut segs: Vec<Seg<'_>> = Vec::new();
    let (mut i, mut j, mut k) = (0, 0, 0);
    loop {
        // Next base line matched in both ours and theirs.
        let stable = (i..b.len()).find_map(|x| Some((x, mo[x]?, mt[x]?)));
        let (ie, je, ke) = stable.unwrap_or((b.len(), o.len(), t.len()));
        let (bc, oc, tc) = (&b[i..ie], &o[j..je], &t[k..ke]);
        if !(bc.is_empty() && oc.is_empty() && tc.is_empty()) {
            segs.push(Seg::Hunk([oc.to_vec(), bc.to_vec(), tc.to_vec()]));
        }
        match stable {
            Some((x, y, z)) => {
                segs.push(Seg::Stable(b[x]));
                (i, j, k) = (x + 1, y + 1, z + 1);
            }
            None => break,
        }
    }
    let segs = widen(segs);

    let mut out = String::with_capacity(ours.len() + theirs.len() / 4);
    let mut hunks = 0;
    for seg in &segs {
        match seg {
            Seg::Stable(l) => push_lines(&mut out, &[l]),
            Seg::Hunk([oc, bc, tc]) => {
                hunks += 1;
                marker(&mut out, '<', n, &labels.ours);
                push_lines(&mut out, oc);
                marker(&mut out, '|', n, &labels.base);
                push_lines(&mut out, bc);
                marker(&mut out, '=', n, "");
                push_lines(&mut out, tc);
                marker(&mut out, '>', n, &labels.theirs);
            }
        }
    }
    (out, hunks)
}

enum Seg<'a> {
    Stable(&'a str),
    /// ours, base, theirs
    Hunk([Vec<&'a str>; 3]),
}

/// A line that starts an entry (`key: …`, `"key": …`) rather than continuing
/// one (a list item, a closing bracket, a block-scalar line).
fn starts_entry(line: &str) -> bool {
    let t = line.trim_start();
    !t.starts_with('-') && !t.starts_with('#') && (t.contains(": ") || t.trim_end().ends_with(':'))
}

/// Widens hunks to whole entries, for readability: a hunk that begins inside
/// an entry (say, in the middle of a list) takes in the stable lines above it
/// up to the entry's key line, and stable continuation lines after it; hunks
/// that then touch are joined. Stable lines moved into a hunk go to all
/// three sides, so the variants are unchanged.
fn widen(segs: Vec<Seg<'_>>) -> Vec<Seg<'_>> {
    let mut out: Vec<Seg<'_>> = Vec::with_capacity(segs.len());
    let mut it = segs.into_iter().peekable();
    while let Some(seg) = it.next() {
        let Seg::Hunk(mut sides) = seg else {
            out.push(seg);
            continue;
        };
        // Backwards: while the hunk opens mid-entry, pull in the line above.
        loop {
            let mid_entry = sides
                .iter()
                .any(|s| s.first().is_some_and(|l| !starts_entry(l)));
            match out.last() {
                Some(Seg::Stable(l)) if mid_entry => {
                    let l = *l;
                    out.pop();
                    for s in &mut sides {
                        s.insert(0, l);
                    }
                }
                Some(Seg::Hunk(_)) => {
                    if let Some(Seg::Hunk(prev)) = out.pop() {
                        for (p, s) in prev.into_iter().zip(sides.iter_mut()) {
                            let mut joined = p;
                            joined.append(s);
                            *s = joined;
                        }
                    }
                }
                _ => break,
            }
        }
        // Forwards: take continuation lines of the same entry, and join a
        // hunk that follows directly.
        loop {
            match it.peek() {
                Some(Seg::Stable(l)) if !starts_entry(l) => {
                    let l = *l;
                    it.next();
                    for s in &mut sides {
                        s.push(l);
                    }
                }
                Some(Seg::Hunk(_)) => {
                    if let Some(Seg::Hunk(next)) = it.next() {
                        for (s, n) in sides.iter_mut().zip(next) {
                            s.extend(n);
                        }
                    }
                }
                _ => break,
            }
        }
        out.push(Seg::Hunk(sides));
    }
    out
}

fn matches(a: &[&str], b: &[&str]) -> Vec<Option<usize>> {
    let mut m = vec![None; a.len()];
    for op in capture_diff_slices(Algorithm::Myers, a, b) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for d in 0..len {
                m[old_index + d] = Some(new_index + d);
            }
        }
    }
    m
}

fn push_lines(out: &mut String, lines: &[&str]) {
    for l in lines {
        out.push_str(l);
        if !l.ends_with('\n') {
            out.push('\n');
        }
    }
}

fn marker(out: &mut String, c: char, n: usize, label: &str) {
    out.extend(std::iter::repeat_n(c, n));
    if !label.is_empty() {
        out.push(' ');
        // A label must stay on one line.
        out.extend(
            label
                .chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
    }
    out.push('\n');
}

/// The three variants recovered from a conflict document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variants {
    /// Text outside hunks plus every hunk's base part.
    pub base: String,
    /// Text outside hunks plus every hunk's ours part.
    pub ours: String,
    /// Text outside hunks plus every hunk's theirs part.
    pub theirs: String,
    /// Number of hunks found.
    pub hunks: usize,
}

/// Splits a conflict document into its base, ours and theirs variants.
/// Hunks without a base part (`merge.conflictStyle=merge`) take ours as base.
pub fn split(doc: &str) -> Result<Variants, MergeError> {
    #[derive(PartialEq)]
    enum State {
        Out,
        Ours,
        Base,
        Theirs,
    }
    let mut v = Variants {
        base: String::new(),
        ours: String::new(),
        theirs: String::new(),
        hunks: 0,
    };
    let mut n = None;
    let mut state = State::Out;
    let mut saw_base = false;
    let mut hunk_ours = String::new();
    for (lineno, line) in doc.split_inclusive('\n').enumerate() {
        let bad = |what: &str| MergeError::BadMarkers {
            line: lineno + 1,
            what: what.to_owned(),
        };
        match (marker_kind(line, &mut n), &state) {
            (Some('<'), State::Out) => {
                state = State::Ours;
                saw_base = false;
                hunk_ours.clear();
            }
            (Some('|'), State::Ours) => {
                state = State::Base;
                saw_base = true;
            }
            (Some('='), State::Ours | State::Base) => {
                if !saw_base {
                    v.base.push_str(&hunk_ours);
                }
                state = State::Theirs;
            }
            (Some('>'), State::Theirs) => {
                state = State::Out;
                v.hunks += 1;
            }
            (Some(c), _) => return Err(bad(&format!("unexpected `{c}` marker"))),
            (None, State::Out) => {
                v.base.push_str(line);
                v.ours.push_str(line);
                v.theirs.push_str(line);
            }
            (None, State::Ours) => {
                v.ours.push_str(line);
                hunk_ours.push_str(line);
            }
            (None, State::Base) => v.base.push_str(line),
            (None, State::Theirs) => v.theirs.push_str(line),
        }
    }
    if state != State::Out {
        return Err(MergeError::BadMarkers {
            line: doc.lines().count(),
            what: "unterminated conflict hunk".to_owned(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels {
            base: "base".into(),
            ours: "HEAD".into(),
            theirs: "feature".into(),
        }
    }

    #[test]
    fn every_difference_is_a_hunk_and_split_inverts_render() {
        // A list changed at both ends: a text merge would splice it cleanly.
        let b = "l:\n- 1\n- 2\nz: 1\n";
        let o = "l:\n- 1\n- 2\n- 3\nz: 1\n";
        let t = "l:\n- 0\n- 1\n- 2\nz: 1\n";
        let (doc, hunks) = render(b, o, t, 7, &labels());
        // One hunk holding the whole list on each side.
        assert_eq!(hunks, 1);
        assert_eq!(
            doc,
            "<<<<<<< HEAD\nl:\n- 1\n- 2\n- 3\n||||||| base\nl:\n- 1\n- 2\n=======\nl:\n- 0\n- 1\n- 2\n>>>>>>> feature\nz: 1\n"
        );
        let v = split(&doc).unwrap();
        assert_eq!(
            (v.base.as_str(), v.ours.as_str(), v.theirs.as_str()),
            (b, o, t)
        );
    }

    #[test]
    fn conflict_hunk_with_labels_and_size() {
        let b = "a: 1\nb: 2\nc: 3\n";
        let o = "a: 1\nb: O\nc: 3\n";
        let t = "a: 1\nb: T\nc: 3\n";
        let (doc, hunks) = render(b, o, t, 9, &labels());
        assert_eq!(hunks, 1);
        assert_eq!(
            doc,
            "a: 1\n<<<<<<<<< HEAD\nb: O\n||||||||| base\nb: 2\n=========\nb: T\n>>>>>>>>> feature\nc: 3\n"
        );
        let v = split(&doc).unwrap();
        assert_eq!(
            (v.base.as_str(), v.ours.as_str(), v.theirs.as_str(), v.hunks),
            (b, o, t, 1)
        );
    }

    #[test]
    fn delete_modify_and_add_add_hunks_round_trip() {
        let b = "a: 1\nb: 2\n";
        let o = "a: 1\nn: X\n";
        let t = "a: 1\nb: 3\nn: Y\n";
        let (doc, hunks) = render(b, o, t, 7, &labels());
        assert!(hunks >= 1);
        let v = split(&doc).unwrap();
        assert_eq!(
            (v.base.as_str(), v.ours.as_str(), v.theirs.as_str()),
            (b, o, t)
        );
    }

    proptest::proptest! {
        #[test]
        fn split_inverts_render(
            b in proptest::collection::vec(proptest::sample::select(vec!["a: 1", "b:", "- x", "- y", "  c: 2", "}", "\"k\": v,"]), 0..8),
            o in proptest::collection::vec(proptest::sample::select(vec!["a: 1", "b:", "- x", "- z", "  c: 3", "}"]), 0..8),
            t in proptest::collection::vec(proptest::sample::select(vec!["a: 2", "b:", "- x", "- y", "  c: 2", "]"]), 0..8),
        ) {
            let join = |v: &Vec<&str>| v.iter().map(|l| format!("{l}\n")).collect::<String>();
            let (b, o, t) = (join(&b), join(&o), join(&t));
            let (doc, _) = render(&b, &o, &t, 7, &labels());
            let v = split(&doc).unwrap();
            proptest::prop_assert_eq!((v.base, v.ours, v.theirs), (b, o, t));
        }
    }

    #[test]
    fn missing_final_newline_is_tolerated() {
        let (doc, _) = render("a: 1", "a: 2", "a: 3", 7, &Labels::default());
        assert_eq!(
            doc,
            "<<<<<<<\na: 2\n|||||||\na: 1\n=======\na: 3\n>>>>>>>\n"
        );
    }

    #[test]
    fn merge_style_hunks_without_base() {
        let doc = "x\n<<<<<<< ours\nb: O\n=======\nb: T\n>>>>>>> theirs\ny\n";
        let v = split(doc).unwrap();
        assert_eq!(v.ours, "x\nb: O\ny\n");
        assert_eq!(v.theirs, "x\nb: T\ny\n");
        assert_eq!(v.base, "x\nb: O\ny\n");
    }

    #[test]
    fn broken_markers_are_errors() {
        assert!(split("<<<<<<< a\nx\n").is_err());
        assert!(split("<<<<<<< a\nx\n>>>>>>> b\n").is_err());
        // Without a start marker a line of `=` is content...
        assert_eq!(split("a\n=======\nb\n").unwrap().hunks, 0);
        // ...but after a hunk it is a stray marker.
        assert!(split("<<<<<<< a\nx\n=======\ny\n>>>>>>> b\n=======\n").is_err());
        // Markers of another size are content.
        let v = split("<<<<<<< a\nx\n||||||||| b\n=======\ny\n>>>>>>> c\n").unwrap();
        assert_eq!(v.ours, "x\n||||||||| b\n");
    }
}
