//! The wire layer against an independent implementation (etherparse): whatever etherparse
//! builds, `wire::parse` reads the same fields from; whatever `wire::build` emits, etherparse
//! reads back; and no byte string makes a view or a rewrite panic.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vpcfwd_core::wire::{self, ChecksumMode, Field, IpProtocol, rewrite};

fn addr(v6: bool, bits: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    }
}

/// What etherparse builds for the probe: TCP with the given flags, UDP, ICMP echo (of the
/// family), or an unknown protocol.
fn etherparse_build(
    src: IpAddr,
    dst: IpAddr,
    kind: u8,
    sport: u16,
    dport: u16,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), ttl),
        _ => unreachable!(),
    };
    let mut out = Vec::new();
    match kind {
        0 => ip
            .tcp(sport, dport, 7, 1000)
            .syn()
            .ack(9)
            .write(&mut out, payload),
        1 => ip.udp(sport, dport).write(&mut out, payload),
        2 if src.is_ipv4() => ip
            .icmpv4_echo_request(sport, dport)
            .write(&mut out, payload),
        2 => ip
            .icmpv6_echo_request(sport, dport)
            .write(&mut out, payload),
        _ => ip.write(&mut out, 47.into(), payload),
    }
    .unwrap();
    out
}

proptest! {
    #[test]
    fn parse_reads_what_etherparse_wrote(
        v6 in any::<bool>(), s in any::<u128>(), d in any::<u128>(), kind in 0u8..4,
        sport in any::<u16>(), dport in any::<u16>(), ttl in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (src, dst) = (addr(v6, s), addr(v6, d));
        let p = etherparse_build(src, dst, kind, sport, dport, ttl, &payload);
        let m = wire::parse(&p).unwrap();
        prop_assert_eq!((m.src, m.dst, m.ttl, m.len), (src, dst, ttl, p.len()));
        match kind {
            0 => {
                prop_assert_eq!((m.proto, m.sport, m.dport), (IpProtocol::Tcp, sport, dport));
                prop_assert_eq!(m.tcp_flags, wire::tcp::flags::SYN | wire::tcp::flags::ACK);
            }
            1 => prop_assert_eq!((m.proto, m.sport, m.dport), (IpProtocol::Udp, sport, dport)),
            2 => {
                prop_assert_eq!(m.proto, IpProtocol::icmp_for(v6));
                prop_assert_eq!(m.icmp_id, sport);
            }
            _ => prop_assert_eq!(m.proto, IpProtocol::Unknown(47)),
        }
    }

    #[test]
    fn etherparse_reads_what_build_and_rewrites_wrote(
        s in any::<u32>(), d in any::<u32>(), new in any::<u32>(), udp in any::<bool>(),
        sport in any::<u16>(), dport in any::<u16>(), nport in any::<u16>(),
    ) {
        let proto = if udp { IpProtocol::Udp } else { IpProtocol::Tcp };
        let (src, dst) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
        let mut p = wire::build(src.into(), dst.into(), proto, sport, dport, (0, 0), 64);
        let m = wire::parse(&p).unwrap();
        rewrite::set_v4_addr(&mut p, &m, Field::Src, Ipv4Addr::from(new), ChecksumMode::Full);
        rewrite::set_port(&mut p, &m, Field::Dst, nport, ChecksumMode::Full);
        let sl = SlicedPacket::from_ip(&p).unwrap();
        let Some(NetSlice::Ipv4(ip)) = sl.net else { panic!("not IPv4") };
        let h = ip.header().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(ip.header().source_addr(), Ipv4Addr::from(new));
        let l4 = &p[m.l4_offset..];
        let (got_sport, got_dport, csum_ok) = match sl.transport {
            Some(TransportSlice::Tcp(t)) => (
                t.source_port(),
                t.destination_port(),
                t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap() == t.checksum(),
            ),
            Some(TransportSlice::Udp(u)) => (
                u.source_port(),
                u.destination_port(),
                u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap() == u.checksum(),
            ),
            _ => panic!("no transport"),
        };
        prop_assert_eq!((got_sport, got_dport), (sport, nport));
        prop_assert!(csum_ok, "L4 checksum after the rewrites: {:02x?}", l4);
    }

    #[test]
    fn no_bytes_make_parse_quote_or_reply_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(m) = wire::parse(&bytes) {
            let _ = wire::quoted_v4(&bytes, &m);
            let mut b = bytes.clone();
            rewrite::make_reply(&mut b, &m);
            let mut b = bytes.clone();
            b.resize(bytes.len() + 64, 0);
            let _ = wire::emit::tcp_rst_in_place(&mut b, &m);
            let mut b = bytes.clone();
            b.resize(bytes.len() + 64, 0);
            let _ = wire::emit::icmp_error(&mut b, &m, m.dst, 11, 0);
        }
    }
}
