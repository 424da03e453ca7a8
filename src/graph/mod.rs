//! `vpcfwd graph`: the topology of a config as a graph — VPC, subnets by AZ, each subnet's route
//! table and network ACL, ENIs with their security groups, gateway endpoints with their prefix
//! lists, interface endpoints and their service, NAT gateways, the internet gateway, ports — and,
//! on top, the path a traced packet (and its reply) took.
//!
//! The model is built from the config (`describe-*` names) only; the path from a trace's
//! recorded stages (`Trace::json()`'s `stages`, their `stage` names and ids). Renderers:
//! [`mermaid`], [`dot`] and [`svg`] (Graphviz's `dot` does the layout).

pub mod cli;
mod render;
pub mod trace_path;

pub use render::{DotMissing, dot, dot_with, html_id, mermaid, svg};
pub use trace_path::{Hop, Path, path};

use crate::config::{Config, RouteState, VpcEndpointType};
use std::collections::BTreeMap;

/// What a node stands for (drives its shape and colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Subnet,
    RouteTable,
    NetworkAcl,
    Eni,
    EndpointEni,
    NatGateway,
    GatewayEndpoint,
    InterfaceEndpoint,
    InternetGateway,
    Port,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Subnet => "subnet",
            Kind::RouteTable => "route-table",
            Kind::NetworkAcl => "network-acl",
            Kind::Eni => "eni",
            Kind::EndpointEni => "endpoint-eni",
            Kind::NatGateway => "nat-gateway",
            Kind::GatewayEndpoint => "gateway-endpoint",
            Kind::InterfaceEndpoint => "interface-endpoint",
            Kind::InternetGateway => "internet-gateway",
            Kind::Port => "port",
        }
    }
}

/// A box in the drawing. `id` is the AWS id (ports: `port:<PortId>`).
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: Kind,
    /// Lines of the label, the id first.
    pub label: Vec<String>,
    /// The innermost cluster holding it (index into `Graph::clusters`).
    pub cluster: Option<usize>,
}

/// A frame: a VPC, an availability zone, a subnet.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub id: String,
    pub label: String,
    pub parent: Option<usize>,
}

/// A topology edge.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
    /// Association (subnet → its route table / NACL): drawn dashed.
    pub association: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub clusters: Vec<Cluster>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// The node id of a port.
pub fn port_node(port_id: &str) -> String {
    format!("port:{port_id}")
}

