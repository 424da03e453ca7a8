//! The AWS rules of issue 11 (../shared/docs/vpc-semantics.md), one named test (or a few) per
//! rule. Each starts from configs/lab.yaml, changes what the rule is about, and checks the
//! verdict and, where it matters, the bytes that leave — so breaking the rule fails the test.

mod support;

use support::{Pkt, cidr_route, compile, eni, lab, port, rtb, rx, sg, sg_rule};
use vpcfwd::config::{self, Config};
use vpcfwd::flow::FlowTable;
use vpcfwd::pipeline::{self, DropReason, NoTrace, Verdict};
use vpcfwd::snapshot::Snapshot;
use vpcfwd::trace::{Probe, trace};
use vpcfwd::wire::IpProtocol;

fn probe(from: &str, src: Option<&str>, dst: &str, dport: u16) -> Probe {
    Probe {
        from: from.into(),
        src: src.map(|s| s.parse().unwrap()),
        dst: dst.parse().unwrap(),
        proto: IpProtocol::Tcp,
        sport: 49152,
        dport,
        icmp: (8, 0),
        reply: false,
    }
}

/// The verdict line of a TCP trace.
fn verdict(cfg: &Config, from: &str, src: Option<&str>, dst: &str, dport: u16) -> String {
    let snap = compile(cfg);
    trace(&snap, cfg, &probe(from, src, dst, dport))
        .unwrap()
        .verdict_line()
}

/// The whole trace text of a TCP probe.
fn trace_text(cfg: &Config, from: &str, dst: &str, dport: u16) -> String {
    let snap = compile(cfg);
    trace(&snap, cfg, &probe(from, None, dst, dport))
        .unwrap()
        .text()
}

/// Runs `p` through the pipeline from `from` on `flows` (rewritten in place).
fn send(snap: &Snapshot, flows: &FlowTable, from: &str, p: &mut Pkt) -> Verdict {
    pipeline::process(
        snap,
        flows,
        &mut p.buf,
        p.len,
        rx(snap, from, 1),
        &mut NoTrace,
    )
}

fn forwarded_to(snap: &Snapshot, v: Verdict, to: &str) -> bool {
    matches!(v, Verdict::Forward { egress, .. } if egress == port(snap, to))
}

fn add_port(cfg: &mut Config, id: &str, eni: &str) {
    cfg.ports.push(config::Port {
        port_id: id.into(),
        network_interface_id: Some(eni.into()),
        ..Default::default()
    });
}

/// A second instance ENI like eni-web, in `subnet` at `addr`.
fn add_instance(cfg: &mut Config, id: &str, subnet: &str, addr: &str, port_id: &str) {
    let mut n = eni(cfg, "eni-web").clone();
    n.network_interface_id = id.into();
    n.subnet_id = subnet.into();
    n.private_ip_address = Some(addr.parse().unwrap());
    n.association = None;
    n.attachment = None;
    cfg.network_interfaces.push(n);
    add_port(cfg, port_id, id);
}

// ---- 1. Nothing outside initiates into the VPC except through a public address ---------------

