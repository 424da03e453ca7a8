//! VPC endpoints on their own: service names, the fields each type takes, service targets.

use super::super::{Config, Errors, GatewayService, VpcEndpoint, VpcEndpointType};

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    for ep in &cfg.vpc_endpoints {
        match ep.vpc_endpoint_type {
            VpcEndpointType::Gateway => gateway(ep, cfg.region.as_deref(), e),
            VpcEndpointType::Interface => interface(ep, e),
        }
    }
}

fn gateway(ep: &VpcEndpoint, region: Option<&str>, e: &mut Errors) {
    let id = ep.vpc_endpoint_id.as_str();
    if GatewayService::of(&ep.service_name).is_none() {
        e.push(
            id,
            "ServiceName",
            format!(
                "{}: a gateway endpoint serves com.amazonaws.<region>.s3 or .dynamodb",
                ep.service_name
            ),
        );
    } else if let Some(r) = region
        && ep.service_name.split('.').nth(2) != Some(r)
    {
        e.push(
            id,
            "ServiceName",
            format!("{} is not in the config's Region {r}", ep.service_name),
        );
    }
    if !ep.subnet_ids.is_empty()
        || !ep.service_targets.is_empty()
        || !ep.network_interface_ids.is_empty()
    {
        e.push(
            id,
            "SubnetIds",
            "SubnetIds, NetworkInterfaceIds and ServiceTargets belong to interface endpoints",
        );
    }
}

fn interface(ep: &VpcEndpoint, e: &mut Errors) {
    let id = ep.vpc_endpoint_id.as_str();
    if ep.service_targets.is_empty() {
        e.push(
            id,
            "ServiceTargets",
            "an interface endpoint needs at least one service target",
        );
    }
    if ep.load_balancer_addresses.is_empty() {
        e.push(
            id,
            "LoadBalancerAddresses",
            "an interface endpoint needs the load balancer's addresses",
        );
    }
    for (k, a) in ep.load_balancer_addresses.iter().enumerate() {
        if !ep
            .service_targets
            .iter()
            .any(|t| t.is_ipv4() == a.is_ipv4())
        {
            e.push(
                id,
                format!("LoadBalancerAddresses[{k}]"),
                format!("{a}: no service target of its address family"),
            );
        }
    }
    if !ep.route_table_ids.is_empty() {
        e.push(
            id,
            "RouteTableIds",
            "RouteTableIds belong to gateway endpoints",
        );
    }
}
