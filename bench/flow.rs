//! Flow-state costs with 1M live flows: security-group lookup hit/miss, admission of a new
//! flow, NAT gateway translation hit. Prints the memory per entry.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use vpcfwd::flow::Zone;
use vpcfwd::flow::conntrack::tcp_flags::{ACK, SYN};
use vpcfwd::flow::{Admit, ConnTable, FlowKey, NatFlow, NatOut, NatTable, Time, Timeouts, Tuple};
use vpcfwd::wire::IpProtocol;

const LIVE: u32 = 1_000_000;

fn tuple(i: u32) -> Tuple {
    let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i >> 4)));
    let dst = IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i & 0xf) as u8));
    Tuple::tcp(src, 1024 + (i & 0x3ff) as u16, dst, 443)
}

fn admit() -> Admit {
    Admit {
        tcp_flags: SYN,
        tracked: true,
        zones: [Zone(0), Zone::NONE],
        timeouts: Timeouts::default(),
    }
}

fn conntrack(c: &mut Criterion) {
    let t = ConnTable::new(LIVE as usize * 5 / 4, 64, 0x1234);
    for i in 0..LIVE {
        let (k, s) = FlowKey::from_tuple(0, &tuple(i));
        t.admit(&k, s, &admit(), Time(0)).expect("room");
    }
    println!(
        "conntrack: {} live flows, bound {}, {} MiB preallocated, {:.1} B per storable flow, {:.1} B per live flow",
        t.len(),
        t.max_entries(),
        t.memory_bytes() >> 20,
        t.bytes_per_entry(),
        t.memory_bytes() as f64 / f64::from(LIVE)
    );
    let keys: Vec<_> = (0..LIVE)
        .step_by(7)
        .map(|i| FlowKey::from_tuple(0, &tuple(i).reversed()))
        .collect();
    let mut g = c.benchmark_group("flow");
    let mut i = 0usize;
    g.bench_function("conntrack_touch_hit_1M", |b| {
        b.iter(|| {
            let (k, s) = &keys[i % keys.len()];
            i += 1;
            black_box(t.touch(k, *s, ACK, Time(1)))
        })
    });
    let mut j = LIVE;
    g.bench_function("conntrack_lookup_miss_1M", |b| {
        b.iter(|| {
            j = j.wrapping_add(1) | 0x8000_0000;
            let (k, s) = FlowKey::from_tuple(0, &tuple(j));
            black_box(t.lookup(&k, s, Time(1)))
        })
    });
    let mut n = 0u32;
    g.bench_function("conntrack_admit_new_and_remove_1M", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let (k, s) = FlowKey::from_tuple(0, &tuple(0x8000_0000 | n));
            let r = t.admit(&k, s, &admit(), Time(1));
            t.remove(&k);
            black_box(r)
        })
    });
    g.finish();
}

fn nat(c: &mut Criterion) {
    let t = NatTable::new(LIVE as usize * 5 / 4, 4, 7);
    let addrs = [
        Ipv4Addr::new(203, 0, 113, 10),
        Ipv4Addr::new(203, 0, 113, 11),
    ];
    let flow = |i: u32| NatFlow {
        src: Ipv4Addr::from(0x0a00_0000 | (i >> 6)),
        sport: 32768 + (i & 0x3f) as u16,
        dst: Ipv4Addr::new(198, 51, 100, (i & 0xff) as u8),
        dport: 443,
        proto: IpProtocol::Tcp,
    };
    for i in 0..LIVE {
        let r = t.outbound(&flow(i), &addrs, SYN, Time(0));
        assert!(matches!(r, NatOut::Translate { .. }), "{r:?}");
    }
    println!(
        "nat: {} bindings, {} MiB preallocated, {:.1} B per binding of the bound",
        t.stats().active,
        t.memory_bytes() >> 20,
        t.memory_bytes() as f64 / t.max_entries() as f64
    );
    let mut g = c.benchmark_group("flow");
    let mut i = 0u32;
    g.bench_function("nat_outbound_hit_1M", |b| {
        b.iter(|| {
            i = (i + 7) % LIVE;
            black_box(t.outbound(&flow(i), &addrs, ACK, Time(1)))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = conntrack, nat
}
criterion_main!(benches);
