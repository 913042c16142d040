//! A vectorised filter in front of the keyword search (issue 16, work-tree
//! speed). Every keyword of three bytes or more is represented by one of its
//! 3-byte fragments, the one made of the rarest bytes in source code. The
//! filter looks at 64 positions at a time: a position passes when the three
//! bytes there hash, in each of [`FILTERS`] independent ways, to a cell that
//! some fragment also hashes to. The hashes are table lookups that AVX-512
//! VBMI does for 64 bytes in one instruction (`vpermi2b`, 128-entry tables,
//! both letter cases given the same entry), so the filter costs a fraction of
//! a cycle per byte where the Aho–Corasick DFA walk costs several.
//!
//! A position that passes is only a candidate: its three bytes, lowercased,
//! are looked up exactly among the fragments, and each keyword with that
//! fragment is compared in full where it would start. The filter never
//! rejects a real occurrence (an occurrence's fragment hashes exactly like
//! the keyword's), so every occurrence is found, each once (through its
//! keyword's one fragment). Keywords of one or two bytes are found by
//! `memchr` on their last byte. The last 66 positions of a buffer, which a
//! 64-byte load from them would overrun, are verified one by one.
//!
//! Without AVX-512 VBMI (or with more than three distinct last bytes of
//! short keywords, or an empty keyword) there is no filter and the caller
//! walks the DFA.

use crate::keywords::Hit;

/// Independent hashes a position must pass: with ~350 fragments in 1024
/// cells each hash passes about 29% of positions, all four together ~0.7%.
const FILTERS: usize = 5;

/// Fragment length.
const GRAM: usize = 3;

/// How rare a byte is in source code: about -log2 of its frequency, letters
/// folded (measured on a sample of crate sources; only the order matters,
/// for the choice of each keyword's fragment).
const RARITY: [u8; 128] = [
    7, 11, 10, 12, 12, 14, 14, 13, 14, 8, 5, 14, 14, 12, 14, 13, 14, 15, 14, 14, 14, 15, 14, 14,
    14, 12, 13, 10, 14, 13, 13, 13, 2, 9, 7, 9, 9, 8, 9, 9, 6, 7, 9, 10, 6, 8, 7, 6, 6, 7, 7, 8, 8,
    8, 8, 9, 8, 8, 6, 7, 9, 7, 8, 11, 12, 5, 6, 5, 6, 4, 6, 7, 7, 5, 10, 8, 6, 6, 5, 5, 6, 8, 5, 5,
    4, 6, 7, 8, 6, 7, 9, 8, 8, 8, 12, 5, 9, 5, 6, 5, 6, 4, 6, 7, 7, 5, 10, 8, 6, 6, 5, 5, 6, 8, 5,
    5, 4, 6, 7, 8, 6, 7, 9, 8, 10, 8, 14, 15,
];

/// The 3-byte fragments of the built-in keywords that are most common in
/// source code, most common first (counted on a sample of crate sources): a
/// keyword's fragment is one of these only if it has no other.
const COMMON: &[u8] = b"conionpubthetioentnstterateintserstrtraed tesresstaithandoneestiteuseracer keyassgetvermplouttat\
linlocctitedwitcommatultprosseherdatbugureareivechein retodeendocknteattastet_genst_blelueencine\
---putliccor prndeablensperesserecoder:eveataontexpatu_secaltte enisticeuctbinokeriatokrivbloack\
flanerte httttportmapawstchtryopeinfredmenounatcticreqarsworpencloequkenws_te_agence_kesigiledis\
lloseninkainfilorder.secporlitroarepcatshadeslsepte.cotenpataceecontrantonfdin_paes: ophouuntbit\
trene prircesinoinitycreinsasemesps:_deongckeinccesollclidec://odufauposspatpss_sgitervlc_achien\
_toailramntsecke_sme_s:/ ketabhecn eleslieoffuncpanrt eroethn oillfigplarypyptcryminakeey_t_smem\
egiic ralampdleireapp256om/sumcuraccse_eta_idck_laslagth_ropnd_le_shoeart_pmacffethuautrvecceerm\
ginocaeamnextaikinhube_tariinalisut_alespoivain_r13plimanvelcarnvaquigro blst-ocsseeufftifstidit\
erdayst_aediancwiltacn pkedn rissed:ficre_vatbooushardnss_liey ublhinnatblicou_clsagenaecrnelor_\
elln dcipmonsplhexec_stsostonaketloascafressamaihede_ps_egrasa_e_dncrlimaryalgnchducdd_lar_days_\
viso_sbasuthercnow_pupporsailid_a_tele:rolierifygerotiunkuirichcitdsapusnetudeboxle.abidevrelway\
dromars_pwasmis_opystio-lgotadtlyss_el_uchsheve_l_leekcacoliey:xpoarkadyliaippst.n_pts:ubsicknod\
ittasiinor_o ec+ht.stts.fire_oloblliapiit.at_d pgreceluenepaapsishy b_ortusbillwaa placshiookeys\
chion-";

