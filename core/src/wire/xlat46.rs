//! IP/ICMP translation (RFC 7915) in place, for the NAT gateway's NAT64: a TCP, UDP or ICMP echo
//! packet of one family rewritten as the other — the IP header replaced (IPv6's 40 bytes by
//! IPv4's 20, or back), the L4 header moved with it, ICMPv6 echo types mapped to ICMP's and
//! back, the translated port or identifier written, and every checksum computed whole (the
//! pseudo-header changes entirely, so an incremental update gains nothing; a packet that came
//! with only a partial checksum leaves with a complete one). Addresses follow RFC 6052: the
//! IPv4 address is the last 32 bits of `64:ff9b::/96`.
//!
//! ICMP errors are translated with the packet they quote (RFC 7915 §4.2–4.5, §5.2–5.5):
//! [`icmp_error_4to6`], [`icmp_error_6to4`] map the type and code ([`map_error_4to6`],
//! [`map_error_6to4`]: the MTU of "fragmentation needed" / "packet too big" adjusted by the 20
//! bytes the headers differ, parameter-problem pointers moved to the same field), replace the
//! quoted IP header too, rewrite the quoted port, update the quoted L4 checksum incrementally
//! (the quote usually stops short of what it covers) and compute the outer checksum whole.
//!
//! What is not translated (extension headers, fragments, IPv4 options, ICMP types without a
//! counterpart, other protocols) is refused before any byte changes: [`translatable_6to4`],
//! [`translatable_4to6`], and `None` from the ICMP error functions.

use super::checksum::{finish, fold, pseudo_v4, pseudo_v6, sum, update16};
use super::{
    IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Repr, PacketMeta, Quoted, be16, icmp, ipv4, ipv6, tcp,
    udp,
};
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

/// The most an ICMPv6 error may be (RFC 4443 §2.4 (c): as much of the invoking packet as fits
/// the minimum IPv6 MTU).
pub const ICMPV6_ERROR_MAX: usize = 1280;
/// The most an ICMPv4 error is (RFC 1812 §4.3.2.3: 576 bytes).
pub const ICMPV4_ERROR_MAX: usize = 576;

