//! The full Tier-1 table: the Poptrie FIBs against prefix-trie's `get_lpm` on millions of keys.

use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use vpcfwd::lpm::{BatchPath, Fib4, Fib6};

/// Every explicit batch path (a path this CPU lacks falls back, and is then tested as its
/// fallback); `Auto` is the default each is compared with.
const PATHS: [BatchPath; 4] = [
    BatchPath::Lockstep,
    BatchPath::Pipelined,
    BatchPath::PipelinedAvx512,
    BatchPath::Vector,
];
use vpcfwd_bench::table::{self, nh_of};

fn load() -> Option<table::PrefixTable> {
    match table::tier1_path() {
        Some(p) => Some(table::read(&p).expect("tier-1 table")),
        None => {
            println!("SKIPPED: prefixes-tier1.txt.gz not found (set VPCFWD_SHARED)");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "tier-1 table missing under CI"
            );
            None
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn tier1_v4_matches_prefix_trie() {
    let Some(t) = load() else { return };
    let routes: Vec<(Ipv4Net, u32)> =
        t.v4.iter()
            .map(|p| (*p, nh_of(u32::from(p.addr()) as u128, p.prefix_len())))
            .collect();
    let start = std::time::Instant::now();
    let fib = Fib4::build(&routes);
    println!(
        "v4: {} routes, build {:?}, {} bytes",
        routes.len(),
        start.elapsed(),
        fib.memory_bytes()
    );
    let mut rib = PrefixMap::<Ipv4Net, u32>::new();
    for (p, nh) in &routes {
        rib.insert(p.trunc(), *nh);
    }
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    // Half uniform keys, half inside a random prefix of the table.
    let keys: Vec<u32> = (0..3_000_000)
        .map(|i| {
            let r = rng.next();
            if i % 2 == 0 {
                r as u32
            } else {
                let p = routes[(r >> 32) as usize % routes.len()].0;
                u32::from(p.network()) | (r as u32 & !u32::from(p.netmask()))
            }
        })
        .collect();
    let mut out = vec![None; keys.len()];
    fib.lookup_batch_u32(&keys, &mut out);
    // Every batch path (each one's walk: this table is far above the cache-resident size)
    // agrees with the default one, which is checked against the RIB below.
    for path in PATHS {
        let mut o2 = vec![Some(u32::MAX); keys.len()];
        for (ks, os) in keys.chunks(64).zip(o2.chunks_mut(64)) {
            fib.lookup_batch_u32_path(path, ks, os);
        }
        assert!(o2 == out, "{path:?} differs from the default batch path");
    }
    for (k, o) in keys.iter().zip(&out) {
        let want = rib
            .get_lpm(&Ipv4Net::from(std::net::Ipv4Addr::from(*k)))
            .map(|(_, v)| *v);
        assert_eq!(fib.lookup_u32(*k), want, "{}", std::net::Ipv4Addr::from(*k));
        assert_eq!(*o, want, "batch {}", std::net::Ipv4Addr::from(*k));
    }
}

#[test]
fn tier1_v6_matches_prefix_trie() {
    let Some(t) = load() else { return };
    let routes: Vec<(Ipv6Net, u32)> =
        t.v6.iter()
            .map(|p| (*p, nh_of(u128::from(p.addr()), p.prefix_len())))
            .collect();
    let start = std::time::Instant::now();
    let fib = Fib6::build(&routes);
    println!(
        "v6: {} routes, build {:?}, {} bytes",
        routes.len(),
        start.elapsed(),
        fib.memory_bytes()
    );
    let mut rib = PrefixMap::<Ipv6Net, u32>::new();
    for (p, nh) in &routes {
        rib.insert(p.trunc(), *nh);
    }
    let mut rng = Rng(0x0FED_CBA9_8765_4321);
    let keys: Vec<u128> = (0..2_000_000)
        .map(|i| {
            let r = ((rng.next() as u128) << 64) | rng.next() as u128;
            match i % 3 {
                0 => r,
                // Inside 2000::/3, where the table lives.
                1 => (r >> 3) | (1u128 << 125),
                _ => {
                    let p = routes[(r >> 64) as usize % routes.len()].0;
                    u128::from(p.network()) | (r & !u128::from(p.netmask()))
                }
            }
        })
        .collect();
    let mut out = vec![None; keys.len()];
    fib.lookup_batch_u128(&keys, &mut out);
    // Every batch path (each one's walk: this table is far above the cache-resident size)
    // agrees with the default one, which is checked against the RIB below.
    for path in PATHS {
        let mut o2 = vec![Some(u32::MAX); keys.len()];
        for (ks, os) in keys.chunks(64).zip(o2.chunks_mut(64)) {
            fib.lookup_batch_u128_path(path, ks, os);
        }
        assert!(o2 == out, "{path:?} differs from the default batch path");
    }
    for (k, o) in keys.iter().zip(&out) {
        let want = rib
            .get_lpm(&Ipv6Net::from(std::net::Ipv6Addr::from(*k)))
            .map(|(_, v)| *v);
        assert_eq!(
            fib.lookup_u128(*k),
            want,
            "{}",
            std::net::Ipv6Addr::from(*k)
        );
        assert_eq!(*o, want, "batch {}", std::net::Ipv6Addr::from(*k));
    }
}
