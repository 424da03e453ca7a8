//! TCP header (RFC 9293): the view the dataplane reads ports, flags and sequence numbers
//! through, and the RST it generates.

use super::checksum::{update_pseudo32, update_pseudo128, update16};
use super::{ChecksumMode, MalformedKind, be16, be32};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// Byte ranges of the TCP header fields.
pub mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    /// Data offset and flags as the one 16-bit word the checksum sees.
    pub const OFF_FLAGS: Range<usize> = 12..14;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// TCP flag bits (the flags byte).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    /// The flags by letter, in the order `tcpdump` prints them.
    const LETTERS: [(char, u8); 8] = [
        ('S', SYN),
        ('F', FIN),
        ('R', RST),
        ('P', PSH),
        ('A', ACK),
        ('U', URG),
        ('E', ECE),
        ('C', CWR),
    ];

    /// Parses letters such as `S`, `SA`, `FA`, `R`, `PA` (any order, case-insensitive; `.`
    /// or an empty string for none). `None` for any other character.
    pub fn parse(s: &str) -> Option<u8> {
        let mut f = 0;
        for ch in s.chars().filter(|c| *c != '.') {
            let up = ch.to_ascii_uppercase();
            f |= LETTERS.iter().find(|(l, _)| *l == up)?.1;
        }
        Some(f)
    }

    /// The letters of `f` (`.` for none).
    pub fn name(f: u8) -> String {
        let s: String = LETTERS
            .iter()
            .filter(|(_, b)| f & b != 0)
            .map(|(l, _)| *l)
            .collect();
        if s.is_empty() { ".".into() } else { s }
    }
}

/// A TCP segment in `buffer`. [`TcpPacket::new_checked`] checks once that the fixed header
/// fits; no accessor can panic after it. The data offset is reported as written (the dataplane
/// forwards segments with odd offsets as a router would).
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, MalformedKind> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedKind::BadL4Header);
        }
        Ok(TcpPacket { buffer })
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    #[inline]
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }
    #[inline]
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }
    /// Header length in bytes, as the data offset says.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Payload length: what follows the header (0 if the data offset points past the end).
    #[inline]
    pub fn payload_len(&self) -> usize {
        self.buffer.as_ref().len().saturating_sub(self.header_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Replaces the source (`dst` false) or destination port. Ports are not in the
    /// pseudo-header: a partial (offloaded) checksum needs no update, a full one does.
    #[inline]
    pub fn set_port(&mut self, dst: bool, port: u16, mode: ChecksumMode) {
        let old = replace_port(self.buffer.as_mut(), dst, port);
        if mode == ChecksumMode::Full {
            self.set_checksum(update16(self.checksum(), old, port));
        }
    }

    /// Replaces the flags byte, updating a full checksum.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        let old = be16(self.buffer.as_ref(), field::OFF_FLAGS);
        self.buffer.as_mut()[field::FLAGS] = flags;
        let new = be16(self.buffer.as_ref(), field::OFF_FLAGS);
        self.set_checksum(update16(self.checksum(), old, new));
    }

    /// Updates the checksum for an IPv4 address of the pseudo-header changed from `old` to
    /// `new`.
    #[inline]
    pub fn update_for_addr(&mut self, old: Ipv4Addr, new: Ipv4Addr, mode: ChecksumMode) {
        let c = update_pseudo32(self.checksum(), u32::from(old), u32::from(new), mode);
        self.set_checksum(c);
    }

    /// [`Self::update_for_addr`] for an IPv6 address of the pseudo-header.
    #[inline]
    pub fn update_for_addr6(&mut self, old: Ipv6Addr, new: Ipv6Addr, mode: ChecksumMode) {
        let c = update_pseudo128(self.checksum(), u128::from(old), u128::from(new), mode);
        self.set_checksum(c);
    }

    /// Swaps source and destination ports (the checksum does not change).
    #[inline]
    pub fn swap_ports(&mut self) {
        swap_ports(self.buffer.as_mut());
    }
}

/// The range of the source or destination port (TCP and UDP alike).
#[inline]
const fn port_field(dst: bool) -> Range<usize> {
    if dst {
        field::DST_PORT
    } else {
        field::SRC_PORT
    }
}

/// Writes the source (`dst` false) or destination port of a TCP or UDP header, returning the
/// old one for the caller's checksum rule (they differ: UDP's 0 means "none").
#[inline]
pub(crate) fn replace_port(b: &mut [u8], dst: bool, port: u16) -> u16 {
    let r = port_field(dst);
    let old = be16(b, r.clone());
    b[r].copy_from_slice(&port.to_be_bytes());
    old
}

/// Swaps the 16-bit source and destination ports at the start of a TCP or UDP header.
#[inline]
pub(crate) fn swap_ports(b: &mut [u8]) {
    let (s, d) = (field::SRC_PORT, field::DST_PORT);
    b.swap(s.start, d.start);
    b.swap(s.start + 1, d.start + 1);
}

/// The fields of a TCP segment the dataplane generates: a header without options, no payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

impl TcpRepr {
    /// The representation of a checked segment's header (options are not represented).
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> TcpRepr {
        TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: be16(p.buffer.as_ref(), field::WINDOW),
        }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into `buf[..HEADER_LEN]` with checksum 0; the caller, which knows the
    /// pseudo-header, sets the checksum last ([`super::emit`]).
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        b[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        b[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        b[field::ACK].copy_from_slice(&self.ack.to_be_bytes());
        b[field::DATA_OFF] = ((HEADER_LEN / 4) as u8) << 4;
        b[field::FLAGS] = self.flags;
        b[field::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        b[field::CHECKSUM].fill(0);
        b[field::URGENT].fill(0);
    }

    /// The RST answering `seg` (from its destination back to its source) per RFC 9293 §3.10.7.1
    /// ("Reset Generation"): if the segment carries ACK, the RST takes its sequence number from
    /// that ACK and carries no ACK; otherwise it has sequence 0 and acknowledges SEG.SEQ +
    /// SEG.LEN (SYN and FIN count one each). `None` for a RST: a RST is never answered.
    pub fn rst_for(seg: &TcpSegment) -> Option<TcpRepr> {
        use flags::{ACK, FIN, RST, SYN};
        if seg.flags & RST != 0 {
            return None;
        }
        let (seq, ack, flags) = if seg.flags & ACK != 0 {
            (seg.ack, 0, RST)
        } else {
            let len =
                seg.payload_len + u32::from(seg.flags & SYN != 0) + u32::from(seg.flags & FIN != 0);
            (0, seg.seq.wrapping_add(len), RST | ACK)
        };
        Some(TcpRepr {
            src_port: seg.dport,
            dst_port: seg.sport,
            seq,
            ack,
            flags,
            window: 0,
        })
    }
}

/// What a RST depends on of the segment it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Payload bytes (without headers).
    pub payload_len: u32,
}

impl TcpSegment {
    /// The segment `tcp` holds.
    pub fn parse<T: AsRef<[u8]>>(tcp: &TcpPacket<T>) -> TcpSegment {
        TcpSegment {
            sport: tcp.src_port(),
            dport: tcp.dst_port(),
            seq: tcp.seq(),
            ack: tcp.ack(),
            flags: tcp.flags(),
            payload_len: tcp.payload_len() as u32,
        }
    }
}
