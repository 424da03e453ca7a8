//! IPv6 dual stack (issue 14): addressing and `check`, the internet gateway without translation,
//! the egress-only internet gateway, security groups and NACLs for IPv6, the reserved range,
//! router mode's hop limit and ICMPv6 errors, and an interface endpoint that cannot translate
//! IPv6 refusing it whole — on configs/lab6.yaml (and lab.yaml edits), sans IO.

mod support;

use support::{Pkt, port, rx};
use vpcfwd::config::{self, Config};
use vpcfwd::flow::FlowTable;
use vpcfwd::pipeline::{self, DropReason, NoTrace, ReplyKind, Verdict};
use vpcfwd::snapshot::{self, Snapshot};
use vpcfwd::wire::{self, IpProtocol, icmp};

const LAB6: &str = include_str!("../configs/lab6.yaml");

fn lab6_with(from: &str, to: &str) -> String {
    assert_eq!(
        LAB6.matches(from).count(),
        1,
        "fixture edit must be unique: {from}"
    );
    LAB6.replacen(from, to, 1)
}

fn parse(yaml: &str) -> Config {
    config::load::parse_str(yaml, "lab6.yaml").expect("parses")
}

/// Every error of `yaml`, one `id: Field: message` line each.
fn errors(yaml: &str) -> Vec<String> {
    config::validate::validate(&parse(yaml))
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn assert_error(yaml: &str, fragments: &[&str]) {
    let e = errors(yaml);
    assert!(
        e.iter().any(|l| fragments.iter().all(|f| l.contains(f))),
        "no error with {fragments:?} in {e:#?}"
    );
}

fn assert_valid(yaml: &str) {
    let e = errors(yaml);
    assert!(e.is_empty(), "{e:#?}");
}

fn compile(yaml: &str) -> Snapshot {
    let cfg = parse(yaml);
    let e = config::validate::validate(&cfg);
    assert!(e.is_empty(), "{e:?}");
    snapshot::compile(&cfg).expect("compiles")
}

fn lab6() -> Snapshot {
    compile(LAB6)
}

fn send(snap: &Snapshot, flows: &FlowTable, from: &str, p: &mut Pkt, secs: u64) -> Verdict {
    let v = pipeline::process(
        snap,
        flows,
        &mut p.buf,
        p.len,
        rx(snap, from, secs),
        &mut NoTrace,
    );
    if let Verdict::Forward { len, .. } | Verdict::Reply { len, .. } = v {
        p.len = len;
    }
    v
}

fn forwarded_to(snap: &Snapshot, v: Verdict, to: &str) {
    assert_eq!(
        v,
        Verdict::Forward {
            egress: port(snap, to),
            len: match v {
                Verdict::Forward { len, .. } => len,
                _ => 0,
            }
        },
        "expected forward to {to}"
    );
}

/// An ICMPv6 echo request (`id` as `wire::build` takes it).
fn echo6(src: &str, dst: &str, id: u16) -> Pkt {
    Pkt::from_bytes(wire::build(
        support::ip(src),
        support::ip(dst),
        IpProtocol::Icmpv6,
        id,
        0,
        (icmp::v6::ECHO_REQUEST, 0),
        64,
    ))
}

const WEB6: &str = "2001:db8:10:1::10";
const V6: &str = "2001:db8:10:3::10";
const NET6: &str = "2001:db8:ff::100";

// ---- addressing and check ----

#[test]
fn the_ipv6_lab_is_valid_with_an_ipv6_only_subnet_and_eni() {
    assert_valid(LAB6);
    let snap = lab6();
    let v6 = snap.enis.iter().find(|e| e.id == "eni-v6").unwrap();
    assert_eq!(v6.addrs, vec![support::ip(V6)]);
}

#[test]
fn a_subnet_needs_an_ipv4_cidr_unless_ipv6_only_and_then_has_none() {
    assert_error(
        &lab6_with("    Ipv6Native: true\n    EnableDns64: true\n", ""),
        &["subnet-v6only", "CidrBlock", "unless it is IPv6-only"],
    );
    assert_error(
        &lab6_with(
            "    Ipv6Native: true\n    EnableDns64: true\n",
            "    Ipv6Native: true\n    CidrBlock: 10.0.3.0/24\n",
        ),
        &["subnet-v6only", "CidrBlock", "has no IPv4 CIDR"],
    );
}

#[test]
fn an_eni_needs_a_private_ipv4_unless_ipv6_only() {
    assert_error(
        &lab6_with(
            "    SubnetId: subnet-v6only\n    Ipv6Native: true\n",
            "    SubnetId: subnet-v6only\n",
        ),
        &["eni-v6", "PrivateIpAddress", "unless it is IPv6-only"],
    );
    // An IPv6-only ENI in a dual-stack subnet is refused.
    assert_error(
        &lab6_with(
            "    SubnetId: subnet-public\n    PrivateIpAddress: 10.0.1.10\n",
            "    SubnetId: subnet-public\n    Ipv6Native: true\n",
        ),
        &["eni-web", "Ipv6Native", "IPv6-only subnet"],
    );
}

/// Found when tried: a route for exactly a subnet's IPv6 CIDR to an ENI was refused as "more
/// specific than local"; AWS allows it for IPv4 and IPv6 subnet CIDRs alike.
#[test]
fn a_route_for_exactly_a_subnet_ipv6_cidr_to_an_eni_is_allowed() {
    let yaml = lab6_with(
        "      - DestinationIpv6CidrBlock: ::/0\n        GatewayId: igw-lab6\n",
        "      - DestinationIpv6CidrBlock: ::/0\n        GatewayId: igw-lab6\n      - DestinationIpv6CidrBlock: 2001:db8:10:3::/64\n        NetworkInterfaceId: eni-web\n",
    );
    assert_valid(&yaml);
    // Not a part of it, though.
    let yaml = lab6_with(
        "      - DestinationIpv6CidrBlock: ::/0\n        GatewayId: igw-lab6\n",
        "      - DestinationIpv6CidrBlock: ::/0\n        GatewayId: igw-lab6\n      - DestinationIpv6CidrBlock: 2001:db8:10:3::/80\n        NetworkInterfaceId: eni-web\n",
    );
    assert_error(
        &yaml,
        &[
            "rtb-public",
            "DestinationIpv6CidrBlock",
            "more specific than the local route",
        ],
    );
}

/// Found when tried: two subnets with the same IPv6 CIDR were accepted.
#[test]
fn two_subnets_with_one_ipv6_cidr_overlap() {
    let yaml = lab6_with(
        "      - Ipv6CidrBlock: 2001:db8:10:3::/64\n",
        "      - Ipv6CidrBlock: 2001:db8:10:1::/64\n",
    );
    assert_error(
        &yaml,
        &[
            "subnet-v6only",
            "Ipv6CidrBlockAssociationSet",
            "overlaps 2001:db8:10:1::/64 of subnet-public",
        ],
    );
}

/// Found when tried: an ENI on one of the addresses AWS reserves in every IPv6 subnet (the first
/// four and the last) was accepted.
#[test]
fn the_reserved_addresses_of_an_ipv6_subnet_are_refused() {
    for a in [
        "2001:db8:10:3::",
        "2001:db8:10:3::1",
        "2001:db8:10:3::2",
        "2001:db8:10:3::3",
        "2001:db8:10:3:ffff:ffff:ffff:ffff",
    ] {
        let yaml = lab6_with(
            "      - Ipv6Address: 2001:db8:10:3::10\n",
            &format!("      - Ipv6Address: \"{a}\"\n"),
        );
        assert_error(&yaml, &["eni-v6", "Ipv6Addresses[0]", "reserved by AWS"]);
    }
    let yaml = lab6_with(
        "      - Ipv6Address: 2001:db8:10:3::10\n",
        "      - Ipv6Address: 2001:db8:10:3::4\n",
    );
    assert_valid(&yaml);
}

/// Found when tried: an ICMPv6 NACL entry without its type/code was accepted (the EC2 API
/// requires them).
#[test]
fn an_icmpv6_nacl_entry_needs_its_type_and_code() {
    let entries = "    IsDefault: true\n    Entries:\n      - {RuleNumber: 100, Egress: false, Protocol: \"58\", RuleAction: allow, Ipv6CidrBlock: ::/0}\n";
    assert_error(
        &lab6_with("    IsDefault: true\n", entries),
        &["acl-default", "Entries[0].IcmpTypeCode", "ICMPv6"],
    );
    let ok = "    IsDefault: true\n    Entries:\n      - {RuleNumber: 100, Egress: false, Protocol: \"58\", RuleAction: allow, Ipv6CidrBlock: ::/0, IcmpTypeCode: {Type: -1, Code: -1}}\n";
    assert_valid(&lab6_with("    IsDefault: true\n", ok));
}

#[test]
fn an_egress_only_gateway_carries_ipv6_only_and_must_exist() {
    let yaml = lab6_with(
        "      - DestinationIpv6CidrBlock: ::/0\n        EgressOnlyInternetGatewayId: eigw-lab6\n",
        "      - DestinationCidrBlock: 0.0.0.0/0\n        EgressOnlyInternetGatewayId: eigw-lab6\n",
    );
    assert_error(
        &yaml,
        &["rtb-v6only", "EgressOnlyInternetGatewayId", "IPv6 only"],
    );
    let yaml = lab6_with(
        "        EgressOnlyInternetGatewayId: eigw-lab6\n",
        "        EgressOnlyInternetGatewayId: eigw-gone\n",
    );
    assert_error(&yaml, &["rtb-v6only", "unknown target eigw-gone"]);
    assert_error(
        &lab6_with(
            "  - EgressOnlyInternetGatewayId: eigw-lab6\n",
            "  - EgressOnlyInternetGatewayId: igw-x\n",
        ),
        &["igw-x", "EgressOnlyInternetGatewayId", "eigw-"],
    );
}

/// IPv4 and IPv6 are looked up independently: a v4 default route carries no v6.
#[test]
fn an_ipv4_default_route_carries_no_ipv6() {
    let snap = compile(&lab6_with(
        "      - DestinationIpv6CidrBlock: ::/0\n        GatewayId: igw-lab6\n",
        "",
    ));
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(WEB6, NET6, IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        send(&snap, &flows, "web", &mut p, 0),
        Verdict::Drop(DropReason::NoRoute)
    );
    let mut p = Pkt::new("10.0.1.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "internet");
}

// ---- internet gateway, egress-only internet gateway ----

#[test]
fn the_internet_gateway_carries_ipv6_untranslated_both_ways() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(WEB6, NET6, IpProtocol::Tcp, 40000, 80);
    let before = p.bytes().to_vec();
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "internet");
    assert_eq!(p.bytes(), &before[..], "no byte changed");
    p.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 1), "web");
    // Unsolicited inbound where the security group allows it.
    let mut p = Pkt::new(NET6, WEB6, IpProtocol::Tcp, 50000, 80);
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 2), "web");
    let mut p = Pkt::new(NET6, WEB6, IpProtocol::Tcp, 50000, 22);
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 2),
        Verdict::Drop(DropReason::SgNoAllow)
    );
}

