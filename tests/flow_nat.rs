//! NAT gateway and PrivateLink translation state against a naive model.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use vpcfwd::flow::conntrack::tcp_flags::{ACK, SYN};
use vpcfwd::flow::nat::NAT_IDLE_SECS;
use vpcfwd::flow::privatelink::{PlError, pick_target};
use vpcfwd::flow::xlat::{MissAction, miss_action};
use vpcfwd::flow::{NatFlow, NatOut, NatTable, PlFlow, PrivateLinkTable, Time};
use vpcfwd::wire::{IpProtocol, TcpSegment, emit};

const TCP: IpProtocol = IpProtocol::Tcp;
const UDP: IpProtocol = IpProtocol::Udp;
const ICMP: IpProtocol = IpProtocol::Icmp;

const NAT1: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const NAT2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);

fn inside(i: u32, dport: u16, proto: IpProtocol) -> NatFlow {
    NatFlow {
        src: Ipv4Addr::from(0x0a00_0000 | (i >> 8)),
        sport: 32768 + (i & 0xff) as u16,
        dst: Ipv4Addr::new(198, 51, 100, 7),
        dport,
        proto,
    }
}

#[test]
fn exhaustion_at_exactly_55000_per_destination_per_address() {
    let t = NatTable::new(200_000, 1, 42);
    let now = Time::from_secs(1);
    let mut ports = HashSet::new();
    for i in 0..55_000 {
        match t.outbound(&inside(i, 443, TCP), &[NAT1], SYN, now) {
            NatOut::Translate {
                addr,
                port,
                new: true,
            } => {
                assert_eq!(addr, NAT1);
                assert!(port >= 1024);
                assert!(ports.insert(port), "port {port} given twice");
            }
            o => panic!("flow {i}: {o:?}"),
        }
    }
    assert_eq!(
        t.outbound(&inside(55_000, 443, TCP), &[NAT1], SYN, now),
        NatOut::PortAllocation
    );
    assert_eq!(t.stats().port_allocation_errors, 1);
    // Another destination port is another destination; UDP is another protocol.
    assert!(matches!(
        t.outbound(&inside(55_000, 80, TCP), &[NAT1], SYN, now),
        NatOut::Translate { .. }
    ));
    assert!(matches!(
        t.outbound(&inside(55_000, 443, UDP), &[NAT1], 0, now),
        NatOut::Translate { .. }
    ));
    // A second address doubles the room for the same destination.
    for i in 55_000..110_000 {
        match t.outbound(&inside(i, 443, TCP), &[NAT1, NAT2], SYN, now) {
            NatOut::Translate { addr, .. } => assert_eq!(addr, NAT2),
            o => panic!("flow {i}: {o:?}"),
        }
    }
    assert_eq!(
        t.outbound(&inside(110_000, 443, TCP), &[NAT1, NAT2], SYN, now),
        NatOut::PortAllocation
    );
    assert_eq!(t.stats().port_allocation_errors, 2);
    // Existing flows still translate; after the idle timeout the room is back.
    assert!(matches!(
        t.outbound(&inside(7, 443, TCP), &[NAT1], ACK, now),
        NatOut::Translate {
            addr: NAT1,
            new: false,
            ..
        }
    ));
    let later = Time::from_secs(1 + NAT_IDLE_SECS);
    assert!(matches!(
        t.outbound(&inside(110_000, 443, TCP), &[NAT1, NAT2], SYN, later),
        NatOut::Translate { new: true, .. }
    ));
}

#[test]
fn icmp_echo_is_translated_by_identifier() {
    let t = NatTable::new(1000, 1, 1);
    let f = NatFlow {
        src: Ipv4Addr::new(10, 0, 1, 5),
        sport: 7,
        dst: Ipv4Addr::new(192, 0, 2, 1),
        dport: 0,
        proto: ICMP,
    };
    let NatOut::Translate { addr, port: id, .. } = t.outbound(&f, &[NAT1], 0, Time(0)) else {
        panic!()
    };
    assert_eq!(
        t.inbound(f.dst, 0, addr, id, ICMP, Time(1)),
        Some((f.src, 7))
    );
    assert_eq!(
        t.inbound(f.dst, 0, addr, id, UDP, Time(1)),
        None,
        "protocol is part of it"
    );
    assert_eq!(
        t.inbound(Ipv4Addr::new(192, 0, 2, 2), 0, addr, id, ICMP, Time(1)),
        None
    );
}

