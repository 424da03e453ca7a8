//! Security-group connection tracking (vpc-semantics §5): per-flow state, the TCP state machine
//! and the idle timeouts that depend on it. Pure: the table applies these functions under its
//! shard lock.

use super::key::Dir;
use super::{Dur, Time};

/// TCP flag bits as in the header's flags byte (the wire layer's, named here for callers of
/// the state machine).
pub mod tcp_flags {
    pub use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};
}
use crate::wire::IpProtocol;
use tcp_flags::*;

/// Fixed timeouts of TCP states other than established (seconds). AWS documents only the
/// established timeout; these follow Linux nf_conntrack's defaults, so a lab behaves like the
/// kernel it is compared with.
pub mod tcp_timeouts {
    /// SYN seen, no SYN-ACK yet.
    pub const SYN_SENT: u32 = 120;
    /// SYN-ACK seen, handshake's last ACK not yet.
    pub const SYN_RECEIVED: u32 = 60;
    /// A FIN seen in one direction.
    pub const FIN_WAIT: u32 = 120;
    /// FINs seen in both directions.
    pub const TIME_WAIT: u32 = 120;
    /// After a RST.
    pub const CLOSED: u32 = 10;
}

/// Idle timeouts of one ENI, in seconds (§5 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_established: u32,
    pub udp: u32,
    pub udp_stream: u32,
    pub icmp: u32,
    pub other: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: 432_000,
            udp: 30,
            udp_stream: 180,
            icmp: 30,
            other: 600,
        }
    }
}

impl Timeouts {
    /// An ENI's configured values (`None`: AWS default), clamped into AWS's ranges.
    pub fn with_overrides(
        tcp_established: Option<u32>,
        udp: Option<u32>,
        udp_stream: Option<u32>,
        icmp: Option<u32>,
    ) -> Timeouts {
        let d = Timeouts::default();
        Timeouts {
            tcp_established: tcp_established.unwrap_or(d.tcp_established),
            udp: udp.unwrap_or(d.udp),
            udp_stream: udp_stream.unwrap_or(d.udp_stream),
            icmp: icmp.unwrap_or(d.icmp),
            other: d.other,
        }
        .clamped()
    }

    /// Pulls configurable values into AWS's ranges (TCP 60–432000, UDP 30–60, UDP stream
    /// 60–180); the fixed ones are reset to their defaults, except ICMP whose value is ours.
    pub fn clamped(self) -> Timeouts {
        Timeouts {
            tcp_established: self.tcp_established.clamp(60, 432_000),
            udp: self.udp.clamp(30, 60),
            udp_stream: self.udp_stream.clamp(60, 180),
            icmp: self.icmp.max(1),
            other: 600,
        }
    }
}

/// TCP connection state, as far as a security group needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    SynSent,
    SynReceived,
    Established,
    /// FIN seen from the given direction only.
    FinWait(Dir),
    /// FINs seen both ways.
    TimeWait,
    /// RST seen.
    Closed,
}

/// A tracked flow's protocol state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Tcp(TcpState),
    /// `stream` once there has been more than one exchange.
    Udp {
        stream: bool,
    },
    Icmp,
    Other,
}

impl ConnState {
    /// The state a flow starts in, given its protocol and first packet's TCP flags. A TCP flow
    /// first seen without SYN (e.g. after a restart) is picked up as established, as
    /// nf_conntrack does by default.
    pub fn initial(proto: IpProtocol, flags: u8) -> ConnState {
        match proto {
            IpProtocol::Tcp if flags & RST != 0 => ConnState::Tcp(TcpState::Closed),
            IpProtocol::Tcp if flags & SYN != 0 && flags & ACK == 0 => {
                ConnState::Tcp(TcpState::SynSent)
            }
            IpProtocol::Tcp => ConnState::Tcp(TcpState::Established),
            IpProtocol::Udp => ConnState::Udp { stream: false },
            IpProtocol::Icmp | IpProtocol::Icmpv6 => ConnState::Icmp,
            _ => ConnState::Other,
        }
    }

    /// Idle timeout in this state, in seconds.
    pub fn timeout_secs(self, t: &Timeouts) -> u32 {
        match self {
            ConnState::Tcp(s) => match s {
                TcpState::SynSent => tcp_timeouts::SYN_SENT,
                TcpState::SynReceived => tcp_timeouts::SYN_RECEIVED,
                TcpState::Established => t.tcp_established,
                TcpState::FinWait(_) => tcp_timeouts::FIN_WAIT,
                TcpState::TimeWait => tcp_timeouts::TIME_WAIT,
                TcpState::Closed => tcp_timeouts::CLOSED,
            },
            ConnState::Udp { stream: false } => t.udp,
            ConnState::Udp { stream: true } => t.udp_stream,
            ConnState::Icmp => t.icmp,
            ConnState::Other => t.other,
        }
    }
}

