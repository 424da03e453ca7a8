//! Longest-prefix-match FIBs for the hot path.
//!
//! A route table is compiled into a read-only FIB: `Fib4` / `Fib6`, built once from
//! `(prefix, next hop)` pairs and swapped in whole with the snapshot when the config changes. Next hops are indices into a table the caller owns.
//!
//! # Design: Poptrie
//!
//! Both families use one generic [`poptrie::Poptrie`] (Asai & Ohara, SIGCOMM 2015):
//!
//! - a direct-pointing array on the top `k` bits (`k` = 18 above 16k routes, else 12: 16 KiB, so
//!   a VPC table stays in L1/L2), whose entry is a leaf or a node offset;
//! - 64-ary nodes (6-bit strides): a bitmap of child slots and a bitmap of where runs of equal
//!   leaves start (leaf compression); a level costs one record load, POPCNTs and the next load;
//! - the direct array and all nodes in one `u32` array, each node one record
//!   `[bitmaps, child offsets…, leaves…]`, so the final leaf shares a cache line (or the next)
//!   with its node instead of costing a second random miss;
//! - built by controlled prefix expansion, shortest prefixes first (each one overwrites its
//!   expanded slots and never meets a child), then one breadth-first layout pass;
//! - `lookup_batch` walks 16 keys in lockstep one level at a time so their loads overlap; for
//!   IPv4 each key's first record is prefetched as soon as its direct entry is read. IPv6 takes
//!   the AVX-512 vector walk where the CPU has it ([`BatchPath::Vector`]: 32 keys in registers,
//!   bitmaps and entries gathered). Two software-pipelined paths are there to opt into
//!   ([`BatchPath`]): each wins on some key distributions and loses on others;
//! - IPv6 is walked on the top 64 bits ([`Fib6`]); the few longer prefixes sit in a second trie.
//!
//! `unsafe` is used only to call the POPCNT- and AVX-512-compiled lookups after the CPU features
//! were detected (the portable popcount is a dozen instructions per level), for the prefetch
//! hint, and for the gathers, whose indices are checked against the array first.
//!
//! # Measured (full Tier-1 table, 4M keys, same keys and run, 2-core shared VM)
//!
//! | | Fib single / batched | vs DPDK `rte_lpm[6]` | vs prefix-trie | memory | build |
//! |---|---|---|---|---|---|
//! | v4 uniform | 91–107 / 89–111 M/s | 1.57–1.78× / 1.01–1.36× | 6.6× / 5.5–8.1× | 6.05 MB (DPDK 100.7 MB) | 0.07 s (DPDK 95 s) |
//! | v4 inside prefixes | 51–61 / 83–115 M/s | 0.54–0.71× / 0.75–0.85× | 12–13× / 21–22× | | |
//! | v6 uniform | 334 / 414–420 M/s | 8.6–9.8× / 7.5–7.8× | 2.1× / 2.7× | 3.44 MB (DPDK 335 MB) | 0.07 s |
//! | v6 inside prefixes | 22–29 / 25–28 M/s | 1.3–1.8× / 1.3× | 3–6× / 4–5× | | |
//!
//! Details, commands and what limits it: `docs/readme/performance-lpm.md`.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

mod poptrie;

pub use poptrie::default_direct_bits;
pub use poptrie::{BatchPath, MAX_NEXT_HOP};
use poptrie::{Poptrie, decode};

/// Index of a next hop in the caller's table. 32 bits; a FIB holds `0..=MAX_NEXT_HOP` (2^31 - 2).
pub type NextHop = u32;

/// A next hop above [`MAX_NEXT_HOP`] was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("next hop {0} exceeds the FIB maximum {MAX_NEXT_HOP}")]
pub struct NextHopTooLarge(pub NextHop);

fn check_nh<P>(routes: &[(P, NextHop)]) -> Result<(), NextHopTooLarge> {
    match routes.iter().find(|r| r.1 > MAX_NEXT_HOP) {
        Some(r) => Err(NextHopTooLarge(r.1)),
        None => Ok(()),
    }
}

