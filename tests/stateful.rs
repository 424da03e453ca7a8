//! The stateful rules of ../shared/docs/vpc-semantics.md (§4, §5, §7) through the pipeline, on
//! simulated time: connection tracking of security groups, tracked vs untracked flows, idle
//! timeouts, NAT gateway and PrivateLink translation both ways.

mod support;

use support::{Pkt, compile, ip, lab, port, rx};
use vpcfwd::config::{self, Config};
use vpcfwd::flow::{FlowTable, Time};
use vpcfwd::pipeline::{self, DropReason, NoTrace, Recorder, ReplyKind, Rx, Stage, Verdict};
use vpcfwd::snapshot::Snapshot;
use vpcfwd::wire::{self, ChecksumMode, IpProtocol};

/// Sends `p` in from port `from` at `secs`; on forwarding, `p` becomes the packet as it left.
fn send(snap: &Snapshot, flows: &FlowTable, from: &str, p: &mut Pkt, secs: u64) -> Verdict {
    let rx = rx(snap, from, secs);
    let v = pipeline::process(snap, flows, &mut p.buf, p.len, rx, &mut NoTrace);
    if let Verdict::Forward { len, .. } | Verdict::Reply { len, .. } = v {
        p.len = len;
    }
    v
}

fn stages(snap: &Snapshot, flows: &FlowTable, from: &str, p: &mut Pkt, secs: u64) -> Vec<Stage> {
    let rx = rx(snap, from, secs);
    let mut rec = Recorder::default();
    pipeline::process(snap, flows, &mut p.buf, p.len, rx, &mut rec);
    rec.0
}

