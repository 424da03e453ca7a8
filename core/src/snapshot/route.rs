//! Route tables: the implied local routes, written routes with prefix lists expanded, the
//! gateway endpoints' managed routes, and AWS's tie-break on equal prefixes — then the FIBs.

use super::{Route, RouteTable, Target};
use crate::config::resolve::{self, Destination, EndpointKind, Resolved};
use crate::lpm::{Fib4, Fib6};
use ipnet::IpNet;
use std::fmt;

/// Why a route is in the table: decides ties between routes of the same prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSource {
    /// The implied route of a VPC CIDR.
    Local,
    /// The local route of a VPC CIDR, its target replaced by a written route (to an ENI).
    LocalReplaced,
    /// A static route to a CIDR.
    Cidr,
    /// One entry of a prefix list (written route, or a gateway endpoint's managed route).
    PrefixList { pl: String, endpoint: bool },
    /// A propagated route.
    Propagated,
}

/// A route's kind, as trace names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Local,
    LocalReplaced,
    StaticCidr,
    PrefixList,
    GatewayEndpointPrefixList,
    Propagated,
}

impl RouteKind {
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Local => "local",
            RouteKind::LocalReplaced => "local route, target replaced",
            RouteKind::StaticCidr => "static CIDR",
            RouteKind::GatewayEndpointPrefixList => "gateway-endpoint prefix-list",
            RouteKind::PrefixList => "prefix-list",
            RouteKind::Propagated => "propagated",
        }
    }
}

impl RouteSource {
    pub fn kind(&self) -> RouteKind {
        match self {
            RouteSource::Local => RouteKind::Local,
            RouteSource::LocalReplaced => RouteKind::LocalReplaced,
            RouteSource::Cidr => RouteKind::StaticCidr,
            RouteSource::PrefixList { endpoint: true, .. } => RouteKind::GatewayEndpointPrefixList,
            RouteSource::PrefixList { .. } => RouteKind::PrefixList,
            RouteSource::Propagated => RouteKind::Propagated,
        }
    }

    /// AWS's tie order on equal prefixes: static CIDR (and local) > prefix list > propagated.
    fn rank(&self) -> u8 {
        match self {
            RouteSource::Local | RouteSource::LocalReplaced | RouteSource::Cidr => 0,
            RouteSource::PrefixList { .. } => 1,
            RouteSource::Propagated => 2,
        }
    }

    fn prefix_list(&self) -> &str {
        match self {
            RouteSource::PrefixList { pl, .. } => pl,
            _ => "",
        }
    }
}

/// How trace names a route's kind.
pub fn kind_name(s: &RouteSource) -> &'static str {
    s.kind().name()
}

/// Why a route won over another of the same prefix (which then is not used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TieBreak {
    /// A route of a stronger kind: static CIDR (and local) > prefix list > propagated.
    Kind {
        winner: RouteKind,
        loser: RouteKind,
        loser_target: String,
    },
    /// Two prefix lists: the lowest id wins.
    LowestPrefixListId {
        winner: String,
        loser: String,
        loser_target: String,
    },
}

impl fmt::Display for TieBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TieBreak::Kind {
                winner,
                loser,
                loser_target,
            } => write!(
                f,
                "{} route beats {} route to {loser_target} on the same prefix",
                winner.name(),
                loser.name()
            ),
            TieBreak::LowestPrefixListId {
                winner,
                loser,
                loser_target,
            } => write!(
                f,
                "prefix list {winner} beats {loser} (lowest id wins) → {loser_target} not used"
            ),
        }
    }
}

