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
        let f = field.name();
        let (kind, takes_addresses) = match field {
            PortAttachment::NetworkInterfaceId => match s.enis.get(target) {
                None => {
                    e.push(id, f, format!("unknown ENI {target}"));
                    continue;
                }
                Some(x) => {
                    let eni = &s.cfg.network_interfaces[x.0 as usize];
                    if eni.interface_type == Some(InterfaceType::VpcEndpoint) {
                        e.push(id, f, format!("{target} is an endpoint's ENI: attach a port to the endpoint (VpcEndpointId) instead"));
                        continue;
                    }
                    (PortKind::Eni(x), false)
                }
            },
            PortAttachment::InternetGatewayId => {
                if s.igws.get(target).is_none() {
                    e.push(id, f, format!("unknown internet gateway {target}"));
                    continue;
                }
                (PortKind::Internet, true)
            }
            PortAttachment::VpcEndpointId => match s.endpoints.get(target) {
                None => {
                    e.push(id, f, format!("unknown endpoint {target}"));
                    continue;
                }
                Some(x) => (PortKind::Service(x), true),
            },
        };
        match (takes_addresses, p.addresses.is_empty()) {
            (false, false) => e.push(id, "Addresses", "an ENI port uses the ENI's own addresses"),
            (true, true) => e.push(
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