#[test]
fn rule1_services_behind_endpoints_never_initiate() {
    let mut cfg = lab();
    // Even groups that allow everything inbound from anywhere let no service initiate.
    for g in ["sg-app", "sg-web", "sg-lab-api"] {
        let mut all = sg_rule(false, "-1", 0, 0, "0.0.0.0/0");
        (all.from_port, all.to_port) = (None, None);
        sg(&mut cfg, g)
            .security_group_rules
            .as_mut()
            .unwrap()
            .push(all);
    }
    let snap = compile(&cfg);
    let flows = FlowTable::new(64);
    // S3 (behind the gateway endpoint) opening a connection to app: no way in.
    let mut p = Pkt::new("192.0.2.10", "10.0.2.10", IpProtocol::Tcp, 443, 22);
    assert_eq!(
        send(&snap, &flows, "s3", &mut p),
        Verdict::Drop(DropReason::Unsolicited)
    );
    // A PrivateLink provider's target opening one to any consumer address, not only the
    // endpoint ENI's: the same.
    for dst in ["10.0.2.10", "10.0.1.10", "10.0.2.20"] {
        let mut p = Pkt::new("192.0.2.130", dst, IpProtocol::Tcp, 443, 22);
        assert_eq!(
            send(&snap, &flows, "api", &mut p),
            Verdict::Drop(DropReason::Unsolicited),
            "{dst}"
        );
        let mut u = Pkt::new("192.0.2.130", dst, IpProtocol::Udp, 53, 5353);
        assert_eq!(
            send(&snap, &flows, "api", &mut u),
            Verdict::Drop(DropReason::Unsolicited),
            "{dst}"
        );
    }
    let t = trace(&snap, &cfg, &probe("api", None, "10.0.1.10", 80))
        .unwrap()
        .text();
    assert!(t.contains("a service never initiates into the VPC"), "{t}");
    assert!(t.ends_with("verdict: DROP reason=UNSOLICITED\n"), "{t}");
    // Replies to a flow the VPC opened come back.
    let mut p = Pkt::new("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 40000, 80);
    assert!(forwarded_to(
        &snap,
        send(&snap, &flows, "app", &mut p),
        "s3"
    ));
    p.reply();
    assert!(forwarded_to(
        &snap,
        send(&snap, &flows, "s3", &mut p),
        "app"
    ));
}

// ---- 2. Route tables decide only for traffic leaving a subnet ---------------------------------

#[test]
fn rule2_same_subnet_is_direct_and_a_subnet_route_captures_other_subnets() {
    let mut cfg = lab();
    add_instance(&mut cfg, "eni-fw", "subnet-private", "10.0.2.50", "fw");
    eni(&mut cfg, "eni-fw").source_dest_check = Some(false);
    // Both tables send the private subnet's CIDR to the appliance.
    rtb(&mut cfg, "rtb-private")
        .routes
        .push(cidr_route("10.0.2.0/24", "eni-fw"));
    rtb(&mut cfg, "rtb-public")
        .routes
        .push(cidr_route("10.0.2.0/24", "eni-fw"));
    assert!(
        config::validate::validate(&cfg).is_empty(),
        "{:?}",
        config::validate::validate(&cfg)
    );
    // Inside the subnet: straight to the endpoint ENI, no route, no NACL.
    assert_eq!(
        verdict(&cfg, "app", None, "10.0.2.20", 443),
        "verdict: ACCEPT egress=api"
    );
    let t = trace_text(&cfg, "app", "10.0.2.20", 443);
    assert!(!t.contains("route "), "{t}");
    assert!(
        t.contains("not applied: both ENIs are in subnet-private"),
        "{t}"
    );
    // From the other subnet: the subnet route captures it.
    assert_eq!(
        verdict(&cfg, "web", None, "10.0.2.10", 80),
        "verdict: ACCEPT egress=fw"
    );
}

// ---- 5. Public addresses are per private address ----------------------------------------------

#[test]
fn rule5_each_secondary_private_ip_has_its_own_elastic_ip() {
    let mut cfg = lab();
    eni(&mut cfg, "eni-web")
        .private_ip_addresses
        .push(config::PrivateIpAddress {
            private_ip_address: "10.0.1.11".parse().unwrap(),
            primary: Some(false),
            association: Some(config::IpAssociation {
                public_ip: "198.51.100.11".parse().unwrap(),
                allocation_id: None,
            }),
        });
    assert!(
        config::validate::validate(&cfg).is_empty(),
        "{:?}",
        config::validate::validate(&cfg)
    );
    let snap = compile(&cfg);
    let flows = FlowTable::new(64);
    for (private, public) in [
        ("10.0.1.10", "198.51.100.10"),
        ("10.0.1.11", "198.51.100.11"),
    ] {
        let mut p = Pkt::new(private, "203.0.113.100", IpProtocol::Tcp, 40000, 80);
        assert!(forwarded_to(
            &snap,
            send(&snap, &flows, "web", &mut p),
            "internet"
        ));
        assert_eq!(p.meta().src.to_string(), public);
        let mut q = Pkt::new("203.0.113.100", public, IpProtocol::Tcp, 41000, 80);
        assert!(forwarded_to(
            &snap,
            send(&snap, &flows, "internet", &mut q),
            "web"
        ));
        assert_eq!(q.meta().dst.to_string(), private);
    }
}

// ---- 6. Private NAT gateway --------------------------------------------------------------------

fn private_nat(cfg: &mut Config) {
    let n = &mut cfg.nat_gateways[0];
    n.connectivity_type = Some(config::ConnectivityType::Private);
    n.nat_gateway_addresses[0].public_ip = None;
    n.nat_gateway_addresses[0].allocation_id = None;
}

#[test]
fn rule6_private_nat_gateway_translates_to_its_private_ip_and_never_reaches_the_igw() {
    let mut cfg = lab();
    private_nat(&mut cfg);
    rtb(&mut cfg, "rtb-private")
        .routes
        .push(cidr_route("10.0.1.0/24", "nat-lab"));
    sg(&mut cfg, "sg-app")
        .security_group_rules
        .as_mut()
        .unwrap()
        .push(sg_rule(true, "tcp", 80, 80, "10.0.0.0/16"));
    assert!(
        config::validate::validate(&cfg).is_empty(),
        "{:?}",
        config::validate::validate(&cfg)
    );
    // To the internet gateway: dropped (a private NAT gateway has no public address).
    assert_eq!(
        verdict(&cfg, "app", None, "203.0.113.100", 80),
        "verdict: DROP reason=NO_PUBLIC_IP"
    );
    // Inside the VPC: the source becomes the NAT gateway's private IP, replies come back.
    let snap = compile(&cfg);
    let flows = FlowTable::new(64);
    let mut p = Pkt::new("10.0.2.10", "10.0.1.10", IpProtocol::Tcp, 40000, 80);
    assert!(forwarded_to(
        &snap,
        send(&snap, &flows, "app", &mut p),
        "web"
    ));
    assert_eq!(p.meta().src.to_string(), "10.0.1.5");
    p.reply();
    assert!(forwarded_to(
        &snap,
        send(&snap, &flows, "web", &mut p),
        "app"
    ));
    let m = p.meta();
    assert_eq!(
        (m.src.to_string(), m.dst.to_string()),
        ("10.0.1.10".into(), "10.0.2.10".into())
    );
    assert_eq!(m.dport, 40000);
}

// ---- 7. A detached internet gateway carries nothing --------------------------------------------

fn detach(cfg: &mut Config) {
    cfg.internet_gateways[0].attachments[0].state = Some(config::AttachmentState::Detached);
}

#[test]
fn rule7_detached_internet_gateway_carries_nothing() {
    // `check` refuses this config (below); compiled anyway, it carries nothing either way.
    let mut cfg = lab();
    detach(&mut cfg);
    let snap = vpcfwd::snapshot::compile(&cfg).unwrap();
    let v = |from: &str, dst: &str| {
        trace(&snap, &cfg, &probe(from, None, dst, 80))
            .unwrap()
            .verdict_line()
    };
    assert_eq!(
        v("web", "203.0.113.100"),
        "verdict: DROP reason=BLACKHOLE_ROUTE"
    );
    assert_eq!(
        v("internet", "198.51.100.10"),
        "verdict: DROP reason=NO_PUBLIC_IP_MAPPING"
    );
    assert_eq!(
        v("internet", "198.51.100.5"),
        "verdict: DROP reason=NO_PUBLIC_IP_MAPPING"
    );
}

#[test]
fn rule7_check_refuses_a_detached_gateway_while_public_addresses_are_mapped() {
    let mut cfg = lab();
    detach(&mut cfg);
    let e: Vec<String> = config::validate::validate(&cfg)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        e.iter()
            .any(|e| e.starts_with("igw-lab: Attachments[0].State:") && e.contains("198.51.100.10")),
        "{e:?}"
    );
    // Without public addresses (no ENI's, no NAT gateway's Elastic IP) the detach is fine.
    let mut cfg = lab();
    detach(&mut cfg);
    eni(&mut cfg, "eni-web").association = None;
    private_nat(&mut cfg);
    let e = config::validate::validate(&cfg);
    assert!(e.is_empty(), "{e:?}");
}

