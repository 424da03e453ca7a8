//! The packets the dataplane writes itself: the TCP RST a NAT gateway answers an idled-out
//! connection with, the ICMP / ICMPv6 errors of router mode, and the synthetic packets of
//! `trace` and the tests. Each is emitted from `Repr` values in one order — upper layer first,
//! then the IP header that carries its length, then the checksum that covers both — so no
//! length or checksum is ever written before what it depends on.

use super::checksum;
use super::icmp::{self, IcmpRepr};
use super::ipv4::{self, Ipv4Repr};
use super::ipv6::{self, Ipv6Repr};
use super::tcp::{self, TcpPacket, TcpRepr, TcpSegment};
use super::udp;
use super::{IpProtocol, PacketMeta};
use std::net::IpAddr;

/// An IP header of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRepr {
    V4(Ipv4Repr),
    V6(Ipv6Repr),
}

impl IpRepr {
    /// The header for `payload_len` bytes of `protocol` from `src` to `dst`; `None` for mixed
    /// families.
    pub fn new(
        src: IpAddr,
        dst: IpAddr,
        protocol: IpProtocol,
        payload_len: usize,
        ttl: u8,
    ) -> Option<IpRepr> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(IpRepr::V4(Ipv4Repr {
                src,
                dst,
                protocol,
                payload_len,
                ttl,
                dont_frag: true,
            })),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(IpRepr::V6(Ipv6Repr {
                src,
                dst,
                next_header: protocol,
                payload_len,
                hop_limit: ttl,
            })),
            _ => None,
        }
    }

    pub const fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.header_len(),
            IpRepr::V6(r) => r.header_len(),
        }
    }

    const fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    const fn protocol(&self) -> IpProtocol {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// Header plus payload.
    pub const fn total_len(&self) -> usize {
        self.header_len() + self.payload_len()
    }

    /// Writes the IP header into `buf` (whose upper layer, at `header_len()..total_len()`, is
    /// already written), then the upper layer's checksum.
    pub(super) fn emit(&self, buf: &mut [u8]) {
        match self {
            IpRepr::V4(r) => r.emit(buf),
            IpRepr::V6(r) => r.emit(buf),
        }
        let (h, total) = (self.header_len(), self.total_len());
        let proto = self.protocol();
        let at = match proto {
            IpProtocol::Tcp => tcp::field::CHECKSUM,
            IpProtocol::Udp => udp::field::CHECKSUM,
            IpProtocol::Icmp | IpProtocol::Icmpv6 => icmp::field::CHECKSUM,
            _ => return,
        };
        let l4 = &mut buf[h..total];
        l4[at.clone()].fill(0);
        // ICMPv4 has no pseudo-header; everything else over IP does.
        let acc = match self {
            IpRepr::V4(_) if proto == IpProtocol::Icmp => 0,
            IpRepr::V4(r) => checksum::pseudo_v4(r.src, r.dst, proto, l4.len() as u16),
            IpRepr::V6(r) => checksum::pseudo_v6(r.src, r.dst, proto, l4.len() as u32),
        };
        let mut c = checksum::finish(checksum::sum(l4, acc));
        // A computed UDP checksum of 0 is sent as 0xffff (0 means none).
        if proto == IpProtocol::Udp && c == 0 {
            c = 0xffff;
        }
        l4[at].copy_from_slice(&c.to_be_bytes());
    }
}

/// Writes into `out` the RST answering `seg`, which went from `src` to `dst` (so the RST goes
/// from `dst` back to `src`; see [`TcpRepr::rst_for`]). Returns its length; `None` if `out` is
/// too short, the families are mixed, or `seg` is itself a RST.
pub fn tcp_rst(src: IpAddr, dst: IpAddr, seg: &TcpSegment, out: &mut [u8]) -> Option<usize> {
    let t = TcpRepr::rst_for(seg)?;
    let ip = IpRepr::new(dst, src, IpProtocol::Tcp, t.header_len(), ipv4::DEFAULT_TTL)?;
    let out = out.get_mut(..ip.total_len())?;
    t.emit(&mut out[ip.header_len()..]);
    ip.emit(out);
    Some(ip.total_len())
}