/// Read-only IPv4 FIB.
#[derive(Clone, Debug)]
pub struct Fib4 {
    trie: Poptrie<u32>,
}

impl Fib4 {
    /// Builds from `(prefix, next hop)`; host bits of a prefix are ignored, and for a prefix
    /// given twice the last entry wins.
    ///
    /// # Panics
    /// If a next hop exceeds [`MAX_NEXT_HOP`] (use [`Fib4::try_build`] for untrusted input).
    pub fn build(routes: &[(Ipv4Net, NextHop)]) -> Self {
        Self::try_build(routes).expect("Fib4::build")
    }

    /// [`Fib4::build`] that reports an out-of-range next hop instead of panicking.
    pub fn try_build(routes: &[(Ipv4Net, NextHop)]) -> Result<Self, NextHopTooLarge> {
        Self::try_build_with_direct_bits(routes, default_direct_bits(routes.len()))
    }

    /// Build with an explicit direct-pointing width `k` in `{6, 12, 18}` (tests, benchmarks).
    pub fn try_build_with_direct_bits(
        routes: &[(Ipv4Net, NextHop)],
        k: u32,
    ) -> Result<Self, NextHopTooLarge> {
        Self::try_build_in(routes, k, |_| {})
    }

    /// [`Fib4::try_build_with_direct_bits`] that hands the lookup array's allocation, whole
    /// and not yet written, to `prepare` first: a caller with libc can `madvise` it
    /// (`MADV_HUGEPAGE`) so that transparent huge pages back the FIB. (The core links no libc.)
    pub fn try_build_in(
        routes: &[(Ipv4Net, NextHop)],
        k: u32,
        prepare: impl FnOnce(&mut [std::mem::MaybeUninit<u32>]),
    ) -> Result<Self, NextHopTooLarge> {
        check_nh(routes)?;
        let r: Vec<(u32, u8, u32)> = routes
            .iter()
            .map(|(p, nh)| (u32::from(p.trunc().addr()), p.prefix_len(), *nh))
            .collect();
        Ok(Fib4 {
            trie: Poptrie::build_in(&r, k, prepare),
        })
    }

    /// The next hop of the longest prefix covering `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<NextHop> {
        self.lookup_u32(u32::from(addr))
    }

    /// [`Fib4::lookup`] on the address as a host-order integer.
    #[inline]
    pub fn lookup_u32(&self, addr: u32) -> Option<NextHop> {
        decode(self.trie.lookup(addr))
    }

    /// Looks up many addresses at once; `out[i]` answers `addrs[i]`.
    pub fn lookup_batch(&self, addrs: &[Ipv4Addr], out: &mut [Option<NextHop>]) {
        let mut keys = [0u32; 64];
        for (a, o) in addrs.chunks(64).zip(out.chunks_mut(64)) {
            for (k, x) in keys.iter_mut().zip(a) {
                *k = u32::from(*x);
            }
            self.trie.lookup_batch(&keys[..a.len()], o);
        }
    }

    /// [`Fib4::lookup_batch`] on host-order integers.
    pub fn lookup_batch_u32(&self, addrs: &[u32], out: &mut [Option<NextHop>]) {
        self.trie.lookup_batch(addrs, out);
    }

    /// [`Fib4::lookup_batch_u32`] along a chosen [`BatchPath`] (tests, benchmarks); a path this CPU
    /// lacks falls back to the scalar pipelined one. Returns the path taken.
    pub fn lookup_batch_u32_path(
        &self,
        path: BatchPath,
        addrs: &[u32],
        out: &mut [Option<NextHop>],
    ) -> BatchPath {
        self.trie.lookup_batch_path(path, addrs, out)
    }

    /// The path [`Fib4::lookup_batch_u32`] takes on this CPU.
    pub fn batch_path(&self) -> BatchPath {
        self.trie.auto_path()
    }

    /// Bytes the lookup structure occupies.
    pub fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }

    /// Direct-pointing bits chosen for this table.
    pub fn direct_bits(&self) -> u32 {
        self.trie.direct_bits()
    }
}