// ---- 8. Hairpin through the internet gateway ---------------------------------------------------

#[test]
fn rule8_hairpin_through_the_igw_shows_the_public_source() {
    let mut cfg = lab();
    add_instance(&mut cfg, "eni-web2", "subnet-public", "10.0.1.30", "web2");
    eni(&mut cfg, "eni-web2").association = Some(config::IpAssociation {
        public_ip: "198.51.100.30".parse().unwrap(),
        allocation_id: None,
    });
    let mut g = sg(&mut cfg, "sg-web").clone();
    g.group_id = "sg-web2".into();
    g.group_name = "web2".into();
    let mut by_group = sg_rule(false, "tcp", 22, 22, "0.0.0.0/0");
    by_group.cidr_ipv4 = None;
    by_group.referenced_group_info = Some(config::ReferencedGroupInfo {
        group_id: "sg-web".into(),
    });
    g.security_group_rules = Some(vec![
        by_group,
        sg_rule(false, "tcp", 80, 80, "198.51.100.10/32"),
        sg_rule(true, "-1", 0, 0, "0.0.0.0/0"),
    ]);
    cfg.security_groups.push(g);
    eni(&mut cfg, "eni-web2").groups = vec![config::GroupIdentifier {
        group_id: "sg-web2".into(),
        group_name: None,
    }];
    assert!(
        config::validate::validate(&cfg).is_empty(),
        "{:?}",
        config::validate::validate(&cfg)
    );
    let snap = compile(&cfg);
    let flows = FlowTable::new(64);
    let mut p = Pkt::new("10.0.1.10", "198.51.100.30", IpProtocol::Tcp, 40000, 80);
    assert!(forwarded_to(
        &snap,
        send(&snap, &flows, "web", &mut p),
        "web2"
    ));
    let m = p.meta();
    assert_eq!(
        (m.src.to_string(), m.dst.to_string()),
        ("198.51.100.10".into(), "10.0.1.30".into())
    );
    // The reply hairpins back the same way.
    p.reply();
    assert!(forwarded_to(
        &snap,
        send(&snap, &flows, "web2", &mut p),
        "web"
    ));
    let m = p.meta();
    assert_eq!(
        (m.src.to_string(), m.dst.to_string()),
        ("198.51.100.30".into(), "10.0.1.10".into())
    );
    // The group reference matches private addresses only: SSH by public address is refused,
    // by private address allowed.
    assert_eq!(
        verdict(&cfg, "web", None, "198.51.100.30", 22),
        "verdict: DROP reason=SG_NO_ALLOW"
    );
    assert_eq!(
        verdict(&cfg, "web", None, "10.0.1.30", 22),
        "verdict: ACCEPT egress=web2"
    );
    let t = trace_text(&cfg, "web", "198.51.100.30", 80);
    assert!(t.contains("hairpin"), "{t}");
}

