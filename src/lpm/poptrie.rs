//! Poptrie (Asai & Ohara, SIGCOMM 2015), generic over the key width.
//!
//! Layout: a direct-pointing array indexed by the top `k` bits of the key, then 64-ary nodes
//! (6-bit strides). A node holds two 64-bit bitmaps: `vector` marks the slots that have a child,
//! `leafvec` marks where a run of equal leaves starts (leaf compression). Children and leaves of a
//! node are contiguous, so the rank (popcount of the bitmap below the slot) is the offset.
//!
//! Encoding of a 32-bit entry (direct array and leaf array alike): bit 31 set = leaf, whose low
//! 31 bits are the next hop or `NONE_VAL` for "no route"; bit 31 clear = index of a node.

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
pub trait Key: Copy {
    /// Width in bits.
    const BITS: u32;
    /// The top `n` bits (`1 <= n <= 18`).
    fn top(self, n: u32) -> usize;
    /// The 6 bits starting at bit `off` (from the top), zero-padded past the end.
    fn chunk(self, off: u32) -> usize;
}

impl Key for u32 {
    const BITS: u32 = 32;
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

impl Key for u128 {
    const BITS: u32 = 128;
    #[inline(always)]
    fn top(self, n: u32) -> usize {
        (self >> (128 - n)) as usize
    }
    #[inline(always)]
    fn chunk(self, off: u32) -> usize {
        ((self << off) >> 122) as usize
    }
}

/// One compiled node: 24 bytes.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Node {
    vector: u64,
    leafvec: u64,
    base_leaf: u32,
    base_child: u32,
}

/// Bits `0..=v` set.
#[inline(always)]
fn upto(v: usize) -> u64 {
    u64::MAX >> (63 - v)
}

/// The read-only trie.
#[derive(Clone, Debug)]
pub struct Poptrie<K: Key> {
    /// Direct-pointing bits.
    k: u32,
    direct: Box<[u32]>,
    nodes: Box<[Node]>,
    leaves: Box<[u32]>,
    /// POPCNT available: the lookups run in a function compiled with it (3–4× fewer
    /// instructions per level than the portable bit-twiddling popcount).
    popcnt: bool,
    _k: std::marker::PhantomData<K>,
}

/// A build-time node: the expanded 64 slots.
struct BuildNode {
    leaf: [u32; 64],
    child: [u32; 64],
}

/// Decodes an entry that is known to be a leaf.
#[inline(always)]
pub fn decode(e: u32) -> Option<u32> {
    if e == NONE { None } else { Some(e & NONE_VAL) }
}

/// Direct-pointing width for a table of `n` routes: small tables keep the array in L1
/// (64 entries), large ones pay 1 MiB to skip three levels.
pub fn default_direct_bits(n: usize) -> u32 {
    if n > 16_384 {
        18
    } else if n > 256 {
        12
    } else {
        6
    }
}

impl<K: Key> Poptrie<K> {
    /// Builds from truncated prefixes `(bits, len, next hop)`; `next hop <= MAX_NEXT_HOP`,
    /// `k` in `{6, 12, 18}` (others are rounded down); for equal prefixes the last wins.
    pub fn build(routes: &[(K, u8, u32)], k: u32) -> Self {
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
        // Compile breadth-first so that every node's children are contiguous.
        let mut direct = vec![0u32; 1 << k];
        let mut order: Vec<u32> = Vec::with_capacity(bnodes.len());
        for s in 0..1usize << k {
            direct[s] = if dchild[s] == NO_CHILD {
                dleaf[s]
            } else {
                order.push(dchild[s]);
                (order.len() - 1) as u32
            };
        }
        let mut nodes = Vec::with_capacity(bnodes.len());
        let mut leaves = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let b = &bnodes[order[i] as usize];
            let mut n = Node {
                base_child: order.len() as u32,
                base_leaf: leaves.len() as u32,
                ..Node::default()
            };
            let mut last = None;
            for s in 0..64 {
                if b.child[s] != NO_CHILD {
                    n.vector |= 1 << s;
                    order.push(b.child[s]);
                } else if last != Some(b.leaf[s]) {
                    n.leafvec |= 1 << s;
                    leaves.push(b.leaf[s]);
                    last = Some(b.leaf[s]);
                }
            }
            nodes.push(n);
            i += 1;
        }
        Poptrie {
            k,
            direct: direct.into_boxed_slice(),
            nodes: nodes.into_boxed_slice(),
            leaves: leaves.into_boxed_slice(),
            popcnt: has_popcnt(),
            _k: std::marker::PhantomData,
        }
    }

    /// Bytes of the lookup structure.
    pub fn memory_bytes(&self) -> usize {
        self.direct.len() * 4
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.leaves.len() * 4
    }

    /// Number of internal nodes (for the docs and tests).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Direct-pointing bits in use.
    pub fn direct_bits(&self) -> u32 {
        self.k
    }

    /// Encoded leaf for `key`.
    #[inline]
    pub fn lookup(&self, key: K) -> u32 {
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
        let mut e = self.direct[key.top(self.k)];
        let mut off = self.k;
        while e & LEAF == 0 {
            e = self.step(e, key, off);
            off += 6;
        }
        e
    }

    /// One level down from node `e` at bit offset `off`: a child index or a leaf.
    #[inline(always)]
    fn step(&self, e: u32, key: K, off: u32) -> u32 {
        let n = &self.nodes[e as usize];
        let v = key.chunk(off);
        let m = upto(v);
        if n.vector & (1 << v) != 0 {
            n.base_child + (n.vector & m).count_ones() - 1
        } else {
            self.leaves[(n.base_leaf + (n.leafvec & m).count_ones() - 1) as usize]
        }
    }

    /// Batched lookup: keys advance one level at a time in lockstep, so the loads of up to
    /// `LANES` independent keys are in flight together instead of one dependent chain.
    pub fn lookup_batch(&self, keys: &[K], out: &mut [Option<u32>]) {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: `popcnt` is only true when the CPU reports the POPCNT feature.
            return unsafe { self.lookup_batch_popcnt(keys, out) };
        }
        self.lookup_batch_generic(keys, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_batch_popcnt(&self, keys: &[K], out: &mut [Option<u32>]) {
        self.lookup_batch_generic(keys, out)
    }

    #[inline(always)]
    fn lookup_batch_generic(&self, keys: &[K], out: &mut [Option<u32>]) {
        const LANES: usize = 16;
        let n = keys.len().min(out.len());
        let (keys, out) = (&keys[..n], &mut out[..n]);
        let mut kc = keys.chunks_exact(LANES);
        let mut oc = out.chunks_exact_mut(LANES);
        for (ks, os) in (&mut kc).zip(&mut oc) {
            let mut e = [0u32; LANES];
            for j in 0..LANES {
                e[j] = self.direct[ks[j].top(self.k)];
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
    fn leaf_runs_are_compressed() {
        // /0 -> 1, 10.0.0.0/8 -> 2: one node below the direct slot of 10/6, two leaf runs.
        let t = Poptrie::<u32>::build(&[(0, 0, 1), (0x0A00_0000, 8, 2)], 6);
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.leaves.len(), 3);
        assert_eq!(decode(t.lookup(0x0A01_0203)), Some(2));
        assert_eq!(decode(t.lookup(0x0B01_0203)), Some(1));
    }
}