/// How good a fragment is (higher: rarer in source code).
fn score(g: &[u8]) -> u32 {
    let lower = [
        g[0].to_ascii_lowercase(),
        g[1].to_ascii_lowercase(),
        g[2].to_ascii_lowercase(),
    ];
    if let Some(r) = COMMON.chunks_exact(GRAM).position(|c| c == lower) {
        return r as u32;
    }
    1000 + g
        .iter()
        .map(|&b| u32::from(RARITY.get(usize::from(b)).copied().unwrap_or(15)))
        .sum::<u32>()
}

/// The class of a byte: its low five bits and bit 6, so the two cases of a
/// letter share a class (and a few rare bytes share one with another: `@`
/// and `` ` ``, NUL and space, non-ASCII bytes and ASCII ones). The filter
/// looks at classes, so it passes any position whose bytes have the classes
/// of a fragment's bytes.
fn class(b: u8) -> usize {
    usize::from((b & 0x1f) | ((b >> 1) & 0x20))
}

/// One hash: `cell(a[c0] ^ b[c1] ^ c[c2], d[c1])` of the classes `c0 c1 c2`
/// of three bytes.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Hash {
    a: [u8; 64],
    b: [u8; 64],
    c: [u8; 64],
    /// Bit (0..8) within the cell's byte; the same in every hash (the
    /// filter looks it up once).
    d: [u8; 64],
    /// 1024 cells: byte `a ^ b ^ c` (low seven bits), bit `d`.
    cells: [u8; 128],
}

impl Hash {
    fn random(seed: &mut u64) -> Hash {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        };
        let mut h = Hash {
            a: [0; 64],
            b: [0; 64],
            c: [0; 64],
            d: [0; 64],
            cells: [0; 128],
        };
        for i in 0..64 {
            h.a[i] = next();
            h.b[i] = next();
            h.c[i] = next();
            h.d[i] = next() & 7;
        }
        h
    }

    /// The byte and bit of the cell of `g` (three bytes, any case).
    fn cell(&self, g: &[u8]) -> (usize, u8) {
        let byte = (self.a[class(g[0])] ^ self.b[class(g[1])] ^ self.c[class(g[2])]) & 0x7f;
        (usize::from(byte), 1 << self.d[class(g[1])])
    }
}

/// The filter and the exact fragment table behind it.
#[derive(Debug, Clone)]
pub(crate) struct Grams {
    hashes: Box<[Hash; FILTERS]>,
    /// Open addressing over fragments (key 0: empty slot).
    slots: Vec<Slot>,
    /// The keywords by fragment.
    entries: Vec<Entry>,
    /// Keywords shorter than a fragment, found through their last byte.
    short: Vec<Entry>,
    /// Every keyword's bytes, one after the other.
    text: Vec<u8>,
    /// Both cases of the short keywords' last bytes (at most three).
    needles: Vec<u8>,
}

/// A fragment and its range of `Grams::entries`.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// `lowercase gram | 1 << 24`.
    key: u32,
    from: u32,
    to: u32,
}

/// A keyword.
#[derive(Debug, Clone, Copy)]
struct Entry {
    pattern: u32,
    /// Offset of the fragment in the keyword.
    offset: u32,
    /// The keyword is `Grams::text[at..at + len]`.
    at: u32,
    len: u32,
}

impl Entry {
    /// The occurrence of this keyword at `start`, if there is one.
    #[inline]
    fn at(&self, text: &[u8], bytes: &[u8], start: usize) -> Option<Hit> {
        let end = start + self.len as usize;
        let pat = &text[self.at as usize..][..self.len as usize];
        bytes
            .get(start..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(pat))
            .then_some(Hit {
                start,
                pattern: self.pattern,
                end,
            })
    }
}

fn gram_key(g: &[u8]) -> u32 {
    u32::from(g[0].to_ascii_lowercase())
        | u32::from(g[1].to_ascii_lowercase()) << 8
        | u32::from(g[2].to_ascii_lowercase()) << 16
        | 1 << 24
}

