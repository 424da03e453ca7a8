//! The whole pipeline on configs/lab.yaml: a packet of an established flow (the common case:
//! conntrack hit, then route and NACLs) and the first packet of a new flow (rules, admission,
//! NAT binding), on the main paths; the IPv6 paths (internet gateway, egress-only internet
//! gateway, NAT64) on configs/lab6.yaml. Each beside its batched form (`pipeline/batched-*`:
//! `process_batch` on batches of 64 with a worker's flow cache, reported per packet).
//! `cargo bench --bench pipeline` (`-- batched` for the batched rows alone).

#[path = "../tests/support/sans_io.rs"]
mod sans_io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sans_io::{lab_snapshot as lab, pkt, rx};
use std::hint::black_box;
use vpcfwd::flow::{FlowCache, FlowTable, Time};
use vpcfwd::pipeline::{Batch, BatchIn, MAX_BATCH, NoTrace, Rx, Verdict, process, process_batch};
use vpcfwd::snapshot::Snapshot;
use vpcfwd::wire::{self, ChecksumMode, IpProtocol};

/// (name, ingress port, src, dst, dport)
const PATHS: &[(&str, &str, &str, &str, u16)] = &[
    ("s3-gateway-endpoint", "app", "10.0.2.10", "192.0.2.10", 80),
    ("nat-gateway", "app", "10.0.2.10", "203.0.113.100", 80),
    ("igw", "web", "10.0.1.10", "203.0.113.100", 80),
    ("local-cross-subnet", "web", "10.0.1.10", "10.0.2.10", 22),
    ("privatelink", "app", "10.0.2.10", "10.0.2.20", 443),
];

/// (name, ingress port, src, dst, dport) on configs/lab6.yaml.
const PATHS_V6: &[(&str, &str, &str, &str, u16)] = &[
    ("igw-v6", "web", "2001:db8:10:1::10", "2001:db8:ff::100", 80),
    ("eigw", "v6", "2001:db8:10:3::10", "2001:db8:ff::100", 80),
    ("nat64", "v6", "2001:db8:10:3::10", "64:ff9b::cb00:7164", 80),
];

/// configs/lab6.yaml, compiled.
fn lab6() -> Snapshot {
    let cfg = vpcfwd::config::load::parse_str(include_str!("../configs/lab6.yaml"), "lab6.yaml")
        .expect("lab6 parses");
    sans_io::compile(&cfg)
}

/// A flow table holding the flow of a TCP packet `src:40000 → dst:dport` from port `from`
/// (and its NAT/PrivateLink binding), the packet, a buffer with room, and its `Rx`.
fn established_flow(
    snap: &Snapshot,
    name: &str,
    from: &str,
    src: &str,
    dst: &str,
    dport: u16,
) -> (FlowTable, Vec<u8>, Vec<u8>, Rx) {
    let flows = FlowTable::new(1 << 16);
    let pkt = pkt(src, dst, IpProtocol::Tcp, 40000, dport);
    let mut buf = pkt.clone();
    buf.resize(pkt.len() + 128, 0);
    let rx = rx(snap, from, 1);
    // The first packet creates the flow (and binding); the benchmarks measure the rest.
    let v = process(snap, &flows, &mut buf, pkt.len(), rx, &mut NoTrace);
    assert!(matches!(v, Verdict::Forward { .. }), "{name}: {v:?}");
    (flows, pkt, buf, rx)
}

fn established(c: &mut Criterion) {
    established_group(c, "pipeline/established", &lab(), PATHS);
    established_group(c, "pipeline/established-ipv6", &lab6(), PATHS_V6);
}

