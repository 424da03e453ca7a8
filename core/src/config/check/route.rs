//! Route tables on their own: association shapes, each route's destination and target fields,
//! reserved destinations.

use super::super::aws::RESERVED_DESTINATIONS;
use super::super::{Config, Errors, RouteTable};

pub(super) fn check(cfg: &Config, e: &mut Errors) {
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