fn slot(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> 12) as usize & mask
}

impl Grams {
    /// The filter for `patterns`, or `None` where it does not apply (see
    /// the module documentation) or the CPU lacks AVX-512 VBMI.
    pub(crate) fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Option<Grams> {
        if !simd::available() {
            return None;
        }
        Grams::build(patterns)
    }

    fn build<P: AsRef<[u8]>>(patterns: &[P]) -> Option<Grams> {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut hashes: Box<[Hash; FILTERS]> =
            Box::new(std::array::from_fn(|_| Hash::random(&mut seed)));
        let d = hashes[0].d;
        for h in hashes.iter_mut() {
            h.d = d;
        }
        let mut short = Vec::new();
        let mut needles = Vec::new();
        let mut text = Vec::new();
        // (key, keyword)
        let mut frags: Vec<(u32, Entry)> = Vec::new();
        for (p, pat) in patterns.iter().enumerate() {
            let pat = pat.as_ref();
            if pat.is_empty() {
                return None;
            }
            let mut entry = Entry {
                pattern: u32::try_from(p).ok()?,
                offset: 0,
                at: u32::try_from(text.len()).ok()?,
                len: u32::try_from(pat.len()).ok()?,
            };
            text.extend_from_slice(pat);
            if pat.len() < GRAM {
                short.push(entry);
                let last = pat[pat.len() - 1];
                for b in [last.to_ascii_lowercase(), last.to_ascii_uppercase()] {
                    if !needles.contains(&b) {
                        needles.push(b);
                    }
                }
                continue;
            }
            // the rarest fragment, the first of equals
            let (off, g) = pat
                .windows(GRAM)
                .enumerate()
                .max_by_key(|&(i, g)| (score(g), std::cmp::Reverse(i)))?;
            entry.offset = u32::try_from(off).ok()?;
            frags.push((gram_key(g), entry));
            for h in hashes.iter_mut() {
                let (byte, bit) = h.cell(g);
                h.cells[byte] |= bit;
            }
        }
        if needles.len() > 3 {
            return None;
        }
        frags.sort_by_key(|f| (f.0, f.1.pattern));
        let size = (frags.len() * 2).next_power_of_two().max(16);
        let mask = size - 1;
        let mut slots = vec![Slot::default(); size];
        let entries: Vec<Entry> = frags.iter().map(|f| f.1).collect();
        let mut i = 0;
        while i < frags.len() {
            let key = frags[i].0;
            let j = i + frags[i..].iter().take_while(|f| f.0 == key).count();
            let mut s = slot(key, mask);
            while slots[s].key != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = Slot {
                key,
                from: u32::try_from(i).ok()?,
                to: u32::try_from(j).ok()?,
            };
            i = j;
        }
        Some(Grams {
            hashes,
            slots,
            entries,
            short,
            text,
            needles,
        })
    }

    /// Pushes every occurrence of every keyword in `bytes` to `out`, in no
    /// particular order.
    pub(crate) fn find(&self, bytes: &[u8], out: &mut Vec<Hit>) {
        self.find_with(bytes, out, true);
    }

    /// [`Grams::find`], without the vectorised filter if `!filter` (every
    /// position verified, as on a CPU without it).
    fn find_with(&self, bytes: &[u8], out: &mut Vec<Hit>, filter: bool) {
        let done = if filter {
            simd::candidates(&self.hashes, bytes, |i| self.verify(bytes, i, out))
        } else {
            0
        };
        for i in done..bytes.len().saturating_sub(GRAM - 1) {
            self.verify(bytes, i, out);
        }
        if !self.needles.is_empty() {
            let mut each = |j: usize| {
                for e in &self.short {
                    if let Some(start) = (j + 1).checked_sub(e.len as usize)
                        && let Some(h) = e.at(&self.text, bytes, start)
                    {
                        out.push(h);
                    }
                }
            };
            match *self.needles.as_slice() {
                [a] => memchr::memchr_iter(a, bytes).for_each(&mut each),
                [a, b] => memchr::memchr2_iter(a, b, bytes).for_each(&mut each),
                [a, b, c] => memchr::memchr3_iter(a, b, c, bytes).for_each(&mut each),
                _ => {}
            }
        }
    }