/// Read-only IPv6 FIB.
///
/// Walked on the address's top 64 bits: one-register shifts at every level instead of
/// two-register ones (13–14 % fewer instructions per lookup on the Tier-1 table, callgrind).
/// The few prefixes longer than /64 (83 of the Tier-1 table's 160,147: host routes, /126s)
/// live in a second, small trie: their /64s answer [`ESCAPE`] in the first one, and only keys
/// there take the second lookup.
#[derive(Clone, Debug)]
pub struct Fib6 {
    /// Prefixes up to /64, on the top 64 bits; a /64 that holds a longer prefix answers
    /// [`ESCAPE`].
    top: Poptrie<u64>,
    /// Where [`ESCAPE`] sends a key: the prefixes longer than /64 and, for each of their /64s,
    /// what covers it among the shorter ones — or every route, when one of them has the next
    /// hop [`ESCAPE`] (then that answer is ambiguous in `top`). `None`: no prefix past /64.
    long: Option<Poptrie<u128>>,
}

/// The next hop that, in [`Fib6`]'s top trie, means "ask the long-prefix trie".
const ESCAPE: NextHop = MAX_NEXT_HOP;

/// Keys converted per call of the inner batch lookup.
const CONVERT: usize = 64;

impl Fib6 {
    /// Builds from `(prefix, next hop)`; host bits are ignored, for a prefix given twice the
    /// last entry wins.
    ///
    /// # Panics
    /// If a next hop exceeds [`MAX_NEXT_HOP`] (use [`Fib6::try_build`] for untrusted input).
    pub fn build(routes: &[(Ipv6Net, NextHop)]) -> Self {
        Self::try_build(routes).expect("Fib6::build")
    }

    /// [`Fib6::build`] that reports an out-of-range next hop instead of panicking.
    pub fn try_build(routes: &[(Ipv6Net, NextHop)]) -> Result<Self, NextHopTooLarge> {
        Self::try_build_with_direct_bits(routes, default_direct_bits(routes.len()))
    }

    /// Build with an explicit direct-pointing width `k` in `{6, 12, 18}` (tests, benchmarks).
    pub fn try_build_with_direct_bits(
        routes: &[(Ipv6Net, NextHop)],
        k: u32,
    ) -> Result<Self, NextHopTooLarge> {
        Self::try_build_in(routes, k, |_| {})
    }

    /// [`Fib6::try_build_with_direct_bits`] that hands the lookup array's allocation, whole
    /// and not yet written, to `prepare` first: a caller with libc can `madvise` it
    /// (`MADV_HUGEPAGE`) so that transparent huge pages back the FIB. (The core links no libc.)
    pub fn try_build_in(
        routes: &[(Ipv6Net, NextHop)],
        k: u32,
        prepare: impl FnOnce(&mut [std::mem::MaybeUninit<u32>]),
    ) -> Result<Self, NextHopTooLarge> {
        check_nh(routes)?;
        let full = |p: &Ipv6Net| u128::from(p.trunc().addr());
        let mut short: Vec<(u64, u8, u32)> = Vec::with_capacity(routes.len());
        let mut long: Vec<(u128, u8, u32)> = Vec::new();
        for (p, nh) in routes {
            if p.prefix_len() <= 64 {
                short.push(((full(p) >> 64) as u64, p.prefix_len(), *nh));
            } else {
                long.push((full(p), p.prefix_len(), *nh));
            }
        }
        if long.is_empty() {
            return Ok(Fib6 {
                top: Poptrie::build_in(&short, k, prepare),
                long: None,
            });
        }
        let regions: Vec<u64> = long.iter().map(|r| (r.0 >> 64) as u64).collect();
        let mut second: Vec<(u128, u8, u32)> = if routes.iter().any(|r| r.1 == ESCAPE) {
            routes
                .iter()
                .map(|(p, nh)| (full(p), p.prefix_len(), *nh))
                .collect()
        } else {
            // A /64 has one answer among prefixes up to /64; shorter entries go first, so the
            // long prefixes (given after) overwrite their part of it.
            let cover = Poptrie::<u64>::build_in(&short, k, |_| {});
            let mut v: Vec<(u128, u8, u32)> = regions
                .iter()
                .filter_map(|&r| decode(cover.lookup(r)).map(|nh| ((r as u128) << 64, 64, nh)))
                .collect();
            v.append(&mut long);
            v
        };
        second.shrink_to_fit();
        // Given last, so that an escape wins over a route of the same /64.
        short.extend(regions.iter().map(|&r| (r, 64, ESCAPE)));
        Ok(Fib6 {
            top: Poptrie::build_in(&short, k, prepare),
            long: Some(Poptrie::build_in(
                &second,
                default_direct_bits(second.len()),
                |_| {},
            )),
        })
    }

