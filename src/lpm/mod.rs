//! Longest-prefix-match FIBs for the hot path.
//!
//! A route table is kept in a control-plane RIB (prefix-trie's `PrefixMap`) and compiled into a
//! read-only FIB: `Fib4` / `Fib6`, built once from `(prefix, next hop)` pairs and swapped in
//! whole when the config changes. Next hops are indices into a table the caller owns.
//!
//! First version: a thin wrapper over prefix-trie, so that the rest of the pipeline has the
//! final interface. (Replaced by the optimized core.)

use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::net::{Ipv4Addr, Ipv6Addr};

pub mod bench;

/// Index of a next hop in the caller's table. 32 bits: real tables need at least 2^20.
pub type NextHop = u32;

/// Read-only IPv4 FIB.
#[derive(Clone)]
pub struct Fib4 {
    map: PrefixMap<Ipv4Net, NextHop>,
}

impl Fib4 {
    /// Builds from `(prefix, next hop)`; host bits of a prefix are ignored, and for a prefix
    /// given twice the last entry wins.
    pub fn build(routes: &[(Ipv4Net, NextHop)]) -> Self {
        let mut map = PrefixMap::new();
        for &(p, nh) in routes {
            map.insert(p.trunc(), nh);
        }
        Fib4 { map }
    }

    /// The next hop of the longest prefix covering `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<NextHop> {
        self.map.get_lpm(&Ipv4Net::from(addr)).map(|(_, &nh)| nh)
    }

    /// Looks up many addresses at once; `out[i]` answers `addrs[i]`.
    pub fn lookup_batch(&self, addrs: &[Ipv4Addr], out: &mut [Option<NextHop>]) {
        for (a, o) in addrs.iter().zip(out.iter_mut()) {
            *o = self.lookup(*a);
        }
    }

    /// Bytes the FIB occupies (approximate for this version).
    pub fn memory_bytes(&self) -> usize {
        self.map.len() * 48
    }
}

/// Read-only IPv6 FIB.
#[derive(Clone)]
pub struct Fib6 {
    map: PrefixMap<Ipv6Net, NextHop>,
}

impl Fib6 {
    /// Builds from `(prefix, next hop)`; for a prefix given twice the last entry wins.
    pub fn build(routes: &[(Ipv6Net, NextHop)]) -> Self {
        let mut map = PrefixMap::new();
        for &(p, nh) in routes {
            map.insert(p.trunc(), nh);
        }
        Fib6 { map }
    }

    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<NextHop> {
        self.map.get_lpm(&Ipv6Net::from(addr)).map(|(_, &nh)| nh)
    }

    pub fn lookup_batch(&self, addrs: &[Ipv6Addr], out: &mut [Option<NextHop>]) {
        for (a, o) in addrs.iter().zip(out.iter_mut()) {
            *o = self.lookup(*a);
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.map.len() * 64
    }
}
