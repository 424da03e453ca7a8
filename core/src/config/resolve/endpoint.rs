//! VPC endpoints: a gateway endpoint's prefix list (the one named for its service, found
//! once) and route tables; an interface endpoint's subnets (one per AZ), ENIs and groups.

use super::super::{
    AddressFamily, EndpointIpAddressType, Errors, GatewayService, InterfaceType, VpcEndpointType,
    model as m,
};
use super::{Endpoint, EndpointIdx, Idx, IdxVec, PlIdx, Scope};
use rustc_hash::FxHashMap;
use std::collections::HashSet;

/// What an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// A gateway endpoint and the prefix list of its service; `dualstack`, also the service's
    /// IPv6 list.
    Gateway {
        service: GatewayService,
        prefix_list: PlIdx,
        prefix_list_v6: Option<PlIdx>,
    },
    /// An interface endpoint (PrivateLink).
    Interface,
}

/// Each gateway endpoint's prefix list: the one whose `PrefixListName` is its service name.
pub(super) fn prefix_lists(cfg: &m::Config) -> FxHashMap<EndpointIdx, PlIdx> {
    lists_named(cfg, |ep| Some(ep.service_name.clone()))
}

/// Each `dualstack` gateway endpoint's IPv6 prefix list: the one named
/// [`ipv6_prefix_list_name`] of its service.
pub(super) fn prefix_lists_v6(cfg: &m::Config) -> FxHashMap<EndpointIdx, PlIdx> {
    lists_named(cfg, |ep| {
        (ep.ip_address_type == Some(EndpointIpAddressType::Dualstack))
            .then(|| ipv6_prefix_list_name(&ep.service_name))
            .flatten()
    })
}

fn lists_named(
    cfg: &m::Config,
    name: impl Fn(&m::VpcEndpoint) -> Option<String>,
) -> FxHashMap<EndpointIdx, PlIdx> {
    cfg.vpc_endpoints
        .iter()
        .enumerate()
        .filter(|(_, ep)| ep.vpc_endpoint_type == VpcEndpointType::Gateway)
        .filter_map(|(k, ep)| {
            let n = name(ep)?;
            let pl = cfg
                .managed_prefix_lists
                .iter()
                .position(|p| p.prefix_list_name == n)?;
            Some((EndpointIdx::from_usize(k), PlIdx::from_usize(pl)))
        })
        .collect()
}

/// The AWS-managed IPv6 prefix list of a gateway service: `com.amazonaws.<region>.ipv6.<service>`
/// (assumed from AWS's naming of its other IPv6 lists, `…ipv6.ec2-instance-connect`,
/// `…ipv6.route53-healthchecks`, `com.amazonaws.global.ipv6.cloudfront.origin-facing`).
pub(super) fn ipv6_prefix_list_name(service_name: &str) -> Option<String> {
    let rest = service_name.strip_prefix("com.amazonaws.")?;
    let (region, service) = rest.split_once('.')?;
    Some(format!("com.amazonaws.{region}.ipv6.{service}"))
}

pub(super) fn endpoints<'c>(s: &Scope<'c>, e: &mut Errors) -> IdxVec<EndpointIdx, Endpoint<'c>> {
    let mut out = IdxVec::with_capacity(s.cfg.vpc_endpoints.len());
    for (k, ep) in s.cfg.vpc_endpoints.iter().enumerate() {
        let id = ep.vpc_endpoint_id.as_str();
        s.vpc_ref(id, &ep.vpc_id, e);
        for (k, g) in ep.groups.iter().enumerate() {
            if s.sgs.get(&g.group_id).is_none() {
                e.push(
                    id,
                    format!("Groups[{k}].GroupId"),
                    format!("unknown security group {}", g.group_id),
                );
            }
        }
        let kind = match ep.vpc_endpoint_type {
            VpcEndpointType::Gateway => gateway(s, EndpointIdx::from_usize(k), ep, e),
            VpcEndpointType::Interface => {
                interface(s, ep, e);
                Some(EndpointKind::Interface)
            }
        };
        if let Some(kind) = kind {
            out.push(Endpoint { cfg: ep, kind });
        }
    }
    out
}