fn egress(snap: &Snapshot, v: Verdict) -> String {
    match v {
        Verdict::Forward { egress, .. } => snap.ports[egress].id.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_reply_passes_on_state_where_rules_would_refuse_it() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    // Unsolicited, the S3 stand-in's packet is refused: sg-app has no such inbound rule.
    let mut stray = Pkt::new("192.0.2.10", "10.0.2.10", IpProtocol::Tcp, 80, 40000);
    assert_eq!(
        send(&snap, &flows, "s3", &mut stray, 1),
        Verdict::Drop(DropReason::SgNoAllow)
    );
    // As the reply of app's request, it passes.
    let mut p = Pkt::new("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 40000, 80);
    assert_eq!(egress(&snap, send(&snap, &flows, "app", &mut p, 1)), "s3");
    p.reply();
    assert_eq!(egress(&snap, send(&snap, &flows, "s3", &mut p, 2)), "app");
}

#[test]
fn nacls_judge_replies_again_although_the_request_passed() {
    let mut cfg = lab();
    let n = cfg
        .network_acls
        .iter_mut()
        .find(|n| n.network_acl_id == "acl-private")
        .unwrap();
    let entries = n.entries.as_mut().unwrap();
    entries.retain(|e| e.egress);
    entries.push(all_traffic(100, false, true, "10.0.0.0/16"));
    let snap = compile(&cfg);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 40000, 80);
    assert_eq!(egress(&snap, send(&snap, &flows, "app", &mut p, 1)), "s3");
    p.reply();
    assert_eq!(
        send(&snap, &flows, "s3", &mut p, 2),
        Verdict::Drop(DropReason::NaclDeny)
    );
}

/// A NACL entry for all protocols and ports.
fn all_traffic(rule_number: u32, egress: bool, allow: bool, cidr: &str) -> config::NetworkAclEntry {
    config::NetworkAclEntry {
        rule_number,
        egress,
        protocol: "-1".into(),
        rule_action: if allow {
            config::RuleAction::Allow
        } else {
            config::RuleAction::Deny
        },
        cidr_block: Some(cidr.parse().unwrap()),
        ipv6_cidr_block: None,
        port_range: None,
        icmp_type_code: None,
    }
}

fn open_both_ways(cfg: &mut Config, group: &str) {
    let g = cfg
        .security_groups
        .iter_mut()
        .find(|g| g.group_id == group)
        .unwrap();
    let rules = g.security_group_rules.as_mut().unwrap();
    for egress in [false, true] {
        rules.push(config::SecurityGroupRule {
            is_egress: egress,
            ip_protocol: "-1".into(),
            cidr_ipv4: Some("0.0.0.0/0".parse().unwrap()),
            ..Default::default()
        });
    }
}

fn has(st: &[Stage], f: impl Fn(&Stage) -> bool) -> bool {
    st.iter().any(f)
}

#[test]
fn flows_allowed_by_any_peer_rules_both_ways_are_untracked_but_icmp_always_is() {
    let mut cfg = lab();
    open_both_ways(&mut cfg, "sg-web");
    let snap = compile(&cfg);
    let flows = FlowTable::new(1024);
    let mut udp = Pkt::new("10.0.1.10", "203.0.113.100", IpProtocol::Udp, 5000, 53);
    let st = stages(&snap, &flows, "web", &mut udp, 1);
    assert!(
        has(&st, |s| matches!(s, Stage::FlowUntracked { .. })),
        "{st:?}"
    );
    assert_eq!(flows.conns().len(), 0, "nothing recorded");
    let mut ping = Pkt::new("10.0.1.10", "203.0.113.100", IpProtocol::Icmp, 0, 0);
    let st = stages(&snap, &flows, "web", &mut ping, 1);
    assert!(
        has(&st, |s| matches!(s, Stage::FlowNew { .. })),
        "ICMP is always tracked: {st:?}"
    );
}

/// §5: an untracked flow stays untracked both ways. sg-web lets TCP 80 in from 0.0.0.0/0 and
/// everything out to 0.0.0.0/0, so a connection from the internet to web:80 is untracked; web's
/// answer (web:80 → the client's port) is that flow's reply, judged by the rules and recorded as
/// nothing, so removing the inbound rule stops the connection at once (rule removal), as AWS
/// says of untracked flows. A connection web opens itself is tracked as before.
#[test]
fn the_reply_of_an_untracked_flow_does_not_make_it_tracked() {
    let cfg = lab();
    let snap = compile(&cfg);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("203.0.113.100", "198.51.100.10", IpProtocol::Tcp, 40000, 80);
    let st = stages(&snap, &flows, "internet", &mut p, 1);
    assert!(
        has(&st, |s| matches!(s, Stage::FlowUntracked { .. })),
        "{st:?}"
    );
    let mut p = Pkt::new("203.0.113.100", "198.51.100.10", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "internet", &mut p, 1)),
        "web"
    );
    p.reply();
    let st = stages(&snap, &flows, "web", &mut p, 1);
    assert!(
        has(&st, |s| matches!(s, Stage::FlowUntracked { .. })),
        "the SYN-ACK is the untracked flow's reply: {st:?}"
    );
    assert!(!has(&st, |s| matches!(s, Stage::FlowNew { .. })), "{st:?}");
    assert_eq!(flows.conns().len(), 0, "nothing recorded either way");

    // The inbound rule removed (a reload: same flow table): the client's next segment is refused.
    let mut cfg2 = cfg.clone();
    let g = cfg2
        .security_groups
        .iter_mut()
        .find(|g| g.group_id == "sg-web")
        .unwrap();
    g.security_group_rules
        .as_mut()
        .unwrap()
        .retain(|r| r.is_egress || r.from_port != Some(80));
    let snap2 = compile(&cfg2);
    let mut ack = Pkt::new("203.0.113.100", "198.51.100.10", IpProtocol::Tcp, 40000, 80);
    ack.reply();
    ack.reply(); // SYN → SYN-ACK → ACK, back in the client's direction
    assert_eq!(
        send(&snap2, &flows, "internet", &mut ack, 2),
        Verdict::Drop(DropReason::SgNoAllow),
        "untracked flows stop at once when their rule goes"
    );

    // A connection web opens (to any port) is still tracked: its reply passes on state.
    let mut out = Pkt::new("10.0.1.10", "203.0.113.100", IpProtocol::Tcp, 45000, 443);
    let st = stages(&snap, &flows, "web", &mut out, 3);
    assert!(has(&st, |s| matches!(s, Stage::FlowNew { .. })), "{st:?}");
}

#[test]
fn flows_through_a_nat_gateway_are_always_tracked() {
    let mut cfg = lab();
    open_both_ways(&mut cfg, "sg-app");
    let snap = compile(&cfg);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Udp, 5000, 53);
    let st = stages(&snap, &flows, "app", &mut p, 1);
    assert!(has(&st, |s| matches!(s, Stage::FlowNew { .. })), "{st:?}");
    assert!(!has(&st, |s| matches!(s, Stage::FlowUntracked { .. })));
}

