//! Semantic checks: everything AWS would refuse, each error naming the object id and field.
//! All errors are collected (in config order), not just the first, so one `check` run shows a
//! user everything to fix.

use super::{Config, ConfigError, ErrorLocation, RouteState, VpcEndpointType};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, id: &str, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: ErrorLocation::Object {
                id: id.to_string(),
                field: field.into(),
            },
            message: message.into(),
        });
    }
}

/// Every semantic error of a parsed config (empty when valid).
pub fn validate(cfg: &Config) -> Vec<ConfigError> {
    let mut e = Errors(Vec::new());
    ids(cfg, &mut e);
    vpcs(cfg, &mut e);
    subnets(cfg, &mut e);
    prefix_lists(cfg, &mut e);
    route_tables(cfg, &mut e);
    security_groups(cfg, &mut e);
    nacls(cfg, &mut e);
    enis(cfg, &mut e);
    endpoints(cfg, &mut e);
    gateways(cfg, &mut e);
    ports(cfg, &mut e);
    e.0
}

/// Id prefixes and uniqueness, across every kind of object.
fn ids(cfg: &Config, e: &mut Errors) {
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
}

fn vpc_ids(cfg: &Config) -> HashSet<&str> {
    cfg.vpcs.iter().map(|v| v.vpc_id.as_str()).collect()
}

fn vpc_ref(cfg: &Config, id: &str, vpc: &str, e: &mut Errors) {
    if !vpc_ids(cfg).contains(vpc) {
        e.push(id, "VpcId", format!("unknown VPC {vpc}"));
    }
}

/// The VPC's IPv4 and IPv6 CIDRs.
fn vpc_cidrs(cfg: &Config) -> Vec<IpNet> {
    let mut v = Vec::new();
    for vpc in &cfg.vpcs {
        v.push(IpNet::from(vpc.cidr_block));
        v.extend(
            vpc.cidr_block_association_set
                .iter()
                .map(|a| IpNet::from(a.cidr_block)),
        );
        v.extend(
            vpc.ipv6_cidr_block_association_set
                .iter()
                .map(|a| IpNet::from(a.ipv6_cidr_block)),
        );
    }
    v
}

fn vpcs(cfg: &Config, e: &mut Errors) {
    match cfg.vpcs.len() {
        0 => e.push("Vpcs", "Vpcs", "the config declares no VPC"),
        1 => {}
        n => e.push(
            &cfg.vpcs[1].vpc_id,
            "VpcId",
            format!("{n} VPCs declared: vpcfwd emulates one VPC per config"),
        ),
    }
    for v in &cfg.vpcs {
        if v.cidr_block.prefix_len() < 16 || v.cidr_block.prefix_len() > 28 {
            e.push(
                &v.vpc_id,
                "CidrBlock",
                format!("{}: a VPC CIDR is /16 to /28", v.cidr_block),
            );
        }
    }
}

fn subnets(cfg: &Config, e: &mut Errors) {
    let cidrs = vpc_cidrs(cfg);
    for (i, s) in cfg.subnets.iter().enumerate() {
        vpc_ref(cfg, &s.subnet_id, &s.vpc_id, e);
        let n = IpNet::from(s.cidr_block);
        if !cidrs.iter().any(|c| c.contains(&n)) {
            e.push(
                &s.subnet_id,
                "CidrBlock",
                format!("{} is outside the VPC's CIDRs", s.cidr_block),
            );
        }
        if s.cidr_block.prefix_len() > 28 {
            e.push(
                &s.subnet_id,
                "CidrBlock",
                format!("{}: a subnet is /16 to /28", s.cidr_block),
            );
        }
        for a in &s.ipv6_cidr_block_association_set {
            let n = IpNet::from(a.ipv6_cidr_block);
            if !cidrs.iter().any(|c| c.contains(&n)) {
                e.push(
                    &s.subnet_id,
                    "Ipv6CidrBlockAssociationSet",
                    format!("{n} is outside the VPC's IPv6 CIDRs"),
                );
            }
        }
        for o in &cfg.subnets[..i] {
            if o.cidr_block.contains(&s.cidr_block) || s.cidr_block.contains(&o.cidr_block) {
                e.push(
                    &s.subnet_id,
                    "CidrBlock",
                    format!(
                        "{} overlaps {} of {}",
                        s.cidr_block, o.cidr_block, o.subnet_id
                    ),
                );
            }
        }
    }
}

