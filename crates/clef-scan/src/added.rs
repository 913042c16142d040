//! What a commit added to a file: the lines of the new blob that the blob it
//! replaced (the same path in the commit's first parent) does not have.
//!
//! A history scan reads every line any commit added exactly once this way:
//! a line whose content the parent already had at the same path was scanned
//! when that content was first added there (and a finding is reported once per
//! rule, path and secret anyway). The set difference compares the lines'
//! bytes: a hash (foldhash, randomly seeded per run) only picks the bucket,
//! so a line that collides with an old one is still compared in full and
//! never taken for old.
//!
//! The added lines are copied, with [`CONTEXT`] lines either side of each run,
//! into one buffer that the engine scans like a file: a value whose name sits
//! on the line before (an XML element, a YAML block) keeps it. Runs are
//! separated by an empty line, so a multi-line pattern cannot join two runs.
//! Findings are mapped back to the new blob's lines and byte offsets, and a
//! finding that touches no added line (only context) is dropped.

use std::ops::Range;

use crate::finding::Finding;

/// Lines of context copied either side of a run of added lines.
pub const CONTEXT: usize = 2;

/// The added lines of a blob, ready to scan, and the way back to the blob.
#[derive(Debug, Default)]
pub struct Added {
    /// The lines to scan.
    pub buf: Vec<u8>,
    /// For each line of `buf` (0-based): its 1-based line in the new blob,
    /// or 0 for a separator between runs.
    line_map: Vec<usize>,
    /// For each line of `buf`: whether the commit added it.
    added: Vec<bool>,
    /// Start of each copied run: (offset in `buf`, offset in the blob).
    runs: Vec<(usize, usize)>,
}

/// `(head, tail)`: `new[..head]` and `new[tail..]` are whole lines equal to
/// the start and the end of `old` (they do not overlap).
fn common_lines(old: &[u8], new: &[u8]) -> (usize, usize) {
    let head = mismatch(old, new);
    // back to the start of the line the first difference is on
    let head = if head < new.len() || head < old.len() {
        memchr::memrchr(b'\n', &new[..head]).map_or(0, |i| i + 1)
    } else {
        head
    };
    let mut same = mismatch_rev(&old[head..], &new[head..]);
    // forward to the start of a line in both
    let line_start = |b: &[u8], at: usize| at == 0 || b[at - 1] == b'\n';
    while same > 0 && !(line_start(new, new.len() - same) && line_start(old, old.len() - same)) {
        same -= 1;
    }
    (head, new.len() - same)
}

/// Bytes compared in one `memcmp` by [`mismatch`] and [`mismatch_rev`].
const BLOCK: usize = 64;

/// Length of the common prefix of `a` and `b`: block by block at `memcmp`
/// speed, then byte by byte inside the first block that differs.
fn mismatch(a: &[u8], b: &[u8]) -> usize {
    let max = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= max && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    i + a[i..max]
        .iter()
        .zip(&b[i..max])
        .position(|(x, y)| x != y)
        .unwrap_or(max - i)
}

/// Length of the common suffix of `a` and `b`.
fn mismatch_rev(a: &[u8], b: &[u8]) -> usize {
    let max = a.len().min(b.len());
    let (a, b) = (&a[a.len() - max..], &b[b.len() - max..]);
    let mut n = 0;
    while n + BLOCK <= max && a[max - n - BLOCK..max - n] == b[max - n - BLOCK..max - n] {
        n += BLOCK;
    }
    n + a[..max - n]
        .iter()
        .rev()
        .zip(b[..max - n].iter().rev())
        .position(|(x, y)| x != y)
        .unwrap_or(max - n)
}

fn lines(b: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= b.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |i| start + i);
        let r = start..end;
        start = end + 1;
        Some(r)
    })
}