    /// The next hop of the longest prefix covering `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<NextHop> {
        self.lookup_u128(u128::from(addr))
    }

    /// [`Fib6::lookup`] on the address as an integer.
    #[inline]
    pub fn lookup_u128(&self, addr: u128) -> Option<NextHop> {
        let nh = decode(self.top.lookup((addr >> 64) as u64));
        match &self.long {
            Some(l) if nh == Some(ESCAPE) => decode(l.lookup(addr)),
            _ => nh,
        }
    }

    /// Looks up many addresses at once; `out[i]` answers `addrs[i]`.
    pub fn lookup_batch(&self, addrs: &[Ipv6Addr], out: &mut [Option<NextHop>]) {
        let mut keys = [0u128; CONVERT];
        for (a, o) in addrs.chunks(CONVERT).zip(out.chunks_mut(CONVERT)) {
            for (k, x) in keys.iter_mut().zip(a) {
                *k = u128::from(*x);
            }
            self.lookup_batch_u128(&keys[..a.len()], o);
        }
    }

    /// [`Fib6::lookup_batch`] on integers.
    pub fn lookup_batch_u128(&self, addrs: &[u128], out: &mut [Option<NextHop>]) {
        self.lookup_batch_u128_path(BatchPath::Auto, addrs, out);
    }

    /// [`Fib6::lookup_batch_u128`] along a chosen [`BatchPath`] (tests, benchmarks); a path this CPU
    /// lacks falls back to the scalar pipelined one. Returns the path taken.
    pub fn lookup_batch_u128_path(
        &self,
        path: BatchPath,
        addrs: &[u128],
        out: &mut [Option<NextHop>],
    ) -> BatchPath {
        let mut keys = [0u64; CONVERT];
        let mut taken = self.top.auto_path();
        for (a, o) in addrs.chunks(CONVERT).zip(out.chunks_mut(CONVERT)) {
            for (k, x) in keys.iter_mut().zip(a) {
                *k = (*x >> 64) as u64;
            }
            taken = self.top.lookup_batch_path(path, &keys[..a.len()], o);
            if let Some(l) = &self.long {
                for (o, x) in o.iter_mut().zip(a) {
                    if *o == Some(ESCAPE) {
                        *o = decode(l.lookup(*x));
                    }
                }
            }
        }
        taken
    }

    /// The path [`Fib6::lookup_batch_u128`] takes on this CPU.
    pub fn batch_path(&self) -> BatchPath {
        self.top.auto_path()
    }

    /// Bytes the lookup structures occupy.
    pub fn memory_bytes(&self) -> usize {
        self.top.memory_bytes() + self.long.as_ref().map_or(0, |l| l.memory_bytes())
    }

    /// Direct-pointing bits chosen for this table.
    pub fn direct_bits(&self) -> u32 {
        self.top.direct_bits()
    }

    /// Whether the table has prefixes longer than /64 (and so the second trie).
    pub fn has_long_prefixes(&self) -> bool {
        self.long.is_some()
    }
}
