//! In-place header rewrites with incremental checksum updates (RFC 1624), as the internet
//! gateway's 1:1 translation and router mode's TTL decrement need them. Offsets come from a
//! `PacketMeta` that `parse` produced for the same bytes, so every index is in bounds.

use super::checksum::update32;
use super::{PROTO_TCP, PROTO_UDP, PacketMeta};
use std::net::Ipv4Addr;

/// Which IPv4 address to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Src,
    Dst,
}

/// Replaces the IPv4 source or destination address, updating the header checksum and the
/// TCP/UDP checksum (which covers the address through the pseudo-header). A UDP checksum of 0
/// means "none" and stays 0. With `l4_partial` the L4 field holds the non-complemented
/// pseudo-header sum (offload `NEEDS_CSUM`): it is updated as a sum, not as a checksum.
pub fn set_v4_addr(
    buf: &mut [u8],
    meta: &PacketMeta,
    field: Field,
    new: Ipv4Addr,
    l4_partial: bool,
) {
    let at = match field {
        Field::Src => 12,
        Field::Dst => 16,
    };
    let old = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let new = u32::from(new);
    buf[at..at + 4].copy_from_slice(&new.to_be_bytes());
    let ip_c = u16::from_be_bytes([buf[10], buf[11]]);
    buf[10..12].copy_from_slice(&update32(ip_c, old, new).to_be_bytes());
    if meta.later_fragment {
        return;
    }
    let c_at = match meta.proto {
        PROTO_TCP => meta.l4_offset + 16,
        PROTO_UDP => meta.l4_offset + 6,
        _ => return,
    };
    let c = u16::from_be_bytes([buf[c_at], buf[c_at + 1]]);
    let updated = if l4_partial {
        !update32(!c, old, new)
    } else if meta.proto == PROTO_UDP && c == 0 {
        0
    } else {
        let u = update32(c, old, new);
        // A computed UDP checksum of 0 is sent as 0xffff (0 means none).
        if meta.proto == PROTO_UDP && u == 0 {
            0xffff
        } else {
            u
        }
    };
    buf[c_at..c_at + 2].copy_from_slice(&updated.to_be_bytes());
}

/// Replaces the TCP/UDP source or destination port. Ports are not in the pseudo-header, so a
/// partial (offloaded) checksum needs no update; a full one does, and UDP's 0 stays 0.
pub fn set_port(buf: &mut [u8], meta: &PacketMeta, field: Field, new: u16, l4_partial: bool) {
    if !meta.has_ports() {
        return;
    }
    let at = meta.l4_offset + if field == Field::Src { 0 } else { 2 };
    let old = u16::from_be_bytes([buf[at], buf[at + 1]]);
    buf[at..at + 2].copy_from_slice(&new.to_be_bytes());
    if l4_partial {
        return;
    }
    let c_at = meta.l4_offset + if meta.proto == PROTO_TCP { 16 } else { 6 };
    let c = u16::from_be_bytes([buf[c_at], buf[c_at + 1]]);
    if meta.proto == PROTO_UDP && c == 0 {
        return;
    }
    let u = super::checksum::update16(c, old, new);
    let u = if meta.proto == PROTO_UDP && u == 0 {
        0xffff
    } else {
        u
    };
    buf[c_at..c_at + 2].copy_from_slice(&u.to_be_bytes());
}

/// Replaces the identifier of an ICMPv4 query (NAT gateway's ICMP translation), updating the
/// ICMP checksum (which has no pseudo-header in IPv4).
pub fn set_icmp_id(buf: &mut [u8], meta: &PacketMeta, new: u16) {
    let at = meta.l4_offset + 4;
    if meta.later_fragment || buf.len() < at + 2 || at + 2 > meta.len {
        return;
    }
    let old = u16::from_be_bytes([buf[at], buf[at + 1]]);
    buf[at..at + 2].copy_from_slice(&new.to_be_bytes());
    let c_at = meta.l4_offset + 2;
    let c = u16::from_be_bytes([buf[c_at], buf[c_at + 1]]);
    buf[c_at..c_at + 2].copy_from_slice(&super::checksum::update16(c, old, new).to_be_bytes());
}