#[test]
fn idle_tcp_binding_gets_a_rst_and_a_fresh_syn_a_new_binding() {
    let t = NatTable::new(1000, 2, 9);
    let f = inside(1, 443, TCP);
    let NatOut::Translate { .. } = t.outbound(&f, &[NAT1], SYN, Time::from_secs(0)) else {
        panic!()
    };
    // Kept alive by traffic at 349 s intervals.
    assert!(matches!(
        t.outbound(&f, &[NAT1], ACK, Time::from_secs(349)),
        NatOut::Translate { new: false, .. }
    ));
    let idle = Time::from_secs(349 + NAT_IDLE_SECS);
    assert_eq!(t.outbound(&f, &[NAT1], ACK, idle), NatOut::IdleTimedOut);
    assert_eq!(t.outbound(&f, &[NAT1], ACK, idle), NatOut::IdleTimedOut);
    assert_eq!(t.stats().idle_timeouts, 2);
    assert_eq!(t.stats().expiries, 1);
    assert!(matches!(
        t.outbound(&f, &[NAT1], SYN, idle),
        NatOut::Translate { new: true, .. }
    ));
    // Tombstones are kept for TOMBSTONE_SECS after the release, then a stray ACK opens a
    // binding like any new flow.
    let g = inside(3, 443, TCP);
    t.outbound(&g, &[NAT1], SYN, Time(0));
    let released = Time::from_secs(NAT_IDLE_SECS);
    assert_eq!(t.outbound(&g, &[NAT1], ACK, released), NatOut::IdleTimedOut);
    let gone = Time(released.0 + vpcfwd::flow::xlat::TOMBSTONE_SECS * 1_000_000_000);
    assert_eq!(
        t.outbound(&g, &[NAT1], ACK, Time(gone.0 - 1)),
        NatOut::IdleTimedOut
    );
    assert!(matches!(
        t.outbound(&g, &[NAT1], ACK, gone),
        NatOut::Translate { new: true, .. }
    ));
    // UDP never gets the RST treatment.
    let u = inside(2, 53, UDP);
    t.outbound(&u, &[NAT1], 0, Time(0));
    assert!(matches!(
        t.outbound(&u, &[NAT1], 0, idle),
        NatOut::Translate { new: true, .. }
    ));
    // The RST the caller sends for NAT_IDLE_TIMEOUT.
    let seg = TcpSegment {
        sport: f.sport,
        dport: f.dport,
        seq: 5,
        ack: 99,
        flags: ACK,
        payload_len: 3,
    };
    let mut buf = [0u8; 64];
    assert_eq!(
        emit::tcp_rst(f.src.into(), f.dst.into(), &seg, &mut buf),
        Some(40)
    );
    assert_eq!(vpcfwd::wire::checksum::checksum(&buf[..20]), 0);
}

#[test]
fn miss_action_decision_table() {
    assert_eq!(miss_action(TCP, ACK, true), MissAction::IdleTimeoutRst);
    assert_eq!(miss_action(TCP, 0x18, true), MissAction::IdleTimeoutRst);
    assert_eq!(miss_action(TCP, SYN, true), MissAction::Allocate);
    assert_eq!(
        miss_action(TCP, SYN | ACK, true),
        MissAction::IdleTimeoutRst
    );
    assert_eq!(miss_action(TCP, ACK, false), MissAction::Allocate);
    assert_eq!(miss_action(UDP, 0, true), MissAction::Allocate);
    assert_eq!(miss_action(ICMP, 0, true), MissAction::Allocate);
}

#[derive(Debug, Clone)]
enum Op {
    Out {
        src: u8,
        sport: u8,
        dst: u8,
        proto: IpProtocol,
        syn: bool,
    },
    Reply {
        pick: usize,
    },
    Stray {
        dst: u8,
        port: u16,
    },
    Wait {
        secs: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..4, 0u8..3, prop_oneof![Just(TCP), Just(UDP), Just(ICMP)], any::<bool>())
            .prop_map(|(src, sport, dst, proto, syn)| Op::Out { src, sport, dst, proto, syn }),
        2 => any::<usize>().prop_map(|pick| Op::Reply { pick }),
        1 => (0u8..3, 1024u16..1100).prop_map(|(dst, port)| Op::Stray { dst, port }),
        1 => (0u16..400).prop_map(|secs| Op::Wait { secs }),
    ]
}