#[test]
fn the_egress_only_gateway_lets_connections_out_and_replies_in_only() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    // From the internet first: refused, although sg-v6 allows tcp 80 from ::/0.
    let mut p = Pkt::new(NET6, V6, IpProtocol::Tcp, 50000, 80);
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 0),
        Verdict::Drop(DropReason::EgressOnly)
    );
    // Out, untranslated, and the reply back in.
    let mut p = Pkt::new(V6, NET6, IpProtocol::Tcp, 40000, 80);
    let before = p.bytes().to_vec();
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 1), "internet");
    assert_eq!(p.bytes(), &before[..]);
    p.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 2), "v6");
    // ICMPv6 echo too.
    let mut p = echo6(V6, NET6, 7);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 3), "internet");
    p.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 3), "v6");
    // Another port of the same host is still a new connection from outside.
    let mut p = Pkt::new(NET6, V6, IpProtocol::Tcp, 80, 40001);
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 4),
        Verdict::Drop(DropReason::EgressOnly)
    );
}

#[test]
fn a_detached_egress_only_gateway_is_a_blackhole() {
    let snap = compile(&lab6_with(
        "        State: attached\n",
        "        State: detached\n",
    ));
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(V6, NET6, IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        send(&snap, &flows, "v6", &mut p, 0),
        Verdict::Drop(DropReason::BlackholeRoute)
    );
}

