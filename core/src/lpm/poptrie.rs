//! Poptrie (Asai & Ohara, SIGCOMM 2015), generic over the key width.
//!
//! Layout: a direct-pointing array indexed by the top `k` bits of the key, then 64-ary nodes
//! (6-bit strides). A node holds two 64-bit bitmaps: `vector` marks the slots that have a child,
//! `leafvec` marks where a run of equal leaves starts (leaf compression); the rank of a slot
//! (popcount of the bitmap up to it) indexes the node's child or leaf list.
//!
//! Unlike the paper's separate node and leaf arrays, each node is one record in a single `u32`
//! array: `[vector lo, vector hi, leafvec lo, leafvec hi, child offsets…, leaves…]`. The leaf a
//! lookup ends on is then in the same or the next cache line as the node's bitmaps, instead of a
//! second random miss into a multi-megabyte leaf array (measured: +25–40 % on the Tier-1 table).
//!
//! Encoding of a 32-bit entry (direct array, child offset, leaf): bit 31 set = leaf, whose low
//! 31 bits are the next hop or `NONE_VAL` for "no route"; bit 31 clear = offset of a record.

/// Leaf flag of an entry.
const LEAF: u32 = 1 << 31;
/// Low bits of a leaf that mean "no route".
const NONE_VAL: u32 = LEAF - 1;
/// Encoded "no route" leaf.
const NONE: u32 = u32::MAX;
/// Marks a build slot without a child.
const NO_CHILD: u32 = u32::MAX;

/// Largest next hop a FIB can hold (`2^31 - 2`): the top bit and one value are the encoding.
pub const MAX_NEXT_HOP: u32 = NONE_VAL - 1;

/// A lookup key: the address as an unsigned integer, most significant bit first.
pub(super) trait Key: Copy {
    /// Width in bits.
    const BITS: u32;
    /// The top `n` bits (`1 <= n <= 18`).
    fn top(self, n: u32) -> usize;
    /// The 6 bits starting at bit `off` (from the top), zero-padded past the end.
    fn chunk(self, off: u32) -> usize;
    /// Whether the batched lookup prefetches the first record of each key before walking.
    /// Measured (Tier-1 table, 4M keys, medians of 7): IPv4 +10–20 % uniform, +30–80 % inside
    /// prefixes; IPv6 −10 % uniform (7/8 of the keys end in the direct array), ±0 inside.
    const PREFETCH_RECORD: bool;
    /// Whether the key fits a 64-bit vector lane (the AVX-512 walk).
    const LANE: bool;
    /// The key as the top bits of a 64-bit lane, so that `top` and `chunk` are the lane's.
    fn lane(self) -> u64;
    /// Whether [`BatchPath::Auto`] takes the vector walk where the CPU has it (see there).
    const VECTOR_DEFAULT: bool;
}

impl Key for u32 {
    const BITS: u32 = 32;
    const PREFETCH_RECORD: bool = true;
    const LANE: bool = true;
    const VECTOR_DEFAULT: bool = false;
    #[inline(always)]
    fn lane(self) -> u64 {
        (self as u64) << 32
    }
    #[inline(always)]
    fn top(self, n: u32) -> usize {
        (self >> (32 - n)) as usize
    }
    #[inline(always)]
    fn chunk(self, off: u32) -> usize {
        // Widening to 64 bits gives the zero padding of the last, partial stride for free.
        ((((self as u64) << 32) << off) >> 58) as usize
    }
}

/// The top 64 bits of an IPv6 address, for tables without a prefix longer than /64 (every
/// BGP table): half-width shifts, and the same trie walk.
impl Key for u64 {
    const BITS: u32 = 64;
    const PREFETCH_RECORD: bool = false;
    const LANE: bool = true;
    const VECTOR_DEFAULT: bool = true;
    #[inline(always)]
    fn lane(self) -> u64 {
        self
    }
    #[inline(always)]
    fn top(self, n: u32) -> usize {
        (self >> (64 - n)) as usize
    }
    #[inline(always)]
    fn chunk(self, off: u32) -> usize {
        // Strides start at multiples of 6 and a prefix of at most 64 bits ends in the stride
        // at 60 at the latest, so `off < 64` (the last stride's padding comes from `>>`).
        debug_assert!(off < 64);
        ((self << (off & 63)) >> 58) as usize
    }
}

