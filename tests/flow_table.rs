//! The security-group flow table: bound under a flood, expiry on simulated time, sharing
//! between threads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use vpcfwd::flow::Zone;
use vpcfwd::flow::conntrack::tcp_flags::{ACK, FIN, RST, SYN};
use vpcfwd::flow::{
    Admit, ConnState, ConnTable, Dir, FlowKey, FlowTable, IcmpClass, L4, TcpState, Time, Timeouts,
    Tuple,
};
use vpcfwd::wire::IpProtocol;

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

fn admit(tracked: bool) -> Admit {
    Admit {
        tcp_flags: 0,
        tracked,
        zones: [Zone(1), Zone::NONE],
        timeouts: Timeouts::default(),
    }
}

fn flood_tuple(i: u32) -> Tuple {
    // 10.0.0.0/8 sources, one service address in 203.0.113.0/24.
    Tuple::tcp(
        v4(0x0a00_0000 | (i >> 6)),
        1024 + (i & 63) as u16,
        v4(0xcb00_7105),
        443,
    )
}

#[test]
fn flood_of_new_flows_stays_within_the_bound_and_counts_refusals() {
    let (n, bound) = if cfg!(debug_assertions) {
        (200_000u32, 20_000)
    } else {
        (1_000_000, 100_000)
    };
    let t = FlowTable::new(bound);
    let slots_before = t.conns().slots();
    let mut refused = 0u64;
    for i in 0..n {
        let (k, s) = FlowKey::from_tuple(0, &flood_tuple(i));
        let a = Admit {
            tcp_flags: SYN,
            ..admit(true)
        };
        if t.conns().admit(&k, s, &a, Time::from_secs(1)).is_err() {
            refused += 1;
        }
    }
    let st = t.conns().stats();
    assert!(
        st.size as usize <= t.max_entries(),
        "size {} > bound",
        st.size
    );
    assert_eq!(st.inserts + st.refusals, u64::from(n));
    assert_eq!(st.refusals, refused);
    // Hash spread: the table fills to (nearly) its bound before refusing much.
    assert!(
        st.size as f64 >= 0.95 * t.max_entries() as f64,
        "size {}",
        st.size
    );
    assert_eq!(
        t.conns().slots(),
        slots_before,
        "no growth: the slot arrays are fixed"
    );
    println!(
        "flood: {n} new flows into a bound of {} -> size {}, refused {}, memory {} MiB ({:.1} B/entry)",
        t.max_entries(),
        st.size,
        st.refusals,
        t.conns().memory_bytes() >> 20,
        t.conns().bytes_per_entry()
    );
    // Once they idle out (SYN_SENT: 120 s), new flows get in again without a sweep call.
    let later = Time::from_secs(1 + 120);
    let (k, s) = FlowKey::from_tuple(0, &flood_tuple(n + 1));
    assert!(t.conns().admit(&k, s, &admit(true), later).is_ok());
}

fn expires_exactly_at(t: &ConnTable, tuple: Tuple, flags: u8, secs: u64) {
    let (k, s) = FlowKey::from_tuple(0, &tuple);
    let t0 = Time::from_secs(100);
    let hit = t
        .admit(
            &k,
            s,
            &Admit {
                tcp_flags: flags,
                ..admit(true)
            },
            t0,
        )
        .unwrap();
    assert!(hit.new);
    assert_eq!(hit.expires, Time(t0.0 + secs * 1_000_000_000));
    let just_before = Time(hit.expires.0 - 1);
    let back = tuple.reversed();
    let (k2, s2) = FlowKey::from_tuple(0, &back);
    let seen = t
        .lookup(&k2, s2, just_before)
        .expect("alive 1 ns before its timeout");
    assert_eq!(seen.dir, Dir::Reply);
    assert!(
        t.lookup(&k2, s2, hit.expires).is_none(),
        "{tuple:?} expires at {secs} s"
    );
}

