//! The batch path decides exactly as the single-packet path: random packet mixes over the lab
//! and lab6 snapshots — new flows, both directions of established ones (replies are built from
//! what was forwarded), NAT, NAT64, PrivateLink, gateway endpoints, the egress-only gateway,
//! resolver queries, malformed packets, drops of many kinds, TCP SYN/FIN/RST sequences —
//! in several batches over advancing time (entries expire), with reloads in between, go once
//! through `process_batch` (with a worker's flow cache, small enough to collide) and once
//! through `process`, one by one, each on a flow table of its own from the same start. After
//! every batch the verdicts, the bytes of every frame, the stages each tracer saw (what `trace`
//! shows) and the flow tables' whole state (every flow, NAT binding and counter) agree.

mod support;

use proptest::prelude::*;
use support::{LAB_YAML, Pkt, compile, complete_tcp_csum, lab_with, port, rx_at};
use vpcfwd::config::load::parse_str;
use vpcfwd::dns::proto::op::{Message, Query};
use vpcfwd::dns::proto::rr::{Name, RecordType};
use vpcfwd::flow::{FlowCache, FlowConfig, FlowTable, Time};
use vpcfwd::pipeline::{Batch, BatchIn, MAX_BATCH, Recorder, Verdict, process, process_batch};
use vpcfwd::snapshot::{PortIdx, Snapshot};
use vpcfwd::wire::{self, IpProtocol, tcp};

const LAB6_YAML: &str = include_str!("../configs/lab6.yaml");

