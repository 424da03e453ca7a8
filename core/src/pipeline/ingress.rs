//! Where a packet enters the VPC: from an instance (its ENI's source/destination check and
//! egress groups, then its subnet's route table), from the internet (only addresses the
//! internet gateway or a NAT gateway maps), or from a service network (PrivateLink replies).

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict};
use crate::flow::{FlowKey, Tuple};
use crate::policy::in_any;
use crate::snapshot::RESERVED_DESTINATIONS;
use crate::snapshot::{EndpointIdx, EniIdx, Target};
use crate::wire::{self, IpProtocol, tcp};
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// From an instance behind ENI `e`.
    #[inline]
    pub(super) fn ingress_eni(&mut self, e: EniIdx) -> Step<Verdict> {
        let snap = self.snap;
        let eni = snap.enis.get(e).ok_or(DropReason::NoPort)?;
        let ok = !eni.src_dst_check || eni.addrs.contains(&self.m.src);
        self.tr.stage(Stage::SrcDstCheck {
            eni: e,
            outbound: true,
            ok,
        });
        if !ok {
            return Err(DropReason::SrcDstCheck);
        }
        if self.for_resolver() {
            return self.resolver(e);
        }
        if in_any(&RESERVED_DESTINATIONS, self.m.dst) {
            self.tr.stage(Stage::Reserved);
            return Err(DropReason::ReservedDestination);
        }
        self.sg(e, true)?;
        // Route tables decide only for traffic leaving the subnet: an ENI of the same subnet is
        // reached directly, whatever the table says about the subnet's own CIDR.
        if let Some(&d) = snap.eni_by_ip.get(&self.m.dst)
            && snap.enis[d].subnet == eni.subnet
            && self.route_target(eni.subnet) != Some(Target::Local)
        {
            return self.deliver(d, Some(eni.subnet));
        }
        let target = self.route(eni.subnet)?;
        self.forward_to(target, eni.subnet)
    }

    /// From the internet: only public addresses the internet gateway or a NAT gateway maps.
    /// IPv6 addresses are global: no translation.
    #[inline]
    pub(super) fn ingress_internet(&mut self) -> Step<Verdict> {
        if self.snap.igw_id.is_none() {
            // A detached internet gateway carries nothing.
            return Err(DropReason::NoPublicIpMapping);
        }
        match self.m.dst {
            IpAddr::V4(d) => match self.snap.eni_by_public.get(&d) {
                Some(&e) => self.igw_inbound(e),
                None => {
                    let n = self
                        .snap
                        .nat_gateways
                        .position(|n| n.public_ips.contains(&d))
                        .ok_or(DropReason::NoPublicIpMapping)?;
                    self.nat_inbound(n, d)
                }
            },
            IpAddr::V6(d) => self.ingress_internet_v6(IpAddr::V6(d)),
        }
    }

    /// From a service network back into the VPC: to an interface endpoint's load balancer, or
    /// to an ENI.
    #[inline]
    pub(super) fn ingress_service(&mut self, ep: EndpointIdx) -> Step<Verdict> {
        if let Some(e) = self.snap.endpoints.get(ep)
            && !e.is_gateway()
            && e.lb_addrs().contains(&self.m.dst)
        {
            return self.privatelink_inbound(ep);
        }
        self.from_service = true;
        self.deliver_to(self.m.dst, None)
    }

    /// Whether a packet from a service network (a gateway endpoint's service, a PrivateLink
    /// provider) to ENI `e` answers a flow the VPC opened: services answer, they never
    /// initiate. A flow `e`'s groups track; else (untracked flows, judged by the rules) a TCP
    /// segment that does not open a connection.
    #[inline]
    pub(super) fn solicited(&self, e: EniIdx) -> bool {
        let zone = self.snap.enis[e].zone;
        let (key, side) = FlowKey::from_tuple(zone.0, &Tuple::of(&self.m));
        if self.flows.conns().lookup(&key, side, self.rx.now).is_some() {
            return true;
        }
        if let Some(q) = wire::quoted_meta(self.buf, &self.m) {
            let (qkey, qside) = FlowKey::from_tuple(zone.0, &Tuple::of(&q));
            return self
                .flows
                .conns()
                .lookup(&qkey, qside, self.rx.now)
                .is_some();
        }
        let f = self.m.tcp_flags;
        self.m.proto == IpProtocol::Tcp && !(f & tcp::flags::SYN != 0 && f & tcp::flags::ACK == 0)
    }
}
