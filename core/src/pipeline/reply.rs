//! What is sent back instead of a silent drop, chosen in one place from the drop reason once
//! the path has ended: the NAT gateway's TCP RST for a segment of a connection that idled out,
//! and, in router mode only, ICMP / ICMPv6 errors for what a router reports (time exceeded, no
//! route).
//! The packets are emitted by the wire layer over the dropped packet's buffer.

use super::{Cx, DropReason, ReplyKind, Tracer, Verdict};
use crate::snapshot::PortKind;
use crate::wire::{Field, IpProtocol, emit, icmp};
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

    /// Router mode: an ICMP (IPv4) or ICMPv6 error from the VPC router back to the sender.
    /// Never about an ICMP message other than an echo request (no error about an error).
    #[cold]
    fn icmp_error(&mut self, reason: DropReason) -> Option<Verdict> {
        let m = self.m;
        let v6 = m.src.is_ipv6();
        let (ty, code, echo) = match (v6, reason) {
            (false, DropReason::TtlExceeded) => (
                icmp::v4::TIME_EXCEEDED,
                icmp::v4::CODE_TTL_EXCEEDED,
                icmp::v4::ECHO_REQUEST,
            ),
            (false, _) => (
                icmp::v4::DEST_UNREACHABLE,
                icmp::v4::CODE_NET_UNREACHABLE,
                icmp::v4::ECHO_REQUEST,
            ),
            (true, DropReason::TtlExceeded) => (
                icmp::v6::TIME_EXCEEDED,
                icmp::v6::CODE_HOP_LIMIT_EXCEEDED,
                icmp::v6::ECHO_REQUEST,
            ),
            (true, _) => (
                icmp::v6::DEST_UNREACHABLE,
                icmp::v6::CODE_NO_ROUTE,
                icmp::v6::ECHO_REQUEST,
            ),
        };
        if m.proto == IpProtocol::icmp_for(v6) && m.icmp_type != echo {
            return None;
        }
        if self.orig.src.is_ipv6() != v6 {
            // NAT64 translated it: the router behind the gateway would answer in IPv4 and the
            // gateway translate that back (RFC 7915); not modelled, so no half-made error.
            return None;
        }
        self.untranslate();
        let m = self.m;
        let router = self.router_address(v6)?;
        let len = emit::icmp_error(self.buf, &m, router, ty, code)?;
        Some(self.sent(len, reason, ReplyKind::IcmpError))
    }

    /// A packet that expires behind a gateway that rewrote it (the NAT gateway's Elastic IP as
    /// source, say): that router answers the rewritten packet, and the gateway translates its
    /// answer back, destination and quoted packet, as it does for errors from the internet. The
    /// sender gets the same thing if the rewrite is undone before the error is made.
    fn untranslate(&mut self) {
        let Some(by) = self.translated_by else {
            return;
        };
        let (o, m) = (self.orig, self.m);
        if let IpAddr::V4(src) = o.src
            && (m.src != o.src || m.nat_ports().0 != o.nat_ports().0)
        {
            self.translate(by, Field::Src, src, Some(o.nat_ports().0));
        }
        if let IpAddr::V4(dst) = o.dst
            && (m.dst != o.dst || m.dport != o.dport)
        {
            let port = (o.proto != IpProtocol::Icmp).then_some(o.dport);
            self.translate(by, Field::Dst, dst, port);
        }
    }

    /// The VPC router's address the errors come from: base + 1 of the first VPC CIDR (IPv4);
    /// for IPv6, base + 1 of the sending ENI's subnet's first IPv6 CIDR — the address AWS
    /// reserves in every subnet for the router — else of the VPC's first IPv6 CIDR.
    fn router_address(&self, v6: bool) -> Option<IpAddr> {
        let snap = self.snap;
        if !v6 {
            return match snap.vpc_cidrs.first() {
                Some(ipnet::IpNet::V4(n)) => Some(IpAddr::V4(crate::config::aws::router(*n))),
                _ => None,
            };
        }
        let subnet = match snap.ports.get(self.rx.ingress).map(|p| p.kind) {
            Some(PortKind::Eni(e)) => Some(&snap.subnets[snap.enis[e].subnet]),
            _ => None,
        };
        let first_v6 = |c: &[ipnet::IpNet]| {
            c.iter().find_map(|n| match n {
                ipnet::IpNet::V6(n) => Some(*n),
                ipnet::IpNet::V4(_) => None,
            })
        };
        let net = subnet
            .and_then(|s| first_v6(&s.cidrs))
            .or_else(|| first_v6(&snap.vpc_cidrs))?;
        Some(IpAddr::V6(crate::config::aws::router_v6(net)))
    }
}
