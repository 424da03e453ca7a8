//! Routes: destinations (CIDRs, prefix lists) and targets resolved, one destination per table,
//! the gateway endpoints' own routes kept apart from hand-written ones, and AWS's rules for
//! `local` and for routes more specific than it.

use super::super::{
    Errors, LOCAL_TARGET, RouteOrigin, RouteTargetField, VpcEndpointType, model as m,
};
use super::{
    EndpointIdx, EniIdx, Idx, IdxVec, NatIdx, PlIdx, RouteTable, RtbIdx, Scope, gateway,
    network::vpc_cidrs,
};
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};

/// A route as written, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'c> {
    pub dest: Destination,
    pub target: Target,
    /// The target's id as written; `None` for a blackhole route that names none.
    pub target_id: Option<&'c str>,
    /// `Origin: EnableVgwRoutePropagation`: loses ties to static and prefix-list routes.
    pub propagated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Cidr(IpNet),
    PrefixList(PlIdx),
}

/// Where a route sends traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Local,
    /// The VPC's (attached) internet gateway.
    Igw,
    /// An egress-only internet gateway attached to the VPC (IPv6 only, stateful).
    Eigw,
    Nat(NatIdx),
    GatewayEndpoint(EndpointIdx),
    Eni(EniIdx),
    /// Declared blackhole, or a target that no longer exists (or a detached gateway).
    Blackhole,
}

pub(super) fn tables<'c>(s: &Scope<'c>, e: &mut Errors) -> IdxVec<RtbIdx, RouteTable<'c>> {
    let facts = Facts {
        igw: gateway::attached_igw(s.cfg, s.vpc).map(|g| g.internet_gateway_id.as_str()),
        vpc: s.cfg.vpcs.iter().flat_map(vpc_cidrs).collect(),
        subnets: s.cfg.subnets.iter().flat_map(|x| x.cidrs()).collect(),
        eigws: gateway::attached_eigws(s.cfg, s.vpc),
    };
    s.cfg
        .route_tables
        .iter()
        .map(|rt| {
            s.vpc_ref(&rt.route_table_id, &rt.vpc_id, e);
            let endpoints = table_endpoints(s, rt);
            let mut cx = Table {
                s,
                facts: &facts,
                id: &rt.route_table_id,
                dests: endpoint_destinations(s, rt, &endpoints, e),
            };
            let routes = rt
                .routes
                .iter()
                .enumerate()
                .filter_map(|(k, r)| cx.route(k, r, e))
                .collect();
            RouteTable {
                cfg: rt,
                routes,
                endpoints,
            }
        })
        .collect()
}

/// What every table's routes are checked against.
struct Facts<'c> {
    /// The attached internet gateway's id.
    igw: Option<&'c str>,
    /// The CIDRs of the declared VPCs.
    vpc: Vec<IpNet>,
    /// The subnets' CIDRs (IPv4 and IPv6).
    subnets: HashSet<IpNet>,
    /// The egress-only internet gateways attached to the VPC.
    eigws: Vec<&'c str>,
}

/// One table's routes being resolved.
struct Table<'s, 'c> {
    s: &'s Scope<'c>,
    facts: &'s Facts<'c>,
    id: &'c str,
    /// Destinations so far (as written) → what wrote them (`Routes[k]`, or an endpoint's id).
    dests: HashMap<String, String>,
}

/// The gateway endpoints whose `RouteTableIds` name `rt`.
fn table_endpoints(s: &Scope<'_>, rt: &m::RouteTable) -> Vec<EndpointIdx> {
    s.cfg
        .vpc_endpoints
        .iter()
        .enumerate()
        .filter(|(k, ep)| {
            s.endpoint_pl.contains_key(&EndpointIdx::from_usize(*k))
                && ep.route_table_ids.contains(&rt.route_table_id)
        })
        .map(|(k, _)| EndpointIdx::from_usize(k))
        .collect()
}

/// The destinations the table's gateway endpoints add (`pl-<service>` → `vpce-…`).
fn endpoint_destinations(
    s: &Scope<'_>,
    rt: &m::RouteTable,
    endpoints: &[EndpointIdx],
    e: &mut Errors,
) -> HashMap<String, String> {
    let mut dests = HashMap::new();
    for ep in endpoints {
        let vpce = &s.cfg.vpc_endpoints[ep.index()].vpc_endpoint_id;
        for pl in [s.endpoint_pl.get(ep), s.endpoint_pl6.get(ep)]
            .into_iter()
            .flatten()
        {
            let pl = &s.cfg.managed_prefix_lists[pl.index()];
            if let Some(other) = dests.insert(pl.prefix_list_id.clone(), vpce.clone()) {
                e.push(
                    &rt.route_table_id,
                    "Routes",
                    format!("two gateway endpoints ({other}, {vpce}) for one service in one table"),
                );
            }
        }
    }
    dests
}

