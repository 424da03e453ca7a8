//! In-place header rewrites with incremental checksum updates (RFC 1624), as the internet
//! gateway's 1:1 translation, the NAT gateway, PrivateLink and router mode's TTL decrement need
//! them. Each takes the `PacketMeta` that [`super::parse`] produced for the same bytes: its
//! offsets are in bounds, so the views below are built without a second check.

use super::checksum::{update16, update32};
use super::icmp;
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::{ChecksumMode, IpProtocol, PacketMeta, Quoted, be16, tcp, udp};
use std::net::Ipv4Addr;
use std::ops::Range;

/// Which address (and port) to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Src,
    Dst,
}

/// Where a TCP/UDP checksum sits, from the start of the L4 header.
#[inline]
fn l4_checksum(proto: IpProtocol) -> Option<Range<usize>> {
    match proto {
        IpProtocol::Tcp => Some(tcp::field::CHECKSUM),
        IpProtocol::Udp => Some(udp::field::CHECKSUM),
        _ => None,
    }
}

#[inline]
fn put16(b: &mut [u8], r: Range<usize>, v: u16) {
    b[r].copy_from_slice(&v.to_be_bytes());
}

/// Replaces the 16-bit word at `at` with `new`, updating the ones' complement checksum at `c`.
#[inline]
fn set_word(b: &mut [u8], at: Range<usize>, new: u16, c: Range<usize>) {
    let old = be16(b, at.clone());
    put16(b, at, new);
    let sum = be16(b, c.clone());
    put16(b, c, update16(sum, old, new));
}

/// A UDP checksum of 0 means "none" (and stays 0); a computed one of 0 is sent as 0xffff.
#[inline]
fn udp_fix(proto: IpProtocol, old: u16, new: u16) -> u16 {
    match proto {
        IpProtocol::Udp if old == 0 => 0,
        IpProtocol::Udp if new == 0 => 0xffff,
        _ => new,
    }
}

/// Replaces the IPv4 source or destination address, updating the header checksum and the
/// TCP/UDP checksum (which covers the address through the pseudo-header). Under
/// [`ChecksumMode::Partial`] the L4 field holds the non-complemented pseudo-header sum: it is
/// updated as a sum, not as a checksum.
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
    let Some(c) = l4_checksum(meta.proto) else {
        return;
    };
    let l4 = &mut buf[meta.l4_offset..meta.len];
    let sum = be16(l4, c.clone());
    let (old, new) = (u32::from(old), u32::from(new));
    let updated = match mode {
        ChecksumMode::Partial => !update32(!sum, old, new),
        ChecksumMode::Full => udp_fix(meta.proto, sum, update32(sum, old, new)),
    };
    put16(l4, c, updated);
}

/// Replaces the TCP/UDP source or destination port. Ports are not in the pseudo-header, so a
/// partial (offloaded) checksum needs no update; a full one does, and UDP's 0 stays 0.
#[inline]
pub fn set_port(buf: &mut [u8], meta: &PacketMeta, field: Field, new: u16, mode: ChecksumMode) {
    if !meta.has_ports() {
        return;
    }
    let l4 = &mut buf[meta.l4_offset..meta.len];
    let at = tcp::port_field(field == Field::Dst);
    let old = be16(l4, at.clone());
    put16(l4, at, new);
    let Some(c) = l4_checksum(meta.proto).filter(|_| mode == ChecksumMode::Full) else {
        return;
    };
    let sum = be16(l4, c.clone());
    if meta.proto == IpProtocol::Udp && sum == 0 {
        return;
    }
    put16(l4, c, udp_fix(meta.proto, sum, update16(sum, old, new)));
}

/// Replaces the identifier of an ICMPv4 query (NAT gateway's ICMP translation), updating the
/// ICMP checksum (which has no pseudo-header in IPv4). A message too short to hold one is left
/// alone.
#[inline]
pub fn set_icmp_id(buf: &mut [u8], meta: &PacketMeta, new: u16) {
    if meta.later_fragment {
        return;
    }
    let Some(l4) = buf.get_mut(meta.l4_offset..meta.len) else {
        return;
    };
    if l4.len() < icmp::field::IDENT.end {
        return;
    }
    set_word(l4, icmp::field::IDENT, new, icmp::field::CHECKSUM);
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
    let l4 = &mut buf[meta.l4_offset..meta.len];
    if meta.has_ports() {
        let (s, d) = (tcp::field::SRC_PORT, tcp::field::DST_PORT);
        l4.swap(s.start, d.start);
        l4.swap(s.start + 1, d.start + 1);
    }
    if meta.later_fragment {
        return;
    }
    use tcp::flags::{ACK, SYN};
    match meta.proto {
        IpProtocol::Tcp => {
            let flags = if meta.tcp_flags & SYN != 0 && meta.tcp_flags & ACK == 0 {
                SYN | ACK
            } else {
                ACK
            };
            let word = (u16::from(l4[tcp::field::DATA_OFF]) << 8) | u16::from(flags);
            set_word(l4, tcp::field::OFF_FLAGS, word, tcp::field::CHECKSUM);
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let reply = icmp::reply_type(meta.proto == IpProtocol::Icmpv6, meta.icmp_type);
            let word = (u16::from(reply) << 8) | u16::from(meta.icmp_code);
            set_word(l4, icmp::field::TYPE_CODE, word, icmp::field::CHECKSUM);
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
    // The quoted port / identifier.
    let p = if q.meta.proto == IpProtocol::Icmp {
        icmp::field::IDENT
    } else {
        tcp::field::SRC_PORT
    };
    let p = q.meta.l4_offset + p.start..q.meta.l4_offset + p.end;
    let old_p = be16(buf, p.clone());
    put16(buf, p, port);
    icmp_c = update16(icmp_c, old_p, port);
    put16(buf, ic, icmp_c);
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
