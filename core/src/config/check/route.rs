//! Route tables on their own: association shapes, each route's destination and target fields,
//! reserved destinations.

use super::super::aws::RESERVED_DESTINATIONS;
use super::super::{AddressFamily, Config, Errors, RouteOrigin, RouteTable};

/// AWS's default quota of non-propagated routes per table per family, and its highest.
pub(super) const DEFAULT_ROUTE_QUOTA: u32 = 50;
pub(super) const MAX_ROUTE_QUOTA: u32 = 1000;

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    let quota = cfg.options.route_table_quota.unwrap_or(DEFAULT_ROUTE_QUOTA);
    if !(DEFAULT_ROUTE_QUOTA..=MAX_ROUTE_QUOTA).contains(&quota) {
        e.push(
            "Options",
            "RouteTableQuota",
            format!("{quota}: AWS's quota is {DEFAULT_ROUTE_QUOTA}, raisable to {MAX_ROUTE_QUOTA}"),
        );
    }
    for rt in &cfg.route_tables {
        let id = rt.route_table_id.as_str();
        for (k, a) in rt.associations.iter().enumerate() {
            match (&a.subnet_id, a.main) {
                (Some(_), None | Some(false)) | (None, Some(true)) => {}
                _ => e.push(
                    id,
                    format!("Associations[{k}]"),
                    "an association has either SubnetId or Main: true",
                ),
            }
        }
        routes(rt, e);
        route_quota(cfg, rt, quota, e);
    }
}

/// The table's non-propagated routes per family against the quota; a prefix-list route counts
/// as its list's `MaxEntries` (its entry count where the list has none). The implied local
/// route and the gateway endpoints' routes are not written here.
fn route_quota(cfg: &Config, rt: &RouteTable, quota: u32, e: &mut Errors) {
    let (mut v4, mut v6) = (0u32, 0u32);
    for r in &rt.routes {
        if r.origin == Some(RouteOrigin::EnableVgwRoutePropagation)
            || r.gateway_id.as_deref() == Some(super::super::LOCAL_TARGET)
        {
            continue;
        }
        if let Some(pl) = &r.destination_prefix_list_id {
            let Some(p) = cfg
                .managed_prefix_lists
                .iter()
                .find(|p| &p.prefix_list_id == pl)
            else {
                continue; // an unknown list is resolve's error
            };
            let n = p.max_entries.unwrap_or(p.entries.len() as u32);
            match p.address_family {
                AddressFamily::IPv4 => v4 += n,
                AddressFamily::IPv6 => v6 += n,
            }
        } else if r.destination_ipv6_cidr_block.is_some() {
            v6 += 1;
        } else if r.destination_cidr_block.is_some() {
            v4 += 1;
        }
    }
    for (fam, n) in [("IPv4", v4), ("IPv6", v6)] {
        if n > quota {
            e.push(
                &rt.route_table_id,
                "Routes",
                format!(
                    "{n} {fam} routes (a prefix-list route counts its list's MaxEntries): over \
                     the quota of {quota} non-propagated routes per table (Options.RouteTableQuota, \
                     up to {MAX_ROUTE_QUOTA})"
                ),
            );
        }
    }
}

fn routes(rt: &RouteTable, e: &mut Errors) {
    let id = rt.route_table_id.as_str();
    for (k, r) in rt.routes.iter().enumerate() {
        let f = format!("Routes[{k}]");
        if r.destination_count() != 1 {
            e.push(id, &f, "a route has exactly one of DestinationCidrBlock, DestinationIpv6CidrBlock, DestinationPrefixListId");
            continue;
        }
        if let Some(n) = r.destination_cidr()
            && RESERVED_DESTINATIONS.iter().any(|x| x.contains(&n))
        {
            let [v4, v6] = RESERVED_DESTINATIONS;
            e.push(
                id,
                format!("{f}.DestinationCidrBlock"),
                format!("{n} is reserved ({v4}, {v6})"),
            );
        }
        match r.targets().count() {
            0 if !r.is_blackhole() => {
                e.push(id, &f, "a route needs a target (or State: blackhole)")
            }
            0 | 1 => {}
            _ => e.push(id, &f, "a route has one target"),
        }
    }
}
