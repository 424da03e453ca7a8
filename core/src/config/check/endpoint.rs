//! VPC endpoints on their own: service names, the fields each type takes, service targets.

use super::super::{
    Config, EndpointIpAddressType, Errors, GatewayService, VpcEndpoint, VpcEndpointType,
};

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
    if ep.ip_address_type == Some(EndpointIpAddressType::Ipv6) {
        // AWS: a gateway endpoint's IP address type is ipv4 or dualstack.
        e.push(
            id,
            "IpAddressType",
            "a gateway endpoint is ipv4 or dualstack (ipv6 is for interface endpoints)",
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
    // The families the endpoint carries need a service target and a load-balancer address of
    // their own: PrivateLink's translation keeps the family (an IPv6 consumer reaches an IPv6
    // target from an IPv6 load-balancer address).
    let ty = ep.ip_address_type.unwrap_or_default();
    for v6 in [false, true] {
        if !ty.carries(v6) || ep.service_targets.is_empty() {
            continue;
        }
        let family = if v6 { "IPv6" } else { "IPv4" };
        if !ep.service_targets.iter().any(|t| t.is_ipv6() == v6) {
            e.push(
                id,
                "ServiceTargets",
                format!(
                    "an {} endpoint needs an {family} service target",
                    ty.as_str()
                ),
            );
        }
        if !ep.load_balancer_addresses.is_empty()
            && !ep.load_balancer_addresses.iter().any(|a| a.is_ipv6() == v6)
        {
            e.push(
                id,
                "LoadBalancerAddresses",
                format!(
                    "an {} endpoint needs an {family} load balancer address",
                    ty.as_str()
                ),
            );
        }
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