fn gateway(
    s: &Scope<'_>,
    k: EndpointIdx,
    ep: &m::VpcEndpoint,
    e: &mut Errors,
) -> Option<EndpointKind> {
    let id = ep.vpc_endpoint_id.as_str();
    for (k, r) in ep.route_table_ids.iter().enumerate() {
        if s.rtbs.get(r).is_none() {
            e.push(
                id,
                format!("RouteTableIds[{k}]"),
                format!("unknown route table {r}"),
            );
        }
    }
    let Some(&prefix_list) = s.endpoint_pl.get(&k) else {
        e.push(
            id,
            "ServiceName",
            format!("no prefix list has PrefixListName {}", ep.service_name),
        );
        return None;
    };
    let prefix_list_v6 = s.endpoint_pl6.get(&k).copied();
    if ep.ip_address_type == Some(EndpointIpAddressType::Dualstack) {
        let name = ipv6_prefix_list_name(&ep.service_name).unwrap_or_default();
        match prefix_list_v6 {
            None => e.push(
                id,
                "IpAddressType",
                format!(
                    "dualstack: no prefix list has PrefixListName {name} (the service's IPv6 list)"
                ),
            ),
            Some(p)
                if s.cfg.managed_prefix_lists[p.index()].address_family != AddressFamily::IPv6 =>
            {
                e.push(
                    id,
                    "IpAddressType",
                    format!("dualstack: {name} is not an IPv6 list"),
                )
            }
            Some(_) => {}
        }
    }
    Some(EndpointKind::Gateway {
        // `check` rejects any other name; an unchecked one is taken for S3.
        service: GatewayService::of(&ep.service_name).unwrap_or(GatewayService::S3),
        prefix_list,
        prefix_list_v6,
    })
}

fn interface(s: &Scope<'_>, ep: &m::VpcEndpoint, e: &mut Errors) {
    let id = ep.vpc_endpoint_id.as_str();
    let mut azs = HashSet::new();
    for (k, sub) in ep.subnet_ids.iter().enumerate() {
        let f = format!("SubnetIds[{k}]");
        match s.subnets.get(sub) {
            None => e.push(id, f, format!("unknown subnet {sub}")),
            Some(x) => {
                let sn = s.subnet(x);
                let (v4, v6) = (
                    sn.cidr_block.is_some(),
                    !sn.ipv6_cidr_block_association_set.is_empty(),
                );
                let ty = ep.ip_address_type.unwrap_or_default();
                // AWS: dualstack needs subnets with both ranges, ipv6 IPv6-only subnets.
                let why = match ty {
                    EndpointIpAddressType::Dualstack if !(v4 && v6) => {
                        Some("a dualstack endpoint needs subnets with IPv4 and IPv6 ranges")
                    }
                    EndpointIpAddressType::Ipv6 if v4 || !v6 => {
                        Some("an ipv6 endpoint needs IPv6-only subnets")
                    }
                    EndpointIpAddressType::Ipv4 if !v4 => {
                        Some("an ipv4 endpoint needs subnets with an IPv4 range")
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    e.push(id, &f, format!("{sub}: {why}"));
                }
                if !azs.insert(&sn.availability_zone) {
                    e.push(
                        id,
                        f,
                        format!("{sub} is in an AZ that already has a subnet of this endpoint"),
                    );
                }
            }
        }
    }
    for (k, n) in ep.network_interface_ids.iter().enumerate() {
        let f = format!("NetworkInterfaceIds[{k}]");
        let Some(x) = s.enis.get(n) else {
            e.push(id, f, format!("unknown ENI {n}"));
            continue;
        };
        let eni = &s.cfg.network_interfaces[x.index()];
        if eni.interface_type != Some(InterfaceType::VpcEndpoint) {
            e.push(id, &f, format!("{n} is not InterfaceType vpc_endpoint"));
        }
        // AWS assigns the endpoint's ENIs the addresses of its IpAddressType.
        let ty = ep.ip_address_type.unwrap_or_default();
        let (has4, has6) = (
            eni.private_ip_address.is_some(),
            !eni.ipv6_addresses.is_empty(),
        );
        match ty {
            EndpointIpAddressType::Dualstack if !(has4 && has6) => e.push(
                id,
                &f,
                format!("{n}: a dualstack endpoint's ENI has an IPv4 and an IPv6 address"),
            ),
            EndpointIpAddressType::Ipv6 if has4 || !has6 => e.push(
                id,
                &f,
                format!("{n}: an ipv6 endpoint's ENI has IPv6 addresses only"),
            ),
            _ => {}
        }
        if !ep.subnet_ids.contains(&eni.subnet_id) {
            e.push(
                id,
                f,
                format!(
                    "{n} is in {}, not one of the endpoint's subnets",
                    eni.subnet_id
                ),
            );
        }
    }
}
