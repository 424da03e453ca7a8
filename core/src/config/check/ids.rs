//! Id prefixes and uniqueness, across every kind of object.

use super::super::{Config, Errors};
use std::collections::HashSet;

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut check = |id: &str, field: &str, prefix: &str, e: &mut Errors| {
        if !id.starts_with(prefix) || id.len() == prefix.len() {
            e.push(
                id,
                field,
                format!("an id of this kind starts with `{prefix}`"),
            );
        }
        if !seen.insert(id.to_string()) {
            e.push(id, field, "the id is used twice");
        }
    };
    for v in &cfg.vpcs {
        check(&v.vpc_id, "VpcId", "vpc-", e);
    }
    for s in &cfg.subnets {
        check(&s.subnet_id, "SubnetId", "subnet-", e);
    }
    for r in &cfg.route_tables {
        check(&r.route_table_id, "RouteTableId", "rtb-", e);
    }
    for p in &cfg.managed_prefix_lists {
        check(&p.prefix_list_id, "PrefixListId", "pl-", e);
    }
    for g in &cfg.security_groups {
        check(&g.group_id, "GroupId", "sg-", e);
    }
    for n in &cfg.network_acls {
        check(&n.network_acl_id, "NetworkAclId", "acl-", e);
    }
    for n in &cfg.network_interfaces {
        check(&n.network_interface_id, "NetworkInterfaceId", "eni-", e);
    }
    for v in &cfg.vpc_endpoints {
        check(&v.vpc_endpoint_id, "VpcEndpointId", "vpce-", e);
    }
    for n in &cfg.nat_gateways {
        check(&n.nat_gateway_id, "NatGatewayId", "nat-", e);
    }
    for g in &cfg.internet_gateways {
        check(&g.internet_gateway_id, "InternetGatewayId", "igw-", e);
    }
    for g in &cfg.egress_only_internet_gateways {
        check(
            &g.egress_only_internet_gateway_id,
            "EgressOnlyInternetGatewayId",
            "eigw-",
            e,
        );
    }
}
