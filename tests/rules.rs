//! One test per AWS rule of ../shared/docs/vpc-semantics.md that the stateless pipeline covers.
//! Each starts from configs/lab.yaml, changes what the rule is about, and checks the verdict (and
//! where it matters the bytes that leave), so that breaking the rule fails the test.

mod support;

use std::net::IpAddr;
use support::{
    cidr_route, compile, eni, lab, nacl, nacl_entry, pl, probe_pkt as pkt, rtb, rx, sg, sg_rule,
};
use vpcfwd::config::{self, Config};
use vpcfwd::flow::FlowTable;
use vpcfwd::pipeline::{self, DropReason, MalformedKind, NoTrace, ReplyKind, Verdict};
use vpcfwd::snapshot::Snapshot;
use vpcfwd::trace::{Probe, trace};
use vpcfwd::wire::{self, IpProtocol};

/// The verdict line of a trace.
fn verdict(cfg: &Config, from: &str, dst: &str, proto: IpProtocol, dport: u16) -> String {
    verdict_src(cfg, from, None, dst, proto, dport)
}

fn verdict_src(
    cfg: &Config,
    from: &str,
    src: Option<&str>,
    dst: &str,
    proto: IpProtocol,
    dport: u16,
) -> String {
    let snap = compile(cfg);
    let p = Probe {
        from: from.into(),
        src: src.map(|s| s.parse().unwrap()),
        dst: dst.parse().unwrap(),
        proto,
        sport: 49152,
        dport,
        icmp: (8, 0),
        reply: false,
    };
    trace(&snap, cfg, &p).unwrap().verdict_line()
}

/// Full trace text, for rules whose reason must be visible.
fn trace_text(cfg: &Config, from: &str, dst: &str, proto: IpProtocol, dport: u16) -> String {
    let snap = compile(cfg);
    let p = Probe {
        from: from.into(),
        src: None,
        dst: dst.parse().unwrap(),
        proto,
        sport: 49152,
        dport,
        icmp: (8, 0),
        reply: false,
    };
    trace(&snap, cfg, &p).unwrap().text()
}

/// Runs raw bytes through the pipeline from `port`; returns the verdict and the bytes after.
fn run(snap: &Snapshot, port: &str, mut pkt: Vec<u8>) -> (Verdict, Vec<u8>) {
    let len = pkt.len();
    pkt.resize(len + 128, 0);
    let rx = rx(snap, port, 0);
    let v = pipeline::process(snap, &FlowTable::new(16), &mut pkt, len, rx, &mut NoTrace);
    (v, pkt)
}

const ACCEPT_INTERNET: &str = "verdict: ACCEPT egress=internet";

// ---- §1 Route tables -------------------------------------------------------------------------

#[test]
fn a_subnet_without_association_uses_the_main_route_table() {
    let mut cfg = lab();
    // Drop the public subnet's association: it falls back to rtb-main (local routes only).
    rtb(&mut cfg, "rtb-public").associations.clear();
    assert_eq!(
        verdict(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: DROP reason=NO_ROUTE"
    );
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 22),
        "verdict: ACCEPT egress=app"
    );
}

#[test]
fn lookup_uses_the_table_of_the_subnet_the_packet_leaves() {
    let cfg = lab();
    let web = trace_text(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80);
    let app = trace_text(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80);
    assert!(web.contains("rtb-public: 0.0.0.0/0 -> igw-lab"), "{web}");
    assert!(app.contains("rtb-private: 0.0.0.0/0 -> nat-lab"), "{app}");
}

