//! Property tests of the packet layer: parsing never panics on any bytes, and every in-place
//! rewrite leaves checksums equal to a full recomputation (the naive reference).

mod support;

use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use support::{l4_checksum_ok, rx_at, shared_lab};
use vpcfwd::wire::rewrite::{Field, set_v4_addr};
use vpcfwd::wire::{self, ChecksumMode, IpProtocol, checksum};

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = wire::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_packets(
        pos in 0usize..60, val in any::<u8>(), cut in 0usize..60, v6 in any::<bool>()
    ) {
        let (s, d): (IpAddr, IpAddr) = if v6 {
            ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
        } else {
            ("10.0.0.1".parse().unwrap(), "192.0.2.1".parse().unwrap())
        };
        let mut p = wire::build(s, d, IpProtocol::Tcp, 1, 2, (0, 0), 64);
        if pos < p.len() { p[pos] = val; }
        p.truncate(p.len().saturating_sub(cut));
        let _ = wire::parse(&p);
    }

    #[test]
    fn address_rewrites_match_full_recomputation(
        src in any::<u32>(), dst in any::<u32>(), new in any::<u32>(),
        sport in any::<u16>(), dport in any::<u16>(), udp in any::<bool>(), dst_field in any::<bool>()
    ) {
        let proto = if udp { IpProtocol::Udp } else { IpProtocol::Tcp };
        let mut p = wire::build(
            Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into(), proto, sport, dport, (0, 0), 64,
        );
        let m = wire::parse(&p).unwrap();
        let field = if dst_field { Field::Dst } else { Field::Src };
        set_v4_addr(&mut p, &m, field, Ipv4Addr::from(new), ChecksumMode::Full);
        prop_assert!(wire::parse(&p).is_ok(), "IPv4 header checksum");
        prop_assert!(l4_checksum_ok(&p), "L4 checksum");
    }

    #[test]
    fn partial_checksum_stays_the_pseudo_header_sum(src in any::<u32>(), new in any::<u32>()) {
        // Offloaded packets carry the non-complemented pseudo-header sum in the L4 field.
        let mut p = wire::build(
            Ipv4Addr::from(src).into(), "203.0.113.1".parse().unwrap(), IpProtocol::Tcp, 1, 2, (0, 0), 64,
        );
        let m = wire::parse(&p).unwrap();
        let l4_len = (m.len - m.l4_offset) as u16;
        let partial = |s: Ipv4Addr| checksum::fold(checksum::pseudo_v4(s, "203.0.113.1".parse().unwrap(), IpProtocol::Tcp, l4_len));
        let at = m.l4_offset + 16;
        p[at..at + 2].copy_from_slice(&partial(Ipv4Addr::from(src)).to_be_bytes());
        set_v4_addr(&mut p, &m, Field::Src, Ipv4Addr::from(new), ChecksumMode::Partial);
        let got = u16::from_be_bytes([p[at], p[at + 1]]);
        let want = partial(Ipv4Addr::from(new));
        // 0x0000 and 0xffff are the same value in ones' complement arithmetic.
        prop_assert!(got == want || (got | want) == 0xffff && (got & want) == 0, "{got:#x} vs {want:#x}");
    }
}

proptest! {
    /// The pipeline (as the fuzz target drives it) never panics: any bytes, any port.
    #[test]
    fn pipeline_never_panics(port in 0u16..6, mut bytes in proptest::collection::vec(any::<u8>(), 0..120), v4 in any::<bool>()) {
        use vpcfwd::flow::{FlowTable, Time};
        use vpcfwd::pipeline::{NoTrace, process};
        if v4 && !bytes.is_empty() {
            bytes[0] = 0x45;
        }
        let len = bytes.len();
        bytes.resize(len + 128, 0);
        let rx = rx_at(vpcfwd::snapshot::PortIdx(port), Time(0));
        let _ = process(shared_lab(), &FlowTable::new(16), &mut bytes, len, rx, &mut NoTrace);
    }
}
