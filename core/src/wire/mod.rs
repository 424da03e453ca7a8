//! Wire formats: typed, zero-copy views over packet bytes, and the one place that knows where a
//! field sits in a header.
//!
//! Design, after smoltcp's `wire` and firecracker's `dumbo::pdu`:
//! - **One length check, then no panic.** Each view (`Ipv4Packet`, `Ipv6Packet`, `TcpPacket`,
//!   `UdpPacket`, `IcmpPacket`, `VirtioNetHdr`) is built by `new_checked`, which checks the
//!   lengths once; every accessor after it indexes within what was checked. Field positions
//!   are named ranges (`ipv4::field::SRC`), never numbers at the use site.
//! - **A summary for deciding, views for rewriting.** [`parse`] makes one bounds-checked pass
//!   and yields a [`PacketMeta`], the `Copy` summary every stage of the pipeline decides on;
//!   [`rewrite`] changes fields in place with incremental checksum updates (RFC 1624) under a
//!   [`ChecksumMode`] (full, or the partial sum a checksum-offloading TUN device hands over).
//! - **Generated packets from a representation.** The TCP RST and the ICMP / ICMPv6 errors the
//!   dataplane sends, and the synthetic packets `trace` and the tests use, are written by
//!   [`emit`] from `Repr` values (`Ipv4Repr`, `Ipv6Repr`, `TcpRepr`, `IcmpRepr`), lengths and
//!   checksums last, for both address families.
//! - **Protocol numbers are a type.** [`IpProtocol`] (with `Unknown(n)` for the rest) replaces
//!   numbers everywhere above this module.

pub mod checksum;
pub mod emit;
pub mod icmp;
mod ip;
mod ipv4;
mod ipv6;
pub mod pcap;
pub mod rewrite;
pub mod synth;
pub mod tcp;
pub mod udp;
pub mod virtio;
pub mod xlat46;

pub use emit::build;
pub use icmp::{IcmpPacket, IcmpRepr};
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use rewrite::Field;
pub use synth::{BuildOptions, Fragment, build_with};
pub use tcp::{TcpPacket, TcpRepr, TcpSegment};
pub use udp::UdpPacket;
pub use virtio::VirtioNetHdr;

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

/// A fieldless enum whose variants each carry a stable code, written once: the enum, `ALL`
/// (every variant in order, so counters can be indexed by `index`), and `code`.
macro_rules! coded_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident {
        $( $(#[$vm:meta])* $var:ident => $code:literal, )*
    }) => {
        $(#[$m])* $vis enum $name { $( $(#[$vm])* $var, )* }

        impl $name {
            /// Every variant, in declaration order: `ALL[v.index()] == v`.
            pub const ALL: [$name; [$($code),*].len()] = [$($name::$var),*];

            /// Position in `ALL`.
            #[inline]
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The stable code (trace output, metrics labels, the README).
            pub const fn code(self) -> &'static str {
                match self {
                    $($name::$var => $code,)*
                }
            }
        }
    };
}

coded_enum! {
    /// What is wrong with a malformed packet.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum MalformedKind {
        Truncated => "TRUNCATED",
        BadVersion => "BAD_VERSION",
        BadIhl => "BAD_IHL",
        BadTotalLength => "BAD_TOTAL_LENGTH",
        BadChecksum => "BAD_CHECKSUM",
        BadL4Header => "BAD_L4_HEADER",
    }
}

/// What the L4 checksum field of a received packet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    /// The complete checksum: rewrites update it as a checksum.
    #[default]
    Full,
    /// Only the pseudo-header sum, not complemented (TUN offload, virtio-net
    /// `F_NEEDS_CSUM`): rewrites keep it partial, and ports (not in the pseudo-header) leave
    /// it alone.
    Partial,
}

#[inline]
pub(crate) fn be16(b: &[u8], r: Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], r: Range<usize>) -> u32 {
    u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
}

/// IP version of the first byte.
const VERSION_SHIFT: u8 = 4;

/// What the pipeline needs to know of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: IpProtocol,
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

impl PacketMeta {
    /// Whether the packet carries ports that rules can match.
    #[inline]
    pub fn has_ports(&self) -> bool {
        self.proto.has_ports() && !self.later_fragment
    }

    /// An ICMPv4 error, which quotes the packet it answers.
    #[inline]
    pub fn is_icmp_error(&self) -> bool {
        self.proto == IpProtocol::Icmp && icmp::v4::is_error(self.icmp_type)
    }

    /// The NAT gateway's "ports" of a packet: TCP/UDP ports, or the ICMP identifier (and 0).
    #[inline]
    pub fn nat_ports(&self) -> (u16, u16) {
        if self.proto == IpProtocol::Icmp {
            (self.icmp_id, 0)
        } else {
            (self.sport, self.dport)
        }
    }

    fn empty(src: IpAddr, dst: IpAddr, proto: IpProtocol, ttl: u8) -> PacketMeta {
        PacketMeta {
            src,
            dst,
            proto,
            ttl,
            sport: 0,
            dport: 0,
            icmp_type: 0,
            icmp_code: 0,
            icmp_id: 0,
            tcp_flags: 0,
            fragment: false,
            later_fragment: false,
            l4_offset: 0,
            len: 0,
        }
    }
}

