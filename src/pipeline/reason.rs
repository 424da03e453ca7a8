//! The drop vocabulary, in the spirit of AWS Reachability Analyzer's explanation codes. Each
//! code is stable: trace output, metrics and the README use it.

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
}

/// What is wrong with a malformed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedKind {
    Truncated,
    BadVersion,
    BadIhl,
    BadTotalLength,
    BadChecksum,
    BadL4Header,
}

impl DropReason {
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
        }
    }
}

impl MalformedKind {
    pub fn code(self) -> &'static str {
        use MalformedKind::*;
        match self {
            Truncated => "TRUNCATED",
            BadVersion => "BAD_VERSION",
            BadIhl => "BAD_IHL",
            BadTotalLength => "BAD_TOTAL_LENGTH",
            BadChecksum => "BAD_CHECKSUM",
            BadL4Header => "BAD_L4_HEADER",
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
