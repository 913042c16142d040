//! The keyword pass: the occurrences of every rule keyword in a buffer,
//! ASCII-case-insensitively. An occurrence that starts inside the previously
//! reported occurrence of the *same* keyword is not reported (occurrences of
//! different keywords are all reported): every occurrence thus starts inside a
//! reported one of its keyword, which is all the engine needs (its regex
//! windows reach 512 bytes before and 2 KB past a hit, and no keyword spans a
//! line), and the number of hits stays at most `len / keyword length` per
//! keyword: 10 MB of `A` against a keyword of 21 `A`s gives 0.5 M hits, not
//! 10 M (issue 11, item 3).
//!
//! An Aho–Corasick DFA walk is bound by the latency of one dependent table
//! load per byte. Buffers of `MIN_SPLIT` bytes or more are therefore cut into
//! four or eight slices that are walked in lock step, each with its own
//! state: the loads of different slices are independent, so the CPU overlaps
//! them. Each slice starts `longest keyword` bytes early so that its state is
//! exact at the slice boundary, and reports only matches ending inside its
//! own slice: the result is identical to one overlapping pass (a test checks
//! it against `aho_corasick`'s own overlapping search).
//!
//! The automaton is `aho_corasick`'s contiguous NFA (built in about 1 ms for
//! the catalogue's ~390 keywords; its DFA took 5.5 ms, most of a scanner's
//! start-up). The slices walk its DFA, computed from it into a table of our
//! own (`Flat`): one row of 256 `u16` per state, match states first, so a
//! step is a shift, an or and a load, and the eight states stay in
//! registers. On the cargo registry's sources (AMD Zen 3) the keyword pass
//! went from 0.93 ns/byte (`aho_corasick`'s DFA, four slices) to 0.71–0.78
//! (eight slices of the flat table); `aho_corasick`'s DFA in eight slices
//! was slower than in four. The table (1.15 MB) takes 2–3 ms to build, so
//! it is built once a scanner has walked `FLAT_AFTER` bytes without it (a
//! hook that scans a few staged files never pays for it); until then
//! buffers are walked in one stream through the NFA.
//!
//! On CPUs with AVX-512 VBMI the automaton is not walked at all: a vectorised
//! fragment filter finds every occurrence (`grams.rs`), and the rule above
//! (same keyword, starting inside its last reported occurrence) is applied
//! to them per keyword in start order.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::nfa::contiguous::{Builder, NFA};
use aho_corasick::{Anchored, MatchKind};

/// Slices walked in lock step, at most.
const STREAMS: usize = 8;
/// Buffers shorter than this are walked in one stream; longer ones in four
/// streams, or in eight once each of the eight slices is `SPLIT_8` long.
const MIN_SPLIT: usize = 256;
const SPLIT_8: usize = 256;
/// Bytes walked in one stream before the flat table is built (it takes about
/// 2 ms, which a hook's few staged files never earn back).
const FLAT_AFTER: usize = 1 << 20;

/// One keyword occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    /// Offset of the first byte.
    pub start: usize,
    /// Index of the keyword in the list given to [`Keywords::new`].
    pub pattern: u32,
    /// Offset one past the last byte.
    pub end: usize,
}

/// Per keyword, where its last reported occurrence ends (0: none yet), for
/// one stream. Kept per thread and reset entry by entry (only the keywords
/// a buffer hit), so a small file costs no table of the whole catalogue.
#[derive(Debug, Default)]
struct LastEnd {
    end: Vec<usize>,
    touched: Vec<u32>,
    /// The stream's hits, in the order of their ends.
    hits: Vec<Hit>,
}

impl LastEnd {
    fn reset(&mut self, patterns: usize) {
        for &p in &self.touched {
            self.end[p as usize] = 0;
        }
        self.touched.clear();
        self.hits.clear();
        if self.end.len() != patterns {
            self.end.clear();
            self.end.resize(patterns, 0);
        }
    }

    /// Reports the occurrence of keyword `p` (`len` bytes) that ends at
    /// `end`, unless it starts inside the last one reported.
    #[inline(always)]
    fn report(&mut self, p: u32, len: usize, end: usize) {
        let start = end - len;
        if self.advance(p as usize, start, end) {
            self.hits.push(Hit {
                start,
                pattern: p,
                end,
            });
        }
    }

