//! Blob reads straight from the pack files, with every delta base cached.
//!
//! gix resolves a delta chain per object and caches only the object asked
//! for, not the bases it went through. A history holds versions that the
//! scan never asks for (other refs' blobs, versions the listing skipped) in
//! the middle of the chains, so gix rebuilt them for almost every read: on
//! trufflehog, reading the 33,948 listed blobs took gix about four times
//! the CPU of `git cat-file --batch` in the same order. Here, as in git,
//! every base a chain passes through is kept (up to a cap in bytes per
//! reader, oldest out first), so a path's versions read newest first each
//! cost one inflate and one delta. A blob's kind and size come from the
//! same walk (the top delta's header holds the size), so the size limit
//! holds before anything large is inflated. Anything this reader does not handle
//! (loose objects, alternates, a base in another pack, a malformed entry)
//! is left to gix, which reads and reports it as before.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use gix::ObjectId;
use gix::objs::Kind;
use gix::odb::pack::Bundle;
use gix::odb::pack::data::entry::Header;

/// The packs of one repository (memory-mapped), shared by the readers.
pub(crate) struct Packs {
    bundles: Vec<Bundle>,
    /// Per pack, git's fan-out table: the number of ids whose first byte is
    /// at most `b` (read from the index once; gix keeps its copy private).
    fans: Vec<[u32; 256]>,
}

impl Packs {
    /// The packs in `objects/pack` (none when the directory cannot be read).
    pub(crate) fn open(objects: &Path, hash: gix::hash::Kind) -> Packs {
        let mut bundles = Vec::new();
        if let Ok(dir) = std::fs::read_dir(objects.join("pack")) {
            for e in dir.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "idx")
                    && let Ok(b) = Bundle::at(&p, hash)
                {
                    bundles.push(b);
                }
            }
        }
        let fans = bundles.iter().map(|b| fan_out(&b.index)).collect();
        Packs { bundles, fans }
    }

    fn locate(&self, id: &ObjectId) -> Option<(usize, u64)> {
        (0..self.bundles.len()).find_map(|k| self.lookup(k, id).map(|offset| (k, offset)))
    }

    /// Offset of `id` in pack `k`: [`position`] in the id list of the
    /// pack's index, between the fan-out bounds of its first byte.
    fn lookup(&self, k: usize, id: &gix::oid) -> Option<u64> {
        let index = &self.bundles[k].index;
        let want = id.as_bytes();
        let first = usize::from(want[0]);
        let fan = &self.fans[k];
        let lo = if first == 0 { 0 } else { fan[first - 1] };
        position(lo, fan[first], want, |i| index.oid_at_index(i).as_bytes())
            .map(|i| index.pack_offset_at_index(i))
    }
}

/// Interpolation steps [`position`] takes before it halves.
const GUESSES: usize = 4;

