//! IP/ICMP translation (RFC 7915) in place, for the NAT gateway's NAT64: a TCP, UDP or ICMP echo
//! packet of one family rewritten as the other — the IP header replaced (IPv6's 40 bytes by
//! IPv4's 20, or back), the L4 header moved with it, ICMPv6 echo types mapped to ICMP's and
//! back, the translated port or identifier written, and every checksum computed whole (the
//! pseudo-header changes entirely, so an incremental update gains nothing; a packet that came
//! with only a partial checksum leaves with a complete one). Addresses follow RFC 6052: the
//! IPv4 address is the last 32 bits of `64:ff9b::/96`.
//!
//! What is not translated (extension headers, fragments, IPv4 options, ICMP errors, other
//! protocols) is refused before any byte changes: [`translatable_6to4`], [`translatable_4to6`].

use super::checksum::{finish, pseudo_v4, pseudo_v6, sum};
use super::{IpProtocol, Ipv4Repr, Ipv6Repr, PacketMeta, icmp, ipv4, ipv6, tcp, udp};
use ipnet::Ipv6Net;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The well-known NAT64 prefix (RFC 6052).
pub const NAT64_PREFIX: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

/// The IPv4 address embedded in `a`, when `a` is in [`NAT64_PREFIX`].
#[inline]
pub fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    NAT64_PREFIX
        .contains(&a)
        .then(|| Ipv4Addr::from(u128::from(a) as u32))
}

/// `a` as an IPv6 address in [`NAT64_PREFIX`].
#[inline]
pub fn synthesize(a: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(NAT64_PREFIX.network()) | u128::from(u32::from(a)))
}

/// The IP version of the packet in `buf` (4 or 6; `None` for an empty buffer).
#[inline]
pub fn version(buf: &[u8]) -> Option<u8> {
    buf.first().map(|b| b >> 4)
}

/// Whether an IPv6 packet can be translated to IPv4 here: no extension header, not a fragment,
/// TCP, UDP, or an ICMPv6 echo request / reply.
#[inline]
pub fn translatable_6to4(m: &PacketMeta) -> bool {
    m.dst.is_ipv6()
        && m.l4_offset == ipv6::HEADER_LEN
        && !m.fragment
        && match m.proto {
            IpProtocol::Tcp | IpProtocol::Udp => true,
            IpProtocol::Icmpv6 => {
                matches!(m.icmp_type, icmp::v6::ECHO_REQUEST | icmp::v6::ECHO_REPLY)
            }
            _ => false,
        }
}

/// Whether an IPv4 packet can be translated to IPv6 in `buf_len` bytes: no options, not a
/// fragment, TCP, UDP, or an ICMP echo request / reply.
#[inline]
pub fn translatable_4to6(m: &PacketMeta, buf_len: usize) -> bool {
    m.dst.is_ipv4()
        && m.l4_offset == ipv4::HEADER_LEN
        && !m.fragment
        && buf_len >= m.len + ipv6::HEADER_LEN - ipv4::HEADER_LEN
        && match m.proto {
            IpProtocol::Tcp | IpProtocol::Udp => true,
            IpProtocol::Icmp => {
                matches!(m.icmp_type, icmp::v4::ECHO_REQUEST | icmp::v4::ECHO_REPLY)
            }
            _ => false,
        }
}