    /// The keywords whose fragment starts at `i`, compared in full.
    #[inline]
    fn verify(&self, bytes: &[u8], i: usize, out: &mut Vec<Hit>) {
        let Some(g) = bytes.get(i..i + GRAM) else {
            return;
        };
        let key = gram_key(g);
        let mask = self.slots.len() - 1;
        let mut s = slot(key, mask);
        let found = loop {
            match self.slots[s] {
                Slot { key: 0, .. } => return,
                f if f.key == key => break f,
                _ => s = (s + 1) & mask,
            }
        };
        for e in &self.entries[found.from as usize..found.to as usize] {
            if let Some(start) = i.checked_sub(e.offset as usize)
                && let Some(h) = e.at(&self.text, bytes, start)
            {
                out.push(h);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::implicit_hasher)]
pub(crate) fn gram_counts(
    g: &Grams,
    bytes: &[u8],
    counts: &mut std::collections::HashMap<u32, usize>,
) {
    simd::candidates(&g.hashes, bytes, |i| {
        let key = bytes.get(i..i + GRAM).map_or(0, gram_key);
        if g.slots.iter().any(|s| s.key == key) {
            *counts.entry(key).or_default() += 1;
        }
    });
}

#[cfg(test)]
pub(crate) fn count_candidates(g: &Grams, bytes: &[u8]) -> usize {
    let mut c = 0;
    simd::candidates(&g.hashes, bytes, |i| {
        let key = bytes.get(i..i + GRAM).map_or(0, gram_key);
        let mask = g.slots.len() - 1;
        let mut s = slot(key, mask);
        while g.slots[s].key != 0 {
            if g.slots[s].key == key {
                c += 1 << 32;
                break;
            }
            s = (s + 1) & mask;
        }
        c += 1;
    });
    c
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use super::{FILTERS, Hash};
    use std::arch::x86_64::*;

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
    }

    /// Calls `each` with every position of `bytes` whose three bytes pass
    /// all the hashes (in increasing order); returns the first position not
    /// looked at (the caller verifies those one by one).
    pub(super) fn candidates(
        hashes: &[Hash; FILTERS],
        bytes: &[u8],
        each: impl FnMut(usize),
    ) -> usize {
        if !available() {
            return 0;
        }
        // SAFETY: the CPU has the features (checked just above)
        unsafe { candidates_vbmi(hashes, bytes, each) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn table64(t: &[u8; 64]) -> __m512i {
        // SAFETY: `t` is 64 readable bytes
        unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn table(t: &[u8; 128]) -> (__m512i, __m512i) {
        // SAFETY: `t` is 128 readable bytes
        unsafe {
            (
                _mm512_loadu_si512(t.as_ptr().cast()),
                _mm512_loadu_si512(t.as_ptr().add(64).cast()),
            )
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn lookup(t: (__m512i, __m512i), idx: __m512i) -> __m512i {
        _mm512_permutex2var_epi8(t.0, idx, t.1)
    }

    /// Per hash: a, b, c, d, cells.
    type Tables = [([__m512i; 4], (__m512i, __m512i)); FILTERS];

    /// `class` of each byte.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn classes(v: __m512i) -> __m512i {
        // low five bits from `v`, bit 5 from bit 6 (shifted right by one);
        // the table lookups ignore bits 6 and 7
        let low = _mm512_set1_epi8(0x1f);
        _mm512_ternarylogic_epi32::<0xE4>(v, _mm512_srli_epi16::<1>(v), low)
    }

    /// The candidates among the 64 positions from `p`, as a bit mask; reads
    /// 66 bytes from `p`.
    ///
    /// # Safety
    /// `p..p + 66` must be readable.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    #[inline]
    unsafe fn block(tables: &Tables, p: *const u8) -> u64 {
        // in each 128-bit lane: 1 << (i & 7) at index i
        let bitsel = _mm512_set1_epi64(0x8040_2010_0804_0201_u64 as i64);
        // SAFETY: the caller's promise
        let (v0, v1, v2) = unsafe {
            (
                _mm512_loadu_si512(p.cast()),
                _mm512_loadu_si512(p.add(1).cast()),
                _mm512_loadu_si512(p.add(2).cast()),
            )
        };
        let (c0, c1, c2) = (classes(v0), classes(v1), classes(v2));
        let bit = _mm512_shuffle_epi8(bitsel, _mm512_permutexvar_epi8(c1, tables[0].0[3]));
        let mut m = u64::MAX;
        for &([a, b, c, _], cells) in tables {
            let h = _mm512_ternarylogic_epi32::<0x96>(
                _mm512_permutexvar_epi8(c0, a),
                _mm512_permutexvar_epi8(c1, b),
                _mm512_permutexvar_epi8(c2, c),
            );
            let word = lookup(cells, h);
            m &= _mm512_test_epi8_mask(word, bit);
        }
        m
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn candidates_vbmi(
        hashes: &[Hash; FILTERS],
        bytes: &[u8],
        mut each: impl FnMut(usize),
    ) -> usize {
        let n = bytes.len();
        let tables: Tables = std::array::from_fn(|k| {
            let h = &hashes[k];
            (
                [table64(&h.a), table64(&h.b), table64(&h.c), table64(&h.d)],
                table(&h.cells),
            )
        });
        let mut i = 0;
        while i + 64 + 2 <= n {
            // SAFETY: i + 66 <= n
            let mut m = unsafe { block(&tables, bytes.as_ptr().add(i)) };
            while m != 0 {
                each(i + m.trailing_zeros() as usize);
                m &= m - 1;
            }
            i += 64;
        }
        // the last positions (fewer than 64 with three bytes) from a copy
        if i + 2 < n {
            let mut pad = [0u8; 128];
            pad[..n - i].copy_from_slice(&bytes[i..]);
            // SAFETY: 128 bytes readable
            let mut m = unsafe { block(&tables, pad.as_ptr()) };
            // positions whose three bytes are all in the buffer
            m &= (1u64 << (n - i - 2)) - 1;
            while m != 0 {
                each(i + m.trailing_zeros() as usize);
                m &= m - 1;
            }
        }
        n
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    use super::{FILTERS, Hash};

    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn candidates(_: &[Hash; FILTERS], _: &[u8], _: impl FnMut(usize)) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every occurrence, sorted: what the filter must find.
    fn reference(patterns: &[&[u8]], hay: &[u8]) -> Vec<Hit> {
        crate::keywords::Keywords::new(patterns)
            .expect("build")
            .find_all_plain(hay)
    }

    fn found(g: &Grams, hay: &[u8]) -> Vec<Hit> {
        let mut v = Vec::new();
        g.find(hay, &mut v);
        v.sort_unstable();
        v
    }

    #[test]
    fn finds_every_occurrence_at_every_length_and_alignment() {
        let sets: [&[&[u8]]; 2] = [
            &[
                b"key",
                b"key ",
                b"_key",
                b"token",
                b"tok",
                b"pass",
                b"kkkkkkkk",
                b"k",
                b"a\xc3b",
                b"@`",
            ],
            &[b"ok", b"q~", b"aaaa", b"tok", b"ke{", b"\0 \0", b"sa_"],
        ];
        // letters of both cases, the class-sharing bytes, non-ASCII
        let alphabet = b"aAkKeEyY_ -=:tTo\nnpPsSqQ~@`\0\xc3\xe3bB{[";
        for patterns in sets {
            let g = Grams::build(patterns).expect("grams");
            for (seed, len) in [
                (1, 0),
                (2, 1),
                (3, 2),
                (4, 3),
                (5, 63),
                (6, 64),
                (7, 65),
                (8, 66),
                (9, 67),
                (10, 130),
                (11, 1_000),
                (12, 65_537),
            ] {
                let hay = crate::keywords::tests::text_over(len, seed, alphabet);
                let want = reference(patterns, &hay);
                assert_eq!(found(&g, &hay), want, "len {len}");
                let mut plain = Vec::new();
                g.find_with(&hay, &mut plain, false);
                plain.sort_unstable();
                assert_eq!(plain, want, "len {len}, no filter");
            }
        }
    }

    #[test]
    fn the_catalogue_on_the_catalogue_equals_the_reference() {
        let patterns = crate::keywords::tests::catalogue_keywords();
        let refs: Vec<&[u8]> = patterns.iter().map(String::as_bytes).collect();
        let g = Grams::build(&refs).expect("grams");
        let hay = crate::rules::BUILTIN_RULES.as_bytes();
        let want = reference(&refs, hay);
        assert!(want.len() > 1000, "only {} hits", want.len());
        assert_eq!(found(&g, hay), want);
        let upper = hay.to_ascii_uppercase();
        assert_eq!(found(&g, &upper), reference(&refs, &upper));
    }

    #[test]
    fn no_filter_for_an_empty_keyword_or_many_short_ones() {
        assert!(Grams::build(&[&b""[..], b"token"]).is_none());
        assert!(Grams::build(&[&b"ab"[..], b"cd", b"token"]).is_none());
        assert!(Grams::build(&[&b"ab"[..], b"token"]).is_some());
    }
}