/// The index in `lo..hi` of the id `want`, in a list of ids sorted
/// bytewise whose entries in `lo..hi` all start with `want[0]`.
///
/// Object ids are hashes, spread evenly: the first guess is where `want`'s
/// next bytes put it between the bounds, and each probe narrows the bounds
/// and the range of values in them. On trufflehog's pack (161,098 ids, ~630
/// per first byte) that is 2–3 probes, each a cache miss in the index,
/// where halving takes ~10 (looking ids up was ~5% of a history scan).
/// After [`GUESSES`] guesses it halves, so a list that is not spread evenly
/// still costs at most `GUESSES` + log2(n) probes. Each probe compares the
/// first 8 bytes as one integer, then the rest (a call to `memcmp` per
/// probe was 3% of a history scan).
fn position<'a>(
    mut lo: u32,
    mut hi: u32,
    want: &[u8],
    id_at: impl Fn(u32) -> &'a [u8],
) -> Option<u32> {
    let key = prefix(want);
    // every id in lo..hi has a prefix in low..=high
    let mut low = key & (0xff << 56);
    let mut high = low | !(0xff << 56);
    let mut guesses = 0;
    while lo < hi {
        let n = hi - lo;
        let mid = if guesses < GUESSES && n > 2 {
            guesses += 1;
            // low <= key <= high, so this is in 0..n
            let off = (u128::from(key - low) * u128::from(n)) / (u128::from(high - low) + 1);
            lo + u32::try_from(off).unwrap_or(n - 1).min(n - 1)
        } else {
            lo + n / 2
        };
        let at = id_at(mid);
        let p = prefix(at);
        match p.cmp(&key).then_with(|| at.cmp(want)) {
            std::cmp::Ordering::Less => {
                lo = mid + 1;
                low = p;
            }
            std::cmp::Ordering::Greater => {
                hi = mid;
                high = p;
            }
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// The first 8 bytes of an object id, as a number that sorts like them.
fn prefix(id: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id[..8]);
    u64::from_be_bytes(b)
}

/// The fan-out table of `index`, rebuilt from its sorted ids.
fn fan_out(index: &gix::odb::pack::index::File) -> [u32; 256] {
    let n = index.num_objects();
    let mut fan = [0u32; 256];
    // the first index whose id starts with a byte above `b`
    for (b, slot) in fan.iter_mut().enumerate() {
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if usize::from(index.oid_at_index(mid).as_bytes()[0]) <= b {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        *slot = lo;
    }
    fan
}

/// An object kept by a [`PackReader`], by (pack, offset).
type Cached = (Kind, Arc<Vec<u8>>);

/// One thread's reader: an inflate stream and the cache of delta bases.
pub(crate) struct PackReader {
    inflate: gix::zlib::Inflate,
    cache: HashMap<(usize, u64), Cached, foldhash::fast::RandomState>,
    order: VecDeque<(usize, u64)>,
    held: usize,
    cap: usize,
    /// Buffers of one read, kept from read to read.
    scratch: Scratch,
}

/// The buffers of one [`PackReader::read`]: the delta chain walked down,
/// and the top delta and the others inflated. Reused, so a read allocates
/// only the objects it makes.
#[derive(Default)]
struct Scratch {
    chain: Vec<gix::odb::pack::data::Entry>,
    top: Vec<u8>,
    delta: Vec<u8>,
}

/// Bytes of a delta buffer kept between reads; a larger one, inflated for
/// one large delta, is freed after that read.
const SCRATCH_KEEP: usize = 1 << 20;

/// Deltas a chain may have. git writes at most 4095 (`pack.depth`'s
/// maximum; 50 by default); a longer chain can only be a loop of REF_DELTA
/// entries, which `git index-pack` refuses on a fetch but a repository
/// handed to the scanner as it is can hold.
const MAX_CHAIN: usize = 10_000;

/// Where a delta chain starts: an object in the reader's cache, or a
/// whole (undeltified) entry still to inflate.
enum Bottom {
    Cached(Kind, Arc<Vec<u8>>),
    Whole(Kind, gix::odb::pack::data::Entry),
}

/// What [`PackReader::read`] found for an id.
pub(crate) enum Read {
    /// The object, shared with the cache.
    Object(Kind, Arc<Vec<u8>>),
    /// An object of another kind than the one asked for.
    OtherKind,
    /// An object of the kind asked for, over the size limit (not inflated).
    TooLarge(u64),
    /// Not handled here (not in a pack, a base elsewhere, a malformed entry,
    /// a delta too large to read its header from): ask gix.
    Elsewhere,
    /// A delta chain longer than [`MAX_CHAIN`]: a pack whose REF_DELTA
    /// entries name each other in a loop. An error (gix, which has its own
    /// loop check, calls such a pack corrupt too).
    Cycle,
}

impl PackReader {
    /// A reader that keeps up to `cap` bytes of objects.
    pub(crate) fn new(cap: usize) -> PackReader {
        PackReader {
            inflate: gix::zlib::Inflate::default(),
            cache: HashMap::default(),
            order: VecDeque::new(),
            held: 0,
            cap,
            scratch: Scratch::default(),
        }
    }

    fn remember(&mut self, key: (usize, u64), kind: Kind, data: &Arc<Vec<u8>>) {
        // an object of up to half the cap is kept (a large file's versions
        // are chained like a small one's)
        if data.len() > self.cap / 2 || self.cache.contains_key(&key) {
            return;
        }
        while self.held + data.len() > self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, v)) = self.cache.remove(&old) {
                self.held -= v.len();
            }
        }
        self.held += data.len();
        self.cache.insert(key, (kind, Arc::clone(data)));
        self.order.push_back(key);
    }

    /// The object `id` if it is in one of `packs` and every base of its
    /// delta chain is in the same pack. With `want`, an object of another
    /// kind, or of that kind and over `max_size` bytes, is reported as such
    /// before anything large is inflated (as `git cat-file --batch` does
    /// from the object header).
    pub(crate) fn read(&mut self, packs: &Packs, id: &ObjectId, want: Option<(Kind, u64)>) -> Read {
        let mut scratch = std::mem::take(&mut self.scratch);
        let read = self
            .try_read(packs, id, want, &mut scratch)
            .unwrap_or(Read::Elsewhere);
        scratch.chain.clear();
        for b in [&mut scratch.top, &mut scratch.delta] {
            b.clear();
            if b.capacity() > SCRATCH_KEEP {
                *b = Vec::new();
            }
        }
        self.scratch = scratch;
        read
    }

    fn try_read(
        &mut self,
        packs: &Packs,
        id: &ObjectId,
        want: Option<(Kind, u64)>,
        scratch: &mut Scratch,
    ) -> Option<Read> {
        let Scratch { chain, top, delta } = scratch;
        let (k, offset) = packs.locate(id)?;
        let pack = &packs.bundles[k].pack;
        // walk down to a cached base or a whole object
        let mut at = offset;
        let bottom = loop {
            if let Some((kind, b)) = self.cache.get(&(k, at)) {
                break Bottom::Cached(*kind, Arc::clone(b));
            }
            if chain.len() >= MAX_CHAIN {
                return Some(Read::Cycle);
            }
            let entry = pack.entry(at).ok()?;
            match entry.header {
                Header::OfsDelta { base_distance } => {
                    at = entry.checked_base_pack_offset(base_distance)?;
                    chain.push(entry);
                }
                Header::RefDelta { base_id } => {
                    at = packs.lookup(k, &base_id)?;
                    chain.push(entry);
                }
                h => break Bottom::Whole(h.as_kind()?, entry),
            }
        };
        let kind = match &bottom {
            Bottom::Cached(kind, _) | Bottom::Whole(kind, _) => *kind,
        };
        // the top delta, inflated first when there is a limit: its header
        // gives the object's size
        if let Some((want_kind, max_size)) = want {
            if kind != want_kind {
                return Some(Read::OtherKind);
            }
            let size = match (chain.first(), &bottom) {
                (Some(entry), _) => {
                    if entry.decompressed_size > max_size.saturating_add(64) {
                        // a delta this large: let gix read its header
                        return None;
                    }
                    top.resize(usize::try_from(entry.decompressed_size).ok()?, 0);
                    pack.decompress_entry(entry, &mut self.inflate, top).ok()?;
                    let (_, d) = varint(top)?;
                    varint(d)?.0 as u64
                }
                (None, Bottom::Cached(_, b)) => b.len() as u64,
                (None, Bottom::Whole(_, entry)) => entry.decompressed_size,
            };
            if size > max_size {
                return Some(Read::TooLarge(size));
            }
        }
        let mut base = match bottom {
            Bottom::Cached(_, b) => b,
            Bottom::Whole(_, entry) => {
                let mut out = vec![0; usize::try_from(entry.decompressed_size).ok()?];
                pack.decompress_entry(&entry, &mut self.inflate, &mut out)
                    .ok()?;
                let out = Arc::new(out);
                // often the base of the next (older) version read
                self.remember((k, at), kind, &out);
                out
            }
        };
        // then back up, applying each delta
        while let Some(entry) = chain.pop() {
            let d = if chain.is_empty() && !top.is_empty() {
                &*top
            } else {
                delta.clear();
                delta.resize(usize::try_from(entry.decompressed_size).ok()?, 0);
                pack.decompress_entry(&entry, &mut self.inflate, delta)
                    .ok()?;
                &*delta
            };
            base = Arc::new(apply_delta(&base, d)?);
            self.remember((k, entry.pack_offset()), kind, &base);
        }
        Some(Read::Object(kind, base))
    }
}