#[test]
fn every_table_has_a_local_route_per_vpc_cidr() {
    let mut cfg = lab();
    cfg.vpcs[0]
        .cidr_block_association_set
        .push(config::CidrBlockAssociation {
            cidr_block: "10.1.0.0/16".parse().unwrap(),
        });
    cfg.subnets.push(config::Subnet {
        subnet_id: "subnet-extra".into(),
        vpc_id: "vpc-lab".into(),
        cidr_block: Some("10.1.0.0/24".parse().unwrap()),
        ipv6_cidr_block_association_set: vec![],
        ipv6_native: None,
        enable_dns64: None,
        availability_zone: Some("us-east-1a".into()),
        availability_zone_id: None,
        tags: vec![],
    });
    let mut db = eni(&mut cfg, "eni-app").clone();
    db.network_interface_id = "eni-db".into();
    db.subnet_id = "subnet-extra".into();
    db.private_ip_address = Some("10.1.0.10".parse().unwrap());
    db.groups = vec![config::GroupIdentifier {
        group_id: "sg-web".into(),
        group_name: None,
    }];
    cfg.network_interfaces.push(db);
    cfg.ports.push(config::Port {
        port_id: "db".into(),
        network_interface_id: Some("eni-db".into()),
        ..Default::default()
    });
    let t = trace_text(&cfg, "web", "10.1.0.10", IpProtocol::Tcp, 80);
    assert!(t.contains("rtb-public: 10.1.0.0/16 -> local"), "{t}");
    assert!(t.ends_with("verdict: ACCEPT egress=db\n"), "{t}");
}

#[test]
fn a_more_specific_route_wins_whatever_its_kind() {
    let mut cfg = lab();
    // A prefix-list /25 beats the static /0 default route.
    cfg.managed_prefix_lists
        .push(pl("pl-partners", "partners", &["203.0.113.0/25"]));
    rtb(&mut cfg, "rtb-public").routes.push(config::Route {
        destination_prefix_list_id: Some("pl-partners".into()),
        network_interface_id: Some("eni-app".into()),
        ..Default::default()
    });
    let t = trace_text(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 22);
    assert!(
        t.contains("203.0.113.0/25 -> eni-app (longest prefix /25, prefix-list pl-partners"),
        "{t}"
    );
}

#[test]
fn on_a_tie_a_static_cidr_route_beats_a_prefix_list_route() {
    let mut cfg = lab();
    cfg.managed_prefix_lists
        .push(pl("pl-partners", "partners", &["203.0.113.0/24"]));
    let r = rtb(&mut cfg, "rtb-public");
    r.routes.push(config::Route {
        destination_prefix_list_id: Some("pl-partners".into()),
        network_interface_id: Some("eni-app".into()),
        ..Default::default()
    });
    r.routes.push(cidr_route("203.0.113.0/24", "igw-lab"));
    let t = trace_text(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80);
    assert!(
        t.contains("203.0.113.0/24 -> igw-lab (longest prefix /24, static CIDR)"),
        "{t}"
    );
    assert!(
        t.contains("static CIDR route beats prefix-list route to eni-app"),
        "{t}"
    );
    assert!(t.ends_with(&format!("{ACCEPT_INTERNET}\n")));
}

#[test]
fn on_a_tie_a_prefix_list_route_beats_a_propagated_route() {
    let mut cfg = lab();
    cfg.managed_prefix_lists
        .push(pl("pl-partners", "partners", &["203.0.113.0/24"]));
    let r = rtb(&mut cfg, "rtb-public");
    let mut prop = cidr_route("203.0.113.0/24", "eni-app");
    prop.origin = Some(config::RouteOrigin::EnableVgwRoutePropagation);
    r.routes.push(prop);
    r.routes.push(config::Route {
        destination_prefix_list_id: Some("pl-partners".into()),
        gateway_id: Some("igw-lab".into()),
        ..Default::default()
    });
    let t = trace_text(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80);
    assert!(
        t.contains("-> igw-lab (longest prefix /24, prefix-list pl-partners"),
        "{t}"
    );
    assert!(t.contains("beats propagated route to eni-app"), "{t}");
}

#[test]
fn two_prefix_lists_sharing_an_entry_resolve_to_the_lowest_id() {
    let mut cfg = lab();
    cfg.managed_prefix_lists
        .push(pl("pl-bbb", "b", &["203.0.113.0/24"]));
    cfg.managed_prefix_lists
        .push(pl("pl-aaa", "a", &["203.0.113.0/24"]));
    let r = rtb(&mut cfg, "rtb-public");
    r.routes.push(config::Route {
        destination_prefix_list_id: Some("pl-bbb".into()),
        network_interface_id: Some("eni-app".into()),
        ..Default::default()
    });
    r.routes.push(config::Route {
        destination_prefix_list_id: Some("pl-aaa".into()),
        gateway_id: Some("igw-lab".into()),
        ..Default::default()
    });
    let t = trace_text(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80);
    assert!(t.contains("prefix-list pl-aaa entry 203.0.113.0/24"), "{t}");
    assert!(
        t.contains("prefix list pl-aaa beats pl-bbb (lowest id wins)"),
        "{t}"
    );
}