/// RFC 1191's plateau table: a likely MTU when an IPv4 router sent "fragmentation needed"
/// with an MTU of zero (RFC 7915 §4.2: the largest plateau below the quoted packet's length).
const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// The ICMPv6 error an ICMPv4 error becomes (RFC 7915 §4.2): type, code and the four bytes
/// after the checksum; `None` where the RFC says to drop it (source quench, redirect,
/// host precedence violation, unknown codes, parameter problems of untranslatable fields).
/// `quoted_len` is the quoted packet's total length (for an MTU of zero).
pub fn map_error_4to6(
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted_len: usize,
) -> Option<(u8, u8, [u8; 4])> {
    use icmp::{v4, v6};
    match (ty, code) {
        (v4::DEST_UNREACHABLE, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => {
            Some((v6::DEST_UNREACHABLE, 0, [0; 4]))
        }
        // Protocol unreachable: a parameter problem pointing at the Next Header field.
        (v4::DEST_UNREACHABLE, 2) => Some((v6::PARAM_PROBLEM, 1, [0, 0, 0, 6])),
        (v4::DEST_UNREACHABLE, 3) => Some((v6::DEST_UNREACHABLE, 4, [0; 4])),
        (v4::DEST_UNREACHABLE, 4) => {
            let mut mtu = u32::from(u16::from_be_bytes([rest[2], rest[3]]));
            if mtu == 0 {
                mtu = u32::from(
                    PLATEAUS
                        .iter()
                        .copied()
                        .find(|&p| usize::from(p) < quoted_len)
                        .unwrap_or(68),
                );
            }
            let mtu = mtu + (ipv6::HEADER_LEN - ipv4::HEADER_LEN) as u32;
            Some((v6::PACKET_TOO_BIG, 0, mtu.to_be_bytes()))
        }
        (v4::DEST_UNREACHABLE, 9 | 10 | 13 | 15) => Some((v6::DEST_UNREACHABLE, 1, [0; 4])),
        (v4::TIME_EXCEEDED, 0 | 1) => Some((v6::TIME_EXCEEDED, code, [0; 4])),
        (v4::PARAM_PROBLEM, 0 | 2) => {
            // RFC 7915 Figure 3: the IPv4 header field's counterpart in the IPv6 header.
            let p = match rest[0] {
                0 => 0,
                1 => 1,
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            Some((v6::PARAM_PROBLEM, 0, [0, 0, 0, p]))
        }
        _ => None,
    }
}

/// The ICMPv4 error an ICMPv6 error becomes (RFC 7915 §5.2); `None` where it says to drop it.
pub fn map_error_6to4(ty: u8, code: u8, rest: [u8; 4]) -> Option<(u8, u8, [u8; 4])> {
    use icmp::{v4, v6};
    match (ty, code) {
        (v6::DEST_UNREACHABLE, 0 | 2 | 3) => Some((v4::DEST_UNREACHABLE, 1, [0; 4])),
        (v6::DEST_UNREACHABLE, 1) => Some((v4::DEST_UNREACHABLE, 10, [0; 4])),
        (v6::DEST_UNREACHABLE, 4) => Some((v4::DEST_UNREACHABLE, 3, [0; 4])),
        (v6::PACKET_TOO_BIG, 0) => {
            let mtu = u32::from_be_bytes(rest).saturating_sub(20).min(0xffff) as u16;
            let [hi, lo] = mtu.to_be_bytes();
            Some((v4::DEST_UNREACHABLE, 4, [0, 0, hi, lo]))
        }
        (v6::TIME_EXCEEDED, 0 | 1) => Some((v4::TIME_EXCEEDED, code, [0; 4])),
        (v6::PARAM_PROBLEM, 0) => {
            // RFC 7915 Figure 6.
            let p = match u32::from_be_bytes(rest) {
                0 => 0,
                1 => 1,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            Some((v4::PARAM_PROBLEM, 0, [p, 0, 0, 0]))
        }
        (v6::PARAM_PROBLEM, 1) => Some((v4::DEST_UNREACHABLE, 2, [0; 4])),
        _ => None,
    }
}

/// The packet an ICMPv6 error quotes, as far as NAT64 needs it: a fixed IPv6 header straight
/// followed by TCP or UDP (no extension header), and its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedV6 {
    /// Offset of the quoted IPv6 header in the buffer.
    pub ip: usize,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub proto: IpProtocol,
    pub sport: u16,
    pub dport: u16,
}

/// The quoted packet of an ICMPv6 error (with no extension header in the error or the quote),
/// if it carries the quoted header whole and the ports.
pub fn quoted_v6(buf: &[u8], m: &PacketMeta) -> Option<QuotedV6> {
    if m.proto != IpProtocol::Icmpv6
        || !icmp::v6::is_error(m.icmp_type)
        || m.l4_offset != ipv6::HEADER_LEN
        || m.fragment
    {
        return None;
    }
    let ip = m.l4_offset + icmp::HEADER_LEN;
    let q = buf.get(ip..m.len)?;
    if q.len() < ipv6::HEADER_LEN + 4 || q[0] >> 4 != 6 {
        return None;
    }
    let proto = IpProtocol::from(q[ipv6::field::NEXT_HEADER]);
    if !matches!(proto, IpProtocol::Tcp | IpProtocol::Udp) {
        return None;
    }
    let a = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&q[r]);
        Ipv6Addr::from(b)
    };
    let l4 = &q[ipv6::HEADER_LEN..];
    Some(QuotedV6 {
        ip,
        src: a(ipv6::field::SRC),
        dst: a(ipv6::field::DST),
        proto,
        sport: be16(l4, tcp::field::SRC_PORT),
        dport: be16(l4, tcp::field::DST_PORT),
    })
}

/// The quoted L4 header's checksum field, where the quote reaches it (`None`: not quoted, or
/// not a protocol translated here).
fn quoted_checksum_at(proto: IpProtocol, quoted_len: usize) -> Option<std::ops::Range<usize>> {
    let r = match proto {
        IpProtocol::Tcp => tcp::field::CHECKSUM,
        IpProtocol::Udp => udp::field::CHECKSUM,
        IpProtocol::Icmp | IpProtocol::Icmpv6 => icmp::field::CHECKSUM,
        _ => return None,
    };
    (r.end <= quoted_len).then_some(r)
}

