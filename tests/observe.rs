//! What the observer makes of the pipeline's decisions (sans-IO, on the lab): the flow-log
//! records of §10 — which ENI logs what, ACCEPT or REJECT, what is not logged — and the
//! per-object counters, checked against the trace of the same packets. Also: counters and
//! zones across a reload, and the flow-log aggregator against a naive model (proptest).

mod support;

use proptest::prelude::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use support::{lab, pkt, reply, rx};
use vpcfwd::flow::FlowTable;
use vpcfwd::observe::flowlog::{Aggregator, Key};
use vpcfwd::observe::metrics::Registry;
use vpcfwd::observe::{Five, Layout, Observer};
use vpcfwd::pipeline::{self, Verdict};
use vpcfwd::snapshot::{self, Snapshot};
use vpcfwd::wire::{self, IpProtocol};

struct Out {
    v: Verdict,
    /// (ENI id, src, dst, sport, dport, ACCEPT?)
    records: Vec<(String, String, String, u16, u16, bool)>,
    obs: Observer,
}

/// Sends a packet into the pipeline with an observer, as a worker with flow logs does; `buf`
/// keeps the packet as it left (for replies).
fn send(snap: &Snapshot, flows: &FlowTable, from: &str, buf: &mut Vec<u8>, secs: u64) -> Out {
    let len = wire::parse(buf).unwrap().len;
    buf.resize(len + 128, 0);
    let rx = rx(snap, from, secs);
    let ingress = rx.ingress;
    let mut obs = Observer::new(true);
    let v = pipeline::process(snap, flows, buf, len, rx, &mut obs);
    let kind = Some(snap.ports[ingress].kind);
    let records = obs
        .records(snap, kind, &v)
        .into_iter()
        .flatten()
        .map(|(e, f, a)| {
            (
                snap.enis[e].id.clone(),
                f.src.to_string(),
                f.dst.to_string(),
                f.sport,
                f.dport,
                a,
            )
        })
        .collect();
    let out_len = match v {
        Verdict::Forward { len, .. } | Verdict::Reply { len, .. } | Verdict::Answer { len, .. } => {
            len
        }
        Verdict::Drop(_) => len,
    };
    buf.truncate(out_len);
    Out { v, records, obs }
}

fn rec(
    eni: &str,
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    accept: bool,
) -> (String, String, String, u16, u16, bool) {
    (eni.into(), src.into(), dst.into(), sport, dport, accept)
}

#[test]
fn an_accepted_flow_is_logged_by_both_enis_from_their_point_of_view() {
    let snap = snapshot::compile(&lab()).unwrap();
    let flows = FlowTable::new(1024);
    let mut p = pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 40000, 22);
    let o = send(&snap, &flows, "web", &mut p, 1);
    assert!(matches!(o.v, Verdict::Forward { .. }));
    assert_eq!(
        o.records,
        vec![
            rec("eni-web", "10.0.1.10", "10.0.2.10", 40000, 22, true),
            rec("eni-app", "10.0.1.10", "10.0.2.10", 40000, 22, true),
        ]
    );
    reply(&mut p);
    let o = send(&snap, &flows, "app", &mut p, 1);
    assert_eq!(
        o.records,
        vec![
            rec("eni-app", "10.0.2.10", "10.0.1.10", 22, 40000, true),
            rec("eni-web", "10.0.2.10", "10.0.1.10", 22, 40000, true),
        ]
    );
}

#[test]
fn an_sg_inbound_reject_is_one_reject_record_at_the_refusing_eni() {
    let snap = snapshot::compile(&lab()).unwrap();
    let flows = FlowTable::new(1024);
    let o = send(
        &snap,
        &flows,
        "web",
        &mut pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 40001, 8080),
        1,
    );
    assert!(matches!(o.v, Verdict::Drop(_)));
    let rejects: Vec<_> = o.records.iter().filter(|r| !r.5).collect();
    assert_eq!(
        rejects,
        vec![&rec(
            "eni-app",
            "10.0.1.10",
            "10.0.2.10",
            40001,
            8080,
            false
        )]
    );
}