#[test]
fn routes_to_a_gone_target_are_blackholes() {
    // Declared blackhole, and a deleted NAT gateway, are in the lab; a detached IGW too:
    let mut cfg = lab();
    cfg.internet_gateways[0].attachments.clear();
    assert_eq!(
        verdict(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: DROP reason=BLACKHOLE_ROUTE"
    );
    let cfg = lab();
    assert_eq!(
        verdict(&cfg, "web", "192.0.2.200", IpProtocol::Tcp, 80),
        "verdict: DROP reason=BLACKHOLE_ROUTE"
    );
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.129", IpProtocol::Tcp, 80),
        "verdict: DROP reason=BLACKHOLE_ROUTE"
    );
}

fn with_ipv6(cfg: &mut Config) {
    cfg.subnets[1]
        .ipv6_cidr_block_association_set
        .push(config::Ipv6CidrBlockAssociation {
            ipv6_cidr_block: "2001:db8:10:2::/64".parse().unwrap(),
        });
    eni(cfg, "eni-app")
        .ipv6_addresses
        .push(config::Ipv6Address {
            ipv6_address: "2001:db8:10:2::10".parse().unwrap(),
        });
    let s = sg(cfg, "sg-app");
    s.security_group_rules
        .as_mut()
        .unwrap()
        .push(config::SecurityGroupRule {
            is_egress: true,
            ip_protocol: "-1".into(),
            cidr_ipv6: Some("::/0".parse().unwrap()),
            ..Default::default()
        });
    let n = nacl(cfg, "acl-private");
    for egress in [true, false] {
        n.entries.as_mut().unwrap().push(config::NetworkAclEntry {
            rule_number: 101,
            egress,
            protocol: "-1".into(),
            rule_action: config::RuleAction::Allow,
            cidr_block: None,
            ipv6_cidr_block: Some("::/0".parse().unwrap()),
            port_range: None,
            icmp_type_code: None,
        });
    }
}

#[test]
fn reserved_destinations_are_never_forwarded() {
    let mut cfg = lab();
    with_ipv6(&mut cfg);
    assert_eq!(
        verdict(&cfg, "app", "169.254.168.10", IpProtocol::Udp, 53),
        "verdict: DROP reason=RESERVED_DESTINATION"
    );
    assert_eq!(
        verdict(&cfg, "app", "fd00:ec2::23", IpProtocol::Udp, 53),
        "verdict: DROP reason=RESERVED_DESTINATION"
    );
}

#[test]
fn ipv4_and_ipv6_are_looked_up_independently() {
    let mut cfg = lab();
    with_ipv6(&mut cfg);
    // The v4 default route (via NAT) does not carry IPv6.
    assert_eq!(
        verdict(&cfg, "app", "2001:db8:99::1", IpProtocol::Tcp, 80),
        "verdict: DROP reason=NO_ROUTE"
    );
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80),
        ACCEPT_INTERNET
    );
    let mut v6 = config::Route {
        destination_ipv6_cidr_block: Some("::/0".parse().unwrap()),
        gateway_id: Some("igw-lab".into()),
        ..Default::default()
    };
    v6.state = None;
    rtb(&mut cfg, "rtb-private").routes.push(v6);
    assert_eq!(
        verdict(&cfg, "app", "2001:db8:99::1", IpProtocol::Tcp, 80),
        ACCEPT_INTERNET
    );
    // And the v4 route is unchanged.
    assert!(trace_text(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80).contains("-> nat-lab"));
}

#[test]
fn ipv6_without_vpc_ipv6_is_dropped() {
    let mut cfg = lab();
    cfg.vpcs[0].ipv6_cidr_block_association_set.clear();
    let snap = compile(&cfg);
    let (v, _) = run(
        &snap,
        "app",
        pkt("2001:db8:10::10", "2001:db8:99::1", IpProtocol::Tcp, 80, 64),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Ipv6NotEnabled));
}

