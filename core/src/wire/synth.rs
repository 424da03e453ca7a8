//! Synthetic packets with every field a trace or a scenario asks for: TTL, TCP flags, IPv4
//! fragments, a payload, a total length. [`super::build`] is the plain form (a SYN, TTL as
//! given); [`build_with`] takes a [`BuildOptions`] for the rest.

use super::emit::IpRepr;
use super::icmp::{self, IcmpRepr};
use super::ipv4::Ipv4Packet;
use super::tcp::{self, TcpRepr};
use super::{IpProtocol, udp};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Payload of UDP, ICMP and other protocols, and of a later fragment, when none is given.
const DEFAULT_PAYLOAD: usize = 8;
/// Initial sequence number and window of the segment.
const SEQ: u32 = 1;
const WINDOW: u16 = 64240;
/// Sequence number of the ICMP query.
const ICMP_SEQ: u16 = 1;
/// The fragment offset field counts 8-byte units.
const FRAGMENT_UNIT: usize = 8;
/// The largest IP packet.
const MAX_LEN: usize = u16::MAX as usize;

/// An IPv4 fragment: more-fragments, and the offset in bytes (a multiple of 8). A fragment at
/// offset 0 carries the L4 header; a later one only payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub more: bool,
    pub offset: usize,
}

/// What a synthetic packet has besides its addresses, protocol, ports and ICMP type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// TCP flags ([`tcp::flags`]); a segment with ACK acknowledges sequence number 1.
    pub tcp_flags: u8,
    /// Identifier of an ICMP query (echo: sequence number 1).
    pub icmp_id: u16,
    /// Make it an IPv4 fragment.
    pub fragment: Option<Fragment>,
    /// The bytes after the L4 header (default: none for TCP, 8 zero bytes otherwise).
    pub payload: Option<Vec<u8>>,
    /// The IP packet's total length: the payload is padded with zero bytes up to it.
    pub length: Option<usize>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            ttl: super::ipv4::DEFAULT_TTL,
            tcp_flags: tcp::flags::SYN,
            icmp_id: 0x1234,
            fragment: None,
            payload: None,
            length: None,
        }
    }
}

/// Why a packet cannot be built as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// IPv6 fragments (a Fragment extension header) are not built.
    Ipv6Fragment,
    /// The fragment offset is not a multiple of 8, or past the largest packet.
    BadFragmentOffset,
    /// The length asked is shorter than the headers and payload, or over 65535.
    BadLength { min: usize },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Ipv6Fragment => write!(f, "fragments are built for IPv4 only"),
            BuildError::BadFragmentOffset => write!(
                f,
                "a fragment offset is a multiple of 8 bytes, at most 65528"
            ),
            BuildError::BadLength { min } => {
                write!(f, "the length must be between {min} and {MAX_LEN}")
            }
        }
    }
}

