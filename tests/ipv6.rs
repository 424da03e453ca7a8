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
    // fd00:ec2::253 answers DNS (the resolver): anything else to it is never forwarded either.
    for (dst, proto, port) in [
        ("fd00:ec2::254", IpProtocol::Udp, 53),
        ("fd00:ec2::253", IpProtocol::Tcp, 80),
        ("fd00:ec2:1::1", IpProtocol::Udp, 53),
    ] {
        let mut p = Pkt::new(WEB6, dst, proto, 40000, port);
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

// ---- dual-stack interface endpoints (IpAddressType) ----

/// Checksums as an independent parser (etherparse) computes them: the IPv4 header's, and the
/// TCP, UDP, ICMP or ICMPv6 checksum over its pseudo-header. `Err` names the first wrong one.
fn independent_checksums(p: &[u8]) -> Result<(), String> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let s = SlicedPacket::from_ip(p).map_err(|e| format!("etherparse: {e:?}"))?;
    let (mut s4, mut d4, mut s6, mut d6) = ([0; 4], [0; 4], [0; 16], [0; 16]);
    let v6 = match &s.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header().to_header();
            if h.calc_header_checksum() != h.header_checksum {
                return Err("IPv4 header checksum".into());
            }
            (s4, d4) = (h.source, h.destination);
            false
        }
        Some(NetSlice::Ipv6(ip)) => {
            (s6, d6) = (ip.header().source(), ip.header().destination());
            true
        }
        other => return Err(format!("not IP: {other:?}")),
    };
    let ok = match &s.transport {
        Some(TransportSlice::Tcp(t)) => {
            let want = if v6 {
                t.calc_checksum_ipv6(s6, d6)
            } else {
                t.calc_checksum_ipv4(s4, d4)
            };
            want.ok() == Some(t.checksum())
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            let want = if v6 {
                h.calc_checksum_ipv6_raw(s6, d6, u.payload())
            } else {
                h.calc_checksum_ipv4_raw(s4, d4, u.payload())
            };
            want.ok() == Some(u.checksum())
        }
        Some(TransportSlice::Icmpv4(i)) => i.icmp_type().calc_checksum(i.payload()) == i.checksum(),
        Some(TransportSlice::Icmpv6(i)) => i.is_checksum_valid(s6, d6),
        other => return Err(format!("no transport header: {other:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "L4 checksum of {:?}",
            wire::parse(p).map(|m| m.proto)
        ))
    }
}

const API6: &str = "2001:db8:10:1::20"; // eni-lab6-api
/// vpce-lab6-api's `IpAddressType` line, as a unique fixture edit.
const API_TYPE: &str =
    "    ServiceName: com.amazonaws.vpce.us-east-1.vpce-svc-lab6\n    IpAddressType: dualstack\n";

/// AWS: an interface endpoint with `IpAddressType: dualstack` has ENIs with IPv4 and IPv6
/// addresses and carries both families. Each is translated within itself: IPv6 consumers reach
/// the IPv6 target from the load balancer's IPv6 address, IPv4 ones the IPv4 target, and the
/// replies come back from the endpoint ENI's address of their family.
#[test]
fn a_dualstack_interface_endpoint_translates_ipv6_to_an_ipv6_target_and_back() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    for (from, src, dst, target, lb) in [
        (
            "web",
            WEB6,
            API6,
            "2001:db8:ff:1::130",
            "2001:db8:ff:1::129",
        ),
        // The IPv6-only instance reaches it too (local IPv6 route).
        ("v6", V6, API6, "2001:db8:ff:1::130", "2001:db8:ff:1::129"),
        (
            "web",
            "10.0.1.10",
            "10.0.1.20",
            "192.0.2.130",
            "192.0.2.129",
        ),
    ] {
        let mut p = Pkt::new(src, dst, IpProtocol::Tcp, 40000, 443);
        forwarded_to(&snap, send(&snap, &flows, from, &mut p, 0), "api");
        let m = p.meta();
        assert_eq!((m.dst, m.dport), (support::ip(target), 443), "{src}");
        assert_eq!(m.src, support::ip(lb), "{src}: the load balancer's address");
        independent_checksums(p.bytes()).unwrap();
        p.reply();
        forwarded_to(&snap, send(&snap, &flows, "api", &mut p, 1), from);
        let r = p.meta();
        assert_eq!(
            (r.src, r.sport),
            (support::ip(dst), 443),
            "from the endpoint ENI"
        );
        assert_eq!((r.dst, r.dport), (support::ip(src), 40000));
        independent_checksums(p.bytes()).unwrap();
    }
    assert_eq!(flows.stats().privatelink_bindings, 3);
    // The provider cannot open connections, over IPv6 either.
    let mut p = Pkt::new(
        "2001:db8:ff:1::130",
        "2001:db8:ff:1::129",
        IpProtocol::Tcp,
        443,
        5555,
    );
    assert_eq!(
        send(&snap, &flows, "api", &mut p, 2),
        Verdict::Drop(DropReason::Unsolicited)
    );
}

