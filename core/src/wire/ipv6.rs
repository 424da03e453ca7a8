//! IPv6 header (RFC 8200) and the walk over its extension headers to the upper-layer header.

use super::{IpProtocol, MalformedKind, be16};
use std::net::Ipv6Addr;

/// Byte ranges of the IPv6 header fields.
pub(super) mod field {
    use std::ops::Range;
    pub(crate) const VER_TC_FLOW: Range<usize> = 0..4;
    pub(crate) const PAYLOAD_LEN: Range<usize> = 4..6;
    pub(crate) const NEXT_HEADER: usize = 6;
    pub(crate) const HOP_LIMIT: usize = 7;
    pub(crate) const SRC: Range<usize> = 8..24;
    pub(crate) const DST: Range<usize> = 24..40;
}

/// Byte ranges of an extension header's fields.
pub(super) mod ext_field {
    use std::ops::Range;
    pub(crate) const NEXT_HEADER: usize = 0;
    /// Length in 8-byte units, not counting the first 8 (hop-by-hop, routing, destination
    /// options).
    pub(crate) const LENGTH: usize = 1;
    /// Fragment header: offset (13 bits, 8-byte units) and flags.
    pub(crate) const FRAG_OFF: Range<usize> = 2..4;
    /// Length of a fragment header.
    pub(crate) const FRAG_LEN: usize = 8;
}

/// Length of the fixed header.
pub(super) const HEADER_LEN: usize = 40;

/// An IPv6 packet in `buffer`. [`Ipv6Packet::new_checked`] checks once that the fixed header
/// and the payload length fit the buffer; no accessor can panic after it.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

/// Where the upper-layer header starts, after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    pub protocol: IpProtocol,
    /// Offset from the start of the IPv6 header.
    pub offset: usize,
    /// A fragment header was met.
    pub fragment: bool,
    /// ... with a nonzero offset: no upper-layer header follows.
    pub later_fragment: bool,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a received packet: fixed header complete, payload length within the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, MalformedKind> {
        let p = Ipv6Packet { buffer };
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedKind::Truncated);
        }
        if p.total_len() > p.buffer.as_ref().len() {
            return Err(MalformedKind::BadTotalLength);
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Fixed header plus payload.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(be16(self.buffer.as_ref(), field::PAYLOAD_LEN))
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr(self.buffer.as_ref(), field::SRC)
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr(self.buffer.as_ref(), field::DST)
    }

    /// The packet: fixed header and payload (without what the buffer holds beyond).
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.total_len()]
    }

    /// Walks hop-by-hop, routing, fragment and destination-options headers to the upper-layer
    /// header. Each must fit the packet.
    pub fn upper_layer(&self) -> Result<UpperLayer, MalformedKind> {
        let pkt = self.packet();
        let mut u = UpperLayer {
            protocol: self.next_header(),
            offset: HEADER_LEN,
            fragment: false,
            later_fragment: false,
        };
        loop {
            let h = &pkt[u.offset.min(pkt.len())..];
            match u.protocol {
                IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                    let (Some(&next), Some(&len)) =
                        (h.get(ext_field::NEXT_HEADER), h.get(ext_field::LENGTH))
                    else {
                        return Err(MalformedKind::Truncated);
                    };
                    u.protocol = IpProtocol::from(next);
                    u.offset += (usize::from(len) + 1) * 8;
                }
                IpProtocol::Ipv6Frag => {
                    let h = h
                        .get(..ext_field::FRAG_LEN)
                        .ok_or(MalformedKind::Truncated)?;
                    u.protocol = IpProtocol::from(h[ext_field::NEXT_HEADER]);
                    let fo = be16(h, ext_field::FRAG_OFF);
                    u.fragment = true;
                    u.later_fragment = fo >> 3 != 0;
                    u.offset += ext_field::FRAG_LEN;
                }
                _ => return Ok(u),
            }
            if u.offset > pkt.len() {
                return Err(MalformedKind::Truncated);
            }
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Decrements the hop limit (IPv6 has no header checksum).
    #[inline]
    pub fn decrement_hop_limit(&mut self) {
        let b = self.buffer.as_mut();
        b[field::HOP_LIMIT] = b[field::HOP_LIMIT].wrapping_sub(1);
    }

    /// Replaces the source or destination address; returns the old one (IPv6 has no header
    /// checksum: only the L4 pseudo-header needs updating).
    #[inline]
    pub fn set_addr(&mut self, dst: bool, new: Ipv6Addr) -> Ipv6Addr {
        let r = if dst { field::DST } else { field::SRC };
        let b = self.buffer.as_mut();
        let old = addr(b, r.clone());
        b[r].copy_from_slice(&new.octets());
        old
    }

    /// Swaps source and destination (checksums over the pseudo-header do not change).
    #[inline]
    pub fn swap_addrs(&mut self) {
        let b = self.buffer.as_mut();
        for i in 0..16 {
            b.swap(field::SRC.start + i, field::DST.start + i);
        }
    }
}

#[inline]
fn addr(b: &[u8], r: std::ops::Range<usize>) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[r]);
    Ipv6Addr::from(a)
}

/// The fields of an IPv6 header the dataplane generates (no extension headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: IpProtocol,
    pub payload_len: usize,
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// The representation of a checked packet's fixed header.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Ipv6Repr {
        Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.total_len() - HEADER_LEN,
            hop_limit: p.hop_limit(),
        }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into `buf[..HEADER_LEN]` (which must hold it), length last.
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        b[field::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
        b[field::NEXT_HEADER] = self.next_header.into();
        b[field::HOP_LIMIT] = self.hop_limit;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        b[field::PAYLOAD_LEN].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
    }
}
