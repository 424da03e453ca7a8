//! Packet parsing: one bounds-checked pass over the bytes yields a `PacketMeta`, the Copy summary
//! every later stage decides on. After `parse` succeeds, the offsets it returns are in bounds, so
//! rewrites index without further checks failing.

pub mod checksum;
pub mod rewrite;

use crate::pipeline::MalformedKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

/// What the pipeline needs to know of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// TCP/UDP ports; 0 for other protocols and non-first fragments.
    pub sport: u16,
    pub dport: u16,
    /// ICMP/ICMPv6 type and code (0 otherwise).
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// ICMP query identifier (echo, timestamp, …; 0 otherwise).
    pub icmp_id: u16,
    /// TCP flags byte (0 otherwise).
    pub tcp_flags: u8,
    /// Fragment of a larger datagram (first or not).
    pub fragment: bool,
    /// A fragment other than the first: no L4 header, so no ports.
    pub later_fragment: bool,
    /// Offset of the L4 header in the packet.
    pub l4_offset: usize,
    /// Length of the IP packet (total length), ≤ the buffer.
    pub len: usize,
}

/// The packet an ICMPv4 error quotes (its IP header and first 8 bytes), as offsets into the
/// buffer, for translating it back (NAT) and relating it to its flow (connection tracking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Offset of the quoted IP header.
    pub ip: usize,
    /// Offset of the quoted L4 header.
    pub l4: usize,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    /// Ports, or for a quoted ICMP query its identifier as `sport` (and 0 as `dport`).
    pub sport: u16,
    pub dport: u16,
}

/// ICMPv4 error types, which quote the packet they answer.
pub fn is_icmp_error(m: &PacketMeta) -> bool {
    m.proto == PROTO_ICMP && matches!(m.icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// The quoted packet of an ICMPv4 error, if the error carries enough of it.
pub fn quoted_v4(buf: &[u8], m: &PacketMeta) -> Option<Quoted> {
    if !is_icmp_error(m) || m.later_fragment {
        return None;
    }
    let ip = m.l4_offset + 8;
    let pkt = buf.get(..m.len)?;
    let h = pkt.get(ip..ip + 20)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let l4 = ip + usize::from(h[0] & 0x0f) * 4;
    let q = pkt.get(l4..l4 + 8)?;
    let proto = h[9];
    let (sport, dport) = match proto {
        PROTO_TCP | PROTO_UDP => (
            u16::from_be_bytes([q[0], q[1]]),
            u16::from_be_bytes([q[2], q[3]]),
        ),
        PROTO_ICMP => (u16::from_be_bytes([q[4], q[5]]), 0),
        _ => (0, 0),
    };
    Some(Quoted {
        ip,
        l4,
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        proto,
        sport,
        dport,
    })
}

impl PacketMeta {
    /// Whether the packet carries ports that rules can match.
    pub fn has_ports(&self) -> bool {
        matches!(self.proto, PROTO_TCP | PROTO_UDP) && !self.later_fragment
    }
}

/// Parses an IPv4 or IPv6 packet from `buf` (exactly the packet, or longer: the IP length field
/// decides). Validates what a router validates: version, header length, total length, IPv4
/// header checksum, and that a first fragment holds its L4 header.
pub fn parse(buf: &[u8]) -> Result<PacketMeta, MalformedKind> {
    match buf.first().map(|b| b >> 4) {
        None => Err(MalformedKind::Truncated),
        Some(4) => parse_v4(buf),
        Some(6) => parse_v6(buf),
        Some(_) => Err(MalformedKind::BadVersion),
    }
}

fn parse_v4(buf: &[u8]) -> Result<PacketMeta, MalformedKind> {
    if buf.len() < 20 {
        return Err(MalformedKind::Truncated);
    }
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(MalformedKind::BadIhl);
    }
    if buf.len() < ihl {
        return Err(MalformedKind::Truncated);
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total < ihl || total > buf.len() {
        return Err(MalformedKind::BadTotalLength);
    }
    if checksum::checksum(&buf[..ihl]) != 0 {
        return Err(MalformedKind::BadChecksum);
    }
    let frag = u16::from_be_bytes([buf[6], buf[7]]);
    let more = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
    let dst = Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]);
    let mut m = PacketMeta {
        src: src.into(),
        dst: dst.into(),
        proto: buf[9],
        ttl: buf[8],
        sport: 0,
        dport: 0,
        icmp_type: 0,
        icmp_code: 0,
        icmp_id: 0,
        tcp_flags: 0,
        fragment: more || offset != 0,
        later_fragment: offset != 0,
        l4_offset: ihl,
        len: total,
    };
    if !m.later_fragment {
        l4(&mut m, &buf[ihl..total])?;
    }
    Ok(m)
}