fn established_group(
    c: &mut Criterion,
    group: &str,
    snap: &Snapshot,
    paths: &[(&str, &str, &str, &str, u16)],
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for &(name, from, src, dst, dport) in paths {
        let (flows, pkt, mut buf, rx) = established_flow(snap, name, from, src, dst, dport);
        g.bench_function(name, |b| {
            b.iter(|| {
                buf[..pkt.len()].copy_from_slice(&pkt);
                black_box(process(
                    snap,
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
    new_flow_group(c, "pipeline/new-flow", &lab(), PATHS);
    new_flow_group(c, "pipeline/new-flow-ipv6", &lab6(), PATHS_V6);
}

fn new_flow_group(
    c: &mut Criterion,
    group: &str,
    snap: &Snapshot,
    paths: &[(&str, &str, &str, &str, u16)],
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for &(name, from, src, dst, dport) in paths {
        // Room for every flow the measurement makes: each iteration is a new source port.
        let flows = FlowTable::new(1 << 22);
        let pkt = pkt(src, dst, IpProtocol::Tcp, 1024, dport);
        let mut buf = pkt.clone();
        buf.resize(pkt.len() + 128, 0);
        let mut sport: u16 = 1024;
        let mut now = 1u64;
        let rx0 = rx(snap, from, 1);
        let m = wire::parse(&pkt).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                buf[..pkt.len()].copy_from_slice(&pkt);
                sport = sport.wrapping_add(1).max(1024);
                if sport == 1024 {
                    now += 1000; // old flows idle out rather than fill the table
                }
                wire::rewrite::set_port(
                    &mut buf,
                    &m,
                    wire::rewrite::Field::Src,
                    sport,
                    ChecksumMode::Full,
                );
                let rx = Rx {
                    now: Time::from_secs(now),
                    ..rx0
                };
                black_box(process(
                    snap,
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

/// The established-flow packet as a worker handles it: the pipeline with the `Observer` tracer,
/// then the per-worker counters (`Block::decision`, rx/tx) and the flow-log aggregation — the
/// cost of observability, next to `pipeline/established` (`NoTrace`) in the same run.
fn established_observed(c: &mut Criterion) {
    observed(c, "pipeline/established-metrics", false);
    observed(c, "pipeline/established-metrics-flowlog", true);
}

fn observed(c: &mut Criterion, group: &str, flow_log: bool) {
    use std::sync::Arc;
    use vpcfwd::observe::flowlog::{Aggregator, Key};
    use vpcfwd::observe::{Block, Layout, Observer};
    let snap = Arc::new(lab());
    let block = Block::new(Arc::clone(&snap), Arc::new(Layout::new(&snap)));
    let mut agg = Aggregator::new(65_536, 60, 1_700_000_000);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for &(name, from, src, dst, dport) in PATHS {
        let (flows, pkt, mut buf, rx) = established_flow(&snap, name, from, src, dst, dport);
        let ingress = rx.ingress;
        let kind = Some(snap.ports[ingress].kind);
        g.bench_function(name, |b| {
            b.iter(|| {
                buf[..pkt.len()].copy_from_slice(&pkt);
                block.rx(usize::from(ingress.0), pkt.len());
                let mut obs = Observer::new(flow_log);
                let v = process(&snap, &flows, black_box(&mut buf), pkt.len(), rx, &mut obs);
                block.decision(&obs, &v);
                for (e, five, accept) in obs.records(&snap, kind, &v).into_iter().flatten() {
                    let zone = snap.enis[e].zone.0;
                    agg.add(
                        Key { zone, five, accept },
                        1,
                        pkt.len() as u64,
                        1_700_000_001,
                    );
                }
                if let Verdict::Forward { egress, len } = v {
                    block.tx(usize::from(egress.0), len);
                }
                black_box(v)
            })
        });
    }
    g.finish();
}

/// The next packets of the flow `established_flow` opened: ACKs (a SYN repeated would change
/// nothing either, but it is not what an established flow carries, and it never passes on the
/// worker's cached copy: SYN, FIN and RST always go to the shared table).
fn ack(src: &str, dst: &str, dport: u16) -> Vec<u8> {
    let mut p = sans_io::Pkt::new(src, dst, IpProtocol::Tcp, 40000, dport);
    p.ack();
    p.bytes().to_vec()
}

/// The same ACKs as the batched rows, one by one (`pipeline/established-ack`): the batched
/// rows' baseline in the same run.
fn established_ack(c: &mut Criterion) {
    for (group, snap, paths) in [
        ("pipeline/established-ack", lab(), PATHS),
        ("pipeline/established-ack-ipv6", lab6(), PATHS_V6),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        for &(name, from, src, dst, dport) in paths {
            let (flows, _, _, rx) = established_flow(&snap, name, from, src, dst, dport);
            let pkt = ack(src, dst, dport);
            let mut buf = pkt.clone();
            buf.resize(pkt.len() + 128, 0);
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
}

/// The batched rows: `process_batch` on 64 packets at a time with the worker's flow cache,
/// per packet (throughput 64 per iteration), beside the one-by-one rows of the same run.
fn batched(c: &mut Criterion) {
    let (lab, lab6) = (lab(), lab6());
    batched_established(c, "pipeline/batched-established", &lab, PATHS);
    batched_established(c, "pipeline/batched-established-ipv6", &lab6, PATHS_V6);
    batched_new_flow(c, "pipeline/batched-new-flow", &lab, PATHS);
    batched_new_flow(c, "pipeline/batched-new-flow-ipv6", &lab6, PATHS_V6);
}

/// A batch's frames, inputs, tracers and verdicts.
struct Frames {
    bufs: Vec<Vec<u8>>,
    ins: [BatchIn; MAX_BATCH],
    tracers: [NoTrace; MAX_BATCH],
    verdicts: [Verdict; MAX_BATCH],
}

impl Frames {
    fn new(pkt: &[u8], rx: Rx) -> Frames {
        let mut buf = pkt.to_vec();
        buf.resize(pkt.len() + 128, 0);
        Frames {
            bufs: vec![buf; MAX_BATCH],
            ins: [BatchIn { len: pkt.len(), rx }; MAX_BATCH],
            tracers: std::array::from_fn(|_| NoTrace),
            verdicts: [Verdict::Drop(vpcfwd::pipeline::DropReason::NoPort); MAX_BATCH],
        }
    }

    fn run(&mut self, snap: &Snapshot, flows: &FlowTable, cache: &mut FlowCache) {
        process_batch(
            snap,
            flows,
            cache,
            Batch {
                bufs: &mut self.bufs,
                head: 0,
                pkts: &self.ins,
                tracers: &mut self.tracers,
                verdicts: &mut self.verdicts,
            },
        );
    }
}

fn batched_established(
    c: &mut Criterion,
    group: &str,
    snap: &Snapshot,
    paths: &[(&str, &str, &str, &str, u16)],
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(MAX_BATCH as u64));
    for &(name, from, src, dst, dport) in paths {
        let (flows, _, _, rx) = established_flow(snap, name, from, src, dst, dport);
        let pkt = ack(src, dst, dport);
        let mut f = Frames::new(&pkt, rx);
        let mut cache = FlowCache::default();
        cache.begin(flows.conns(), 1);
        f.run(snap, &flows, &mut cache);
        assert!(
            f.verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Forward { .. })),
            "{name}: {:?}",
            f.verdicts[0]
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                for buf in &mut f.bufs {
                    buf[..pkt.len()].copy_from_slice(&pkt);
                }
                f.run(snap, &flows, &mut cache);
                black_box(&f.verdicts);
            })
        });
    }
    g.finish();
}

fn batched_new_flow(
    c: &mut Criterion,
    group: &str,
    snap: &Snapshot,
    paths: &[(&str, &str, &str, &str, u16)],
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(MAX_BATCH as u64));
    for &(name, from, src, dst, dport) in paths {
        let flows = FlowTable::new(1 << 22);
        let pkt = pkt(src, dst, IpProtocol::Tcp, 1024, dport);
        let rx0 = rx(snap, from, 1);
        let m = wire::parse(&pkt).unwrap();
        let mut f = Frames::new(&pkt, rx0);
        let mut cache = FlowCache::default();
        cache.begin(flows.conns(), 1);
        let mut sport: u16 = 1024;
        let mut now = 1u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                for (buf, x) in f.bufs.iter_mut().zip(&mut f.ins) {
                    buf[..pkt.len()].copy_from_slice(&pkt);
                    sport = sport.wrapping_add(1).max(1024);
                    if sport == 1024 {
                        now += 1000; // old flows idle out rather than fill the table
                    }
                    wire::rewrite::set_port(
                        buf,
                        &m,
                        wire::rewrite::Field::Src,
                        sport,
                        ChecksumMode::Full,
                    );
                    x.rx.now = Time::from_secs(now);
                }
                f.run(snap, &flows, &mut cache);
                black_box(&f.verdicts);
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    established,
    established_observed,
    new_flow,
    established_ack,
    batched
);
criterion_main!(benches);
