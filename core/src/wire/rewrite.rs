//! In-place header rewrites with incremental checksum updates (RFC 1624), as the internet
//! gateway's 1:1 translation, the NAT gateway, PrivateLink and router mode's TTL decrement need
//! them. Each takes the `PacketMeta` that [`super::parse`] produced for the same bytes: its
//! offsets are in bounds, so the views below are built without a second check.

use super::checksum::{update16, update32};
use super::icmp::{self, IcmpPacket};
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::tcp::{self, TcpPacket};
use super::udp::UdpPacket;
use super::{ChecksumMode, IpProtocol, PacketMeta, Quoted, be16};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which address (and port) to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Src,
    Dst,
}

/// The L4 header of the packet `meta` describes (empty for a later fragment).
#[inline]
fn l4<'a>(buf: &'a mut [u8], meta: &PacketMeta) -> &'a mut [u8] {
    if meta.later_fragment {
        return &mut [];
    }
    &mut buf[meta.l4_offset..meta.len]
}

/// Replaces the IPv4 source or destination address, updating the header checksum and the
/// TCP/UDP checksum (which covers the address through the pseudo-header) under `mode`.
#[inline]
pub fn set_v4_addr(
    buf: &mut [u8],
    meta: &PacketMeta,
    field: Field,
    new: Ipv4Addr,
    mode: ChecksumMode,
) {
    let old = Ipv4Packet::new_unchecked(&mut *buf).set_addr(field == Field::Dst, new);
    if meta.later_fragment {
        return;
    }
    // `parse` checked that the header is there.
    match meta.proto {
        IpProtocol::Tcp => TcpPacket::new_unchecked(l4(buf, meta)).update_for_addr(old, new, mode),
        IpProtocol::Udp => UdpPacket::new_unchecked(l4(buf, meta)).update_for_addr(old, new, mode),
        _ => {}
    }
}

/// Replaces the IPv6 source or destination address, updating the TCP, UDP or ICMPv6 checksum
/// (each covers the address through the pseudo-header) under `mode`.
#[inline]
pub fn set_v6_addr(
    buf: &mut [u8],
    meta: &PacketMeta,
    field: Field,
    new: Ipv6Addr,
    mode: ChecksumMode,
) {
    let old = Ipv6Packet::new_unchecked(&mut *buf).set_addr(field == Field::Dst, new);
    if meta.later_fragment {
        return;
    }
    match meta.proto {
        IpProtocol::Tcp => TcpPacket::new_unchecked(l4(buf, meta)).update_for_addr6(old, new, mode),
        IpProtocol::Udp => UdpPacket::new_unchecked(l4(buf, meta)).update_for_addr6(old, new, mode),
        IpProtocol::Icmpv6 => IcmpPacket::new_unchecked(l4(buf, meta)).update_for_addr6(old, new),
        _ => {}
    }
}

/// Replaces an address of the packet's own family ([`set_v4_addr`], [`set_v6_addr`]);
/// `false`, nothing changed, when `new` is of the other family (that is a translation, see
/// `xlat46`).
#[inline]
pub fn set_addr(
    buf: &mut [u8],
    meta: &PacketMeta,
    field: Field,
    new: IpAddr,
    mode: ChecksumMode,
) -> bool {
    match (meta.dst, new) {
        (IpAddr::V4(_), IpAddr::V4(a)) => set_v4_addr(buf, meta, field, a, mode),
        (IpAddr::V6(_), IpAddr::V6(a)) => set_v6_addr(buf, meta, field, a, mode),
        _ => return false,
    }
    true
}

/// Replaces the TCP/UDP source or destination port (see `TcpPacket::set_port`).
#[inline]
pub fn set_port(buf: &mut [u8], meta: &PacketMeta, field: Field, new: u16, mode: ChecksumMode) {
    if !meta.has_ports() {
        return;
    }
    let dst = field == Field::Dst;
    match meta.proto {
        IpProtocol::Tcp => TcpPacket::new_unchecked(l4(buf, meta)).set_port(dst, new, mode),
        _ => UdpPacket::new_unchecked(l4(buf, meta)).set_port(dst, new, mode),
    }
}

/// Replaces the identifier of an ICMPv4 query (NAT gateway's ICMP translation), updating the
/// ICMP checksum. A message too short to hold one is left alone.
#[inline]
pub fn set_icmp_id(buf: &mut [u8], meta: &PacketMeta, new: u16) {
    if let Ok(mut i) = IcmpPacket::new_checked(l4(buf, meta)) {
        i.set_ident(new);
    }
}

/// Turns a packet into the answer its receiver would send (for `trace --reply` and tests):
/// addresses and ports swapped, a TCP SYN answered by SYN-ACK (anything else by ACK), an ICMP
/// echo request by its reply. Swapping 16-bit words leaves every checksum valid; the flag and
/// type changes are updated incrementally.
pub fn make_reply(buf: &mut [u8], meta: &PacketMeta) {
    if meta.src.is_ipv4() {
        Ipv4Packet::new_unchecked(&mut *buf).swap_addrs();
    } else {
        Ipv6Packet::new_unchecked(&mut *buf).swap_addrs();
    }
    if meta.later_fragment {
        return;
    }
    use tcp::flags::{ACK, SYN};
    let l4 = l4(buf, meta);
    match meta.proto {
        IpProtocol::Tcp => {
            let mut t = TcpPacket::new_unchecked(l4);
            t.swap_ports();
            let syn_only = meta.tcp_flags & SYN != 0 && meta.tcp_flags & ACK == 0;
            t.set_flags(if syn_only { SYN | ACK } else { ACK });
        }
        IpProtocol::Udp => UdpPacket::new_unchecked(l4).swap_ports(),
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let reply = icmp::reply_type(meta.proto == IpProtocol::Icmpv6, meta.icmp_type);
            IcmpPacket::new_unchecked(l4).set_type_code(reply, meta.icmp_code);
        }
        _ => {}
    }
}