#[test]
fn egress_only_is_in_the_drop_vocabulary() {
    assert!(DropReason::ALL.contains(&DropReason::EgressOnly));
    assert_eq!(DropReason::EgressOnly.to_string(), "EGRESS_ONLY");
    let readme = include_str!("../README.md");
    assert!(
        readme.contains("| `EGRESS_ONLY` |"),
        "README lists EGRESS_ONLY"
    );
}

// ---- security groups, NACLs, reserved, router mode ----

#[test]
fn group_references_match_ipv6_addresses_and_icmpv6_rules_match_by_type() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    // sg-v6 allows all from sg-web: web's IPv6 address matches.
    let mut p = Pkt::new(WEB6, V6, IpProtocol::Tcp, 40000, 22);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "v6");
    // sg-web allows ICMPv6 type 128 (echo request) from ::/0, nothing else of ICMPv6.
    let mut p = echo6(NET6, WEB6, 9);
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 0), "web");
    let yaml = lab6_with("        FromPort: 128\n", "        FromPort: 129\n");
    let snap = compile(&yaml);
    let flows = FlowTable::new(1024);
    let mut p = echo6(NET6, WEB6, 9);
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 0),
        Verdict::Drop(DropReason::SgNoAllow)
    );
}

#[test]
fn nacl_ipv6_entries_apply_and_a_custom_nacl_denies_ipv6_by_its_star_rule() {
    let deny = "    IsDefault: true\n    Entries:\n      - {RuleNumber: 50, Egress: true, Protocol: \"6\", RuleAction: deny, Ipv6CidrBlock: \"2001:db8:ff::/48\", PortRange: {From: 80, To: 80}}\n      - {RuleNumber: 100, Egress: true, Protocol: \"-1\", RuleAction: allow, CidrBlock: 0.0.0.0/0}\n      - {RuleNumber: 101, Egress: true, Protocol: \"-1\", RuleAction: allow, Ipv6CidrBlock: ::/0}\n      - {RuleNumber: 100, Egress: false, Protocol: \"-1\", RuleAction: allow, CidrBlock: 0.0.0.0/0}\n";
    let snap = compile(&lab6_with("    IsDefault: true\n", deny));
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(WEB6, NET6, IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        send(&snap, &flows, "web", &mut p, 0),
        Verdict::Drop(DropReason::NaclDeny)
    );
    let mut p = Pkt::new(WEB6, NET6, IpProtocol::Tcp, 40000, 443);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "internet");
    // Inbound has an IPv4 rule only: IPv6 meets `*`.
    let mut p = Pkt::new(NET6, WEB6, IpProtocol::Tcp, 50000, 80);
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 0),
        Verdict::Drop(DropReason::NaclDeny)
    );
    let mut p = Pkt::new("203.0.113.100", "198.51.100.10", IpProtocol::Tcp, 50000, 80);
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 0), "web");
}