#[test]
fn the_vpc_router_does_not_decrement_ttl() {
    let snap = compile(&lab());
    let (v, out) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 64),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(wire::parse(&out).unwrap().ttl, 64);
    // TTL 1 is forwarded too: the VPC router is not a hop.
    let (v, _) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 1),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    // And drops are silent.
    let (v, _) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "203.0.113.200", IpProtocol::Tcp, 80, 64),
    );
    assert_eq!(v, Verdict::Drop(DropReason::BlackholeRoute));
}

/// The length of the ICMP time-exceeded reply `v` must be, sent back out of port app.
fn time_exceeded_to_app(snap: &Snapshot, v: Verdict) -> usize {
    let Verdict::Reply {
        egress,
        len,
        reason,
        kind,
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(
        (reason, kind),
        (DropReason::TtlExceeded, ReplyKind::IcmpError)
    );
    assert_eq!(snap.ports[egress].id, "app");
    len
}

#[test]
fn router_mode_decrements_ttl_and_answers_with_icmp() {
    let mut cfg = lab();
    cfg.options.router_mode = true;
    let snap = compile(&cfg);
    let (v, out) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 64),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(
        wire::parse(&out).unwrap().ttl,
        63,
        "decremented, checksum valid"
    );
    let (v, out) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 1),
    );
    let len = time_exceeded_to_app(&snap, v);
    let m = wire::parse(&out[..len]).unwrap();
    assert_eq!(
        (m.proto, m.icmp_type, m.dst),
        (IpProtocol::Icmp, 11, "10.0.2.10".parse::<IpAddr>().unwrap())
    );
    assert_eq!(wire::checksum::checksum(&out[20..len]), 0, "ICMP checksum");
    let (v, out) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "203.0.113.200", IpProtocol::Udp, 80, 64),
    );
    let Verdict::Reply { len, reason, .. } = v else {
        panic!("{v:?}")
    };
    assert_eq!(reason, DropReason::BlackholeRoute);
    assert_eq!(wire::parse(&out[..len]).unwrap().icmp_type, 3);
}

/// Router mode through the NAT gateway: a packet that expires at the second hop (the public
/// route table, after the gateway rewrote its source to the Elastic IP) is answered as the
/// gateway would translate that router's error back: to the instance, out of its port, quoting
/// the packet the instance sent (private source and port), checksums valid.
#[test]
fn router_mode_error_behind_the_nat_gateway_goes_back_to_the_instance() {
    let mut cfg = lab();
    cfg.options.router_mode = true;
    let snap = compile(&cfg);
    let (v, out) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "203.0.113.100", IpProtocol::Udp, 33434, 2),
    );
    let len = time_exceeded_to_app(&snap, v);
    let m = wire::parse(&out[..len]).unwrap();
    assert_eq!(
        (m.icmp_type, m.src, m.dst),
        (
            11,
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "10.0.2.10".parse::<IpAddr>().unwrap()
        ),
        "from the VPC router to the instance, not to the Elastic IP"
    );
    assert_eq!(wire::checksum::checksum(&out[20..len]), 0, "ICMP checksum");
    let q = &out[28..len];
    assert_eq!(&q[12..16], &[10, 0, 2, 10], "quoted source: the instance");
    assert_eq!(&q[16..20], &[203, 0, 113, 100], "quoted destination");
    assert_eq!(
        u16::from_be_bytes([q[20], q[21]]),
        49152,
        "quoted source port"
    );
    assert_eq!(q[8], 1, "quoted TTL: as it expired");
    assert_eq!(
        wire::checksum::checksum(&q[..20]),
        0,
        "quoted IP header checksum"
    );
    // TTL 3 crosses both hops.
    let (v, _) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "203.0.113.100", IpProtocol::Udp, 33434, 3),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
}

#[test]
fn an_eni_target_is_subject_to_its_source_destination_check() {
    let mut cfg = lab();
    rtb(&mut cfg, "rtb-private")
        .routes
        .push(cidr_route("203.0.113.0/25", "eni-web"));
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: DROP reason=SRC_DST_CHECK"
    );
    eni(&mut cfg, "eni-web").source_dest_check = Some(false);
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: ACCEPT egress=web"
    );
}

// ---- §2/§3 Prefix lists and gateway endpoints -----------------------------------------------

