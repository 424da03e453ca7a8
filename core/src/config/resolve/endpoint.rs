//! VPC endpoints: a gateway endpoint's prefix list (the one named for its service, found
//! once) and route tables; an interface endpoint's subnets (one per AZ), ENIs and groups.

use super::super::{Errors, GatewayService, InterfaceType, VpcEndpointType, model as m};
use super::{Endpoint, EndpointIdx, Idx, IdxVec, PlIdx, Scope};
use rustc_hash::FxHashMap;
use std::collections::HashSet;

/// What an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// A gateway endpoint and the prefix list of its service.
    Gateway {
        service: GatewayService,
        prefix_list: PlIdx,
    },
    /// An interface endpoint (PrivateLink).
    Interface,
}

/// Each gateway endpoint's prefix list: the one whose `PrefixListName` is its service name.
pub(super) fn prefix_lists(cfg: &m::Config) -> FxHashMap<EndpointIdx, PlIdx> {
    cfg.vpc_endpoints
        .iter()
        .enumerate()
        .filter(|(_, ep)| ep.vpc_endpoint_type == VpcEndpointType::Gateway)
        .filter_map(|(k, ep)| {
            let pl = cfg
                .managed_prefix_lists
                .iter()
                .position(|p| p.prefix_list_name == ep.service_name)?;
            Some((EndpointIdx::from_usize(k), PlIdx::from_usize(pl)))
        })
        .collect()
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
    Some(EndpointKind::Gateway {
        // `check` rejects any other name; an unchecked one is taken for S3.
        service: GatewayService::of(&ep.service_name).unwrap_or(GatewayService::S3),
        prefix_list,
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
                if !azs.insert(&s.subnet(x).availability_zone) {
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
