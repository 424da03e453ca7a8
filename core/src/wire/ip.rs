//! IP protocol numbers (IANA "Assigned Internet Protocol Numbers") as a type. A number the
//! dataplane gives no meaning to is kept as `Unknown(n)`, so every value survives a round trip
//! (security-group and NACL rules match any protocol by number).

use std::cmp::Ordering;
use std::fmt;

/// The protocol field of an IPv4 header / next header of IPv6.
///
/// Build it with `From<u8>`, which never yields `Unknown(n)` for a named `n`: equality on the
/// derived representation is then equality of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpProtocol {
    /// IPv6 hop-by-hop options (0); the default, as 0 is of a number.
    #[default]
    HopByHop,
    Icmp,
    Tcp,
    Udp,
    /// IPv6 routing header (43).
    Ipv6Route,
    /// IPv6 fragment header (44).
    Ipv6Frag,
    Icmpv6,
    /// IPv6 destination options (60).
    Ipv6Opts,
    Unknown(u8),
}

impl IpProtocol {
    /// The protocol number.
    #[inline]
    pub const fn number(self) -> u8 {
        match self {
            IpProtocol::HopByHop => 0,
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6Opts => 60,
            IpProtocol::Unknown(n) => n,
        }
    }

    /// The protocol of a number.
    #[inline]
    pub const fn from_number(n: u8) -> IpProtocol {
        match n {
            0 => IpProtocol::HopByHop,
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            58 => IpProtocol::Icmpv6,
            60 => IpProtocol::Ipv6Opts,
            n => IpProtocol::Unknown(n),
        }
    }

    /// TCP or UDP: the protocols with 16-bit ports at the start of their header.
    #[inline]
    pub const fn has_ports(self) -> bool {
        matches!(self, IpProtocol::Tcp | IpProtocol::Udp)
    }

    /// ICMP or ICMPv6.
    #[inline]
    pub const fn is_icmp(self) -> bool {
        matches!(self, IpProtocol::Icmp | IpProtocol::Icmpv6)
    }

    /// The ICMP of an address family.
    #[inline]
    pub const fn icmp_for(v6: bool) -> IpProtocol {
        if v6 {
            IpProtocol::Icmpv6
        } else {
            IpProtocol::Icmp
        }
    }

    /// Parses a protocol name (`tcp`, `udp`, `icmp`, `icmpv6`, any case) or number.
    pub fn from_name(s: &str) -> Option<IpProtocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(IpProtocol::Tcp),
            "udp" => Some(IpProtocol::Udp),
            "icmp" => Some(IpProtocol::Icmp),
            "icmpv6" => Some(IpProtocol::Icmpv6),
            n => n.parse::<u8>().ok().map(IpProtocol::from),
        }
    }
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(n: u8) -> IpProtocol {
        IpProtocol::from_number(n)
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(p: IpProtocol) -> u8 {
        p.number()
    }
}

/// Serialized as its number (JSON `"protocol": 6`, as AWS's APIs and flow logs write it).
impl serde::Serialize for IpProtocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

/// Ordered by number (as a table of protocols is listed).
impl Ord for IpProtocol {
    fn cmp(&self, other: &Self) -> Ordering {
        self.number().cmp(&other.number())
    }
}

impl PartialOrd for IpProtocol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `tcp`, `udp`, `icmp`, `icmpv6`, or the number.
impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Tcp => f.write_str("tcp"),
            IpProtocol::Udp => f.write_str("udp"),
            IpProtocol::Icmp => f.write_str("icmp"),
            IpProtocol::Icmpv6 => f.write_str("icmpv6"),
            p => write!(f, "{}", p.number()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_round_trips_and_named_ones_are_never_unknown() {
        for n in 0..=255u8 {
            let p = IpProtocol::from(n);
            assert_eq!(u8::from(p), n);
            if let IpProtocol::Unknown(m) = p {
                assert_eq!(m, n);
                assert_eq!(p.to_string(), n.to_string());
            }
        }
        assert_eq!(IpProtocol::from_name("TCP"), Some(IpProtocol::Tcp));
        assert_eq!(IpProtocol::from_name("47"), Some(IpProtocol::Unknown(47)));
        assert!(IpProtocol::Tcp < IpProtocol::Udp && IpProtocol::Udp < IpProtocol::Unknown(47));
    }
}