#[test]
fn the_gateway_endpoint_route_exists_only_while_associated() {
    let mut cfg = lab();
    assert_eq!(
        verdict(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80),
        "verdict: ACCEPT egress=s3"
    );
    cfg.vpc_endpoints[0].route_table_ids.clear();
    // Without the endpoint route, S3 addresses follow the default route to the NAT gateway.
    let t = trace_text(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80);
    assert!(t.contains("0.0.0.0/0 -> nat-lab"), "{t}");
}

#[test]
fn a_more_specific_or_equal_cidr_route_overrides_the_endpoint_route() {
    let mut cfg = lab();
    rtb(&mut cfg, "rtb-private")
        .routes
        .push(cidr_route("192.0.2.0/27", "nat-lab"));
    assert!(
        trace_text(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80)
            .contains("192.0.2.0/27 -> nat-lab")
    );
    // Outside the /27 the endpoint route still applies.
    assert_eq!(
        verdict(&cfg, "app", "192.0.2.40", IpProtocol::Tcp, 80),
        "verdict: ACCEPT egress=s3"
    );
    let mut cfg = lab();
    rtb(&mut cfg, "rtb-private")
        .routes
        .push(cidr_route("192.0.2.0/26", "nat-lab"));
    let t = trace_text(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80);
    assert!(
        t.contains("192.0.2.0/26 -> nat-lab (longest prefix /26, static CIDR)"),
        "{t}"
    );
}

#[test]
fn gateway_endpoints_have_no_security_group_and_keep_the_private_source() {
    let cfg = lab();
    let t = trace_text(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80);
    // Only the instance's own egress groups are consulted.
    assert_eq!(t.matches("sg ").count(), 1, "{t}");
    let snap = compile(&cfg);
    let (v, out) = run(
        &snap,
        "app",
        pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 64),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(
        wire::parse(&out).unwrap().src,
        "10.0.2.10".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn the_instance_egress_group_must_allow_endpoint_traffic_and_may_name_the_prefix_list() {
    let cfg = lab();
    assert!(trace_text(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80).contains("to pl-lab-s3"));
    assert_eq!(
        verdict(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 22),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
}

#[test]
fn the_subnet_nacl_applies_to_endpoint_traffic() {
    let mut cfg = lab();
    let n = nacl(&mut cfg, "acl-private");
    n.entries.as_mut().unwrap().push(nacl_entry(
        50,
        true,
        "6",
        false,
        "192.0.2.0/26",
        Some((80, 80)),
    ));
    assert_eq!(
        verdict(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80),
        "verdict: DROP reason=NACL_DENY"
    );
    assert_eq!(
        verdict(&cfg, "app", "192.0.2.70", IpProtocol::Tcp, 80),
        "verdict: ACCEPT egress=ddb"
    );
}

// ---- §4 Interface endpoints ------------------------------------------------------------------

#[test]
fn the_endpoint_security_group_filters_into_the_endpoint() {
    let cfg = lab();
    assert_eq!(
        verdict(&cfg, "app", "10.0.2.20", IpProtocol::Tcp, 443),
        "verdict: ACCEPT egress=api"
    );
    assert_eq!(
        verdict(&cfg, "app", "10.0.2.20", IpProtocol::Tcp, 80),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
}

#[test]
fn the_subnet_nacl_applies_to_the_endpoint_eni() {
    let mut cfg = lab();
    let n = nacl(&mut cfg, "acl-private");
    n.entries.as_mut().unwrap().push(nacl_entry(
        10,
        false,
        "6",
        false,
        "10.0.1.0/24",
        Some((443, 443)),
    ));
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.20", IpProtocol::Tcp, 443),
        "verdict: DROP reason=NACL_DENY"
    );
    // The endpoint ENI in web's own subnet is not behind that NACL.
    assert_eq!(
        verdict(&cfg, "web", "10.0.1.20", IpProtocol::Tcp, 443),
        "verdict: ACCEPT egress=api"
    );
}

// ---- §5 Security groups ----------------------------------------------------------------------

#[test]
fn the_rules_of_all_groups_of_an_eni_are_merged() {
    let mut cfg = lab();
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 8080),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
    let mut extra = sg(&mut cfg, "sg-lab-api").clone();
    extra.group_id = "sg-extra".into();
    extra.group_name = "extra".into();
    extra.security_group_rules = Some(vec![sg_rule(false, "tcp", 8000, 8999, "10.0.1.0/24")]);
    cfg.security_groups.push(extra);
    eni(&mut cfg, "eni-app")
        .groups
        .push(config::GroupIdentifier {
            group_id: "sg-extra".into(),
            group_name: None,
        });
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 8080),
        "verdict: ACCEPT egress=app"
    );
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 22),
        "verdict: ACCEPT egress=app"
    );
}

