//! NAT64 on the NAT gateway: a route `64:ff9b::/96 → nat-…` sends an IPv6-only instance's TCP,
//! UDP and ICMPv6 echo to the IPv4 address embedded in the destination; the gateway binds it
//! (the same bindings as its IPv4 NAT: ports 1024–65535, 55,000 per destination, 350 s idle),
//! translates the packet to IPv4 per RFC 7915 with its Elastic IP (a private NAT gateway: its
//! private address) as source, and replies back to IPv6 from `64:ff9b::<IPv4>`. ICMP errors
//! about its flows are translated with their quote (RFC 7915): an ICMPv4 error from the IPv4
//! side about a packet the gateway sent goes to the IPv6 host as the ICMPv6 error it maps to,
//! and an ICMPv6 error the IPv6 host sends about a packet it received through the gateway goes
//! to the IPv4 host as ICMPv4, from the gateway's address. What cannot be translated is
//! refused before anything is bound or rewritten.

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict, Xlat};
use crate::flow::NatOut;
use crate::flow::nat::NatFlow;
use crate::snapshot::{NatIdx, SubnetIdx, Target};
use crate::wire::{self, Field, IpProtocol, PacketMeta, Quoted, icmp, xlat46};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl<T: Tracer> Cx<'_, T> {
    /// An IPv6 packet routed to NAT gateway `n` from `subnet`: NAT64 to the embedded IPv4
    /// address, then the NAT subnet's route table.
    #[inline]
    pub(super) fn via_nat64(&mut self, n: NatIdx, subnet: SubnetIdx) -> Step<Verdict> {
        let snap = self.snap;
        self.tracking_component = true;
        let nat_subnet = snap.nat_gateways[n].subnet;
        self.tr.stage(Stage::NatGateway { nat: n });
        let (IpAddr::V6(src6), IpAddr::V6(dst6)) = (self.m.src, self.m.dst) else {
            return Err(DropReason::UnsupportedProtocol);
        };
        let Some(dst) = xlat46::embedded_v4(dst6) else {
            return Err(DropReason::UnsupportedProtocol);
        };
        if self.m.fragment {
            return Err(DropReason::NatFragment);
        }
        let error = self.m.proto == IpProtocol::Icmpv6 && icmp::v6::is_error(self.m.icmp_type);
        if !error
            && (!xlat46::translatable_6to4(&self.m) || self.m.icmp_type == icmp::v6::ECHO_REPLY)
        {
            return Err(DropReason::UnsupportedProtocol);
        }
        if nat_subnet != subnet {
            self.nacl(subnet, true)?;
            self.nacl(nat_subnet, false)?;
        }
        if error {
            self.nat64_error_outbound(n, src6, dst)?;
            return self.nat64_onward(nat_subnet);
        }
        let proto = match self.m.proto {
            IpProtocol::Icmpv6 => IpProtocol::Icmp,
            p => p,
        };
        let (sport, dport) = match proto {
            IpProtocol::Icmp => (self.m.icmp_id, 0),
            _ => (self.m.sport, self.m.dport),
        };
        let flow = NatFlow {
            src: Ipv4Addr::UNSPECIFIED,
            sport,
            dst,
            dport,
            proto,
        };
        let nat = &snap.nat_gateways[n];
        let addrs = if nat.public_ips.is_empty() {
            &nat.private_ips
        } else {
            &nat.public_ips
        };
        let (addr, port) =
            match self
                .flows
                .nat()
                .outbound64(src6, &flow, addrs, self.m.tcp_flags, self.rx.now)
            {
                NatOut::Translate { addr, port, .. } => (addr, port),
                NatOut::IdleTimedOut => return Err(DropReason::NatIdleTimeout),
                r @ (NatOut::PortAllocation | NatOut::TableFull) => {
                    return Err(self.nat_refused(n, (IpAddr::V4(dst), flow.dport), r));
                }
            };
        let before = self.m;
        let len = wire::xlat46::v6_to_v4(self.buf, &self.m, addr, port, dst)
            .ok_or(DropReason::UnsupportedProtocol)?;
        self.m = wire::parse(&self.buf[..len]).map_err(DropReason::Malformed)?;
        self.tr.stage(Stage::Translate {
            by: Xlat::NatGateway(n),
            field: Field::Src,
            from: (before.src, sport),
            to: (IpAddr::V4(addr), port),
        });
        self.tr.stage(Stage::Translate {
            by: Xlat::NatGateway(n),
            field: Field::Dst,
            from: (before.dst, dport),
            to: (IpAddr::V4(dst), dport),
        });
        self.nat64_onward(nat_subnet)
    }

    /// A translated packet's way on from the NAT gateway: its subnet's route table.
    #[inline]
    fn nat64_onward(&mut self, nat_subnet: SubnetIdx) -> Step<Verdict> {
        match self.route(nat_subnet)? {
            Target::Igw => {
                self.nacl(nat_subnet, true)?;
                self.out(self.snap.internet_port)
            }
            Target::Local => self.deliver_to(self.m.dst, Some(nat_subnet)),
            _ => Err(DropReason::NoRoute),
        }
    }

    /// An ICMPv6 error IPv6 host `src6` sends to `64:ff9b::<dst>` about a packet it received
    /// through NAT gateway `n`: found by its quote in the gateway's bindings (looked up, never
    /// allocated), translated to ICMPv4 from the gateway's address to `dst`, its quote as the
    /// IPv4 host sent it. An error about no flow of the gateway, or one RFC 7915 does not map,
    /// is refused (`UNSUPPORTED_PROTOCOL`) with nothing rewritten.
    #[cold]
    fn nat64_error_outbound(&mut self, n: NatIdx, src6: Ipv6Addr, dst: Ipv4Addr) -> Step {
        let q = xlat46::quoted_v6(self.buf, &self.m).ok_or(DropReason::UnsupportedProtocol)?;
        let remote = xlat46::embedded_v4(q.src).ok_or(DropReason::UnsupportedProtocol)?;
        if q.dst != src6 {
            // Only the host the quoted packet was for speaks about it.
            return Err(DropReason::UnsupportedProtocol);
        }
        let flow = NatFlow {
            src: Ipv4Addr::UNSPECIFIED,
            sport: q.dport,
            dst: remote,
            dport: q.sport,
            proto: q.proto,
        };
        let (addr, port) = self
            .flows
            .nat()
            .binding64(src6, &flow, self.rx.now)
            .ok_or(DropReason::UnsupportedProtocol)?;
        let before = self.m;
        let len = xlat46::icmp_error_6to4(self.buf, &self.m, &q, addr, dst, remote, addr, port)
            .ok_or(DropReason::UnsupportedProtocol)?;
        self.m = wire::parse(&self.buf[..len]).map_err(DropReason::Malformed)?;
        self.trace_error_xlat(
            Xlat::NatGateway(n),
            &before,
            (IpAddr::V4(addr), IpAddr::V4(dst)),
            ((IpAddr::V6(q.dst), q.dport), (IpAddr::V4(addr), port)),
        );
        Ok(())
    }

    /// Reports an ICMP error translated across families: its new source and destination
    /// (`to`), and its quote's inside end `quoted.0 → quoted.1`.
    fn trace_error_xlat(
        &mut self,
        by: Xlat,
        before: &PacketMeta,
        to: (IpAddr, IpAddr),
        quoted: ((IpAddr, u16), (IpAddr, u16)),
    ) {
        for (field, from, to) in [
            (Field::Src, before.src, to.0),
            (Field::Dst, before.dst, to.1),
        ] {
            self.tr.stage(Stage::Translate {
                by,
                field,
                from: (from, 0),
                to: (to, 0),
            });
        }
        self.tr.stage(Stage::TranslateQuoted {
            by,
            from: quoted.0,
            to: quoted.1,
        });
    }

    /// An ICMPv4 error from `remote` about a packet NAT gateway `n` sent for IPv6 host
    /// `inside:iport` (quote `q`): translated to the ICMPv6 error it maps to, from
    /// `64:ff9b::<remote>`, its quote as the IPv6 host sent it. One RFC 7915 does not map is
    /// refused (`UNSUPPORTED_PROTOCOL`) with nothing rewritten.
    #[cold]
    pub(super) fn nat64_error_inbound(
        &mut self,
        n: NatIdx,
        q: &Quoted,
        remote: Ipv4Addr,
        inside: Ipv6Addr,
        iport: u16,
    ) -> Step<Verdict> {
        let nat_subnet = self.snap.nat_gateways[n].subnet;
        let before = self.m;
        let from = xlat46::synthesize(remote);
        let len = xlat46::icmp_error_4to6(
            self.buf,
            &self.m,
            q,
            from,
            inside,
            inside,
            iport,
            xlat46::synthesize(q.dst),
        )
        .ok_or(DropReason::UnsupportedProtocol)?;
        self.m = wire::parse(&self.buf[..len]).map_err(DropReason::Malformed)?;
        self.trace_error_xlat(
            Xlat::NatGateway(n),
            &before,
            (IpAddr::V6(from), IpAddr::V6(inside)),
            (
                (IpAddr::V4(q.src), q.meta.nat_ports().0),
                (IpAddr::V6(inside), iport),
            ),
        );
        self.deliver_to(IpAddr::V6(inside), Some(nat_subnet))
    }

    /// A reply from `remote:rport` to NAT gateway `n` whose binding's inside host is the IPv6
    /// `inside:iport`: translated back to IPv6 from `64:ff9b::<remote>`.
    #[inline]
    pub(super) fn nat64_inbound(
        &mut self,
        n: NatIdx,
        remote: Ipv4Addr,
        inside: Ipv6Addr,
        iport: u16,
    ) -> Step<Verdict> {
        let nat_subnet = self.snap.nat_gateways[n].subnet;
        let before = self.m;
        let from = xlat46::synthesize(remote);
        let len = wire::xlat46::v4_to_v6(self.buf, &self.m, from, inside, iport)
            .ok_or(DropReason::UnsupportedProtocol)?;
        self.m = wire::parse(&self.buf[..len]).map_err(DropReason::Malformed)?;
        let port = |m: &wire::PacketMeta, src: bool| match (m.proto.is_icmp(), src) {
            (true, _) => m.icmp_id,
            (false, true) => m.sport,
            (false, false) => m.dport,
        };
        self.tr.stage(Stage::Translate {
            by: Xlat::NatGateway(n),
            field: Field::Src,
            from: (before.src, port(&before, true)),
            to: (IpAddr::V6(from), port(&self.m, true)),
        });
        self.tr.stage(Stage::Translate {
            by: Xlat::NatGateway(n),
            field: Field::Dst,
            from: (before.dst, port(&before, false)),
            to: (IpAddr::V6(inside), iport),
        });
        self.deliver_to(IpAddr::V6(inside), Some(nat_subnet))
    }
}
