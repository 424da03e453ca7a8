//! The TCP RST a NAT gateway sends back for a segment of a connection that idled out.

use std::net::Ipv4Addr;

use super::conntrack::tcp_flags::{ACK, FIN, RST, SYN};
use crate::packet::checksum;

/// The fields of the offending IPv4/TCP segment that a RST depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegmentV4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Payload bytes (without headers).
    pub payload_len: u32,
}

/// Length of the RST written by [`write_rst_v4`].
pub const RST_V4_LEN: usize = 40;

/// Writes into `out` an IPv4/TCP RST answering `seg` (from its destination back to its source)
/// per RFC 793 §3.4 "Reset Generation": if the segment carries ACK, the RST takes its sequence
/// number from that ACK and carries no ACK; otherwise it has sequence 0 and acknowledges
/// SEG.SEQ + SEG.LEN (SYN and FIN count one each). Returns the length, or `None` if `out` is
/// shorter than [`RST_V4_LEN`]. A RST is never answered with a RST: `None` for one too.
pub fn write_rst_v4(seg: &TcpSegmentV4, out: &mut [u8]) -> Option<usize> {
    if seg.flags & RST != 0 {
        return None;
    }
    let out = out.get_mut(..RST_V4_LEN)?;
    let (seq, ack, flags) = if seg.flags & ACK != 0 {
        (seg.ack, 0, RST)
    } else {
        let len =
            seg.payload_len + u32::from(seg.flags & SYN != 0) + u32::from(seg.flags & FIN != 0);
        (0, seg.seq.wrapping_add(len), RST | ACK)
    };
    let (src, dst) = (seg.dst, seg.src);
    let ip = &mut out[..20];
    ip.copy_from_slice(&[
        0x45,
        0,
        0,
        RST_V4_LEN as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut out[20..40];
    tcp[0..2].copy_from_slice(&seg.dport.to_be_bytes());
    tcp[2..4].copy_from_slice(&seg.sport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..20].fill(0);
    let c = checksum::finish(checksum::sum(tcp, checksum::pseudo_v4(src, dst, 6, 20)));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    Some(RST_V4_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::checksum::{checksum, fold, pseudo_v4, sum};

    fn seg(flags: u8, payload_len: u32) -> TcpSegmentV4 {
        TcpSegmentV4 {
            src: Ipv4Addr::new(10, 0, 1, 5),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            sport: 40000,
            dport: 443,
            seq: 0xffff_fff0,
            ack: 0x1234_5678,
            flags,
            payload_len,
        }
    }

    fn verify(buf: &[u8], s: &TcpSegmentV4) {
        assert_eq!(checksum(&buf[..20]), 0, "IPv4 header checksum");
        assert_eq!(&buf[12..16], &s.dst.octets());
        assert_eq!(&buf[16..20], &s.src.octets());
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 40);
        let total = sum(&buf[20..40], pseudo_v4(s.dst, s.src, 6, 20));
        assert_eq!(
            fold(total),
            0xffff,
            "TCP checksum over pseudo-header and segment"
        );
        assert_eq!(u16::from_be_bytes([buf[20], buf[21]]), s.dport);
        assert_eq!(u16::from_be_bytes([buf[22], buf[23]]), s.sport);
    }

    #[test]
    fn rst_for_an_ack_segment_takes_seq_from_its_ack() {
        let s = seg(ACK | 0x08, 100);
        let mut buf = [0u8; 64];
        assert_eq!(write_rst_v4(&s, &mut buf), Some(40));
        verify(&buf, &s);
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
        write_rst_v4(&s, &mut buf).unwrap();
        verify(&buf, &s);
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
        assert_eq!(write_rst_v4(&seg(RST | ACK, 0), &mut buf), None);
        assert_eq!(write_rst_v4(&seg(ACK, 0), &mut buf[..39]), None);
    }
}