#[test]
fn a_group_reference_matches_private_addresses_only() {
    let mut cfg = lab();
    // Give app a public IP so that web's public address can reach it through the IGW.
    eni(&mut cfg, "eni-app").association = Some(config::IpAssociation {
        public_ip: "198.51.100.20".parse().unwrap(),
        allocation_id: None,
    });
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 22),
        "verdict: ACCEPT egress=app"
    );
    // From the internet with web's *public* address as source: sg-web's reference doesn't match.
    assert_eq!(
        verdict_src(
            &cfg,
            "internet",
            Some("198.51.100.10"),
            "198.51.100.20",
            IpProtocol::Tcp,
            22
        ),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
}

#[test]
fn the_default_group_admits_itself_and_sends_anywhere() {
    let mut cfg = lab();
    eni(&mut cfg, "eni-web").groups.clear();
    eni(&mut cfg, "eni-app").groups.clear();
    let t = trace_text(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 8080);
    assert!(t.contains("allowed by sg-default-lab"), "{t}");
    assert!(t.ends_with("verdict: ACCEPT egress=app\n"));
    assert_eq!(
        verdict(&cfg, "web", "203.0.113.100", IpProtocol::Udp, 53),
        ACCEPT_INTERNET
    );
    assert_eq!(
        verdict(&cfg, "internet", "198.51.100.10", IpProtocol::Tcp, 80),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
}

#[test]
fn a_new_group_has_no_inbound_rules_and_allows_all_outbound() {
    let mut cfg = lab();
    sg(&mut cfg, "sg-web").security_group_rules = None;
    assert_eq!(
        verdict(&cfg, "internet", "198.51.100.10", IpProtocol::Tcp, 80),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
    assert_eq!(
        verdict(&cfg, "web", "203.0.113.100", IpProtocol::Udp, 53),
        ACCEPT_INTERNET
    );
}

#[test]
fn icmp_type_and_code_wildcards() {
    let cfg = lab();
    // sg-app: icmp type 8, code -1, from pl-lab-admins (10.0.1.0/24).
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Icmp, 0),
        "verdict: ACCEPT egress=app"
    );
    let snap = compile(&cfg);
    let ts = wire::build(
        "10.0.1.10".parse().unwrap(),
        "10.0.2.10".parse().unwrap(),
        IpProtocol::Icmp,
        0,
        0,
        (13, 0),
        64,
    );
    assert_eq!(
        run(&snap, "web", ts).0,
        Verdict::Drop(DropReason::SgNoAllow)
    );
}

#[test]
fn protocol_all_covers_every_protocol_and_port() {
    let cfg = lab();
    // sg-web egress is protocol -1 to 0.0.0.0/0: GRE (47) leaves through the IGW.
    assert_eq!(
        verdict(&cfg, "web", "203.0.113.100", IpProtocol::Unknown(47), 0),
        ACCEPT_INTERNET
    );
    // sg-app has no all-protocol egress rule: GRE is refused.
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Unknown(47), 0),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
}

// ---- §6 Network ACLs -------------------------------------------------------------------------

#[test]
fn nacl_rules_are_evaluated_in_ascending_order_first_match_wins() {
    let mut cfg = lab();
    let t = trace_text(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 23);
    assert!(
        t.contains("acl-private (subnet-private) outbound: rule 90 deny"),
        "{t}"
    );
    // Renumber the deny after the allow: the allow now matches first.
    nacl(&mut cfg, "acl-private").entries.as_mut().unwrap()[0].rule_number = 200;
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 23),
        ACCEPT_INTERNET
    );
}

#[test]
fn the_star_rule_denies_what_no_rule_matches() {
    let mut cfg = lab();
    nacl(&mut cfg, "acl-private")
        .entries
        .as_mut()
        .unwrap()
        .retain(|e| !e.egress);
    let t = trace_text(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80);
    assert!(t.contains("outbound: rule * deny"), "{t}");
}