/// IPv6 → IPv4: source `src` with source port (ICMP: identifier) `sport`, destination `dst`;
/// the hop limit carried over. Returns the new length, or `None` (nothing changed) when
/// [`translatable_6to4`] says no.
pub fn v6_to_v4(
    buf: &mut [u8],
    m: &PacketMeta,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
) -> Option<usize> {
    if !translatable_6to4(m) || buf.len() < m.len {
        return None;
    }
    let l4_len = m.len - ipv6::HEADER_LEN;
    let at = ipv4::HEADER_LEN;
    buf.copy_within(ipv6::HEADER_LEN..m.len, at);
    let proto = match m.proto {
        IpProtocol::Icmpv6 => IpProtocol::Icmp,
        p => p,
    };
    Ipv4Repr {
        src,
        dst,
        protocol: proto,
        payload_len: l4_len,
        ttl: m.ttl,
        dont_frag: true,
    }
    .emit(buf);
    let l4 = &mut buf[at..at + l4_len];
    match proto {
        IpProtocol::Icmp => {
            l4[icmp::field::TYPE] = match m.icmp_type {
                icmp::v6::ECHO_REQUEST => icmp::v4::ECHO_REQUEST,
                _ => icmp::v4::ECHO_REPLY,
            };
            l4[icmp::field::IDENT].copy_from_slice(&sport.to_be_bytes());
            l4[icmp::field::CHECKSUM].fill(0);
            let c = finish(sum(l4, 0));
            l4[icmp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        }
        _ => {
            let acc = pseudo_v4(src, dst, proto, l4_len as u16);
            l4_ports_and_checksum(l4, proto, Some(sport), None, acc);
        }
    }
    Some(at + l4_len)
}

/// IPv4 → IPv6: source `src`, destination `dst` with destination port (ICMP: identifier)
/// `dport`; the TTL carried over as hop limit. `buf` must hold 20 more bytes than the packet.
/// Returns the new length, or `None` (nothing changed) when [`translatable_4to6`] says no.
pub fn v4_to_v6(
    buf: &mut [u8],
    m: &PacketMeta,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    dport: u16,
) -> Option<usize> {
    if !translatable_4to6(m, buf.len()) {
        return None;
    }
    let l4_len = m.len - ipv4::HEADER_LEN;
    let at = ipv6::HEADER_LEN;
    buf.copy_within(ipv4::HEADER_LEN..m.len, at);
    let proto = match m.proto {
        IpProtocol::Icmp => IpProtocol::Icmpv6,
        p => p,
    };
    Ipv6Repr {
        src,
        dst,
        next_header: proto,
        payload_len: l4_len,
        hop_limit: m.ttl,
    }
    .emit(buf);
    let acc = pseudo_v6(src, dst, proto, l4_len as u32);
    let l4 = &mut buf[at..at + l4_len];
    match proto {
        IpProtocol::Icmpv6 => {
            l4[icmp::field::TYPE] = match m.icmp_type {
                icmp::v4::ECHO_REQUEST => icmp::v6::ECHO_REQUEST,
                _ => icmp::v6::ECHO_REPLY,
            };
            l4[icmp::field::IDENT].copy_from_slice(&dport.to_be_bytes());
            l4[icmp::field::CHECKSUM].fill(0);
            let c = finish(sum(l4, acc));
            l4[icmp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        }
        _ => l4_ports_and_checksum(l4, proto, None, Some(dport), acc),
    }
    Some(at + l4_len)
}

/// Writes TCP/UDP ports (when given) and the whole checksum over `l4` from the pseudo-header
/// sum `acc`.
fn l4_ports_and_checksum(
    l4: &mut [u8],
    proto: IpProtocol,
    sport: Option<u16>,
    dport: Option<u16>,
    acc: u32,
) {
    let (sp, dp, ck) = match proto {
        IpProtocol::Tcp => (
            tcp::field::SRC_PORT,
            tcp::field::DST_PORT,
            tcp::field::CHECKSUM,
        ),
        _ => (
            udp::field::SRC_PORT,
            udp::field::DST_PORT,
            udp::field::CHECKSUM,
        ),
    };
    if let Some(p) = sport {
        l4[sp].copy_from_slice(&p.to_be_bytes());
    }
    if let Some(p) = dport {
        l4[dp].copy_from_slice(&p.to_be_bytes());
    }
    l4[ck.clone()].fill(0);
    let mut c = finish(sum(l4, acc));
    if proto == IpProtocol::Udp && c == 0 {
        c = 0xffff; // RFC 768: zero means "no checksum"
    }
    l4[ck].copy_from_slice(&c.to_be_bytes());
}

/// The address of `a` as the other family sees it through NAT64 (for traces).
pub fn counterpart(a: IpAddr) -> Option<IpAddr> {
    match a {
        IpAddr::V6(a) => embedded_v4(a).map(IpAddr::V4),
        IpAddr::V4(a) => Some(IpAddr::V6(synthesize(a))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{build, parse};

    fn l4_ok(p: &[u8]) -> bool {
        let m = parse(p).unwrap();
        let l4 = &p[m.l4_offset..m.len];
        let acc = match (m.src, m.dst, m.proto) {
            (_, _, IpProtocol::Icmp) => 0,
            (IpAddr::V4(s), IpAddr::V4(d), pr) => pseudo_v4(s, d, pr, l4.len() as u16),
            (IpAddr::V6(s), IpAddr::V6(d), pr) => pseudo_v6(s, d, pr, l4.len() as u32),
            _ => unreachable!(),
        };
        finish(sum(l4, acc)) == 0
    }

    #[test]
    fn prefix_embedding_round_trips() {
        let a = Ipv4Addr::new(203, 0, 113, 100);
        let s = synthesize(a);
        assert_eq!(s.to_string(), "64:ff9b::cb00:7164");
        assert_eq!(embedded_v4(s), Some(a));
        assert_eq!(embedded_v4("2001:db8::1".parse().unwrap()), None);
    }

    #[test]
    fn tcp_udp_and_echo_translate_both_ways_with_valid_checksums() {
        let v6src: Ipv6Addr = "2001:db8:10:3::10".parse().unwrap();
        let eip = Ipv4Addr::new(198, 51, 100, 5);
        let host = Ipv4Addr::new(203, 0, 113, 100);
        for (proto, icmp_tc) in [
            (IpProtocol::Tcp, (0, 0)),
            (IpProtocol::Udp, (0, 0)),
            (IpProtocol::Icmpv6, (icmp::v6::ECHO_REQUEST, 0)),
        ] {
            let mut buf = build(
                v6src.into(),
                synthesize(host).into(),
                proto,
                40000,
                80,
                icmp_tc,
                64,
            );
            let len = buf.len();
            buf.resize(len + 64, 0);
            let m = parse(&buf[..len]).unwrap();
            let n = v6_to_v4(&mut buf, &m, eip, 1024, host).expect("translates");
            assert_eq!(n, len - 20);
            let m4 = parse(&buf[..n]).expect("a valid IPv4 packet");
            assert_eq!((m4.src, m4.dst, m4.ttl), (eip.into(), host.into(), 64));
            assert!(l4_ok(&buf[..n]), "{proto:?}");
            if proto == IpProtocol::Icmpv6 {
                assert_eq!(
                    (m4.proto, m4.icmp_type, m4.icmp_id),
                    (IpProtocol::Icmp, icmp::v4::ECHO_REQUEST, 1024)
                );
            } else {
                assert_eq!(m4.sport, 1024);
            }
            // The reply, back.
            crate::wire::rewrite::make_reply(&mut buf, &m4);
            let r = parse(&buf[..n]).unwrap();
            let n6 = v4_to_v6(&mut buf, &r, synthesize(host), v6src, 40000).expect("translates");
            assert_eq!(n6, len);
            let m6 = parse(&buf[..n6]).expect("a valid IPv6 packet");
            assert_eq!((m6.src, m6.dst), (synthesize(host).into(), v6src.into()));
            assert!(l4_ok(&buf[..n6]), "{proto:?} back");
            if proto == IpProtocol::Icmpv6 {
                assert_eq!(
                    (m6.proto, m6.icmp_type, m6.icmp_id),
                    (IpProtocol::Icmpv6, icmp::v6::ECHO_REPLY, 40000)
                );
            } else {
                assert_eq!(m6.dport, 40000);
            }
        }
    }

    #[test]
    fn what_cannot_be_translated_is_left_alone() {
        let mut buf = build(
            "2001:db8::1".parse().unwrap(),
            synthesize(Ipv4Addr::new(203, 0, 113, 1)).into(),
            IpProtocol::Icmpv6,
            1,
            0,
            (icmp::v6::DEST_UNREACHABLE, 0),
            64,
        );
        let before = buf.clone();
        let m = parse(&buf).unwrap();
        assert!(v6_to_v4(&mut buf, &m, Ipv4Addr::LOCALHOST, 1, Ipv4Addr::LOCALHOST).is_none());
        assert_eq!(buf, before);
        // No room for the longer header.
        let mut buf = build(
            "203.0.113.1".parse().unwrap(),
            "198.51.100.5".parse().unwrap(),
            IpProtocol::Tcp,
            80,
            1024,
            (0, 0),
            64,
        );
        let m = parse(&buf).unwrap();
        assert!(v4_to_v6(&mut buf, &m, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 1).is_none());
    }
}