    /// Records an occurrence `start..end` of keyword `p`; false when it
    /// starts inside the last one reported (not reported again).
    fn advance(&mut self, p: usize, start: usize, end: usize) -> bool {
        let slot = &mut self.end[p];
        if start < *slot {
            return false;
        }
        if *slot == 0 {
            self.touched.push(p as u32);
        }
        *slot = end;
        true
    }
}

/// The keyword automaton's DFA as one table of 256-entry rows, one row per
/// state, so that a step of the walk is one shift, one or and one load (no
/// failure links, no byte-class lookup, no special-state ranges). A state is
/// its row's index; match states come first, so "is a match" is one
/// comparison.
#[derive(Debug, Clone)]
struct Flat {
    table: Box<[u16]>,
    /// States below this are match states.
    matches: u32,
    start: u32,
    /// Each match state's keywords, as (keyword, length): state `s`'s are
    /// `found[found_at[s]..found_at[s + 1]]`, read straight from one array
    /// instead of through the NFA's match lists.
    found: Box<[(u32, u32)]>,
    found_at: Box<[u32]>,
}

impl Flat {
    /// `None` when the automaton has more states than a `u16` numbers.
    fn new(ac: &NFA, patterns: &[Vec<u8>]) -> Option<Flat> {
        let start = ac.start_state(Anchored::No).ok()?;
        // The automaton cannot tell apart the two cases of a letter (it matches
        // case-insensitively), nor two bytes that occur in no keyword: one
        // byte of each class is looked up and its result copied to the rest.
        let mut in_keyword = [false; 256];
        for &b in patterns.iter().flatten() {
            in_keyword[usize::from(b.to_ascii_lowercase())] = true;
        }
        let mut class = [0u8; 256];
        let mut reps: Vec<u8> = Vec::new();
        let mut class_of_key = [u8::MAX; 257];
        for b in 0..=255u8 {
            let low = b.to_ascii_lowercase();
            let key = if in_keyword[usize::from(low)] {
                usize::from(low)
            } else {
                256
            };
            if class_of_key[key] == u8::MAX {
                class_of_key[key] = u8::try_from(reps.len()).ok()?;
                reps.push(b);
            }
            class[usize::from(b)] = class_of_key[key];
        }
        // every state the unanchored walk reaches, breadth first, with its
        // successor per class
        let mut seen: std::collections::HashMap<StateID, usize, SidHash> =
            std::collections::HashMap::with_capacity_and_hasher(4096, SidHash);
        let mut order = vec![start];
        seen.insert(start, 0);
        let mut next: Vec<u32> = Vec::new();
        let mut i = 0;
        while let Some(&s) = order.get(i) {
            for &b in &reps {
                let n = ac.next_state(Anchored::No, s, b);
                let len = order.len();
                let at = *seen.entry(n).or_insert(len);
                if at == len {
                    order.push(n);
                }
                next.push(at as u32);
            }
            i += 1;
            if order.len() > 1 << 16 {
                return None;
            }
        }
        // rows: match states first, then the others, each in visit order
        let mut rank: Vec<usize> = (0..order.len()).collect();
        rank.sort_by_key(|&i| !ac.is_match(order[i]));
        let mut row = vec![0u16; order.len()];
        for (r, &i) in rank.iter().enumerate() {
            row[i] = r as u16;
        }
        let mut table = vec![0u16; order.len() << 8].into_boxed_slice();
        let mut vals = [0u16; 256];
        for (cells, &i) in table.chunks_exact_mut(256).zip(&rank) {
            let succ = &next[i * reps.len()..][..reps.len()];
            for (v, n) in vals.iter_mut().zip(succ) {
                *v = row[*n as usize];
            }
            for (cell, &c) in cells.iter_mut().zip(&class) {
                *cell = vals[usize::from(c)];
            }
        }
        let m = order.iter().filter(|&&s| ac.is_match(s)).count();
        let mut found = Vec::new();
        let mut found_at = vec![0u32];
        for &i in &rank[..m] {
            let sid = order[i];
            for k in 0..ac.match_len(sid) {
                let p = ac.match_pattern(sid, k);
                found.push((p.as_u32(), ac.pattern_len(p) as u32));
            }
            found_at.push(u32::try_from(found.len()).ok()?);
        }
        Some(Flat {
            table,
            matches: m as u32,
            start: u32::from(row[0]),
            found: found.into_boxed_slice(),
            found_at: found_at.into_boxed_slice(),
        })
    }

