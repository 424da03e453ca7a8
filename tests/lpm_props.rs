//! The Poptrie FIBs against a naive reference: scan every prefix, keep the longest match (the
//! last one given for a duplicate prefix).

use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use vpcfwd::lpm::{BatchPath, Fib4, Fib6, NextHop};

/// Every batch path (a path this CPU lacks falls back, and is then tested as its fallback).
const PATHS: [BatchPath; 5] = [
    BatchPath::Auto,
    BatchPath::Lockstep,
    BatchPath::Pipelined,
    BatchPath::PipelinedAvx512,
    BatchPath::Vector,
];

/// Each batch path of `fib` on `keys` against `want`, at batch sizes that end mid-chunk.
fn check_paths4(fib: &Fib4, keys: &[u32], want: &[Option<NextHop>]) -> Result<(), TestCaseError> {
    for path in PATHS {
        for size in [1, 15, 16, 17, 64, 100] {
            for (ks, ws) in keys.chunks(size).zip(want.chunks(size)) {
                let mut out = vec![Some(u32::MAX); ks.len()];
                fib.lookup_batch_u32_path(path, ks, &mut out);
                prop_assert_eq!(&out[..], ws, "{:?} size {}", path, size);
            }
        }
    }
    Ok(())
}

fn check_paths6(fib: &Fib6, keys: &[u128], want: &[Option<NextHop>]) -> Result<(), TestCaseError> {
    for path in PATHS {
        for size in [1, 15, 16, 17, 64, 100] {
            for (ks, ws) in keys.chunks(size).zip(want.chunks(size)) {
                let mut out = vec![Some(u32::MAX); ks.len()];
                fib.lookup_batch_u128_path(path, ks, &mut out);
                prop_assert_eq!(&out[..], ws, "{:?} size {}", path, size);
            }
        }
    }
    Ok(())
}

fn naive4(routes: &[(Ipv4Net, NextHop)], a: Ipv4Addr) -> Option<NextHop> {
    let mut best: Option<(u8, NextHop)> = None;
    for (p, nh) in routes {
        if p.trunc().contains(&a) && best.is_none_or(|(l, _)| p.prefix_len() >= l) {
            best = Some((p.prefix_len(), *nh));
        }
    }
    best.map(|b| b.1)
}

fn naive6(routes: &[(Ipv6Net, NextHop)], a: Ipv6Addr) -> Option<NextHop> {
    let mut best: Option<(u8, NextHop)> = None;
    for (p, nh) in routes {
        if p.trunc().contains(&a) && best.is_none_or(|(l, _)| p.prefix_len() >= l) {
            best = Some((p.prefix_len(), *nh));
        }
    }
    best.map(|b| b.1)
}

const ANCHORS4: [u32; 4] = [0x0A00_0000, 0xC000_0200, 0xFFFF_FFFF, 0];
const ANCHORS6: [u128; 4] = [0x2001_0db8 << 96, u128::MAX, 0, 0xfe80 << 112];
const KS: [u32; 3] = [6, 12, 18];

/// Prefixes clustered around a few anchors (nesting and overlap), any length including /0 and
/// host routes, duplicates likely; next hops span 2^20 and up to `MAX_NEXT_HOP`.
fn routes4() -> impl Strategy<Value = Vec<(Ipv4Net, NextHop)>> {
    prop::collection::vec(
        (
            0..4usize,
            any::<u32>(),
            0u32..33,
            0u8..=32,
            prop_oneof![0u32..8, 0u32..1 << 20, Just(vpcfwd::lpm::MAX_NEXT_HOP)],
        ),
        0..120,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(a, r, s, len, nh)| {
                let addr = ANCHORS4[a] ^ r.checked_shr(s).unwrap_or(0);
                (Ipv4Net::new(addr.into(), len).unwrap(), nh)
            })
            .collect()
    })
}

/// IPv6 prefixes up to `/max_len`: 128 gives the full-width trie, 64 the top-64-bit one (what
/// every BGP table gets).
fn routes6(max_len: u8) -> impl Strategy<Value = Vec<(Ipv6Net, NextHop)>> {
    prop::collection::vec(
        (
            0..4usize,
            any::<u128>(),
            0u32..129,
            0u8..=max_len,
            prop_oneof![0u32..8, 0u32..1 << 20, Just(vpcfwd::lpm::MAX_NEXT_HOP)],
        ),
        0..120,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(a, r, s, len, nh)| {
                let addr = ANCHORS6[a] ^ r.checked_shr(s).unwrap_or(0);
                (Ipv6Net::new(addr.into(), len).unwrap(), nh)
            })
            .collect()
    })
}

