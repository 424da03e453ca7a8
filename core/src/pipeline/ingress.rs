//! Where a packet enters the VPC: from an instance (its ENI's source/destination check and
//! egress groups, then its subnet's route table), from the internet (only addresses the
//! internet gateway or a NAT gateway maps), or from a service network (PrivateLink replies).

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict};
use crate::policy::in_any;
use crate::snapshot::RESERVED_DESTINATIONS;
use crate::snapshot::{EndpointIdx, EniIdx};
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
        if in_any(&RESERVED_DESTINATIONS, self.m.dst) {
            self.tr.stage(Stage::Reserved);
            return Err(DropReason::ReservedDestination);
        }
        self.sg(e, true)?;
        let target = self.route(eni.subnet)?;
        self.forward_to(target, eni.subnet)
    }

    /// From the internet: only public addresses the internet gateway or a NAT gateway maps.
    /// IPv6 addresses are global: no translation.
    #[inline]
    pub(super) fn ingress_internet(&mut self) -> Step<Verdict> {
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
        self.deliver_to(self.m.dst, None)
    }
}
