//! Route tables: associations, and each route's target as vpcfwd models it — implied (local,
//! gateway endpoints), kept, or a blackhole when the target is gone or not modelled (transit
//! gateway, peering, VPN gateway, egress-only IGW, …), which is reported.

use super::json::{arr, b, name_tag, parse, s, state, string};
use super::network::ensure_prefix_list;
use super::{Report, input::Inputs};
use crate::config::{
    Config, Route, RouteOrigin, RouteState, RouteTable, RouteTableAssociation, VpcEndpointType,
};
use serde_json::Value;
use std::collections::HashSet;

/// What a route's target is in the model, or why it is a blackhole.
enum Target {
    Keep(Route),
    Implied,
    Blackhole(Route, String),
}

/// The route tables of the VPC; run after the gateways, ENIs and endpoints are mapped.
pub(super) fn build(inp: &Inputs, cfg: &mut Config, report: &mut Report) {
    let vpc_id = cfg.vpcs[0].vpc_id.clone();
    let subnets: HashSet<String> = cfg.subnets.iter().map(|x| x.subnet_id.clone()).collect();
    let mut tables = Vec::new();
    for rt in inp
        .route_tables
        .iter()
        .filter(|x| s(x, "VpcId") == Some(&vpc_id))
    {
        let id = string(rt, "RouteTableId");
        let mut t = RouteTable {
            route_table_id: id.clone(),
            vpc_id: vpc_id.clone(),
            associations: vec![],
            routes: vec![],
            tags: name_tag(rt),
        };
        for (k, a) in arr(rt, "Associations").iter().enumerate() {
            if matches!(
                state(a, "AssociationState"),
                Some("disassociated" | "disassociating" | "failed")
            ) {
                continue;
            }
            if b(a, "Main") == Some(true) {
                t.associations.push(RouteTableAssociation {
                    subnet_id: None,
                    main: Some(true),
                });
            } else if let Some(sn) = s(a, "SubnetId") {
                if subnets.contains(sn) {
                    t.associations.push(RouteTableAssociation {
                        subnet_id: Some(sn.into()),
                        main: None,
                    });
                } else {
                    report.note(
                        &id,
                        &format!("Associations[{k}].SubnetId"),
                        format!("{sn} was not imported: association left out"),
                    );
                }
            } else if let Some(g) = s(a, "GatewayId") {
                report.note(
                    &id,
                    &format!("Associations[{k}].GatewayId"),
                    format!("edge association with {g}: not modelled by vpcfwd, left out"),
                );
            }
        }
        for (k, r) in arr(rt, "Routes").iter().enumerate() {
            match route(cfg, &id, r) {
                Target::Keep(x) => t.routes.push(x),
                Target::Implied => {}
                Target::Blackhole(x, why) => {
                    report.note(
                        &id,
                        &format!("Routes[{k}]"),
                        format!("{}: {why}: written as a blackhole route", dest_of(&x)),
                    );
                    t.routes.push(x);
                }
            }
        }
        tables.push(t);
    }
    let pls: Vec<String> = tables
        .iter()
        .flat_map(|t| {
            t.routes
                .iter()
                .filter_map(|r| r.destination_prefix_list_id.clone())
        })
        .collect();
    for p in pls {
        ensure_prefix_list(cfg, &p, None, "a route", report);
    }
    cfg.route_tables = tables;
}

fn dest_of(r: &Route) -> String {
    r.destination_cidr_block
        .map(|c| c.to_string())
        .or(r.destination_ipv6_cidr_block.map(|c| c.to_string()))
        .or(r.destination_prefix_list_id.clone())
        .unwrap_or_else(|| "-".into())
}