/// (ingress port, src, dst, protocol, destination port): a packet that starts a flow (or is
/// dropped on its way).
type Template = (&'static str, &'static str, &'static str, IpProtocol, u16);

const LAB: &[Template] = &[
    ("app", "10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80), // S3 gateway endpoint
    ("app", "10.0.2.10", "192.0.2.70", IpProtocol::Tcp, 80), // DynamoDB gateway endpoint
    ("app", "10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 80), // NAT gateway
    ("app", "10.0.2.10", "203.0.113.100", IpProtocol::Udp, 53), // NAT gateway, UDP
    ("app", "10.0.2.10", "203.0.113.100", IpProtocol::Icmp, 0), // NAT gateway, ICMP
    ("web", "10.0.1.10", "203.0.113.100", IpProtocol::Tcp, 80), // internet gateway
    ("web", "10.0.1.10", "203.0.113.100", IpProtocol::Udp, 123), // internet gateway, UDP
    ("web", "10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 22),  // local, across subnets
    ("web", "10.0.1.10", "10.0.2.10", IpProtocol::Icmp, 0),  // local ICMP (admins list)
    ("app", "10.0.2.10", "10.0.2.20", IpProtocol::Tcp, 443), // PrivateLink, same subnet
    ("app", "10.0.2.10", "10.0.1.20", IpProtocol::Tcp, 443), // PrivateLink, other subnet
    ("web", "10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 23),  // SG_NO_ALLOW
    ("app", "10.0.2.10", "10.0.1.10", IpProtocol::Tcp, 23),  // NACL_DENY
    ("app", "10.0.2.10", "203.0.113.200", IpProtocol::Tcp, 80), // BLACKHOLE_ROUTE
    ("app", "10.0.2.99", "203.0.113.100", IpProtocol::Tcp, 80), // SRC_DST_CHECK
    ("app", "10.0.2.10", "169.254.169.254", IpProtocol::Tcp, 80), // reserved destination
    ("app", "10.0.2.10", "10.0.2.77", IpProtocol::Tcp, 22),  // NO_ENI_AT_DESTINATION
    (
        "internet",
        "203.0.113.100",
        "198.51.100.10",
        IpProtocol::Tcp,
        80,
    ), // inbound, allowed
    (
        "internet",
        "203.0.113.100",
        "198.51.100.10",
        IpProtocol::Tcp,
        22,
    ), // inbound, SG
    (
        "internet",
        "203.0.113.100",
        "198.51.100.5",
        IpProtocol::Tcp,
        4000,
    ), // NAT, unsolicited
    (
        "internet",
        "203.0.113.100",
        "198.51.100.99",
        IpProtocol::Tcp,
        80,
    ), // no mapping
    ("s3", "192.0.2.10", "10.0.2.10", IpProtocol::Tcp, 40000), // from a service, unsolicited
    ("api", "192.0.2.130", "192.0.2.129", IpProtocol::Tcp, 5000), // provider, unsolicited
];

const LAB6: &[Template] = &[
    (
        "web",
        "2001:db8:10:1::10",
        "2001:db8:ff::100",
        IpProtocol::Tcp,
        80,
    ), // IGW, IPv6
    (
        "web",
        "2001:db8:10:1::10",
        "2001:db8:ff::100",
        IpProtocol::Icmpv6,
        0,
    ),
    (
        "v6",
        "2001:db8:10:3::10",
        "2001:db8:ff::100",
        IpProtocol::Tcp,
        80,
    ), // egress-only
    (
        "v6",
        "2001:db8:10:3::10",
        "2001:db8:ff::100",
        IpProtocol::Udp,
        53,
    ),
    (
        "v6",
        "2001:db8:10:3::10",
        "64:ff9b::cb00:7164",
        IpProtocol::Tcp,
        80,
    ), // NAT64
    (
        "v6",
        "2001:db8:10:3::10",
        "64:ff9b::cb00:7164",
        IpProtocol::Udp,
        53,
    ),
    ("web", "10.0.1.10", "203.0.113.100", IpProtocol::Tcp, 80),
    (
        "internet",
        "2001:db8:ff::100",
        "2001:db8:10:3::10",
        IpProtocol::Tcp,
        22,
    ), // refused
    (
        "internet",
        "2001:db8:ff::100",
        "2001:db8:10:1::10",
        IpProtocol::Tcp,
        80,
    ), // inbound
    (
        "v6",
        "2001:db8:10:3::99",
        "2001:db8:ff::100",
        IpProtocol::Tcp,
        80,
    ), // SRC_DST_CHECK
];

/// TCP flags a packet may carry (SYN opens, FIN and RST close).
const FLAGS: &[u8] = {
    use tcp::flags::*;
    &[
        SYN,
        SYN,
        ACK,
        ACK,
        ACK,
        ACK,
        FIN | ACK,
        RST,
        SYN | ACK,
        ACK | 0x08,
    ]
};

/// Seconds between batches: same instant, a little, past UDP (30 s), past SYN_SENT (120 s).
const STEPS: &[u64] = &[0, 0, 1, 5, 31, 61, 125, 200];

/// One packet to generate: (kind, a, b, c), interpreted against the run so far.
type Choice = (u8, u8, u8, u8);

/// A batch: its packets, how far time advances first, whether each packet of it is a second
/// later than the one before (the worker gives one time to a batch; the cache must not care),
/// whether a reload comes first, whether the second worker (its own cache) decides it, and
/// whether an admin flush (of the flows with an even low port) comes first.
type BatchSpec = (Vec<Choice>, u8, bool, bool, bool, bool);

/// A frame: the packet, room for a generated reply behind it.
fn frame(p: &Pkt) -> Vec<u8> {
    let mut f = p.buf.clone();
    f.resize(p.len + 256, 0);
    f
}

/// A DNS query (type A) to the VPC resolver.
fn dns_query(src: &str, dst: &str, sport: u16) -> Pkt {
    let mut q = Message::query();
    q.metadata.id = sport;
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(
        Name::from_ascii("api.lab.example.").unwrap(),
        RecordType::A,
    ));
    let payload = q.to_vec().unwrap();
    let mut buf = vec![0u8; 1500];
    let len = wire::emit::udp(
        (src.parse().unwrap(), sport),
        (dst.parse().unwrap(), wire::udp::DNS_PORT),
        &payload,
        &mut buf,
    )
    .unwrap();
    buf.truncate(len);
    Pkt::from_bytes(buf)
}

/// Sets a TCP packet's flags (checksum recomputed); other protocols are left alone.
fn set_flags(p: &mut Pkt, flags: u8) {
    let Ok(m) = wire::parse(p.bytes()) else {
        return;
    };
    if m.proto != IpProtocol::Tcp || m.fragment {
        return;
    }
    p.buf[m.l4_offset + 13] = flags;
    complete_tcp_csum(&mut p.buf[..p.len]);
}

struct Run {
    lab6: bool,
    snap: Snapshot,
    generation: u64,
    /// One by one, and batched (with the worker's cache).
    seq: FlowTable,
    bat: FlowTable,
    /// Two workers' caches on the batched table: what one changes, the other must see.
    caches: [FlowCache; 2],
    now: Time,
    /// What left so far (egress, bytes): replies are made from it.
    sent: Vec<(PortIdx, Vec<u8>)>,
    reloads: usize,
}

impl Run {
    fn new(lab6: bool, max_flows: usize, cache_slots: usize) -> Run {
        let snap = compile(&Run::config(lab6, 0));
        let c = FlowConfig {
            shards: 4,
            ..FlowConfig::with_max(max_flows)
        };
        Run {
            lab6,
            snap,
            generation: 1,
            seq: FlowTable::with_config(c),
            bat: FlowTable::with_config(c),
            caches: [FlowCache::new(cache_slots), FlowCache::new(cache_slots)],
            now: Time::from_secs(1000),
            sent: Vec::new(),
            reloads: 0,
        }
    }

    /// The config of the `n`th reload: lab6 as it is; the lab alternately as it is and with
    /// the web group's HTTP rule moved to another port (flows it allowed stay tracked).
    fn config(lab6: bool, n: usize) -> vpcfwd::config::Config {
        if lab6 {
            return parse_str(LAB6_YAML, "lab6.yaml").unwrap();
        }
        let text = if n % 2 == 1 {
            lab_with(
                "FromPort: 80\n        ToPort: 80\n        CidrIpv4: 0.0.0.0/0",
                "FromPort: 8080\n        ToPort: 8080\n        CidrIpv4: 0.0.0.0/0",
            )
        } else {
            LAB_YAML.to_string()
        };
        parse_str(&text, "lab.yaml").unwrap()
    }

    fn reload(&mut self) {
        self.reloads += 1;
        let cfg = Run::config(self.lab6, self.reloads);
        let errors = vpcfwd::config::validate::validate(&cfg);
        assert!(errors.is_empty(), "{errors:?}");
        self.snap = vpcfwd::snapshot::compile_after(&cfg, Some(&self.snap)).unwrap();
        self.generation += 1;
    }

    /// The packet a choice stands for, and the port it arrives on.
    fn packet(&self, (kind, a, b, c): Choice) -> (PortIdx, Pkt) {
        let templates = if self.lab6 { LAB6 } else { LAB };
        let sport = 1000 + u16::from(b % 4);
        let flags = FLAGS[usize::from(c) % FLAGS.len()];
        match kind % 8 {
            // A reply to something forwarded earlier, from where it went.
            0..=2 if !self.sent.is_empty() => {
                let (egress, bytes) = &self.sent[usize::from(a) % self.sent.len()];
                let mut p = Pkt::from_bytes(bytes.clone());
                if wire::parse(p.bytes()).is_ok() {
                    p.reply();
                }
                if b % 2 == 0 {
                    set_flags(&mut p, flags);
                }
                (*egress, p)
            }
            // A resolver query.
            3 if !self.lab6 && a % 4 == 0 => {
                let p = dns_query("10.0.2.10", "10.0.0.2", sport);
                (port(&self.snap, "app"), p)
            }
            // Malformed: a packet cut short or with a byte changed.
            4 if a % 4 == 0 => {
                let (from, src, dst, proto, dport) = templates[usize::from(b) % templates.len()];
                let mut p = Pkt::new(src, dst, proto, sport, dport);
                if c % 2 == 0 {
                    p.len = usize::from(c) % p.len;
                } else {
                    let at = usize::from(c) % p.len;
                    p.buf[at] ^= 0x5a;
                }
                (port(&self.snap, from), p)
            }
            // A packet of a flow from the templates (a new one, or a later one of it).
            _ => {
                let (from, src, dst, proto, dport) = templates[usize::from(a) % templates.len()];
                let mut p = Pkt::new(src, dst, proto, sport, dport);
                set_flags(&mut p, flags);
                (port(&self.snap, from), p)
            }
        }
    }

    /// Everything the flow tables hold, in a comparable form.
    fn state(t: &FlowTable, now: Time) -> String {
        let mut conns = Vec::new();
        t.conns()
            .for_each(now, |k, v| conns.push(format!("{k:?} {v:?}")));
        conns.sort();
        let mut nat = Vec::new();
        t.nat()
            .for_each(now, |f, a, p, e| nat.push(format!("{f:?} {a} {p} {e:?}")));
        nat.sort();
        format!("{:?}\n{}\n{}", t.stats(), conns.join("\n"), nat.join("\n"))
    }

    /// Decides one batch both ways and compares everything.
    fn batch(&mut self, spec: &BatchSpec) -> Result<(), TestCaseError> {
        let (choices, step, spread, reload, second, flush) = spec;
        if *reload {
            self.reload();
        }
        if *flush {
            let a = self.seq.conns().remove_matching(|k, _| k.lo_port % 2 == 0);
            let b = self.bat.conns().remove_matching(|k, _| k.lo_port % 2 == 0);
            prop_assert_eq!(a, b, "flushed");
        }
        self.now += vpcfwd::flow::Dur::from_secs(STEPS[usize::from(*step) % STEPS.len()]);
        let mut pkts = Vec::new();
        let mut ins = Vec::new();
        for (i, &c) in choices.iter().enumerate() {
            let (ingress, p) = self.packet(c);
            let now = if *spread {
                self.now + vpcfwd::flow::Dur::from_secs(i as u64)
            } else {
                self.now
            };
            ins.push(BatchIn {
                len: p.len,
                rx: rx_at(ingress, now),
            });
            pkts.push(p);
        }
        // One by one.
        let mut seq_frames: Vec<Vec<u8>> = pkts.iter().map(frame).collect();
        let mut seq_tr: Vec<Recorder> = pkts.iter().map(|_| Recorder::default()).collect();
        let mut seq_v = Vec::new();
        for (i, f) in seq_frames.iter_mut().enumerate() {
            let v = process(
                &self.snap,
                &self.seq,
                f,
                ins[i].len,
                ins[i].rx,
                &mut seq_tr[i],
            );
            seq_v.push(v);
        }
        // Batched, with a headroom before each packet as a port has.
        const HEAD: usize = 10;
        let mut bat_frames: Vec<Vec<u8>> = pkts
            .iter()
            .map(|p| {
                let mut f = vec![0xee; HEAD];
                f.extend(frame(p));
                f
            })
            .collect();
        let mut bat_tr: Vec<Recorder> = pkts.iter().map(|_| Recorder::default()).collect();
        let mut bat_v = vec![Verdict::Drop(vpcfwd::pipeline::DropReason::NoPort); pkts.len()];
        let cache = &mut self.caches[usize::from(*second)];
        cache.begin(self.bat.conns(), self.generation);
        process_batch(
            &self.snap,
            &self.bat,
            cache,
            Batch {
                bufs: &mut bat_frames,
                head: HEAD,
                pkts: &ins,
                tracers: &mut bat_tr,
                verdicts: &mut bat_v,
            },
        );
        for i in 0..pkts.len() {
            prop_assert_eq!(seq_v[i], bat_v[i], "verdict of packet {}", i);
            prop_assert_eq!(&seq_tr[i].0, &bat_tr[i].0, "stages of packet {}", i);
            prop_assert!(
                bat_frames[i][..HEAD].iter().all(|&b| b == 0xee),
                "headroom kept"
            );
            prop_assert_eq!(
                &seq_frames[i][..],
                &bat_frames[i][HEAD..],
                "bytes of packet {}",
                i
            );
        }
        // Time never goes back (the worker's clock is monotonic).
        let latest = ins.iter().map(|x| x.rx.now).max().unwrap_or(self.now);
        self.now = latest;
        prop_assert_eq!(
            Run::state(&self.seq, latest),
            Run::state(&self.bat, latest),
            "flow tables after the batch"
        );
        for (v, f) in seq_v.iter().zip(&seq_frames) {
            if let Verdict::Forward { egress, len }
            | Verdict::Reply { egress, len, .. }
            | Verdict::Answer { egress, len, .. } = *v
            {
                self.sent.push((egress, f[..len].to_vec()));
            }
        }
        if self.sent.len() > 64 {
            self.sent.drain(..self.sent.len() - 64);
        }
        Ok(())
    }
}

fn choices() -> impl Strategy<Value = Vec<BatchSpec>> {
    let choice = (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>());
    let batch = (
        proptest::collection::vec(choice, 1..=MAX_BATCH),
        any::<u8>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.15),
        any::<bool>(),
        proptest::bool::weighted(0.1),
    );
    proptest::collection::vec(batch, 1..8)
}

fn check(lab6: bool, batches: &[BatchSpec], small: bool) -> Result<(), TestCaseError> {
    // Small tables refuse flows and sweep; a tiny cache collides.
    let (max, slots) = if small { (64, 4) } else { (4096, 2048) };
    let mut run = Run::new(lab6, max, slots);
    for b in batches {
        run.batch(b)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn batch_decides_as_one_by_one_on_the_lab(batches in choices(), small in any::<bool>()) {
        check(false, &batches, small)?;
    }

    #[test]
    fn batch_decides_as_one_by_one_on_lab6(batches in choices(), small in any::<bool>()) {
        check(true, &batches, small)?;
    }
}

/// The mix does reach what it claims to: over a fixed long sequence, the cache hits, the
/// verdicts include forwards, answers and drops of several reasons.
#[test]
fn the_mix_covers_the_paths() {
    use std::collections::BTreeSet;
    for lab6 in [false, true] {
        let mut run = Run::new(lab6, 4096, 2048);
        let mut reasons = BTreeSet::new();
        let mut kinds = BTreeSet::new();
        let mut x: u32 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for b in 0..40 {
            let choices: Vec<Choice> = (0..64)
                .map(|_| {
                    let r = next().to_le_bytes();
                    (r[0], r[1], r[2], r[3])
                })
                .collect();
            let spec = (
                choices,
                (b % 3) as u8,
                false,
                b % 13 == 12,
                b % 2 == 1,
                b % 7 == 6,
            );
            run.batch(&spec).unwrap();
        }
        // Every template once more, on the one-by-one table: the drop reasons they reach.
        let templates = if lab6 { LAB6 } else { LAB };
        for (from, src, dst, proto, dport) in templates {
            let mut p = Pkt::new(src, dst, *proto, 2000, *dport);
            let v = process(
                &run.snap,
                &run.seq,
                &mut p.buf,
                p.len,
                rx_at(port(&run.snap, from), run.now),
                &mut vpcfwd::pipeline::NoTrace,
            );
            match v {
                Verdict::Drop(r) => {
                    reasons.insert(format!("{r:?}"));
                }
                v => {
                    kinds.insert(format!("{v:?}").split(' ').next().unwrap().to_string());
                }
            }
        }
        for c in &run.caches {
            let s = c.stats();
            assert!(s.hits > 100, "{lab6}: cache hits {s:?}");
            assert!(s.invalidations > 0, "{lab6}: {s:?}");
        }
        assert!(kinds.contains("Forward"), "{lab6}: {kinds:?}");
        assert!(
            reasons.len() >= if lab6 { 2 } else { 6 },
            "{lab6}: {reasons:?}"
        );
    }
}