    /// The state after `s` on byte `b`, read without a bounds check: on
    /// the walk's hot path a check is a compare and a branch per stream and
    /// byte, and dropping it made the keyword pass 6–8% faster on Zen 3
    /// (the whole `-j1` scan 3.6%). The safe ways to drop it (a table with
    /// a row for every `u16`, or a clamped index) put an instruction on each
    /// stream's chain of dependent loads and were slower still.
    ///
    /// # Safety
    ///
    /// `s` is `self.start` or a state this function returned: a row number,
    /// below `self.table.len() >> 8` (every entry of the table is one, as
    /// [`Flat::new`] builds it, and nothing writes the table later).
    #[inline(always)]
    #[allow(unsafe_code)]
    unsafe fn next(&self, s: u32, b: u8) -> u32 {
        let at = (s << 8 | u32::from(b)) as usize;
        debug_assert!(at < self.table.len(), "not a state of this table");
        // SAFETY: `s` is a row number (the caller's contract), so
        // `at < rows << 8 == self.table.len()`
        u32::from(unsafe { *self.table.get_unchecked(at) })
    }

    #[inline(always)]
    fn is_match(&self, s: u32) -> bool {
        s < self.matches
    }

    /// The keywords that end where the walk entered match state `s`, with
    /// their lengths.
    fn found(&self, s: u32) -> &[(u32, u32)] {
        let s = s as usize;
        &self.found[self.found_at[s] as usize..self.found_at[s + 1] as usize]
    }

    /// Steps stream k through `all[k * stride + from..k * stride + to]`,
    /// every stream one byte at a time, until one of them enters a match
    /// state: returns that position (the states are those after it), or
    /// `to`. A function of its own so that the eight states stay in
    /// registers.
    ///
    /// # Safety
    ///
    /// Every state in `sid` is one that [`Flat::next`] accepts.
    // `i` and `k` index the streams' bytes by position and stream
    #[allow(clippy::needless_range_loop, unsafe_code)]
    #[inline(never)]
    unsafe fn walk<const N: usize>(
        &self,
        all: &[u8],
        stride: usize,
        sid: &mut [u32; N],
        from: usize,
        to: usize,
    ) -> usize {
        // stream k reads `all[k * stride + i]`: one base address for all
        // eight, where eight slices' addresses did not fit in registers
        let last = (N - 1).checked_mul(stride).and_then(|x| x.checked_add(to));
        assert!(
            last.is_some_and(|l| l <= all.len()),
            "streams past the buffer"
        );
        let mut s = *sid;
        for i in from..to {
            for k in 0..N {
                // SAFETY: `k * stride + i < (N - 1) * stride + to <= all.len()`
                // (asserted above)
                let b = unsafe { *all.get_unchecked(k * stride + i) };
                // SAFETY: `s[k]` came in `sid` or from `next`
                s[k] = unsafe { self.next(s[k], b) };
            }
            if s.iter().any(|&x| self.is_match(x)) {
                *sid = s;
                return i;
            }
        }
        *sid = s;
        to
    }
}

/// Hashes an automaton state id (a `u32`) by one multiplication: [`Flat::new`]
/// looks up one per state and byte class.
#[derive(Debug, Clone, Copy, Default)]
struct SidHash;

impl std::hash::BuildHasher for SidHash {
    type Hasher = SidHasher;
    fn build_hasher(&self) -> SidHasher {
        SidHasher(0)
    }
}

#[derive(Debug)]
struct SidHasher(u64);

impl std::hash::Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (u64::from(v) ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<[LastEnd; STREAMS]> = std::cell::RefCell::default();
}

