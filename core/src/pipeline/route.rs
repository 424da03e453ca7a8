//! The subnet's route table: longest-prefix match (the FIB was built at compile time), router
//! mode's TTL decrement, and the dispatch on the winning route's target.

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict};
use crate::snapshot::SubnetIdx;
use crate::snapshot::Target;
use crate::wire::rewrite;

impl<T: Tracer> Cx<'_, T> {
    /// Looks the destination up in the route table of `subnet`.
    #[inline]
    pub(super) fn route(&mut self, subnet: SubnetIdx) -> Step<Target> {
        let snap = self.snap;
        let table = snap.subnets[subnet].route_table;
        let rt = &snap.route_tables[table];
        let hit = self.route_lookup(table, self.m.dst);
        self.tr.stage(Stage::Route { table, route: hit });
        let r = hit.ok_or(DropReason::NoRoute)?;
        let t = rt.routes[r as usize].target;
        if t == Target::Blackhole {
            return Err(DropReason::BlackholeRoute);
        }
        if snap.router_mode {
            if self.m.ttl <= 1 {
                return Err(DropReason::TtlExceeded);
            }
            rewrite::decrement_ttl(self.buf, &self.m);
            self.m.ttl -= 1;
            self.tr.stage(Stage::TtlDecremented);
        }
        Ok(t)
    }

    /// The target the route table of `subnet` would choose, without reporting it.
    #[inline]
    pub(super) fn route_target(&self, subnet: SubnetIdx) -> Option<Target> {
        let table = self.snap.subnets[subnet].route_table;
        let rt = &self.snap.route_tables[table];
        self.route_lookup(table, self.m.dst)
            .map(|r| rt.routes[r as usize].target)
    }

    /// Acts on the route target chosen for a packet leaving `subnet`.
    #[inline]
    pub(super) fn forward_to(&mut self, t: Target, subnet: SubnetIdx) -> Step<Verdict> {
        match t {
            Target::Local => self.deliver_to(self.m.dst, Some(subnet)),
            Target::Eni(e) => self.deliver(e, Some(subnet)),
            Target::Igw => self.igw_outbound(subnet),
            Target::Eigw => self.eigw_outbound(subnet),
            Target::GatewayEndpoint(ep) => self.gateway_endpoint(ep, subnet),
            Target::Nat(n) => self.via_nat(n, subnet),
            Target::Blackhole => Err(DropReason::BlackholeRoute),
        }
    }
}