impl Key for u128 {
    const BITS: u32 = 128;
    const PREFETCH_RECORD: bool = false;
    const LANE: bool = false;
    const VECTOR_DEFAULT: bool = false;
    #[inline(always)]
    fn lane(self) -> u64 {
        (self >> 64) as u64
    }
    #[inline(always)]
    fn top(self, n: u32) -> usize {
        (self >> (128 - n)) as usize
    }
    #[inline(always)]
    fn chunk(self, off: u32) -> usize {
        ((self << off) >> 122) as usize
    }
}

/// Bits `0..=v` set.
#[inline(always)]
fn upto(v: usize) -> u64 {
    u64::MAX >> (63 - v)
}

/// The read-only trie.
#[derive(Clone, Debug)]
pub(super) struct Poptrie<K: Key> {
    /// Direct-pointing bits.
    k: u32,
    /// The direct array (`2^k` entries), then the node records (see the module docs).
    blob: Vec<u32>,
    /// POPCNT available: the lookups run in a function compiled with it (3–4× fewer
    /// instructions per level than the portable bit-twiddling popcount).
    popcnt: bool,
    /// AVX-512F (and POPCNT) available: [`BatchPath::PipelinedAvx512`] may run.
    avx512: bool,
    /// AVX-512F and AVX-512 VPOPCNTDQ available: [`BatchPath::Vector`] may run.
    vector: bool,
    _k: std::marker::PhantomData<K>,
}

/// How a batch is walked; every path gives the same answers (the property tests run each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchPath {
    /// The default. IPv4: [`BatchPath::Lockstep`], the one path never slower than the earlier
    /// batch path on any Tier-1 row (it is that path): the pipelined and vector paths win on
    /// uniform keys (1.2–1.7×) and lose on keys inside prefixes (0.85–0.97×), and nothing
    /// known at build time tells those apart. IPv6 (the top-64-bit trie): [`BatchPath::Vector`]
    /// where the CPU has it, else lockstep — best of 21 alternating rounds, 1M keys, ratio to
    /// lockstep in the same process: 1.55–1.68× inside prefixes, 1.5–1.66× uniform.
    /// Opt in to another with a path below.
    Auto,
    /// 16 keys advance one level at a time in lockstep (the earlier batch path, and `Auto`).
    Lockstep,
    /// Software-pipelined: direct entries of the whole chunk first, then level by level over
    /// the keys still walking, each key's next record prefetched as soon as it is known.
    Pipelined,
    /// [`BatchPath::Pipelined`] with the direct entries fetched by AVX-512 gathers, 16 keys
    /// an instruction (runtime-detected; falls back to `Pipelined`).
    PipelinedAvx512,
    /// The whole walk in AVX-512 registers, 8 keys a vector and [`GROUPS`] vectors
    /// interleaved: bitmaps and entries gathered, ranks by VPOPCNTQ, child-or-leaf by mask
    /// blend — a level of 8 keys in about 20 instructions and no branch per key
    /// (runtime-detected AVX-512F + VPOPCNTDQ, keys of up to 64 bits: IPv4, and IPv6 tables
    /// without prefixes past /64; falls back to `Lockstep`).
    Vector,
}

/// A build-time node: the expanded 64 slots.
struct BuildNode {
    leaf: [u32; 64],
    child: [u32; 64],
}

/// Decodes an entry that is known to be a leaf.
#[inline(always)]
pub(super) fn decode(e: u32) -> Option<u32> {
    if e == NONE { None } else { Some(e & NONE_VAL) }
}

/// Direct-pointing width for a table of `n` routes: small tables keep the array in L1
/// (16 KiB), large ones pay 1 MiB to skip one more level. (`k` = 6 made VPC-table lookups of
/// keys inside /24–/32 routes 1.5–2× slower for 16 KiB less.)
pub fn default_direct_bits(n: usize) -> u32 {
    if n > 16_384 { 18 } else { 12 }
}

