//! The drop vocabulary, in the spirit of AWS Reachability Analyzer's explanation codes. Each
//! code is stable: trace output, metrics and the README use it. What is wrong with a malformed
//! packet is the wire layer's to say ([`MalformedKind`]); it is re-exported here, so a drop
//! reason reads as one vocabulary.

pub use crate::wire::MalformedKind;
use std::fmt;

/// Lists every reason but `Malformed` once, with its code; the enum, `ALL`, `index` and `code`
/// all come from that one list.
macro_rules! drop_reasons {
    ($( $(#[doc = $doc:literal])* $var:ident => $code:literal, )*) => {
        /// Why a packet was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            /// Not a well-formed IPv4/IPv6 packet.
            Malformed(MalformedKind),
            $( $(#[doc = $doc])* $var, )*
        }

        /// The position of each reason after the malformed kinds.
        #[repr(usize)]
        enum Plain {
            $($var,)*
        }

        impl DropReason {
            /// Every reason, each malformed kind on its own: `ALL[r.index()] == r`. Counters
            /// are indexed by it; their labels are the `Display` form (the trace vocabulary).
            pub const ALL: [DropReason; MalformedKind::ALL.len() + [$($code),*].len()] = {
                let plain = [$(DropReason::$var),*];
                let mut all = [DropReason::Malformed(MalformedKind::Truncated);
                    MalformedKind::ALL.len() + [$($code),*].len()];
                let mut i = 0;
                while i < all.len() {
                    all[i] = if i < MalformedKind::ALL.len() {
                        DropReason::Malformed(MalformedKind::ALL[i])
                    } else {
                        plain[i - MalformedKind::ALL.len()]
                    };
                    i += 1;
                }
                all
            };

            /// Position in [`DropReason::ALL`].
            #[inline]
            pub fn index(self) -> usize {
                match self {
                    DropReason::Malformed(k) => k.index(),
                    $(DropReason::$var => MalformedKind::ALL.len() + Plain::$var as usize,)*
                }
            }

            /// The stable code.
            pub fn code(self) -> &'static str {
                match self {
                    DropReason::Malformed(_) => "MALFORMED",
                    $(DropReason::$var => $code,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// IPv6 packet in a VPC (or port) without IPv6.
    Ipv6NotEnabled => "IPV6_NOT_ENABLED",
    /// The ENI's source/destination check: the address is not one of the ENI's own.
    SrcDstCheck => "SRC_DST_CHECK",
    /// A network ACL rule (or its `*` rule) denied it.
    NaclDeny => "NACL_DENY",
    /// No security-group rule allows it (and no tracked flow does).
    SgNoAllow => "SG_NO_ALLOW",
    /// No route in the subnet's route table covers the destination.
    NoRoute => "NO_ROUTE",
    /// The matching route is a blackhole (declared, or its target is gone).
    BlackholeRoute => "BLACKHOLE_ROUTE",
    /// Destination in 169.254.168.0/22 or fd00:ec2::/32: never forwarded.
    ReservedDestination => "RESERVED_DESTINATION",
    /// Local route, but no ENI in the VPC has the destination address.
    NoEniAtDestination => "NO_ENI_AT_DESTINATION",
    /// To the internet gateway from an ENI without a public IPv4 address.
    NoPublicIp => "NO_PUBLIC_IP",
    /// From the internet to a public address that maps to nothing.
    NoPublicIpMapping => "NO_PUBLIC_IP_MAPPING",
    /// The decision is to deliver, but nothing is attached there (no port for that ENI/service).
    NoPort => "NO_PORT",
    /// Router mode only: TTL / hop limit ran out.
    TtlExceeded => "TTL_EXCEEDED",
    /// The flow table is full: the new flow is refused.
    FlowTableFull => "FLOW_TABLE_FULL",
    /// NAT gateway: no free source port for this destination (`ErrorPortAllocation`).
    NatPortAllocation => "NAT_PORT_ALLOCATION",
    /// NAT gateway / endpoint: a connection opened from the outside.
    Unsolicited => "UNSOLICITED",
    /// NAT gateway: TCP and ICMP fragments are dropped.
    NatFragment => "NAT_FRAGMENT",
    /// NAT gateway: packet of a connection that idled out (a RST is sent back).
    NatIdleTimeout => "NAT_IDLE_TIMEOUT",
    /// Protocol a component does not carry (NAT gateway: only TCP, UDP, ICMP).
    UnsupportedProtocol => "UNSUPPORTED_PROTOCOL",
    /// Interface endpoint: no service target (or no load-balancer address) to send to.
    NoServiceTarget => "NO_SERVICE_TARGET",
    /// Egress-only internet gateway: a connection from the internet (only replies come in).
    EgressOnly => "EGRESS_ONLY",
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
