//! ICMP (RFC 792) and ICMPv6 (RFC 4443) messages: both start with type, code and checksum,
//! then four bytes that a query fills with identifier and sequence number and an error leaves
//! unused, then (errors) as much of the offending packet as the message quotes. One view
//! serves both families; the type numbers differ ([`v4`], [`v6`]).

use super::checksum::update16;
use super::{MalformedKind, be16};

/// Byte ranges of the ICMP header fields.
pub mod field {
    use std::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    /// Type and code as the one 16-bit word the checksum sees.
    pub const TYPE_CODE: Range<usize> = 0..2;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Query identifier (echo, timestamp, ...).
    pub const IDENT: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 6..8;
    /// An error's four unused bytes.
    pub const UNUSED: Range<usize> = 4..8;
    /// An error's quoted packet.
    pub const QUOTED: RangeFrom<usize> = 8..;
}

/// Type, code and checksum: what every message has.
pub const MIN_LEN: usize = 4;
/// A header with its four bytes of rest-of-header.
pub const HEADER_LEN: usize = 8;

/// ICMPv4 message types.
pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDRESS_MASK: u8 = 17;
    pub const ADDRESS_MASK_REPLY: u8 = 18;
    /// Destination unreachable: net unreachable.
    pub const CODE_NET_UNREACHABLE: u8 = 0;
    /// Time exceeded: TTL exceeded in transit.
    pub const CODE_TTL_EXCEEDED: u8 = 0;

    /// The types that quote the packet they answer.
    #[inline]
    pub const fn is_error(t: u8) -> bool {
        matches!(
            t,
            DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM
        )
    }
}

/// ICMPv6 message types.
pub mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    /// Destination unreachable: no route to destination.
    pub const CODE_NO_ROUTE: u8 = 0;
    /// Time exceeded: hop limit exceeded in transit.
    pub const CODE_HOP_LIMIT_EXCEEDED: u8 = 0;

    /// Types below 128 are errors (RFC 4443 §2.1).
    #[inline]
    pub const fn is_error(t: u8) -> bool {
        t < 128
    }
}

/// The reply type of a request type (echo → echo reply), or the type itself.
#[inline]
pub const fn reply_type(v6: bool, t: u8) -> u8 {
    match (v6, t) {
        (false, v4::ECHO_REQUEST) => v4::ECHO_REPLY,
        (true, v6::ECHO_REQUEST) => v6::ECHO_REPLY,
        (_, t) => t,
    }
}

/// An ICMP or ICMPv6 message in `buffer`. After [`IcmpPacket::new_checked`] (type, code and
/// checksum present) no accessor can panic; the identifier, which a short message may lack,
/// is an `Option`.
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, MalformedKind> {
        if buffer.as_ref().len() < MIN_LEN {
            return Err(MalformedKind::BadL4Header);
        }
        Ok(IcmpPacket { buffer })
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// The query identifier, if the message is long enough to hold one.
    #[inline]
    pub fn ident(&self) -> Option<u16> {
        self.buffer
            .as_ref()
            .get(field::IDENT)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// An error's quoted packet (empty if there is none).
    #[inline]
    pub fn quoted(&self) -> &[u8] {
        self.buffer.as_ref().get(field::QUOTED).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Replaces the 16-bit word at `r`, updating the checksum (ICMPv4 has no pseudo-header;
    /// for ICMPv6 the pseudo-header is unchanged by these fields).
    fn set_word(&mut self, r: std::ops::Range<usize>, new: u16) {
        let b = self.buffer.as_mut();
        let old = be16(b, r.clone());
        b[r].copy_from_slice(&new.to_be_bytes());
        let c = update16(be16(b, field::CHECKSUM), old, new);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Updates an ICMPv6 checksum for an address of its pseudo-header changed from `old` to
    /// `new` (ICMPv6 checksums are always complete: no offload).
    #[inline]
    pub fn update_for_addr6(&mut self, old: std::net::Ipv6Addr, new: std::net::Ipv6Addr) {
        let b = self.buffer.as_mut();
        if b.len() < field::CHECKSUM.end {
            return;
        }
        let c = super::checksum::update_pseudo128(
            be16(b, field::CHECKSUM),
            u128::from(old),
            u128::from(new),
            super::ChecksumMode::Full,
        );
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Replaces the query identifier; `false` (nothing written) if the message is too short
    /// to hold one.
    #[inline]
    pub fn set_ident(&mut self, id: u16) -> bool {
        if self.buffer.as_ref().len() < field::IDENT.end {
            return false;
        }
        self.set_word(field::IDENT, id);
        true
    }

    /// Replaces type and code.
    #[inline]
    pub fn set_type_code(&mut self, t: u8, code: u8) {
        self.set_word(field::TYPE_CODE, u16::from_be_bytes([t, code]));
    }
}

/// The fields of an ICMP message the dataplane generates: an error (its quote is copied in
/// place by [`super::emit`]) or a query (synthetic packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRepr {
    pub msg_type: u8,
    pub msg_code: u8,
    /// Bytes 4..8: identifier and sequence number of a query, 0 for an error.
    pub rest: [u8; 4],
}

impl IcmpRepr {
    /// The representation of a checked message's header, if it has all 8 bytes.
    pub fn parse<T: AsRef<[u8]>>(p: &IcmpPacket<T>) -> Option<IcmpRepr> {
        let rest = p.buffer.as_ref().get(field::UNUSED)?;
        Some(IcmpRepr {
            msg_type: p.msg_type(),
            msg_code: p.msg_code(),
            rest: [rest[0], rest[1], rest[2], rest[3]],
        })
    }

    /// Writes the 8-byte header with checksum 0; the checksum, which covers what follows, is
    /// set last by the caller.
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        b[field::TYPE] = self.msg_type;
        b[field::CODE] = self.msg_code;
        b[field::CHECKSUM].fill(0);
        b[field::UNUSED].copy_from_slice(&self.rest);
    }
}