#[test]
fn untracked_with_any_ipv6_rules_both_ways() {
    // sg-web: tcp 80 from ::/0 in, all to ::/0 out: untracked, the reply is judged by rules.
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(NET6, WEB6, IpProtocol::Tcp, 50000, 80);
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 0), "web");
    assert_eq!(flows.conns().len(), 0, "untracked: nothing recorded");
    // sg-v6's inbound tcp 80 from ::/0 with egress all to ::/0: untracked as well, but the
    // egress-only gateway refuses it first; from web (group rule, not ::/0): tracked.
    let mut p = Pkt::new(WEB6, V6, IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "v6");
    assert!(!flows.conns().is_empty());
}

#[test]
fn the_reserved_ipv6_range_is_never_forwarded() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    for dst in ["fd00:ec2::254", "fd00:ec2::253", "fd00:ec2:1::1"] {
        let mut p = Pkt::new(WEB6, dst, IpProtocol::Udp, 40000, 53);
        assert_eq!(
            send(&snap, &flows, "web", &mut p, 0),
            Verdict::Drop(DropReason::ReservedDestination),
            "{dst}"
        );
    }
}

#[test]
fn router_mode_decrements_the_hop_limit_and_answers_icmpv6_from_the_subnet_router() {
    let snap = compile(&lab6_with("  RouterMode: false\n", "  RouterMode: true\n"));
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(V6, NET6, IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
    assert_eq!(p.meta().ttl, 63);
    let mut p = Pkt::from_bytes(support::probe_pkt(V6, NET6, IpProtocol::Tcp, 80, 1));
    let v = send(&snap, &flows, "v6", &mut p, 0);
    assert!(
        matches!(v, Verdict::Reply { reason: DropReason::TtlExceeded, kind: ReplyKind::IcmpError, egress, .. } if egress == port(&snap, "v6")),
        "{v:?}"
    );
    let m = p.meta();
    assert_eq!(
        m.src,
        support::ip("2001:db8:10:3::1"),
        "the subnet's router address"
    );
    assert_eq!(m.dst, support::ip(V6));
    assert_eq!(m.proto, IpProtocol::Icmpv6);
    assert_eq!(
        (m.icmp_type, m.icmp_code),
        (icmp::v6::TIME_EXCEEDED, icmp::v6::CODE_HOP_LIMIT_EXCEEDED)
    );
    // No route: unreachable, code 0 (no route to destination).
    let snap = compile(
        &lab6_with("  RouterMode: false\n", "  RouterMode: true\n").replacen(
            "      - DestinationIpv6CidrBlock: ::/0\n        EgressOnlyInternetGatewayId: eigw-lab6\n",
            "      - DestinationIpv6CidrBlock: 2001:db8:ff::/48\n        EgressOnlyInternetGatewayId: eigw-lab6\n",
            1,
        ),
    );
    let mut p = Pkt::new(V6, "2001:db8:ee::1", IpProtocol::Tcp, 40000, 80);
    let v = send(&snap, &flows, "v6", &mut p, 0);
    assert!(
        matches!(
            v,
            Verdict::Reply {
                reason: DropReason::NoRoute,
                ..
            }
        ),
        "{v:?}"
    );
    assert_eq!(
        (p.meta().icmp_type, p.meta().icmp_code),
        (icmp::v6::DEST_UNREACHABLE, icmp::v6::CODE_NO_ROUTE)
    );
    assert!(wire::parse(p.bytes()).is_ok(), "a well-formed ICMPv6 error");
}

// ---- the interface endpoint with an IPv6 address ----

/// Found when tried: an interface endpoint whose ENI has an IPv6 address traced as ACCEPT, but
/// IPv4 addresses were written into the IPv6 header. The translation is refused whole now.
#[test]
fn an_interface_endpoint_refuses_ipv6_it_cannot_translate_and_changes_no_byte() {
    let lab = support::LAB_YAML
        .replacen(
            "    CidrBlock: 10.0.1.0/24\n    AvailabilityZone: us-east-1a\n",
            "    CidrBlock: 10.0.1.0/24\n    Ipv6CidrBlockAssociationSet:\n      - Ipv6CidrBlock: 2001:db8:10:1::/64\n    AvailabilityZone: us-east-1a\n",
            1,
        )
        .replacen(
            "    PrivateIpAddress: 10.0.1.10\n",
            "    PrivateIpAddress: 10.0.1.10\n    Ipv6Addresses:\n      - Ipv6Address: 2001:db8:10:1::10\n",
            1,
        )
        .replacen(
            "    PrivateIpAddress: 10.0.1.20\n",
            "    PrivateIpAddress: 10.0.1.20\n    Ipv6Addresses:\n      - Ipv6Address: 2001:db8:10:1::20\n",
            1,
        )
        .replacen(
            "      - IsEgress: true\n        IpProtocol: \"-1\"\n        CidrIpv4: 0.0.0.0/0\n",
            "      - IsEgress: true\n        IpProtocol: \"-1\"\n        CidrIpv4: 0.0.0.0/0\n      - {IsEgress: true, IpProtocol: \"-1\", CidrIpv6: ::/0}\n",
            1,
        )
        .replacen(
            "        CidrIpv4: 10.0.0.0/16\n\nNetworkAcls:",
            "        CidrIpv4: 10.0.0.0/16\n      - {IsEgress: false, IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIpv6: \"2001:db8:10::/56\"}\n\nNetworkAcls:",
            1,
        );
    let snap = compile(&lab);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(WEB6, "2001:db8:10:1::20", IpProtocol::Tcp, 40000, 443);
    let before = p.bytes().to_vec();
    assert_eq!(
        send(&snap, &flows, "web", &mut p, 0),
        Verdict::Drop(DropReason::NoServiceTarget)
    );
    assert_eq!(&p.buf[..before.len()], &before[..], "not half-translated");
    assert_eq!(flows.stats().privatelink_bindings, 0, "nothing bound");
    // IPv4 to the same endpoint still works.
    let mut p = Pkt::new("10.0.1.10", "10.0.1.20", IpProtocol::Tcp, 40000, 443);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "api");
}

