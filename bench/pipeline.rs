//! The whole pipeline on configs/lab.yaml: a packet of an established flow (the common case:
//! conntrack hit, then route and NACLs) and the first packet of a new flow (rules, admission,
//! NAT binding), on the main paths. `cargo bench --bench pipeline`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vpcfwd::flow::{FlowTable, Time};
use vpcfwd::packet::{self, PROTO_TCP};
use vpcfwd::pipeline::{NoTrace, Rx, Verdict, process};
use vpcfwd::snapshot::{PortIdx, Snapshot};

fn lab() -> Snapshot {
    let cfg = vpcfwd::config::load::parse_str(include_str!("../configs/lab.yaml"), "lab")
        .expect("lab parses");
    vpcfwd::snapshot::compile(&cfg).expect("lab compiles")
}

fn port(s: &Snapshot, id: &str) -> PortIdx {
    PortIdx(s.ports.iter().position(|p| p.id == id).unwrap() as u16)
}

/// (name, ingress port, src, dst, dport)
const PATHS: &[(&str, &str, &str, &str, u16)] = &[
    ("s3-gateway-endpoint", "app", "10.0.2.10", "192.0.2.10", 80),
    ("nat-gateway", "app", "10.0.2.10", "203.0.113.100", 80),
    ("igw", "web", "10.0.1.10", "203.0.113.100", 80),
    ("local-cross-subnet", "web", "10.0.1.10", "10.0.2.10", 22),
    ("privatelink", "app", "10.0.2.10", "10.0.2.20", 443),
];

fn established(c: &mut Criterion) {
    let snap = lab();
    let mut g = c.benchmark_group("pipeline/established");
    g.throughput(Throughput::Elements(1));
    for &(name, from, src, dst, dport) in PATHS {
        let flows = FlowTable::new(1 << 16);
        let pkt = packet::build(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            PROTO_TCP,
            40000,
            dport,
            (0, 0),
            64,
        );
        let mut buf = pkt.clone();
        buf.resize(pkt.len() + 128, 0);
        let rx = Rx {
            ingress: port(&snap, from),
            now: Time::from_secs(1),
            l4_csum_partial: false,
        };
        // The first packet creates the flow (and NAT/PrivateLink binding); then measure the rest.
        let v = process(&snap, &flows, &mut buf, pkt.len(), rx, &mut NoTrace);
        assert!(matches!(v, Verdict::Forward { .. }), "{name}: {v:?}");
        g.bench_function(name, |b| {
            b.iter(|| {
                buf[..pkt.len()].copy_from_slice(&pkt);
                black_box(process(
                    &snap,
                    &flows,
                    black_box(&mut buf),
                    pkt.len(),
                    rx,
                    &mut NoTrace,
                ))
            })
        });
    }
    g.finish();
}

fn new_flow(c: &mut Criterion) {
    let snap = lab();
    let mut g = c.benchmark_group("pipeline/new-flow");
    g.throughput(Throughput::Elements(1));
    for &(name, from, src, dst, dport) in PATHS {
        // Room for every flow the measurement makes: each iteration is a new source port.
        let flows = FlowTable::new(1 << 22);
        let pkt = packet::build(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            PROTO_TCP,
            1024,
            dport,
            (0, 0),
            64,
        );
        let mut buf = pkt.clone();
        buf.resize(pkt.len() + 128, 0);
        let mut sport: u16 = 1024;
        let mut now = 1u64;
        let rx0 = Rx {
            ingress: port(&snap, from),
            now: Time::from_secs(1),
            l4_csum_partial: false,
        };
        let m = packet::parse(&pkt).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                buf[..pkt.len()].copy_from_slice(&pkt);
                sport = sport.wrapping_add(1).max(1024);
                if sport == 1024 {
                    now += 1000; // old flows idle out rather than fill the table
                }
                packet::rewrite::set_port(&mut buf, &m, packet::rewrite::Field::Src, sport, false);
                let rx = Rx {
                    now: Time::from_secs(now),
                    ..rx0
                };
                black_box(process(
                    &snap,
                    &flows,
                    black_box(&mut buf),
                    pkt.len(),
                    rx,
                    &mut NoTrace,
                ))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, established, new_flow);
criterion_main!(benches);
