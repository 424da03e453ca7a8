//! Flow keys: what a packet is matched on, in a canonical (direction-independent) form so that
//! a reply finds the entry its request created.

use crate::wire::icmp::{v4, v6};
use crate::wire::{IpProtocol, PacketMeta};
use std::net::IpAddr;

/// Keyed multiply-fold hash (foldhash-style). Keys come from packets, so the table must not be
/// predictable by a sender; the seed is supplied by the caller (no OS randomness read here,
/// which keeps tests and port allocation deterministic).
#[inline]
pub(crate) fn hash_words(seed: u64, words: &[u64]) -> u64 {
    const K0: u64 = 0x243f_6a88_85a3_08d3;
    const K1: u64 = 0x1319_8a2e_0370_7344;
    let mut h = seed ^ K0;
    for &w in words {
        h = folded_mul(h ^ w, K1);
    }
    folded_mul(h, K0 ^ seed.rotate_left(17))
}

#[inline]
fn folded_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// An address as 128 bits: IPv6 as is, IPv4 mapped (`::ffff:a.b.c.d`).
#[inline]
pub fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Inverse of [`addr_bits`] for an address of the given family.
#[inline]
pub fn bits_addr(bits: u128, v6: bool) -> IpAddr {
    let a = std::net::Ipv6Addr::from(bits);
    if v6 {
        IpAddr::V6(a)
    } else {
        a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
    }
}

/// The class of an ICMP query: a request and its reply share a class, so they share a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpClass {
    Echo = 1,
    Timestamp = 2,
    Info = 3,
    AddressMask = 4,
}

/// Classifies an ICMP (`v6 = false`) or ICMPv6 type as a query: `(class, is_request)`. Errors
/// and other messages are not queries (they belong to the flow they quote, or are keyed as
/// "other").
pub fn icmp_query(v6: bool, icmp_type: u8) -> Option<(IcmpClass, bool)> {
    use IcmpClass::*;
    match (v6, icmp_type) {
        (false, v4::ECHO_REQUEST) => Some((Echo, true)),
        (false, v4::ECHO_REPLY) => Some((Echo, false)),
        (false, v4::TIMESTAMP) => Some((Timestamp, true)),
        (false, v4::TIMESTAMP_REPLY) => Some((Timestamp, false)),
        (false, v4::INFO_REQUEST) => Some((Info, true)),
        (false, v4::INFO_REPLY) => Some((Info, false)),
        (false, v4::ADDRESS_MASK) => Some((AddressMask, true)),
        (false, v4::ADDRESS_MASK_REPLY) => Some((AddressMask, false)),
        (true, v6::ECHO_REQUEST) => Some((Echo, true)),
        (true, v6::ECHO_REPLY) => Some((Echo, false)),
        _ => None,
    }
}

/// What identifies a packet beyond its addresses and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    /// TCP, UDP (and any protocol with 16-bit ports the caller chooses to key by ports).
    Ports { src: u16, dst: u16 },
    /// ICMP query by class and identifier (echo request and reply → same flow).
    IcmpQuery { class: IcmpClass, id: u16 },
    /// Everything else: address pair + protocol.
    None,
}

/// A packet's tuple as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: IpProtocol,
    pub l4: L4,
}

impl Tuple {
    /// The tuple of a packet, or of the packet an ICMP error quotes (`Quoted::meta`): the one
    /// builder for both, so an error finds the flow of what it quotes. TCP/UDP by ports, ICMP
    /// queries by class and identifier; later fragments (no L4 header) and everything else by
    /// address pair and protocol.
    #[inline]
    pub fn of(m: &PacketMeta) -> Tuple {
        let l4 = match m.proto {
            _ if m.later_fragment => L4::None,
            p if p.has_ports() => L4::Ports {
                src: m.sport,
                dst: m.dport,
            },
            p if p.is_icmp() => match icmp_query(p == IpProtocol::Icmpv6, m.icmp_type) {
                Some((class, _)) => L4::IcmpQuery {
                    class,
                    id: m.icmp_id,
                },
                None => L4::None,
            },
            _ => L4::None,
        };
        Tuple {
            src: m.src,
            dst: m.dst,
            proto: m.proto,
            l4,
        }
    }

    pub fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
        Tuple {
            src,
            dst,
            proto: IpProtocol::Tcp,
            l4: L4::Ports {
                src: sport,
                dst: dport,
            },
        }
    }
    pub fn udp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
        Tuple {
            src,
            dst,
            proto: IpProtocol::Udp,
            l4: L4::Ports {
                src: sport,
                dst: dport,
            },
        }
    }
    /// The same flow seen from the other end.
    pub fn reversed(&self) -> Tuple {
        let l4 = match self.l4 {
            L4::Ports { src, dst } => L4::Ports { src: dst, dst: src },
            other => other,
        };
        Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            l4,
        }
    }
}