/// A compiled keyword set.
#[derive(Debug)]
pub struct Keywords {
    /// The Aho–Corasick automaton (walked directly until `flat` is built).
    ac: NFA,
    /// Its DFA laid out for the walk, built on first use (`None`: too many
    /// states; the NFA is walked in one stream).
    flat: std::sync::OnceLock<Option<Flat>>,
    /// Bytes walked before the flat table was built.
    walked: std::sync::atomic::AtomicUsize,
    /// A thread has begun building the flat table.
    building: std::sync::atomic::AtomicBool,
    longest: usize,
    patterns: Vec<Vec<u8>>,
    /// The fragment filter in front of the verification (x86-64 with
    /// AVX-512 VBMI); `None`: the automaton's walk.
    grams: Option<crate::grams::Grams>,
    /// The plain search ([`Keywords::find_all_plain`]), built on first use.
    plain: std::sync::OnceLock<Result<aho_corasick::AhoCorasick, String>>,
}

impl Keywords {
    /// Compile `patterns` (matched ASCII-case-insensitively).
    pub fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Result<Keywords, String> {
        let ac = Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .map_err(|e| e.to_string())?;
        let longest = patterns.iter().map(|p| p.as_ref().len()).max().unwrap_or(0);
        Ok(Keywords {
            flat: std::sync::OnceLock::new(),
            walked: std::sync::atomic::AtomicUsize::new(0),
            building: std::sync::atomic::AtomicBool::new(false),
            ac,
            longest,
            grams: crate::grams::Grams::new(patterns),
            patterns: patterns.iter().map(|p| p.as_ref().to_vec()).collect(),
            plain: std::sync::OnceLock::new(),
        })
    }