// ---- 3. The local route ------------------------------------------------------------------------

#[test]
fn rule3_a_route_to_the_vpc_cidr_replaces_the_local_routes_target() {
    let mut cfg = lab();
    add_instance(&mut cfg, "eni-fw", "subnet-private", "10.0.2.50", "fw");
    eni(&mut cfg, "eni-fw").source_dest_check = Some(false);
    // As AWS shows a replaced local route: the VPC CIDR with a NetworkInterfaceId.
    rtb(&mut cfg, "rtb-public")
        .routes
        .push(cidr_route("10.0.0.0/16", "eni-fw"));
    assert!(config::validate::validate(&cfg).is_empty());
    let t = trace_text(&cfg, "web", "10.0.2.10", 80);
    assert!(
        t.contains(
            "rtb-public: 10.0.0.0/16 -> eni-fw (longest prefix /16, local route, target replaced)"
        ),
        "{t}"
    );
    assert!(t.ends_with("verdict: ACCEPT egress=fw\n"), "{t}");
    // One route per destination: the replaced local route is the only /16 in the table.
    let snap = compile(&cfg);
    let rt = snap
        .route_tables
        .iter()
        .find(|r| r.id == "rtb-public")
        .unwrap();
    assert_eq!(
        rt.routes
            .iter()
            .filter(|r| r.dest.to_string() == "10.0.0.0/16")
            .count(),
        1
    );
    // Any other target is refused, naming the table and the field.
    for target in ["nat-lab", "igw-lab"] {
        let mut cfg = lab();
        rtb(&mut cfg, "rtb-public")
            .routes
            .push(cidr_route("10.0.0.0/16", target));
        let e: Vec<String> = config::validate::validate(&cfg)
            .iter()
            .map(|e| e.to_string())
            .collect();
        let field = if target.starts_with("nat") {
            "NatGatewayId"
        } else {
            "GatewayId"
        };
        assert!(
            e.iter().any(
                |e| e.starts_with(&format!("rtb-public: Routes[2].{field}:"))
                    && e.contains("only a NetworkInterfaceId")
            ),
            "{e:?}"
        );
    }
}

