//! NAT gateways on their own: address counts and the public/private address rule.

use super::super::{Config, ConnectivityType, Errors};

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
