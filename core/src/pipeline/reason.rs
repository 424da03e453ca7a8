//! The drop vocabulary, in the spirit of AWS Reachability Analyzer's explanation codes. Each
//! code is stable: trace output, metrics and the README use it. What is wrong with a malformed
//! packet is the wire layer's to say ([`MalformedKind`]); it is re-exported here, so a drop
//! reason reads as one vocabulary.

pub use crate::wire::MalformedKind;
use std::fmt;

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed IPv4/IPv6 packet.
    Malformed(MalformedKind),
    /// IPv6 packet in a VPC (or port) without IPv6.
    Ipv6NotEnabled,
    /// The ENI's source/destination check: the address is not one of the ENI's own.
    SrcDstCheck,
    /// A network ACL rule (or its `*` rule) denied it.
    NaclDeny,
    /// No security-group rule allows it (and no tracked flow does).
    SgNoAllow,
    /// No route in the subnet's route table covers the destination.
    NoRoute,
    /// The matching route is a blackhole (declared, or its target is gone).
    BlackholeRoute,
    /// Destination in 169.254.168.0/22 or fd00:ec2::/32: never forwarded.
    ReservedDestination,
    /// Local route, but no ENI in the VPC has the destination address.
    NoEniAtDestination,
    /// To the internet gateway from an ENI without a public IPv4 address.
    NoPublicIp,
    /// From the internet to a public address that maps to nothing.
    NoPublicIpMapping,
    /// The decision is to deliver, but nothing is attached there (no port for that ENI/service).
    NoPort,
    /// Router mode only: TTL / hop limit ran out.
    TtlExceeded,
    /// The flow table is full: the new flow is refused.
    FlowTableFull,
    /// NAT gateway: no free source port for this destination (`ErrorPortAllocation`).
    NatPortAllocation,
    /// NAT gateway / endpoint: a connection opened from the outside.
    Unsolicited,
    /// NAT gateway: TCP and ICMP fragments are dropped.
    NatFragment,
    /// NAT gateway: packet of a connection that idled out (a RST is sent back).
    NatIdleTimeout,
    /// Protocol a component does not carry (NAT gateway: only TCP, UDP, ICMP).
    UnsupportedProtocol,
    /// Interface endpoint: no service target (or no load-balancer address) to send to.
    NoServiceTarget,
    /// Egress-only internet gateway: a connection from the internet (only replies come in).
    EgressOnly,
}

impl DropReason {
    /// Every reason, each malformed kind on its own: `ALL[r.index()] == r`. Counters are
    /// indexed by it; their labels are the `Display` form (the trace vocabulary).
    pub const ALL: [DropReason; 26] = {
        use DropReason::*;
        use MalformedKind::*;
        [
            Malformed(Truncated),
            Malformed(BadVersion),
            Malformed(BadIhl),
            Malformed(BadTotalLength),
            Malformed(BadChecksum),
            Malformed(BadL4Header),
            Ipv6NotEnabled,
            SrcDstCheck,
            NaclDeny,
            SgNoAllow,
            NoRoute,
            BlackholeRoute,
            ReservedDestination,
            NoEniAtDestination,
            NoPublicIp,
            NoPublicIpMapping,
            NoPort,
            TtlExceeded,
            FlowTableFull,
            NatPortAllocation,
            Unsolicited,
            NatFragment,
            NatIdleTimeout,
            UnsupportedProtocol,
            NoServiceTarget,
            EgressOnly,
        ]
    };

    /// Position in [`DropReason::ALL`].
    #[inline]
    pub fn index(self) -> usize {
        use DropReason::*;
        use MalformedKind::*;
        match self {
            Malformed(Truncated) => 0,
            Malformed(BadVersion) => 1,
            Malformed(BadIhl) => 2,
            Malformed(BadTotalLength) => 3,
            Malformed(BadChecksum) => 4,
            Malformed(BadL4Header) => 5,
            Ipv6NotEnabled => 6,
            SrcDstCheck => 7,
            NaclDeny => 8,
            SgNoAllow => 9,
            NoRoute => 10,
            BlackholeRoute => 11,
            ReservedDestination => 12,
            NoEniAtDestination => 13,
            NoPublicIp => 14,
            NoPublicIpMapping => 15,
            NoPort => 16,
            TtlExceeded => 17,
            FlowTableFull => 18,
            NatPortAllocation => 19,
            Unsolicited => 20,
            NatFragment => 21,
            NatIdleTimeout => 22,
            UnsupportedProtocol => 23,
            NoServiceTarget => 24,
            EgressOnly => 25,
        }
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        use DropReason::*;
        match self {
            Malformed(_) => "MALFORMED",
            Ipv6NotEnabled => "IPV6_NOT_ENABLED",
            SrcDstCheck => "SRC_DST_CHECK",
            NaclDeny => "NACL_DENY",
            SgNoAllow => "SG_NO_ALLOW",
            NoRoute => "NO_ROUTE",
            BlackholeRoute => "BLACKHOLE_ROUTE",
            ReservedDestination => "RESERVED_DESTINATION",
            NoEniAtDestination => "NO_ENI_AT_DESTINATION",
            NoPublicIp => "NO_PUBLIC_IP",
            NoPublicIpMapping => "NO_PUBLIC_IP_MAPPING",
            NoPort => "NO_PORT",
            TtlExceeded => "TTL_EXCEEDED",
            FlowTableFull => "FLOW_TABLE_FULL",
            NatPortAllocation => "NAT_PORT_ALLOCATION",
            Unsolicited => "UNSOLICITED",
            NatFragment => "NAT_FRAGMENT",
            NatIdleTimeout => "NAT_IDLE_TIMEOUT",
            UnsupportedProtocol => "UNSUPPORTED_PROTOCOL",
            NoServiceTarget => "NO_SERVICE_TARGET",
            EgressOnly => "EGRESS_ONLY",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(k) => write!(f, "MALFORMED({})", k.code()),
            r => f.write_str(r.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }
}