    /// Every occurrence, found the plain way: `aho_corasick`'s own
    /// overlapping search, one stream, nothing skipped, sorted like
    /// [`Keywords::find_all`]. Slower; the reference that tests hold the fast
    /// pass to (a scan must find the same with either).
    pub fn find_all_plain(&self, bytes: &[u8]) -> Vec<Hit> {
        let ac = self.plain.get_or_init(|| {
            aho_corasick::AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .build(&self.patterns)
                .map_err(|e| e.to_string())
        });
        let Ok(ac) = ac else {
            return Vec::new();
        };
        let mut v: Vec<Hit> = ac
            .find_overlapping_iter(bytes)
            .map(|m| Hit {
                start: m.start(),
                pattern: m.pattern().as_u32(),
                end: m.end(),
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// Every occurrence in `bytes`, sorted by start offset (then pattern).
    pub fn find_all(&self, bytes: &[u8]) -> Vec<Hit> {
        let mut out = Vec::new();
        self.find_all_into(bytes, &mut out);
        out
    }

    /// [`Keywords::find_all`] into `out` (cleared first), so that a caller
    /// that searches file after file reuses one vector.
    pub fn find_all_into(&self, bytes: &[u8], out: &mut Vec<Hit>) {
        out.clear();
        match &self.grams {
            Some(g) => self.find_all_grams(g, bytes, out),
            None => self.find_all_walk(bytes, out),
        }
    }

    /// [`Keywords::find_all`] by the fragment filter: every occurrence, then
    /// per keyword those that start inside its last reported one dropped.
    fn find_all_grams(&self, g: &crate::grams::Grams, bytes: &[u8], all: &mut Vec<Hit>) {
        g.find(bytes, all);
        all.sort_unstable();
        SCRATCH.with_borrow_mut(|last| {
            let last = &mut last[0];
            last.reset(self.patterns.len());
            all.retain(|h| last.advance(h.pattern as usize, h.start, h.end));
        });
    }

    /// The flat table, once the buffers walked without it add up to
    /// [`FLAT_AFTER`] (building it costs about what walking that much in one
    /// stream costs more). One thread builds it; the others walk the NFA
    /// meanwhile instead of waiting.
    fn flat(&self, len: usize) -> Option<&Flat> {
        if let Some(f) = self.flat.get() {
            return f.as_ref();
        }
        let walked = self
            .walked
            .fetch_add(len, std::sync::atomic::Ordering::Relaxed)
            + len;
        if walked < FLAT_AFTER
            || self
                .building
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        self.flat
            .get_or_init(|| Flat::new(&self.ac, &self.patterns))
            .as_ref()
    }

    /// Builds the flat table now (tests: the walks with and without it).
    #[cfg(test)]
    fn flat_now(self) -> Keywords {
        self.walked
            .store(FLAT_AFTER, std::sync::atomic::Ordering::Relaxed);
        assert!(self.flat(MIN_SPLIT).is_some(), "flat table");
        self
    }

    /// [`Keywords::find_all`] by the multi-stream walk of [`Flat`].
    fn find_all_walk(&self, bytes: &[u8], out: &mut Vec<Hit>) {
        SCRATCH.with_borrow_mut(|last| {
            self.find_all_with(bytes, last);
            // each stream's hits end inside its slice, and the slices come
            // in order: in stream order, the hits are in the order of their
            // ends, which is nearly that of their starts
            for l in last.iter_mut() {
                out.append(&mut l.hits);
            }
        });
        sort_nearly_sorted(out);
    }

    fn find_all_with(&self, bytes: &[u8], last: &mut [LastEnd; STREAMS]) {
        for l in last.iter_mut() {
            l.reset(self.ac.patterns_len());
        }
        let n = bytes.len();
        // each stream's slice at least twice the longest keyword (the part
        // walked twice)
        let l = self.longest;
        let streams = if n >= (8 * SPLIT_8).max(16 * l) {
            8
        } else if n >= MIN_SPLIT.max(8 * l) {
            4
        } else {
            1
        };
        let flat = if streams > 1 {
            self.flat(n)
        } else {
            self.flat.get().and_then(Option::as_ref)
        };
        match flat {
            Some(f) if streams == 8 => self.walk_streams::<8>(f, bytes, last),
            Some(f) if streams == 4 => self.walk_streams::<4>(f, bytes, last),
            Some(f) => self.walk_streams::<1>(f, bytes, last),
            // no table yet: the automaton itself (it follows failure links)
            None => {
                let Ok(mut sid) = self.ac.start_state(Anchored::No) else {
                    return;
                };
                for (i, &b) in bytes.iter().enumerate() {
                    sid = self.ac.next_state(Anchored::No, sid, b);
                    if self.ac.is_special(sid) && self.ac.is_match(sid) {
                        self.report_nfa(sid, i + 1, &mut last[0]);
                    }
                }
            }
        }
    }

    /// `bytes` cut into `N` slices walked in lock step through `f` (for
    /// `N > 1`, `bytes` at least `2 * N * longest` long).
    // `k` indexes the streams' states, ends and slices together
    #[allow(clippy::needless_range_loop, unsafe_code)]
    fn walk_streams<const N: usize>(&self, f: &Flat, bytes: &[u8], last: &mut [LastEnd]) {
        let n = bytes.len();
        let l = self.longest;
        // stream k reports matches ending in (own[k], ends[k]] and, but for
        // the first, starts walking `l` bytes before its slice so its state is
        // exact there; the first stream's slice is `l` bytes longer, so all
        // walk `w` bytes together (the last one up to N - 1 more, alone)
        let w = (n + (N - 1) * l) / N;
        let own: [usize; N] =
            std::array::from_fn(|k| if k == 0 { 0 } else { w + (k - 1) * (w - l) });
        let ends: [usize; N] =
            std::array::from_fn(|k| if k + 1 == N { n } else { w + k * (w - l) });
        // slice k starts `l` bytes before its own part, so the slices are
        // equally spaced, `stride` apart (`walk` reads them so)
        let stride = if N > 1 { w - l } else { 0 };
        let from: [usize; N] = std::array::from_fn(|k| k * stride);
        let mut sid = [f.start; N];
        let common = (0..N).map(|k| ends[k] - from[k]).min().unwrap_or(0);
        let all = &bytes[..from[N - 1] + common];
        let mut t = 0;
        while t < common {
            // SAFETY: the states are `f.start` and what `f.walk` and
            // `f.next` returned
            t = unsafe { f.walk(all, stride, &mut sid, t, common) };
            if t == common {
                break;
            }
            for k in 0..N {
                let end = from[k] + t + 1;
                if f.is_match(sid[k]) && end > own[k] {
                    report(f.found(sid[k]), end, &mut last[k]);
                }
            }
            t += 1;
        }
        for k in 0..N {
            for (i, &b) in bytes[from[k] + common..ends[k]].iter().enumerate() {
                // SAFETY: as for `walk` above
                sid[k] = unsafe { f.next(sid[k], b) };
                let end = from[k] + common + i + 1;
                if f.is_match(sid[k]) && end > own[k] {
                    report(f.found(sid[k]), end, &mut last[k]);
                }
            }
        }
    }

    /// The NFA's match state `sid`, entered at `end` (the walk without the
    /// flat table).
    fn report_nfa(&self, sid: StateID, end: usize, last_end: &mut LastEnd) {
        for i in 0..self.ac.match_len(sid) {
            let p = self.ac.match_pattern(sid, i);
            last_end.report(p.as_u32(), self.ac.pattern_len(p), end);
        }
    }
}

/// The keywords `found` (keyword, length) of a match state entered at `end`.
#[inline(never)]
fn report(found: &[(u32, u32)], end: usize, last_end: &mut LastEnd) {
    for &(p, len) in found {
        last_end.report(p, len as usize, end);
    }
}

/// Sorts hits that come in the order of their ends. A hit is then out of
/// place only behind hits that end less than a keyword's length after it
/// (and start before it), so an insertion sort moves each a few places; an
/// input with more disorder than that (none that the walk gives) is sorted
/// the ordinary way once the moves exceed a linear budget.
fn sort_nearly_sorted(v: &mut [Hit]) {
    let mut budget = 8 * v.len() + 64;
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j - 1] > v[j] {
            if budget == 0 {
                v.sort_unstable();
                return;
            }
            budget -= 1;
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The reference: aho_corasick's own overlapping search (every
    /// occurrence), which is what `find_all_plain` runs.
    fn reference(patterns: &[&str], hay: &[u8]) -> Vec<Hit> {
        Keywords::new(patterns).expect("build").find_all_plain(hay)
    }

    /// `got` holds only real occurrences, sorted, and every occurrence starts
    /// inside a reported occurrence of the same keyword.
    #[track_caller]
    fn covers(got: &[Hit], all: &[Hit], what: &str) {
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "{what}: not sorted");
        let set: std::collections::HashSet<&Hit> = all.iter().collect();
        for h in got {
            assert!(set.contains(h), "{what}: {h:?} is not an occurrence");
        }
        let mut last: std::collections::HashMap<u32, &Hit> = std::collections::HashMap::new();
        let mut gi = 0;
        for o in all {
            while gi < got.len() && got[gi].start <= o.start {
                last.insert(got[gi].pattern, &got[gi]);
                gi += 1;
            }
            let ok = last
                .get(&o.pattern)
                .is_some_and(|h| h.start <= o.start && o.start < h.end);
            assert!(ok, "{what}: occurrence {o:?} is not covered");
        }
    }

    #[test]
    fn nearly_sorted_hits_are_sorted_and_any_order_still_is() {
        let hit = |start, pattern, len| Hit {
            start,
            pattern,
            end: start + len,
        };
        // in the order of their ends, as the walk gives them
        let mut v: Vec<Hit> = (0..2000)
            .flat_map(|i| [hit(i * 3, 1, 7), hit(i * 3 + 4, 2, 3), hit(i * 3 + 5, 0, 2)])
            .collect();
        v.sort_by_key(|h| h.end);
        let mut want = v.clone();
        want.sort_unstable();
        sort_nearly_sorted(&mut v);
        assert_eq!(v, want);
        // reversed: past the budget, sorted the ordinary way
        let mut r: Vec<Hit> = want.iter().rev().copied().collect();
        sort_nearly_sorted(&mut r);
        assert_eq!(r, want);
        let mut empty: Vec<Hit> = Vec::new();
        sort_nearly_sorted(&mut empty);
    }

    /// xorshift: deterministic pseudo-random text over a small alphabet so
    /// that keywords occur often, also across slice boundaries.
    fn text(len: usize, seed: u64) -> Vec<u8> {
        text_over(len, seed, b"aAkKeEyY_ -=:tTo\nnpPsS")
    }

    /// The built-in rules' keywords, lowercase, sorted, each once.
    pub(crate) fn catalogue_keywords() -> Vec<String> {
        let specs = crate::rules::builtin_specs().expect("rules");
        let mut patterns: Vec<String> = specs
            .iter()
            .flat_map(|s| s.keywords.iter().map(|k| k.to_ascii_lowercase()))
            .collect();
        patterns.sort();
        patterns.dedup();
        patterns
    }

    /// [`text`] over the bytes of `alphabet`.
    pub(crate) fn text_over(len: usize, seed: u64, alphabet: &[u8]) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                alphabet[(x % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn equals_overlapping_aho_corasick_on_every_length() {
        let patterns = [
            "key", "key ", "_key", "token", "tok", "ok", "pass", "sa", "a", "ke", "kkkkkkkk",
        ];
        // one stream (no flat table yet), four, eight
        let lens = [
            0, 1, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 4097, 10_000, 65_537, 250_001,
        ];
        for flat in [false, true] {
            let mut kw = Keywords::new(&patterns).expect("build");
            if flat {
                kw = kw.flat_now();
            }
            for (seed, &len) in lens.iter().enumerate() {
                let hay = text(len, seed as u64 + 1);
                covers(
                    &kw.find_all(&hay),
                    &reference(&patterns, &hay),
                    &format!("len {len}, flat table {flat}"),
                );
            }
        }
    }

    #[test]
    fn the_per_thread_scratch_carries_nothing_from_one_buffer_or_set_to_the_next() {
        let big = Keywords::new(&["key", "token", "pass", "kkkkkkkk", "sa"])
            .expect("build")
            .flat_now();
        let small = Keywords::new(&["ok"]).expect("build");
        let hay = text(70_001, 11);
        let first = big.find_all(&hay);
        assert!(first.len() > 100, "{}", first.len());
        // another buffer, then another keyword set with fewer keywords, on
        // the same thread: the next pass over `hay` must not see their ends
        let short = text(300, 12);
        covers(&big.find_all(&short), &big.find_all_plain(&short), "short");
        assert!(!small.find_all(&hay).is_empty());
        assert_eq!(big.find_all(&hay), first);
        let all = reference(&["key", "token", "pass", "kkkkkkkk", "sa"], &hay);
        assert_eq!(big.find_all_plain(&hay), all);
        covers(&first, &all, "scratch");
    }

    #[test]
    fn a_run_of_one_character_gives_one_hit_per_keyword_length() {
        let kw = Keywords::new(&["aaaaaaaaaaaaaaaaaaaaa", "aa"]).expect("build");
        let flat = Keywords::new(&["aaaaaaaaaaaaaaaaaaaaa", "aa"])
            .expect("build")
            .flat_now();
        for (kw, len) in [(&kw, 100), (&kw, 5_000), (&flat, 5_000), (&flat, 1 << 20)] {
            let hay = vec![b'A'; len];
            let got = kw.find_all(&hay);
            // per stream at most len/21 + len/2 (+1 at each slice start)
            assert!(
                got.len() <= len / 21 + len / 2 + 2 * STREAMS,
                "{}",
                got.len()
            );
            if len <= 5_000 {
                covers(
                    &got,
                    &reference(&["aaaaaaaaaaaaaaaaaaaaa", "aa"], &hay),
                    "run",
                );
            }
        }
    }

    #[test]
    fn a_keyword_across_a_slice_boundary_is_found_once() {
        let kw = Keywords::new(&["secret_token_value"]).expect("build");
        let mut hay = vec![b'.'; 20_000];
        // slice boundaries are at multiples of 5,000
        for at in [4_990, 9_995, 14_999, 19_982] {
            hay[at..at + 18].copy_from_slice(b"SECRET_token_VALUE");
        }
        let got = kw.find_all(&hay);
        let starts: Vec<usize> = got.iter().map(|h| h.start).collect();
        assert_eq!(starts, vec![4_990, 9_995, 14_999, 19_982]);
    }

    #[test]
    fn the_catalogue_keywords_on_the_catalogue_equal_the_reference() {
        let patterns = catalogue_keywords();
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let hay = crate::rules::BUILTIN_RULES.as_bytes();
        for kw in [
            Keywords::new(&refs).expect("build"),
            Keywords::new(&refs).expect("build").flat_now(),
        ] {
            let got = kw.find_all(hay);
            assert!(got.len() > 1000, "only {} hits", got.len());
            covers(&got, &reference(&refs, hay), "catalogue");
        }
    }

    /// The flat table steps exactly like the automaton on every byte, letters of
    /// both cases, bytes in no keyword and bytes above 127 included.
    #[test]
    #[allow(unsafe_code)]
    fn the_flat_table_steps_like_the_automaton() {
        let mut catalogue = catalogue_keywords();
        catalogue.push("export ".into());
        let sets: [Vec<Vec<u8>>; 3] = [
            catalogue.into_iter().map(String::into_bytes).collect(),
            vec![
                b"Ab\xffc".to_vec(),
                b"\x00\x01".to_vec(),
                b"zz".to_vec(),
                b"@[`{".to_vec(),
            ],
            vec![b"a".to_vec()],
        ];
        let all: Vec<u8> = (0..=255).collect();
        for patterns in &sets {
            let kw = Keywords::new(patterns).expect("build");
            let t = std::time::Instant::now();
            let flat = Flat::new(&kw.ac, &kw.patterns).expect("flat");
            eprintln!(
                "flat table of {} patterns: {:?}",
                patterns.len(),
                t.elapsed()
            );
            let mut sid = kw.ac.start_state(Anchored::No).expect("start");
            let mut s = flat.start;
            let mut hay = text_over(200_000, 7, &all);
            hay.extend(patterns.iter().flatten());
            for (i, &b) in hay.iter().enumerate() {
                sid = kw.ac.next_state(Anchored::No, sid, b);
                // SAFETY: `s` is `flat.start` or what `next` returned
                s = unsafe { flat.next(s, b) };
                let m = kw.ac.is_match(sid);
                assert_eq!(flat.is_match(s), m, "byte {i}");
                if m {
                    let want: Vec<(u32, u32)> = (0..kw.ac.match_len(sid))
                        .map(|k| kw.ac.match_pattern(sid, k))
                        .map(|p| (p.as_u32(), kw.ac.pattern_len(p) as u32))
                        .collect();
                    assert_eq!(flat.found(s), want, "byte {i}");
                }
            }
        }
    }
}

#[cfg(test)]
mod bench {
    use super::*;

    /// `CLEF_KW_BENCH=<dir> cargo test --release -p clef-scan --lib bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn keyword_pass_throughput() {
        let Ok(dir) = std::env::var("CLEF_KW_BENCH") else {
            return;
        };
        let files = crate::test_files::files_under(dir, 150 << 20);
        let total: usize = files.iter().map(Vec::len).sum();
        // the scanner's own keyword set: the rules', the generic detector's,
        // `export ` and `sops`
        let mut patterns = super::tests::catalogue_keywords();
        for g in crate::engine::GENERIC_KEYWORDS
            .iter()
            .chain(&["export ", "sops"])
        {
            patterns.push(g.to_string());
        }
        patterns.sort();
        patterns.dedup();
        let kw = Keywords::new(&patterns).expect("build");
        eprintln!(
            "{} patterns, dfa {} bytes, {} files {} bytes",
            patterns.len(),
            kw.ac.memory_usage(),
            files.len(),
            total
        );
        if let Some(g) = &kw.grams {
            let mut counts = std::collections::HashMap::new();
            for f in &files {
                crate::grams::gram_counts(g, f, &mut counts);
            }
            let mut v: Vec<(usize, u32)> = counts.into_iter().map(|(k, c)| (c, k)).collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            let show: Vec<String> = v
                .iter()
                .take(40)
                .map(|(c, k)| {
                    let b = k.to_le_bytes();
                    format!("{}:{c}", String::from_utf8_lossy(&b[..3]))
                })
                .collect();
            eprintln!("top grams {show:?}");
        }
        // as in a scan: each file copied into a reused buffer (a read), then searched
        let mut buf: Vec<u8> = Vec::new();
        let best = crate::test_files::best_of::<4>(9, |mode| {
            let mut hits = 0usize;
            for f in &files {
                buf.clear();
                buf.extend_from_slice(f);
                hits += match mode {
                    0 => usize::from(buf[0]),
                    1 => kw.find_all(&buf).len(),
                    2 => {
                        let mut out = Vec::new();
                        kw.find_all_walk(&buf, &mut out);
                        out.len()
                    }
                    _ => kw
                        .grams
                        .as_ref()
                        .map_or(0, |g| crate::grams::count_candidates(g, &buf)),
                };
            }
            hits
        });
        for ((h, fastest), name) in best.into_iter().zip(["copy", "new", "walk", "filter"]) {
            eprintln!(
                "{name}: {} {} hits, best {:.3} ns/byte",
                h >> 32,
                h & 0xffff_ffff,
                fastest.as_nanos() as f64 / total as f64
            );
        }
    }
}
