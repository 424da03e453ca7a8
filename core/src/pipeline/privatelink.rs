//! Interface endpoints (PrivateLink): a consumer's TCP connection to the endpoint ENI goes to
//! one service target (by flow hash), its source translated to a load-balancer address as the
//! provider sees it; the provider's replies come back as if from the endpoint ENI. Bindings
//! live in the flow table; the provider cannot open connections. The family is kept: an
//! endpoint carries the families of its `IpAddressType` (ipv4, dualstack, ipv6), an IPv6
//! consumer reaching an IPv6 target from an IPv6 load-balancer address; a packet of a family the
//! endpoint does not carry (IPv6 to an ipv4 endpoint) is dropped `NO_SERVICE_TARGET` before
//! anything is bound or rewritten.

use super::{Cx, DropReason, Step, Tracer, Verdict, Xlat};
use crate::flow::privatelink::{PlError, PlFlow};
use crate::snapshot::EndpointIdx;
use crate::wire::{Field, IpProtocol};

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
        // Only targets and load-balancer addresses of the packet's own family: none where the
        // endpoint does not carry it, and the packet is refused before anything is bound or
        // rewritten (never half-translated).
        let v6 = self.m.dst.is_ipv6();
        let (targets, lbs) = e.targets_of(v6);
        if targets.is_empty() || lbs.is_empty() || self.m.src.is_ipv6() != v6 {
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
            .outbound(&f, targets, lbs, self.rx.now)
            .map_err(|e| match e {
                PlError::PortAllocation => DropReason::NatPortAllocation,
                PlError::TableFull => DropReason::FlowTableFull,
                PlError::NoTarget => DropReason::NoServiceTarget,
            })?;
        if o.target.0.is_ipv6() != v6 || o.lb.is_ipv6() != v6 {
            return Err(DropReason::NoServiceTarget);
        }
        self.translate(
            Xlat::PrivateLink(ep),
            Field::Dst,
            o.target.0,
            Some(o.target.1),
        );
        self.translate(Xlat::PrivateLink(ep), Field::Src, o.lb, Some(o.lb_port));
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
        let (endpoint, consumer) = (b.endpoint, b.consumer);
        let v6 = self.m.dst.is_ipv6();
        if endpoint.is_ipv6() != v6 || consumer.is_ipv6() != v6 {
            return Err(DropReason::UnsupportedProtocol);
        }
        self.translate(Xlat::PrivateLink(ep), Field::Src, endpoint, Some(b.port));
        self.translate(Xlat::PrivateLink(ep), Field::Dst, consumer, Some(b.cport));
        let from_subnet = self
            .snap
            .eni_by_ip
            .get(&endpoint)
            .map(|&x| self.snap.enis[x].subnet);
        self.deliver_to(consumer, from_subnet)
    }
}