// ---- NAT64 on the NAT gateway ----

const HOST64: &str = "64:ff9b::cb00:7164"; // 203.0.113.100

fn l4_checksum_ok(p: &[u8]) -> bool {
    use std::net::IpAddr;
    use vpcfwd::wire::checksum::{finish, pseudo_v4, pseudo_v6, sum};
    let m = wire::parse(p).unwrap();
    let l4 = &p[m.l4_offset..m.len];
    let acc = match (m.src, m.dst, m.proto) {
        (_, _, IpProtocol::Icmp) => 0,
        (IpAddr::V4(s), IpAddr::V4(d), pr) => pseudo_v4(s, d, pr, l4.len() as u16),
        (IpAddr::V6(s), IpAddr::V6(d), pr) => pseudo_v6(s, d, pr, l4.len() as u32),
        _ => return false,
    };
    finish(sum(l4, acc)) == 0
}

#[test]
fn nat64_translates_tcp_to_the_elastic_ip_and_the_reply_back() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(V6, HOST64, IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
    let m = p.meta();
    assert_eq!(m.src, support::ip("198.51.100.5"), "the Elastic IP");
    assert_eq!(
        m.dst,
        support::ip("203.0.113.100"),
        "the embedded IPv4 address"
    );
    assert_eq!((m.proto, m.dport, m.len), (IpProtocol::Tcp, 80, 40));
    assert!((1024..=65535).contains(&m.sport));
    assert!(l4_checksum_ok(p.bytes()));
    p.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 1), "v6");
    let r = p.meta();
    assert_eq!((r.src, r.dst), (support::ip(HOST64), support::ip(V6)));
    assert_eq!((r.sport, r.dport, r.len), (80, 40000, 60));
    assert!(l4_checksum_ok(p.bytes()));
    // From outside: unsolicited, as for IPv4.
    let mut p = Pkt::new("203.0.113.100", "198.51.100.5", IpProtocol::Tcp, 80, 3333);
    assert_eq!(
        send(&snap, &flows, "internet", &mut p, 2),
        Verdict::Drop(DropReason::Unsolicited)
    );
}