/// The same translation with TUN checksum offload: the partial (pseudo-header only) sum is
/// updated as a sum, and completing it gives the checksum an independent parser expects.
#[test]
fn a_dualstack_interface_endpoint_keeps_a_partial_ipv6_checksum_partial() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut p = Pkt::from_bytes(support::tcp_with_payload(WEB6, API6, 40001, 443, 100));
    support::make_partial(&mut p.buf[..p.len]);
    let mut r = rx(&snap, "web", 0);
    r.csum = wire::ChecksumMode::Partial;
    let v = pipeline::process(&snap, &flows, &mut p.buf, p.len, r, &mut NoTrace);
    forwarded_to(&snap, v, "api");
    let mut full = p.bytes().to_vec();
    assert_eq!(full.len(), 60 + 100);
    assert!(
        support::csum_eq(support::tcp_csum(&full), support::partial_csum(&full)),
        "still the pseudo-header sum, of the new addresses"
    );
    support::complete_tcp_csum(&mut full);
    independent_checksums(&full).unwrap();
}

/// AWS's meanings of `IpAddressType`: what an ipv4 endpoint never carries is refused whole
/// (`NO_SERVICE_TARGET`, no byte changed); an `ipv6` endpoint (IPv6-only subnets) carries
/// IPv6 only.
#[test]
fn an_endpoint_carries_only_the_families_of_its_ip_address_type() {
    // ipv4: the ENI's IPv6 address leads nowhere.
    let yaml = lab6_with(
        API_TYPE,
        "    ServiceName: com.amazonaws.vpce.us-east-1.vpce-svc-lab6\n    IpAddressType: ipv4\n",
    );
    let snap = compile(&yaml);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(WEB6, API6, IpProtocol::Tcp, 40000, 443);
    let before = p.bytes().to_vec();
    assert_eq!(
        send(&snap, &flows, "web", &mut p, 0),
        Verdict::Drop(DropReason::NoServiceTarget)
    );
    assert_eq!(p.bytes(), &before[..], "not half-translated");
    assert_eq!(flows.stats().privatelink_bindings, 0, "nothing bound");
    let mut p = Pkt::new("10.0.1.10", "10.0.1.20", IpProtocol::Tcp, 40000, 443);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "api");
    assert_eq!(p.meta().dst, support::ip("192.0.2.130"));

    // ipv6: an endpoint in the IPv6-only subnet, its ENI with an IPv6 address only.
    let yaml = lab6_with(
        API_TYPE,
        "    ServiceName: com.amazonaws.vpce.us-east-1.vpce-svc-lab6\n    IpAddressType: ipv6\n",
    )
    .replacen(
        "    SubnetIds: [subnet-public]\n",
        "    SubnetIds: [subnet-v6only]\n",
        1,
    )
    .replacen(
        "    InterfaceType: vpc_endpoint\n    SubnetId: subnet-public\n    PrivateIpAddress: 10.0.1.20\n    Ipv6Addresses:\n      - Ipv6Address: 2001:db8:10:1::20\n",
        "    InterfaceType: vpc_endpoint\n    SubnetId: subnet-v6only\n    Ipv6Native: true\n    Ipv6Addresses:\n      - Ipv6Address: 2001:db8:10:3::20\n",
        1,
    )
    .replacen(
        "    ServiceTargets: [\"192.0.2.130:443\", \"[2001:db8:ff:1::130]:443\"]\n    LoadBalancerAddresses: [192.0.2.129, \"2001:db8:ff:1::129\"]\n",
        "    ServiceTargets: [\"[2001:db8:ff:1::130]:443\"]\n    LoadBalancerAddresses: [\"2001:db8:ff:1::129\"]\n",
        1,
    );
    let snap = compile(&yaml);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(V6, "2001:db8:10:3::20", IpProtocol::Tcp, 40000, 443);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "api");
    assert_eq!(p.meta().dst, support::ip("2001:db8:ff:1::130"));
    independent_checksums(p.bytes()).unwrap();
}

