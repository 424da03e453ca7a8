//! The compiled, immutable form of a config that the pipeline reads per packet: dense indices
//! instead of string ids, route tables as FIBs, rules in `policy` form. Built once per (re)load,
//! off the hot path, and shared read-only by every worker.
//!
//! Index spaces follow the config's lists: `enis[i]` is `Config::network_interfaces[i]`,
//! `endpoints[i]` is `Config::vpc_endpoints[i]`, `ports[i]` is `Config::ports[i]`.

use crate::config::{
    self, Config, ConfigError, ErrorLocation, RouteOrigin, RouteState, VpcEndpointType,
};
use crate::lpm::{Fib4, Fib6};
use crate::policy::{self, L4Match, NACL_STAR, Nacl, NaclRule, Sg, SgRule};
use crate::wire::IpProtocol;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr};

/// Index of a port. Ports keep the order of `Config::ports`, so `PortIdx(i)` is `ports[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortIdx(pub u16);

/// Where a port attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// The instance behind an ENI (index into `enis`).
    Eni(u32),
    /// The internet beyond the internet gateway.
    Internet,
    /// The service network behind a VPC endpoint (index into `endpoints`).
    Service(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub id: String,
    pub kind: PortKind,
}

/// Where a route sends traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Local,
    Igw,
    Nat(u32),
    GatewayEndpoint(u32),
    Eni(u32),
    /// Declared blackhole, or a target that no longer exists.
    Blackhole,
}

/// Why a route is in the table: decides ties between routes of the same prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSource {
    /// The implied route of a VPC CIDR.
    Local,
    /// A static route to a CIDR.
    Cidr,
    /// One entry of a prefix list (written route, or a gateway endpoint's managed route).
    PrefixList { pl: String, endpoint: bool },
    /// A propagated route.
    Propagated,
}

impl RouteSource {
    /// AWS's tie order on equal prefixes: static CIDR (and local) > prefix list > propagated.
    fn rank(&self) -> u8 {
        match self {
            RouteSource::Local | RouteSource::Cidr => 0,
            RouteSource::PrefixList { .. } => 1,
            RouteSource::Propagated => 2,
        }
    }
}

/// A route after prefix-list expansion and tie resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dest: IpNet,
    pub source: RouteSource,
    pub target: Target,
    /// The target as written (`igw-…`, `nat-…`, `local`), for trace and metrics.
    pub target_id: String,
    /// Set when this route beat others of the same prefix: who lost and why.
    pub won_over: Option<String>,
}

/// A compiled route table.
pub struct RouteTable {
    pub id: String,
    pub fib4: Fib4,
    pub fib6: Fib6,
    /// Next hops of both FIBs index this.
    pub routes: Vec<Route>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable")
            .field("id", &self.id)
            .field("routes", &self.routes)
            .finish()
    }
}

