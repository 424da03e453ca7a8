//! Network ACLs: stateless, evaluated where a packet crosses a subnet boundary (out of the
//! subnet it leaves, into the subnet it enters), first matching rule by number.

use super::{Cx, DropReason, Stage, Step, Tracer};
use crate::snapshot::SubnetIdx;

impl<T: Tracer> Cx<'_, T> {
    /// The NACL of `subnet`, in direction `outbound`.
    #[inline]
    pub(super) fn nacl(&mut self, subnet: SubnetIdx, outbound: bool) -> Step {
        let s = &self.snap.subnets[subnet];
        let (allow, rule, pos) = self.snap.nacls[s.nacl].eval(outbound, &self.m);
        self.tr.stage(Stage::Nacl {
            nacl: s.nacl,
            subnet,
            outbound,
            rule,
            pos,
            allow,
        });
        if allow {
            Ok(())
        } else {
            Err(DropReason::NaclDeny)
        }
    }
}
