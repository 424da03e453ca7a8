//! Route-lookup benchmarks: this crate's Poptrie FIB against prefix-trie's `get_lpm` and, with
//! `--features dpdk`, DPDK's `rte_lpm` / `rte_lpm6` and `rte_fib` / `rte_fib6` (every lookup
//! type, AVX-512 included), all on the same keys.
//!
//! Tables: a VPC-sized one (subnets, a default route and an expanded prefix list) and the real
//! Tier-1 table from the shared data directory. Keys: uniform random, and drawn from inside the
//! table's prefixes. `cargo bench --bench lpm [--features dpdk]`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{Ipv4Net, Ipv6Net};
use std::hint::black_box;
use std::time::Duration;
use vpcfwd_bench::table::{self, nh_of};
use vpcfwd_bench::{Contender, KeyRng, contenders_v4, contenders_v6, keys_v4, keys_v6};

/// Keys per iteration: enough that a full table is walked at random, not from a warm subset.
const KEYS: usize = 1 << 16;

/// A VPC route table: the VPC CIDR (local), 40 subnet routes, a default route, and a
/// 120-entry prefix list expanded into routes (documentation ranges only).
fn vpc_v4() -> Vec<(Ipv4Net, u32)> {
    let mut v: Vec<Ipv4Net> = vec!["0.0.0.0/0".parse().unwrap(), "10.0.0.0/16".parse().unwrap()];
    v.extend((0..40u32).map(|i| Ipv4Net::new((0x0A00_0000 | i << 8).into(), 24).unwrap()));
    let mut rng = KeyRng(7);
    let bases = [0xC000_0200u32, 0xC633_6400, 0xCB00_7100];
    for i in 0..120 {
        let r = rng.next_u64();
        let len = 25 + (r % 8) as u8;
        let addr = bases[i % 3] | (r >> 32) as u32 & 0xFF;
        v.push(Ipv4Net::new(addr.into(), len).unwrap().trunc());
    }
    v.into_iter()
        .map(|p| (p, nh_of(u32::from(p.addr()) as u128, p.prefix_len())))
        .collect()
}

/// The IPv6 counterpart: the VPC /56, 40 subnet /64s, a default route, a 120-entry prefix list.
fn vpc_v6() -> Vec<(Ipv6Net, u32)> {
    let base = 0x2001_0db8_0000_0100u128 << 64;
    let mut v: Vec<Ipv6Net> = vec![
        "::/0".parse().unwrap(),
        Ipv6Net::new(base.into(), 56).unwrap(),
    ];
    v.extend((0..40u128).map(|i| Ipv6Net::new((base | i << 64).into(), 64).unwrap()));
    let mut rng = KeyRng(9);
    for _ in 0..120 {
        let r = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
        let len = 40 + (r % 89) as u8;
        let addr = (0x2001_0db8u128 << 96) | (r >> 32);
        v.push(Ipv6Net::new(addr.into(), len).unwrap().trunc());
    }
    v.into_iter()
        .map(|p| (p, nh_of(u128::from(p.addr()), p.prefix_len())))
        .collect()
}

fn run<K>(c: &mut Criterion, group: &str, cs: &[(Box<dyn Contender<K>>, f64)], keys: &[K]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(keys.len() as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let want = cs[0].0.single(keys);
    for (x, _) in cs {
        // Same keys, same answers: a contender that disagrees is not measured.
        assert_eq!(x.single(keys), want, "{} disagrees on {group}", x.name());
        g.bench_function(BenchmarkId::new("single", x.name()), |b| {
            b.iter(|| x.single(black_box(keys)))
        });
        if x.batch(keys).is_some() {
            g.bench_function(BenchmarkId::new("batch", x.name()), |b| {
                b.iter(|| x.batch(black_box(keys)))
            });
        }
    }
    g.finish();
}

fn bench_v4(c: &mut Criterion) {
    let mut tables = vec![("vpc", vpc_v4())];
    match table::tier1_path() {
        Some(p) => tables.push(("tier1", vpcfwd_bench::routes_v4(&table::read(&p).unwrap()))),
        None => println!("SKIPPED: Tier-1 table not found (set VPCFWD_SHARED)"),
    }
    for (name, routes) in tables {
        let cs = contenders_v4(&routes).expect("contenders");
        for (dist, inside) in [("uniform", false), ("inside", true)] {
            let keys = keys_v4(&routes, KEYS, inside, 1);
            run(c, &format!("v4/{name}/{dist}"), &cs, &keys);
        }
    }
}

fn bench_v6(c: &mut Criterion) {
    let mut tables = vec![("vpc", vpc_v6())];
    match table::tier1_path() {
        Some(p) => tables.push(("tier1", vpcfwd_bench::routes_v6(&table::read(&p).unwrap()))),
        None => println!("SKIPPED: Tier-1 table not found (set VPCFWD_SHARED)"),
    }
    for (name, routes) in tables {
        let cs = contenders_v6(&routes).expect("contenders");
        for (dist, inside) in [("uniform", false), ("inside", true)] {
            let keys = keys_v6(&routes, KEYS, inside, 1);
            run(c, &format!("v6/{name}/{dist}"), &cs, &keys);
        }
    }
}

criterion_group!(benches, bench_v4, bench_v6);
criterion_main!(benches);