/// Builds a packet from `src` to `dst` (mixed families: the destination becomes the
/// unspecified address of the source's family) with complete checksums (a fragment's L4
/// checksum covers the fragment only).
pub fn build_with(
    src: IpAddr,
    dst: IpAddr,
    proto: IpProtocol,
    sport: u16,
    dport: u16,
    icmp: (u8, u8),
    o: &BuildOptions,
) -> Result<Vec<u8>, BuildError> {
    let dst = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V6(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), IpAddr::V4(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => dst,
    };
    let v6 = src.is_ipv6();
    if let Some(f) = o.fragment {
        if v6 {
            return Err(BuildError::Ipv6Fragment);
        }
        if !f.offset.is_multiple_of(FRAGMENT_UNIT) || f.offset > MAX_LEN - FRAGMENT_UNIT {
            return Err(BuildError::BadFragmentOffset);
        }
    }
    let later = o.fragment.is_some_and(|f| f.offset > 0);
    let l4_header = match proto {
        _ if later => 0,
        IpProtocol::Tcp => tcp::HEADER_LEN,
        IpProtocol::Udp => udp::HEADER_LEN,
        IpProtocol::Icmp if !v6 => icmp::HEADER_LEN,
        IpProtocol::Icmpv6 if v6 => icmp::HEADER_LEN,
        _ => 0,
    };
    let default_payload = if proto == IpProtocol::Tcp && !later {
        0
    } else {
        DEFAULT_PAYLOAD
    };
    let payload = o.payload.as_deref();
    let mut l4_len = l4_header + payload.map_or(default_payload, <[u8]>::len);
    let ip_header = IpRepr::new(src, dst, proto, 0, o.ttl).map_or(0, |r| r.header_len());
    let min = ip_header + l4_len;
    if let Some(total) = o.length {
        if total < min || total > MAX_LEN {
            return Err(BuildError::BadLength { min });
        }
        l4_len = total - ip_header;
    } else if min > MAX_LEN {
        return Err(BuildError::BadLength { min });
    }
    let Some(mut ip) = IpRepr::new(src, dst, proto, l4_len, o.ttl) else {
        return Ok(Vec::new());
    };
    if let (IpRepr::V4(r), Some(_)) = (&mut ip, o.fragment) {
        r.dont_frag = false;
    }
    let mut out = vec![0u8; ip.total_len()];
    let l4 = &mut out[ip.header_len()..];
    if let Some(p) = payload {
        l4[l4_header..l4_header + p.len()].copy_from_slice(p);
    }
    if l4_header > 0 {
        match proto {
            IpProtocol::Tcp => TcpRepr {
                src_port: sport,
                dst_port: dport,
                seq: SEQ,
                ack: if o.tcp_flags & tcp::flags::ACK != 0 {
                    SEQ
                } else {
                    0
                },
                flags: o.tcp_flags,
                window: WINDOW,
            }
            .emit(l4),
            IpProtocol::Udp => {
                l4[udp::field::SRC_PORT].copy_from_slice(&sport.to_be_bytes());
                l4[udp::field::DST_PORT].copy_from_slice(&dport.to_be_bytes());
                l4[udp::field::LENGTH].copy_from_slice(&(l4_len as u16).to_be_bytes());
            }
            _ => {
                let [a, b] = o.icmp_id.to_be_bytes();
                let [c, d] = ICMP_SEQ.to_be_bytes();
                IcmpRepr {
                    msg_type: icmp.0,
                    msg_code: icmp.1,
                    rest: [a, b, c, d],
                }
                .emit(l4)
            }
        }
    }
    match (&ip, later) {
        // A later fragment has no L4 header, so no L4 checksum to write.
        (IpRepr::V4(r), true) => r.emit(&mut out),
        _ => ip.emit(&mut out),
    }
    if let Some(f) = o.fragment {
        Ipv4Packet::new_unchecked(&mut out[..])
            .set_fragment(f.more, (f.offset / FRAGMENT_UNIT) as u16);
    }
    Ok(out)
}

/// Parses hex (whitespace, `:` and a leading `0x` allowed) into bytes.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}

/// Lower-case hex of `b`, no separators.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn flags_ttl_and_length() {
        let o = BuildOptions {
            ttl: 1,
            tcp_flags: tcp::flags::parse("FA").unwrap(),
            length: Some(100),
            ..Default::default()
        };
        let p = build_with(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            IpProtocol::Tcp,
            1,
            2,
            (0, 0),
            &o,
        )
        .unwrap();
        let m = parse(&p).unwrap();
        assert_eq!((m.ttl, m.len, m.tcp_flags), (1, 100, 0x11));
        assert_eq!(tcp::flags::name(m.tcp_flags), "FA");
        let short = BuildOptions {
            length: Some(30),
            ..Default::default()
        };
        assert!(
            build_with(
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                IpProtocol::Tcp,
                1,
                2,
                (0, 0),
                &short
            )
            .is_err()
        );
    }

    #[test]
    fn fragments_first_and_later() {
        let first = BuildOptions {
            fragment: Some(Fragment {
                more: true,
                offset: 0,
            }),
            ..Default::default()
        };
        let p = build_with(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            IpProtocol::Udp,
            1,
            2,
            (0, 0),
            &first,
        )
        .unwrap();
        let m = parse(&p).unwrap();
        assert!(m.fragment && !m.later_fragment && m.sport == 1);
        let later = BuildOptions {
            fragment: Some(Fragment {
                more: false,
                offset: 1480,
            }),
            payload: Some(vec![0xab; 16]),
            ..Default::default()
        };
        let p = build_with(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            IpProtocol::Tcp,
            1,
            2,
            (0, 0),
            &later,
        )
        .unwrap();
        let m = parse(&p).unwrap();
        assert!(m.fragment && m.later_fragment && m.sport == 0 && m.len == 36);
        let v6 = build_with(ip("::1"), ip("::2"), IpProtocol::Udp, 1, 2, (0, 0), &first);
        assert_eq!(v6, Err(BuildError::Ipv6Fragment));
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("0x45 00:ff"), Some(vec![0x45, 0, 0xff]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(to_hex(&[1, 0xab]), "01ab");
    }
}