/// Writes into `out` the UDP datagram `src:sport → dst:dport` carrying `payload` (the VPC
/// resolver's answers). Returns its length; `None` if `out` is too short, the datagram too long,
/// or the families are mixed.
pub fn udp(
    (src, sport): (IpAddr, u16),
    (dst, dport): (IpAddr, u16),
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let ulen = udp::HEADER_LEN + payload.len();
    let wire_len = u16::try_from(ulen).ok()?;
    let ip = IpRepr::new(src, dst, IpProtocol::Udp, ulen, ipv4::DEFAULT_TTL)?;
    let out = out.get_mut(..ip.total_len())?;
    let u = &mut out[ip.header_len()..];
    u[udp::field::SRC_PORT].copy_from_slice(&sport.to_be_bytes());
    u[udp::field::DST_PORT].copy_from_slice(&dport.to_be_bytes());
    u[udp::field::LENGTH].copy_from_slice(&wire_len.to_be_bytes());
    u[udp::HEADER_LEN..].copy_from_slice(payload);
    ip.emit(out);
    Some(ip.total_len())
}

/// Replaces the TCP segment in `buf` (parsed as `m`) by the RST that answers it. Returns the
/// RST's length, or `None` (not TCP, a RST, or no room).
pub fn tcp_rst_in_place(buf: &mut [u8], m: &PacketMeta) -> Option<usize> {
    if m.proto != IpProtocol::Tcp || m.later_fragment {
        return None;
    }
    let tcp = TcpPacket::new_checked(buf.get(m.l4_offset..m.len)?).ok()?;
    let seg = TcpSegment::parse(&tcp);
    tcp_rst(m.src, m.dst, &seg, buf)
}

/// The most of the offending packet an ICMPv6 error quotes: the error must fit the IPv6
/// minimum MTU (RFC 4443 §2.4 (c)).
const ICMPV6_ERROR_MAX: usize = 1280;

/// Replaces the packet in `buf` (parsed as `m`) by an ICMP (IPv4) or ICMPv6 error of type `ty`
/// and code `code` from `from` back to its sender, quoting it as RFC 792 (header and 8 bytes)
/// or RFC 4443 (as much as fits 1280 bytes) asks. Returns the error's length, or `None` when
/// `from` is of the other family or `buf` cannot hold it.
pub fn icmp_error(buf: &mut [u8], m: &PacketMeta, from: IpAddr, ty: u8, code: u8) -> Option<usize> {
    let quoted = match m.src {
        IpAddr::V4(_) => (m.l4_offset + icmp::HEADER_LEN).min(m.len),
        IpAddr::V6(_) => m
            .len
            .min(ICMPV6_ERROR_MAX - ipv6::HEADER_LEN - icmp::HEADER_LEN),
    };
    let proto = IpProtocol::icmp_for(m.src.is_ipv6());
    let mut ip = IpRepr::new(
        from,
        m.src,
        proto,
        icmp::HEADER_LEN + quoted,
        ipv4::DEFAULT_TTL,
    )?;
    if let IpRepr::V4(r) = &mut ip {
        r.dont_frag = false;
    }
    let at = ip.header_len() + icmp::HEADER_LEN;
    if buf.len() < ip.total_len() {
        return None;
    }
    buf.copy_within(..quoted, at);
    let icmp = IcmpRepr {
        msg_type: ty,
        msg_code: code,
        rest: [0; 4],
    };
    icmp.emit(&mut buf[ip.header_len()..]);
    ip.emit(buf);
    Some(ip.total_len())
}