/// The lines of the old blob's middle, as an open-addressing set of line
/// starts: one per thread, reused from blob to blob (a history scan diffs
/// tens of thousands of blobs; a fresh `HashSet` each time was a third of
/// the diff's cost in allocation and rehashing).
#[derive(Default)]
struct LineSet {
    /// (tag, start): the high half of the line's hash (never 0: 0 marks a
    /// free slot) and where the line starts in the text; it ends at the
    /// next newline or the end of the text. 8 bytes a slot, at most half
    /// of them used: about what a `HashSet<&[u8]>` takes.
    slots: Vec<(u32, u32)>,
    mask: usize,
    /// Distinct lines held.
    len: usize,
    hasher: foldhash::fast::RandomState,
}

/// Slots a [`LineSet`] starts with at most; it doubles as distinct lines
/// arrive, so a file of many repeated lines keeps a small table.
const LINESET_START: usize = 1 << 14;

/// Slots a thread keeps between blobs; a larger table, grown for one large
/// file, is freed after that diff.
const LINESET_KEEP: usize = 1 << 19;

impl LineSet {
    /// Empty the set, sized for about `n` lines.
    fn reset(&mut self, n: usize) {
        let size = (n * 2).next_power_of_two().clamp(16, LINESET_START);
        self.slots.clear();
        self.slots.resize(size, (0, 0));
        self.mask = size - 1;
        self.len = 0;
    }

    /// Free a table grown past [`LINESET_KEEP`] slots.
    fn trim(&mut self) {
        if self.slots.len() > LINESET_KEEP {
            self.slots = Vec::new();
        }
    }