#[test]
fn udp_flows_idle_out_after_the_enis_timeout() {
    for (configured, at, passes) in [
        (None, 29, true),
        (None, 31, false),
        (Some(60), 45, true),
        (Some(60), 61, false),
    ] {
        let mut cfg = lab();
        let e = cfg
            .network_interfaces
            .iter_mut()
            .find(|e| e.network_interface_id == "eni-app")
            .unwrap();
        e.connection_tracking_configuration =
            configured.map(|u| config::ConnectionTrackingConfiguration {
                udp_timeout: Some(u),
                ..Default::default()
            });
        let snap = compile(&cfg);
        let flows = FlowTable::new(1024);
        // UDP to the S3 stand-in is allowed by no egress rule of sg-app; use the internet via NAT.
        let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Udp, 5000, 53);
        assert_eq!(
            egress(&snap, send(&snap, &flows, "app", &mut p, 0)),
            "internet"
        );
        p.reply();
        let v = send(&snap, &flows, "internet", &mut p, at);
        // Past the timeout the NAT binding (350 s) still maps, but the SG state is gone.
        let want = if passes {
            "app".to_string()
        } else {
            format!("{:?}", Verdict::Drop(DropReason::SgNoAllow))
        };
        assert_eq!(
            egress(&snap, v),
            want,
            "timeout {configured:?}, reply at {at}s"
        );
    }
}

#[test]
fn the_nat_gateway_translates_both_ways_and_refuses_unsolicited_traffic() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "app", &mut p, 1)),
        "internet"
    );
    let out = p.meta();
    assert_eq!(out.src, ip("198.51.100.5"), "source is the Elastic IP");
    assert!(out.sport >= 1024, "NAT ports are 1024-65535");
    assert!(wire::parse(&p.buf[..p.len]).is_ok());
    p.reply();
    assert_eq!(
        egress(&snap, send(&snap, &flows, "internet", &mut p, 2)),
        "app"
    );
    let back = p.meta();
    assert_eq!((back.dst, back.dport), (ip("10.0.2.10"), 40000));
    // A connection opened from outside: no binding.
    let mut stray = Pkt::new("203.0.113.100", "198.51.100.5", IpProtocol::Tcp, 80, 40001);
    assert_eq!(
        send(&snap, &flows, "internet", &mut stray, 2),
        Verdict::Drop(DropReason::Unsolicited)
    );
}

#[test]
fn icmp_echo_through_the_nat_gateway_is_translated_by_identifier() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Icmp, 0, 0);
    let id = p.meta().icmp_id;
    assert_eq!(
        egress(&snap, send(&snap, &flows, "app", &mut p, 1)),
        "internet"
    );
    assert_eq!(p.meta().src, ip("198.51.100.5"));
    assert_eq!(
        wire::checksum::checksum(&p.buf[20..p.len]),
        0,
        "ICMP checksum"
    );
    p.reply();
    assert_eq!(
        egress(&snap, send(&snap, &flows, "internet", &mut p, 2)),
        "app"
    );
    assert_eq!((p.meta().icmp_type, p.meta().icmp_id), (0, id));
}

#[test]
fn a_timed_out_nat_tcp_connection_gets_a_rst() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "app", &mut p, 1)),
        "internet"
    );
    // 351 s later the inside host sends on the idle connection (not a SYN).
    let mut late = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    late.ack();
    let v = send(&snap, &flows, "app", &mut late, 1 + 351);
    let Verdict::Reply {
        egress,
        len,
        reason,
        kind,
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(reason, DropReason::NatIdleTimeout);
    assert_eq!(kind, ReplyKind::TcpRst);
    assert_eq!(snap.ports[egress].id, "app");
    let m = wire::parse(&late.buf[..len]).unwrap();
    assert_eq!(
        (m.src, m.dst, m.sport, m.dport),
        (ip("203.0.113.100"), ip("10.0.2.10"), 80, 40000)
    );
    assert_eq!(m.tcp_flags & 0x04, 0x04, "RST");
}

#[test]
fn nat_gateway_subnet_nacls_apply_to_replies() {
    let mut cfg = lab();
    // The default NACL (NAT subnet) refuses inbound from the internet host: the reply dies there.
    let n = cfg.network_acls.iter_mut().find(|n| n.is_default).unwrap();
    n.entries = Some(vec![
        all_traffic(50, false, false, "203.0.113.0/24"),
        all_traffic(100, false, true, "0.0.0.0/0"),
        all_traffic(100, true, true, "0.0.0.0/0"),
    ]);
    let snap = compile(&cfg);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "app", &mut p, 1)),
        "internet"
    );
    p.reply();
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 2),
        Verdict::Drop(DropReason::NaclDeny)
    );
}

