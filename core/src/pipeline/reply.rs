//! What is sent back instead of a silent drop, chosen in one place from the drop reason once
//! the path has ended: the NAT gateway's TCP RST for a segment of a connection that idled out,
//! and, in router mode only, ICMP errors for what a router reports (time exceeded, no route).
//! The packets are emitted by the wire layer over the dropped packet's buffer.

use super::{Cx, DropReason, ReplyKind, Tracer, Verdict};
use crate::wire::{IpProtocol, emit, icmp};
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// The reply to a packet dropped for `reason`, if one is sent.
    #[inline]
    pub(super) fn reply(&mut self, reason: DropReason) -> Option<Verdict> {
        match reason {
            DropReason::NatIdleTimeout => self.tcp_rst(reason),
            DropReason::TtlExceeded | DropReason::NoRoute | DropReason::BlackholeRoute
                if self.snap.router_mode =>
            {
                self.icmp_error(reason)
            }
            _ => None,
        }
    }

    #[inline]
    fn sent(&self, len: usize, reason: DropReason, kind: ReplyKind) -> Verdict {
        Verdict::Reply {
            egress: self.rx.ingress,
            len,
            reason,
            kind,
        }
    }

    /// Replaces the packet, as it arrived, by a TCP RST to its sender.
    #[cold]
    fn tcp_rst(&mut self, reason: DropReason) -> Option<Verdict> {
        let len = emit::tcp_rst_in_place(self.buf, &self.orig)?;
        Some(self.sent(len, reason, ReplyKind::TcpRst))
    }

    /// Router mode: an ICMPv4 error from the VPC router back to the sender. Never about an
    /// ICMP message other than an echo request (no error about an error). IPv4 only, as
    /// before: the wire layer emits ICMPv6 errors too, but which address a VPC router answers
    /// IPv6 from is not decided yet.
    #[cold]
    fn icmp_error(&mut self, reason: DropReason) -> Option<Verdict> {
        let (ty, code) = match reason {
            DropReason::TtlExceeded => (icmp::v4::TIME_EXCEEDED, icmp::v4::CODE_TTL_EXCEEDED),
            _ => (icmp::v4::DEST_UNREACHABLE, icmp::v4::CODE_NET_UNREACHABLE),
        };
        let m = self.m;
        if !m.src.is_ipv4()
            || (m.proto == IpProtocol::Icmp && m.icmp_type != icmp::v4::ECHO_REQUEST)
        {
            return None;
        }
        // The VPC router's address in the first VPC CIDR.
        let router = match self.snap.vpc_cidrs.first() {
            Some(ipnet::IpNet::V4(n)) => crate::config::aws::router(*n),
            _ => return None,
        };
        let len = emit::icmp_error(self.buf, &m, IpAddr::V4(router), ty, code)?;
        Some(self.sent(len, reason, ReplyKind::IcmpError))
    }
}