fn prefix_lists(cfg: &Config, e: &mut Errors) {
    for p in &cfg.managed_prefix_lists {
        let id = &p.prefix_list_id;
        let aws = p.owner_id.as_deref() == Some("AWS");
        match p.max_entries {
            None if !aws => e.push(
                id,
                "MaxEntries",
                "a customer-managed prefix list needs MaxEntries",
            ),
            Some(m) if m == 0 || m > 1000 => {
                e.push(id, "MaxEntries", format!("{m}: allowed 1 to 1000"))
            }
            Some(m) if p.entries.len() > m as usize => e.push(
                id,
                "Entries",
                format!("{} entries exceed MaxEntries {m}", p.entries.len()),
            ),
            _ => {}
        }
        let mut seen = HashSet::new();
        for (k, en) in p.entries.iter().enumerate() {
            let v6 = en.cidr.addr().is_ipv6();
            if v6 != (p.address_family == super::AddressFamily::IPv6) {
                e.push(
                    id,
                    format!("Entries[{k}].Cidr"),
                    format!("{} is not of family {:?}", en.cidr, p.address_family),
                );
            }
            if !seen.insert(en.cidr.trunc()) {
                e.push(
                    id,
                    format!("Entries[{k}].Cidr"),
                    format!("{} is listed twice", en.cidr),
                );
            }
        }
    }
}

fn known<'a>(it: impl Iterator<Item = &'a String>) -> HashSet<&'a str> {
    it.map(|s| s.as_str()).collect()
}

