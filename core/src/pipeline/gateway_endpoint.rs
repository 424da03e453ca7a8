//! Gateway endpoints (S3, DynamoDB): a route target with no security group, no NACL of its own
//! and no translation. DynamoDB's counts as a tracking component (§5).

use super::{Cx, Stage, Step, Tracer, Verdict};
use crate::snapshot::{EndpointIdx, SubnetIdx};

impl<T: Tracer> Cx<'_, T> {
    /// To gateway endpoint `ep`, leaving `subnet`.
    #[inline]
    pub(super) fn gateway_endpoint(&mut self, ep: EndpointIdx, subnet: SubnetIdx) -> Step<Verdict> {
        self.nacl(subnet, true)?;
        self.tr.stage(Stage::GatewayEndpoint { endpoint: ep });
        let e = self.snap.endpoints.get(ep);
        self.tracking_component |= e.is_some_and(|e| e.always_tracked());
        self.out(e.and_then(|e| e.port))
    }
}