/// Builds a synthetic packet (for `trace` and tests) into a Vec: IPv4/IPv6 with a TCP SYN, a UDP
/// datagram, an ICMP echo request (or the given type/code), or a bare payload for other
/// protocols. Checksums are complete. Mixed families: the destination becomes the unspecified
/// address of the source's family. Other flags, fragments, lengths and payloads:
/// [`super::synth::build_with`].
pub fn build(
    src: IpAddr,
    dst: IpAddr,
    proto: IpProtocol,
    sport: u16,
    dport: u16,
    icmp: (u8, u8),
    ttl: u8,
) -> Vec<u8> {
    let opts = super::synth::BuildOptions {
        ttl,
        ..Default::default()
    };
    super::synth::build_with(src, dst, proto, sport, dport, icmp, &opts).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::checksum::{checksum, fold, pseudo_v4, pseudo_v6, sum};
    use super::super::tcp::flags::{ACK, FIN, RST, SYN};
    use super::super::{Ipv4Packet, parse, quoted_v4};
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn seg(flags: u8, payload_len: u32) -> TcpSegment {
        TcpSegment {
            sport: 40000,
            dport: 443,
            seq: 0xffff_fff0,
            ack: 0x1234_5678,
            flags,
            payload_len,
        }
    }
    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
    const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    fn verify_v4(buf: &[u8], s: &TcpSegment) {
        assert_eq!(checksum(&buf[..20]), 0, "IPv4 header checksum");
        assert_eq!(&buf[12..16], &B.octets());
        assert_eq!(&buf[16..20], &A.octets());
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 40);
        let total = sum(&buf[20..40], pseudo_v4(B, A, IpProtocol::Tcp, 20));
        assert_eq!(fold(total), 0xffff, "TCP checksum");
        assert_eq!(u16::from_be_bytes([buf[20], buf[21]]), s.dport);
        assert_eq!(u16::from_be_bytes([buf[22], buf[23]]), s.sport);
    }

    #[test]
    fn rst_for_an_ack_segment_takes_seq_from_its_ack() {
        let s = seg(ACK | 0x08, 100);
        let mut buf = [0u8; 64];
        assert_eq!(tcp_rst(A.into(), B.into(), &s, &mut buf), Some(40));
        verify_v4(&buf, &s);
        assert_eq!(
            u32::from_be_bytes(buf[24..28].try_into().unwrap()),
            0x1234_5678
        );
        assert_eq!(u32::from_be_bytes(buf[28..32].try_into().unwrap()), 0);
        assert_eq!(buf[33], RST);
    }

    #[test]
    fn rst_for_a_segment_without_ack_acknowledges_it() {
        let s = seg(SYN | FIN, 10);
        let mut buf = [0u8; 40];
        tcp_rst(A.into(), B.into(), &s, &mut buf).unwrap();
        verify_v4(&buf, &s);
        assert_eq!(u32::from_be_bytes(buf[24..28].try_into().unwrap()), 0);
        // 0xffff_fff0 + 10 + SYN + FIN wraps around.
        assert_eq!(
            u32::from_be_bytes(buf[28..32].try_into().unwrap()),
            0xffff_fffc
        );
        assert_eq!(buf[33], RST | ACK);
    }

    #[test]
    fn no_rst_for_a_rst_or_into_a_short_buffer() {
        let mut buf = [0u8; 64];
        assert_eq!(
            tcp_rst(A.into(), B.into(), &seg(RST | ACK, 0), &mut buf),
            None
        );
        assert_eq!(
            tcp_rst(A.into(), B.into(), &seg(ACK, 0), &mut buf[..39]),
            None
        );
    }

    #[test]
    fn rst_over_ipv6_has_a_valid_checksum() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut p = build(a.into(), b.into(), IpProtocol::Tcp, 1000, 443, (0, 0), 64);
        let m = parse(&p).unwrap();
        let n = tcp_rst_in_place(&mut p, &m).unwrap();
        assert_eq!(n, 60);
        let r = parse(&p[..n]).unwrap();
        assert_eq!(
            (r.src, r.dst, r.sport, r.dport),
            (b.into(), a.into(), 443, 1000)
        );
        assert_eq!(r.tcp_flags, RST | ACK);
        let acc = sum(&p[40..60], pseudo_v6(b, a, IpProtocol::Tcp, 20));
        assert_eq!(fold(acc), 0xffff);
    }

    #[test]
    fn icmp_errors_quote_the_packet_for_both_families() {
        let router: IpAddr = "10.0.0.1".parse().unwrap();
        let p = build(
            "10.0.1.10".parse().unwrap(),
            "203.0.113.9".parse().unwrap(),
            IpProtocol::Udp,
            5000,
            53,
            (0, 0),
            1,
        );
        let m = parse(&p).unwrap();
        let mut buf = p.clone();
        buf.resize(p.len() + 64, 0);
        let n = icmp_error(&mut buf, &m, router, icmp::v4::TIME_EXCEEDED, 0).unwrap();
        assert_eq!(n, 20 + 8 + 28);
        let e = parse(&buf[..n]).unwrap();
        assert_eq!(
            (e.proto, e.icmp_type, e.src, e.dst),
            (IpProtocol::Icmp, 11, router, m.src)
        );
        assert_eq!(checksum(&buf[20..n]), 0, "ICMP checksum");
        assert!(
            Ipv4Packet::new_checked(&buf[..n])
                .unwrap()
                .verify_checksum()
        );
        let q = quoted_v4(&buf, &e).unwrap();
        assert_eq!((q.meta.src, q.meta.sport, q.meta.dport), (m.src, 5000, 53));

        let src: Ipv6Addr = "2001:db8:1::10".parse().unwrap();
        let router6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let p = build(
            src.into(),
            "2001:db8:2::1".parse().unwrap(),
            IpProtocol::Tcp,
            1,
            2,
            (0, 0),
            1,
        );
        let m = parse(&p).unwrap();
        let mut buf = p.clone();
        buf.resize(p.len() + 64, 0);
        let n = icmp_error(&mut buf, &m, router6.into(), icmp::v6::DEST_UNREACHABLE, 0).unwrap();
        assert_eq!(n, 40 + 8 + p.len());
        let e = parse(&buf[..n]).unwrap();
        assert_eq!(
            (e.proto, e.icmp_type, e.dst),
            (IpProtocol::Icmpv6, 1, src.into())
        );
        let acc = sum(
            &buf[40..n],
            pseudo_v6(router6, src, IpProtocol::Icmpv6, (n - 40) as u32),
        );
        assert_eq!(fold(acc), 0xffff, "ICMPv6 checksum");
        assert_eq!(&buf[48..n], &p[..]);
        // No room, or the wrong family: nothing.
        assert_eq!(
            icmp_error(&mut buf[..n - 1], &m, router6.into(), 1, 0),
            None
        );
        assert_eq!(icmp_error(&mut buf, &m, router, 1, 0), None);
    }

    /// What `emit` writes, `parse` reads back.
    #[test]
    fn reprs_round_trip() {
        use super::super::{IcmpPacket, Ipv6Packet};
        let ip4 = Ipv4Repr {
            src: A,
            dst: B,
            protocol: IpProtocol::Tcp,
            payload_len: 20,
            ttl: 9,
            dont_frag: true,
        };
        let t = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: ACK,
            window: 5,
        };
        let mut b = [0u8; 40];
        t.emit(&mut b[20..]);
        IpRepr::V4(ip4).emit(&mut b);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p), ip4);
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_checked(p.payload()).unwrap()),
            t
        );
        let ip6 = Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::Icmpv6,
            payload_len: 8,
            hop_limit: 3,
        };
        let i = IcmpRepr {
            msg_type: icmp::v6::ECHO_REQUEST,
            msg_code: 0,
            rest: [1, 2, 3, 4],
        };
        let mut b = [0u8; 48];
        i.emit(&mut b[40..]);
        IpRepr::V6(ip6).emit(&mut b);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), ip6);
        let m = IcmpPacket::new_checked(&b[40..]).unwrap();
        assert_eq!(IcmpRepr::parse(&m), Some(i));
    }

    /// Our builder against an independent one (etherparse), byte for byte.
    #[test]
    fn build_matches_etherparse() {
        use etherparse::PacketBuilder;
        let payload = [0u8; 8];
        let cases: [(&str, &str); 2] =
            [("10.0.2.10", "192.0.2.10"), ("2001:db8::a", "2001:db8::b")];
        for (s, d) in cases {
            let (s, d): (IpAddr, IpAddr) = (s.parse().unwrap(), d.parse().unwrap());
            for proto in [
                IpProtocol::Tcp,
                IpProtocol::Udp,
                IpProtocol::icmp_for(s.is_ipv6()),
                IpProtocol::Unknown(47),
            ] {
                let ours = build(s, d, proto, 49152, 80, (8, 0), 64);
                let ip = match (s, d) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        PacketBuilder::ipv4(s.octets(), d.octets(), 64)
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        PacketBuilder::ipv6(s.octets(), d.octets(), 64)
                    }
                    _ => unreachable!(),
                };
                let mut theirs = Vec::new();
                match proto {
                    IpProtocol::Tcp => ip.tcp(49152, 80, 1, 64240).syn().write(&mut theirs, &[]),
                    IpProtocol::Udp => ip.udp(49152, 80).write(&mut theirs, &payload),
                    IpProtocol::Icmp => ip
                        .icmpv4(etherparse::Icmpv4Type::Unknown {
                            type_u8: 8,
                            code_u8: 0,
                            bytes5to8: [0x12, 0x34, 0, 1],
                        })
                        .write(&mut theirs, &payload),
                    IpProtocol::Icmpv6 => ip
                        .icmpv6(etherparse::Icmpv6Type::Unknown {
                            type_u8: 8,
                            code_u8: 0,
                            bytes5to8: [0x12, 0x34, 0, 1],
                        })
                        .write(&mut theirs, &payload),
                    p => ip.write(&mut theirs, u8::from(p).into(), &payload),
                }
                .unwrap();
                assert_eq!(ours, theirs, "{s} {proto}");
            }
        }
    }
}