/// Which end of a canonical key sent a packet: `Lo` is the end with the smaller
/// (address, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Lo,
    Hi,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

/// A packet's direction relative to the flow's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Same direction as the packet that created the flow.
    Original,
    /// The reverse direction.
    Reply,
}

/// Canonical flow key: both ends ordered, so `from_tuple(t)` and `from_tuple(t.reversed())`
/// give the same key. `zone` separates address spaces that may overlap (e.g. the VPC index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: u128,
    pub hi: u128,
    pub lo_port: u16,
    pub hi_port: u16,
    pub zone: u16,
    pub proto: IpProtocol,
    /// 0 for ports/other, the [`IcmpClass`] for ICMP queries; bit 7 marks IPv6.
    pub class: u8,
}

impl FlowKey {
    /// The canonical key of `t` in `zone`, and which end sent `t`.
    pub fn from_tuple(zone: u16, t: &Tuple) -> (FlowKey, Side) {
        let (s, d) = (addr_bits(t.src), addr_bits(t.dst));
        let v6 = if t.src.is_ipv6() { 0x80 } else { 0 };
        let (sp, dp, class) = match t.l4 {
            L4::Ports { src, dst } => (src, dst, 0),
            // Both "ports" carry the identifier so that swapping the ends changes nothing.
            L4::IcmpQuery { class, id } => (id, id, class as u8),
            L4::None => (0, 0, 0),
        };
        let side = if (s, sp) <= (d, dp) {
            Side::Lo
        } else {
            Side::Hi
        };
        let (lo, lo_port, hi, hi_port) = match side {
            Side::Lo => (s, sp, d, dp),
            Side::Hi => (d, dp, s, sp),
        };
        let key = FlowKey {
            lo,
            hi,
            lo_port,
            hi_port,
            zone,
            proto: t.proto,
            class: class | v6,
        };
        (key, side)
    }

    #[inline]
    pub(crate) fn hash(&self, seed: u64) -> u64 {
        hash_words(
            seed,
            &[
                self.lo as u64,
                (self.lo >> 64) as u64,
                self.hi as u64,
                (self.hi >> 64) as u64,
                u64::from(self.lo_port)
                    | u64::from(self.hi_port) << 16
                    | u64::from(self.zone) << 32
                    | u64::from(self.proto.number()) << 48
                    | u64::from(self.class) << 56,
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn reply_maps_to_the_same_key_on_the_other_side() {
        let t = Tuple::tcp(v4(10, 0, 1, 5), 40000, v4(198, 51, 100, 7), 443);
        let (k1, s1) = FlowKey::from_tuple(3, &t);
        let (k2, s2) = FlowKey::from_tuple(3, &t.reversed());
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        let (k3, _) = FlowKey::from_tuple(4, &t);
        assert_ne!(k1, k3, "zones separate overlapping address spaces");
    }

    #[test]
    fn echo_request_and_reply_share_a_flow_ids_do_not() {
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let (c, req) = icmp_query(true, 128).unwrap();
        let (c2, rep) = icmp_query(true, 129).unwrap();
        assert!(req && !rep && c == c2);
        let t = Tuple {
            src: a,
            dst: b,
            proto: IpProtocol::Icmpv6,
            l4: L4::IcmpQuery { class: c, id: 77 },
        };
        let r = Tuple {
            src: b,
            dst: a,
            proto: IpProtocol::Icmpv6,
            l4: L4::IcmpQuery { class: c2, id: 77 },
        };
        let other = Tuple {
            l4: L4::IcmpQuery { class: c, id: 78 },
            ..t
        };
        assert_eq!(FlowKey::from_tuple(0, &t).0, FlowKey::from_tuple(0, &r).0);
        assert_ne!(
            FlowKey::from_tuple(0, &t).0,
            FlowKey::from_tuple(0, &other).0
        );
        assert_eq!(icmp_query(false, 3), None, "errors are not queries");
    }

    #[test]
    fn families_do_not_collide() {
        let t4 = Tuple {
            src: v4(10, 0, 0, 1),
            dst: v4(10, 0, 0, 2),
            proto: IpProtocol::Unknown(47),
            l4: L4::None,
        };
        let mapped = |a: IpAddr| match a {
            IpAddr::V4(x) => IpAddr::V6(x.to_ipv6_mapped()),
            o => o,
        };
        let t6 = Tuple {
            src: mapped(t4.src),
            dst: mapped(t4.dst),
            ..t4
        };
        assert_ne!(FlowKey::from_tuple(0, &t4).0, FlowKey::from_tuple(0, &t6).0);
        assert_eq!(bits_addr(addr_bits(t4.src), false), t4.src);
    }
}