// ---- 4. Route quotas ---------------------------------------------------------------------------

#[test]
fn rule4_prefix_list_routes_count_their_max_entries_against_the_quota() {
    let mut cfg = lab();
    let mut big = support::pl("pl-big", "big", &["203.0.113.0/28"]);
    big.max_entries = Some(45);
    cfg.managed_prefix_lists.push(big);
    let t = rtb(&mut cfg, "rtb-public");
    t.routes.push(config::Route {
        destination_prefix_list_id: Some("pl-big".into()),
        nat_gateway_id: Some("nat-lab".into()),
        ..Default::default()
    });
    // 2 written + 45 = 47: within 50.
    assert!(config::validate::validate(&cfg).is_empty());
    for k in 0..4 {
        rtb(&mut cfg, "rtb-public")
            .routes
            .push(cidr_route(&format!("198.18.{k}.0/24"), "nat-lab"));
    }
    // 51: over.
    let e: Vec<String> = config::validate::validate(&cfg)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("rtb-public: Routes: 51 IPv4 routes"),
        "{e:?}"
    );
    assert!(e[0].contains("quota of 50"), "{e:?}");
    // Options may raise it, to AWS's 1,000 at most.
    cfg.options.route_table_quota = Some(100);
    assert!(config::validate::validate(&cfg).is_empty());
    cfg.options.route_table_quota = Some(5000);
    let e = config::validate::validate(&cfg);
    assert_eq!(
        e[0].to_string(),
        "Options: RouteTableQuota: 5000: AWS's quota is 50, raisable to 1000"
    );
}

// ---- 9. The Amazon-provided resolver ------------------------------------------------------------

use vpcfwd::dns::proto::op::{Message, ResponseCode};
use vpcfwd::dns::proto::rr::{Name, RData, RecordType};
use vpcfwd::wire;