#[test]
fn nat64_translates_icmpv6_echo_to_icmp_and_udp() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut p = echo6(V6, HOST64, 77);
    let id = p.meta().icmp_id;
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
    let m = p.meta();
    assert_eq!(
        (m.proto, m.icmp_type),
        (IpProtocol::Icmp, icmp::v4::ECHO_REQUEST)
    );
    assert!(l4_checksum_ok(p.bytes()));
    p.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 0), "v6");
    let r = p.meta();
    assert_eq!(
        (r.proto, r.icmp_type, r.icmp_id),
        (IpProtocol::Icmpv6, icmp::v6::ECHO_REPLY, id)
    );
    assert_eq!(r.src, support::ip(HOST64));
    assert!(l4_checksum_ok(p.bytes()));
    let mut p = Pkt::new(V6, HOST64, IpProtocol::Udp, 5353, 53);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
    assert!(l4_checksum_ok(p.bytes()));
    p.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut p, 0), "v6");
    assert_eq!(p.meta().dport, 5353);
    assert!(l4_checksum_ok(p.bytes()));
}

#[test]
fn nat64_refuses_what_it_cannot_translate_without_changing_a_byte() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    // An ICMPv6 error (not an echo): refused whole, nothing bound.
    let mut p = Pkt::from_bytes(wire::build(
        support::ip(V6),
        support::ip(HOST64),
        IpProtocol::Icmpv6,
        1,
        0,
        (icmp::v6::DEST_UNREACHABLE, 0),
        64,
    ));
    let before = p.bytes().to_vec();
    assert_eq!(
        send(&snap, &flows, "v6", &mut p, 0),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    assert_eq!(p.bytes(), &before[..]);
    assert_eq!(flows.nat().stats().active, 0);
    // A NAT64 route for another prefix than 64:ff9b::/96 translates nothing either.
    let yaml = lab6_with(
        "      - DestinationIpv6CidrBlock: 64:ff9b::/96\n",
        "      - DestinationIpv6CidrBlock: 2001:db8:64::/96\n",
    );
    let snap = compile(&yaml);
    let mut p = Pkt::new(V6, "2001:db8:64::cb00:7164", IpProtocol::Tcp, 40000, 80);
    assert_eq!(
        send(&snap, &flows, "v6", &mut p, 0),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
}

/// An ICMP error about a NAT64 flow is not translated to ICMPv6: refused whole, nothing
/// rewritten (the IPv4 path translates them back with their quote).
#[test]
fn nat64_refuses_an_icmp_error_about_its_flow_without_rewriting_it() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(V6, HOST64, IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
    // The far end's network answers "unreachable", quoting the translated segment.
    let mut err = p.buf.clone();
    let m = p.meta();
    let router = support::ip("203.0.113.1");
    let n = wire::emit::icmp_error(&mut err, &m, router, icmp::v4::DEST_UNREACHABLE, 1)
        .expect("an ICMP error");
    let mut e = Pkt::from_bytes(err[..n].to_vec());
    let before = e.bytes().to_vec();
    assert_eq!(
        send(&snap, &flows, "internet", &mut e, 1),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    assert_eq!(e.bytes(), &before[..]);
}