#[test]
fn a_nacl_egress_deny_is_a_reject_at_the_sending_eni() {
    let snap = snapshot::compile(&lab()).unwrap();
    let flows = FlowTable::new(1024);
    let o = send(
        &snap,
        &flows,
        "app",
        &mut pkt("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40002, 23),
        1,
    );
    assert_eq!(
        o.records,
        vec![rec(
            "eni-app",
            "10.0.2.10",
            "203.0.113.100",
            40002,
            23,
            false
        )]
    );
}

#[test]
fn a_reply_blocked_only_by_a_nacl_is_request_accept_and_reply_reject() {
    // acl-private admits inbound from the VPC only.
    let mut cfg = lab();
    let acl = cfg
        .network_acls
        .iter_mut()
        .find(|a| a.network_acl_id == "acl-private")
        .unwrap();
    for e in acl.entries.iter_mut().flatten() {
        if !e.egress {
            e.cidr_block = Some("10.0.0.0/16".parse().unwrap());
        }
    }
    let snap = snapshot::compile(&cfg).unwrap();
    let flows = FlowTable::new(1024);
    let mut p = pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 40003, 80);
    let o = send(&snap, &flows, "app", &mut p, 1);
    assert_eq!(
        o.records,
        vec![rec("eni-app", "10.0.2.10", "192.0.2.10", 40003, 80, true)]
    );
    reply(&mut p);
    let o = send(&snap, &flows, "s3", &mut p, 1);
    assert!(matches!(o.v, Verdict::Drop(_)));
    assert_eq!(
        o.records,
        vec![rec("eni-app", "192.0.2.10", "10.0.2.10", 80, 40003, false)]
    );
}

#[test]
fn nat_and_igw_records_show_private_addresses() {
    let snap = snapshot::compile(&lab()).unwrap();
    let flows = FlowTable::new(1024);
    let mut p = pkt("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40004, 80);
    let o = send(&snap, &flows, "app", &mut p, 1);
    assert_eq!(
        o.records,
        vec![rec(
            "eni-app",
            "10.0.2.10",
            "203.0.113.100",
            40004,
            80,
            true
        )]
    );
    reply(&mut p);
    let o = send(&snap, &flows, "internet", &mut p, 1);
    assert!(matches!(o.v, Verdict::Forward { .. }));
    assert_eq!(
        o.records,
        vec![rec(
            "eni-app",
            "203.0.113.100",
            "10.0.2.10",
            80,
            40004,
            true
        )]
    );
    // From the internet to web's public IP: logged at eni-web with its private address.
    let o = send(
        &snap,
        &flows,
        "internet",
        &mut pkt("203.0.113.100", "198.51.100.10", IpProtocol::Tcp, 50000, 80),
        1,
    );
    assert_eq!(
        o.records,
        vec![rec(
            "eni-web",
            "203.0.113.100",
            "10.0.1.10",
            50000,
            80,
            true
        )]
    );
}

#[test]
fn traffic_aws_does_not_log_gives_no_record() {
    let snap = snapshot::compile(&lab()).unwrap();
    let flows = FlowTable::new(1024);
    for (dst, proto, sport, dport) in [
        ("10.0.0.2", IpProtocol::Udp, 40000, 53), // the VPC resolver
        ("10.0.0.1", IpProtocol::Tcp, 40000, 80), // the VPC router
        ("169.254.169.254", IpProtocol::Tcp, 40000, 80), // instance metadata
        ("169.254.169.123", IpProtocol::Udp, 40000, 123), // Time Sync
        ("10.0.2.10", IpProtocol::Udp, 68, 67),   // DHCP
    ] {
        let o = send(
            &snap,
            &flows,
            "web",
            &mut pkt("10.0.1.10", dst, proto, sport, dport),
            1,
        );
        assert!(o.records.is_empty(), "{dst}: {:?}", o.records);
    }
}

#[test]
fn counters_name_the_objects_that_decided() {
    let snap = Arc::new(snapshot::compile(&lab()).unwrap());
    let reg = Registry::new();
    let block = reg.block(Arc::clone(&snap), Arc::new(Layout::new(&snap)));
    let flows = FlowTable::new(1024);
    let cases = [
        ("web", "10.0.1.10", "10.0.2.10", 8080), // SG_NO_ALLOW at eni-app
        ("app", "10.0.2.10", "203.0.113.100", 23), // NACL acl-private egress rule 90
        ("app", "10.0.2.10", "203.0.113.200", 80), // blackhole in rtb-private
        ("web", "10.0.1.10", "203.0.113.100", 80), // ACCEPT via the IGW
    ];
    for (from, src, dst, dport) in cases {
        let mut p = pkt(src, dst, IpProtocol::Tcp, 40000, dport);
        let o = send(&snap, &flows, from, &mut p, 1);
        block.decision(&o.obs, &o.v);
    }
    let t = reg.totals();
    let get = |name: &str, labels: &[(&str, &str)]| -> u64 {
        t.iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v)
            .sum()
    };
    assert_eq!(get("vpcfwd_drops_total", &[("reason", "SG_NO_ALLOW")]), 1);
    assert_eq!(get("vpcfwd_drops_total", &[("reason", "NACL_DENY")]), 1);
    assert_eq!(
        get("vpcfwd_drops_total", &[("reason", "BLACKHOLE_ROUTE")]),
        1
    );
    assert_eq!(
        get(
            "vpcfwd_sg_drops_total",
            &[("network_interface", "eni-app"), ("direction", "ingress")]
        ),
        1
    );
    assert_eq!(
        get(
            "vpcfwd_nacl_drops_total",
            &[
                ("network_acl", "acl-private"),
                ("direction", "egress"),
                ("rule", "90")
            ]
        ),
        1
    );
    assert_eq!(
        get(
            "vpcfwd_route_table_drops_total",
            &[
                ("route_table", "rtb-private"),
                ("reason", "BLACKHOLE_ROUTE")
            ]
        ),
        1
    );
    assert_eq!(
        get(
            "vpcfwd_route_hits_total",
            &[("route_table", "rtb-public"), ("destination", "0.0.0.0/0")]
        ),
        1
    );
    // web -> app crossed acl-default outbound and acl-private inbound (rule 100 each).
    assert_eq!(
        get(
            "vpcfwd_nacl_rule_hits_total",
            &[
                ("network_acl", "acl-private"),
                ("direction", "ingress"),
                ("rule", "100")
            ]
        ),
        1
    );
    // A retired block's counts survive (a reload gives workers new blocks).
    block.retire();
    let again = reg.totals();
    assert_eq!(again, t);
}