/// Turns a packet into the answer its receiver would send (for `trace --reply` and tests):
/// addresses and ports swapped, a TCP SYN answered by SYN-ACK (anything else by ACK), an ICMP
/// echo request by its reply. Swapping 16-bit words leaves every checksum valid; the flag and
/// type changes are updated incrementally.
pub fn make_reply(buf: &mut [u8], meta: &PacketMeta) {
    let (a, w) = if meta.src.is_ipv4() { (12, 4) } else { (8, 16) };
    for i in 0..w {
        buf.swap(a + i, a + w + i);
    }
    let l4 = meta.l4_offset;
    if meta.has_ports() {
        buf.swap(l4, l4 + 2);
        buf.swap(l4 + 1, l4 + 3);
    }
    if meta.later_fragment {
        return;
    }
    let set_word = |buf: &mut [u8], at: usize, new: u16, c_at: usize| {
        let old = u16::from_be_bytes([buf[at], buf[at + 1]]);
        buf[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let c = u16::from_be_bytes([buf[c_at], buf[c_at + 1]]);
        buf[c_at..c_at + 2].copy_from_slice(&super::checksum::update16(c, old, new).to_be_bytes());
    };
    match meta.proto {
        PROTO_TCP => {
            let flags: u8 = if meta.tcp_flags & 0x02 != 0 && meta.tcp_flags & 0x10 == 0 {
                0x12
            } else {
                0x10
            };
            let word = (u16::from(buf[l4 + 12]) << 8) | u16::from(flags);
            set_word(buf, l4 + 12, word, l4 + 16);
        }
        super::PROTO_ICMP | super::PROTO_ICMPV6 => {
            let reply = match meta.icmp_type {
                8 => 0,
                128 => 129,
                t => t,
            };
            let word = (u16::from(reply) << 8) | u16::from(meta.icmp_code);
            set_word(buf, l4, word, l4 + 2);
        }
        _ => {}
    }
}

/// Rewrites the source address and port (ICMP: identifier) of the packet an ICMPv4 error
/// quotes, keeping the quoted header's checksum and the error's ICMP checksum right (the quoted
/// L4 checksum is left alone: the quote is usually cut short of what it covers).
pub fn set_quoted_src(
    buf: &mut [u8],
    meta: &PacketMeta,
    q: &super::Quoted,
    addr: Ipv4Addr,
    port: u16,
) {
    use super::checksum::{update16, update32};
    let icmp_c_at = meta.l4_offset + 2;
    let mut icmp_c = u16::from_be_bytes([buf[icmp_c_at], buf[icmp_c_at + 1]]);
    let word = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    // The quoted source address, and the quoted header checksum that covers it.
    let old_a = u32::from(q.src);
    let new_a = u32::from(addr);
    buf[q.ip + 12..q.ip + 16].copy_from_slice(&new_a.to_be_bytes());
    icmp_c = update32(icmp_c, old_a, new_a);
    let hc_at = q.ip + 10;
    let old_hc = word(buf, hc_at);
    let new_hc = update32(old_hc, old_a, new_a);
    buf[hc_at..hc_at + 2].copy_from_slice(&new_hc.to_be_bytes());
    icmp_c = update16(icmp_c, old_hc, new_hc);
    // The quoted port / identifier.
    let p_at = if q.proto == super::PROTO_ICMP {
        q.l4 + 4
    } else {
        q.l4
    };
    let old_p = word(buf, p_at);
    buf[p_at..p_at + 2].copy_from_slice(&port.to_be_bytes());
    icmp_c = update16(icmp_c, old_p, port);
    buf[icmp_c_at..icmp_c_at + 2].copy_from_slice(&icmp_c.to_be_bytes());
}

/// Router mode: decrements the TTL / hop limit, keeping the IPv4 header checksum right.
pub fn decrement_ttl(buf: &mut [u8], meta: &PacketMeta) {
    if meta.src.is_ipv4() {
        let old = u16::from_be_bytes([buf[8], buf[9]]);
        buf[8] = buf[8].wrapping_sub(1);
        let new = u16::from_be_bytes([buf[8], buf[9]]);
        let c = u16::from_be_bytes([buf[10], buf[11]]);
        let c = super::checksum::update16(c, old, new);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        buf[7] = buf[7].wrapping_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{build, checksum, parse};

    fn l4_ok(p: &[u8]) -> bool {
        let m = parse(p).unwrap();
        let (IpAddr4(s), IpAddr4(d)) = (v4(m.src), v4(m.dst));
        let l4 = &p[m.l4_offset..m.len];
        let acc = checksum::pseudo_v4(s, d, m.proto, l4.len() as u16);
        checksum::finish(checksum::sum(l4, acc)) == 0
    }
    struct IpAddr4(Ipv4Addr);
    fn v4(a: std::net::IpAddr) -> IpAddr4 {
        match a {
            std::net::IpAddr::V4(a) => IpAddr4(a),
            _ => unreachable!(),
        }
    }

    #[test]
    fn address_rewrite_keeps_every_checksum_valid() {
        for proto in [6u8, 17] {
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
                false,
            );
            assert!(parse(&p).is_ok(), "IPv4 header checksum");
            assert!(l4_ok(&p), "L4 checksum for proto {proto}");
        }
    }

    #[test]
    fn ttl_decrement_keeps_header_checksum() {
        let mut p = build(
            "10.0.1.10".parse().unwrap(),
            "203.0.113.100".parse().unwrap(),
            17,
            1,
            2,
            (0, 0),
            64,
        );
        let m = parse(&p).unwrap();
        decrement_ttl(&mut p, &m);
        assert_eq!(parse(&p).unwrap().ttl, 63);
    }
}