#[test]
fn a_new_custom_nacl_denies_everything_and_the_default_allows_everything() {
    let mut cfg = lab();
    let mut custom = nacl(&mut cfg, "acl-private").clone();
    custom.network_acl_id = "acl-new".into();
    custom.entries = None;
    custom.associations = vec![config::NetworkAclAssociation {
        subnet_id: "subnet-public".into(),
    }];
    cfg.network_acls.push(custom);
    assert_eq!(
        verdict(&cfg, "web", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: DROP reason=NACL_DENY"
    );
    let t = trace_text(&lab(), "web", "203.0.113.100", IpProtocol::Tcp, 80);
    assert!(
        t.contains("acl-default (subnet-public) outbound: rule 100 allow"),
        "{t}"
    );
}

#[test]
fn nacls_do_not_filter_traffic_within_a_subnet() {
    let mut cfg = lab();
    let n = nacl(&mut cfg, "acl-private");
    n.entries = Some(vec![]); // only `*`: deny everything in and out
    assert_eq!(
        verdict(&cfg, "app", "10.0.2.20", IpProtocol::Tcp, 443),
        "verdict: ACCEPT egress=api"
    );
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.20", IpProtocol::Tcp, 443),
        "verdict: DROP reason=NACL_DENY"
    );
}

#[test]
fn nacls_are_stateless_replies_need_their_own_rule() {
    let mut cfg = lab();
    // Inbound only from the VPC: the S3 stand-in's reply is refused although the request passed.
    let n = nacl(&mut cfg, "acl-private");
    let entries = n.entries.as_mut().unwrap();
    entries.retain(|e| e.egress);
    entries.push(nacl_entry(100, false, "-1", true, "10.0.0.0/16", None));
    assert_eq!(
        verdict(&cfg, "app", "192.0.2.10", IpProtocol::Tcp, 80),
        "verdict: ACCEPT egress=s3"
    );
    let t = trace_text(&cfg, "s3", "10.0.2.10", IpProtocol::Tcp, 49152);
    assert!(
        t.contains("acl-private (subnet-private) inbound: rule * deny"),
        "{t}"
    );
}

#[test]
fn nat_gateway_traffic_crosses_source_and_nat_subnet_nacls() {
    let mut cfg = lab();
    let t = trace_text(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80);
    let order: Vec<&str> = t.lines().filter(|l| l.starts_with("nacl")).collect();
    assert_eq!(order.len(), 3, "{t}");
    assert!(order[0].contains("acl-private (subnet-private) outbound"));
    assert!(order[1].contains("acl-default (subnet-public) inbound"));
    assert!(order[2].contains("acl-default (subnet-public) outbound"));
    // A deny on the NAT subnet's inbound side stops it.
    nacl(&mut cfg, "acl-default").entries =
        Some(vec![nacl_entry(100, true, "-1", true, "0.0.0.0/0", None)]);
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: DROP reason=NACL_DENY"
    );
}

// ---- §7 NAT gateway (stateless parts) ---------------------------------------------------------

#[test]
fn nat_gateway_carries_only_tcp_udp_icmp_and_drops_tcp_fragments() {
    let cfg = lab();
    let mut c2 = cfg.clone();
    sg(&mut c2, "sg-app")
        .security_group_rules
        .as_mut()
        .unwrap()
        .push(sg_rule(true, "-1", 0, 0, "0.0.0.0/0"));
    assert_eq!(
        verdict(&c2, "app", "203.0.113.100", IpProtocol::Unknown(47), 0),
        "verdict: DROP reason=UNSUPPORTED_PROTOCOL"
    );
    let snap = compile(&cfg);
    for (proto, want) in [
        (IpProtocol::Tcp, Some(DropReason::NatFragment)),
        (IpProtocol::Udp, None),
    ] {
        let mut p = pkt("10.0.2.10", "203.0.113.100", proto, 80, 64);
        p[6] |= 0x20; // more fragments: a first fragment
        p[10..12].copy_from_slice(&[0, 0]);
        let c = wire::checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let (v, _) = run(&snap, "app", p);
        match want {
            Some(r) => assert_eq!(v, Verdict::Drop(r)),
            None => assert!(matches!(v, Verdict::Forward { .. }), "{v:?}"),
        }
    }
}

