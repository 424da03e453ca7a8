//! IPv4 header (RFC 791): a view over bytes and the fields a generated packet needs.

use super::checksum;
use super::{IpProtocol, MalformedKind, be16};
use std::net::Ipv4Addr;

/// Byte ranges of the IPv4 header fields.
pub(super) mod field {
    use std::ops::Range;
    pub(crate) const VER_IHL: usize = 0;
    pub(crate) const LENGTH: Range<usize> = 2..4;
    pub(crate) const FLG_OFF: Range<usize> = 6..8;
    pub(crate) const TTL: usize = 8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const CHECKSUM: Range<usize> = 10..12;
    pub(crate) const SRC: Range<usize> = 12..16;
    pub(crate) const DST: Range<usize> = 16..20;
    /// TTL and protocol as the one 16-bit word the header checksum sees.
    pub(crate) const TTL_PROTOCOL: Range<usize> = 8..10;
}

/// Length of a header without options.
pub(super) const HEADER_LEN: usize = 20;
/// The TTL of packets the dataplane generates.
pub(super) const DEFAULT_TTL: u8 = 64;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// An IPv4 packet in `buffer`.
///
/// [`Ipv4Packet::new_checked`] checks once that the header and the total length fit the buffer;
/// no accessor can panic after it. [`Ipv4Packet::new_quoted`] accepts a packet cut short after
/// its header (as an ICMP error quotes it): the payload is then what the buffer holds.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

#[inline]
fn addr(b: &[u8], r: std::ops::Range<usize>) -> Ipv4Addr {
    Ipv4Addr::new(b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3])
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it (for emitting into a buffer the caller sized).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a received packet: header complete (IHL ≥ 5), total length between the header and
    /// the buffer's length. The version is not checked (the caller dispatched on it).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, MalformedKind> {
        let p = Self::new_quoted(buffer)?;
        let total = p.total_len();
        if total < p.header_len() || total > p.buffer.as_ref().len() {
            return Err(MalformedKind::BadTotalLength);
        }
        Ok(p)
    }

    /// Wraps a packet whose header is complete but whose payload may be cut short.
    #[inline]
    pub fn new_quoted(buffer: T) -> Result<Self, MalformedKind> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(MalformedKind::Truncated);
        }
        let ihl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if ihl < HEADER_LEN {
            return Err(MalformedKind::BadIhl);
        }
        if b.len() < ihl {
            return Err(MalformedKind::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), field::LENGTH))
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::SRC)
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::DST)
    }

    /// The header (with options).
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }

    /// The payload: from the header's end to the total length (or the buffer's end, whichever
    /// comes first).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let ihl = self.header_len();
        &b[ihl..self.total_len().clamp(ihl, b.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Replaces the source or destination address, updating the header checksum; returns the
    /// old address (for the L4 pseudo-header update).
    #[inline]
    pub fn set_addr(&mut self, dst: bool, new: Ipv4Addr) -> Ipv4Addr {
        let r = if dst { field::DST } else { field::SRC };
        let b = self.buffer.as_mut();
        let old = addr(b, r.clone());
        b[r].copy_from_slice(&new.octets());
        let c = checksum::update32(be16(b, field::CHECKSUM), u32::from(old), u32::from(new));
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        old
    }

    /// Decrements the TTL, updating the header checksum.
    #[inline]
    pub fn decrement_ttl(&mut self) {
        let b = self.buffer.as_mut();
        let old = be16(b, field::TTL_PROTOCOL);
        b[field::TTL] = b[field::TTL].wrapping_sub(1);
        let new = be16(b, field::TTL_PROTOCOL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Marks the packet a fragment: more-fragments and the offset in 8-byte units (clearing
    /// don't-fragment), recomputing the header checksum.
    pub fn set_fragment(&mut self, more: bool, offset_units: u16) {
        let ihl = self.header_len();
        let b = self.buffer.as_mut();
        let v = if more { FLAG_MF } else { 0 } | (offset_units & OFFSET_MASK);
        b[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
        b[field::CHECKSUM].fill(0);
        let c = checksum::checksum(&b[..ihl]);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Swaps source and destination (the header checksum does not change).
    #[inline]
    pub fn swap_addrs(&mut self) {
        let b = self.buffer.as_mut();
        for i in 0..4 {
            b.swap(field::SRC.start + i, field::DST.start + i);
        }
    }

    /// The payload, mutable (bounded as [`Ipv4Packet::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let ihl = self.header_len();
        let end = self.total_len().clamp(ihl, self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[ihl..end]
    }
}

/// The fields of an IPv4 header the dataplane generates (no options, ID 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub payload_len: usize,
    pub ttl: u8,
    /// `Don't fragment` (set on a TCP segment, as a host doing path MTU discovery sends it).
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// The representation of a checked packet's header (options and ID are not represented).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Ipv4Repr {
        Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.payload().len(),
            ttl: p.ttl(),
            dont_frag: be16(p.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0,
        }
    }

    /// The header's length.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into `buf[..HEADER_LEN]` (which must hold it), length and checksum
    /// last.
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        b.fill(0);
        b[field::VER_IHL] = 0x45;
        if self.dont_frag {
            b[field::FLG_OFF].copy_from_slice(&FLAG_DF.to_be_bytes());
        }
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol.into();
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        let total = (HEADER_LEN + self.payload_len) as u16;
        b[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        let c = checksum::checksum(b);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}