type In = (Ipv4Addr, u16, Ipv4Addr, u16, IpProtocol);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Model: a map inside → (addr, port, last use). Checks: a live binding is reused; no two
    /// live bindings share (address, port, destination); every binding reverses; an expired TCP
    /// binding answers non-SYN segments with IdleTimedOut until a SYN; counters match.
    #[test]
    fn nat_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let t = NatTable::new(4096, 2, 5);
        let addrs = [NAT1, NAT2];
        let mut model: HashMap<In, (Ipv4Addr, u16, u64)> = HashMap::new();
        let mut tombs: HashSet<In> = HashSet::new();
        let (mut now, mut idle_to, mut expired) = (0u64, 0u64, 0u64);
        let ns = |s: u64| Time::from_secs(s);
        for o in ops {
            match o {
                Op::Out { src, sport, dst, proto, syn } => {
                    let dport = if proto == ICMP { 0 } else { 443 };
                    let f = NatFlow { src: Ipv4Addr::new(10, 0, 0, src), sport: 40000 + u16::from(sport),
                        dst: Ipv4Addr::new(198, 51, 100, dst), dport, proto };
                    let k: In = (f.src, f.sport, f.dst, f.dport, proto);
                    let flags = if proto != TCP { 0 } else if syn { SYN } else { ACK };
                    let live = model.get(&k).filter(|m| now < m.2 + NAT_IDLE_SECS).copied();
                    if live.is_none() && model.remove(&k).is_some() {
                        expired += 1;
                        if proto == TCP { tombs.insert(k); }
                    }
                    let r = t.outbound(&f, &addrs, flags, ns(now));
                    match (live, r) {
                        (Some((a, p, _)), NatOut::Translate { addr, port, new }) => {
                            prop_assert_eq!((a, p, new), (addr, port, false));
                            model.insert(k, (a, p, now));
                        }
                        (None, NatOut::IdleTimedOut) => {
                            prop_assert!(tombs.contains(&k) && !syn && proto == TCP);
                            idle_to += 1;
                        }
                        (None, NatOut::Translate { addr, port, new }) => {
                            prop_assert!(new);
                            prop_assert!(!(tombs.contains(&k) && !syn && proto == TCP), "expected a RST");
                            prop_assert!(port >= 1024);
                            tombs.remove(&k);
                            model.insert(k, (addr, port, now));
                        }
                        (l, r) => prop_assert!(false, "model {:?} vs {:?}", l, r),
                    }
                }
                Op::Reply { pick } => {
                    let mut keys: Vec<_> = model.keys().copied().collect();
                    keys.sort();
                    if keys.is_empty() { continue; }
                    let k = keys[pick % keys.len()];
                    let (a, p, last) = model[&k];
                    let got = t.inbound(k.2, k.3, a, p, k.4, ns(now));
                    if now < last + NAT_IDLE_SECS {
                        prop_assert_eq!(got, Some((k.0, k.1)));
                        model.insert(k, (a, p, now));
                    } else {
                        prop_assert_eq!(got, None);
                        model.remove(&k);
                        expired += 1;
                        if k.4 == TCP { tombs.insert(k); }
                    }
                }
                Op::Stray { dst, port } => {
                    let remote = Ipv4Addr::new(198, 51, 100, dst);
                    let owner = model.iter().find(|(k, m)| k.2 == remote && k.3 == 443 && k.4 == TCP
                        && m.0 == NAT1 && m.1 == port).map(|(k, m)| (*k, *m));
                    let got = t.inbound(remote, 443, NAT1, port, TCP, ns(now));
                    match owner {
                        Some((k, m)) if now < m.2 + NAT_IDLE_SECS => {
                            prop_assert_eq!(got, Some((k.0, k.1)));
                            model.insert(k, (m.0, m.1, now));
                        }
                        Some((k, _)) => {
                            prop_assert_eq!(got, None);
                            model.remove(&k);
                            expired += 1;
                            tombs.insert(k);
                        }
                        None => prop_assert_eq!(got, None, "unsolicited"),
                    }
                }
                // Time stays below 3400 s, so no tombstone (kept ≥ 350 + 3600 s) ages out: the
                // model does not track when the table releases a binding.
                Op::Wait { secs } if now < 3000 => now += u64::from(secs),
                Op::Wait { .. } => {}
            }
            // No two live bindings share a mapping.
            let mut seen = HashSet::new();
            for (k, (a, p, last)) in &model {
                if now < last + NAT_IDLE_SECS {
                    prop_assert!(seen.insert((*a, *p, k.2, k.3, k.4)), "shared mapping {:?}", (a, p));
                }
            }
        }
        let st = t.stats();
        prop_assert_eq!(st.idle_timeouts, idle_to);
        // The table may also have released bindings by sweeping; never fewer than the model.
        prop_assert!(st.expiries >= expired);
        prop_assert_eq!(st.port_allocation_errors, 0);
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn privatelink_translates_both_ways_and_sticks_to_a_target() {
    let t = PrivateLinkTable::new(10_000, 2, 3);
    let targets = [
        (ip(10, 1, 0, 10), 8443),
        (ip(10, 1, 0, 11), 8443),
        (ip(10, 1, 0, 12), 8443),
    ];
    let lbs = [ip(10, 1, 255, 4), ip(10, 1, 255, 5)];
    let mut per_target = [0u32; 3];
    for i in 0..300u16 {
        let f = PlFlow {
            src: ip(10, 0, 1, 5),
            sport: 30000 + i,
            endpoint: ip(10, 0, 2, 9),
            port: 443,
            proto: TCP,
            zone: 1,
        };
        let o = t.outbound(&f, &targets, &lbs, Time(0)).unwrap();
        assert!(o.new && lbs.contains(&o.lb) && o.lb_port >= 1024);
        let again = t.outbound(&f, &targets, &lbs, Time(5)).unwrap();
        assert_eq!(
            (again.target, again.lb, again.lb_port, again.new),
            (o.target, o.lb, o.lb_port, false)
        );
        per_target[targets.iter().position(|x| *x == o.target).unwrap()] += 1;
        let back = t.inbound(o.target, o.lb, o.lb_port, TCP, Time(6)).unwrap();
        assert_eq!(
            (
                back.consumer,
                back.cport,
                back.endpoint,
                back.port,
                back.zone
            ),
            (f.src, f.sport, f.endpoint, 443, 1)
        );
    }
    assert!(
        per_target.iter().all(|&n| n > 50),
        "flow hash spreads the load: {per_target:?}"
    );
    // The provider cannot open flows into the consumer.
    assert_eq!(t.inbound(targets[0], lbs[0], 9999, TCP, Time(7)), None);
    assert_eq!(
        t.outbound(
            &PlFlow {
                src: ip(10, 0, 1, 5),
                sport: 1,
                endpoint: ip(10, 0, 2, 9),
                port: 443,
                proto: TCP,
                zone: 1
            },
            &[],
            &lbs,
            Time(0)
        ),
        Err(PlError::NoTarget)
    );
}