impl std::fmt::Display for ConnState {
    /// The form `trace` prints, e.g. `tcp ESTABLISHED`, `udp stream`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnState::Tcp(s) => {
                let name = match s {
                    TcpState::SynSent => "SYN_SENT",
                    TcpState::SynReceived => "SYN_RECEIVED",
                    TcpState::Established => "ESTABLISHED",
                    TcpState::FinWait(Dir::Original) => "FIN_WAIT(original)",
                    TcpState::FinWait(Dir::Reply) => "FIN_WAIT(reply)",
                    TcpState::TimeWait => "TIME_WAIT",
                    TcpState::Closed => "CLOSED",
                };
                write!(f, "tcp {name}")
            }
            ConnState::Udp { stream: false } => f.write_str("udp request/response"),
            ConnState::Udp { stream: true } => f.write_str("udp stream"),
            ConnState::Icmp => f.write_str("icmp"),
            ConnState::Other => f.write_str("other"),
        }
    }
}

/// Advances the TCP state machine by one segment with `flags` travelling in `dir`.
pub fn tcp_next(s: TcpState, dir: Dir, flags: u8) -> TcpState {
    use TcpState::*;
    if flags & RST != 0 {
        return Closed;
    }
    let syn = flags & SYN != 0;
    let ack = flags & ACK != 0;
    let fin = flags & FIN != 0;
    match s {
        // A new SYN from the original side reuses a finished connection's ports.
        TimeWait | Closed if dir == Dir::Original && syn && !ack => SynSent,
        SynSent if dir == Dir::Reply && syn && ack => SynReceived,
        SynReceived if dir == Dir::Original && ack && !syn && !fin => Established,
        SynReceived | Established if fin => FinWait(dir),
        FinWait(d) if fin && d != dir => TimeWait,
        other => other,
    }
}

/// Packets counted per direction, to tell a UDP stream from a single request/response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exchange {
    pub original: u32,
    pub reply: u32,
}

impl Exchange {
    pub fn count(&mut self, dir: Dir) {
        match dir {
            Dir::Original => self.original = self.original.saturating_add(1),
            Dir::Reply => self.reply = self.reply.saturating_add(1),
        }
    }
    /// More than one exchange: both directions seen and at least three packets in all (a
    /// request/response pair and anything after it).
    pub fn is_stream(&self) -> bool {
        self.original >= 1 && self.reply >= 1 && self.original.saturating_add(self.reply) >= 3
    }
}

/// Applies one packet to a flow's state; returns the new state.
pub fn on_packet(s: ConnState, ex: &mut Exchange, dir: Dir, flags: u8) -> ConnState {
    ex.count(dir);
    match s {
        ConnState::Tcp(t) => ConnState::Tcp(tcp_next(t, dir, flags)),
        ConnState::Udp { .. } => ConnState::Udp {
            stream: ex.is_stream(),
        },
        other => other,
    }
}

/// When a flow in state `s`, last seen at `now`, expires.
pub fn expiry(s: ConnState, t: &Timeouts, now: Time) -> Time {
    now + Dur::from_secs(u64::from(s.timeout_secs(t)))
}

/// The security-group facts that decide tracking, as plain inputs (no snapshot types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SgFacts {
    pub proto: IpProtocol,
    /// Some rule allowing the flow's first packet has peer 0.0.0.0/0 (or ::/0 for IPv6) —
    /// and, for the flow to be untracked, every allowing rule would have to; the caller
    /// passes `true` only if the allowing rule it matched is such a rule.
    pub allowed_by_any_peer_rule: bool,
    /// The opposite direction has a rule allowing all ports to/from 0.0.0.0/0 (::/0).
    pub opposite_allows_all_from_any: bool,
    /// The flow goes through a NAT gateway, NLB, interface endpoint or DynamoDB gateway
    /// endpoint.
    pub through_tracking_component: bool,
}

