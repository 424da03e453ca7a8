//! Sans-IO helpers shared by the tests and the benches: the lab config and its snapshot, port
//! lookup, the pipeline's `Rx`, packet builders and config edits. Self-contained (it names only
//! `vpcfwd`), so a bench includes this file alone with `#[path]`.
#![allow(dead_code)]

use std::net::IpAddr;
use vpcfwd::config::{self, Config};
use vpcfwd::flow::Time;
use vpcfwd::pipeline::Rx;
use vpcfwd::snapshot::{self, PortIdx, Snapshot};
use vpcfwd::wire::{self, ChecksumMode, IpProtocol, checksum, rewrite};

/// configs/lab.yaml, the lab every test starts from.
pub const LAB_YAML: &str = include_str!("../../configs/lab.yaml");
/// Its path (for the CLI).
pub const LAB_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/lab.yaml");

/// The lab's text with `from` replaced by `to` (which must occur exactly once).
pub fn lab_with(from: &str, to: &str) -> String {
    assert_eq!(
        LAB_YAML.matches(from).count(),
        1,
        "fixture edit must be unique: {from}"
    );
    LAB_YAML.replacen(from, to, 1)
}

/// The lab config, parsed.
pub fn lab() -> Config {
    config::load::parse_str(LAB_YAML, "lab.yaml").expect("lab parses")
}

/// `cfg` validated (no error allowed) and compiled.
pub fn compile(cfg: &Config) -> Snapshot {
    let errors = config::validate::validate(cfg);
    assert!(errors.is_empty(), "config invalid: {errors:?}");
    snapshot::compile(cfg).expect("compiles")
}

/// The lab, compiled.
pub fn lab_snapshot() -> Snapshot {
    compile(&lab())
}

/// The lab config and its snapshot.
pub fn lab_compiled() -> (Config, Snapshot) {
    let cfg = lab();
    let snap = compile(&cfg);
    (cfg, snap)
}

/// The lab snapshot, compiled once per test process.
pub fn shared_lab() -> &'static Snapshot {
    static S: std::sync::OnceLock<Snapshot> = std::sync::OnceLock::new();
    S.get_or_init(lab_snapshot)
}