fn parse_v6(buf: &[u8]) -> Result<PacketMeta, MalformedKind> {
    if buf.len() < 40 {
        return Err(MalformedKind::Truncated);
    }
    let payload = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    let total = 40 + payload;
    if total > buf.len() {
        return Err(MalformedKind::BadTotalLength);
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&buf[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&buf[24..40]);
    let mut m = PacketMeta {
        src: Ipv6Addr::from(src).into(),
        dst: Ipv6Addr::from(dst).into(),
        proto: buf[6],
        ttl: buf[7],
        sport: 0,
        dport: 0,
        icmp_type: 0,
        icmp_code: 0,
        icmp_id: 0,
        tcp_flags: 0,
        fragment: false,
        later_fragment: false,
        l4_offset: 40,
        len: total,
    };
    // Walk the extension headers (hop-by-hop 0, routing 43, fragment 44, destination opts 60).
    let mut off = 40;
    let mut next = buf[6];
    loop {
        match next {
            0 | 43 | 60 => {
                let h = buf.get(off..off + 2).ok_or(MalformedKind::Truncated)?;
                next = h[0];
                off += (usize::from(h[1]) + 1) * 8;
            }
            44 => {
                let h = buf.get(off..off + 8).ok_or(MalformedKind::Truncated)?;
                next = h[0];
                let fo = u16::from_be_bytes([h[2], h[3]]);
                m.fragment = true;
                m.later_fragment = fo >> 3 != 0;
                off += 8;
            }
            _ => break,
        }
        if off > total {
            return Err(MalformedKind::Truncated);
        }
    }
    m.proto = next;
    m.l4_offset = off;
    if !m.later_fragment {
        l4(&mut m, &buf[off..total])?;
    }
    Ok(m)
}

/// Reads ports / ICMP type and code / TCP flags from the L4 header.
fn l4(m: &mut PacketMeta, l4: &[u8]) -> Result<(), MalformedKind> {
    match m.proto {
        PROTO_TCP => {
            let h = l4.get(..20).ok_or(MalformedKind::BadL4Header)?;
            m.sport = u16::from_be_bytes([h[0], h[1]]);
            m.dport = u16::from_be_bytes([h[2], h[3]]);
            m.tcp_flags = h[13];
        }
        PROTO_UDP => {
            let h = l4.get(..8).ok_or(MalformedKind::BadL4Header)?;
            m.sport = u16::from_be_bytes([h[0], h[1]]);
            m.dport = u16::from_be_bytes([h[2], h[3]]);
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            let h = l4.get(..4).ok_or(MalformedKind::BadL4Header)?;
            m.icmp_type = h[0];
            m.icmp_code = h[1];
            if let Some(id) = l4.get(4..6) {
                m.icmp_id = u16::from_be_bytes([id[0], id[1]]);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Builds a synthetic packet (for `trace` and tests) into a Vec: IPv4/IPv6 with a TCP SYN, a UDP
/// datagram, an ICMP echo request (or the given type/code), or a bare payload for other
/// protocols. Checksums are complete.
pub fn build(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    icmp: (u8, u8),
    ttl: u8,
) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let payload = [0u8; 8];
    let mut out = Vec::with_capacity(128);
    let ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), ttl),
        // Mixed families: build with the source's family and an unspecified destination.
        (IpAddr::V4(s), IpAddr::V6(_)) => PacketBuilder::ipv4(s.octets(), [0; 4], ttl),
        (IpAddr::V6(s), IpAddr::V4(_)) => PacketBuilder::ipv6(s.octets(), [0; 16], ttl),
    };
    let v6 = src.is_ipv6();
    let res = match proto {
        PROTO_TCP => ip
            .tcp(sport, dport, 1, 64240)
            .syn()
            .write(&mut out, &payload[..0]),
        PROTO_UDP => ip.udp(sport, dport).write(&mut out, &payload),
        PROTO_ICMP if !v6 => {
            let t = etherparse::Icmpv4Type::Unknown {
                type_u8: icmp.0,
                code_u8: icmp.1,
                bytes5to8: [0x12, 0x34, 0, 1],
            };
            ip.icmpv4(t).write(&mut out, &payload)
        }
        PROTO_ICMPV6 if v6 => {
            let t = etherparse::Icmpv6Type::Unknown {
                type_u8: icmp.0,
                code_u8: icmp.1,
                bytes5to8: [0x12, 0x34, 0, 1],
            };
            ip.icmpv6(t).write(&mut out, &payload)
        }
        p => ip.write(&mut out, p.into(), &payload),
    };
    // Writing into a Vec cannot fail for these sizes.
    debug_assert!(res.is_ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(proto: u8) -> Vec<u8> {
        build(
            "10.0.2.10".parse().unwrap(),
            "192.0.2.10".parse().unwrap(),
            proto,
            49152,
            80,
            (8, 0),
            64,
        )
    }

    #[test]
    fn parses_tcp_udp_icmp() {
        let m = parse(&v4(PROTO_TCP)).unwrap();
        assert_eq!((m.proto, m.sport, m.dport, m.ttl), (6, 49152, 80, 64));
        assert_eq!(m.tcp_flags & 0x02, 0x02);
        let m = parse(&v4(PROTO_UDP)).unwrap();
        assert_eq!((m.proto, m.sport, m.dport), (17, 49152, 80));
        let m = parse(&v4(PROTO_ICMP)).unwrap();
        assert_eq!((m.proto, m.icmp_type, m.icmp_code), (1, 8, 0));
        let p6 = build(
            "2001:db8:10::10".parse().unwrap(),
            "2001:db8:99::1".parse().unwrap(),
            PROTO_TCP,
            1000,
            443,
            (0, 0),
            64,
        );
        let m = parse(&p6).unwrap();
        assert_eq!((m.proto, m.sport, m.dport, m.l4_offset), (6, 1000, 443, 40));
    }

    #[test]
    fn each_malformation_has_its_reason() {
        let good = v4(PROTO_TCP);
        assert_eq!(parse(&[]), Err(MalformedKind::Truncated));
        assert_eq!(parse(&good[..19]), Err(MalformedKind::Truncated));
        let mut p = good.clone();
        p[0] = 0x55;
        assert_eq!(parse(&p), Err(MalformedKind::BadVersion));
        let mut p = good.clone();
        p[0] = 0x44;
        assert_eq!(parse(&p), Err(MalformedKind::BadIhl));
        let mut p = good.clone();
        p[3] = p[3].wrapping_add(100);
        assert_eq!(parse(&p), Err(MalformedKind::BadTotalLength));
        let mut p = good.clone();
        p[8] = 1; // TTL changed without fixing the checksum.
        assert_eq!(parse(&p), Err(MalformedKind::BadChecksum));
        // A first fragment too short for its TCP header.
        let mut p = good[..28].to_vec();
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse(&p), Err(MalformedKind::BadL4Header));
        assert_eq!(parse(&[0x60; 39]), Err(MalformedKind::Truncated));
    }
}