/// §5's untracked rule: TCP/UDP only, allowed by an any-peer rule, opposite direction wide
/// open, and not through a component that always tracks.
pub fn is_untracked(f: &SgFacts) -> bool {
    f.proto.has_ports()
        && f.allowed_by_any_peer_rule
        && f.opposite_allows_all_from_any
        && !f.through_tracking_component
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dir::*;

    #[test]
    fn tcp_handshake_and_close() {
        let mut s = match ConnState::initial(IpProtocol::Tcp, SYN) {
            ConnState::Tcp(s) => s,
            _ => unreachable!(),
        };
        assert_eq!(s, TcpState::SynSent);
        s = tcp_next(s, Reply, SYN | ACK);
        assert_eq!(s, TcpState::SynReceived);
        s = tcp_next(s, Original, ACK);
        assert_eq!(s, TcpState::Established);
        s = tcp_next(s, Original, ACK);
        assert_eq!(s, TcpState::Established);
        s = tcp_next(s, Reply, FIN | ACK);
        assert_eq!(s, TcpState::FinWait(Reply));
        s = tcp_next(s, Reply, FIN | ACK);
        assert_eq!(
            s,
            TcpState::FinWait(Reply),
            "a retransmitted FIN changes nothing"
        );
        s = tcp_next(s, Original, FIN | ACK);
        assert_eq!(s, TcpState::TimeWait);
        s = tcp_next(s, Original, SYN);
        assert_eq!(s, TcpState::SynSent, "port reuse after close");
        assert_eq!(
            tcp_next(TcpState::Established, Reply, RST | ACK),
            TcpState::Closed
        );
        assert_eq!(
            ConnState::initial(IpProtocol::Tcp, ACK),
            ConnState::Tcp(TcpState::Established)
        );
        // A SYN-ACK from the wrong side does not complete the handshake.
        assert_eq!(
            tcp_next(TcpState::SynSent, Original, SYN | ACK),
            TcpState::SynSent
        );
    }

    #[test]
    fn udp_becomes_a_stream_after_more_than_one_exchange() {
        let mut ex = Exchange::default();
        let mut s = ConnState::initial(IpProtocol::Udp, 0);
        ex.count(Original);
        s = on_packet(s, &mut ex, Reply, 0);
        assert_eq!(s, ConnState::Udp { stream: false });
        s = on_packet(s, &mut ex, Original, 0);
        assert_eq!(s, ConnState::Udp { stream: true });
        let mut one_way = Exchange::default();
        let mut u = ConnState::initial(IpProtocol::Udp, 0);
        for _ in 0..10 {
            u = on_packet(u, &mut one_way, Original, 0);
        }
        assert_eq!(
            u,
            ConnState::Udp { stream: false },
            "one direction only is not a stream"
        );
    }

    #[test]
    fn timeouts_per_kind_and_clamping() {
        let t = Timeouts::default();
        assert_eq!(
            ConnState::Tcp(TcpState::Established).timeout_secs(&t),
            432_000
        );
        assert_eq!(ConnState::Tcp(TcpState::Closed).timeout_secs(&t), 10);
        assert_eq!(ConnState::Udp { stream: false }.timeout_secs(&t), 30);
        assert_eq!(ConnState::Udp { stream: true }.timeout_secs(&t), 180);
        assert_eq!(ConnState::Icmp.timeout_secs(&t), 30);
        assert_eq!(ConnState::Other.timeout_secs(&t), 600);
        let c = Timeouts {
            tcp_established: 5,
            udp: 100,
            udp_stream: 10,
            icmp: 0,
            other: 1,
        }
        .clamped();
        assert_eq!(
            (c.tcp_established, c.udp, c.udp_stream, c.icmp, c.other),
            (60, 60, 60, 1, 600)
        );
    }

    #[test]
    fn untracked_rule() {
        let open = SgFacts {
            proto: IpProtocol::Tcp,
            allowed_by_any_peer_rule: true,
            opposite_allows_all_from_any: true,
            through_tracking_component: false,
        };
        assert!(is_untracked(&open));
        assert!(is_untracked(&SgFacts {
            proto: IpProtocol::Udp,
            ..open
        }));
        assert!(
            !is_untracked(&SgFacts {
                proto: IpProtocol::Icmp,
                ..open
            }),
            "ICMP is always tracked"
        );
        assert!(!is_untracked(&SgFacts {
            proto: IpProtocol::Unknown(47),
            ..open
        }));
        assert!(!is_untracked(&SgFacts {
            allowed_by_any_peer_rule: false,
            ..open
        }));
        assert!(!is_untracked(&SgFacts {
            opposite_allows_all_from_any: false,
            ..open
        }));
        assert!(!is_untracked(&SgFacts {
            through_tracking_component: true,
            ..open
        }));
    }
}