/// Maps one route of table `rt`.
fn route(cfg: &Config, rt: &str, r: &Value) -> Target {
    let mut x = Route {
        destination_cidr_block: parse(r, "DestinationCidrBlock"),
        destination_ipv6_cidr_block: parse(r, "DestinationIpv6CidrBlock"),
        destination_prefix_list_id: s(r, "DestinationPrefixListId").map(str::to_string),
        ..Route::default()
    };
    if s(r, "Origin") == Some("EnableVgwRoutePropagation") {
        x.origin = Some(RouteOrigin::EnableVgwRoutePropagation);
    }
    let exported_blackhole = s(r, "State") == Some("blackhole");
    let blackhole = |mut x: Route, why: String| {
        x.state = Some(RouteState::Blackhole);
        Target::Blackhole(x, why)
    };
    // Targets vpcfwd does not model: the route keeps its destination, drops everything.
    for (f, what) in [
        ("TransitGatewayId", "transit gateway"),
        ("VpcPeeringConnectionId", "VPC peering connection"),
        (
            "EgressOnlyInternetGatewayId",
            "egress-only internet gateway",
        ),
        ("CarrierGatewayId", "carrier gateway"),
        ("LocalGatewayId", "local gateway"),
        ("CoreNetworkArn", "Cloud WAN core network"),
    ] {
        if let Some(t) = s(r, f) {
            return blackhole(x, format!("{f} {t}: a {what} is not modelled by vpcfwd"));
        }
    }
    if let Some(g) = s(r, "GatewayId") {
        if g == "local" {
            return Target::Implied;
        }
        if g.starts_with("vgw-") {
            return blackhole(
                x,
                format!("GatewayId {g}: a VPN gateway is not modelled by vpcfwd"),
            );
        }
        if g.starts_with("vpce-") {
            let ep = cfg.vpc_endpoints.iter().find(|e| e.vpc_endpoint_id == g);
            return match ep {
                Some(e)
                    if e.vpc_endpoint_type == VpcEndpointType::Gateway
                        && e.route_table_ids.iter().any(|t| t == rt) =>
                {
                    Target::Implied
                }
                Some(_) => blackhole(
                    x,
                    format!(
                        "GatewayId {g}: not a gateway endpoint of this table (vpcfwd derives endpoint routes from RouteTableIds)"
                    ),
                ),
                None => blackhole(
                    x,
                    format!(
                        "GatewayId {g}: no such endpoint in the input (deleted, or a Gateway Load Balancer endpoint, which vpcfwd does not model)"
                    ),
                ),
            };
        }
        if cfg
            .internet_gateways
            .iter()
            .any(|i| i.internet_gateway_id == g)
        {
            x.gateway_id = Some(g.to_string());
            return keep_or(x, exported_blackhole);
        }
        x.gateway_id = g.starts_with("igw-").then(|| g.to_string());
        return blackhole(
            x,
            format!("GatewayId {g}: no such internet gateway attached to the VPC in the input"),
        );
    }
    if let Some(n) = s(r, "NatGatewayId") {
        x.nat_gateway_id = Some(n.to_string());
        if cfg.nat_gateways.iter().any(|g| g.nat_gateway_id == n) {
            return keep_or(x, exported_blackhole);
        }
        return blackhole(
            x,
            format!(
                "NatGatewayId {n}: the NAT gateway no longer exists (not in the input, or deleted)"
            ),
        );
    }
    if let Some(e) = s(r, "NetworkInterfaceId") {
        x.network_interface_id = Some(e.to_string());
        if cfg
            .network_interfaces
            .iter()
            .any(|n| n.network_interface_id == e)
        {
            return keep_or(x, exported_blackhole);
        }
        return blackhole(
            x,
            format!("NetworkInterfaceId {e}: no such ENI in the input"),
        );
    }
    if let Some(i) = s(r, "InstanceId") {
        return blackhole(x, format!("InstanceId {i}: no ENI named with it"));
    }
    if exported_blackhole {
        x.state = Some(RouteState::Blackhole);
        return Target::Keep(x);
    }
    blackhole(x, "no target vpcfwd knows".into())
}

fn keep_or(mut x: Route, blackhole: bool) -> Target {
    if blackhole {
        x.state = Some(RouteState::Blackhole);
    }
    Target::Keep(x)
}
