//! The virtio-net header (virtio 1.x §5.1.6, `struct virtio_net_hdr`) a TUN device opened with
//! `IFF_VNET_HDR` puts before every packet: checksum and segmentation offload state. Fields are
//! little-endian (the TUN device is set to little-endian headers, as virtio 1.x requires).

/// Byte ranges of the header fields.
pub mod field {
    use std::ops::Range;
    pub const FLAGS: usize = 0;
    pub const GSO_TYPE: usize = 1;
    pub const HDR_LEN: Range<usize> = 2..4;
    pub const GSO_SIZE: Range<usize> = 4..6;
    pub const CSUM_START: Range<usize> = 6..8;
    pub const CSUM_OFFSET: Range<usize> = 8..10;
}

/// Length of the header (without the `num_buffers` of mergeable receive buffers).
pub const HEADER_LEN: usize = 10;

/// `flags`: the L4 checksum field holds only the pseudo-header sum; the checksum over
/// `csum_start..` is still to be computed and stored at `csum_start + csum_offset`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was validated by the sender.
pub const F_DATA_VALID: u8 = 2;

/// `gso_type`: not a super-packet.
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_UDP: u8 = 3;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_UDP_L4: u8 = 5;
/// `gso_type` flag: TCP ECN (CWR) seen.
pub const GSO_ECN: u8 = 0x80;

/// A virtio-net header in `buffer`; after [`VirtioNetHdr::new_checked`] no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct VirtioNetHdr<T> {
    buffer: T,
}

#[inline]
fn le16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_le_bytes([b[r.start], b[r.start + 1]])
}

impl<T: AsRef<[u8]>> VirtioNetHdr<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VirtioNetHdr { buffer }
    }

    /// `None` if `buffer` is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() >= HEADER_LEN).then_some(VirtioNetHdr { buffer })
    }

    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    #[inline]
    pub fn needs_csum(&self) -> bool {
        self.flags() & F_NEEDS_CSUM != 0
    }
    #[inline]
    pub fn gso_type(&self) -> u8 {
        self.buffer.as_ref()[field::GSO_TYPE]
    }
    #[inline]
    pub fn hdr_len(&self) -> u16 {
        le16(self.buffer.as_ref(), field::HDR_LEN)
    }
    #[inline]
    pub fn gso_size(&self) -> u16 {
        le16(self.buffer.as_ref(), field::GSO_SIZE)
    }
    #[inline]
    pub fn csum_start(&self) -> u16 {
        le16(self.buffer.as_ref(), field::CSUM_START)
    }
    #[inline]
    pub fn csum_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), field::CSUM_OFFSET)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VirtioNetHdr<T> {
    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    #[inline]
    pub fn set_gso_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::GSO_TYPE] = v;
    }
    #[inline]
    pub fn set_hdr_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::HDR_LEN].copy_from_slice(&v.to_le_bytes());
    }
    #[inline]
    pub fn set_gso_size(&mut self, v: u16) {
        self.buffer.as_mut()[field::GSO_SIZE].copy_from_slice(&v.to_le_bytes());
    }
    #[inline]
    pub fn set_csum_start(&mut self, v: u16) {
        self.buffer.as_mut()[field::CSUM_START].copy_from_slice(&v.to_le_bytes());
    }
    #[inline]
    pub fn set_csum_offset(&mut self, v: u16) {
        self.buffer.as_mut()[field::CSUM_OFFSET].copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_little_endian() {
        let mut b = [0u8; HEADER_LEN];
        let mut h = VirtioNetHdr::new_checked(&mut b[..]).unwrap();
        h.set_flags(F_NEEDS_CSUM);
        h.set_gso_type(GSO_TCPV4);
        h.set_hdr_len(54);
        h.set_gso_size(1448);
        h.set_csum_start(34);
        h.set_csum_offset(16);
        assert!(h.needs_csum());
        assert_eq!(
            (
                h.gso_type(),
                h.hdr_len(),
                h.gso_size(),
                h.csum_start(),
                h.csum_offset()
            ),
            (GSO_TCPV4, 54, 1448, 34, 16)
        );
        assert_eq!(&b[2..4], &54u16.to_le_bytes());
        assert!(VirtioNetHdr::new_checked(&b[..9]).is_none());
    }
}