#[test]
fn a_reload_keeps_each_enis_flow_zone_and_never_reuses_one() {
    let cfg = lab();
    let s1 = snapshot::compile(&cfg).unwrap();
    let zone = |s: &Snapshot, id: &str| s.enis.iter().find(|e| e.id == id).map(|e| e.zone);
    // Reordered ENIs, one removed: indices change, zones do not.
    let mut cfg2 = cfg.clone();
    cfg2.network_interfaces.reverse();
    let removed = cfg2
        .network_interfaces
        .iter()
        .position(|e| e.network_interface_id == "eni-lab-api-a")
        .unwrap();
    let gone = cfg2.network_interfaces.remove(removed);
    cfg2.vpc_endpoints.iter_mut().for_each(|e| {
        e.network_interface_ids
            .retain(|i| *i != gone.network_interface_id)
    });
    let s2 = snapshot::compile_after(&cfg2, Some(&s1)).unwrap();
    for id in ["eni-web", "eni-app", "eni-lab-api-b"] {
        assert_eq!(zone(&s1, id), zone(&s2, id), "{id}");
    }
    // Back again: the ENI is new to s2, so it gets a zone never used (not its old one).
    let s3 = snapshot::compile_after(&cfg, Some(&s2)).unwrap();
    let z = zone(&s3, "eni-lab-api-a").unwrap();
    assert!(s1.enis.iter().all(|e| e.zone != z), "zone {z} is fresh");
    assert_eq!(zone(&s3, "eni-web"), zone(&s1, "eni-web"));
}

fn five(sport: u16) -> Five {
    Five {
        src: IpAddr::from([10, 0, 1, 10]),
        dst: IpAddr::from([203, 0, 113, 100]),
        sport,
        dport: 80,
        proto: IpProtocol::Tcp.into(),
    }
}

proptest! {
    /// The bounded aggregator against a plain map: same sums per key while under the bound,
    /// every key beyond it counted as skipped, nothing lost or double counted.
    #[test]
    fn aggregator_matches_a_naive_model(
        ops in proptest::collection::vec((0u16..3, 0u16..40, any::<bool>(), 1u64..1500, 0u64..5), 1..300),
        cap in 1usize..50,
    ) {
        let mut a = Aggregator::new(cap, 60, 6000);
        let mut model: HashMap<Key, (u64, u64, u64, u64)> = HashMap::new();
        let mut order: Vec<Key> = Vec::new();
        let mut skipped: HashMap<u16, u64> = HashMap::new();
        let mut t = 6000;
        for (zone, sport, accept, bytes, dt) in ops {
            t += dt;
            let t = t.min(6059);
            let k = Key { zone, five: five(sport), accept };
            a.add(k, 1, bytes, t);
            if let Some(m) = model.get_mut(&k) {
                m.0 += 1; m.1 += bytes; m.3 = t;
            } else if model.len() < cap {
                model.insert(k, (1, bytes, t, t));
                order.push(k);
            } else {
                *skipped.entry(zone).or_default() += 1;
            }
        }
        let b = a.take(6060, None);
        prop_assert_eq!(b.interval, 6000);
        let got: HashMap<Key, (u64, u64, u64, u64)> = b
            .records
            .iter()
            .map(|(k, g)| (*k, (g.packets, g.bytes, g.first, g.last)))
            .collect();
        prop_assert_eq!(got, model);
        let got_skipped: HashMap<u16, u64> = b.skipped.into_iter().collect();
        prop_assert_eq!(got_skipped, skipped);
        prop_assert!(a.is_empty());
    }
}