/// Rewrites the source address and port (ICMP: identifier) of the packet an ICMPv4 error
/// quotes, keeping the quoted header's checksum and the error's ICMP checksum right (the quoted
/// L4 checksum is left alone: the quote is usually cut short of what it covers).
pub fn set_quoted_src(buf: &mut [u8], meta: &PacketMeta, q: &Quoted, addr: Ipv4Addr, port: u16) {
    let ic = meta.l4_offset + icmp::field::CHECKSUM.start;
    let ic = ic..ic + 2;
    let mut icmp_c = be16(buf, ic.clone());
    // The quoted source address, and the quoted header checksum that covers it.
    let mut qip = Ipv4Packet::new_unchecked(&mut buf[q.ip..]);
    let old_hc = qip.checksum();
    let old_a = qip.set_addr(false, addr);
    let new_hc = qip.checksum();
    icmp_c = update32(icmp_c, u32::from(old_a), u32::from(addr));
    icmp_c = update16(icmp_c, old_hc, new_hc);
    // The quoted port / identifier (its own checksum is beyond the quote).
    let p = if q.meta.proto == IpProtocol::Icmp {
        icmp::field::IDENT
    } else {
        tcp::field::SRC_PORT
    };
    let p = q.meta.l4_offset + p.start..q.meta.l4_offset + p.end;
    let old_p = be16(buf, p.clone());
    buf[p].copy_from_slice(&port.to_be_bytes());
    icmp_c = update16(icmp_c, old_p, port);
    buf[ic].copy_from_slice(&icmp_c.to_be_bytes());
}

/// Router mode: decrements the TTL / hop limit, keeping the IPv4 header checksum right.
#[inline]
pub fn decrement_ttl(buf: &mut [u8], meta: &PacketMeta) {
    if meta.src.is_ipv4() {
        Ipv4Packet::new_unchecked(buf).decrement_ttl();
    } else {
        Ipv6Packet::new_unchecked(buf).decrement_hop_limit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{build, checksum, parse};
    use std::net::IpAddr;

    fn l4_ok(p: &[u8]) -> bool {
        let m = parse(p).unwrap();
        let (IpAddr::V4(s), IpAddr::V4(d)) = (m.src, m.dst) else {
            unreachable!()
        };
        let l4 = &p[m.l4_offset..m.len];
        let acc = checksum::pseudo_v4(s, d, m.proto, l4.len() as u16);
        checksum::finish(checksum::sum(l4, acc)) == 0
    }

    #[test]
    fn address_rewrite_keeps_every_checksum_valid() {
        for proto in [IpProtocol::Tcp, IpProtocol::Udp] {
            let mut p = build(
                "10.0.1.10".parse().unwrap(),
                "203.0.113.100".parse().unwrap(),
                proto,
                40000,
                80,
                (0, 0),
                64,
            );
            let m = parse(&p).unwrap();
            set_v4_addr(
                &mut p,
                &m,
                Field::Src,
                "198.51.100.10".parse().unwrap(),
                ChecksumMode::Full,
            );
            set_port(&mut p, &m, Field::Src, 1234, ChecksumMode::Full);
            assert!(parse(&p).is_ok(), "IPv4 header checksum");
            assert!(l4_ok(&p), "L4 checksum for proto {proto}");
        }
    }

    #[test]
    fn ttl_decrement_keeps_header_checksum() {
        let mut p = build(
            "10.0.1.10".parse().unwrap(),
            "203.0.113.100".parse().unwrap(),
            IpProtocol::Udp,
            1,
            2,
            (0, 0),
            64,
        );
        let m = parse(&p).unwrap();
        decrement_ttl(&mut p, &m);
        assert_eq!(parse(&p).unwrap().ttl, 63);
    }

    #[test]
    fn reply_of_an_echo_and_a_syn_keeps_checksums() {
        let mut p = build(
            "10.0.1.10".parse().unwrap(),
            "203.0.113.100".parse().unwrap(),
            IpProtocol::Icmp,
            0,
            0,
            (icmp::v4::ECHO_REQUEST, 0),
            64,
        );
        let m = parse(&p).unwrap();
        make_reply(&mut p, &m);
        let r = parse(&p).unwrap();
        assert_eq!(
            (r.icmp_type, r.src, r.dst),
            (icmp::v4::ECHO_REPLY, m.dst, m.src)
        );
        assert_eq!(checksum::checksum(&p[r.l4_offset..r.len]), 0);
        let mut p = build(m.src, m.dst, IpProtocol::Tcp, 1, 2, (0, 0), 64);
        let m = parse(&p).unwrap();
        make_reply(&mut p, &m);
        let r = parse(&p).unwrap();
        assert_eq!(
            (r.sport, r.dport, r.tcp_flags),
            (2, 1, tcp::flags::SYN | tcp::flags::ACK)
        );
        assert!(l4_ok(&p));
    }
}