pub(super) fn table(r: &Resolved<'_>, rt: &resolve::RouteTable<'_>) -> RouteTable {
    let mut cands: Vec<Route> = r
        .vpc_cidrs
        .iter()
        .map(|c| candidate(*c, RouteSource::Local, Target::Local, None))
        .collect();
    for w in &rt.routes {
        written(r, w, &mut cands);
    }
    // A written route to a VPC CIDR is that CIDR's local route, its target replaced.
    let replaced: Vec<IpNet> = cands
        .iter()
        .filter(|c| c.source == RouteSource::LocalReplaced)
        .map(|c| c.dest)
        .collect();
    cands.retain(|c| !(c.source == RouteSource::Local && replaced.contains(&c.dest)));
    // Gateway endpoints associated with this table add `pl-<service> → vpce-…`.
    for &ep in &rt.endpoints {
        let e = &r.endpoints[ep];
        let EndpointKind::Gateway {
            prefix_list,
            prefix_list_v6,
            ..
        } = e.kind
        else {
            continue;
        };
        // A dualstack endpoint routes its service's IPv6 list too.
        for pl in std::iter::once(prefix_list).chain(prefix_list_v6) {
            let p = r.prefix_lists[pl];
            for en in &p.entries {
                cands.push(candidate(
                    en.cidr.trunc(),
                    RouteSource::PrefixList {
                        pl: p.prefix_list_id.clone(),
                        endpoint: true,
                    },
                    Target::GatewayEndpoint(ep),
                    Some(e.cfg.vpc_endpoint_id.clone()),
                ));
            }
        }
    }
    let routes = break_ties(cands);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        match r.dest {
            IpNet::V4(n) => v4.push((n, i as u32)),
            IpNet::V6(n) => v6.push((n, i as u32)),
        }
    }
    RouteTable {
        id: rt.cfg.route_table_id.clone(),
        fib4: Fib4::build(&v4),
        fib6: Fib6::build(&v6),
        routes,
    }
}

fn candidate(dest: IpNet, source: RouteSource, target: Target, id: Option<String>) -> Route {
    Route {
        dest,
        source,
        target,
        target_id: id,
        won_over: Vec::new(),
    }
}

/// A written route: one candidate, or one per entry of its prefix list.
fn written(r: &Resolved<'_>, w: &resolve::Route<'_>, cands: &mut Vec<Route>) {
    let id = w.target_id.map(str::to_string);
    match w.dest {
        Destination::Cidr(d) => {
            let source = if w.propagated {
                RouteSource::Propagated
            } else if r.vpc_cidrs.contains(&d) {
                RouteSource::LocalReplaced
            } else {
                RouteSource::Cidr
            };
            cands.push(candidate(d, source, w.target, id));
        }
        Destination::PrefixList(p) => {
            let p = r.prefix_lists[p];
            for e in &p.entries {
                let source = RouteSource::PrefixList {
                    pl: p.prefix_list_id.clone(),
                    endpoint: false,
                };
                cands.push(candidate(e.cidr.trunc(), source, w.target, id.clone()));
            }
        }
    }
}

/// Resolves ties per exact prefix: kind first, then the lowest prefix-list id.
fn break_ties(mut cands: Vec<Route>) -> Vec<Route> {
    cands.sort_by(|a, b| {
        (a.dest, a.source.rank(), a.source.prefix_list()).cmp(&(
            b.dest,
            b.source.rank(),
            b.source.prefix_list(),
        ))
    });
    let mut routes: Vec<Route> = Vec::new();
    for c in cands {
        match routes.last_mut() {
            Some(w) if w.dest == c.dest => {
                let loser_target = c.target_name().to_string();
                w.won_over.push(if w.source.rank() < c.source.rank() {
                    TieBreak::Kind {
                        winner: w.source.kind(),
                        loser: c.source.kind(),
                        loser_target,
                    }
                } else {
                    TieBreak::LowestPrefixListId {
                        winner: w.source.prefix_list().to_string(),
                        loser: c.source.prefix_list().to_string(),
                        loser_target,
                    }
                });
            }
            _ => routes.push(c),
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tie_breaks_read_as_trace_prints_them() {
        let kind = TieBreak::Kind {
            winner: RouteKind::StaticCidr,
            loser: RouteKind::PrefixList,
            loser_target: "eni-app".into(),
        };
        assert_eq!(
            kind.to_string(),
            "static CIDR route beats prefix-list route to eni-app on the same prefix"
        );
        let pl = TieBreak::LowestPrefixListId {
            winner: "pl-a".into(),
            loser: "pl-b".into(),
            loser_target: "nat-x".into(),
        };
        assert_eq!(
            pl.to_string(),
            "prefix list pl-a beats pl-b (lowest id wins) → nat-x not used"
        );
        let r = Route {
            dest: "10.9.0.0/16".parse().unwrap(),
            source: RouteSource::Cidr,
            target: Target::Blackhole,
            target_id: None,
            won_over: vec![kind, pl],
        };
        assert_eq!(r.target_name(), "blackhole");
        assert_eq!(
            r.won_over_text().unwrap(),
            "static CIDR route beats prefix-list route to eni-app on the same prefix; \
             prefix list pl-a beats pl-b (lowest id wins) → nat-x not used"
        );
    }
}