/// Replaces the 16-bit word at `r` of `l4` and, when the quote holds the checksum, updates it.
fn quoted_word(
    l4: &mut [u8],
    r: std::ops::Range<usize>,
    new: u16,
    ck: &Option<std::ops::Range<usize>>,
) {
    if l4.len() < r.end {
        return;
    }
    let old = be16(l4, r.clone());
    l4[r].copy_from_slice(&new.to_be_bytes());
    if let Some(ck) = ck {
        let c = update16(be16(l4, ck.clone()), old, new);
        l4[ck.clone()].copy_from_slice(&c.to_be_bytes());
    }
}

/// ICMPv4 error → ICMPv6 error (RFC 7915 §4.2–4.5): outer `src` → `dst`; the quoted packet
/// (the one the gateway sent out, from its address) becomes `inner_src:inner_sport` →
/// `inner_dst`, as the IPv6 host sent it. The quote is cut so that the message fits
/// [`ICMPV6_ERROR_MAX`]. Returns the new length, or `None` with nothing changed (an ICMP type
/// without counterpart, IPv4 options, a fragment, a quoted protocol other than TCP, UDP or
/// ICMP echo, no room in `buf`).
#[allow(clippy::too_many_arguments)]
pub fn icmp_error_4to6(
    buf: &mut [u8],
    m: &PacketMeta,
    q: &Quoted,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    inner_src: Ipv6Addr,
    inner_sport: u16,
    inner_dst: Ipv6Addr,
) -> Option<usize> {
    if !m.is_icmp_error() || m.l4_offset != ipv4::HEADER_LEN || m.fragment || q.meta.fragment {
        return None;
    }
    let pkt = buf.get(..m.len)?;
    let e = &pkt[m.l4_offset..];
    let rest: [u8; 4] = e.get(icmp::field::UNUSED)?.try_into().ok()?;
    let inner = Ipv4Packet::new_quoted(pkt.get(q.ip..)?).ok()?;
    let ihl = inner.header_len();
    let inner_total = inner.total_len();
    let inner_l4 = pkt.get(q.ip + ihl..)?;
    let (ty, code, rest) = map_error_4to6(m.icmp_type, m.icmp_code, rest, inner_total)?;
    let proto6 = match q.meta.proto {
        IpProtocol::Tcp | IpProtocol::Udp => q.meta.proto,
        IpProtocol::Icmp if q.meta.icmp_type == icmp::v4::ECHO_REQUEST => IpProtocol::Icmpv6,
        _ => return None,
    };
    let orig_l4_len = inner_total.checked_sub(ihl)?;
    let mut out = [0u8; ICMPV6_ERROR_MAX];
    let inner_at = ipv6::HEADER_LEN + icmp::HEADER_LEN;
    let l4_at = inner_at + ipv6::HEADER_LEN;
    let n = inner_l4.len().min(ICMPV6_ERROR_MAX - l4_at);
    let total = l4_at + n;
    if buf.len() < total {
        return None;
    }
    Ipv6Repr {
        src: inner_src,
        dst: inner_dst,
        next_header: proto6,
        payload_len: orig_l4_len,
        hop_limit: inner.ttl(),
    }
    .emit(&mut out[inner_at..]);
    let l4 = &mut out[l4_at..total];
    l4.copy_from_slice(&inner_l4[..n]);
    // The quoted L4 header: its port (ICMP: type and identifier) as the IPv6 host sent it, and
    // its checksum (where quoted) moved from the IPv4 pseudo-header to the IPv6 one (ICMPv4
    // has none; ICMPv6 has).
    let ck = quoted_checksum_at(q.meta.proto, n);
    let ps4 = match q.meta.proto {
        IpProtocol::Icmp => 0,
        p => fold(pseudo_v4(q.src, q.dst, p, orig_l4_len as u16)),
    };
    let ps6 = fold(pseudo_v6(inner_src, inner_dst, proto6, orig_l4_len as u32));
    let udp_none =
        q.meta.proto == IpProtocol::Udp && ck.is_some() && be16(l4, udp::field::CHECKSUM) == 0;
    if let Some(r) = ck.clone().filter(|_| !udp_none) {
        let c = update16(be16(l4, r.clone()), ps4, ps6);
        l4[r].copy_from_slice(&c.to_be_bytes());
    }
    let ck = ck.filter(|_| !udp_none);
    if proto6 == IpProtocol::Icmpv6 {
        quoted_word(
            l4,
            icmp::field::TYPE_CODE,
            u16::from(icmp::v6::ECHO_REQUEST) << 8 | u16::from(q.meta.icmp_code),
            &ck,
        );
        quoted_word(l4, icmp::field::IDENT, inner_sport, &ck);
    } else {
        quoted_word(l4, tcp::field::SRC_PORT, inner_sport, &ck);
    }
    // The outer ICMPv6 header and its checksum, whole.
    let msg = &mut out[ipv6::HEADER_LEN..total];
    msg[icmp::field::TYPE] = ty;
    msg[icmp::field::CODE] = code;
    msg[icmp::field::UNUSED].copy_from_slice(&rest);
    let c = finish(sum(
        msg,
        pseudo_v6(src, dst, IpProtocol::Icmpv6, msg.len() as u32),
    ));
    msg[icmp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    Ipv6Repr {
        src,
        dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: total - ipv6::HEADER_LEN,
        hop_limit: m.ttl,
    }
    .emit(&mut out);
    buf[..total].copy_from_slice(&out[..total]);
    Some(total)
}

/// ICMPv6 error → ICMPv4 error (RFC 7915 §5.2–5.5): outer `src` → `dst`; the quoted TCP or
/// UDP packet (one the IPv6 host received through the gateway) becomes `inner_src` →
/// `inner_dst:inner_dport`, as the IPv4 host sent it. The quote is cut so that the message
/// fits [`ICMPV4_ERROR_MAX`]. Returns the new length, or `None` with nothing changed.
#[allow(clippy::too_many_arguments)]
pub fn icmp_error_6to4(
    buf: &mut [u8],
    m: &PacketMeta,
    q: &QuotedV6,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    inner_src: Ipv4Addr,
    inner_dst: Ipv4Addr,
    inner_dport: u16,
) -> Option<usize> {
    if m.l4_offset != ipv6::HEADER_LEN || m.fragment {
        return None;
    }
    let pkt = buf.get(..m.len)?;
    let e = pkt.get(m.l4_offset..)?;
    let rest: [u8; 4] = e.get(icmp::field::UNUSED)?.try_into().ok()?;
    let (ty, code, rest) = map_error_6to4(m.icmp_type, m.icmp_code, rest)?;
    let inner = pkt.get(q.ip..)?;
    let orig_l4_len = usize::from(be16(inner, ipv6::field::PAYLOAD_LEN));
    let inner_l4 = inner.get(ipv6::HEADER_LEN..)?;
    let hop = inner[ipv6::field::HOP_LIMIT];
    let mut out = [0u8; ICMPV4_ERROR_MAX];
    let inner_at = ipv4::HEADER_LEN + icmp::HEADER_LEN;
    let l4_at = inner_at + ipv4::HEADER_LEN;
    let n = inner_l4.len().min(ICMPV4_ERROR_MAX - l4_at);
    let total = l4_at + n;
    let inner4 = Ipv4Repr {
        src: inner_src,
        dst: inner_dst,
        protocol: q.proto,
        payload_len: orig_l4_len,
        ttl: hop,
        dont_frag: true,
    };
    inner4.emit(&mut out[inner_at..]);
    let l4 = &mut out[l4_at..total];
    l4.copy_from_slice(&inner_l4[..n]);
    let ck = quoted_checksum_at(q.proto, n);
    let udp_none =
        q.proto == IpProtocol::Udp && ck.is_some() && be16(l4, udp::field::CHECKSUM) == 0;
    let ck = ck.filter(|_| !udp_none);
    if let Some(r) = ck.clone() {
        let ps6 = fold(pseudo_v6(q.src, q.dst, q.proto, orig_l4_len as u32));
        let ps4 = fold(pseudo_v4(inner_src, inner_dst, q.proto, orig_l4_len as u16));
        let c = update16(be16(l4, r.clone()), ps6, ps4);
        l4[r].copy_from_slice(&c.to_be_bytes());
    }
    quoted_word(l4, tcp::field::DST_PORT, inner_dport, &ck);
    if q.proto == IpProtocol::Udp && ck.is_some() && be16(l4, udp::field::CHECKSUM) == 0 {
        l4[udp::field::CHECKSUM].copy_from_slice(&0xffffu16.to_be_bytes());
    }
    let msg = &mut out[ipv4::HEADER_LEN..total];
    msg[icmp::field::TYPE] = ty;
    msg[icmp::field::CODE] = code;
    msg[icmp::field::UNUSED].copy_from_slice(&rest);
    let c = finish(sum(msg, 0));
    msg[icmp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    Ipv4Repr {
        src,
        dst,
        protocol: IpProtocol::Icmp,
        payload_len: total - ipv4::HEADER_LEN,
        ttl: m.ttl,
        dont_frag: false,
    }
    .emit(&mut out);
    buf.get_mut(..total)?.copy_from_slice(&out[..total]);
    Some(total)
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

    #[test]
    fn error_types_map_as_rfc_7915_says() {
        use icmp::{v4, v6};
        // 4 → 6: MTU + 20, a zero MTU from the plateau table below the quoted length.
        assert_eq!(
            map_error_4to6(v4::DEST_UNREACHABLE, 4, [0, 0, 0x05, 0xdc], 1500),
            Some((v6::PACKET_TOO_BIG, 0, 1520u32.to_be_bytes()))
        );
        assert_eq!(
            map_error_4to6(v4::DEST_UNREACHABLE, 4, [0; 4], 1500),
            Some((v6::PACKET_TOO_BIG, 0, 1512u32.to_be_bytes())),
            "1492, the largest plateau below 1500, + 20"
        );
        assert_eq!(map_error_4to6(v4::DEST_UNREACHABLE, 14, [0; 4], 100), None);
        assert_eq!(map_error_4to6(v4::SOURCE_QUENCH, 0, [0; 4], 100), None);
        assert_eq!(map_error_4to6(v4::REDIRECT, 1, [0; 4], 100), None);
        assert_eq!(map_error_4to6(v4::PARAM_PROBLEM, 1, [0; 4], 100), None);
        assert_eq!(
            map_error_4to6(v4::PARAM_PROBLEM, 0, [5, 0, 0, 0], 100),
            None
        );
        assert_eq!(
            map_error_4to6(v4::PARAM_PROBLEM, 0, [17, 0, 0, 0], 100),
            Some((v6::PARAM_PROBLEM, 0, [0, 0, 0, 24]))
        );
        // 6 → 4: MTU - 20, pointers into the IPv4 header, parameter problem "unrecognized next
        // header" as protocol unreachable.
        assert_eq!(
            map_error_6to4(v6::PACKET_TOO_BIG, 0, 1280u32.to_be_bytes()),
            Some((v4::DEST_UNREACHABLE, 4, [0, 0, 0x04, 0xec]))
        );
        assert_eq!(
            map_error_6to4(v6::PARAM_PROBLEM, 0, 30u32.to_be_bytes()),
            Some((v4::PARAM_PROBLEM, 0, [16, 0, 0, 0]))
        );
        assert_eq!(
            map_error_6to4(v6::PARAM_PROBLEM, 0, 40u32.to_be_bytes()),
            None
        );
        assert_eq!(
            map_error_6to4(v6::PARAM_PROBLEM, 1, [0; 4]),
            Some((v4::DEST_UNREACHABLE, 2, [0; 4]))
        );
        assert_eq!(
            map_error_6to4(v6::DEST_UNREACHABLE, 1, [0; 4]),
            Some((v4::DEST_UNREACHABLE, 10, [0; 4]))
        );
        assert_eq!(map_error_6to4(v6::DEST_UNREACHABLE, 5, [0; 4]), None);
        assert_eq!(map_error_6to4(v6::PARAM_PROBLEM, 2, [0; 4]), None);
    }
}