impl<'c> Table<'_, 'c> {
    /// One written route; `None` for what the table does not hold as written (the `local`
    /// route, which is implied) and for what `check` or this resolver rejects.
    fn route(&mut self, k: usize, r: &'c m::Route, e: &mut Errors) -> Option<Route<'c>> {
        let f = format!("Routes[{k}]");
        let dest_text = r
            .destination_text()
            .filter(|_| r.destination_count() == 1)?;
        let dest = self.destination(&f, r, e);
        if let Some(other) = self.dests.insert(dest_text.clone(), f.clone()) {
            e.push(
                self.id,
                &f,
                format!("a second route to {dest_text} (first: {other})"),
            );
        }
        let mut targets = r.targets();
        let (first, None) = (targets.next(), targets.next()) else {
            return None;
        };
        let (target, target_id) = match first {
            None => (Target::Blackhole, None),
            Some((tf, t)) => (self.target(&f, r, tf, t, e)?, Some(t)),
        };
        Some(Route {
            dest: dest?,
            target,
            target_id,
            propagated: r.origin == Some(RouteOrigin::EnableVgwRoutePropagation),
        })
    }

    fn destination(&self, f: &str, r: &m::Route, e: &mut Errors) -> Option<Destination> {
        let Some(pl) = &r.destination_prefix_list_id else {
            return r.destination_cidr().map(|n| Destination::Cidr(n.trunc()));
        };
        let field = format!("{f}.DestinationPrefixListId");
        match self.s.pls.get(pl) {
            None => e.push(self.id, field, format!("unknown prefix list {pl}")),
            Some(x)
                if self
                    .s
                    .endpoint_pl
                    .values()
                    .chain(self.s.endpoint_pl6.values())
                    .any(|p| *p == x) =>
            {
                e.push(
                    self.id,
                    field,
                    format!(
                        "{pl} is a gateway endpoint's list: its route is managed by the endpoint"
                    ),
                )
            }
            Some(x) => return Some(Destination::PrefixList(x)),
        }
        None
    }

    /// The route's target, checked against AWS's rules; `None` for the `local` route (implied)
    /// and for rejected targets.
    fn target(
        &self,
        f: &str,
        r: &m::Route,
        tf: RouteTargetField,
        t: &str,
        e: &mut Errors,
    ) -> Option<Target> {
        let s = self.s;
        let tfield = format!("{f}.{}", tf.name());
        if t == LOCAL_TARGET {
            let net = r.destination_cidr();
            if tf != RouteTargetField::GatewayId || net.is_none_or(|n| !self.facts.vpc.contains(&n))
            {
                let dest = r.destination_text().unwrap_or_default();
                e.push(
                    self.id,
                    tfield,
                    format!("a local route's destination must be a VPC CIDR, not {dest}"),
                );
            }
            return None; // the implied local route already stands for it
        }
        if let Some(ep) = s.endpoints.get(t)
            && s.cfg.vpc_endpoints[ep.index()].vpc_endpoint_type == VpcEndpointType::Gateway
        {
            e.push(
                self.id,
                tfield,
                format!(
                    "routes to gateway endpoint {t} are managed by the endpoint (RouteTableIds)"
                ),
            );
            return None;
        }
        let resolved = match tf {
            RouteTargetField::GatewayId => s.igws.get(t).map(|_| match self.facts.igw {
                Some(igw) if igw == t => Target::Igw,
                _ => Target::Blackhole, // a detached gateway
            }),
            RouteTargetField::NatGatewayId => s.nats.get(t).map(Target::Nat),
            RouteTargetField::NetworkInterfaceId => s.enis.get(t).map(Target::Eni),
            RouteTargetField::EgressOnlyInternetGatewayId => {
                if r.destination_cidr_block.is_some() {
                    e.push(
                        self.id,
                        &tfield,
                        "an egress-only internet gateway carries IPv6 only (DestinationIpv6CidrBlock)",
                    );
                }
                s.eigws.get(t).map(|_| match self.facts.eigws.contains(&t) {
                    true => Target::Eigw,
                    false => Target::Blackhole, // a detached gateway
                })
            }
        };
        if resolved.is_none() && !r.is_blackhole() {
            e.push(
                self.id,
                tfield,
                format!("unknown target {t} (a route to a deleted target says State: blackhole)"),
            );
        }
        self.more_specific_than_local(f, r, tf, e);
        self.replaces_local(f, r, tf, t, e);
        Some(match resolved {
            Some(t) if !r.is_blackhole() => t,
            _ => Target::Blackhole,
        })
    }

    /// A route to exactly a VPC CIDR replaces the local route's target (AWS shows it as that
    /// CIDR with a `NetworkInterfaceId`): only an ENI (or a Gateway Load Balancer endpoint,
    /// which vpcfwd does not model) may be that target.
    fn replaces_local(&self, f: &str, r: &m::Route, tf: RouteTargetField, t: &str, e: &mut Errors) {
        let Some(n) = r.destination_cidr() else {
            return;
        };
        if self.facts.vpc.contains(&n) && tf != RouteTargetField::NetworkInterfaceId {
            e.push(
                self.id,
                format!("{f}.{}", tf.name()),
                format!(
                    "{n} is a VPC CIDR: its route is the local route, whose target only a \
                     NetworkInterfaceId (or a Gateway Load Balancer endpoint) may replace, not {t}"
                ),
            );
        }
    }

    /// More specific than `local`: only a whole subnet CIDR, to a NAT gateway or an ENI.
    fn more_specific_than_local(
        &self,
        f: &str,
        r: &m::Route,
        tf: RouteTargetField,
        e: &mut Errors,
    ) {
        let Some(n) = r.destination_cidr() else {
            return;
        };
        let inside = |c: &IpNet| c.contains(&n) && c.prefix_len() < n.prefix_len();
        if !self.facts.vpc.iter().any(inside) {
            return;
        }
        let field = if n.addr().is_ipv6() {
            "DestinationIpv6CidrBlock"
        } else {
            "DestinationCidrBlock"
        };
        if !self.facts.subnets.contains(&n)
            || matches!(
                tf,
                RouteTargetField::GatewayId | RouteTargetField::EgressOnlyInternetGatewayId
            )
        {
            e.push(self.id, format!("{f}.{field}"), format!("{n} is more specific than the local route: AWS allows that only for a whole subnet CIDR to a NAT gateway or an ENI"));
        }
    }
}