#[test]
fn flows_expire_exactly_at_their_idle_timeout_per_kind() {
    let t = ConnTable::new(1000, 4, 7);
    let a = v4(0x0a00_0105);
    let b = v4(0x0a00_0207);
    expires_exactly_at(&t, Tuple::udp(a, 5353, b, 53), 0, 30);
    expires_exactly_at(&t, Tuple::tcp(a, 40000, b, 22), ACK, 432_000);
    expires_exactly_at(&t, Tuple::tcp(a, 40001, b, 22), SYN, 120);
    let icmp = Tuple {
        src: a,
        dst: b,
        proto: IpProtocol::Icmp,
        l4: L4::IcmpQuery {
            class: IcmpClass::Echo,
            id: 9,
        },
    };
    expires_exactly_at(&t, icmp, 0, 30);
    expires_exactly_at(
        &t,
        Tuple {
            src: a,
            dst: b,
            proto: IpProtocol::Unknown(47),
            l4: L4::None,
        },
        0,
        600,
    );
    let a6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let b6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
    expires_exactly_at(&t, Tuple::udp(a6, 1000, b6, 2000), 0, 30);
    assert!(t.stats().expiries >= 6);
}

#[test]
fn tcp_established_lasts_closing_does_not() {
    let t = ConnTable::new(1000, 4, 7);
    let tp = Tuple::tcp(v4(0x0a00_0105), 40000, v4(0x0a00_0207), 22);
    let (k, s) = FlowKey::from_tuple(0, &tp);
    let (rk, rs) = FlowKey::from_tuple(0, &tp.reversed());
    let custom = Timeouts {
        tcp_established: 3600,
        ..Timeouts::default()
    };
    let mut now = Time::from_secs(0);
    t.admit(
        &k,
        s,
        &Admit {
            tcp_flags: SYN,
            timeouts: custom,
            ..admit(true)
        },
        now,
    )
    .unwrap();
    now = Time::from_secs(1);
    let h = t.touch(&rk, rs, SYN | ACK, now).unwrap();
    assert_eq!(
        (h.dir, h.state),
        (Dir::Reply, ConnState::Tcp(TcpState::SynReceived))
    );
    let h = t.touch(&k, s, ACK, now).unwrap();
    assert_eq!(h.state, ConnState::Tcp(TcpState::Established));
    assert_eq!(
        h.expires,
        Time::from_secs(1 + 3600),
        "the ENI's configured timeout"
    );
    // Still there after 59 idle minutes; a FIN each way then shortens its life to 120 s.
    now = Time::from_secs(1 + 3599);
    let h = t.touch(&rk, rs, FIN | ACK, now).unwrap();
    assert_eq!(h.state, ConnState::Tcp(TcpState::FinWait(Dir::Reply)));
    let h = t.touch(&k, s, FIN | ACK, now).unwrap();
    assert_eq!(h.state, ConnState::Tcp(TcpState::TimeWait));
    assert!(t.lookup(&k, s, Time(now.0 + 120_000_000_000 - 1)).is_some());
    assert!(t.lookup(&k, s, Time(now.0 + 120_000_000_000)).is_none());
    // RST: 10 s.
    let tp2 = Tuple::tcp(v4(0x0a00_0105), 40002, v4(0x0a00_0207), 22);
    let (k2, s2) = FlowKey::from_tuple(0, &tp2);
    t.admit(
        &k2,
        s2,
        &Admit {
            tcp_flags: ACK,
            ..admit(true)
        },
        now,
    )
    .unwrap();
    let h = t.touch(&k2, s2.other(), RST, now).unwrap();
    assert_eq!(h.state, ConnState::Tcp(TcpState::Closed));
    assert!(t.lookup(&k2, s2, Time(now.0 + 10_000_000_000)).is_none());
}