#[test]
fn privatelink_translates_to_a_target_and_back_and_spreads_flows() {
    let snap = compile(&lab());
    let flows = FlowTable::new(4096);
    let mut targets = std::collections::HashSet::new();
    for sport in 40000..40064u16 {
        let mut p = Pkt::new("10.0.2.10", "10.0.2.20", IpProtocol::Tcp, sport, 443);
        assert_eq!(egress(&snap, send(&snap, &flows, "app", &mut p, 1)), "api");
        let m = p.meta();
        assert_eq!(
            m.src,
            ip("192.0.2.129"),
            "the provider sees the load balancer's address"
        );
        assert_eq!(m.dport, 443);
        targets.insert(m.dst);
        p.reply();
        assert_eq!(egress(&snap, send(&snap, &flows, "api", &mut p, 2)), "app");
        let back = p.meta();
        assert_eq!(
            (back.src, back.sport, back.dst, back.dport),
            (ip("10.0.2.20"), 443, ip("10.0.2.10"), sport)
        );
    }
    assert_eq!(
        targets,
        [ip("192.0.2.130"), ip("192.0.2.131")].into_iter().collect()
    );
}

#[test]
fn the_provider_cannot_open_connections_into_the_consumer_vpc() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("192.0.2.130", "192.0.2.129", IpProtocol::Tcp, 443, 50000);
    assert_eq!(
        send(&snap, &flows, "api", &mut p, 1),
        Verdict::Drop(DropReason::Unsolicited)
    );
}

#[test]
fn interface_endpoints_carry_tcp_only() {
    let mut cfg = lab();
    let g = cfg
        .security_groups
        .iter_mut()
        .find(|g| g.group_id == "sg-lab-api")
        .unwrap();
    g.security_group_rules
        .as_mut()
        .unwrap()
        .push(config::SecurityGroupRule {
            is_egress: false,
            ip_protocol: "udp".into(),
            from_port: Some(443),
            to_port: Some(443),
            cidr_ipv4: Some("10.0.0.0/16".parse().unwrap()),
            ..Default::default()
        });
    let app = cfg
        .security_groups
        .iter_mut()
        .find(|g| g.group_id == "sg-app")
        .unwrap();
    app.security_group_rules
        .as_mut()
        .unwrap()
        .push(config::SecurityGroupRule {
            is_egress: true,
            ip_protocol: "udp".into(),
            from_port: Some(443),
            to_port: Some(443),
            cidr_ipv4: Some("10.0.0.0/16".parse().unwrap()),
            ..Default::default()
        });
    let snap = compile(&cfg);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "10.0.2.20", IpProtocol::Udp, 5000, 443);
    assert_eq!(
        send(&snap, &flows, "app", &mut p, 1),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
}

#[test]
fn a_full_flow_table_refuses_new_flows_with_a_reason() {
    let snap = compile(&lab());
    let flows = FlowTable::new(0);
    let mut p = Pkt::new("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        send(&snap, &flows, "app", &mut p, 1),
        Verdict::Drop(DropReason::FlowTableFull)
    );
    assert_eq!(flows.stats().conns.refusals, 1);
}

#[test]
fn the_offload_partial_checksum_is_kept_partial_through_nat() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    let m = p.meta();
    let l4_len = (m.len - m.l4_offset) as u16;
    let partial = |s: std::net::Ipv4Addr, d: std::net::Ipv4Addr| {
        wire::checksum::fold(wire::checksum::pseudo_v4(s, d, IpProtocol::Tcp, l4_len))
    };
    let at = m.l4_offset + 16;
    let before = partial(
        "10.0.2.10".parse().unwrap(),
        "203.0.113.100".parse().unwrap(),
    );
    p.buf[at..at + 2].copy_from_slice(&before.to_be_bytes());
    let rx = Rx {
        ingress: port(&snap, "app"),
        now: Time::from_secs(1),
        csum: ChecksumMode::Partial,
    };
    let v = pipeline::process(&snap, &flows, &mut p.buf, p.len, rx, &mut NoTrace);
    assert!(matches!(v, Verdict::Forward { .. }));
    let got = u16::from_be_bytes([p.buf[at], p.buf[at + 1]]);
    let want = partial(
        "198.51.100.5".parse().unwrap(),
        "203.0.113.100".parse().unwrap(),
    );
    assert!(
        got == want || (got ^ want) == 0xffff && (got == 0 || want == 0),
        "{got:#x} vs {want:#x}"
    );
}