    /// Double the table, placing every entry again by its tag.
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let size = old.len() * 2;
        self.slots.resize(size, (0, 0));
        self.mask = size - 1;
        for e in old.into_iter().filter(|e| e.0 != 0) {
            let mut i = e.0 as usize & self.mask;
            while self.slots[i].0 != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = e;
        }
    }

    fn tag(&self, line: &[u8]) -> u32 {
        use std::hash::BuildHasher;
        (self.hasher.hash_one(line) >> 32) as u32 | 1
    }

    /// Slot of `line` (tag `t`) in `text`, or the free slot where it goes.
    /// A tag match counts only when the bytes match too.
    fn find(&self, text: &[u8], line: &[u8], t: u32) -> usize {
        let mut i = t as usize & self.mask;
        loop {
            let (st, at) = self.slots[i];
            if st == 0 {
                return i;
            }
            if st == t {
                let (at, end) = (at as usize, at as usize + line.len());
                if text.get(at..end) == Some(line) && text.get(end).is_none_or(|&b| b == b'\n') {
                    return i;
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, text: &[u8], r: Range<usize>) {
        let line = &text[r.clone()];
        let t = self.tag(line);
        let i = self.find(text, line, t);
        if self.slots[i].0 == 0 {
            self.slots[i] = (t, r.start as u32);
            self.len += 1;
            if self.len * 2 > self.slots.len() {
                self.grow();
            }
        }
    }

    fn contains(&self, text: &[u8], line: &[u8]) -> bool {
        let t = self.tag(line);
        self.slots[self.find(text, line, t)].0 != 0
    }
}

/// A thread's working memory for [`Added::diff`], kept between blobs.
#[derive(Default)]
struct Scratch {
    seen: LineSet,
    /// The new blob's lines around the middle, and whether each is added.
    lines: Vec<(Range<usize>, bool)>,
    /// Whether each of `lines` is copied (within [`CONTEXT`] of an added one).
    keep: Vec<bool>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Added {
    /// The lines `new` adds to `old`, or `None` when scanning `new` whole is
    /// as cheap (more than half of it is new).
    pub fn diff(old: &[u8], new: &[u8]) -> Option<Added> {
        // offsets are kept as u32 in the line set
        if old.len() > u32::MAX as usize {
            return None;
        }
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let added = Added::diff_with(&mut s, old, new);
            s.seen.trim();
            added
        })
    }

    fn diff_with(scratch: &mut Scratch, old: &[u8], new: &[u8]) -> Option<Added> {
        let Scratch {
            seen,
            lines: new_lines,
            keep,
        } = scratch;
        // The common head and tail (whole lines) are unchanged: only the
        // middle is hashed, so a one-line edit of a large file costs two
        // memcmp-speed passes, not a hash per line.
        let (head, tail) = common_lines(old, new);
        let old_mid = &old[head..old.len() - (new.len() - tail)];
        // a guess (about 32 bytes a line); the table grows as lines arrive
        seen.reset(old_mid.len() / 32 + 1);
        for r in lines(old_mid) {
            seen.insert(old_mid, r);
        }
        // the middle, with CONTEXT lines of the head and tail around it
        let lo = (0..CONTEXT).fold(head, |at, _| {
            if at == 0 {
                0
            } else {
                memchr::memrchr(b'\n', &new[..at - 1]).map_or(0, |i| i + 1)
            }
        });
        let hi = (0..CONTEXT).fold(tail, |at, _| {
            memchr::memchr(b'\n', &new[at..]).map_or(new.len(), |i| at + i + 1)
        });
        let first_line = memchr::memchr_iter(b'\n', &new[..lo]).count();
        let region = &new[lo..hi];
        new_lines.clear();
        new_lines.extend(lines(region).map(|r| {
            let at = lo + r.start;
            let fresh = at >= head && at < tail && !seen.contains(old_mid, &region[r.clone()]);
            (lo + r.start..lo + r.end, fresh)
        }));
        let added_bytes: usize = new_lines
            .iter()
            .filter(|(_, fresh)| *fresh)
            .map(|(r, _)| r.len() + 1)
            .sum();
        if added_bytes * 2 > new.len() {
            return None;
        }
        // lines within CONTEXT of an added line
        let n = new_lines.len();
        keep.clear();
        keep.resize(n, false);
        for (i, (_, fresh)) in new_lines.iter().enumerate() {
            if *fresh {
                let lo = i.saturating_sub(CONTEXT);
                let hi = (i + CONTEXT).min(n - 1);
                keep[lo..=hi].iter_mut().for_each(|k| *k = true);
            }
        }
        // sized once: the kept lines with their newlines, one separator
        // line per run after the first
        let (mut kept, mut bytes, mut runs) = (0, 0, 0);
        for (i, (r, _)) in new_lines.iter().enumerate() {
            if keep[i] {
                kept += 1;
                bytes += r.len() + 1;
                runs += usize::from(i == 0 || !keep[i - 1]);
            }
        }
        let seps = runs.saturating_sub(1);
        let mut a = Added {
            buf: Vec::with_capacity(bytes + seps),
            line_map: Vec::with_capacity(kept + seps),
            added: Vec::with_capacity(kept + seps),
            runs: Vec::with_capacity(runs),
        };
        for (i, (r, fresh)) in new_lines.iter().cloned().enumerate() {
            if !keep[i] {
                continue;
            }
            if i == 0 || !keep[i - 1] {
                if !a.buf.is_empty() {
                    a.buf.push(b'\n');
                    a.line_map.push(0);
                    a.added.push(false);
                }
                a.runs.push((a.buf.len(), r.start));
            }
            a.buf.extend_from_slice(&new[r]);
            a.buf.push(b'\n');
            a.line_map.push(first_line + i + 1);
            a.added.push(fresh);
        }
        Some(a)
    }

    /// Move a finding made on [`Added::buf`] to its place in the new blob.
    /// `false` when it touches no added line (it was there before).
    pub fn place(&self, f: &mut Finding) -> bool {
        let lo = f.line.saturating_sub(1);
        let hi = f
            .end_line
            .max(f.line)
            .saturating_sub(1)
            .min(self.added.len() - 1);
        if lo > hi || !self.added[lo..=hi].iter().any(|a| *a) {
            return false;
        }
        let Some(end_line) = self.line_map[lo..=hi]
            .iter()
            .rev()
            .find(|l| **l != 0)
            .copied()
        else {
            return false;
        };
        let k = self.runs.partition_point(|(b, _)| *b <= f.offset);
        let Some(&(buf_start, blob_start)) = k.checked_sub(1).and_then(|k| self.runs.get(k)) else {
            return false;
        };
        f.line = self.line_map[lo];
        f.end_line = end_line;
        f.offset = blob_start + (f.offset - buf_start);
        f.line != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_mismatch_equals_byte_by_byte() {
        let naive = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let naive_rev = |a: &[u8], b: &[u8]| {
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        };
        let base: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 63, 64, 65, 128, 200, 300] {
            for at in [0, 1, 31, 63, 64, 65, 127, 128, 199, 299] {
                let a = &base[..len];
                let mut b = a.to_vec();
                if at < len {
                    b[at] ^= 1;
                }
                for (x, y) in [(a, &b[..]), (a, &b[..len.saturating_sub(3)])] {
                    assert_eq!(mismatch(x, y), naive(x, y), "len {len} at {at}");
                    assert_eq!(mismatch_rev(x, y), naive_rev(x, y), "len {len} at {at}");
                }
            }
        }
    }

    #[test]
    fn only_added_lines_with_context() {
        let old: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let mut new = old.replace("line 20\n", "line 20\nADDED\n");
        new.push_str("TAIL\n");
        let a = Added::diff(old.as_bytes(), new.as_bytes()).expect("small change");
        let text = String::from_utf8(a.buf.clone()).expect("utf8");
        assert_eq!(
            text,
            "line 19\nline 20\nADDED\nline 21\nline 22\n\nline 39\nline 40\nTAIL\n"
        );
        assert_eq!(a.line_map, vec![19, 20, 21, 22, 23, 0, 40, 41, 42]);
        // mostly new: scan it whole
        assert!(Added::diff(b"a\n", b"b\nc\nd\n").is_none());
        // a line equal to one elsewhere in the middle is not added
        let old2 = format!("{old}x = 1\ny = 2\n");
        let new2 = format!("{old}y = 2\nx = 1\nz = 3\n");
        let a = Added::diff(old2.as_bytes(), new2.as_bytes()).expect("small change");
        let added: Vec<usize> = (0..a.added.len())
            .filter(|&i| a.added[i])
            .map(|i| a.line_map[i])
            .collect();
        assert_eq!(added, vec![43]);
        // nothing added
        let a = Added::diff(old.as_bytes(), old.as_bytes()).expect("same");
        assert!(a.buf.is_empty());
        let a = Added::diff(new.as_bytes(), old.as_bytes()).expect("deletion");
        assert!(a.added.iter().all(|x| !x));
    }

    #[test]
    fn line_set_grows_and_matches_a_plain_set() {
        // more distinct lines than the table starts with, many repeats, and
        // changes near both ends so the whole middle is hashed
        let old: String = (0..40_000u32)
            .map(|i| format!("v{} = {}\n", i % 30_000, i.wrapping_mul(2_654_435_761) % 97))
            .collect();
        let mut new = format!("head\n{}", &old[old.find('\n').map_or(0, |i| i + 1)..]);
        new = new.replacen("v100 = ", "v100 := ", 1);
        new.push_str("v5 = 1\nfresh tail\n");
        let a = Added::diff(old.as_bytes(), new.as_bytes()).expect("small change");
        let set: std::collections::HashSet<&str> = old.lines().collect();
        let want: Vec<usize> = new
            .lines()
            .enumerate()
            .filter(|(_, l)| !set.contains(l))
            .map(|(i, _)| i + 1)
            .collect();
        let got: Vec<usize> = (0..a.added.len())
            .filter(|&i| a.added[i])
            .map(|i| a.line_map[i])
            .collect();
        assert_eq!(got, want);
        assert!(got.len() >= 3, "{got:?}");
    }
}
