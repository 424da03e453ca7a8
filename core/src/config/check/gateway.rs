//! NAT gateways on their own: address counts and the public/private address rule; internet
//! gateways: a detached one while the VPC still maps public addresses.

use super::super::{AttachmentState, Config, ConnectivityType, Errors};

/// AWS refuses to detach an internet gateway while the VPC has mapped public addresses
/// (`DependencyViolation: … has some mapped public address(es)`): an ENI's public IP or Elastic
/// IP, or a public NAT gateway's. So a config with a detached gateway and such addresses
/// describes no VPC AWS would hold; the routes to a detached gateway are blackholes.
pub(super) fn detached_igws(cfg: &Config, e: &mut Errors) {
    let enis = cfg.network_interfaces.iter().flat_map(|n| {
        let primary = n.association.iter().map(|a| a.public_ip);
        let secondary = n
            .private_ip_addresses
            .iter()
            .filter_map(|p| p.association.as_ref().map(|a| a.public_ip));
        primary
            .chain(secondary)
            .map(move |p| (n.network_interface_id.as_str(), p))
    });
    let nats = cfg.nat_gateways.iter().flat_map(|n| {
        n.nat_gateway_addresses
            .iter()
            .filter_map(move |a| a.public_ip.map(|p| (n.nat_gateway_id.as_str(), p)))
    });
    let mapped: Vec<(&str, std::net::Ipv4Addr)> = enis.chain(nats).collect();
    let Some(&(who, addr)) = mapped.first() else {
        return;
    };
    for g in &cfg.internet_gateways {
        for (k, a) in g.attachments.iter().enumerate() {
            if matches!(
                a.state,
                Some(AttachmentState::Detached | AttachmentState::Detaching)
            ) {
                e.push(
                    &g.internet_gateway_id,
                    format!("Attachments[{k}].State"),
                    format!(
                        "detached while {} has mapped public addresses ({} of {who}, {} in all): \
                         AWS refuses the detach (DependencyViolation)",
                        a.vpc_id,
                        addr,
                        mapped.len()
                    ),
                );
            }
        }
    }
}

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    for n in &cfg.nat_gateways {
        let id = n.nat_gateway_id.as_str();
        let count = n.nat_gateway_addresses.len();
        if count == 0 || count > 8 {
            e.push(
                id,
                "NatGatewayAddresses",
                format!("{count} addresses: a NAT gateway has 1 to 8"),
            );
        }
        let public = n.connectivity_type != Some(ConnectivityType::Private);
        for (k, a) in n.nat_gateway_addresses.iter().enumerate() {
            if public && a.public_ip.is_none() {
                e.push(
                    id,
                    format!("NatGatewayAddresses[{k}].PublicIp"),
                    "a public NAT gateway address needs a PublicIp (Elastic IP)",
                );
            }
            if !public && a.public_ip.is_some() {
                e.push(
                    id,
                    format!("NatGatewayAddresses[{k}].PublicIp"),
                    "a private NAT gateway has no PublicIp",
                );
            }
        }
    }
}