/// The packet an ICMPv4 error quotes (its IP header and first 8 bytes of L4), for translating
/// it back (NAT) and relating it to its flow (connection tracking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Offset of the quoted IP header in the buffer.
    pub ip: usize,
    /// The quoted addresses (an ICMPv4 error quotes an IPv4 packet).
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The quoted packet as far as the quote goes: addresses, protocol, ports or ICMP type and
    /// identifier (`tcp_flags` 0: eight bytes do not reach them). `l4_offset` is from the
    /// start of the buffer; `len` is the error's length.
    pub meta: PacketMeta,
}

/// The quoted packet of an ICMPv4 error, if the error carries enough of it (a whole IPv4
/// header and 8 bytes of what follows).
pub fn quoted_v4(buf: &[u8], m: &PacketMeta) -> Option<Quoted> {
    if !m.is_icmp_error() || m.later_fragment {
        return None;
    }
    let pkt = buf.get(..m.len)?;
    let err = IcmpPacket::new_checked(pkt.get(m.l4_offset..)?).ok()?;
    let ip = Ipv4Packet::new_quoted(err.quoted()).ok()?;
    if ip.version() != 4 {
        return None;
    }
    let ip_at = m.l4_offset + icmp::field::QUOTED.start;
    let l4_at = ip_at + ip.header_len();
    let l4 = pkt.get(l4_at..l4_at + icmp::HEADER_LEN)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let mut q = PacketMeta::empty(src.into(), dst.into(), ip.protocol(), ip.ttl());
    q.fragment = ip.more_frags() || ip.frag_offset() != 0;
    q.later_fragment = ip.frag_offset() != 0;
    q.l4_offset = l4_at;
    q.len = m.len;
    if !q.later_fragment {
        match q.proto {
            // Eight bytes: the ports of either (TCP's flags are beyond them).
            IpProtocol::Tcp | IpProtocol::Udp => {
                let u = UdpPacket::new_checked(l4).ok()?;
                (q.sport, q.dport) = (u.src_port(), u.dst_port());
            }
            IpProtocol::Icmp => {
                let i = IcmpPacket::new_checked(l4).ok()?;
                (q.icmp_type, q.icmp_code) = (i.msg_type(), i.msg_code());
                q.icmp_id = i.ident().unwrap_or(0);
            }
            _ => {}
        }
    }
    Some(Quoted {
        ip: ip_at,
        src,
        dst,
        meta: q,
    })
}

/// The packet an ICMPv4 or ICMPv6 error quotes, as far as the quote goes (addresses, protocol,
/// ports or ICMP type and identifier), for relating the error to its flow. An ICMPv6 error's
/// quote is read when it starts with a fixed IPv6 header straight followed by TCP, UDP or
/// ICMPv6 (no extension header).
pub fn quoted_meta(buf: &[u8], m: &PacketMeta) -> Option<PacketMeta> {
    if m.src.is_ipv4() {
        return quoted_v4(buf, m).map(|q| q.meta);
    }
    if m.proto != IpProtocol::Icmpv6 || !icmp::v6::is_error(m.icmp_type) || m.later_fragment {
        return None;
    }
    let pkt = buf.get(..m.len)?;
    let ip_at = m.l4_offset + icmp::HEADER_LEN;
    let q = pkt.get(ip_at..)?;
    if q.len() < ipv6::HEADER_LEN || q[0] >> VERSION_SHIFT != 6 {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(q);
    let l4_at = ip_at + ipv6::HEADER_LEN;
    let l4 = pkt.get(l4_at..l4_at + icmp::HEADER_LEN)?;
    let mut qm = PacketMeta::empty(
        ip.src_addr().into(),
        ip.dst_addr().into(),
        ip.next_header(),
        ip.hop_limit(),
    );
    qm.l4_offset = l4_at;
    qm.len = m.len;
    match qm.proto {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let u = UdpPacket::new_checked(l4).ok()?;
            (qm.sport, qm.dport) = (u.src_port(), u.dst_port());
        }
        IpProtocol::Icmpv6 => {
            let i = IcmpPacket::new_checked(l4).ok()?;
            (qm.icmp_type, qm.icmp_code) = (i.msg_type(), i.msg_code());
            qm.icmp_id = i.ident().unwrap_or(0);
        }
        _ => return None,
    }
    Some(qm)
}

/// Parses an IPv4 or IPv6 packet from `buf` (exactly the packet, or longer: the IP length field
/// decides). Validates what a router validates: version, header length, total length, IPv4
/// header checksum, and that a first fragment holds its L4 header.
#[inline]
pub fn parse(buf: &[u8]) -> Result<PacketMeta, MalformedKind> {
    match buf.first().map(|b| b >> VERSION_SHIFT) {
        None => Err(MalformedKind::Truncated),
        Some(4) => parse_v4(buf),
        Some(6) => parse_v6(buf),
        Some(_) => Err(MalformedKind::BadVersion),
    }
}