/// A UDP datagram carrying the DNS query for `name` (type A) from `src` to `dst`.
fn dns_query(src: &str, dst: &str, name: &str) -> Pkt {
    let mut q = Message::query();
    q.metadata.id = 0x1234;
    q.metadata.recursion_desired = true;
    q.add_query(vpcfwd::dns::proto::op::Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::A,
    ));
    let payload = q.to_vec().unwrap();
    let mut buf = vec![0u8; 1500];
    let len = wire::emit::udp(
        (src.parse().unwrap(), 40053),
        (dst.parse().unwrap(), wire::udp::DNS_PORT),
        &payload,
        &mut buf,
    )
    .unwrap();
    buf.truncate(len);
    Pkt::from_bytes(buf)
}

/// Sends a query for `name` from `from`'s ENI address `src`; the answer's code and addresses.
fn resolve(
    snap: &Snapshot,
    from: &str,
    src: &str,
    to: &str,
    name: &str,
) -> (ResponseCode, Vec<String>) {
    let mut p = dns_query(src, to, name);
    let v = send(snap, &FlowTable::new(64), from, &mut p);
    let Verdict::Answer { egress, len, .. } = v else {
        panic!("{v:?}");
    };
    assert_eq!(egress, port(snap, from));
    p.len = len;
    let m = p.meta();
    assert_eq!((m.src.to_string(), m.sport), (to.to_string(), 53));
    assert_eq!((m.dst.to_string(), m.dport), (src.to_string(), 40053));
    assert!(support::l4_checksum_ok(p.bytes()));
    let r = Message::from_vec(&p.bytes()[m.l4_offset + wire::udp::HEADER_LEN..]).unwrap();
    assert_eq!(r.metadata.id, 0x1234);
    let addrs = r
        .answers
        .iter()
        .filter_map(|a| match &a.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    (r.metadata.response_code, addrs)
}

fn with_private_dns(cfg: &mut Config) {
    let ep = cfg
        .vpc_endpoints
        .iter_mut()
        .find(|e| e.vpc_endpoint_id == "vpce-lab-api")
        .unwrap();
    // An AWS service: its private DNS name is the service's own.
    ep.service_name = "com.amazonaws.us-east-1.sqs".into();
    ep.private_dns_name = None;
    ep.private_dns_enabled = Some(true);
}

#[test]
fn rule9_the_vpc_resolver_answers_endpoint_and_eni_names_unfiltered() {
    let mut cfg = lab();
    with_private_dns(&mut cfg);
    // Neither security groups nor NACLs filter it: deny everything and it still answers.
    cfg.network_acls
        .iter_mut()
        .for_each(|n| n.entries = Some(vec![]));
    sg(&mut cfg, "sg-app").security_group_rules = Some(vec![]);
    let snap = compile(&cfg);
    let sqs = "sqs.us-east-1.amazonaws.com";
    // The endpoint's ENI addresses, the asking subnet's AZ first (app: us-east-1b, web: 1a).
    assert_eq!(
        resolve(&snap, "app", "10.0.2.10", "10.0.0.2", sqs),
        (
            ResponseCode::NoError,
            vec!["10.0.2.20".into(), "10.0.1.20".into()]
        )
    );
    assert_eq!(
        resolve(
            &snap,
            "web",
            "10.0.1.10",
            "169.254.169.253",
            &format!("{}.", sqs.to_uppercase())
        ),
        (
            ResponseCode::NoError,
            vec!["10.0.1.20".into(), "10.0.2.20".into()]
        )
    );
    // ENIs' private DNS names.
    for name in [
        "ip-10-0-1-10.us-east-1.compute.internal",
        "ip-10-0-1-10.ec2.internal",
    ] {
        assert_eq!(
            resolve(&snap, "app", "10.0.2.10", "10.0.0.2", name),
            (ResponseCode::NoError, vec!["10.0.1.10".into()])
        );
    }
    // Anything else: NXDOMAIN.
    assert_eq!(
        resolve(&snap, "app", "10.0.2.10", "10.0.0.2", "www.example.com"),
        (ResponseCode::NXDomain, vec![])
    );
    // The lab's endpoint service names itself (PrivateDnsName).
    assert_eq!(
        resolve(
            &compile(&lab()),
            "web",
            "10.0.1.10",
            "10.0.0.2",
            "api.lab.example"
        ),
        (
            ResponseCode::NoError,
            vec!["10.0.1.20".into(), "10.0.2.20".into()]
        )
    );
    // Without PrivateDnsEnabled the service name is not the VPC's.
    let mut plain = lab();
    with_private_dns(&mut plain);
    plain.vpc_endpoints[2].private_dns_enabled = Some(false);
    assert_eq!(
        resolve(&compile(&plain), "app", "10.0.2.10", "10.0.0.2", sqs).0,
        ResponseCode::NXDomain
    );
    // The trace says so.
    let p = Probe {
        proto: IpProtocol::Udp,
        ..probe("app", None, "10.0.0.2", 53)
    };
    let t = trace(&snap, &cfg, &p).unwrap().text();
    assert!(
        t.contains("Amazon-provided DNS resolver (no SG, no NACL, not logged)"),
        "{t}"
    );
}

// ---- real packets (root): rules 1, 8 and 9 in the lab -------------------------------------------

use support::lab::{Lab, ROOT, can_run};

/// `/etc/netns/<ns>/resolv.conf` for a lab namespace (what scripts/lab.sh writes), removed on
/// drop, also on panic.
struct ResolvConf(std::path::PathBuf);
impl ResolvConf {
    fn new(ns: &str, nameserver: &str) -> ResolvConf {
        let dir = std::path::PathBuf::from(format!("/etc/netns/{ns}"));
        std::fs::create_dir_all(&dir).unwrap();
        let g = ResolvConf(dir);
        let conf = format!("nameserver {nameserver}\noptions timeout:1 attempts:2\n");
        std::fs::write(g.0.join("resolv.conf"), conf).unwrap();
        g
    }
}
impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0.join("resolv.conf"));
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn resolve_in(lab: &Lab, port: &str, name: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns(port), "python3"])
        .arg(format!("{ROOT}/scripts/lab_resolve.py"))
        .arg(name)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn rules_1_8_9_with_real_packets() {
    if !can_run("rules_1_8_9_with_real_packets") {
        return;
    }
    let lab = Lab::up();
    // 1. The provider's target cannot open a connection into the consumer VPC (sg-web allows
    // port 80 from anywhere): only the consumer's own connections get answers.
    assert_eq!(lab.connect_in("api", "10.0.1.10", "80", 1.0), "TIMEOUT");
    assert_eq!(lab.connect_in("s3", "10.0.1.10", "80", 1.0), "TIMEOUT");
    assert_eq!(
        lab.connect_in("app", "10.0.2.20", "443", 2.0),
        "api sees 192.0.2.129"
    );
    // 8. web to its own public address: out through the IGW and back in; the service sees the
    // public source.
    assert_eq!(
        lab.connect_in("web", "198.51.100.10", "80", 2.0),
        "web sees 198.51.100.10"
    );
    // 9. Names through the VPC resolver: the endpoint's ENIs, the asking subnet's AZ first; a
    // connection that starts from the name; ENI names; NXDOMAIN for the rest.
    let _app = ResolvConf::new(&lab.ns("app"), "10.0.0.2");
    let _web = ResolvConf::new(&lab.ns("web"), "169.254.169.253");
    assert_eq!(
        resolve_in(&lab, "app", "api.lab.example"),
        "10.0.2.20 10.0.1.20"
    );
    assert_eq!(
        resolve_in(&lab, "web", "api.lab.example"),
        "10.0.1.20 10.0.2.20"
    );
    assert_eq!(
        resolve_in(&lab, "app", "ip-10-0-1-10.ec2.internal"),
        "10.0.1.10"
    );
    assert_eq!(resolve_in(&lab, "app", "www.example.com"), "NXDOMAIN");
    assert_eq!(
        lab.connect_in("app", "api.lab.example", "443", 2.0),
        "api sees 192.0.2.129"
    );
    // Not flow-logged: no record names the resolver.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let log = std::fs::read_to_string(&lab.flow_log).unwrap_or_default();
    assert!(
        !log.contains("10.0.0.2 ") && !log.contains("169.254.169.253"),
        "{log}"
    );
}