#[test]
fn check_holds_an_endpoint_to_its_ip_address_type() {
    assert_valid(LAB6);
    // dualstack needs targets and load-balancer addresses of both families.
    assert_error(
        &lab6_with(
            "    ServiceTargets: [\"192.0.2.130:443\", \"[2001:db8:ff:1::130]:443\"]\n",
            "    ServiceTargets: [\"192.0.2.130:443\"]\n",
        ),
        &["vpce-lab6-api", "ServiceTargets", "an IPv6 service target"],
    );
    assert_error(
        &lab6_with(
            "    LoadBalancerAddresses: [192.0.2.129, \"2001:db8:ff:1::129\"]\n",
            "    LoadBalancerAddresses: [192.0.2.129]\n",
        ),
        &[
            "vpce-lab6-api",
            "LoadBalancerAddresses",
            "an IPv6 load balancer address",
        ],
    );
    // ... ENIs with both addresses, in subnets with both ranges.
    assert_error(
        &lab6_with(
            "    PrivateIpAddress: 10.0.1.20\n    Ipv6Addresses:\n      - Ipv6Address: 2001:db8:10:1::20\n",
            "    PrivateIpAddress: 10.0.1.20\n",
        ),
        &[
            "vpce-lab6-api",
            "NetworkInterfaceIds[0]",
            "an IPv4 and an IPv6 address",
        ],
    );
    assert_error(
        &lab6_with(
            "    SubnetIds: [subnet-public]\n",
            "    SubnetIds: [subnet-public, subnet-v6only]\n",
        ),
        &[
            "vpce-lab6-api",
            "SubnetIds[1]",
            "subnets with IPv4 and IPv6 ranges",
        ],
    );
    // ipv6 needs IPv6-only subnets and ENIs.
    assert_error(
        &lab6_with(
            API_TYPE,
            "    ServiceName: com.amazonaws.vpce.us-east-1.vpce-svc-lab6\n    IpAddressType: ipv6\n",
        ),
        &["vpce-lab6-api", "SubnetIds[0]", "IPv6-only subnets"],
    );
    assert_error(
        &lab6_with(
            API_TYPE,
            "    ServiceName: com.amazonaws.vpce.us-east-1.vpce-svc-lab6\n    IpAddressType: ipv6\n",
        ),
        &[
            "vpce-lab6-api",
            "NetworkInterfaceIds[0]",
            "IPv6 addresses only",
        ],
    );
    // An unknown type is a parse error naming the field.
    let bad = lab6_with(
        API_TYPE,
        "    ServiceName: com.amazonaws.vpce.us-east-1.vpce-svc-lab6\n    IpAddressType: both\n",
    );
    let e: Vec<String> = config::load::parse_str(&bad, "lab6.yaml")
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    let e = e.join("\n");
    assert!(e.contains("lab6.yaml:") && e.contains("both"), "{e}");
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

/// An ICMPv4 error from `router` about the IPv4 packet `out` (what NAT64 sent), quoting it
/// whole (RFC 1812 §4.3.2.3 lets a router quote up to 576 bytes; Linux does), its rest of
/// header (MTU, pointer) set to `rest`.
fn icmp4_error_about(out: &Pkt, router: &str, ty: u8, code: u8, rest: [u8; 4]) -> Pkt {
    use std::net::Ipv4Addr;
    let q = out.bytes();
    let mut e = vec![0u8; 28 + q.len()];
    e[0] = 0x45;
    let total = e.len() as u16;
    e[2..4].copy_from_slice(&total.to_be_bytes());
    e[8] = 64;
    e[9] = 1;
    e[12..16].copy_from_slice(&router.parse::<Ipv4Addr>().unwrap().octets());
    e[16..20].copy_from_slice(&q[12..16]);
    let c = wire::checksum::checksum(&e[..20]);
    e[10..12].copy_from_slice(&c.to_be_bytes());
    e[20] = ty;
    e[21] = code;
    e[24..28].copy_from_slice(&rest);
    e[28..].copy_from_slice(q);
    let c = wire::checksum::checksum(&e[20..]);
    e[22..24].copy_from_slice(&c.to_be_bytes());
    Pkt::from_bytes(e)
}

/// The quoted packet of an ICMP error (after the outer IP header and the 8 bytes of ICMP).
fn quote(p: &Pkt) -> &[u8] {
    let m = p.meta();
    &p.bytes()[m.l4_offset + 8..]
}

/// RFC 7915 §4.2: an ICMPv4 error about a NAT64 flow goes back to the IPv6 host as the ICMPv6
/// error it maps to, from `64:ff9b::<router>`, quoting the packet as the host sent it (IPv6
/// header, its own port, the quoted checksum moved to the IPv6 pseudo-header); the MTU of
/// "fragmentation needed" grows by the 20 bytes the headers differ. Checked by etherparse.
#[test]
fn nat64_translates_icmp_errors_about_its_flows_to_icmpv6_with_their_quote() {
    use etherparse::{Ipv6HeaderSlice, UdpHeaderSlice};
    use icmp::{v4, v6};
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let router = "203.0.113.1";
    let router64 = "64:ff9b::cb00:7101";
    for (ty, code, rest, want) in [
        (
            v4::DEST_UNREACHABLE,
            3,
            [0; 4],
            (v6::DEST_UNREACHABLE, 4, [0; 4]),
        ),
        (
            v4::DEST_UNREACHABLE,
            1,
            [0; 4],
            (v6::DEST_UNREACHABLE, 0, [0; 4]),
        ),
        (
            v4::DEST_UNREACHABLE,
            13,
            [0; 4],
            (v6::DEST_UNREACHABLE, 1, [0; 4]),
        ),
        // Fragmentation needed, MTU 1400 → packet too big, MTU 1420.
        (
            v4::DEST_UNREACHABLE,
            4,
            [0, 0, 0x05, 0x78],
            (v6::PACKET_TOO_BIG, 0, 1420u32.to_be_bytes()),
        ),
        // MTU 0 (an old router): the largest RFC 1191 plateau below the quoted length (36: none
        // is, the smallest, 68, is taken), plus 20.
        (
            v4::DEST_UNREACHABLE,
            4,
            [0; 4],
            (v6::PACKET_TOO_BIG, 0, 88u32.to_be_bytes()),
        ),
        (v4::TIME_EXCEEDED, 0, [0; 4], (v6::TIME_EXCEEDED, 0, [0; 4])),
        // Protocol unreachable → parameter problem at the Next Header field (offset 6).
        (
            v4::DEST_UNREACHABLE,
            2,
            [0; 4],
            (v6::PARAM_PROBLEM, 1, [0, 0, 0, 6]),
        ),
        // Parameter problem at the IPv4 TTL (offset 8) → at the hop limit (offset 7).
        (
            v4::PARAM_PROBLEM,
            0,
            [8, 0, 0, 0],
            (v6::PARAM_PROBLEM, 0, [0, 0, 0, 7]),
        ),
    ] {
        let mut out = Pkt::new(V6, HOST64, IpProtocol::Udp, 5353, 53);
        forwarded_to(&snap, send(&snap, &flows, "v6", &mut out, 0), "internet");
        let eport = out.meta().sport;
        let mut e = icmp4_error_about(&out, router, ty, code, rest);
        forwarded_to(&snap, send(&snap, &flows, "internet", &mut e, 1), "v6");
        let m = e.meta();
        assert_eq!(
            (m.src, m.dst),
            (support::ip(router64), support::ip(V6)),
            "{ty}/{code}"
        );
        assert_eq!(
            (m.proto, m.icmp_type, m.icmp_code),
            (IpProtocol::Icmpv6, want.0, want.1),
            "{ty}/{code}"
        );
        assert_eq!(&e.bytes()[44..48], &want.2, "{ty}/{code}: MTU / pointer");
        independent_checksums(e.bytes()).unwrap();
        // The quote: the datagram as the IPv6 host sent it, its checksum right again.
        let q = quote(&e);
        let ip = Ipv6HeaderSlice::from_slice(q).expect("a quoted IPv6 header");
        assert_eq!(ip.source_addr(), V6.parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(
            ip.destination_addr(),
            HOST64.parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(
            (ip.next_header(), ip.payload_length()),
            (etherparse::IpNumber::UDP, 16)
        );
        let u = UdpHeaderSlice::from_slice(&q[40..]).unwrap();
        assert_eq!(
            (u.source_port(), u.destination_port()),
            (5353, 53),
            "not {eport}"
        );
        let want_c = u
            .to_header()
            .calc_checksum_ipv6_raw(ip.source(), ip.destination(), &q[48..])
            .unwrap();
        assert_eq!(u.checksum(), want_c, "the quoted UDP checksum");
    }
}

/// The quoted packet may be an ICMP echo (a ping through NAT64 that a router answers with
/// "time exceeded"): it goes back as the ICMPv6 echo request the host sent, its identifier and
/// checksum (now over the IPv6 pseudo-header) as they were.
#[test]
fn nat64_translates_a_time_exceeded_about_a_ping_with_the_echo_it_quotes() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut out = echo6(V6, HOST64, 77);
    let sent = out.bytes().to_vec();
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut out, 0), "internet");
    let mut e = icmp4_error_about(&out, "203.0.113.1", icmp::v4::TIME_EXCEEDED, 0, [0; 4]);
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut e, 1), "v6");
    independent_checksums(e.bytes()).unwrap();
    let q = quote(&e);
    // Byte for byte what the host sent, but for the hop limit (the quoted TTL).
    assert_eq!(&q[..7], &sent[..7]);
    assert_eq!(
        &q[8..],
        &sent[8..],
        "addresses, echo type, identifier and checksum"
    );
}