/// Keys at and just around every prefix's edges, plus the random ones.
fn keys4(routes: &[(Ipv4Net, NextHop)], extra: &[u32]) -> Vec<Ipv4Addr> {
    let mut k: Vec<u32> = extra.to_vec();
    k.extend(ANCHORS4);
    for (p, _) in routes {
        let (lo, hi) = (u32::from(p.network()), u32::from(p.broadcast()));
        k.extend([
            lo,
            hi,
            lo.wrapping_sub(1),
            hi.wrapping_add(1),
            lo + (hi - lo) / 3,
        ]);
    }
    k.into_iter().map(Ipv4Addr::from).collect()
}

fn keys6(routes: &[(Ipv6Net, NextHop)], extra: &[u128]) -> Vec<Ipv6Addr> {
    let mut k: Vec<u128> = extra.to_vec();
    k.extend(ANCHORS6);
    for (p, _) in routes {
        let (lo, hi) = (u128::from(p.network()), u128::from(p.broadcast()));
        k.extend([
            lo,
            hi,
            lo.wrapping_sub(1),
            hi.wrapping_add(1),
            lo + (hi - lo) / 3,
        ]);
    }
    k.into_iter().map(Ipv6Addr::from).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fib4_matches_naive(routes in routes4(), extra in prop::collection::vec(any::<u32>(), 0..64), ki in 0..4usize) {
        let fib = if ki == 3 { Fib4::build(&routes) } else {
            Fib4::try_build_with_direct_bits(&routes, KS[ki]).unwrap()
        };
        let keys = keys4(&routes, &extra);
        let mut batch = vec![Some(u32::MAX); keys.len()];
        fib.lookup_batch(&keys, &mut batch);
        for (a, b) in keys.iter().zip(&batch) {
            let want = naive4(&routes, *a);
            prop_assert_eq!(fib.lookup(*a), want, "single {}", a);
            prop_assert_eq!(*b, want, "batch {}", a);
        }
        let want: Vec<_> = keys.iter().map(|a| naive4(&routes, *a)).collect();
        let ks: Vec<u32> = keys.iter().map(|a| u32::from(*a)).collect();
        check_paths4(&fib, &ks, &want)?;
    }

    #[test]
    fn fib6_matches_naive(routes in routes6(128), extra in prop::collection::vec(any::<u128>(), 0..64), ki in 0..4usize) {
        check6(&routes, &extra, ki)?;
    }

    #[test]
    fn fib6_top64_matches_naive(routes in routes6(64), extra in prop::collection::vec(any::<u128>(), 0..64), ki in 0..4usize) {
        let fib = Fib6::build(&routes);
        prop_assert!(!fib.has_long_prefixes(), "no prefix past /64: no second trie");
        check6(&routes, &extra, ki)?;
    }
}

/// Single, batched and every batch path of a FIB of `routes` (direct bits `KS[ki]`, or the
/// default for `ki == 3`) against the reference.
fn check6(routes: &[(Ipv6Net, NextHop)], extra: &[u128], ki: usize) -> Result<(), TestCaseError> {
    let fib = if ki == 3 {
        Fib6::build(routes)
    } else {
        Fib6::try_build_with_direct_bits(routes, KS[ki]).unwrap()
    };
    let keys = keys6(routes, extra);
    let mut batch = vec![Some(u32::MAX); keys.len()];
    fib.lookup_batch(&keys, &mut batch);
    for (a, b) in keys.iter().zip(&batch) {
        let want = naive6(routes, *a);
        prop_assert_eq!(fib.lookup(*a), want, "single {}", a);
        prop_assert_eq!(*b, want, "batch {}", a);
    }
    let want: Vec<_> = keys.iter().map(|a| naive6(routes, *a)).collect();
    let ks: Vec<u128> = keys.iter().map(|a| u128::from(*a)).collect();
    check_paths6(&fib, &ks, &want)
}