impl RouteTable {
    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, dst: IpAddr) -> Option<u32> {
        match dst {
            IpAddr::V4(a) => self.fib4.lookup(a),
            IpAddr::V6(a) => self.fib6.lookup(a),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: String,
    pub cidrs: Vec<IpNet>,
    pub route_table: u32,
    pub nacl: u32,
}

#[derive(Debug, Clone)]
pub struct Eni {
    pub id: String,
    pub subnet: u32,
    /// Private addresses (v4 and v6); the first is the primary.
    pub addrs: Vec<IpAddr>,
    pub public_ip: Option<Ipv4Addr>,
    pub sgs: Vec<u32>,
    pub src_dst_check: bool,
    pub port: Option<PortIdx>,
    /// Set for the requester-managed ENI of an interface endpoint.
    pub endpoint: Option<u32>,
    /// Idle timeouts of its tracked flows (AWS defaults, or its ConnectionTrackingConfiguration).
    pub timeouts: crate::flow::Timeouts,
    /// Flow-table zone of its security-group state. Unlike the index, it stays the same for the
    /// same ENI id across reloads (see [`compile_after`]), so tracked flows survive a reload.
    pub zone: u16,
}

#[derive(Debug, Clone)]
pub struct NatGateway {
    pub id: String,
    pub subnet: u32,
    pub private_ips: Vec<Ipv4Addr>,
    pub public_ips: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub gateway: bool,
    pub service: String,
    pub port: Option<PortIdx>,
    /// Service targets behind an interface endpoint, as the flow table takes them.
    pub targets: Vec<(IpAddr, u16)>,
    pub lb_addrs: Vec<IpAddr>,
    /// A DynamoDB gateway endpoint: security groups always track flows through it.
    pub dynamodb: bool,
}

/// The compiled VPC.
#[derive(Debug)]
pub struct Snapshot {
    pub vpc_id: String,
    pub vpc_cidrs: Vec<IpNet>,
    pub ipv6: bool,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub nacls: Vec<Nacl>,
    pub sgs: Vec<Sg>,
    pub enis: Vec<Eni>,
    pub nat_gateways: Vec<NatGateway>,
    pub endpoints: Vec<Endpoint>,
    pub igw_id: Option<String>,
    pub internet_port: Option<PortIdx>,
    pub ports: Vec<PortSpec>,
    /// Private address (v4/v6) → ENI.
    pub eni_by_ip: FxHashMap<IpAddr, u32>,
    /// Public IPv4 → ENI (the internet gateway's 1:1 map).
    pub eni_by_public: FxHashMap<Ipv4Addr, u32>,
    pub router_mode: bool,
    /// `AccountId` of the config (`-` when absent): the flow logs' account-id field.
    pub account_id: String,
    /// The next flow-table zone a new ENI gets (zones are never reused while running).
    pub next_zone: u32,
}

/// 169.254.168.0/22 and fd00:ec2::/32: never forwarded.
pub fn reserved_destinations() -> [IpNet; 2] {
    [
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 168, 0), 22)),
        IpNet::V6(Ipv6Net::new_assert(
            std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0),
            32,
        )),
    ]
}

fn err(id: &str, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        location: ErrorLocation::Object {
            id: id.to_string(),
            field: field.into(),
        },
        message: message.into(),
    }
}

/// Compiles a validated config. Inconsistencies it meets anyway are errors, never panics.
pub fn compile(cfg: &Config) -> Result<Snapshot, Vec<ConfigError>> {
    compile_after(cfg, None)
}

/// Compiles a config that replaces `prev` (a reload): an ENI keeps the flow-table zone it had in
/// `prev`, a new ENI gets a zone never used before, so the flow state of a kept ENI stays valid
/// and a new ENI never inherits the flows of a removed one.
pub fn compile_after(cfg: &Config, prev: Option<&Snapshot>) -> Result<Snapshot, Vec<ConfigError>> {
    let mut snap = compile_fresh(cfg)?;
    let mut next = prev.map_or(0, |p| p.next_zone);
    for e in &mut snap.enis {
        match prev.and_then(|p| p.enis.iter().find(|o| o.id == e.id)) {
            Some(o) => e.zone = o.zone,
            None => {
                let Ok(z) = u16::try_from(next) else {
                    return Err(vec![err(
                        &e.id,
                        "NetworkInterfaceId",
                        "more than 65536 distinct ENIs since start-up: restart vpcfwd",
                    )]);
                };
                e.zone = z;
                next += 1;
            }
        }
    }
    snap.next_zone = next;
    Ok(snap)
}

