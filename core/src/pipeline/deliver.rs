//! Delivery to an ENI — the NACLs of the subnets crossed, the ENI's destination check and
//! ingress groups, the interface endpoint behind it if any — and the last step of every
//! forwarded packet: recording the flows its groups allowed, then out a port.

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict};
use crate::snapshot::PortIdx;
use crate::snapshot::{EniIdx, SubnetIdx};
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// Delivers to the ENI that has address `addr`, or drops (`NO_ENI_AT_DESTINATION`).
    #[inline]
    pub(super) fn deliver_to(
        &mut self,
        addr: IpAddr,
        from_subnet: Option<SubnetIdx>,
    ) -> Step<Verdict> {
        let Some(&e) = self.snap.eni_by_ip.get(&addr) else {
            // A reply to a NAT gateway's private address (a private NAT gateway's translation).
            if let IpAddr::V4(a) = addr
                && let Some(n) = self
                    .snap
                    .nat_gateways
                    .position(|n| n.private_ips.contains(&a))
            {
                if let Some(s) = from_subnet.filter(|&s| s != self.snap.nat_gateways[n].subnet) {
                    self.nacl(s, true)?;
                }
                return self.nat_inbound(n, a);
            }
            return Err(DropReason::NoEniAtDestination);
        };
        self.deliver(e, from_subnet)
    }

    /// Delivers to ENI `e`. `from_subnet` is the subnet the packet leaves (None when it comes
    /// from outside the VPC): NACLs apply only when it crosses a subnet boundary.
    #[inline]
    pub(super) fn deliver(&mut self, e: EniIdx, from_subnet: Option<SubnetIdx>) -> Step<Verdict> {
        let snap = self.snap;
        let eni = &snap.enis[e];
        match from_subnet {
            Some(s) if s == eni.subnet => self.tr.stage(Stage::SameSubnet { subnet: s }),
            Some(s) => {
                self.nacl(s, true)?;
                self.nacl(eni.subnet, false)?;
            }
            None => self.nacl(eni.subnet, false)?,
        }
        if eni.src_dst_check && !eni.addrs.contains(&self.m.dst) {
            self.tr.stage(Stage::SrcDstCheck {
                eni: e,
                outbound: false,
                ok: false,
            });
            return Err(DropReason::SrcDstCheck);
        }
        self.sg(e, false)?;
        // From a service network, even what the rules allow must answer a flow of the VPC's.
        if self.from_service && !self.solicited(e) {
            self.tr.stage(Stage::Unsolicited { eni: e });
            return Err(DropReason::Unsolicited);
        }
        match eni.endpoint {
            Some(ep) => {
                self.tr.stage(Stage::InterfaceEndpoint {
                    endpoint: ep,
                    eni: e,
                });
                self.privatelink_outbound(ep)?;
                self.out(snap.endpoints.get(ep).and_then(|x| x.port))
            }
            None => self.out(eni.port),
        }
    }

    /// Forwards out of `port` (`NO_PORT` if nothing is attached), recording the flows the
    /// groups on the way allowed.
    #[inline]
    pub(super) fn out(&mut self, port: Option<PortIdx>) -> Step<Verdict> {
        let p = port.ok_or(DropReason::NoPort)?;
        self.commit_flows()?;
        self.tr.stage(Stage::Deliver(p));
        Ok(Verdict::Forward {
            egress: p,
            len: self.m.len,
        })
    }
}