#[test]
fn rendezvous_choice_moves_only_flows_of_the_added_target() {
    let old = [(ip(10, 1, 0, 10), 443), (ip(10, 1, 0, 11), 443)];
    let new = [old[0], old[1], (ip(10, 1, 0, 12), 443)];
    let mut moved = 0;
    for i in 0..1000u16 {
        let f = PlFlow {
            src: ip(10, 0, 1, 5),
            sport: i,
            endpoint: ip(10, 0, 2, 9),
            port: 443,
            proto: TCP,
            zone: 0,
        };
        let a = pick_target(&f, &old, 7).unwrap();
        let b = pick_target(&f, &new, 7).unwrap();
        assert_eq!(a, pick_target(&f, &old, 7).unwrap(), "deterministic");
        if a != b {
            assert_eq!(b, 2, "a flow only ever moves to the new target");
            moved += 1;
        }
    }
    assert!((200..470).contains(&moved), "about a third moves: {moved}");
}

#[test]
fn nat_table_bound_refuses_and_recovers_after_idle_timeout() {
    let t = NatTable::new(8, 1, 2);
    let mut old = Vec::new();
    for i in 0..8 {
        match t.outbound(&inside(i, 443, UDP), &[NAT1], 0, Time(0)) {
            NatOut::Translate { port, .. } => old.push(port),
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(
        t.outbound(&inside(8, 443, UDP), &[NAT1], 0, Time(0)),
        NatOut::TableFull
    );
    assert_eq!(t.stats().refusals, 1);
    assert_eq!(t.stats().active, 8);
    let later = Time::from_secs(NAT_IDLE_SECS);
    let NatOut::Translate {
        port, new: true, ..
    } = t.outbound(&inside(8, 443, UDP), &[NAT1], 0, later)
    else {
        panic!()
    };
    assert_eq!(
        t.stats().expiries,
        8,
        "the full shard swept its idle bindings"
    );
    assert_eq!(t.stats().active, 1);
    // Replies to the released bindings are now unsolicited; the new one reverses.
    let remote = Ipv4Addr::new(198, 51, 100, 7);
    for p in old.into_iter().filter(|p| *p != port) {
        assert_eq!(t.inbound(remote, 443, NAT1, p, UDP, later), None);
    }
    assert_eq!(
        t.inbound(remote, 443, NAT1, port, UDP, later),
        Some((inside(8, 443, UDP).src, inside(8, 443, UDP).sport))
    );
}

#[test]
fn concurrent_allocations_never_share_a_mapping_and_all_reverse() {
    use std::sync::Arc;
    // All bindings to one destination share a shard: size each shard's share (bound / 4)
    // for the ~27k bindings per destination of the release run.
    let t = Arc::new(NatTable::new(200_000, 4, 77));
    let per = if cfg!(debug_assertions) {
        5_000u32
    } else {
        20_000
    };
    let hs: Vec<_> = (0..4u32)
        .map(|w| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        // Same few destinations from every thread: maximum contention.
                        let f = inside(w * per + i, 443 + (i % 3) as u16, TCP);
                        match t.outbound(&f, &[NAT1, NAT2], SYN, Time(0)) {
                            NatOut::Translate { addr, port, .. } => (f, addr, port),
                            o => panic!("{o:?}"),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<_> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let mut seen = HashSet::new();
    for (f, addr, port) in &all {
        assert!(
            seen.insert((*addr, *port, f.dst, f.dport)),
            "mapping shared"
        );
        assert_eq!(
            t.inbound(f.dst, f.dport, *addr, *port, TCP, Time(1)),
            Some((f.src, f.sport))
        );
    }
    assert_eq!(t.stats().active, u64::from(4 * per));
    assert_eq!(t.stats().inserts, u64::from(4 * per));
}

#[test]
fn privatelink_over_ipv6() {
    use std::net::Ipv6Addr;
    let a = |x: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, x));
    let t = PrivateLinkTable::new(1000, 1, 3);
    let f = PlFlow {
        src: a(1),
        sport: 5000,
        endpoint: a(2),
        port: 443,
        proto: TCP,
        zone: 0,
    };
    let o = t.outbound(&f, &[(a(10), 443)], &[a(20)], Time(0)).unwrap();
    assert_eq!((o.target, o.lb), ((a(10), 443), a(20)));
    let b = t.inbound(o.target, o.lb, o.lb_port, TCP, Time(1)).unwrap();
    assert_eq!(
        (b.consumer, b.cport, b.endpoint, b.port),
        (a(1), 5000, a(2), 443)
    );
    // After 350 idle seconds the binding is gone: a late reply is unsolicited.
    assert_eq!(
        t.inbound(o.target, o.lb, o.lb_port, TCP, Time::from_secs(351)),
        None
    );
}

/// A NAT64 binding's inside host is an IPv6 address: the IPv4-only lookup must not invent an
/// IPv4 one for it (it answers `None`), and the lookup over both families returns it as is.
#[test]
fn nat64_binding_is_found_only_as_ipv6() {
    let t = NatTable::new(1000, 1, 1);
    let inside: std::net::Ipv6Addr = "2001:db8:1::10".parse().unwrap();
    let f = NatFlow {
        src: Ipv4Addr::UNSPECIFIED,
        sport: 40000,
        dst: Ipv4Addr::new(198, 51, 100, 7),
        dport: 443,
        proto: TCP,
    };
    let NatOut::Translate { addr, port, .. } = t.outbound64(inside, &f, &[NAT1], SYN, Time(0))
    else {
        panic!("NAT64 flow not translated")
    };
    assert_eq!(t.inbound(f.dst, 443, addr, port, TCP, Time(1)), None);
    assert_eq!(
        t.inbound_any(f.dst, 443, addr, port, TCP, Time(1)),
        Some((IpAddr::V6(inside), 40000))
    );
}