/// The index of port `id`.
pub fn port(snap: &Snapshot, id: &str) -> PortIdx {
    PortIdx(snap.ports.iter().position(|p| p.id == id).unwrap() as u16)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A packet arriving on port `from` at `secs`, checksums complete.
pub fn rx(snap: &Snapshot, from: &str, secs: u64) -> Rx {
    rx_at(port(snap, from), Time::from_secs(secs))
}

/// A packet arriving on port index `ingress` at `now`, checksums complete.
pub fn rx_at(ingress: PortIdx, now: Time) -> Rx {
    Rx {
        ingress,
        now,
        csum: ChecksumMode::Full,
    }
}

/// A packet `src:sport → dst:dport` (TCP SYN, UDP with 8 bytes, or ICMP echo request), TTL 64.
pub fn pkt(src: &str, dst: &str, proto: IpProtocol, sport: u16, dport: u16) -> Vec<u8> {
    wire::build(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        proto,
        sport,
        dport,
        (8, 0),
        64,
    )
}

/// A packet as `vpcfwd trace` probes: source port 49152, the given TTL.
pub fn probe_pkt(src: &str, dst: &str, proto: IpProtocol, dport: u16, ttl: u8) -> Vec<u8> {
    wire::build(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        proto,
        49152,
        dport,
        (8, 0),
        ttl,
    )
}

/// Turns `buf` (a packet) into the answer its receiver sends back.
pub fn reply(buf: &mut [u8]) {
    let m = wire::parse(buf).unwrap();
    rewrite::make_reply(buf, &m);
}

/// A packet in flight: its bytes (with room for rewrites) and its length.
pub struct Pkt {
    pub buf: Vec<u8>,
    pub len: usize,
}

impl Pkt {
    pub fn new(src: &str, dst: &str, proto: IpProtocol, sport: u16, dport: u16) -> Pkt {
        Pkt::from_bytes(pkt(src, dst, proto, sport, dport))
    }
    /// `p` with 128 bytes of room behind it.
    pub fn from_bytes(p: Vec<u8>) -> Pkt {
        let len = p.len();
        let mut buf = p;
        buf.resize(len + 128, 0);
        Pkt { buf, len }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn meta(&self) -> wire::PacketMeta {
        wire::parse(&self.buf[..self.len]).unwrap()
    }
    /// The answer the receiver sends back.
    pub fn reply(&mut self) {
        let m = self.meta();
        rewrite::make_reply(&mut self.buf, &m);
    }
    /// A later packet of the same connection (plain ACK) in the same direction.
    pub fn ack(&mut self) {
        let m = self.meta();
        assert_eq!(m.proto, IpProtocol::Tcp);
        let at = m.l4_offset + 12;
        let old = u16::from_be_bytes([self.buf[at], self.buf[at + 1]]);
        let new = (old & 0xff00) | 0x10;
        self.buf[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let c_at = m.l4_offset + 16;
        let c = u16::from_be_bytes([self.buf[c_at], self.buf[c_at + 1]]);
        let c = wire::checksum::update16(c, old, new);
        self.buf[c_at..c_at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// A TCP packet `src:sport → dst:dport` (IPv4 or IPv6) carrying `payload` zero bytes,
/// checksums complete (a TSO super-packet when larger than the MTU).
pub fn tcp_with_payload(src: &str, dst: &str, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut p = pkt(src, dst, IpProtocol::Tcp, sport, dport);
    let m = wire::parse(&p).unwrap();
    p.resize(m.len + payload, 0);
    if m.src.is_ipv4() {
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[10..12].fill(0);
        let c = wire::checksum::checksum(&p[..m.l4_offset]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
    }
    let at = m.l4_offset + 16;
    p[at..at + 2].fill(0);
    let c = l4_pseudo_sum(&p);
    let c = wire::checksum::finish(wire::checksum::sum(&p[m.l4_offset..], c));
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    p
}

/// The (non-complemented, folded) pseudo-header sum of a packet's L4 segment: what its
/// checksum field holds under checksum offload.
pub fn partial_csum(p: &[u8]) -> u16 {
    wire::checksum::fold(l4_pseudo_sum(p))
}

fn l4_pseudo_sum(p: &[u8]) -> u32 {
    let m = wire::parse(p).unwrap();
    match (m.src, m.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            wire::checksum::pseudo_v4(s, d, m.proto, (m.len - m.l4_offset) as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            wire::checksum::pseudo_v6(s, d, m.proto, (m.len - m.l4_offset) as u32)
        }
        _ => panic!("mixed families"),
    }
}

/// Completes a TCP checksum left partial (checksum offload), as the kernel or a NIC would.
pub fn complete_tcp_csum(p: &mut [u8]) {
    let m = wire::parse(p).unwrap();
    let at = m.l4_offset + 16;
    p[at..at + 2].fill(0);
    let c = wire::checksum::finish(wire::checksum::sum(
        &p[m.l4_offset..m.len],
        l4_pseudo_sum(p),
    ));
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Whether an IPv4 packet's L4 checksum is complete and right (a full recomputation).
pub fn l4_checksum_ok(p: &[u8]) -> bool {
    let m = wire::parse(p).unwrap();
    let (IpAddr::V4(s), IpAddr::V4(d)) = (m.src, m.dst) else {
        return false;
    };
    let l4 = &p[m.l4_offset..m.len];
    let acc = checksum::pseudo_v4(s, d, m.proto, l4.len() as u16);
    checksum::finish(checksum::sum(l4, acc)) == 0
}

/// The TCP checksum field of a packet.
pub fn tcp_csum(p: &[u8]) -> u16 {
    let at = wire::parse(p).unwrap().l4_offset + 16;
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// `p` (TCP) with its checksum field holding the pseudo-header sum, as under checksum offload.
pub fn make_partial(p: &mut [u8]) {
    let at = wire::parse(p).unwrap().l4_offset + 16;
    let c = partial_csum(p);
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Whether two ones' complement values are equal (0x0000 and 0xffff are the same number).
pub fn csum_eq(a: u16, b: u16) -> bool {
    a == b || (a | b) == 0xffff && (a & b) == 0
}

// ---- config edits ---------------------------------------------------------------------------

pub fn rtb<'a>(cfg: &'a mut Config, id: &str) -> &'a mut config::RouteTable {
    cfg.route_tables
        .iter_mut()
        .find(|r| r.route_table_id == id)
        .unwrap()
}
pub fn eni<'a>(cfg: &'a mut Config, id: &str) -> &'a mut config::NetworkInterface {
    cfg.network_interfaces
        .iter_mut()
        .find(|e| e.network_interface_id == id)
        .unwrap()
}
pub fn sg<'a>(cfg: &'a mut Config, id: &str) -> &'a mut config::SecurityGroup {
    cfg.security_groups
        .iter_mut()
        .find(|g| g.group_id == id)
        .unwrap()
}
pub fn nacl<'a>(cfg: &'a mut Config, id: &str) -> &'a mut config::NetworkAcl {
    cfg.network_acls
        .iter_mut()
        .find(|n| n.network_acl_id == id)
        .unwrap()
}
pub fn cidr_route(dst: &str, target: &str) -> config::Route {
    let mut r = config::Route {
        destination_cidr_block: Some(dst.parse().unwrap()),
        ..Default::default()
    };
    match &target[..4] {
        "nat-" => r.nat_gateway_id = Some(target.into()),
        "eni-" => r.network_interface_id = Some(target.into()),
        _ => r.gateway_id = Some(target.into()),
    }
    r
}
pub fn pl(id: &str, name: &str, entries: &[&str]) -> config::ManagedPrefixList {
    config::ManagedPrefixList {
        prefix_list_id: id.into(),
        prefix_list_name: name.into(),
        address_family: config::AddressFamily::IPv4,
        max_entries: Some(10),
        owner_id: Some("123456789012".into()),
        version: None,
        entries: entries
            .iter()
            .map(|c| config::PrefixListEntry {
                cidr: c.parse().unwrap(),
                description: None,
            })
            .collect(),
        tags: vec![],
    }
}
pub fn nacl_entry(
    n: u32,
    egress: bool,
    proto: &str,
    allow: bool,
    cidr: &str,
    ports: Option<(i32, i32)>,
) -> config::NetworkAclEntry {
    config::NetworkAclEntry {
        rule_number: n,
        egress,
        protocol: proto.into(),
        rule_action: if allow {
            config::RuleAction::Allow
        } else {
            config::RuleAction::Deny
        },
        cidr_block: Some(cidr.parse().unwrap()),
        ipv6_cidr_block: None,
        port_range: ports.map(|(from, to)| config::PortRange { from, to }),
        icmp_type_code: None,
    }
}
pub fn sg_rule(
    egress: bool,
    proto: &str,
    from: i32,
    to: i32,
    cidr: &str,
) -> config::SecurityGroupRule {
    config::SecurityGroupRule {
        is_egress: egress,
        ip_protocol: proto.into(),
        from_port: Some(from),
        to_port: Some(to),
        cidr_ipv4: Some(cidr.parse().unwrap()),
        ..Default::default()
    }
}
