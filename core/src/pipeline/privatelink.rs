//! Interface endpoints (PrivateLink): a consumer's TCP connection to the endpoint ENI goes to
//! one service target (by flow hash), its source translated to a load-balancer address as the
//! provider sees it; the provider's replies come back as if from the endpoint ENI. Bindings
//! live in the flow table; the provider cannot open connections. IPv4 only: an IPv6 packet to
//! an endpoint ENI is dropped `NO_SERVICE_TARGET` (dual-stack endpoints are not modelled).

use super::{Cx, DropReason, Step, Tracer, Verdict, Xlat};
use crate::flow::privatelink::{PlError, PlFlow};
use crate::snapshot::EndpointIdx;
use crate::wire::{Field, IpProtocol};
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// Consumer → interface endpoint `ep`: one service target by flow hash, and the source
    /// translated to a load-balancer address, as the provider's targets see it.
    #[inline]
    pub(super) fn privatelink_outbound(&mut self, ep: EndpointIdx) -> Step {
        self.tracking_component = true;
        if self.m.proto != IpProtocol::Tcp || !self.m.has_ports() {
            return Err(DropReason::UnsupportedProtocol);
        }
        let e = &self.snap.endpoints[ep];
        // The translation rewrites IPv4 addresses only: an IPv6 packet to an endpoint ENI's IPv6
        // address has no service target it could be sent to, and is refused before anything
        // is bound or rewritten (never half-translated).
        if !self.m.dst.is_ipv4() {
            return Err(DropReason::NoServiceTarget);
        }
        let f = PlFlow {
            src: self.m.src,
            sport: self.m.sport,
            endpoint: self.m.dst,
            port: self.m.dport,
            proto: self.m.proto,
            zone: 0,
        };
        let o = self
            .flows
            .privatelink()
            .outbound(&f, e.targets(), e.lb_addrs(), self.rx.now)
            .map_err(|e| match e {
                PlError::PortAllocation => DropReason::NatPortAllocation,
                PlError::TableFull => DropReason::FlowTableFull,
                PlError::NoTarget => DropReason::NoServiceTarget,
            })?;
        let (IpAddr::V4(target), IpAddr::V4(lb)) = (o.target.0, o.lb) else {
            return Err(DropReason::UnsupportedProtocol);
        };
        self.translate(Xlat::PrivateLink(ep), Field::Dst, target, Some(o.target.1));
        self.translate(Xlat::PrivateLink(ep), Field::Src, lb, Some(o.lb_port));
        Ok(())
    }

    /// Provider target → load balancer of endpoint `ep`: back to the consumer as if from the
    /// endpoint ENI, or UNSOLICITED (the provider cannot open connections).
    #[inline]
    pub(super) fn privatelink_inbound(&mut self, ep: EndpointIdx) -> Step<Verdict> {
        self.tracking_component = true;
        let b = self
            .flows
            .privatelink()
            .inbound(
                (self.m.src, self.m.sport),
                self.m.dst,
                self.m.dport,
                self.m.proto,
                self.rx.now,
            )
            .ok_or(DropReason::Unsolicited)?;
        let (IpAddr::V4(endpoint), IpAddr::V4(consumer)) = (b.endpoint, b.consumer) else {
            return Err(DropReason::UnsupportedProtocol);
        };
        self.translate(Xlat::PrivateLink(ep), Field::Src, endpoint, Some(b.port));
        self.translate(Xlat::PrivateLink(ep), Field::Dst, consumer, Some(b.cport));
        let from_subnet = self
            .snap
            .eni_by_ip
            .get(&IpAddr::V4(endpoint))
            .map(|&x| self.snap.enis[x].subnet);
        self.deliver_to(IpAddr::V4(consumer), from_subnet)
    }
}