/// RFC 7915 §5.2: an ICMPv6 error the IPv6 host sends about a packet it received through NAT64
/// (here port unreachable for a datagram from the IPv4 host) goes to the IPv4 host as ICMPv4,
/// from the gateway's Elastic IP, quoting the datagram as the IPv4 host sent it.
#[test]
fn nat64_translates_an_icmpv6_error_from_the_host_to_icmpv4_with_its_quote() {
    use etherparse::{Ipv4HeaderSlice, UdpHeaderSlice};
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut out = Pkt::new(V6, HOST64, IpProtocol::Udp, 5353, 53);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut out, 0), "internet");
    let eport = out.meta().sport;
    out.reply();
    forwarded_to(&snap, send(&snap, &flows, "internet", &mut out, 1), "v6");
    // The host's socket is gone: port unreachable, quoting the datagram it got.
    let mut err = out.buf.clone();
    let n = wire::emit::icmp_error(
        &mut err,
        &out.meta(),
        support::ip(V6),
        icmp::v6::DEST_UNREACHABLE,
        4,
    )
    .unwrap();
    err.truncate(n);
    let mut e = Pkt::from_bytes(err);
    assert!(
        independent_checksums(e.bytes()).is_ok(),
        "a valid ICMPv6 error to start with"
    );
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut e, 2), "internet");
    let m = e.meta();
    assert_eq!(
        (m.src, m.dst),
        (support::ip("198.51.100.5"), support::ip("203.0.113.100"))
    );
    assert_eq!(
        (m.proto, m.icmp_type, m.icmp_code),
        (IpProtocol::Icmp, icmp::v4::DEST_UNREACHABLE, 3)
    );
    independent_checksums(e.bytes()).unwrap();
    let q = quote(&e);
    let ip = Ipv4HeaderSlice::from_slice(q).expect("a quoted IPv4 header");
    assert_eq!(
        (
            ip.source_addr().to_string(),
            ip.destination_addr().to_string()
        ),
        ("203.0.113.100".into(), "198.51.100.5".into())
    );
    assert_eq!(ip.to_header().calc_header_checksum(), ip.header_checksum());
    assert_eq!(
        (ip.protocol(), ip.total_len()),
        (etherparse::IpNumber::UDP, 36)
    );
    let u = UdpHeaderSlice::from_slice(&q[20..]).unwrap();
    assert_eq!((u.source_port(), u.destination_port()), (53, eport));
    let want_c = u
        .to_header()
        .calc_checksum_ipv4_raw(ip.source(), ip.destination(), &q[28..])
        .unwrap();
    assert_eq!(u.checksum(), want_c, "the quoted UDP checksum");
}

