//! Internet checksum (RFC 1071) and its incremental update (RFC 1624), shared by header
//! validation and every rewrite (NAT, TTL). All arithmetic is on 32-bit accumulators folded at
//! the end, so a 64 KiB super-packet cannot overflow it.

use super::{ChecksumMode, IpProtocol};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words to `acc` (an odd last byte is padded with zero).
#[inline]
pub fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        // Fold early and often: keeps `acc` far from overflow on any length.
        if acc & 0x8000_0000 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds a 32-bit accumulator into 16 bits of ones' complement sum.
#[inline]
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to store: the complement of the folded sum.
#[inline]
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// Checksum of `data` alone (IPv4 header, ICMPv4).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// Pseudo-header sum for TCP/UDP over IPv4.
#[inline]
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, l4_len: u16) -> u32 {
    let mut acc = sum(&src.octets(), 0);
    acc = sum(&dst.octets(), acc);
    acc + u32::from(proto.number()) + u32::from(l4_len)
}

/// Pseudo-header sum for TCP/UDP/ICMPv6 over IPv6.
#[inline]
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: IpProtocol, l4_len: u32) -> u32 {
    let mut acc = sum(&src.octets(), 0);
    acc = sum(&dst.octets(), acc);
    acc + (l4_len >> 16) + (l4_len & 0xffff) + u32::from(proto.number())
}

/// The L4 checksum field `field` after a 32-bit word its pseudo-header covers (an IPv4
/// address) changes from `old` to `new`. Under [`ChecksumMode::Partial`] the field holds the
/// non-complemented pseudo-header sum (checksum offload): it is updated as a sum.
#[inline]
pub fn update_pseudo32(field: u16, old: u32, new: u32, mode: ChecksumMode) -> u16 {
    match mode {
        ChecksumMode::Full => update32(field, old, new),
        ChecksumMode::Partial => !update32(!field, old, new),
    }
}

/// [`update_pseudo32`] for a 128-bit word (an IPv6 address), as four 32-bit changes.
#[inline]
pub fn update_pseudo128(field: u16, old: u128, new: u128, mode: ChecksumMode) -> u16 {
    (0..4).rev().fold(field, |c, k| {
        update_pseudo32(c, (old >> (32 * k)) as u32, (new >> (32 * k)) as u32, mode)
    })
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changes
/// from `old` to `new`: `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    !fold(acc)
}

/// Incremental update for a 32-bit field (an IPv4 address).
#[inline]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let c = update16(check, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: sum 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data, 0)), 0xddf2);
    }

    #[test]
    fn ipv4_header_checksums_to_zero_when_valid() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&h);
        assert_eq!(c, 0xb861);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn incremental_matches_full_for_an_address_change() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 2, 10,
            192, 0, 2, 10,
        ];
        let c = checksum(&h);
        let new = u32::from(Ipv4Addr::new(198, 51, 100, 5));
        let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        h[12..16].copy_from_slice(&new.to_be_bytes());
        assert_eq!(update32(c, old, new), checksum(&h));
    }

    #[test]
    fn incremental_matches_full_for_an_ipv6_address_change() {
        let old: Ipv6Addr = "2001:db8:10:1::10".parse().unwrap();
        let new: Ipv6Addr = "2001:db8:ffff:1::42:7".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:10:1::20".parse().unwrap();
        let payload = [0x12, 0x34, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef, 0x00];
        let full = |src: Ipv6Addr| finish(sum(&payload, pseudo_v6(src, dst, IpProtocol::Tcp, 9)));
        let c = full(old);
        assert_eq!(
            update_pseudo128(c, u128::from(old), u128::from(new), ChecksumMode::Full),
            full(new)
        );
        // A partial (pseudo-header only) sum is updated as a sum.
        let partial = |src: Ipv6Addr| fold(pseudo_v6(src, dst, IpProtocol::Tcp, 9));
        assert_eq!(
            update_pseudo128(
                partial(old),
                u128::from(old),
                u128::from(new),
                ChecksumMode::Partial
            ),
            partial(new)
        );
    }
}
