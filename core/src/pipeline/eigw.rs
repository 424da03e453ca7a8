//! The egress-only internet gateway: IPv6 out to the internet untranslated, stateful — a
//! connection opened from inside is recorded, and only its replies come back in; a connection
//! from the internet to an address whose subnet routes the internet through it is dropped
//! (`EGRESS_ONLY`). Its state lives in the flow table's connection table under a zone no ENI
//! has ([`EIGW_ZONE`]), with AWS's default idle timeouts (how long AWS keeps it is undocumented:
//! assumed).

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict};
use crate::flow::{Admit, FlowKey, Timeouts, Tuple, Zone};
use crate::snapshot::{EniIdx, SubnetIdx, Target};
use std::net::IpAddr;

/// The flow-table zone of the egress-only gateway's connections: [`Zone::NONE`], which no ENI
/// is given.
pub const EIGW_ZONE: Zone = Zone::NONE;

impl<T: Tracer> Cx<'_, T> {
    /// Out through the egress-only gateway from `subnet`: its NACL, then the connection is
    /// recorded once the packet leaves.
    #[inline]
    pub(super) fn eigw_outbound(&mut self, subnet: SubnetIdx) -> Step<Verdict> {
        if !self.m.dst.is_ipv6() || self.snap.eigw_id.is_none() {
            return Err(DropReason::BlackholeRoute);
        }
        self.nacl(subnet, true)?;
        self.tr.stage(Stage::EgressOnly { reply: false });
        let v = self.out(self.snap.internet_port)?;
        let (key, side) = FlowKey::from_tuple(EIGW_ZONE.0, &Tuple::of(&self.m));
        // A live connection takes the packet as `admit` would apply it (a touch: through the
        // worker's cache on the batch path); only a new one is admitted.
        if self.touch_key(key, side).is_some() {
            return Ok(v);
        }
        let a = Admit {
            tcp_flags: self.m.tcp_flags,
            tracked: true,
            zones: [EIGW_ZONE, Zone::NONE],
            timeouts: Timeouts::default(),
        };
        self.flows
            .conns()
            .admit(&key, side, &a, self.rx.now)
            .map_err(|_| DropReason::FlowTableFull)?;
        Ok(v)
    }

    /// From the internet to the IPv6 address of ENI `e`: a reply of a connection the
    /// egress-only gateway let out passes; otherwise, when `e`'s subnet sends the source through
    /// the egress-only gateway, the connection is refused; else the internet gateway (if
    /// attached) lets it in, untranslated.
    #[inline]
    pub(super) fn inbound_v6(&mut self, e: EniIdx) -> Step<Verdict> {
        let snap = self.snap;
        if snap.eigw_id.is_some() {
            let (key, side) = FlowKey::from_tuple(EIGW_ZONE.0, &Tuple::of(&self.m));
            if self.touch_key(key, side).is_some() {
                self.tr.stage(Stage::EgressOnly { reply: true });
                return self.deliver(e, None);
            }
            let rt = &snap.route_tables[snap.subnets[snap.enis[e].subnet].route_table];
            let back = rt.lookup(self.m.src).map(|r| rt.routes[r as usize].target);
            if back == Some(Target::Eigw) || snap.igw_id.is_none() {
                self.tr.stage(Stage::EgressOnlyRefused);
                return Err(DropReason::EgressOnly);
            }
        }
        if snap.igw_id.is_none() {
            return Err(DropReason::NoPublicIpMapping);
        }
        self.deliver(e, None)
    }

    /// From the internet to an IPv6 address: the ENI that has it, or `NO_ENI_AT_DESTINATION`.
    #[inline]
    pub(super) fn ingress_internet_v6(&mut self, dst: IpAddr) -> Step<Verdict> {
        let &e = self
            .snap
            .eni_by_ip
            .get(&dst)
            .ok_or(DropReason::NoEniAtDestination)?;
        self.inbound_v6(e)
    }
}
