//! The NAT gateway: source translation of TCP, UDP and ICMP from private subnets to one of its
//! addresses, through the flow table's NAT bindings; replies (and ICMP errors about translated
//! packets, found by what they quote) back to the inside host. It sits in a subnet of its own:
//! a packet crosses that subnet's NACLs and route table on the way.

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict, Xlat};
use crate::flow::NatOut;
use crate::flow::nat::NatFlow;
use crate::snapshot::Target;
use crate::snapshot::{NatIdx, SubnetIdx};
use crate::wire::{self, Field, IpProtocol, rewrite};
use std::net::{IpAddr, Ipv4Addr};

impl<T: Tracer> Cx<'_, T> {
    /// Through NAT gateway `n`: out of the source subnet, into and out of the NAT's subnet,
    /// then the NAT subnet's route table.
    #[inline]
    pub(super) fn via_nat(&mut self, n: NatIdx, subnet: SubnetIdx) -> Step<Verdict> {
        let snap = self.snap;
        if self.m.dst.is_ipv6() {
            return self.via_nat64(n, subnet);
        }
        let nat_subnet = snap.nat_gateways[n].subnet;
        self.tr.stage(Stage::NatGateway { nat: n });
        if !matches!(
            self.m.proto,
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp
        ) {
            return Err(DropReason::UnsupportedProtocol);
        }
        if self.m.fragment && self.m.proto != IpProtocol::Udp {
            return Err(DropReason::NatFragment);
        }
        if nat_subnet != subnet {
            self.nacl(subnet, true)?;
            self.nacl(nat_subnet, false)?;
        }
        self.nat_outbound(n)?;
        match self.route(nat_subnet)? {
            // A private NAT gateway's traffic routed to the internet gateway is dropped there.
            Target::Igw if snap.nat_gateways[n].public_ips.is_empty() => {
                Err(DropReason::NoPublicIp)
            }
            Target::Igw => {
                self.nacl(nat_subnet, true)?;
                self.out(snap.internet_port)
            }
            Target::Local => self.deliver_to(self.m.dst, Some(nat_subnet)),
            _ => Err(DropReason::NoRoute),
        }
    }

    /// NAT gateway `n`, inside → outside: source translation to one of its addresses. A TCP
    /// segment of a binding that idled out is dropped with `NAT_IDLE_TIMEOUT` (and answered
    /// with a RST: see `reply`).
    #[inline]
    fn nat_outbound(&mut self, n: NatIdx) -> Step {
        self.tracking_component = true;
        let nat = &self.snap.nat_gateways[n];
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.m.src, self.m.dst) else {
            return Err(DropReason::UnsupportedProtocol);
        };
        let (sport, dport) = self.m.nat_ports();
        let flow = NatFlow {
            src,
            sport,
            dst,
            dport,
            proto: self.m.proto,
        };
        let addrs = if nat.public_ips.is_empty() {
            &nat.private_ips
        } else {
            &nat.public_ips
        };
        match self
            .flows
            .nat()
            .outbound(&flow, addrs, self.m.tcp_flags, self.rx.now)
        {
            NatOut::Translate { addr, port, .. } => {
                self.translate(Xlat::NatGateway(n), Field::Src, addr, Some(port));
                Ok(())
            }
            NatOut::IdleTimedOut => Err(DropReason::NatIdleTimeout),
            r @ (NatOut::PortAllocation | NatOut::TableFull) => {
                Err(self.nat_refused(n, (IpAddr::V4(dst), dport), r))
            }
        }
    }

    /// A new flow the NAT gateway could not translate: says which of "no free port" and "no
    /// room" it was (and the drop reason).
    pub(super) fn nat_refused(&mut self, n: NatIdx, to: (IpAddr, u16), r: NatOut) -> DropReason {
        let no_port = r == NatOut::PortAllocation;
        self.tr.stage(Stage::NatRefused {
            nat: n,
            to,
            no_port,
            bound: u32::try_from(self.flows.nat().max_entries()).unwrap_or(u32::MAX),
        });
        if no_port {
            DropReason::NatPortAllocation
        } else {
            DropReason::FlowTableFull
        }
    }

    /// From the internet to NAT gateway `n`'s address `addr`: back to the inside host through
    /// the NAT subnet's NACLs, or UNSOLICITED (connections cannot be opened from outside).
    #[inline]
    pub(super) fn nat_inbound(&mut self, n: NatIdx, addr: Ipv4Addr) -> Step<Verdict> {
        self.tracking_component = true;
        let nat_subnet = self.snap.nat_gateways[n].subnet;
        self.tr.stage(Stage::NatGateway { nat: n });
        self.nacl(nat_subnet, false)?;
        let IpAddr::V4(remote) = self.m.src else {
            return Err(DropReason::Unsolicited);
        };
        // An ICMP error about a translated packet: found by the packet it quotes.
        if let Some(q) = wire::quoted_v4(self.buf, &self.m) {
            let (qsrc, qdst) = (q.src, q.dst);
            let (qsport, qdport) = q.meta.nat_ports();
            let (inside, iport) = match self
                .flows
                .nat()
                .inbound_any(qdst, qdport, qsrc, qsport, q.meta.proto, self.rx.now)
                .filter(|_| qsrc == addr)
                .ok_or(DropReason::Unsolicited)?
            {
                (IpAddr::V4(a), p) => (a, p),
                // About a NAT64 flow: translated to ICMPv6, its quote with it.
                (IpAddr::V6(a), p) => return self.nat64_error_inbound(n, &q, remote, a, p),
            };
            self.translate(Xlat::NatGateway(n), Field::Dst, inside, None);
            rewrite::set_quoted_src(self.buf, &self.m, &q, inside, iport);
            self.tr.stage(Stage::TranslateQuoted {
                by: Xlat::NatGateway(n),
                from: (IpAddr::V4(qsrc), qsport),
                to: (IpAddr::V4(inside), iport),
            });
            return self.deliver_to(IpAddr::V4(inside), Some(nat_subnet));
        }
        let (rport, nport) = match self.m.proto {
            IpProtocol::Icmp => (0, self.m.icmp_id),
            _ => (self.m.sport, self.m.dport),
        };
        let (inside, iport) = match self
            .flows
            .nat()
            .inbound_any(remote, rport, addr, nport, self.m.proto, self.rx.now)
            .ok_or(DropReason::Unsolicited)?
        {
            (IpAddr::V4(a), p) => (a, p),
            (IpAddr::V6(a), p) => return self.nat64_inbound(n, remote, a, p),
        };
        self.translate(Xlat::NatGateway(n), Field::Dst, inside, Some(iport));
        self.deliver_to(IpAddr::V4(inside), Some(nat_subnet))
    }
}
