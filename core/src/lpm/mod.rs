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
//!   IPv4 each key's first record is prefetched as soon as its direct entry is read. Two
//!   software-pipelined paths (one with AVX-512 gathers) are there to opt into
//!   ([`BatchPath`]): each wins on some key distributions and loses on others.
//!
//! `unsafe` is used only to call the POPCNT-compiled lookups after the CPU feature was detected
//! (the portable popcount is a dozen instructions per level) and for the prefetch hint.
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
#[derive(Clone, Debug)]
pub struct Fib6 {
    trie: Poptrie<u128>,
}

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
        let r: Vec<(u128, u8, u32)> = routes
            .iter()
            .map(|(p, nh)| (u128::from(p.trunc().addr()), p.prefix_len(), *nh))
            .collect();
        Ok(Fib6 {
            trie: Poptrie::build_in(&r, k, prepare),
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
        decode(self.trie.lookup(addr))
    }

    /// Looks up many addresses at once; `out[i]` answers `addrs[i]`.
    pub fn lookup_batch(&self, addrs: &[Ipv6Addr], out: &mut [Option<NextHop>]) {
        let mut keys = [0u128; 64];
        for (a, o) in addrs.chunks(64).zip(out.chunks_mut(64)) {
            for (k, x) in keys.iter_mut().zip(a) {
                *k = u128::from(*x);
            }
            self.trie.lookup_batch(&keys[..a.len()], o);
        }
    }

    /// [`Fib6::lookup_batch`] on integers.
    pub fn lookup_batch_u128(&self, addrs: &[u128], out: &mut [Option<NextHop>]) {
        self.trie.lookup_batch(addrs, out);
    }

    /// [`Fib6::lookup_batch_u128`] along a chosen [`BatchPath`] (tests, benchmarks); a path this CPU
    /// lacks falls back to the scalar pipelined one. Returns the path taken.
    pub fn lookup_batch_u128_path(
        &self,
        path: BatchPath,
        addrs: &[u128],
        out: &mut [Option<NextHop>],
    ) -> BatchPath {
        self.trie.lookup_batch_path(path, addrs, out)
    }

    /// The path [`Fib6::lookup_batch_u128`] takes on this CPU.
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