/// A little-endian base-128 number at the start of `d`, and the rest.
fn varint(d: &[u8]) -> Option<(usize, &[u8])> {
    let mut v = 0usize;
    for (i, b) in d.iter().enumerate().take(10) {
        v |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &d[i + 1..]));
        }
    }
    None
}

/// `base` with git's delta instructions `delta` applied; `None` if they do
/// not fit it.
fn apply_delta(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let (source_len, d) = varint(delta)?;
    let (target_len, mut d) = varint(d)?;
    if source_len != base.len() {
        return None;
    }
    let mut out = Vec::with_capacity(target_len);
    while let Some((&op, rest)) = d.split_first() {
        d = rest;
        if op & 0x80 != 0 {
            // copy from the base: up to 4 offset bytes, then up to 3 size bytes
            let mut field = |bits: u8, shift: usize| -> Option<usize> {
                let mut v = 0usize;
                for i in 0..shift {
                    if bits & (1 << i) != 0 {
                        let (&b, rest) = d.split_first()?;
                        d = rest;
                        v |= usize::from(b) << (8 * i);
                    }
                }
                Some(v)
            };
            let start = field(op & 0x0f, 4)?;
            let len = match field((op >> 4) & 0x07, 3)? {
                0 => 0x10000,
                n => n,
            };
            out.extend_from_slice(base.get(start..start.checked_add(len)?)?);
        } else if op != 0 {
            // insert the next `op` bytes of the delta
            let n = usize::from(op);
            out.extend_from_slice(d.get(..n)?);
            d = &d[n..];
        } else {
            return None;
        }
    }
    (out.len() == target_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted 20-byte ids from `make`, searched between the fan-out bounds
    /// of their first byte as [`Packs::lookup`] does: each is found at its
    /// index, and each id next to one (last byte +1, or a first-byte
    /// neighbour's bounds) is not found.
    fn search_all(mut ids: Vec<[u8; 20]>) {
        ids.sort_unstable();
        ids.dedup();
        let bounds = |b: u8| {
            let lo = ids.partition_point(|x| x[0] < b) as u32;
            let hi = ids.partition_point(|x| x[0] <= b) as u32;
            (lo, hi)
        };
        let at = |i: u32| &ids[i as usize][..];
        for (i, id) in ids.iter().enumerate() {
            let (lo, hi) = bounds(id[0]);
            assert_eq!(position(lo, hi, id, at), Some(i as u32), "{id:?}");
            let mut near = *id;
            near[19] = near[19].wrapping_add(1);
            if ids.binary_search(&near).is_err() {
                let (lo, hi) = bounds(near[0]);
                assert_eq!(position(lo, hi, &near, at), None, "{near:?}");
            }
        }
    }

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// A zlib stream holding `data` in one stored (uncompressed) block.
    fn zlib_stored(data: &[u8]) -> Vec<u8> {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        let len = u16::try_from(data.len()).unwrap();
        let mut z = vec![0x78, 0x01, 0x01];
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(data);
        z.extend_from_slice(&(b << 16 | a).to_be_bytes());
        z
    }

    /// Writes `objects/pack/pack-cycle.{pack,idx}` under `dir`: two
    /// REF_DELTA entries, `x` a delta of `y` and `y` a delta of `x`.
    #[allow(
        clippy::disallowed_methods,
        reason = "a test writes its fixture pack into a temporary directory"
    )]
    fn write_cyclic_pack(dir: &Path, x: [u8; 20], y: [u8; 20]) {
        // a delta from 3 bytes to 3 bytes: insert "abc"
        let delta = zlib_stored(&[3, 3, 3, b'a', b'b', b'c']);
        let mut pack = b"PACK".to_vec();
        pack.extend_from_slice(&2u32.to_be_bytes());
        pack.extend_from_slice(&2u32.to_be_bytes());
        let mut offsets = Vec::new();
        for base in [y, x] {
            offsets.push(u32::try_from(pack.len()).unwrap());
            // type 7 (REF_DELTA), size 6
            pack.push(7 << 4 | 6);
            pack.extend_from_slice(&base);
            pack.extend_from_slice(&delta);
        }
        pack.extend_from_slice(&[0; 20]);
        let mut idx = vec![0xff, b't', b'O', b'c'];
        idx.extend_from_slice(&2u32.to_be_bytes());
        let ids = [x, y];
        for b in 0..=255u8 {
            let n = ids.iter().filter(|id| id[0] <= b).count();
            idx.extend_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
        }
        for id in ids {
            idx.extend_from_slice(&id);
        }
        idx.extend_from_slice(&[0; 8]);
        for o in offsets {
            idx.extend_from_slice(&o.to_be_bytes());
        }
        idx.extend_from_slice(&[0; 40]);
        let at = dir.join("objects/pack");
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join("pack-cycle.pack"), pack).unwrap();
        std::fs::write(at.join("pack-cycle.idx"), idx).unwrap();
    }

    /// A pack whose REF_DELTA entries name each other: the read stops at
    /// [`MAX_CHAIN`] with [`Read::Cycle`] instead of walking the loop for
    /// ever (and growing the chain until memory runs out).
    #[test]
    fn a_delta_chain_that_loops_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = ([0x11; 20], [0x22; 20]);
        write_cyclic_pack(dir.path(), x, y);
        let packs = Packs::open(&dir.path().join("objects"), gix::hash::Kind::Sha1);
        assert_eq!(packs.bundles.len(), 1, "the hand-made pack opens");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = PackReader::new(1 << 20);
            for id in [x, y] {
                let id = ObjectId::from_bytes_or_panic(&id);
                let got = reader.read(&packs, &id, None);
                let _ = tx.send(matches!(got, Read::Cycle));
            }
        });
        for _ in 0..2 {
            let cycle = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the read ends");
            assert!(cycle, "reported as a loop");
        }
    }

    #[test]
    fn ids_spread_evenly_are_found_exactly() {
        let mut seed = 0x9E37_79B9_7F4A_7C15;
        let ids = (0..20_000)
            .map(|_| {
                let mut id = [0u8; 20];
                for c in id.chunks_mut(8) {
                    let r = xorshift(&mut seed).to_le_bytes();
                    c.copy_from_slice(&r[..c.len()]);
                }
                id
            })
            .collect();
        search_all(ids);
    }

    #[test]
    fn ids_not_spread_evenly_are_found_exactly() {
        // clusters, long shared prefixes, ids that differ only after byte
        // 8, all in a few first bytes: interpolation guesses badly here
        // and the search must still be exact
        let mut seed = 7;
        let mut ids = Vec::new();
        for k in 0..3000u64 {
            let r = xorshift(&mut seed);
            let mut id = [0u8; 20];
            id[0] = [0x00, 0x7f, 0xff][(k % 3) as usize];
            match k % 4 {
                0 => id[1..9].copy_from_slice(&(k * k).to_be_bytes()),
                1 => id[1..9].copy_from_slice(&[0xff; 8]),
                2 => id[9..17].copy_from_slice(&r.to_be_bytes()),
                _ => id[1..9].copy_from_slice(&(r >> 60).to_be_bytes()),
            }
            id[17..20].copy_from_slice(&r.to_le_bytes()[..3]);
            ids.push(id);
        }
        search_all(ids);
        // one id, and none
        search_all(vec![[5; 20]]);
        assert_eq!(position(0, 0, &[5; 20], |_| unreachable!()), None);
    }

    #[test]
    fn deltas_copy_and_insert() {
        let base = b"hello, world\n";
        // source 13, target 14: copy "hello, " (offset 0, len 7), insert
        // "there!\n"
        let delta = [
            13, 14, 0x90, 7, 7, b't', b'h', b'e', b'r', b'e', b'!', b'\n',
        ];
        assert_eq!(
            apply_delta(base, &delta).as_deref(),
            Some(&b"hello, there!\n"[..])
        );
        // wrong source length, copy past the end, bad opcode, short target
        assert_eq!(apply_delta(b"x", &delta), None);
        assert_eq!(apply_delta(base, &[13, 20, 0x91, 10, 20]), None);
        assert_eq!(apply_delta(base, &[13, 1, 0]), None);
        assert_eq!(apply_delta(base, &[13, 5, 0x90, 3]), None);
        // offset bytes: copy "world" (offset 7, len 5)
        assert_eq!(
            apply_delta(base, &[13, 5, 0x91, 7, 5]).as_deref(),
            Some(&b"world"[..])
        );
    }
}
