//! UDP header (RFC 768).

use super::checksum::{update_pseudo32, update_pseudo128, update16};
use super::{ChecksumMode, MalformedKind, be16};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Byte ranges of the UDP header fields.
pub(super) mod field {
    use std::ops::Range;
    pub(crate) const SRC_PORT: Range<usize> = 0..2;
    pub(crate) const DST_PORT: Range<usize> = 2..4;
    pub(crate) const LENGTH: Range<usize> = 4..6;
    pub(crate) const CHECKSUM: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = 8;
/// DNS over UDP (RFC 1035 §4.2.1): where the VPC resolver listens.
pub const DNS_PORT: u16 = 53;
/// The largest DNS message over UDP without EDNS (RFC 1035 §4.2.1).
pub const DNS_UDP_MAX: usize = 512;

/// A UDP datagram in `buffer`; after [`UdpPacket::new_checked`] no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, MalformedKind> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedKind::BadL4Header);
        }
        Ok(UdpPacket { buffer })
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
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// 0: the sender computed none (IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
}

/// A computed checksum of 0 is sent as 0xffff: 0 means "none".
#[inline]
fn nonzero(c: u16) -> u16 {
    if c == 0 { 0xffff } else { c }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Replaces the source (`dst` false) or destination port. Ports are not in the
    /// pseudo-header: a partial checksum needs no update; a full one does, and "none" (0)
    /// stays none.
    #[inline]
    pub fn set_port(&mut self, dst: bool, port: u16, mode: ChecksumMode) {
        let old = super::tcp::replace_port(self.buffer.as_mut(), dst, port);
        let c = self.checksum();
        if mode == ChecksumMode::Full && c != 0 {
            self.set_checksum(nonzero(update16(c, old, port)));
        }
    }

    /// Updates the checksum for an IPv4 address of the pseudo-header changed from `old` to
    /// `new` ("none" stays none; a partial sum is updated as a sum).
    #[inline]
    pub fn update_for_addr(&mut self, old: Ipv4Addr, new: Ipv4Addr, mode: ChecksumMode) {
        let c = self.checksum();
        let u = update_pseudo32(c, u32::from(old), u32::from(new), mode);
        match mode {
            ChecksumMode::Partial => self.set_checksum(u),
            ChecksumMode::Full if c != 0 => self.set_checksum(nonzero(u)),
            ChecksumMode::Full => {}
        }
    }

    /// [`Self::update_for_addr`] for an IPv6 address of the pseudo-header (over IPv6 the
    /// checksum is mandatory, RFC 8200 §8.1: a zero one is left for the receiver to drop).
    #[inline]
    pub fn update_for_addr6(&mut self, old: Ipv6Addr, new: Ipv6Addr, mode: ChecksumMode) {
        let c = self.checksum();
        let u = update_pseudo128(c, u128::from(old), u128::from(new), mode);
        match mode {
            ChecksumMode::Partial => self.set_checksum(u),
            ChecksumMode::Full if c != 0 => self.set_checksum(nonzero(u)),
            ChecksumMode::Full => {}
        }
    }

    /// Swaps source and destination ports (the checksum does not change).
    #[inline]
    pub fn swap_ports(&mut self) {
        super::tcp::swap_ports(self.buffer.as_mut());
    }
}