fn route_tables(cfg: &Config, e: &mut Errors) {
    let vpc = vpc_cidrs(cfg);
    let subnets: HashMap<&str, Ipv4Net> = cfg
        .subnets
        .iter()
        .map(|s| (s.subnet_id.as_str(), s.cidr_block))
        .collect();
    let subnet_cidrs: HashSet<IpNet> = cfg
        .subnets
        .iter()
        .map(|s| IpNet::from(s.cidr_block))
        .collect();
    let igws = known(cfg.internet_gateways.iter().map(|g| &g.internet_gateway_id));
    let nats = known(cfg.nat_gateways.iter().map(|g| &g.nat_gateway_id));
    let enis = known(
        cfg.network_interfaces
            .iter()
            .map(|g| &g.network_interface_id),
    );
    let pls: HashMap<&str, &super::ManagedPrefixList> = cfg
        .managed_prefix_lists
        .iter()
        .map(|p| (p.prefix_list_id.as_str(), p))
        .collect();
    let gw_endpoints: HashMap<&str, &super::VpcEndpoint> = cfg
        .vpc_endpoints
        .iter()
        .filter(|v| v.vpc_endpoint_type == VpcEndpointType::Gateway)
        .map(|v| (v.vpc_endpoint_id.as_str(), v))
        .collect();
    let endpoint_pls: HashSet<&str> = gw_endpoints
        .values()
        .filter_map(|ep| {
            cfg.managed_prefix_lists
                .iter()
                .find(|p| p.prefix_list_name == ep.service_name)
        })
        .map(|p| p.prefix_list_id.as_str())
        .collect();
    let reserved: [IpNet; 2] = [
        "169.254.168.0/22".parse().expect("literal"),
        "fd00:ec2::/32".parse().expect("literal"),
    ];
    let mut mains = Vec::new();
    let mut assoc: HashMap<&str, &str> = HashMap::new();
    for rt in &cfg.route_tables {
        let id = rt.route_table_id.as_str();
        vpc_ref(cfg, id, &rt.vpc_id, e);
        for (k, a) in rt.associations.iter().enumerate() {
            match (&a.subnet_id, a.main) {
                (Some(s), None | Some(false)) => {
                    if !subnets.contains_key(s.as_str()) {
                        e.push(
                            id,
                            format!("Associations[{k}].SubnetId"),
                            format!("unknown subnet {s}"),
                        );
                    } else if let Some(other) = assoc.insert(s, id) {
                        e.push(
                            id,
                            format!("Associations[{k}].SubnetId"),
                            format!("{s} is already associated with {other}"),
                        );
                    }
                }
                (None, Some(true)) => mains.push(id),
                _ => e.push(
                    id,
                    format!("Associations[{k}]"),
                    "an association has either SubnetId or Main: true",
                ),
            }
        }
        // Destinations, including those the table's gateway endpoints add.
        let mut dests: HashMap<String, String> = HashMap::new();
        for ep in gw_endpoints
            .values()
            .filter(|ep| ep.route_table_ids.iter().any(|r| r == id))
        {
            if let Some(p) = cfg
                .managed_prefix_lists
                .iter()
                .find(|p| p.prefix_list_name == ep.service_name)
                && let Some(other) =
                    dests.insert(p.prefix_list_id.clone(), ep.vpc_endpoint_id.clone())
            {
                {
                    e.push(
                        id,
                        "Routes",
                        format!(
                            "two gateway endpoints ({other}, {}) for one service in one table",
                            ep.vpc_endpoint_id
                        ),
                    );
                }
            }
        }
        for (k, r) in rt.routes.iter().enumerate() {
            let f = format!("Routes[{k}]");
            let dsts = [
                r.destination_cidr_block.map(|c| c.to_string()),
                r.destination_ipv6_cidr_block.map(|c| c.to_string()),
                r.destination_prefix_list_id.clone(),
            ];
            let given: Vec<&String> = dsts.iter().flatten().collect();
            if given.len() != 1 {
                e.push(id, &f, "a route has exactly one of DestinationCidrBlock, DestinationIpv6CidrBlock, DestinationPrefixListId");
                continue;
            }
            let dest = given[0].clone();
            if let Some(pl) = &r.destination_prefix_list_id {
                if !pls.contains_key(pl.as_str()) {
                    e.push(
                        id,
                        format!("{f}.DestinationPrefixListId"),
                        format!("unknown prefix list {pl}"),
                    );
                } else if endpoint_pls.contains(pl.as_str()) {
                    e.push(id, format!("{f}.DestinationPrefixListId"), format!("{pl} is a gateway endpoint's list: its route is managed by the endpoint"));
                }
            }
            if let Some(other) = dests.insert(dest.clone(), f.to_string()) {
                e.push(
                    id,
                    f.to_string(),
                    format!("a second route to {dest} (first: {other})"),
                );
            }
            let net: Option<IpNet> = r
                .destination_cidr_block
                .map(IpNet::from)
                .or(r.destination_ipv6_cidr_block.map(IpNet::from));
            if let Some(n) = net
                && reserved.iter().any(|x| x.contains(&n))
            {
                e.push(
                    id,
                    format!("{f}.DestinationCidrBlock"),
                    format!("{n} is reserved (169.254.168.0/22, fd00:ec2::/32)"),
                );
            }
            let targets: Vec<(&str, &String)> = [
                ("GatewayId", r.gateway_id.as_ref()),
                ("NatGatewayId", r.nat_gateway_id.as_ref()),
                ("NetworkInterfaceId", r.network_interface_id.as_ref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let blackhole = r.state == Some(RouteState::Blackhole);
            if targets.len() > 1 {
                e.push(id, &f, "a route has one target");
                continue;
            }
            let Some(&(tf, t)) = targets.first() else {
                if !blackhole {
                    e.push(id, &f, "a route needs a target (or State: blackhole)");
                }
                continue;
            };
            let tfield = format!("{f}.{tf}");
            if t == "local" {
                if tf != "GatewayId" || net.is_none_or(|n| !vpc.contains(&n)) {
                    e.push(
                        id,
                        tfield,
                        format!("a local route's destination must be a VPC CIDR, not {dest}"),
                    );
                }
                continue;
            }
            if gw_endpoints.contains_key(t.as_str()) {
                e.push(
                    id,
                    tfield,
                    format!(
                        "routes to gateway endpoint {t} are managed by the endpoint (RouteTableIds)"
                    ),
                );
                continue;
            }
            let exists = match tf {
                "GatewayId" => igws.contains(t.as_str()),
                "NatGatewayId" => nats.contains(t.as_str()),
                _ => enis.contains(t.as_str()),
            };
            if !exists && !blackhole {
                e.push(
                    id,
                    tfield,
                    format!(
                        "unknown target {t} (a route to a deleted target says State: blackhole)"
                    ),
                );
            }
            // More specific than `local`: only a whole subnet CIDR, to a NAT gateway or an ENI.
            if let Some(n) = net
                && vpc
                    .iter()
                    .any(|c| c.contains(&n) && c.prefix_len() < n.prefix_len())
            {
                let ok = subnet_cidrs.contains(&n)
                    && matches!(tf, "NatGatewayId" | "NetworkInterfaceId");
                if !ok {
                    e.push(id, format!("{f}.DestinationCidrBlock"), format!("{n} is more specific than the local route: AWS allows that only for a whole subnet CIDR to a NAT gateway or an ENI"));
                }
            }
        }
    }
    match mains.len() {
        1 => {}
        0 if !cfg.route_tables.is_empty() => e.push(
            &cfg.route_tables[0].route_table_id,
            "Associations",
            "no route table is the main one (Main: true)",
        ),
        0 => e.push(
            "RouteTables",
            "RouteTables",
            "the VPC needs a main route table",
        ),
        _ => e.push(
            mains[1],
            "Associations",
            format!("a second main route table ({} is main)", mains[0]),
        ),
    }
}

fn protocol(p: &str) -> Option<Option<u8>> {
    crate::policy::parse_protocol(p).map(|p| p.map(u8::from))
}

/// Port range / ICMP checks shared by SG rules and NACL entries.
fn l4_fields(
    id: &str,
    f: &str,
    proto: Option<u8>,
    from: Option<i32>,
    to: Option<i32>,
    e: &mut Errors,
) {
    match proto {
        Some(6) | Some(17) => match (from, to) {
            (Some(a), Some(b)) => {
                if !(0..=65535).contains(&a) || !(0..=65535).contains(&b) {
                    e.push(
                        id,
                        format!("{f}.FromPort"),
                        format!("ports {a}-{b}: allowed 0 to 65535"),
                    );
                } else if a > b {
                    e.push(
                        id,
                        format!("{f}.FromPort"),
                        format!("FromPort {a} is above ToPort {b}"),
                    );
                }
            }
            _ => e.push(
                id,
                format!("{f}.FromPort"),
                "tcp and udp rules need a port range",
            ),
        },
        Some(1) | Some(58) => {
            let (t, c) = (from.unwrap_or(-1), to.unwrap_or(-1));
            if !(-1..=255).contains(&t) || !(-1..=255).contains(&c) {
                e.push(
                    id,
                    format!("{f}.FromPort"),
                    format!("ICMP type {t} code {c}: allowed -1 to 255"),
                );
            } else if t == -1 && c != -1 {
                e.push(
                    id,
                    format!("{f}.ToPort"),
                    format!("ICMP type -1 (any) requires code -1, not {c}"),
                );
            }
        }
        _ => {}
    }
}

fn security_groups(cfg: &Config, e: &mut Errors) {
    let groups = known(cfg.security_groups.iter().map(|g| &g.group_id));
    let pls = known(cfg.managed_prefix_lists.iter().map(|p| &p.prefix_list_id));
    for g in &cfg.security_groups {
        let id = g.group_id.as_str();
        vpc_ref(cfg, id, &g.vpc_id, e);
        for (i, r) in g.security_group_rules.iter().flatten().enumerate() {
            let f = format!("SecurityGroupRules[{i}]");
            let peers = [
                r.cidr_ipv4.is_some(),
                r.cidr_ipv6.is_some(),
                r.prefix_list_id.is_some(),
                r.referenced_group_info.is_some(),
            ]
            .iter()
            .filter(|p| **p)
            .count();
            if peers != 1 {
                e.push(id, &f, format!("a rule names exactly one peer (CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupInfo), not {peers}"));
            }
            if let Some(p) = &r.prefix_list_id
                && !pls.contains(p.as_str())
            {
                e.push(
                    id,
                    format!("{f}.PrefixListId"),
                    format!("unknown prefix list {p}"),
                );
            }
            if let Some(rg) = &r.referenced_group_info
                && !groups.contains(rg.group_id.as_str())
            {
                e.push(
                    id,
                    format!("{f}.ReferencedGroupInfo.GroupId"),
                    format!("unknown security group {}", rg.group_id),
                );
            }
            match protocol(&r.ip_protocol) {
                None => e.push(
                    id,
                    format!("{f}.IpProtocol"),
                    format!("unknown protocol {:?}", r.ip_protocol),
                ),
                Some(p) => l4_fields(id, &f, p, r.from_port, r.to_port, e),
            }
        }
    }
}

fn nacls(cfg: &Config, e: &mut Errors) {
    let subnets = known(cfg.subnets.iter().map(|s| &s.subnet_id));
    let mut assoc: HashMap<&str, &str> = HashMap::new();
    let defaults: Vec<&str> = cfg
        .network_acls
        .iter()
        .filter(|n| n.is_default)
        .map(|n| n.network_acl_id.as_str())
        .collect();
    match defaults.len() {
        1 => {}
        0 => e.push(
            cfg.network_acls
                .first()
                .map_or("NetworkAcls", |n| n.network_acl_id.as_str()),
            "IsDefault",
            "the VPC needs one default network ACL (IsDefault: true)",
        ),
        _ => e.push(
            defaults[1],
            "IsDefault",
            format!("a second default network ACL ({} is default)", defaults[0]),
        ),
    }
    for n in &cfg.network_acls {
        let id = n.network_acl_id.as_str();
        vpc_ref(cfg, id, &n.vpc_id, e);
        for (k, a) in n.associations.iter().enumerate() {
            if !subnets.contains(a.subnet_id.as_str()) {
                e.push(
                    id,
                    format!("Associations[{k}].SubnetId"),
                    format!("unknown subnet {}", a.subnet_id),
                );
            } else if let Some(other) = assoc.insert(&a.subnet_id, id) {
                e.push(
                    id,
                    format!("Associations[{k}].SubnetId"),
                    format!("{} is already associated with {other}", a.subnet_id),
                );
            }
        }
        let mut numbers = HashSet::new();
        for (i, en) in n.entries.iter().flatten().enumerate() {
            let f = format!("Entries[{i}]");
            let proto = protocol(&en.protocol);
            if en.rule_number == 32767 {
                let star = proto == Some(None) && en.rule_action == super::RuleAction::Deny;
                if !star {
                    e.push(
                        id,
                        format!("{f}.RuleNumber"),
                        "32767 is the `*` rule: protocol -1, deny, and it cannot be changed",
                    );
                }
                continue;
            }
            if !(1..=32766).contains(&en.rule_number) {
                e.push(
                    id,
                    format!("{f}.RuleNumber"),
                    format!("{}: rule numbers are 1 to 32766", en.rule_number),
                );
            } else if !numbers.insert((en.egress, en.rule_number)) {
                e.push(
                    id,
                    format!("{f}.RuleNumber"),
                    format!(
                        "rule {} is used twice for {} traffic",
                        en.rule_number,
                        if en.egress { "outbound" } else { "inbound" }
                    ),
                );
            }
            if en.cidr_block.is_some() == en.ipv6_cidr_block.is_some() {
                e.push(
                    id,
                    &f,
                    "an entry has exactly one of CidrBlock and Ipv6CidrBlock",
                );
            }
            match proto {
                None => e.push(
                    id,
                    format!("{f}.Protocol"),
                    format!("unknown protocol {:?}", en.protocol),
                ),
                Some(p) => {
                    let (from, to) = match p {
                        Some(1) | Some(58) => (
                            en.icmp_type_code.map(|t| t.r#type),
                            en.icmp_type_code.map(|t| t.code),
                        ),
                        _ => (en.port_range.map(|r| r.from), en.port_range.map(|r| r.to)),
                    };
                    l4_fields(id, &f, p, from, to, e);
                }
            }
        }
    }
}

/// The addresses AWS reserves in every subnet: network, +1, +2, +3, broadcast.
fn reserved_in(subnet: Ipv4Net, a: Ipv4Addr) -> bool {
    let n = u32::from(subnet.network());
    let off = u32::from(a).wrapping_sub(n);
    off <= 3 || a == subnet.broadcast()
}

fn enis(cfg: &Config, e: &mut Errors) {
    let subnets: HashMap<&str, &super::Subnet> = cfg
        .subnets
        .iter()
        .map(|s| (s.subnet_id.as_str(), s))
        .collect();
    let groups = known(cfg.security_groups.iter().map(|g| &g.group_id));
    let mut used: HashMap<IpAddr, &str> = HashMap::new();
    let mut public: HashMap<Ipv4Addr, &str> = HashMap::new();
    for n in &cfg.nat_gateways {
        for a in &n.nat_gateway_addresses {
            used.insert(a.private_ip.into(), &n.nat_gateway_id);
            if let Some(p) = a.public_ip
                && let Some(o) = public.insert(p, &n.nat_gateway_id)
            {
                e.push(
                    &n.nat_gateway_id,
                    "NatGatewayAddresses.PublicIp",
                    format!("{p} is also {o}'s"),
                );
            }
            if let Some(s) = subnets.get(n.subnet_id.as_str())
                && (!s.cidr_block.contains(&a.private_ip)
                    || reserved_in(s.cidr_block, a.private_ip))
            {
                e.push(
                    &n.nat_gateway_id,
                    "NatGatewayAddresses.PrivateIp",
                    format!(
                        "{} is not a usable address of {} ({})",
                        a.private_ip, s.subnet_id, s.cidr_block
                    ),
                );
            }
        }
    }
    for n in &cfg.network_interfaces {
        let id = n.network_interface_id.as_str();
        let Some(s) = subnets.get(n.subnet_id.as_str()) else {
            e.push(id, "SubnetId", format!("unknown subnet {}", n.subnet_id));
            continue;
        };
        let mut addrs = vec![("PrivateIpAddress".to_string(), n.private_ip_address)];
        for (k, p) in n.private_ip_addresses.iter().enumerate() {
            if p.private_ip_address != n.private_ip_address {
                addrs.push((
                    format!("PrivateIpAddresses[{k}].PrivateIpAddress"),
                    p.private_ip_address,
                ));
            }
        }
        for (f, a) in addrs {
            if !s.cidr_block.contains(&a) {
                e.push(
                    id,
                    f,
                    format!("{a} is outside {} ({})", s.subnet_id, s.cidr_block),
                );
            } else if reserved_in(s.cidr_block, a) {
                e.push(
                    id,
                    f,
                    format!(
                        "{a} is reserved by AWS in {} (network, +1 router, +2 DNS, +3, broadcast)",
                        s.cidr_block
                    ),
                );
            } else if let Some(o) = used.insert(a.into(), id) {
                e.push(id, f, format!("{a} is also {o}'s"));
            }
        }
        let v6: Vec<Ipv6Net> = s
            .ipv6_cidr_block_association_set
            .iter()
            .map(|x| x.ipv6_cidr_block)
            .collect();
        for (k, a) in n.ipv6_addresses.iter().enumerate() {
            if !v6.iter().any(|c| c.contains(&a.ipv6_address)) {
                e.push(
                    id,
                    format!("Ipv6Addresses[{k}]"),
                    format!("{} is outside {}'s IPv6 CIDRs", a.ipv6_address, s.subnet_id),
                );
            } else if let Some(o) = used.insert(a.ipv6_address.into(), id) {
                e.push(
                    id,
                    format!("Ipv6Addresses[{k}]"),
                    format!("{} is also {o}'s", a.ipv6_address),
                );
            }
        }
        if let Some(a) = &n.association
            && let Some(o) = public.insert(a.public_ip, id)
        {
            e.push(
                id,
                "Association.PublicIp",
                format!("{} is also {o}'s", a.public_ip),
            );
        }
        for (k, g) in n.groups.iter().enumerate() {
            if !groups.contains(g.group_id.as_str()) {
                e.push(
                    id,
                    format!("Groups[{k}].GroupId"),
                    format!("unknown security group {}", g.group_id),
                );
            }
        }
        if let Some(c) = &n.connection_tracking_configuration {
            for (f, v, lo, hi) in [
                (
                    "TcpEstablishedTimeout",
                    c.tcp_established_timeout,
                    60,
                    432_000,
                ),
                ("UdpStreamTimeout", c.udp_stream_timeout, 60, 180),
                ("UdpTimeout", c.udp_timeout, 30, 60),
            ] {
                if let Some(v) = v
                    && !(lo..=hi).contains(&v)
                {
                    e.push(
                        id,
                        format!("ConnectionTrackingConfiguration.{f}"),
                        format!("{v} s: AWS allows {lo} to {hi}"),
                    );
                }
            }
        }
    }
}

fn endpoints(cfg: &Config, e: &mut Errors) {
    let rtbs = known(cfg.route_tables.iter().map(|r| &r.route_table_id));
    let subnets: HashMap<&str, &super::Subnet> = cfg
        .subnets
        .iter()
        .map(|s| (s.subnet_id.as_str(), s))
        .collect();
    let enis: HashMap<&str, &super::NetworkInterface> = cfg
        .network_interfaces
        .iter()
        .map(|n| (n.network_interface_id.as_str(), n))
        .collect();
    let groups = known(cfg.security_groups.iter().map(|g| &g.group_id));
    let region = cfg.region.as_deref();
    for ep in &cfg.vpc_endpoints {
        let id = ep.vpc_endpoint_id.as_str();
        vpc_ref(cfg, id, &ep.vpc_id, e);
        match ep.vpc_endpoint_type {
            VpcEndpointType::Gateway => {
                let svc = ep.service_name.rsplit('.').next().unwrap_or("");
                let valid_name = ep.service_name.starts_with("com.amazonaws.")
                    && matches!(svc, "s3" | "dynamodb")
                    && ep.service_name.split('.').count() == 4;
                if !valid_name {
                    e.push(
                        id,
                        "ServiceName",
                        format!(
                            "{}: a gateway endpoint serves com.amazonaws.<region>.s3 or .dynamodb",
                            ep.service_name
                        ),
                    );
                } else if let Some(r) = region
                    && ep.service_name.split('.').nth(2) != Some(r)
                {
                    e.push(
                        id,
                        "ServiceName",
                        format!("{} is not in the config's Region {r}", ep.service_name),
                    );
                }
                if !cfg
                    .managed_prefix_lists
                    .iter()
                    .any(|p| p.prefix_list_name == ep.service_name)
                {
                    e.push(
                        id,
                        "ServiceName",
                        format!("no prefix list has PrefixListName {}", ep.service_name),
                    );
                }
                for (k, r) in ep.route_table_ids.iter().enumerate() {
                    if !rtbs.contains(r.as_str()) {
                        e.push(
                            id,
                            format!("RouteTableIds[{k}]"),
                            format!("unknown route table {r}"),
                        );
                    }
                }
                if !ep.subnet_ids.is_empty()
                    || !ep.service_targets.is_empty()
                    || !ep.network_interface_ids.is_empty()
                {
                    e.push(id, "SubnetIds", "SubnetIds, NetworkInterfaceIds and ServiceTargets belong to interface endpoints");
                }
            }
            VpcEndpointType::Interface => {
                let mut azs = HashSet::new();
                for (k, s) in ep.subnet_ids.iter().enumerate() {
                    match subnets.get(s.as_str()) {
                        None => {
                            e.push(id, format!("SubnetIds[{k}]"), format!("unknown subnet {s}"))
                        }
                        Some(sub) => {
                            if !azs.insert(sub.availability_zone.clone()) {
                                e.push(
                                    id,
                                    format!("SubnetIds[{k}]"),
                                    format!(
                                        "{s} is in an AZ that already has a subnet of this endpoint"
                                    ),
                                );
                            }
                        }
                    }
                }
                for (k, n) in ep.network_interface_ids.iter().enumerate() {
                    match enis.get(n.as_str()) {
                        None => e.push(
                            id,
                            format!("NetworkInterfaceIds[{k}]"),
                            format!("unknown ENI {n}"),
                        ),
                        Some(eni) => {
                            if eni.interface_type != Some(super::InterfaceType::VpcEndpoint) {
                                e.push(
                                    id,
                                    format!("NetworkInterfaceIds[{k}]"),
                                    format!("{n} is not InterfaceType vpc_endpoint"),
                                );
                            }
                            if !ep.subnet_ids.contains(&eni.subnet_id) {
                                e.push(
                                    id,
                                    format!("NetworkInterfaceIds[{k}]"),
                                    format!(
                                        "{n} is in {}, not one of the endpoint's subnets",
                                        eni.subnet_id
                                    ),
                                );
                            }
                        }
                    }
                }
                if ep.service_targets.is_empty() {
                    e.push(
                        id,
                        "ServiceTargets",
                        "an interface endpoint needs at least one service target",
                    );
                }
                if ep.load_balancer_addresses.is_empty() {
                    e.push(
                        id,
                        "LoadBalancerAddresses",
                        "an interface endpoint needs the load balancer's addresses",
                    );
                }
                for (k, a) in ep.load_balancer_addresses.iter().enumerate() {
                    if !ep
                        .service_targets
                        .iter()
                        .any(|t| t.is_ipv4() == a.is_ipv4())
                    {
                        e.push(
                            id,
                            format!("LoadBalancerAddresses[{k}]"),
                            format!("{a}: no service target of its address family"),
                        );
                    }
                }
                if !ep.route_table_ids.is_empty() {
                    e.push(
                        id,
                        "RouteTableIds",
                        "RouteTableIds belong to gateway endpoints",
                    );
                }
            }
        }
        for (k, g) in ep.groups.iter().enumerate() {
            if !groups.contains(g.group_id.as_str()) {
                e.push(
                    id,
                    format!("Groups[{k}].GroupId"),
                    format!("unknown security group {}", g.group_id),
                );
            }
        }
    }
}

fn gateways(cfg: &Config, e: &mut Errors) {
    let subnets = known(cfg.subnets.iter().map(|s| &s.subnet_id));
    for n in &cfg.nat_gateways {
        let id = n.nat_gateway_id.as_str();
        vpc_ref(cfg, id, &n.vpc_id, e);
        if !subnets.contains(n.subnet_id.as_str()) {
            e.push(id, "SubnetId", format!("unknown subnet {}", n.subnet_id));
        }
        let count = n.nat_gateway_addresses.len();
        if count == 0 || count > 8 {
            e.push(
                id,
                "NatGatewayAddresses",
                format!("{count} addresses: a NAT gateway has 1 to 8"),
            );
        }
        let public = n.connectivity_type != Some(super::ConnectivityType::Private);
        for (k, a) in n.nat_gateway_addresses.iter().enumerate() {
            if public && a.public_ip.is_none() {
                e.push(
                    id,
                    format!("NatGatewayAddresses[{k}].PublicIp"),
                    "a public NAT gateway address needs a PublicIp (Elastic IP)",
                );
            }
            if !public && a.public_ip.is_some() {
                e.push(
                    id,
                    format!("NatGatewayAddresses[{k}].PublicIp"),
                    "a private NAT gateway has no PublicIp",
                );
            }
        }
    }
    let mut per_vpc: HashMap<&str, &str> = HashMap::new();
    for g in &cfg.internet_gateways {
        for (k, a) in g.attachments.iter().enumerate() {
            if !vpc_ids(cfg).contains(a.vpc_id.as_str()) {
                e.push(
                    &g.internet_gateway_id,
                    format!("Attachments[{k}].VpcId"),
                    format!("unknown VPC {}", a.vpc_id),
                );
            } else if let Some(o) = per_vpc.insert(&a.vpc_id, &g.internet_gateway_id) {
                e.push(
                    &g.internet_gateway_id,
                    format!("Attachments[{k}].VpcId"),
                    format!("{} already has internet gateway {o}", a.vpc_id),
                );
            }
        }
    }
}

fn ports(cfg: &Config, e: &mut Errors) {
    let enis: HashMap<&str, &super::NetworkInterface> = cfg
        .network_interfaces
        .iter()
        .map(|n| (n.network_interface_id.as_str(), n))
        .collect();
    let igws = known(cfg.internet_gateways.iter().map(|g| &g.internet_gateway_id));
    let vpces = known(cfg.vpc_endpoints.iter().map(|v| &v.vpc_endpoint_id));
    let mut ids = HashSet::new();
    let mut attached: HashMap<&str, &str> = HashMap::new();
    for p in &cfg.ports {
        let id = p.port_id.as_str();
        let name_ok = !id.is_empty()
            && id.len() <= 12
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            e.push(
                id,
                "PortId",
                "a port id is 1 to 12 of [a-z0-9-] (the TUN device is vf-<PortId>)",
            );
        }
        if !ids.insert(id) {
            e.push(id, "PortId", "the port id is used twice");
        }
        let att: Vec<(&str, &String)> = [
            ("NetworkInterfaceId", p.network_interface_id.as_ref()),
            ("InternetGatewayId", p.internet_gateway_id.as_ref()),
            ("VpcEndpointId", p.vpc_endpoint_id.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let [(field, target)] = att[..] else {
            e.push(id, "PortId", "a port attaches to exactly one of NetworkInterfaceId, InternetGatewayId, VpcEndpointId");
            continue;
        };
        if let Some(o) = attached.insert(target, id) {
            e.push(id, field, format!("{target} already has port {o}"));
        }
        match field {
            "NetworkInterfaceId" => match enis.get(target.as_str()) {
                None => e.push(id, field, format!("unknown ENI {target}")),
                Some(n) if n.interface_type == Some(super::InterfaceType::VpcEndpoint) => {
                    e.push(id, field, format!("{target} is an endpoint's ENI: attach a port to the endpoint (VpcEndpointId) instead"))
                }
                Some(_) => {
                    if !p.addresses.is_empty() {
                        e.push(id, "Addresses", "an ENI port uses the ENI's own addresses");
                    }
                }
            },
            "InternetGatewayId" if !igws.contains(target.as_str()) => e.push(id, field, format!("unknown internet gateway {target}")),
            "VpcEndpointId" if !vpces.contains(target.as_str()) => e.push(id, field, format!("unknown endpoint {target}")),
            _ => {
                if p.addresses.is_empty() {
                    e.push(id, "Addresses", "an internet or service port needs the addresses of its hosts");
                }
            }
        }
    }
}
