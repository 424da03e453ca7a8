//! Security groups and network ACLs in compiled form, and their evaluation. Compilation resolves
//! every name (prefix lists, referenced groups) into address sets up front, so evaluation per
//! packet is a scan over small slices: no lookups by id, no allocation.

use crate::config::{IdxVec, SgIdx};
use crate::wire::{IpProtocol, PacketMeta};
use ipnet::IpNet;
use std::net::IpAddr;

/// What a rule says about layer 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4Match {
    /// All ports / types (protocol -1, or a protocol without ports).
    Any,
    /// Destination port range (TCP/UDP). Packets without ports (later fragments) don't match.
    Ports(u16, u16),
    /// ICMP type and code; `None` is AWS's -1.
    Icmp(Option<u8>, Option<u8>),
}

impl L4Match {
    /// AWS's `FromPort`/`ToPort` (or NACL `PortRange`/`IcmpTypeCode`) for a protocol.
    pub fn from_aws(proto: Option<IpProtocol>, from: Option<i32>, to: Option<i32>) -> L4Match {
        let opt = |v: Option<i32>| v.filter(|v| *v >= 0).map(|v| v.clamp(0, 255) as u8);
        match proto {
            Some(IpProtocol::Tcp | IpProtocol::Udp) => match (from, to) {
                (Some(f), Some(t)) if f >= 0 && t >= 0 => {
                    L4Match::Ports(f.clamp(0, 65535) as u16, t.clamp(0, 65535) as u16)
                }
                _ => L4Match::Any,
            },
            Some(IpProtocol::Icmp | IpProtocol::Icmpv6) => L4Match::Icmp(opt(from), opt(to)),
            _ => L4Match::Any,
        }
    }

    #[inline]
    fn matches(self, m: &PacketMeta) -> bool {
        match self {
            L4Match::Any => true,
            L4Match::Ports(a, b) => m.has_ports() && a <= m.dport && m.dport <= b,
            L4Match::Icmp(t, c) => {
                !m.later_fragment
                    && t.is_none_or(|t| t == m.icmp_type)
                    && c.is_none_or(|c| c == m.icmp_code)
            }
        }
    }
}

/// A network ACL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaclRule {
    /// 1..=32766, or 32767 for `*`.
    pub number: u16,
    pub allow: bool,
    pub proto: Option<IpProtocol>,
    pub cidr: IpNet,
    pub l4: L4Match,
}

/// The `*` rule's number as the API shows it.
pub const NACL_STAR: u16 = 32767;

/// A compiled network ACL: rules per direction, ascending, ending with `*`.
#[derive(Debug, Clone)]
pub struct Nacl {
    pub id: String,
    pub inbound: Vec<NaclRule>,
    pub outbound: Vec<NaclRule>,
}

impl Nacl {
    /// First matching rule in ascending order: `(allowed, rule number, its position in the
    /// direction's list)` — the position is `len` when no rule matched (the implicit `*`). The
    /// CIDR is matched against the remote end: the source inbound, the destination outbound.
    #[inline]
    pub fn eval(&self, outbound: bool, m: &PacketMeta) -> (bool, u16, u16) {
        let (rules, remote) = if outbound {
            (&self.outbound, m.dst)
        } else {
            (&self.inbound, m.src)
        };
        for (i, r) in rules.iter().enumerate() {
            if r.proto.is_none_or(|p| p == m.proto) && r.cidr.contains(&remote) && r.l4.matches(m) {
                return (r.allow, r.number, i as u16);
            }
        }
        (false, NACL_STAR, rules.len() as u16)
    }
}

/// A security-group rule with its peer resolved to addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgRule {
    /// Position among the group's rules of this direction (as written), for trace and metrics.
    pub index: u16,
    pub proto: Option<IpProtocol>,
    pub l4: L4Match,
    /// The peer as written: a CIDR, `pl-…` or `sg-…`.
    pub peer: String,
    /// The peer's addresses (prefix-list entries; private addresses of the group's ENIs).
    pub peer_nets: Vec<IpNet>,
}

/// A compiled security group.
#[derive(Debug, Clone)]
pub struct Sg {
    pub id: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// Which group and rule allowed a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgHit {
    pub sg: SgIdx,
    pub rule: u16,
}

/// Evaluates the union of `groups`' rules (allow-only: any match allows). The peer is the
/// remote end: the source for ingress, the destination for egress.
#[inline]
pub fn sg_eval(
    sgs: &IdxVec<SgIdx, Sg>,
    groups: &[SgIdx],
    egress: bool,
    m: &PacketMeta,
) -> Option<SgHit> {
    let remote = if egress { m.dst } else { m.src };
    for &g in groups {
        let Some(sg) = sgs.get(g) else {
            continue;
        };
        let rules = if egress { &sg.egress } else { &sg.ingress };
        for r in rules {
            if r.proto.is_none_or(|p| p == m.proto)
                && r.l4.matches(m)
                && r.peer_nets.iter().any(|n| n.contains(&remote))
            {
                return Some(SgHit {
                    sg: g,
                    rule: r.index,
                });
            }
        }
    }
    None
}

/// Whether `a` is in any of `nets` (used for peer sets and reserved ranges).
pub fn in_any(nets: &[IpNet], a: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&a))
}
