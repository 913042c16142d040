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
//! load per byte. Large buffers are therefore cut into `STREAMS` slices that
//! are walked in lock step, each with its own state: the loads of different
//! slices are independent, so the CPU overlaps them, which about doubles the
//! throughput on this project's benchmark trees (`bench/scan.sh`). Each slice
//! starts `longest keyword` bytes early so that its state is exact at the
//! slice boundary, and reports only matches ending inside its own slice: the
//! result is identical to one overlapping pass (a test checks it against
//! `aho_corasick`'s own overlapping search).
//!
//! On CPUs with AVX-512 VBMI the DFA is not walked at all: a vectorised
//! fragment filter finds every occurrence (`grams.rs`), and the rule above
//! (same keyword, starting inside its last reported occurrence) is applied
//! to them per keyword in start order.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::{Builder, DFA};
use aho_corasick::{Anchored, MatchKind};

/// Slices walked in lock step (the walk below is written out for four).
const STREAMS: usize = 4;
/// Buffers shorter than this are walked in one stream.
const MIN_SPLIT: usize = 1024;

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
}

impl LastEnd {
    fn reset(&mut self, patterns: usize) {
        for &p in &self.touched {
            self.end[p as usize] = 0;
        }
        self.touched.clear();
        if self.end.len() != patterns {
            self.end.clear();
            self.end.resize(patterns, 0);
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

thread_local! {
    static SCRATCH: std::cell::RefCell<[LastEnd; STREAMS]> = std::cell::RefCell::default();
}

/// A compiled keyword set.
#[derive(Debug, Clone)]
pub struct Keywords {
    dfa: DFA,
    longest: usize,
    patterns: Vec<Vec<u8>>,
    /// The fragment filter in front of the verification (x86-64 with
    /// AVX-512 VBMI); `None`: the DFA walk.
    grams: Option<crate::grams::Grams>,
    /// The plain search ([`Keywords::find_all_plain`]), built on first use.
    plain: std::sync::OnceLock<Result<aho_corasick::AhoCorasick, String>>,
}

impl Keywords {
    /// Compile `patterns` (matched ASCII-case-insensitively).
    pub fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Result<Keywords, String> {
        let dfa = Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .map_err(|e| e.to_string())?;
        let longest = patterns.iter().map(|p| p.as_ref().len()).max().unwrap_or(0);
        Ok(Keywords {
            dfa,
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
        if let Some(g) = &self.grams {
            return self.find_all_grams(g, bytes);
        }
        self.find_all_dfa(bytes)
    }

    /// [`Keywords::find_all`] by the fragment filter: every occurrence, then
    /// per keyword those that start inside its last reported one dropped.
    fn find_all_grams(&self, g: &crate::grams::Grams, bytes: &[u8]) -> Vec<Hit> {
        let mut all = Vec::new();
        g.find(bytes, &mut all);
        all.sort_unstable();
        SCRATCH.with_borrow_mut(|last| {
            let last = &mut last[0];
            last.reset(self.patterns.len());
            all.retain(|h| last.advance(h.pattern as usize, h.start, h.end));
        });
        all
    }

    /// [`Keywords::find_all`] by the four-stream DFA walk.
    fn find_all_dfa(&self, bytes: &[u8]) -> Vec<Hit> {
        let mut out = Vec::new();
        let Ok(start) = self.dfa.start_state(Anchored::No) else {
            return out;
        };
        SCRATCH.with_borrow_mut(|last| self.find_all_with(bytes, start, last, &mut out));
        out.sort_unstable();
        out
    }

    // `k` indexes the streams' states, ends and tables together
    #[allow(clippy::needless_range_loop)]
    fn find_all_with(
        &self,
        bytes: &[u8],
        start: StateID,
        last: &mut [LastEnd; STREAMS],
        out: &mut Vec<Hit>,
    ) {
        for l in last.iter_mut() {
            l.reset(self.dfa.patterns_len());
        }
        if bytes.len() < MIN_SPLIT {
            let mut sid = start;
            for (i, &b) in bytes.iter().enumerate() {
                sid = self.dfa.next_state(Anchored::No, sid, b);
                if self.dfa.is_special(sid) && self.dfa.is_match(sid) {
                    self.report(sid, i + 1, &mut last[0], out);
                }
            }
            return;
        }
        let n = bytes.len();
        let chunk = n / STREAMS;
        // stream k reports matches ending in (own[k], ends[k]] and starts
        // walking `longest` bytes before its slice so its state is exact there
        let own: [usize; STREAMS] = std::array::from_fn(|k| k * chunk);
        let ends: [usize; STREAMS] =
            std::array::from_fn(|k| if k + 1 == STREAMS { n } else { (k + 1) * chunk });
        let from: [usize; STREAMS] = std::array::from_fn(|k| own[k].saturating_sub(self.longest));
        let mut sid = [start; STREAMS];
        let common = (0..STREAMS).map(|k| ends[k] - from[k]).min().unwrap_or(0);
        let [s0, s1, s2, s3]: [&[u8]; STREAMS] =
            std::array::from_fn(|k| &bytes[from[k]..from[k] + common]);
        // zipped iterators: no bounds check per byte and stream
        for (t, (((&b0, &b1), &b2), &b3)) in s0.iter().zip(s1).zip(s2).zip(s3).enumerate() {
            sid[0] = self.dfa.next_state(Anchored::No, sid[0], b0);
            sid[1] = self.dfa.next_state(Anchored::No, sid[1], b1);
            sid[2] = self.dfa.next_state(Anchored::No, sid[2], b2);
            sid[3] = self.dfa.next_state(Anchored::No, sid[3], b3);
            if sid.iter().any(|&s| self.dfa.is_special(s)) {
                for k in 0..STREAMS {
                    let end = from[k] + t + 1;
                    if self.dfa.is_special(sid[k]) && self.dfa.is_match(sid[k]) && end > own[k] {
                        self.report(sid[k], end, &mut last[k], out);
                    }
                }
            }
        }
        for k in 0..STREAMS {
            for (i, &b) in bytes[from[k] + common..ends[k]].iter().enumerate() {
                sid[k] = self.dfa.next_state(Anchored::No, sid[k], b);
                let end = from[k] + common + i + 1;
                if self.dfa.is_special(sid[k]) && self.dfa.is_match(sid[k]) && end > own[k] {
                    self.report(sid[k], end, &mut last[k], out);
                }
            }
        }
    }

    #[inline(never)]
    fn report(&self, sid: StateID, end: usize, last_end: &mut LastEnd, out: &mut Vec<Hit>) {
        for i in 0..self.dfa.match_len(sid) {
            let p = self.dfa.match_pattern(sid, i);
            let start = end - self.dfa.pattern_len(p);
            if !last_end.advance(p.as_usize(), start, end) {
                continue;
            }
            out.push(Hit {
                start,
                pattern: p.as_u32(),
                end,
            });
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
        let kw = Keywords::new(&patterns).expect("build");
        for (seed, len) in [
            (1, 0),
            (2, 1),
            (3, 1023),
            (4, 1024),
            (5, 1025),
            (9, 4097),
            (6, 10_000),
            (7, 65_537),
            (8, 250_001),
        ] {
            let hay = text(len, seed);
            covers(
                &kw.find_all(&hay),
                &reference(&patterns, &hay),
                &format!("len {len}"),
            );
        }
    }

    #[test]
    fn the_per_thread_scratch_carries_nothing_from_one_buffer_or_set_to_the_next() {
        let big = Keywords::new(&["key", "token", "pass", "kkkkkkkk", "sa"]).expect("build");
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
        for len in [100, 5_000, 1 << 20] {
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
        let kw = Keywords::new(&refs).expect("build");
        let hay = crate::rules::BUILTIN_RULES.as_bytes();
        let got = kw.find_all(hay);
        assert!(got.len() > 1000, "only {} hits", got.len());
        covers(&got, &reference(&refs, hay), "catalogue");
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
        let mut files = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        let mut total = 0usize;
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(b) = std::fs::read(&p)
                    && !b.is_empty()
                {
                    total += b.len();
                    files.push(b);
                }
            }
            if total > 150 << 20 {
                break;
            }
        }
        let mut patterns = super::tests::catalogue_keywords();
        for g in [
            "pass", "pwd", "secret", "token", "_key", "-key", ".key", "key=", "key:", "key\"",
            "key'", "key ", "key`", "apikey", "auth", "cred", "export ", "sops",
        ] {
            patterns.push(g.into());
        }
        patterns.sort();
        patterns.dedup();
        let kw = Keywords::new(&patterns).expect("build");
        eprintln!(
            "{} patterns, dfa {} bytes, {} files {} bytes",
            patterns.len(),
            kw.dfa.memory_usage(),
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
        let mut run = |mode: usize| {
            let t = std::time::Instant::now();
            let mut hits = 0usize;
            for f in &files {
                buf.clear();
                buf.extend_from_slice(f);
                hits += match mode {
                    0 => usize::from(buf[0]),
                    1 => kw.find_all(&buf).len(),
                    2 => kw.find_all_dfa(&buf).len(),
                    _ => kw
                        .grams
                        .as_ref()
                        .map_or(0, |g| crate::grams::count_candidates(g, &buf)),
                };
            }
            (hits, t.elapsed())
        };
        let mut best = [f64::MAX; 4];
        let mut counts = [0usize; 4];
        for _ in 0..9 {
            for (mode, b) in best.iter_mut().enumerate() {
                let (hits, el) = run(mode);
                *b = b.min(el.as_nanos() as f64 / total as f64);
                counts[mode] = hits;
            }
        }
        for (mode, name) in ["copy", "new", "dfa", "filter"].iter().enumerate() {
            let h = counts[mode];
            eprintln!(
                "{name}: {} {} hits, best {:.3} ns/byte",
                h >> 32,
                h & 0xffff_ffff,
                best[mode]
            );
        }
    }
}