/// What RFC 7915 does not translate (ICMPv4 source quench; an ICMPv6 error about no flow of
/// the gateway) is refused whole: `UNSUPPORTED_PROTOCOL`, not a byte changed.
#[test]
fn nat64_refuses_icmp_errors_it_cannot_translate_without_rewriting_them() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    let mut out = Pkt::new(V6, HOST64, IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut out, 0), "internet");
    let mut e = icmp4_error_about(&out, "203.0.113.1", icmp::v4::SOURCE_QUENCH, 0, [0; 4]);
    let before = e.bytes().to_vec();
    assert_eq!(
        send(&snap, &flows, "internet", &mut e, 1),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    assert_eq!(e.bytes(), &before[..]);
    // An ICMPv6 error about a datagram that never came through the gateway.
    let stray = Pkt::new(HOST64, V6, IpProtocol::Udp, 53, 9999);
    let mut err = stray.buf.clone();
    let n = wire::emit::icmp_error(
        &mut err,
        &stray.meta(),
        support::ip(V6),
        icmp::v6::DEST_UNREACHABLE,
        4,
    )
    .unwrap();
    err.truncate(n);
    let mut e = Pkt::from_bytes(err);
    let before = e.bytes().to_vec();
    assert_eq!(
        send(&snap, &flows, "v6", &mut e, 1),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    assert_eq!(e.bytes(), &before[..]);
    assert_eq!(flows.nat().stats().active, 1, "nothing bound for it");
}

// ---- gateway endpoints over IPv6 ----

const S3_6: &str = "2001:db8:53::10";

/// AWS: a gateway endpoint with `IpAddressType: dualstack` routes its service's IPv6 ranges
/// too — the AWS-managed IPv6 list (`com.amazonaws.<region>.ipv6.s3`) gets a route to the
/// endpoint in each of its tables, next to the IPv4 list — with no translation either way.
#[test]
fn a_dualstack_gateway_endpoint_routes_the_services_ipv6_list_untranslated() {
    let snap = lab6();
    let flows = FlowTable::new(1024);
    for (from, src, dst) in [
        ("v6", V6, S3_6),
        ("web", WEB6, S3_6),
        ("web", "10.0.1.10", "192.0.2.10"),
    ] {
        let mut p = Pkt::new(src, dst, IpProtocol::Tcp, 40000, 443);
        let before = p.bytes().to_vec();
        forwarded_to(&snap, send(&snap, &flows, from, &mut p, 0), "s3");
        assert_eq!(p.bytes(), &before[..], "{src}: no translation");
        p.reply();
        forwarded_to(&snap, send(&snap, &flows, "s3", &mut p, 1), from);
    }
    // The service cannot open connections over IPv6 either.
    let mut p = Pkt::new(S3_6, V6, IpProtocol::Tcp, 443, 80);
    assert_eq!(
        send(&snap, &flows, "s3", &mut p, 2),
        Verdict::Drop(DropReason::Unsolicited)
    );
    // Flow logs name the service of the IPv6 list as of the IPv4 one.
    let s3: Vec<_> = snap
        .aws_services
        .iter()
        .filter(|(_, s)| s == "S3")
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(s3, ["192.0.2.0/26", "2001:db8:53::/64"]);
}

/// `ipv4` (AWS's default): only the IPv4 list is routed; IPv6 traffic to the service takes the
/// subnet's other routes (here `::/0 → eigw-lab6`), as it does in AWS.
#[test]
fn an_ipv4_gateway_endpoint_leaves_ipv6_to_the_other_routes() {
    let yaml = lab6_with(
        "    ServiceName: com.amazonaws.us-east-1.s3\n    IpAddressType: dualstack\n",
        "    ServiceName: com.amazonaws.us-east-1.s3\n",
    );
    let snap = compile(&yaml);
    let flows = FlowTable::new(1024);
    let mut p = Pkt::new(V6, S3_6, IpProtocol::Tcp, 40000, 443);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
    let mut p = Pkt::new("10.0.1.10", "192.0.2.10", IpProtocol::Tcp, 40000, 443);
    forwarded_to(&snap, send(&snap, &flows, "web", &mut p, 0), "s3");
}

#[test]
fn check_holds_a_gateway_endpoint_to_its_ip_address_type() {
    // dualstack needs the service's IPv6 list.
    assert_error(
        &lab6_with(
            "    PrefixListName: com.amazonaws.us-east-1.ipv6.s3\n",
            "    PrefixListName: lab-ipv6-s3\n",
        ),
        &[
            "vpce-lab6-s3",
            "IpAddressType",
            "no prefix list has PrefixListName com.amazonaws.us-east-1.ipv6.s3",
        ],
    );
    // A gateway endpoint is ipv4 or dualstack.
    assert_error(
        &lab6_with(
            "    ServiceName: com.amazonaws.us-east-1.s3\n    IpAddressType: dualstack\n",
            "    ServiceName: com.amazonaws.us-east-1.s3\n    IpAddressType: ipv6\n",
        ),
        &["vpce-lab6-s3", "IpAddressType", "ipv4 or dualstack"],
    );
    // The IPv6 list's route is the endpoint's: not to be written by hand.
    assert_error(
        &lab6_with(
            "      - DestinationIpv6CidrBlock: 64:ff9b::/96\n",
            "      - DestinationPrefixListId: pl-lab6-s3-v6\n        GatewayId: igw-lab6\n      - DestinationIpv6CidrBlock: 64:ff9b::/96\n",
        ),
        &[
            "rtb-v6only",
            "DestinationPrefixListId",
            "managed by the endpoint",
        ],
    );
}

// ---- the resolver at fd00:ec2::253, DNS64 ----

/// A DNS query for `name` (type `rtype`) from `src` to `dst`, port 53.
fn dns_query6(src: &str, dst: &str, name: &str, rtype: vpcfwd::dns::proto::rr::RecordType) -> Pkt {
    use vpcfwd::dns::proto::op::{Message, Query};
    use vpcfwd::dns::proto::rr::Name;
    let mut q = Message::query();
    q.metadata.id = 0x6464;
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let payload = q.to_vec().unwrap();
    let mut buf = vec![0u8; 1500];
    let len = wire::emit::udp(
        (support::ip(src), 40053),
        (support::ip(dst), wire::udp::DNS_PORT),
        &payload,
        &mut buf,
    )
    .unwrap();
    buf.truncate(len);
    Pkt::from_bytes(buf)
}

/// Asks the resolver at `to` from port `from` (address `src`): the response code and the
/// answers' addresses, after checking the answer goes back from `to` with valid checksums.
fn resolve6(
    snap: &Snapshot,
    from: &str,
    src: &str,
    to: &str,
    name: &str,
    rtype: vpcfwd::dns::proto::rr::RecordType,
) -> (vpcfwd::dns::proto::op::ResponseCode, Vec<String>) {
    use vpcfwd::dns::proto::op::Message;
    use vpcfwd::dns::proto::rr::RData;
    let mut p = dns_query6(src, to, name, rtype);
    let v = send(snap, &FlowTable::new(64), from, &mut p, 0);
    let Verdict::Answer { egress, len, .. } = v else {
        panic!("{name}: {v:?}");
    };
    assert_eq!(egress, port(snap, from));
    p.len = len;
    let m = p.meta();
    assert_eq!((m.src, m.sport), (support::ip(to), 53));
    assert_eq!((m.dst, m.dport), (support::ip(src), 40053));
    independent_checksums(p.bytes()).unwrap();
    let r = Message::from_vec(&p.bytes()[m.l4_offset + wire::udp::HEADER_LEN..]).unwrap();
    let addrs = r
        .answers
        .iter()
        .map(|a| match &a.data {
            RData::A(v) => v.0.to_string(),
            RData::AAAA(v) => v.0.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    (r.metadata.response_code, addrs)
}

const RESOLVER6: &str = "fd00:ec2::253";

/// AWS: the Amazon-provided resolver answers at fd00:ec2::253 as at base + 2 (no groups, no
/// NACLs, never forwarded), here to the IPv6-only instance and the dual-stack one alike; the
/// dualstack endpoint's private DNS name has an A and an AAAA answer.
#[test]
fn the_resolver_answers_at_fd00_ec2_253() {
    use vpcfwd::dns::proto::op::ResponseCode;
    use vpcfwd::dns::proto::rr::RecordType;
    let snap = lab6();
    for (from, src) in [("v6", V6), ("web", WEB6)] {
        assert_eq!(
            resolve6(
                &snap,
                from,
                src,
                RESOLVER6,
                "api.lab6.example",
                RecordType::AAAA
            ),
            (ResponseCode::NoError, vec![API6.to_string()])
        );
        assert_eq!(
            resolve6(
                &snap,
                from,
                src,
                RESOLVER6,
                "api.lab6.example",
                RecordType::A
            ),
            (ResponseCode::NoError, vec!["10.0.1.20".to_string()])
        );
        assert_eq!(
            resolve6(
                &snap,
                from,
                src,
                RESOLVER6,
                "nothing.lab6.example",
                RecordType::AAAA
            )
            .0,
            ResponseCode::NXDomain
        );
    }
    // Over IPv4 as before.
    assert_eq!(
        resolve6(
            &snap,
            "web",
            "10.0.1.10",
            "10.0.0.2",
            "api.lab6.example",
            RecordType::AAAA
        ),
        (ResponseCode::NoError, vec![API6.to_string()])
    );
    // Another fd00:ec2:: address is still never forwarded.
    let mut p = dns_query6(V6, "fd00:ec2::252", "api.lab6.example", RecordType::AAAA);
    assert_eq!(
        send(&snap, &FlowTable::new(64), "v6", &mut p, 0),
        Verdict::Drop(DropReason::ReservedDestination)
    );
}

/// RFC 6147 as Route 53 Resolver does it with `EnableDns64` on the subnet: an AAAA query for a
/// name with A records only is answered with them in 64:ff9b::/96 (which the subnet routes
/// to NAT64); a name with AAAA records gets those; A queries are unchanged; a subnet without
/// DNS64 gets no AAAA for an IPv4-only name.
#[test]
fn dns64_synthesizes_aaaa_for_ipv4_only_names_in_its_subnets_only() {
    use vpcfwd::dns::proto::op::ResponseCode;
    use vpcfwd::dns::proto::rr::RecordType;
    let snap = lab6();
    let web_name = "ip-10-0-1-10.ec2.internal";
    assert_eq!(
        resolve6(&snap, "v6", V6, RESOLVER6, web_name, RecordType::AAAA),
        (ResponseCode::NoError, vec!["64:ff9b::a00:10a".to_string()])
    );
    assert_eq!(
        resolve6(&snap, "v6", V6, RESOLVER6, web_name, RecordType::A),
        (ResponseCode::NoError, vec!["10.0.1.10".to_string()])
    );
    assert_eq!(
        resolve6(
            &snap,
            "v6",
            V6,
            RESOLVER6,
            "api.lab6.example",
            RecordType::AAAA
        ),
        (ResponseCode::NoError, vec![API6.to_string()]),
        "a name with AAAA records is not synthesized"
    );
    // subnet-public has no EnableDns64.
    assert_eq!(
        resolve6(&snap, "web", WEB6, RESOLVER6, web_name, RecordType::AAAA),
        (ResponseCode::NoError, vec![])
    );
    // The synthesized address is reachable: the v6 subnet routes 64:ff9b::/96 to nat-lab6.
    let flows = FlowTable::new(64);
    let mut p = Pkt::new(V6, "64:ff9b::cb00:7164", IpProtocol::Tcp, 40000, 80);
    forwarded_to(&snap, send(&snap, &flows, "v6", &mut p, 0), "internet");
}

/// `vpcfwd ports` (what `lab.sh up` writes to each namespace's resolv.conf): the IPv6-only
/// instance resolves at fd00:ec2::253 (it has no IPv4 address to reach base + 2 from), the
/// dual-stack one at base + 2. Found when tried: it printed 10.0.0.2 for both.
#[test]
fn an_ipv6_only_instance_is_given_the_ipv6_resolver() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["ports", "-c", "configs/lab6.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let dns = |port: &str| {
        out.lines()
            .find(|l| l.split(' ').next() == Some(port))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(dns("v6").as_deref(), Some(RESOLVER6), "{out}");
    assert_eq!(dns("web").as_deref(), Some("10.0.0.2"), "{out}");
    assert_eq!(dns("internet").as_deref(), Some("-"), "{out}");
}

// ---- trace over IPv6, pinned ----

/// `vpcfwd trace` on lab6 for IPv6 paths, text pinned by `tests/golden/ipv6/*.txt`
/// (`UPDATE_GOLDEN=1` rewrites them): the untracked flow says `::/0` (it said `0.0.0.0/0`),
/// NAT64 with its reply, the dual-stack interface and gateway endpoints.
#[test]
fn ipv6_traces_match_their_golden_files() {
    let cases: [(&str, &[&str]); 5] = [
        (
            "internet-to-web6-untracked",
            &[
                "--from", "internet", "--dst", WEB6, "--dport", "80", "--reply",
            ],
        ),
        (
            "v6-to-host64-nat64",
            &["--from", "v6", "--dst", HOST64, "--dport", "80", "--reply"],
        ),
        (
            "v6-to-endpoint-eni6",
            &["--from", "v6", "--dst", API6, "--dport", "443", "--reply"],
        ),
        (
            "v6-to-s3-ipv6-gateway-endpoint",
            &["--from", "v6", "--dst", S3_6, "--dport", "443"],
        ),
        (
            "internet-to-v6-egress-only",
            &["--from", "internet", "--dst", V6, "--dport", "80"],
        ),
    ];
    let mut mismatches = Vec::new();
    for (name, args) in cases {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
            .args(["trace", "-c", "configs/lab6.yaml"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        support::golden::compare_file(
            &support::golden::dir("ipv6").join(format!("{name}.txt")),
            &text,
            &mut mismatches,
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let untracked = std::fs::read_to_string(
        support::golden::dir("ipv6").join("internet-to-web6-untracked.txt"),
    )
    .unwrap();
    assert!(
        untracked.contains("untracked (::/0 rules both ways)"),
        "{untracked}"
    );
}