fn compile_fresh(cfg: &Config) -> Result<Snapshot, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let Some(vpc) = cfg.vpcs.first() else {
        return Err(vec![err("Vpcs", "Vpcs", "the config declares no VPC")]);
    };
    let mut vpc_cidrs: Vec<IpNet> = vec![vpc.cidr_block.into()];
    for a in &vpc.cidr_block_association_set {
        let n = IpNet::from(a.cidr_block);
        if !vpc_cidrs.contains(&n) {
            vpc_cidrs.push(n);
        }
    }
    for a in &vpc.ipv6_cidr_block_association_set {
        vpc_cidrs.push(a.ipv6_cidr_block.into());
    }
    let ipv6 = !vpc.ipv6_cidr_block_association_set.is_empty();

    let idx = |ids: Vec<&String>| -> FxHashMap<String, u32> {
        ids.into_iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect()
    };
    let subnet_ix = idx(cfg.subnets.iter().map(|s| &s.subnet_id).collect());
    let rtb_ix = idx(cfg.route_tables.iter().map(|r| &r.route_table_id).collect());
    let eni_ix = idx(cfg
        .network_interfaces
        .iter()
        .map(|e| &e.network_interface_id)
        .collect());
    let nat_ix = idx(cfg.nat_gateways.iter().map(|n| &n.nat_gateway_id).collect());
    let vpce_ix = idx(cfg
        .vpc_endpoints
        .iter()
        .map(|e| &e.vpc_endpoint_id)
        .collect());
    let pl_by_id: FxHashMap<&str, &config::ManagedPrefixList> = cfg
        .managed_prefix_lists
        .iter()
        .map(|p| (p.prefix_list_id.as_str(), p))
        .collect();

    // Security groups: declared ones, then the VPC default group if none is named `default`.
    let mut sg_cfgs: Vec<config::SecurityGroup> = cfg.security_groups.clone();
    let default_sg = match sg_cfgs.iter().position(|g| g.group_name == "default") {
        Some(i) => i as u32,
        None => {
            let suffix = vpc.vpc_id.trim_start_matches("vpc-");
            sg_cfgs.push(config::SecurityGroup {
                group_id: format!("sg-default-{suffix}"),
                group_name: "default".into(),
                vpc_id: vpc.vpc_id.clone(),
                description: Some("synthesized VPC default security group".into()),
                security_group_rules: None,
                tags: vec![],
            });
            (sg_cfgs.len() - 1) as u32
        }
    };
    let sg_ix = idx(sg_cfgs.iter().map(|g| &g.group_id).collect());

    // ENIs.
    let mut enis = Vec::with_capacity(cfg.network_interfaces.len());
    let mut eni_by_ip = FxHashMap::default();
    let mut eni_by_public = FxHashMap::default();
    for (i, e) in cfg.network_interfaces.iter().enumerate() {
        let id = &e.network_interface_id;
        let Some(&subnet) = subnet_ix.get(&e.subnet_id) else {
            errors.push(err(
                id,
                "SubnetId",
                format!("unknown subnet {}", e.subnet_id),
            ));
            continue;
        };
        let mut addrs: Vec<IpAddr> = vec![e.private_ip_address.into()];
        for a in &e.private_ip_addresses {
            let a = IpAddr::from(a.private_ip_address);
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        addrs.extend(
            e.ipv6_addresses
                .iter()
                .map(|a| IpAddr::from(a.ipv6_address)),
        );
        for a in &addrs {
            eni_by_ip.insert(*a, i as u32);
        }
        let public_ip = e.association.as_ref().map(|a| a.public_ip).or_else(|| {
            e.private_ip_addresses
                .iter()
                .find_map(|p| p.association.as_ref().map(|a| a.public_ip))
        });
        if let Some(p) = public_ip {
            eni_by_public.insert(p, i as u32);
        }
        // An endpoint ENI carries its endpoint's groups when it names none itself.
        let endpoint = cfg
            .vpc_endpoints
            .iter()
            .position(|ep| ep.network_interface_ids.contains(id))
            .map(|p| p as u32);
        let mut groups: Vec<&String> = e.groups.iter().map(|g| &g.group_id).collect();
        if groups.is_empty()
            && let Some(ep) = endpoint
        {
            groups = cfg.vpc_endpoints[ep as usize]
                .groups
                .iter()
                .map(|g| &g.group_id)
                .collect();
        }
        let mut sgs = Vec::new();
        for (k, g) in groups.iter().enumerate() {
            match sg_ix.get(*g) {
                Some(&s) => sgs.push(s),
                None => errors.push(err(
                    id,
                    format!("Groups[{k}].GroupId"),
                    format!("unknown security group {g}"),
                )),
            }
        }
        if sgs.is_empty() {
            sgs.push(default_sg);
        }
        enis.push(Eni {
            id: id.clone(),
            subnet,
            addrs,
            public_ip,
            sgs,
            src_dst_check: e.source_dest_check.unwrap_or(true),
            port: None,
            endpoint,
            zone: 0,
            timeouts: {
                let c = e.connection_tracking_configuration.unwrap_or_default();
                crate::flow::Timeouts::with_overrides(
                    c.tcp_established_timeout,
                    c.udp_timeout,
                    c.udp_stream_timeout,
                    cfg.options.icmp_timeout,
                )
            },
        });
    }

    // Security groups, with peers resolved to address sets.
    let sgs: Vec<Sg> = sg_cfgs
        .iter()
        .map(|g| compile_sg(g, &sg_ix, &enis, &pl_by_id, &mut errors))
        .collect();

    // NACLs.
    let nacls: Vec<Nacl> = cfg
        .network_acls
        .iter()
        .map(|n| compile_nacl(n, &mut errors))
        .collect();
    let default_nacl = cfg.network_acls.iter().position(|n| n.is_default);
    let main_rtb = cfg
        .route_tables
        .iter()
        .position(|r| r.associations.iter().any(|a| a.main == Some(true)));

    // Subnets.
    let mut subnets = Vec::with_capacity(cfg.subnets.len());
    for s in &cfg.subnets {
        let rt = cfg
            .route_tables
            .iter()
            .position(|r| {
                r.associations
                    .iter()
                    .any(|a| a.subnet_id.as_ref() == Some(&s.subnet_id))
            })
            .or(main_rtb);
        let nacl = cfg
            .network_acls
            .iter()
            .position(|n| n.associations.iter().any(|a| a.subnet_id == s.subnet_id))
            .or(default_nacl);
        let (Some(rt), Some(nacl)) = (rt, nacl) else {
            errors.push(err(
                &s.subnet_id,
                "SubnetId",
                "no route table (and no main one) or no network ACL (and no default one)",
            ));
            continue;
        };
        let mut cidrs = vec![IpNet::from(s.cidr_block)];
        cidrs.extend(
            s.ipv6_cidr_block_association_set
                .iter()
                .map(|a| IpNet::from(a.ipv6_cidr_block)),
        );
        subnets.push(Subnet {
            id: s.subnet_id.clone(),
            cidrs,
            route_table: rt as u32,
            nacl: nacl as u32,
        });
    }

    let igw = cfg.internet_gateways.iter().find(|g| {
        g.attachments.iter().any(|a| {
            a.vpc_id == vpc.vpc_id
                && a.state
                    .as_deref()
                    .is_none_or(|s| s == "available" || s == "attached")
        })
    });

    // Route tables.
    let mut route_tables = Vec::with_capacity(cfg.route_tables.len());
    for rt in &cfg.route_tables {
        route_tables.push(compile_route_table(
            cfg,
            rt,
            &vpc_cidrs,
            igw.map(|g| g.internet_gateway_id.as_str()),
            &nat_ix,
            &eni_ix,
            &vpce_ix,
            &pl_by_id,
            &mut errors,
        ));
    }
    let _ = rtb_ix;

    let nat_gateways = cfg
        .nat_gateways
        .iter()
        .filter_map(|n| {
            let Some(&subnet) = subnet_ix.get(&n.subnet_id) else {
                errors.push(err(
                    &n.nat_gateway_id,
                    "SubnetId",
                    format!("unknown subnet {}", n.subnet_id),
                ));
                return None;
            };
            Some(NatGateway {
                id: n.nat_gateway_id.clone(),
                subnet,
                private_ips: n
                    .nat_gateway_addresses
                    .iter()
                    .map(|a| a.private_ip)
                    .collect(),
                public_ips: n
                    .nat_gateway_addresses
                    .iter()
                    .filter_map(|a| a.public_ip)
                    .collect(),
            })
        })
        .collect();

    let mut endpoints: Vec<Endpoint> = cfg
        .vpc_endpoints
        .iter()
        .map(|e| Endpoint {
            id: e.vpc_endpoint_id.clone(),
            gateway: e.vpc_endpoint_type == VpcEndpointType::Gateway,
            service: e.service_name.clone(),
            port: None,
            targets: e
                .service_targets
                .iter()
                .map(|t| (t.ip(), t.port()))
                .collect(),
            lb_addrs: e.load_balancer_addresses.clone(),
            dynamodb: e.vpc_endpoint_type == VpcEndpointType::Gateway
                && e.service_name.ends_with(".dynamodb"),
        })
        .collect();

    // Ports.
    let mut ports = Vec::with_capacity(cfg.ports.len());
    let mut internet_port = None;
    for (i, p) in cfg.ports.iter().enumerate() {
        let pi = PortIdx(i as u16);
        let kind = if let Some(e) = &p.network_interface_id {
            match eni_ix.get(e) {
                Some(&x) => {
                    if let Some(eni) = enis.get_mut(x as usize) {
                        eni.port = Some(pi);
                    }
                    PortKind::Eni(x)
                }
                None => {
                    errors.push(err(
                        &p.port_id,
                        "NetworkInterfaceId",
                        format!("unknown ENI {e}"),
                    ));
                    continue;
                }
            }
        } else if p.internet_gateway_id.is_some() {
            internet_port = Some(pi);
            PortKind::Internet
        } else if let Some(e) = &p.vpc_endpoint_id {
            match vpce_ix.get(e) {
                Some(&x) => {
                    endpoints[x as usize].port = Some(pi);
                    PortKind::Service(x)
                }
                None => {
                    errors.push(err(
                        &p.port_id,
                        "VpcEndpointId",
                        format!("unknown endpoint {e}"),
                    ));
                    continue;
                }
            }
        } else {
            errors.push(err(&p.port_id, "PortId", "the port attaches to nothing"));
            continue;
        };
        ports.push(PortSpec {
            id: p.port_id.clone(),
            kind,
        });
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Snapshot {
        vpc_id: vpc.vpc_id.clone(),
        vpc_cidrs,
        ipv6,
        subnets,
        route_tables,
        nacls,
        sgs,
        enis,
        nat_gateways,
        endpoints,
        igw_id: igw.map(|g| g.internet_gateway_id.clone()),
        internet_port,
        ports,
        eni_by_ip,
        eni_by_public,
        router_mode: cfg.options.router_mode,
        account_id: cfg.account_id.clone().unwrap_or_else(|| "-".into()),
        next_zone: 0,
    })
}

