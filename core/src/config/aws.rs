//! Addresses AWS gives a meaning of its own: the ranges a VPC never forwards, the addresses it
//! reserves in every subnet, and where the VPC router and the Amazon-provided services answer.
//! Every place that needs one of them (validation, the pipeline's router address, the flow
//! log's exclusions) reads it from here.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// 169.254.168.0/22 and fd00:ec2::/32: never forwarded, and no route may name them.
pub const RESERVED_DESTINATIONS: [IpNet; 2] = [
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 168, 0), 22)),
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0),
        32,
    )),
];

/// Offset of the VPC router in a CIDR (base + 1).
pub const ROUTER_OFFSET: u32 = 1;
/// Offset of the Amazon-provided DNS resolver in the VPC CIDR (base + 2).
pub const RESOLVER_OFFSET: u32 = 2;
/// AWS reserves the first four addresses of every subnet (network, router, DNS, future use)
/// and the last one.
pub const RESERVED_LOW: u32 = 3;

/// Instance metadata service (IPv4).
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Amazon Time Sync Service (IPv4).
pub const TIME_SYNC_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 123);
/// The Amazon-provided services on fd00:ec2::/64: metadata (`::254`), DNS (`::253`), Time Sync
/// (`::123`).
pub const SERVICES_V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253),
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x123),
];

/// The Amazon-provided DNS resolver's link-local address (answered like base + 2).
pub const RESOLVER_LINK_LOCAL: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 253);
/// ... and its IPv6 address (Nitro instances; answered like base + 2 in VPCs with IPv6).
pub const RESOLVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253);

/// The VPC router's address in `cidr`: base + 1.
pub fn router(cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.network()).wrapping_add(ROUTER_OFFSET))
}

/// The VPC router's address in the IPv6 CIDR `cidr`: base + 1 (reserved in every subnet).
pub fn router_v6(cidr: Ipv6Net) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(cidr.network()).wrapping_add(u128::from(ROUTER_OFFSET)))
}

/// The Amazon-provided DNS resolver's address in `cidr`: base + 2.
pub fn resolver(cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.network()).wrapping_add(RESOLVER_OFFSET))
}

/// Whether AWS reserves `a` in `subnet`: network, +1 router, +2 DNS, +3, broadcast.
pub fn reserved_in_subnet(subnet: Ipv4Net, a: Ipv4Addr) -> bool {
    let off = u32::from(a).wrapping_sub(u32::from(subnet.network()));
    off <= RESERVED_LOW || a == subnet.broadcast()
}

/// Whether AWS reserves `a` in the IPv6 subnet `subnet`: the first four addresses and the
/// last.
pub fn reserved_in_subnet_v6(subnet: Ipv6Net, a: Ipv6Addr) -> bool {
    let off = u128::from(a).wrapping_sub(u128::from(subnet.network()));
    off <= u128::from(RESERVED_LOW) || a == subnet.broadcast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_resolver_and_reserved_addresses() {
        let n: Ipv4Net = "10.0.2.0/24".parse().unwrap();
        assert_eq!(router(n), Ipv4Addr::new(10, 0, 2, 1));
        assert_eq!(resolver(n), Ipv4Addr::new(10, 0, 2, 2));
        for last in [0, 1, 2, 3, 255] {
            assert!(reserved_in_subnet(n, Ipv4Addr::new(10, 0, 2, last)));
        }
        assert!(!reserved_in_subnet(n, Ipv4Addr::new(10, 0, 2, 4)));
        assert_eq!(RESERVED_DESTINATIONS[0].to_string(), "169.254.168.0/22");
        assert_eq!(RESERVED_DESTINATIONS[1].to_string(), "fd00:ec2::/32");
    }
}