/// Builds the topology of a (valid) config.
pub fn build(cfg: &Config) -> Graph {
    let mut g = Graph::default();
    let mut subnet_cluster: BTreeMap<&str, usize> = BTreeMap::new();
    let mut vpc_cluster: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &cfg.vpcs {
        let first = v.cidr_block.to_string();
        let mut cidrs = vec![first.clone()];
        cidrs.extend(
            v.cidr_block_association_set
                .iter()
                .map(|c| c.cidr_block.to_string())
                .filter(|c| *c != first),
        );
        let vi = g.clusters.len();
        g.clusters.push(Cluster {
            id: v.vpc_id.clone(),
            label: format!("{} {}", v.vpc_id, cidrs.join(" ")),
            parent: None,
        });
        vpc_cluster.insert(&v.vpc_id, vi);
        // Availability zones in order of first appearance, subnets inside.
        let mut azs: Vec<&str> = Vec::new();
        for s in cfg.subnets.iter().filter(|s| s.vpc_id == v.vpc_id) {
            let az = s.availability_zone.as_deref().unwrap_or("(no AZ)");
            if !azs.contains(&az) {
                azs.push(az);
            }
        }
        for az in azs {
            let ai = g.clusters.len();
            g.clusters.push(Cluster {
                id: format!("{}/{az}", v.vpc_id),
                label: az.to_string(),
                parent: Some(vi),
            });
            for s in cfg.subnets.iter().filter(|s| {
                s.vpc_id == v.vpc_id && s.availability_zone.as_deref().unwrap_or("(no AZ)") == az
            }) {
                let si = g.clusters.len();
                g.clusters.push(Cluster {
                    id: s.subnet_id.clone(),
                    label: s.subnet_id.clone(),
                    parent: Some(ai),
                });
                subnet_cluster.insert(&s.subnet_id, si);
                g.nodes.push(Node {
                    id: s.subnet_id.clone(),
                    kind: Kind::Subnet,
                    label: vec![
                        "subnet".into(),
                        s.cidrs()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ],
                    cluster: Some(si),
                });
            }
        }
    }

    // Route tables: their routes in the label, an edge per route to a drawn target.
    for rt in &cfg.route_tables {
        let main = rt.associations.iter().any(|a| a.main == Some(true));
        let mut label = vec![if main {
            format!("{} (main)", rt.route_table_id)
        } else {
            rt.route_table_id.clone()
        }];
        if let Some(v) = cfg.vpcs.iter().find(|v| v.vpc_id == rt.vpc_id) {
            label.push(format!("{} → local", v.cidr_block));
        }
        for r in &rt.routes {
            let dest = r.destination_text().unwrap_or_else(|| "?".into());
            let target = r
                .gateway_id
                .clone()
                .or_else(|| r.nat_gateway_id.clone())
                .or_else(|| r.network_interface_id.clone())
                .or_else(|| r.egress_only_internet_gateway_id.clone());
            let blackhole = r.state == Some(RouteState::Blackhole);
            label.push(match (&target, blackhole) {
                (Some(t), false) => format!("{dest} → {t}"),
                (Some(t), true) => format!("{dest} → {t} (blackhole)"),
                (None, _) => format!("{dest} → blackhole"),
            });
            if let Some(t) = target.filter(|_| !blackhole) {
                g.edges.push(Edge {
                    from: rt.route_table_id.clone(),
                    to: t,
                    label: Some(dest),
                    association: false,
                });
            }
        }
        // Gateway endpoints add their service's prefix list to the tables they name.
        for ep in cfg.vpc_endpoints.iter().filter(|e| {
            e.vpc_endpoint_type == VpcEndpointType::Gateway
                && e.route_table_ids.contains(&rt.route_table_id)
        }) {
            let pl = cfg
                .managed_prefix_lists
                .iter()
                .find(|p| p.prefix_list_name == ep.service_name)
                .map(|p| p.prefix_list_id.clone())
                .unwrap_or_else(|| format!("pl-{}", ep.service_name));
            label.push(format!("{pl} → {}", ep.vpc_endpoint_id));
            g.edges.push(Edge {
                from: rt.route_table_id.clone(),
                to: ep.vpc_endpoint_id.clone(),
                label: Some(pl),
                association: false,
            });
        }
        g.nodes.push(Node {
            id: rt.route_table_id.clone(),
            kind: Kind::RouteTable,
            label,
            cluster: vpc_cluster.get(rt.vpc_id.as_str()).copied(),
        });
    }
    for acl in &cfg.network_acls {
        let mut label = vec![if acl.is_default {
            format!("{} (default)", acl.network_acl_id)
        } else {
            acl.network_acl_id.clone()
        }];
        match &acl.entries {
            None => label.push("AWS initial entries".into()),
            Some(es) => {
                let deny = es
                    .iter()
                    .filter(|e| e.rule_action == crate::config::RuleAction::Deny)
                    .count();
                label.push(format!("{} rules, {deny} deny", es.len()));
            }
        }
        g.nodes.push(Node {
            id: acl.network_acl_id.clone(),
            kind: Kind::NetworkAcl,
            label,
            cluster: vpc_cluster.get(acl.vpc_id.as_str()).copied(),
        });
    }
    // Each subnet's route table and NACL (explicit association, else the main / default one).
    for s in &cfg.subnets {
        let rt = cfg
            .route_tables
            .iter()
            .find(|t| {
                t.associations
                    .iter()
                    .any(|a| a.subnet_id.as_deref() == Some(&s.subnet_id))
            })
            .or_else(|| {
                cfg.route_tables.iter().find(|t| {
                    t.vpc_id == s.vpc_id && t.associations.iter().any(|a| a.main == Some(true))
                })
            });
        if let Some(rt) = rt {
            g.edges.push(Edge {
                from: s.subnet_id.clone(),
                to: rt.route_table_id.clone(),
                label: None,
                association: true,
            });
        }
        let acl = cfg
            .network_acls
            .iter()
            .find(|a| a.associations.iter().any(|x| x.subnet_id == s.subnet_id))
            .or_else(|| {
                cfg.network_acls
                    .iter()
                    .find(|a| a.vpc_id == s.vpc_id && a.is_default)
            });
        if let Some(acl) = acl {
            g.edges.push(Edge {
                from: s.subnet_id.clone(),
                to: acl.network_acl_id.clone(),
                label: None,
                association: true,
            });
        }
    }
    // ENIs in their subnet, with addresses and security groups.
    let endpoint_of = |eni: &str| {
        cfg.vpc_endpoints
            .iter()
            .find(|e| e.network_interface_ids.iter().any(|x| x == eni))
    };
    for e in &cfg.network_interfaces {
        let mut label = vec![e.network_interface_id.clone()];
        let first = e.private_ip_address.map(|a| a.to_string());
        let mut addrs: Vec<String> = first.iter().cloned().collect();
        addrs.extend(
            e.private_ip_addresses
                .iter()
                .map(|a| a.private_ip_address.to_string())
                .filter(|a| Some(a) != first.as_ref()),
        );
        addrs.extend(e.ipv6_addresses.iter().map(|a| a.ipv6_address.to_string()));
        let mut line = addrs.join(", ");
        if let Some(a) = &e.association {
            line.push_str(&format!(" / {}", a.public_ip));
        }
        label.push(line);
        let groups: Vec<&str> = e.groups.iter().map(|g| g.group_id.as_str()).collect();
        label.push(if groups.is_empty() {
            "SG: default".into()
        } else {
            format!("SG: {}", groups.join(", "))
        });
        let ep = endpoint_of(&e.network_interface_id);
        if let Some(i) = e.attachment.as_ref().and_then(|a| a.instance_id.as_ref()) {
            label.push(format!("instance {i}"));
        }
        if e.source_dest_check == Some(false) {
            label.push("source/dest check off".into());
        }
        g.nodes.push(Node {
            id: e.network_interface_id.clone(),
            kind: if ep.is_some() {
                Kind::EndpointEni
            } else {
                Kind::Eni
            },
            label,
            cluster: subnet_cluster.get(e.subnet_id.as_str()).copied(),
        });
        if let Some(ep) = ep {
            g.edges.push(Edge {
                from: e.network_interface_id.clone(),
                to: ep.vpc_endpoint_id.clone(),
                label: None,
                association: false,
            });
        }
    }
    for n in &cfg.nat_gateways {
        let mut label = vec![n.nat_gateway_id.clone()];
        for a in &n.nat_gateway_addresses {
            label.push(match a.public_ip {
                Some(p) => format!("{} → {p}", a.private_ip),
                None => a.private_ip.to_string(),
            });
        }
        g.nodes.push(Node {
            id: n.nat_gateway_id.clone(),
            kind: Kind::NatGateway,
            label,
            cluster: subnet_cluster.get(n.subnet_id.as_str()).copied(),
        });
    }
    for ep in &cfg.vpc_endpoints {
        let mut label = vec![ep.vpc_endpoint_id.clone()];
        let kind = match ep.vpc_endpoint_type {
            VpcEndpointType::Gateway => {
                label.push(format!("gateway endpoint: {}", ep.service_name));
                if let Some(p) = cfg
                    .managed_prefix_lists
                    .iter()
                    .find(|p| p.prefix_list_name == ep.service_name)
                {
                    let entries: Vec<String> =
                        p.entries.iter().map(|e| e.cidr.to_string()).collect();
                    label.push(format!("{}: {}", p.prefix_list_id, entries.join(", ")));
                }
                Kind::GatewayEndpoint
            }
            VpcEndpointType::Interface => {
                label.push(format!("interface endpoint: {}", ep.service_name));
                if !ep.load_balancer_addresses.is_empty() {
                    let lb: Vec<String> = ep
                        .load_balancer_addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect();
                    label.push(format!("NLB {}", lb.join(", ")));
                }
                if !ep.service_targets.is_empty() {
                    let t: Vec<String> = ep.service_targets.iter().map(|a| a.to_string()).collect();
                    label.push(format!("targets {}", t.join(", ")));
                }
                Kind::InterfaceEndpoint
            }
        };
        g.nodes.push(Node {
            id: ep.vpc_endpoint_id.clone(),
            kind,
            label,
            cluster: vpc_cluster.get(ep.vpc_id.as_str()).copied(),
        });
    }
    for igw in &cfg.internet_gateways {
        g.nodes.push(Node {
            id: igw.internet_gateway_id.clone(),
            kind: Kind::InternetGateway,
            label: vec![igw.internet_gateway_id.clone(), "internet gateway".into()],
            cluster: None,
        });
    }
    for g6 in &cfg.egress_only_internet_gateways {
        g.nodes.push(Node {
            id: g6.egress_only_internet_gateway_id.clone(),
            kind: Kind::InternetGateway,
            label: vec![
                g6.egress_only_internet_gateway_id.clone(),
                "egress-only internet gateway".into(),
            ],
            cluster: None,
        });
    }
    for p in &cfg.ports {
        let mut label = vec![format!("port {}", p.port_id)];
        let addrs: Vec<String> = p.addresses.iter().map(|a| a.to_string()).collect();
        if !addrs.is_empty() {
            label.push(addrs.join(", "));
        }
        let id = port_node(&p.port_id);
        g.nodes.push(Node {
            id: id.clone(),
            kind: Kind::Port,
            label,
            cluster: None,
        });
        let att = p
            .network_interface_id
            .clone()
            .or_else(|| p.internet_gateway_id.clone())
            .or_else(|| p.vpc_endpoint_id.clone());
        if let Some(a) = att {
            g.edges.push(Edge {
                from: id,
                to: a,
                label: None,
                association: false,
            });
        }
    }
    // Edges to ids the config does not draw (a route to a deleted target) are dropped.
    let known: std::collections::BTreeSet<String> = g.nodes.iter().map(|n| n.id.clone()).collect();
    g.edges
        .retain(|e| known.contains(&e.from) && known.contains(&e.to));
    g
}
