//! Ports: what each attaches to (an instance's ENI, the internet, an endpoint's service side),
//! and the addresses each kind takes.

use super::super::{Errors, InterfaceType, PortAttachment};
use super::{EndpointIdx, EniIdx, IdxVec, Port, PortIdx, Scope};

/// Where a port attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// The instance behind an ENI.
    Eni(EniIdx),
    /// The internet beyond the internet gateway.
    Internet,
    /// The service network behind a VPC endpoint.
    Service(EndpointIdx),
}

pub(super) fn ports<'c>(s: &Scope<'c>, e: &mut Errors) -> IdxVec<PortIdx, Port<'c>> {
    let mut out = IdxVec::with_capacity(s.cfg.ports.len());
    for p in &s.cfg.ports {
        let id = p.port_id.as_str();
        let mut att = p.attachments();
        let (Some((field, target)), None) = (att.next(), att.next()) else {
            e.push(id, "PortId", "a port attaches to exactly one of NetworkInterfaceId, InternetGatewayId, VpcEndpointId");
            continue;
        };
        let Some(kind) = kind(s, id, field, target, e) else {
            continue;
        };
        match (kind, p.addresses.is_empty()) {
            (PortKind::Eni(_), false) => {
                e.push(id, "Addresses", "an ENI port uses the ENI's own addresses")
            }
            (PortKind::Internet | PortKind::Service(_), true) => e.push(
                id,
                "Addresses",
                "an internet or service port needs the addresses of its hosts",
            ),
            _ => {}
        }
        out.push(Port { cfg: p, kind });
    }
    out
}

/// What the port's one attachment field names.
fn kind(
    s: &Scope<'_>,
    id: &str,
    field: PortAttachment,
    target: &str,
    e: &mut Errors,
) -> Option<PortKind> {
    let f = field.name();
    match field {
        PortAttachment::NetworkInterfaceId => {
            let Some(x) = s.enis.get(target) else {
                e.push(id, f, format!("unknown ENI {target}"));
                return None;
            };
            let eni = &s.cfg.network_interfaces[x.index()];
            if eni.interface_type == Some(InterfaceType::VpcEndpoint) {
                e.push(id, f, format!("{target} is an endpoint's ENI: attach a port to the endpoint (VpcEndpointId) instead"));
                return None;
            }
            Some(PortKind::Eni(x))
        }
        PortAttachment::InternetGatewayId => {
            if s.igws.get(target).is_none() {
                e.push(id, f, format!("unknown internet gateway {target}"));
                return None;
            }
            Some(PortKind::Internet)
        }
        PortAttachment::VpcEndpointId => {
            let x = s.endpoints.get(target);
            if x.is_none() {
                e.push(id, f, format!("unknown endpoint {target}"));
            }
            x.map(PortKind::Service)
        }
    }
}