impl<K: Key> Poptrie<K> {
    /// Builds from truncated prefixes `(bits, len, next hop)`; `next hop <= MAX_NEXT_HOP`,
    /// `k` in `{6, 12, 18}` (others are rounded down); for equal prefixes the last wins.
    #[cfg(test)]
    pub(super) fn build(routes: &[(K, u8, u32)], k: u32) -> Self {
        Self::build_in(routes, k, |_| {})
    }

    /// [`Poptrie::build`] that first hands the lookup array's whole, still untouched
    /// allocation to `prepare` (e.g. for `madvise(MADV_HUGEPAGE)` by a caller that links libc:
    /// the core does not).
    pub(super) fn build_in(
        routes: &[(K, u8, u32)],
        k: u32,
        prepare: impl FnOnce(&mut [std::mem::MaybeUninit<u32>]),
    ) -> Self {
        // Other widths would break the stride alignment: round to the nearest allowed one below.
        let k = k.clamp(6, 18) / 6 * 6;
        // Stable bucket sort by length: shorter prefixes go in first and longer ones overwrite
        // their expansion; equal prefixes keep input order, so the last one wins.
        let mut by_len: Vec<Vec<usize>> = vec![Vec::new(); K::BITS as usize + 1];
        for (i, r) in routes.iter().enumerate() {
            by_len[r.1 as usize].push(i);
        }
        let mut dleaf = vec![NONE; 1 << k];
        let mut dchild = vec![NO_CHILD; 1 << k];
        let mut bnodes: Vec<BuildNode> = Vec::new();
        // Because prefixes arrive by ascending length, no child exists yet below the slots a
        // prefix expands to (a child there needs a longer prefix), so a plain overwrite is right.
        for idx in by_len.iter().flatten() {
            let (key, len, nh) = routes[*idx];
            let (len, leaf) = (len as u32, LEAF | nh);
            if len <= k {
                let start = key.top(k);
                dleaf[start..start + (1 << (k - len))].fill(leaf);
                continue;
            }
            let slot = key.top(k);
            let mut node = if dchild[slot] == NO_CHILD {
                let id = new_node(&mut bnodes, dleaf[slot]);
                dchild[slot] = id;
                id
            } else {
                dchild[slot]
            };
            let mut off = k;
            loop {
                let c = key.chunk(off);
                if len <= off + 6 {
                    let n = &mut bnodes[node as usize];
                    n.leaf[c..c + (1 << (off + 6 - len))].fill(leaf);
                    break;
                }
                let next = bnodes[node as usize].child[c];
                node = if next == NO_CHILD {
                    let inherit = bnodes[node as usize].leaf[c];
                    let id = new_node(&mut bnodes, inherit);
                    bnodes[node as usize].child[c] = id;
                    id
                } else {
                    next
                };
                off += 6;
            }
        }
        // Compile: breadth-first order, record sizes, offsets by prefix sum, then the records.
        let mut order: Vec<u32> = dchild.iter().copied().filter(|&c| c != NO_CHILD).collect();
        let mut i = 0;
        while i < order.len() {
            let b = &bnodes[order[i] as usize];
            order.extend(b.child.iter().copied().filter(|&c| c != NO_CHILD));
            i += 1;
        }
        let mut offset = vec![0u32; bnodes.len()];
        // Records follow the direct array in the same allocation.
        let mut total = 1usize << k;
        let mut leafvecs = vec![0u64; bnodes.len()];
        for &id in &order {
            let b = &bnodes[id as usize];
            let (mut lv, mut nleaf, mut nchild, mut last) = (0u64, 0, 0, None);
            for s in 0..64 {
                if b.child[s] != NO_CHILD {
                    nchild += 1;
                } else if last != Some(b.leaf[s]) {
                    lv |= 1 << s;
                    nleaf += 1;
                    last = Some(b.leaf[s]);
                }
            }
            leafvecs[id as usize] = lv;
            offset[id as usize] = total as u32;
            total += 4 + nchild + nleaf;
        }
        assert!(total < LEAF as usize, "FIB larger than 2^31 words");
        let mut blob = Vec::with_capacity(total);
        prepare(blob.spare_capacity_mut());
        blob.extend((0..1usize << k).map(|s| {
            if dchild[s] == NO_CHILD {
                dleaf[s]
            } else {
                offset[dchild[s] as usize]
            }
        }));
        for &id in &order {
            let b = &bnodes[id as usize];
            let lv = leafvecs[id as usize];
            let vector = b
                .child
                .iter()
                .enumerate()
                .filter(|c| *c.1 != NO_CHILD)
                .fold(0u64, |v, c| v | 1 << c.0);
            blob.extend([
                vector as u32,
                (vector >> 32) as u32,
                lv as u32,
                (lv >> 32) as u32,
            ]);
            blob.extend(
                b.child
                    .iter()
                    .filter(|&&c| c != NO_CHILD)
                    .map(|&c| offset[c as usize]),
            );
            blob.extend((0..64).filter(|s| lv >> s & 1 != 0).map(|s| b.leaf[s]));
        }
        Poptrie {
            k,
            blob,
            popcnt: has_popcnt(),
            avx512: has_avx512(),
            vector: has_vector(),
            _k: std::marker::PhantomData,
        }
    }