// ---- §8 Internet gateway ---------------------------------------------------------------------

#[test]
fn the_igw_translates_one_to_one_in_both_directions() {
    let snap = compile(&lab());
    let (v, out) = run(
        &snap,
        "web",
        pkt("10.0.1.10", "203.0.113.100", IpProtocol::Tcp, 80, 64),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    let m = wire::parse(&out).unwrap(); // header checksum still valid
    assert_eq!(m.src, "198.51.100.10".parse::<IpAddr>().unwrap());
    let (v, out) = run(
        &snap,
        "internet",
        pkt("203.0.113.100", "198.51.100.10", IpProtocol::Tcp, 80, 64),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(
        wire::parse(&out).unwrap().dst,
        "10.0.1.10".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn unmapped_public_addresses_and_private_destinations_from_the_internet_are_dropped() {
    let snap = compile(&lab());
    let (v, _) = run(
        &snap,
        "internet",
        pkt("203.0.113.100", "198.51.100.99", IpProtocol::Tcp, 80, 64),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoPublicIpMapping));
    let (v, _) = run(
        &snap,
        "internet",
        pkt("203.0.113.100", "10.0.1.10", IpProtocol::Tcp, 80, 64),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoPublicIpMapping));
}

#[test]
fn an_eni_without_public_ip_cannot_use_the_igw() {
    let mut cfg = lab();
    rtb(&mut cfg, "rtb-private")
        .routes
        .push(cidr_route("203.0.113.0/25", "igw-lab"));
    assert_eq!(
        verdict(&cfg, "app", "203.0.113.100", IpProtocol::Tcp, 80),
        "verdict: DROP reason=NO_PUBLIC_IP"
    );
}

// ---- §9 ENIs ---------------------------------------------------------------------------------

#[test]
fn source_destination_check_on_and_off() {
    let mut cfg = lab();
    let spoof = || {
        verdict_src(
            &cfg_ref(),
            "app",
            Some("10.0.2.99"),
            "192.0.2.10",
            IpProtocol::Tcp,
            80,
        )
    };
    fn cfg_ref() -> Config {
        lab()
    }
    assert_eq!(spoof(), "verdict: DROP reason=SRC_DST_CHECK");
    eni(&mut cfg, "eni-app").source_dest_check = Some(false);
    assert_eq!(
        verdict_src(
            &cfg,
            "app",
            Some("10.0.2.99"),
            "192.0.2.10",
            IpProtocol::Tcp,
            80
        ),
        "verdict: ACCEPT egress=s3"
    );
}

// ---- Drop reasons without a rule of their own ------------------------------------------------

#[test]
fn local_route_to_an_address_no_eni_has() {
    assert_eq!(
        verdict(&lab(), "app", "10.0.2.99", IpProtocol::Tcp, 443),
        "verdict: DROP reason=NO_ENI_AT_DESTINATION"
    );
}

#[test]
fn an_eni_without_a_port_cannot_be_delivered_to() {
    let mut cfg = lab();
    cfg.ports.retain(|p| p.port_id != "app");
    assert_eq!(
        verdict(&cfg, "web", "10.0.2.10", IpProtocol::Tcp, 22),
        "verdict: DROP reason=NO_PORT"
    );
}

#[test]
fn malformed_packets_are_dropped_with_their_reason() {
    let snap = compile(&lab());
    let mut p = pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 64);
    p[8] = 3; // TTL changed, checksum not
    assert_eq!(
        run(&snap, "app", p).0,
        Verdict::Drop(DropReason::Malformed(MalformedKind::BadChecksum))
    );
    assert_eq!(
        run(&snap, "app", vec![0x45; 10]).0,
        Verdict::Drop(DropReason::Malformed(MalformedKind::Truncated))
    );
}

#[test]
fn unsolicited_packets_from_a_service_are_judged_by_rules() {
    // No flow: the S3 stand-in's packet to app passes the NACL; sg-app has no inbound rule for it.
    // (As the reply of app's request it passes: tests/stateful.rs.)
    assert_eq!(
        verdict(&lab(), "s3", "10.0.2.10", IpProtocol::Tcp, 49152),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
}