#[inline]
fn parse_v4(buf: &[u8]) -> Result<PacketMeta, MalformedKind> {
    let ip = Ipv4Packet::new_checked(buf)?;
    if !ip.verify_checksum() {
        return Err(MalformedKind::BadChecksum);
    }
    let offset = ip.frag_offset();
    let mut m = PacketMeta::empty(
        ip.src_addr().into(),
        ip.dst_addr().into(),
        ip.protocol(),
        ip.ttl(),
    );
    m.fragment = ip.more_frags() || offset != 0;
    m.later_fragment = offset != 0;
    m.l4_offset = ip.header_len();
    m.len = ip.total_len();
    if !m.later_fragment {
        l4(&mut m, ip.payload())?;
    }
    Ok(m)
}

#[inline]
fn parse_v6(buf: &[u8]) -> Result<PacketMeta, MalformedKind> {
    let ip = Ipv6Packet::new_checked(buf)?;
    let u = ip.upper_layer()?;
    let mut m = PacketMeta::empty(
        ip.src_addr().into(),
        ip.dst_addr().into(),
        u.protocol,
        ip.hop_limit(),
    );
    m.fragment = u.fragment;
    m.later_fragment = u.later_fragment;
    m.l4_offset = u.offset;
    m.len = ip.total_len();
    if !m.later_fragment {
        // `upper_layer` keeps the offset within the packet.
        l4(&mut m, ip.packet().get(u.offset..).unwrap_or(&[]))?;
    }
    Ok(m)
}

/// Reads ports / ICMP type and code / TCP flags from the L4 header.
#[inline]
fn l4(m: &mut PacketMeta, l4: &[u8]) -> Result<(), MalformedKind> {
    match m.proto {
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(l4)?;
            (m.sport, m.dport, m.tcp_flags) = (t.src_port(), t.dst_port(), t.flags());
        }
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(l4)?;
            (m.sport, m.dport) = (u.src_port(), u.dst_port());
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let i = IcmpPacket::new_checked(l4)?;
            (m.icmp_type, m.icmp_code) = (i.msg_type(), i.msg_code());
            if let Some(id) = i.ident() {
                m.icmp_id = id;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(proto: IpProtocol) -> Vec<u8> {
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
        let m = parse(&v4(IpProtocol::Tcp)).unwrap();
        assert_eq!(
            (m.proto, m.sport, m.dport, m.ttl),
            (IpProtocol::Tcp, 49152, 80, 64)
        );
        assert_eq!(m.tcp_flags & tcp::flags::SYN, tcp::flags::SYN);
        let m = parse(&v4(IpProtocol::Udp)).unwrap();
        assert_eq!((m.proto, m.sport, m.dport), (IpProtocol::Udp, 49152, 80));
        let m = parse(&v4(IpProtocol::Icmp)).unwrap();
        assert_eq!(
            (m.proto, m.icmp_type, m.icmp_code),
            (IpProtocol::Icmp, 8, 0)
        );
        let p6 = build(
            "2001:db8:10::10".parse().unwrap(),
            "2001:db8:99::1".parse().unwrap(),
            IpProtocol::Tcp,
            1000,
            443,
            (0, 0),
            64,
        );
        let m = parse(&p6).unwrap();
        assert_eq!(
            (m.proto, m.sport, m.dport, m.l4_offset),
            (IpProtocol::Tcp, 1000, 443, 40)
        );
    }

    #[test]
    fn each_malformation_has_its_reason() {
        let good = v4(IpProtocol::Tcp);
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

    #[test]
    fn ipv6_extension_headers_are_walked_to_the_upper_layer() {
        let mut p = build(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            IpProtocol::Udp,
            53,
            5353,
            (0, 0),
            64,
        );
        // Insert a hop-by-hop header (8 bytes) and a first fragment header.
        let udp = p.split_off(ipv6::HEADER_LEN);
        p[ipv6::field::NEXT_HEADER] = IpProtocol::HopByHop.into();
        p.extend_from_slice(&[IpProtocol::Ipv6Frag.into(), 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[IpProtocol::Udp.into(), 0, 0, 1, 0, 0, 0, 7]);
        p.extend_from_slice(&udp);
        let len = (p.len() - ipv6::HEADER_LEN) as u16;
        p[ipv6::field::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
        let m = parse(&p).unwrap();
        assert_eq!(
            (
                m.proto,
                m.l4_offset,
                m.sport,
                m.dport,
                m.fragment,
                m.later_fragment
            ),
            (IpProtocol::Udp, 56, 53, 5353, true, false)
        );
        // The same as a later fragment: no ports.
        p[50] = 0x08;
        let m = parse(&p).unwrap();
        assert!(m.later_fragment && !m.has_ports());
        // Cut inside the fragment header.
        let mut short = p[..52].to_vec();
        short[ipv6::field::PAYLOAD_LEN].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(parse(&short), Err(MalformedKind::Truncated));
    }
}