/// xorshift64*: deterministic tables for the exhaustive checks.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Every address of 10.1.0.0/16 against the reference, for tables of prefixes inside and
/// covering that /16, with each direct-pointing width.
#[test]
fn fib4_exhaustive_over_a_slash16() {
    let base = 0x0A01_0000u32;
    for seed in 1..=6u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n = [5, 40, 150][(seed % 3) as usize];
        let mut routes = Vec::new();
        for i in 0..n {
            let r = rng.next();
            let len = if i % 10 == 0 {
                (r % 17) as u8
            } else {
                16 + (r % 17) as u8
            };
            let addr = base | ((r >> 32) as u32 & 0xFFFF);
            routes.push((
                Ipv4Net::new(addr.into(), len).unwrap(),
                (r >> 8) as u32 & 0xFFFFF,
            ));
        }
        for k in KS {
            let fib = Fib4::try_build_with_direct_bits(&routes, k).unwrap();
            let keys: Vec<Ipv4Addr> = (0..=0xFFFFu32).map(|x| Ipv4Addr::from(base | x)).collect();
            let mut out = vec![None; keys.len()];
            fib.lookup_batch(&keys, &mut out);
            for (a, o) in keys.iter().zip(&out) {
                let want = naive4(&routes, *a);
                assert_eq!(fib.lookup(*a), want, "seed {seed} k {k} {a}");
                assert_eq!(*o, want, "batch seed {seed} k {k} {a}");
            }
        }
    }
}

/// Every address of 2001:db8::/112 (the last 16 bits, where the partial last stride is).
#[test]
fn fib6_exhaustive_over_a_slash112() {
    let base = 0x2001_0db8u128 << 96;
    for seed in 1..=4u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut routes = Vec::new();
        for i in 0..60 {
            let r = rng.next();
            let len = if i % 10 == 0 {
                (r % 113) as u8
            } else {
                112 + (r % 17) as u8
            };
            let addr = base | ((r >> 32) as u128 & 0xFFFF);
            routes.push((
                Ipv6Net::new(addr.into(), len).unwrap(),
                (r >> 8) as u32 & 0xFFFFF,
            ));
        }
        for k in KS {
            let fib = Fib6::try_build_with_direct_bits(&routes, k).unwrap();
            for x in 0..=0xFFFFu128 {
                let a = Ipv6Addr::from(base | x);
                assert_eq!(fib.lookup(a), naive6(&routes, a), "seed {seed} k {k} {a}");
            }
        }
    }
}

#[test]
fn next_hop_range_is_checked() {
    let p: Ipv4Net = "10.0.0.0/8".parse().unwrap();
    let max = vpcfwd::lpm::MAX_NEXT_HOP;
    assert_eq!(
        Fib4::build(&[(p, max)]).lookup("10.1.1.1".parse().unwrap()),
        Some(max)
    );
    assert!(Fib4::try_build(&[(p, max + 1)]).is_err());
    assert_eq!(Fib4::build(&[]).lookup("10.1.1.1".parse().unwrap()), None);
}

/// Prefixes past /64 go to the second trie through an escape of their /64: a key in that /64
/// but outside the long prefix still gets the shorter route covering it (a /64 route equal to
/// the region included), and a real next hop equal to the escape value stays an answer.
#[test]
fn fib6_long_prefixes_escape_their_slash64() {
    let n = |s: &str| s.parse::<Ipv6Net>().unwrap();
    let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let max = vpcfwd::lpm::MAX_NEXT_HOP;
    for esc in [7, max] {
        let routes = vec![
            (n("2001:db8::/32"), 1),
            (n("2001:db8:0:1::/64"), esc),
            (n("2001:db8:0:1::5/128"), 3),
            (n("2001:db8:0:2::/126"), 4),
        ];
        let fib = Fib6::build(&routes);
        assert!(fib.has_long_prefixes());
        for (k, want) in [
            ("2001:db8:0:1::5", Some(3)),
            ("2001:db8:0:1::6", Some(esc)),
            ("2001:db8:0:2::3", Some(4)),
            ("2001:db8:0:2::4", Some(1)),
            ("2001:db8:0:3::", Some(1)),
            ("2001:db9::", None),
        ] {
            assert_eq!(fib.lookup(a(k)), want, "{k} (next hop {esc})");
            let mut out = [None];
            fib.lookup_batch(&[a(k)], &mut out);
            assert_eq!(out[0], want, "batch {k} (next hop {esc})");
            assert_eq!(naive6(&routes, a(k)), want, "reference {k}");
        }
    }
}