/// `LAB` with each `(from, to)` edit applied (each `from` must occur once).
fn lab_edited(edits: &[(&str, &str)]) -> String {
    let mut y = support::LAB_YAML.to_string();
    for (from, to) in edits {
        assert_eq!(
            y.matches(from).count(),
            1,
            "fixture edit must be unique: {from}"
        );
        y = y.replacen(from, to, 1);
    }
    let cfg = vpcfwd::config::load::parse_str(&y, "lab.yaml").unwrap();
    assert!(
        config::validate::validate(&cfg).is_empty(),
        "{:?}",
        config::validate::validate(&cfg)
    );
    y
}

#[test]
fn rules_5_and_6_with_real_packets() {
    if !can_run("rules_5_and_6_with_real_packets") {
        return;
    }
    // 5. A secondary private IP of web with its own Elastic IP: the internet reaches web at
    // 10.0.1.11 through 198.51.100.11 (nothing listens there: the kernel refuses, which only a
    // delivered packet can make it do); the primary pair still maps as before.
    let yaml = lab_edited(&[(
        "    PrivateIpAddress: 10.0.1.10\n    Association:\n      PublicIp: 198.51.100.10\n",
        "    PrivateIpAddress: 10.0.1.10\n    Association:\n      PublicIp: 198.51.100.10\n    \
         PrivateIpAddresses:\n      - PrivateIpAddress: 10.0.1.11\n        Association:\n          \
         PublicIp: 198.51.100.11\n",
    )]);
    let lab5 = Lab::up_with(&yaml);
    assert_eq!(
        lab5.connect_in("internet", "198.51.100.10", "80", 2.0),
        "web sees 203.0.113.100"
    );
    assert_eq!(
        lab5.connect_in("internet", "198.51.100.11", "80", 2.0),
        "REFUSED"
    );
    assert_eq!(
        lab5.connect_in("internet", "198.51.100.12", "80", 1.0),
        "TIMEOUT"
    );
    drop(lab5);
    // 6. A private NAT gateway between the subnets: web sees the NAT gateway's private IP, the
    // reply comes back; to the internet gateway nothing passes.
    let yaml = lab_edited(&[
        (
            "    ConnectivityType: public\n",
            "    ConnectivityType: private\n",
        ),
        (
            "        PublicIp: 198.51.100.5\n        AllocationId: eipalloc-lab\n",
            "",
        ),
        (
            "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole\n",
            "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole\n      \
             - DestinationCidrBlock: 10.0.1.0/24\n        NatGatewayId: nat-lab\n",
        ),
        (
            "        CidrIpv4: 10.0.0.0/16\n      - IsEgress: true\n        IpProtocol: tcp\n        \
             FromPort: 0\n",
            "        CidrIpv4: 10.0.0.0/16\n      - IsEgress: true\n        IpProtocol: tcp\n        \
             FromPort: 80\n        ToPort: 80\n        CidrIpv4: 10.0.0.0/16\n      \
             - IsEgress: true\n        IpProtocol: tcp\n        FromPort: 0\n",
        ),
    ]);
    let lab6 = Lab::up_with(&yaml);
    assert_eq!(
        lab6.connect_in("app", "10.0.1.10", "80", 2.0),
        "web sees 10.0.1.5"
    );
    assert_eq!(
        lab6.connect_in("app", "203.0.113.100", "80", 1.0),
        "TIMEOUT"
    );
}