fn all_v4() -> IpNet {
    IpNet::V4(Ipv4Net::default())
}
fn all_v6() -> IpNet {
    IpNet::V6(Ipv6Net::default())
}

fn compile_sg(
    g: &config::SecurityGroup,
    sg_ix: &FxHashMap<String, u32>,
    enis: &[Eni],
    pls: &FxHashMap<&str, &config::ManagedPrefixList>,
    errors: &mut Vec<ConfigError>,
) -> Sg {
    let mut sg = Sg {
        id: g.group_id.clone(),
        ingress: vec![],
        egress: vec![],
    };
    let Some(rules) = &g.security_group_rules else {
        // AWS's initial rules: the default group admits itself; every group sends anywhere.
        let me = sg_ix.get(&g.group_id).copied().unwrap_or(u32::MAX);
        if g.group_name == "default" {
            sg.ingress.push(SgRule {
                index: 0,
                proto: None,
                l4: L4Match::Any,
                peer: g.group_id.clone(),
                peer_nets: group_members(me, enis),
            });
        }
        for (k, n) in [all_v4(), all_v6()].into_iter().enumerate() {
            sg.egress.push(SgRule {
                index: k as u16,
                proto: None,
                l4: L4Match::Any,
                peer: n.to_string(),
                peer_nets: vec![n],
            });
        }
        return sg;
    };
    for (i, r) in rules.iter().enumerate() {
        let field = format!("SecurityGroupRules[{i}]");
        let Some(proto) = policy::parse_protocol(&r.ip_protocol) else {
            errors.push(err(
                &g.group_id,
                format!("{field}.IpProtocol"),
                format!("unknown protocol {:?}", r.ip_protocol),
            ));
            continue;
        };
        let (peer, peer_nets) = if let Some(c) = r.cidr_ipv4 {
            (c.to_string(), vec![IpNet::from(c)])
        } else if let Some(c) = r.cidr_ipv6 {
            (c.to_string(), vec![IpNet::from(c)])
        } else if let Some(pl) = &r.prefix_list_id {
            match pls.get(pl.as_str()) {
                Some(p) => (
                    pl.clone(),
                    p.entries.iter().map(|e| e.cidr.trunc()).collect(),
                ),
                None => {
                    errors.push(err(
                        &g.group_id,
                        format!("{field}.PrefixListId"),
                        format!("unknown prefix list {pl}"),
                    ));
                    continue;
                }
            }
        } else if let Some(rg) = &r.referenced_group_info {
            match sg_ix.get(&rg.group_id) {
                Some(&x) => (rg.group_id.clone(), group_members(x, enis)),
                None => {
                    errors.push(err(
                        &g.group_id,
                        format!("{field}.ReferencedGroupInfo.GroupId"),
                        format!("unknown security group {}", rg.group_id),
                    ));
                    continue;
                }
            }
        } else {
            errors.push(err(&g.group_id, &field, "the rule names no peer"));
            continue;
        };
        let list = if r.is_egress {
            &mut sg.egress
        } else {
            &mut sg.ingress
        };
        list.push(SgRule {
            index: i as u16,
            proto,
            l4: L4Match::from_aws(proto, r.from_port, r.to_port),
            peer,
            peer_nets,
        });
    }
    sg
}