/// An ICMPv4 error from `src` to `dst` quoting the first 28 bytes of `quoted`.
fn icmp_error(src: &str, dst: &str, ty: u8, code: u8, quoted: &[u8]) -> Pkt {
    let mut icmp = vec![ty, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted[..28]);
    let c = wire::checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let s: std::net::Ipv4Addr = src.parse().unwrap();
    let d: std::net::Ipv4Addr = dst.parse().unwrap();
    let mut buf = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        IpProtocol::Icmp.into(),
        0,
        0,
    ];
    buf.extend_from_slice(&s.octets());
    buf.extend_from_slice(&d.octets());
    let c = wire::checksum::checksum(&buf[..20]);
    buf[10..12].copy_from_slice(&c.to_be_bytes());
    buf.extend_from_slice(&icmp);
    let len = buf.len();
    buf.resize(len + 128, 0);
    Pkt { buf, len }
}

#[test]
fn icmp_errors_through_the_nat_gateway_are_translated_back_with_their_quote() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "app", &mut p, 1)),
        "internet"
    );
    // The internet host answers the translated packet with "port unreachable".
    let mut err = icmp_error("203.0.113.100", "198.51.100.5", 3, 3, &p.buf[..p.len]);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "internet", &mut err, 2)),
        "app",
        "related to a tracked flow"
    );
    let m = err.meta();
    assert_eq!(m.dst, ip("10.0.2.10"));
    assert_eq!(
        wire::checksum::checksum(&err.buf[20..err.len]),
        0,
        "ICMP checksum"
    );
    let q = wire::quoted_v4(&err.buf, &m).unwrap();
    assert_eq!(
        (q.meta.src, q.meta.sport, q.meta.dst, q.meta.dport),
        (
            "10.0.2.10".parse().unwrap(),
            40000,
            "203.0.113.100".parse().unwrap(),
            80
        )
    );
    assert_eq!(
        wire::checksum::checksum(&err.buf[q.ip..q.ip + 20]),
        0,
        "quoted header checksum"
    );
    // An error quoting a packet the NAT gateway never sent is unsolicited.
    let other = Pkt::new("198.51.100.5", "203.0.113.100", IpProtocol::Tcp, 1111, 80);
    let mut stray = icmp_error(
        "203.0.113.100",
        "198.51.100.5",
        3,
        3,
        &other.buf[..other.len],
    );
    assert_eq!(
        send(&snap, &flows, "internet", &mut stray, 2),
        Verdict::Drop(DropReason::Unsolicited)
    );
}

/// An ICMP error is keyed by the tuple of the packet it quotes, built as for a live packet:
/// an error quoting a tracked echo request finds the echo's flow (`IcmpQuery` by identifier),
/// so it passes ingress groups whose rules alone would refuse it.
#[test]
fn an_icmp_error_quoting_a_tracked_echo_passes_as_part_of_its_flow() {
    let snap = compile(&lab());
    let flows = FlowTable::new(1024);
    let mut ping = Pkt::new("10.0.2.10", "10.0.1.10", IpProtocol::Icmp, 0, 0);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "app", &mut ping, 1)),
        "web"
    );
    // web answers "host unreachable"; sg-app's ingress rules allow ICMP echo requests only.
    let quote = ping.buf[..ping.len].to_vec();
    let mut err = icmp_error("10.0.1.10", "10.0.2.10", 3, 1, &quote);
    let st = stages(&snap, &flows, "web", &mut err, 2);
    assert!(
        has(&st, |s| matches!(s, Stage::Flow { egress: false, .. })),
        "app's ingress: part of the echo's flow: {st:?}"
    );
    let mut err = icmp_error("10.0.1.10", "10.0.2.10", 3, 1, &quote);
    assert_eq!(
        egress(&snap, send(&snap, &flows, "web", &mut err, 2)),
        "app"
    );
    // The same error quoting an echo of no flow (another identifier) is judged by the rules.
    let mut stray = quote.clone();
    let id_at = wire::parse(&quote).unwrap().l4_offset + 4;
    stray[id_at..id_at + 2].copy_from_slice(&0x9999u16.to_be_bytes());
    let mut err = icmp_error("10.0.1.10", "10.0.2.10", 3, 1, &stray);
    assert_eq!(
        send(&snap, &flows, "web", &mut err, 2),
        Verdict::Drop(DropReason::SgNoAllow)
    );
}