#[test]
fn udp_stream_gets_the_longer_timeout_and_untracked_flag_is_kept() {
    let t = ConnTable::new(100, 1, 1);
    let u = Tuple::udp(v4(0x0a00_0105), 4000, v4(0xc633_6407), 4000);
    let (k, s) = FlowKey::from_tuple(0, &u);
    let (rk, rs) = FlowKey::from_tuple(0, &u.reversed());
    let h = t.admit(&k, s, &admit(false), Time::from_secs(0)).unwrap();
    assert!(!h.tracked && h.zones == [Zone(1), Zone::NONE]);
    let h = t.touch(&rk, rs, 0, Time::from_secs(10)).unwrap();
    assert_eq!(h.state, ConnState::Udp { stream: false });
    assert_eq!(h.expires, Time::from_secs(40));
    let h = t.touch(&k, s, 0, Time::from_secs(20)).unwrap();
    assert_eq!(h.state, ConnState::Udp { stream: true });
    assert_eq!(h.expires, Time::from_secs(200));
    assert!(!h.tracked);
    assert!(t.remove(&k));
    assert!(t.lookup(&k, s, Time::from_secs(21)).is_none());
}

#[test]
fn sweep_reclaims_without_lookups() {
    let t = ConnTable::new(256, 2, 3);
    for i in 0..200 {
        let (k, s) = FlowKey::from_tuple(0, &flood_tuple(i));
        t.admit(&k, s, &admit(true), Time::from_secs(0)).unwrap();
    }
    assert_eq!(t.len(), 200, "nothing expired yet, nothing swept");
    assert_eq!(t.sweep(Time::from_secs(29), 1 << 20), 0);
    assert_eq!(t.sweep(Time::from_secs(432_000), 1 << 20), 200);
    assert!(t.is_empty());
    assert_eq!(t.stats().expiries, 200);
}

#[test]
fn threads_share_state_replies_found_from_other_workers() {
    let t = Arc::new(FlowTable::new(200_000));
    let threads = 4u32;
    let per = if cfg!(debug_assertions) {
        10_000u32
    } else {
        40_000
    };
    let hs: Vec<_> = (0..threads)
        .map(|w| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let mut seen = 0u32;
                for i in 0..per {
                    let mine = flood_tuple(w * per + i);
                    let (k, s) = FlowKey::from_tuple(0, &mine);
                    t.conns()
                        .admit(&k, s, &admit(true), Time::from_secs(1))
                        .unwrap();
                    // The reply of another worker's flow, admitted earlier (or not yet).
                    let other = flood_tuple(((w + 1) % threads) * per + i).reversed();
                    let (ok, os) = FlowKey::from_tuple(0, &other);
                    if let Some(h) = t.conns().touch(&ok, os, ACK, Time::from_secs(2)) {
                        assert_eq!(h.dir, Dir::Reply);
                        seen += 1;
                    }
                }
                seen
            })
        })
        .collect();
    let seen: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let st = t.conns().stats();
    assert_eq!(st.inserts, u64::from(threads * per));
    assert_eq!(st.size, u64::from(threads * per));
    assert_eq!(st.refusals, 0);
    // Every flow is now visible from any thread, in the reply direction.
    for i in 0..threads * per {
        let (k, s) = FlowKey::from_tuple(0, &flood_tuple(i).reversed());
        assert_eq!(
            t.conns().lookup(&k, s, Time::from_secs(3)).unwrap().dir,
            Dir::Reply
        );
    }
    println!("replies found across threads while racing: {seen}");
}

mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use vpcfwd::flow::Side;
    use vpcfwd::flow::conntrack::{self, Exchange};

    #[derive(Debug, Clone)]
    enum Op {
        Admit { flow: u8, reply: bool, flags: u8 },
        Touch { flow: u8, reply: bool, flags: u8 },
        Wait { secs: u32 },
        Sweep,
    }

    fn flags() -> impl Strategy<Value = u8> {
        prop_oneof![
            Just(0u8),
            Just(SYN),
            Just(SYN | ACK),
            Just(ACK),
            Just(FIN | ACK),
            Just(RST)
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..24, any::<bool>(), flags()).prop_map(|(flow, reply, flags)| Op::Admit { flow, reply, flags }),
            3 => (0u8..24, any::<bool>(), flags()).prop_map(|(flow, reply, flags)| Op::Touch { flow, reply, flags }),
            1 => (0u32..200).prop_map(|secs| Op::Wait { secs }),
            1 => Just(Op::Sweep),
        ]
    }

    fn tuple(flow: u8) -> Tuple {
        let a = v4(0x0a00_0001);
        let b = v4(0x0a00_0002 + u32::from(flow % 3));
        match flow % 4 {
            0 => Tuple::udp(a, 1000 + u16::from(flow), b, 53),
            1 => Tuple {
                src: a,
                dst: b,
                proto: IpProtocol::Icmp,
                l4: L4::IcmpQuery {
                    class: IcmpClass::Echo,
                    id: u16::from(flow),
                },
            },
            _ => Tuple::tcp(a, 2000 + u16::from(flow), b, 22),
        }
    }

    struct M {
        init: Side,
        state: ConnState,
        ex: Exchange,
        expires: u64,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// The sharded fixed-capacity table against a `HashMap` running the same pure state
        /// functions: same hits, directions, states and deadlines; the bound (16) is never
        /// exceeded, and a refusal happens only when the model holds 16 live flows.
        #[test]
        fn conn_table_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
            let t = ConnTable::new(16, 1, 11);
            let to = Timeouts { tcp_established: 300, ..Timeouts::default() };
            let mut m: HashMap<FlowKey, M> = HashMap::new();
            let mut now = 0u64;
            let ns = |s: u64| Time(s);
            for o in ops {
                match o {
                    Op::Admit { flow, reply, flags } | Op::Touch { flow, reply, flags } => {
                        let is_admit = matches!(o, Op::Admit { .. });
                        let tp = if reply { tuple(flow).reversed() } else { tuple(flow) };
                        let fl = if tp.proto == IpProtocol::Tcp { flags } else { 0 };
                        let (k, side) = FlowKey::from_tuple(0, &tp);
                        m.retain(|_, e| now < e.expires);
                        let got = if is_admit {
                            let a = Admit { tcp_flags: fl, tracked: true, zones: [Zone(1), Zone(2)], timeouts: to };
                            t.admit(&k, side, &a, ns(now)).ok()
                        } else {
                            t.touch(&k, side, fl, ns(now))
                        };
                        match m.get_mut(&k) {
                            Some(e) => {
                                let dir = if side == e.init { Dir::Original } else { Dir::Reply };
                                e.state = conntrack::on_packet(e.state, &mut e.ex, dir, fl);
                                e.expires = conntrack::expiry(e.state, &to, ns(now)).0;
                                let h = got.expect("live flow found");
                                prop_assert_eq!((h.dir, h.state, h.expires.0, h.new), (dir, e.state, e.expires, false));
                            }
                            None if is_admit => {
                                if m.len() < 16 {
                                    let h = got.expect("room for a new flow");
                                    let state = ConnState::initial(tp.proto, fl);
                                    let mut ex = Exchange::default();
                                    ex.count(Dir::Original);
                                    let expires = conntrack::expiry(state, &to, ns(now)).0;
                                    prop_assert_eq!((h.dir, h.state, h.expires.0, h.new), (Dir::Original, state, expires, true));
                                    m.insert(k, M { init: side, state, ex, expires });
                                } else {
                                    prop_assert!(got.is_none(), "refused only when full");
                                }
                            }
                            None => prop_assert!(got.is_none()),
                        }
                    }
                    Op::Wait { secs } => now += u64::from(secs) * 1_000_000_000,
                    Op::Sweep => {
                        t.sweep(ns(now), 64);
                    }
                }
                prop_assert!(t.len() <= 16);
                let live = m.values().filter(|e| now < e.expires).count();
                prop_assert!(t.len() >= live, "live flows are never lost");
                for (k, e) in &m {
                    if now < e.expires {
                        let h = t.lookup(k, e.init, ns(now));
                        prop_assert!(h.is_some_and(|h| h.state == e.state && h.dir == Dir::Original));
                    }
                }
            }
        }
    }
}