/// Host routes of the private addresses of every ENI carrying group `g` (never public ones).
fn group_members(g: u32, enis: &[Eni]) -> Vec<IpNet> {
    enis.iter()
        .filter(|e| e.sgs.contains(&g))
        .flat_map(|e| e.addrs.iter().map(|a| IpNet::from(*a)))
        .collect()
}

fn compile_nacl(n: &config::NetworkAcl, errors: &mut Vec<ConfigError>) -> Nacl {
    let mut nacl = Nacl {
        id: n.network_acl_id.clone(),
        inbound: vec![],
        outbound: vec![],
    };
    let allow_all = |number, cidr| NaclRule {
        number,
        allow: true,
        proto: None,
        cidr,
        l4: L4Match::Any,
    };
    match &n.entries {
        None if n.is_default => {
            for list in [&mut nacl.inbound, &mut nacl.outbound] {
                list.push(allow_all(100, all_v4()));
                list.push(allow_all(101, all_v6()));
            }
        }
        None => {}
        Some(entries) => {
            for (i, e) in entries.iter().enumerate() {
                if e.rule_number >= u32::from(NACL_STAR) {
                    continue; // AWS's `*` as exported by describe: implied below.
                }
                let Some(proto) = policy::parse_protocol(&e.protocol) else {
                    errors.push(err(
                        &n.network_acl_id,
                        format!("Entries[{i}].Protocol"),
                        format!("unknown protocol {:?}", e.protocol),
                    ));
                    continue;
                };
                let Some(cidr) = e
                    .cidr_block
                    .map(IpNet::from)
                    .or(e.ipv6_cidr_block.map(IpNet::from))
                else {
                    errors.push(err(
                        &n.network_acl_id,
                        format!("Entries[{i}].CidrBlock"),
                        "no CidrBlock or Ipv6CidrBlock",
                    ));
                    continue;
                };
                let (from, to) = match (proto, e.port_range, e.icmp_type_code) {
                    (Some(IpProtocol::Icmp | IpProtocol::Icmpv6), _, Some(t)) => {
                        (Some(t.r#type), Some(t.code))
                    }
                    (_, Some(p), _) => (Some(p.from), Some(p.to)),
                    _ => (None, None),
                };
                let rule = NaclRule {
                    number: e.rule_number as u16,
                    allow: e.rule_action == config::RuleAction::Allow,
                    proto,
                    cidr: cidr.trunc(),
                    l4: L4Match::from_aws(proto, from, to),
                };
                if e.egress {
                    nacl.outbound.push(rule);
                } else {
                    nacl.inbound.push(rule);
                }
            }
        }
    }
    nacl.inbound.sort_by_key(|r| r.number);
    nacl.outbound.sort_by_key(|r| r.number);
    nacl
}

#[allow(clippy::too_many_arguments)]
fn compile_route_table(
    cfg: &Config,
    rt: &config::RouteTable,
    vpc_cidrs: &[IpNet],
    igw: Option<&str>,
    nat_ix: &FxHashMap<String, u32>,
    eni_ix: &FxHashMap<String, u32>,
    vpce_ix: &FxHashMap<String, u32>,
    pls: &FxHashMap<&str, &config::ManagedPrefixList>,
    errors: &mut Vec<ConfigError>,
) -> RouteTable {
    let id = &rt.route_table_id;
    let mut cands: Vec<Route> = vpc_cidrs
        .iter()
        .map(|c| Route {
            dest: *c,
            source: RouteSource::Local,
            target: Target::Local,
            target_id: "local".into(),
            won_over: None,
        })
        .collect();
    for (i, r) in rt.routes.iter().enumerate() {
        let field = format!("Routes[{i}]");
        let blackhole = r.state == Some(RouteState::Blackhole);
        let (target, target_id) = if let Some(g) = &r.gateway_id {
            if g == "local" {
                continue; // the implied local route already stands for it
            } else if Some(g.as_str()) == igw {
                (Target::Igw, g.clone())
            } else if let Some(&e) = vpce_ix.get(g) {
                (Target::GatewayEndpoint(e), g.clone())
            } else {
                (Target::Blackhole, g.clone())
            }
        } else if let Some(n) = &r.nat_gateway_id {
            (
                nat_ix.get(n).map_or(Target::Blackhole, |&x| Target::Nat(x)),
                n.clone(),
            )
        } else if let Some(e) = &r.network_interface_id {
            (
                eni_ix.get(e).map_or(Target::Blackhole, |&x| Target::Eni(x)),
                e.clone(),
            )
        } else {
            (Target::Blackhole, "blackhole".into())
        };
        let target = if blackhole { Target::Blackhole } else { target };
        let propagated = r.origin == Some(RouteOrigin::EnableVgwRoutePropagation);
        if let Some(d) = r
            .destination_cidr_block
            .map(IpNet::from)
            .or(r.destination_ipv6_cidr_block.map(IpNet::from))
        {
            cands.push(Route {
                dest: d.trunc(),
                source: if propagated {
                    RouteSource::Propagated
                } else {
                    RouteSource::Cidr
                },
                target,
                target_id,
                won_over: None,
            });
        } else if let Some(pl) = &r.destination_prefix_list_id {
            match pls.get(pl.as_str()) {
                Some(p) => {
                    for e in &p.entries {
                        cands.push(Route {
                            dest: e.cidr.trunc(),
                            source: RouteSource::PrefixList {
                                pl: pl.clone(),
                                endpoint: false,
                            },
                            target,
                            target_id: target_id.clone(),
                            won_over: None,
                        });
                    }
                }
                None => errors.push(err(
                    id,
                    format!("{field}.DestinationPrefixListId"),
                    format!("unknown prefix list {pl}"),
                )),
            }
        } else {
            errors.push(err(id, &field, "the route has no destination"));
        }
    }
    // Gateway endpoints associated with this table add `pl-<service> → vpce-…`.
    for (k, ep) in cfg.vpc_endpoints.iter().enumerate() {
        if ep.vpc_endpoint_type != VpcEndpointType::Gateway || !ep.route_table_ids.contains(id) {
            continue;
        }
        let Some(p) = cfg
            .managed_prefix_lists
            .iter()
            .find(|p| p.prefix_list_name == ep.service_name)
        else {
            errors.push(err(
                &ep.vpc_endpoint_id,
                "ServiceName",
                format!("no prefix list named {}", ep.service_name),
            ));
            continue;
        };
        for e in &p.entries {
            cands.push(Route {
                dest: e.cidr.trunc(),
                source: RouteSource::PrefixList {
                    pl: p.prefix_list_id.clone(),
                    endpoint: true,
                },
                target: Target::GatewayEndpoint(k as u32),
                target_id: ep.vpc_endpoint_id.clone(),
                won_over: None,
            });
        }
    }
    // Resolve ties per exact prefix: kind first, then the lowest prefix-list id.
    let pl_key = |r: &Route| match &r.source {
        RouteSource::PrefixList { pl, .. } => pl.clone(),
        _ => String::new(),
    };
    cands.sort_by(|a, b| {
        (a.dest, a.source.rank(), pl_key(a)).cmp(&(b.dest, b.source.rank(), pl_key(b)))
    });
    let mut routes: Vec<Route> = Vec::new();
    for c in cands {
        match routes.last_mut() {
            Some(w) if w.dest == c.dest => {
                let why = if w.source.rank() < c.source.rank() {
                    format!(
                        "{} route beats {} route to {} on the same prefix",
                        kind_name(&w.source),
                        kind_name(&c.source),
                        c.target_id
                    )
                } else {
                    format!(
                        "prefix list {} beats {} (lowest id wins) → {} not used",
                        pl_key(w),
                        pl_key(&c),
                        c.target_id
                    )
                };
                w.won_over = Some(match w.won_over.take() {
                    Some(prev) => format!("{prev}; {why}"),
                    None => why,
                });
            }
            _ => routes.push(c),
        }
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        match r.dest {
            IpNet::V4(n) => v4.push((n, i as u32)),
            IpNet::V6(n) => v6.push((n, i as u32)),
        }
    }
    RouteTable {
        id: id.clone(),
        fib4: Fib4::build(&v4),
        fib6: Fib6::build(&v6),
        routes,
    }
}

/// How trace names a route's kind.
pub fn kind_name(s: &RouteSource) -> &'static str {
    match s {
        RouteSource::Local => "local",
        RouteSource::Cidr => "static CIDR",
        RouteSource::PrefixList { endpoint: true, .. } => "gateway-endpoint prefix-list",
        RouteSource::PrefixList { .. } => "prefix-list",
        RouteSource::Propagated => "propagated",
    }
}