    /// Bytes of the lookup structure.
    pub(super) fn memory_bytes(&self) -> usize {
        self.blob.len() * 4
    }

    /// Direct-pointing bits in use.
    pub(super) fn direct_bits(&self) -> u32 {
        self.k
    }

    /// Encoded leaf for `key`.
    #[inline]
    pub(super) fn lookup(&self, key: K) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: `popcnt` is only true when the CPU reports the POPCNT feature.
            return unsafe { self.lookup_popcnt(key) };
        }
        self.lookup_generic(key)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_popcnt(&self, key: K) -> u32 {
        self.lookup_generic(key)
    }

    #[inline(always)]
    fn lookup_generic(&self, key: K) -> u32 {
        let mut e = self.blob[key.top(self.k)];
        let mut off = self.k;
        while e & LEAF == 0 {
            e = self.step(e, key, off);
            off += 6;
        }
        e
    }

    /// One level down from the record at `e` at bit offset `off`: a child offset or a leaf.
    #[inline(always)]
    fn step(&self, e: u32, key: K, off: u32) -> u32 {
        let e = e as usize;
        let h = &self.blob[e..e + 4];
        let vector = h[0] as u64 | (h[1] as u64) << 32;
        let v = key.chunk(off);
        let m = upto(v);
        if vector & (1 << v) != 0 {
            self.blob[e + 3 + (vector & m).count_ones() as usize]
        } else {
            let leafvec = h[2] as u64 | (h[3] as u64) << 32;
            let at = e + 3 + vector.count_ones() as usize + (leafvec & m).count_ones() as usize;
            self.blob[at]
        }
    }

    /// Batched lookup along the fastest path this CPU has (see [`BatchPath`]).
    pub(super) fn lookup_batch(&self, keys: &[K], out: &mut [Option<u32>]) {
        self.lookup_batch_path(BatchPath::Auto, keys, out);
    }

    /// The path [`BatchPath::Auto`] takes (see there why).
    pub(super) fn auto_path(&self) -> BatchPath {
        // A cache-resident trie is batched as single lookups by the lockstep path (no miss
        // latency for the vector walk to hide).
        if K::VECTOR_DEFAULT && self.vector && self.blob.len() * 4 > CACHE_RESIDENT {
            BatchPath::Vector
        } else {
            BatchPath::Lockstep
        }
    }

    /// Batched lookup along `path`; a path this CPU lacks falls back to the scalar pipelined
    /// one. Returns the path taken.
    pub(super) fn lookup_batch_path(
        &self,
        path: BatchPath,
        keys: &[K],
        out: &mut [Option<u32>],
    ) -> BatchPath {
        let path = match path {
            BatchPath::Auto => self.auto_path(),
            BatchPath::PipelinedAvx512 if !self.avx512 => BatchPath::Pipelined,
            BatchPath::Vector if !(self.vector && K::LANE) => BatchPath::Lockstep,
            p => p,
        };
        match path {
            #[cfg(target_arch = "x86_64")]
            BatchPath::Vector => {
                // SAFETY: `vector` is only true when the CPU reports AVX-512F and VPOPCNTDQ.
                unsafe { self.lookup_batch_vector(keys, out) };
            }
            BatchPath::Lockstep => {
                #[cfg(target_arch = "x86_64")]
                if self.popcnt {
                    // SAFETY: `popcnt` is only true when the CPU reports the POPCNT feature.
                    unsafe { self.lookup_batch_popcnt(keys, out) };
                    return path;
                }
                self.lookup_batch_generic(keys, out)
            }
            #[cfg(target_arch = "x86_64")]
            BatchPath::PipelinedAvx512 => {
                // SAFETY: `avx512` is only true when the CPU reports AVX-512F and POPCNT.
                unsafe { self.pipelined_avx512(keys, out) }
            }
            _ => {
                #[cfg(target_arch = "x86_64")]
                if self.popcnt {
                    // SAFETY: `popcnt` is only true when the CPU reports the POPCNT feature.
                    unsafe { self.pipelined_popcnt(keys, out) };
                    return BatchPath::Pipelined;
                }
                self.pipelined::<false>(keys, out);
                return BatchPath::Pipelined;
            }
        }
        path
    }

    /// [`BatchPath::Vector`]: the keys as 64-bit lanes, [`VECTOR_KEYS`] at a time (the last
    /// chunk padded with copies of its first key).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn lookup_batch_vector(&self, keys: &[K], out: &mut [Option<u32>]) {
        let n = keys.len().min(out.len());
        let (keys, out) = (&keys[..n], &mut out[..n]);
        let mut lanes = [0u64; VECTOR_KEYS];
        let mut got = [0u32; VECTOR_KEYS];
        for (ks, os) in keys.chunks(VECTOR_KEYS).zip(out.chunks_mut(VECTOR_KEYS)) {
            for (l, k) in lanes.iter_mut().zip(ks) {
                *l = k.lane();
            }
            lanes[ks.len()..].fill(ks[0].lane());
            vector::walk(&self.blob, self.k, &lanes, &mut got);
            for (o, e) in os.iter_mut().zip(&got) {
                *o = decode(*e);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn pipelined_popcnt(&self, keys: &[K], out: &mut [Option<u32>]) {
        self.pipelined::<false>(keys, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt,avx512f")]
    fn pipelined_avx512(&self, keys: &[K], out: &mut [Option<u32>]) {
        self.pipelined::<true>(keys, out)
    }

    /// Software-pipelined batch: per chunk of up to [`PIPE`] keys, all direct entries first
    /// (16 at a time with an AVX-512 gather when `GATHER`), then level by level over the keys
    /// still walking, each key's next record prefetched as soon as its offset is known — by
    /// the time the walk comes back to that key, the other pending keys' work has covered the
    /// miss. Finished keys leave the pending list, so deep keys cost no branch to the others.
    #[inline(always)]
    fn pipelined<const GATHER: bool>(&self, keys: &[K], out: &mut [Option<u32>]) {
        let n = keys.len().min(out.len());
        let (keys, out) = (&keys[..n], &mut out[..n]);
        let last = self.blob.len() - 1;
        for (ks, os) in keys.chunks(PIPE).zip(out.chunks_mut(PIPE)) {
            let m = ks.len();
            let mut e = [0u32; PIPE];
            if GATHER {
                let mut idx = [0u32; PIPE];
                for (i, k) in idx.iter_mut().zip(ks) {
                    *i = k.top(self.k) as u32;
                }
                // SAFETY: `GATHER` is true only in `pipelined_avx512`, which runs only when the
                // CPU reported AVX-512F.
                unsafe { gather16(&self.blob, &idx, &mut e, m) };
            } else {
                for (x, k) in e.iter_mut().zip(ks) {
                    *x = self.blob[k.top(self.k)];
                }
            }
            let mut pend = [0u8; PIPE];
            let mut np = 0;
            for i in 0..m {
                if e[i] & LEAF == 0 {
                    let at = e[i] as usize;
                    prefetch(&self.blob[at]);
                    prefetch(&self.blob[(at + 16).min(last)]);
                    pend[np] = i as u8;
                    np += 1;
                } else {
                    os[i] = decode(e[i]);
                }
            }
            let mut off = self.k;
            while np > 0 {
                let mut still = 0;
                for p in 0..np {
                    let i = pend[p] as usize;
                    let x = self.step(e[i], ks[i], off);
                    if x & LEAF != 0 {
                        os[i] = decode(x);
                    } else {
                        let at = x as usize;
                        prefetch(&self.blob[at]);
                        prefetch(&self.blob[(at + 16).min(last)]);
                        e[i] = x;
                        pend[still] = i as u8;
                        still += 1;
                    }
                }
                np = still;
                off += 6;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_batch_popcnt(&self, keys: &[K], out: &mut [Option<u32>]) {
        self.lookup_batch_generic(keys, out)
    }

    #[inline(always)]
    fn lookup_batch_generic(&self, keys: &[K], out: &mut [Option<u32>]) {
        let n = keys.len().min(out.len());
        let (keys, out) = (&keys[..n], &mut out[..n]);
        if self.blob.len() * 4 <= CACHE_RESIDENT {
            // No miss latency to hide: the lockstep's per-lane branches would only cost.
            for (k, o) in keys.iter().zip(out.iter_mut()) {
                *o = decode(self.lookup_generic(*k));
            }
            return;
        }
        let mut kc = keys.chunks_exact(LANES);
        let mut oc = out.chunks_exact_mut(LANES);
        for (ks, os) in (&mut kc).zip(&mut oc) {
            let mut e = [0u32; LANES];
            for j in 0..LANES {
                e[j] = self.blob[ks[j].top(self.k)];
                if K::PREFETCH_RECORD && e[j] & LEAF == 0 {
                    // The record's bitmaps and, likely, the leaf in the next line.
                    let at = e[j] as usize;
                    prefetch(&self.blob[at]);
                    prefetch(&self.blob[(at + 16).min(self.blob.len() - 1)]);
                }
            }
            let mut off = self.k;
            loop {
                let mut pending = false;
                for j in 0..LANES {
                    if e[j] & LEAF == 0 {
                        e[j] = self.step(e[j], ks[j], off);
                        pending = true;
                    }
                }
                if !pending {
                    break;
                }
                off += 6;
            }
            for j in 0..LANES {
                os[j] = decode(e[j]);
            }
        }
        for (k, o) in kc.remainder().iter().zip(oc.into_remainder()) {
            *o = decode(self.lookup_generic(*k));
        }
    }
}

/// A FIB this small stays in L2 and is batched as plain single lookups.
const CACHE_RESIDENT: usize = 256 << 10;

/// Keys walked in lockstep by the batched lookup.
const LANES: usize = 16;

/// Asks for the cache line holding `p` (a hint: no fault, no architectural effect).
#[inline(always)]
fn prefetch(p: &u32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults and changes no state a program can observe; `p` is a
    // valid reference anyway. SSE is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((p as *const u32).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Keys per chunk of the pipelined batch (the pending list indexes them with a `u8`).
const PIPE: usize = 64;

/// `e[i] = blob[idx[i]]` for `i < m`, 16 lanes per AVX-512 gather, the tail one by one.
/// Every `idx[i]` is a direct-array slot, below `2^k <= blob.len()` (checked per chunk).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather16(blob: &[u32], idx: &[u32; PIPE], e: &mut [u32; PIPE], m: usize) {
    use std::arch::x86_64::*;
    // Lengths past 2^31 cannot occur (`build` asserts the FIB is smaller); saturate anyway.
    let len = _mm512_set1_epi32(blob.len().min(i32::MAX as usize) as i32);
    let mut i = 0;
    while i + 16 <= m {
        let lanes = &idx[i..i + 16];
        // SAFETY: `lanes` is 16 valid u32s (an unaligned load).
        let v = unsafe { _mm512_loadu_si512(lanes.as_ptr().cast()) };
        // The gather reads unchecked: every lane must be inside `blob` (one compare).
        assert_eq!(
            _mm512_cmplt_epu32_mask(v, len),
            0xFFFF,
            "direct index out of range"
        );
        // SAFETY: every lane indexes `blob` (checked above), the scale 4 is u32's size, and
        // `e[i..i + 16]` is 16 valid u32s for the unaligned store.
        unsafe {
            let g = _mm512_i32gather_epi32::<4>(v, blob.as_ptr().cast());
            _mm512_storeu_si512(e[i..i + 16].as_mut_ptr().cast(), g);
        }
        i += 16;
    }
    for j in i..m {
        e[j] = blob[idx[j] as usize];
    }
}

/// Without x86-64 there is no gather: the same loads one by one.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn gather16(blob: &[u32], idx: &[u32; PIPE], e: &mut [u32; PIPE], m: usize) {
    for j in 0..m {
        e[j] = blob[idx[j] as usize];
    }
}

fn has_vector() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Vectors of 8 keys walked interleaved by [`BatchPath::Vector`], so that one vector's gathers
/// wait while the others compute.
const GROUPS: usize = 4;
/// Keys per call of the vector walk.
const VECTOR_KEYS: usize = 8 * GROUPS;

/// The AVX-512 walk of [`BatchPath::Vector`].
#[cfg(target_arch = "x86_64")]
mod vector {
    use super::{GROUPS, LEAF, VECTOR_KEYS};
    use std::arch::x86_64::*;

    /// `out[i]` = the leaf entry for the key in lane `lanes[i]` (a key in the top bits), on
    /// the trie `blob` with `k` direct bits. Every gather index is checked against
    /// `blob.len()` first (one compare per vector and level): a corrupt trie panics, it never
    /// reads out of bounds.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) fn walk(
        blob: &[u32],
        k: u32,
        lanes: &[u64; VECTOR_KEYS],
        out: &mut [u32; VECTOR_KEYS],
    ) {
        let base = blob.as_ptr();
        let len = _mm512_set1_epi64(blob.len() as i64);
        let leaf_bit = _mm512_set1_epi64(LEAF as i64);
        let ones = _mm512_set1_epi64(-1);
        let one = _mm512_set1_epi64(1);
        let two = _mm512_set1_epi64(2);
        let three = _mm512_set1_epi64(3);
        let c63 = _mm512_set1_epi64(63);
        let zero = _mm512_setzero_si512();
        let mut key = [zero; GROUPS];
        let mut e = [zero; GROUPS];
        let mut live = [0u8; GROUPS];
        let top = _mm_cvtsi64_si128(i64::from(64 - k));
        for g in 0..GROUPS {
            // SAFETY: 8 u64s of `lanes` (an unaligned load).
            key[g] = unsafe { _mm512_loadu_si512(lanes[g * 8..].as_ptr().cast()) };
            // Direct slots: the top `k` bits, below 2^k <= blob.len().
            let slot = _mm512_srl_epi64(key[g], top);
            assert_eq!(
                _mm512_cmpge_epu64_mask(slot, len),
                0,
                "direct slot out of range"
            );
            // SAFETY: every lane indexes `blob` (checked above); scale 4 is u32's size.
            let d = unsafe { _mm512_i64gather_epi32::<4>(slot, base.cast()) };
            e[g] = _mm512_cvtepu32_epi64(d);
            live[g] = _mm512_testn_epi64_mask(e[g], leaf_bit);
        }
        let mut off = k;
        while live.iter().fold(0, |a, l| a | l) != 0 {
            let shift = _mm_cvtsi64_si128(i64::from(off));
            for g in 0..GROUPS {
                let l = live[g];
                if l == 0 {
                    continue;
                }
                // A record: [vector lo, vector hi, leafvec lo, leafvec hi, children…, leaves…].
                let head_end = _mm512_add_epi64(e[g], three);
                assert_eq!(
                    _mm512_mask_cmpge_epu64_mask(l, head_end, len),
                    0,
                    "record out of range"
                );
                // SAFETY: for live lanes `e..e + 4` is inside `blob` (checked above); masked
                // lanes read nothing. Scale 4 on u32 offsets; each gathers one unaligned u64.
                // Both bitmaps at once: gathering the leaf bitmap only for the lanes that end
                // on a leaf made it wait for the first gather (measured 0.85–0.9x).
                let (vector, leafvec) = unsafe {
                    (
                        _mm512_mask_i64gather_epi64::<4>(zero, l, e[g], base.cast()),
                        _mm512_mask_i64gather_epi64::<4>(
                            zero,
                            l,
                            _mm512_add_epi64(e[g], two),
                            base.cast(),
                        ),
                    )
                };
                let v = _mm512_srli_epi64::<58>(_mm512_sll_epi64(key[g], shift));
                let m = _mm512_srlv_epi64(ones, _mm512_sub_epi64(c63, v));
                let has = _mm512_test_epi64_mask(_mm512_srlv_epi64(vector, v), one);
                let child = _mm512_popcnt_epi64(_mm512_and_si512(vector, m));
                let leaf = _mm512_add_epi64(
                    _mm512_popcnt_epi64(vector),
                    _mm512_popcnt_epi64(_mm512_and_si512(leafvec, m)),
                );
                let at = _mm512_add_epi64(head_end, _mm512_mask_blend_epi64(has, leaf, child));
                assert_eq!(
                    _mm512_mask_cmpge_epu64_mask(l, at, len),
                    0,
                    "entry out of range"
                );
                // SAFETY: live lanes index `blob` (checked above), masked lanes keep `e`.
                let next = unsafe {
                    _mm512_mask_i64gather_epi32::<4>(
                        _mm512_cvtepi64_epi32(e[g]),
                        l,
                        at,
                        base.cast(),
                    )
                };
                e[g] = _mm512_cvtepu32_epi64(next);
                live[g] = _mm512_testn_epi64_mask(e[g], leaf_bit);
            }
            off += 6;
        }
        for g in 0..GROUPS {
            // SAFETY: 8 u32s of `out` (an unaligned store).
            unsafe {
                _mm256_storeu_si256(
                    out[g * 8..].as_mut_ptr().cast(),
                    _mm512_cvtepi64_epi32(e[g]),
                )
            };
        }
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && has_popcnt()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn new_node(bnodes: &mut Vec<BuildNode>, inherit: u32) -> u32 {
    bnodes.push(BuildNode {
        leaf: [inherit; 64],
        child: [NO_CHILD; 64],
    });
    (bnodes.len() - 1) as u32
}

fn has_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_pads_with_zeros() {
        assert_eq!(0xFFFF_FFFFu32.chunk(30), 0b11_0000);
        assert_eq!(u128::MAX.chunk(126), 0b11_0000);
        assert_eq!(0x8000_0000u32.chunk(0), 0b10_0000);
    }

    #[test]
    fn auto_paths() {
        // IPv4 and the full-width trie: the lockstep path, whatever the table size; the
        // top-64-bit IPv6 trie above the cache-resident size: the vector walk where the CPU
        // has it (a direct array of 2^18 words is 1 MiB).
        let v4 = Poptrie::<u32>::build(&[(0x0A00_0000, 24, 1)], 18);
        assert_eq!(v4.auto_path(), BatchPath::Lockstep);
        let v6 = Poptrie::<u128>::build(&[(0x2001_0db8 << 96, 48, 1)], 12);
        assert_eq!(v6.auto_path(), BatchPath::Lockstep);
        let top = Poptrie::<u64>::build(&[(0x2001_0db8 << 32, 48, 1)], 18);
        let small = Poptrie::<u64>::build(&[(0x2001_0db8 << 32, 48, 1)], 12);
        assert_eq!(small.auto_path(), BatchPath::Lockstep);
        let want = if has_vector() {
            BatchPath::Vector
        } else {
            BatchPath::Lockstep
        };
        assert_eq!(top.auto_path(), want);
        let mut out = [None; 2];
        let p = v4.lookup_batch_path(BatchPath::Auto, &[0x0A00_0001, 0x0B00_0000], &mut out);
        assert_eq!((p, out), (BatchPath::Lockstep, [Some(1), None]));
        let p = top.lookup_batch_path(BatchPath::Auto, &[0x2001_0db8_0000_0001, 0], &mut out);
        assert_eq!((p, out), (want, [Some(1), None]));
    }

    #[test]
    fn leaf_runs_are_compressed() {
        // /0 -> 1, 10.0.0.0/8 -> 2: one node below the direct slot of 10/6, two leaf runs.
        let t = Poptrie::<u32>::build(&[(0, 0, 1), (0x0A00_0000, 8, 2)], 6);
        // The direct array, then one node record: bitmaps (4 words), three leaves.
        assert_eq!(t.blob.len(), 64 + 4 + 3);
        assert_eq!(decode(t.lookup(0x0A01_0203)), Some(2));
        assert_eq!(decode(t.lookup(0x0B01_0203)), Some(1));
    }
}
