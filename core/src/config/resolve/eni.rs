//! Network interfaces: subnet, security groups (their own, else their endpoint's, else the
//! VPC default group), endpoint; and the address plan of the VPC — every ENI and NAT gateway
//! address inside its subnet, not one AWS reserves, and used once.

use super::super::aws::{reserved_in_subnet, reserved_in_subnet_v6};
use super::super::{Errors, model as m};
use super::{EndpointIdx, Eni, EniIdx, Idx, IdxVec, Scope, SgIdx};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn enis<'c>(
    s: &Scope<'c>,
    default_sg: SgIdx,
    e: &mut Errors,
) -> IdxVec<EniIdx, Eni<'c>> {
    let mut out = IdxVec::with_capacity(s.cfg.network_interfaces.len());
    for n in &s.cfg.network_interfaces {
        let id = n.network_interface_id.as_str();
        let Some(subnet) = s.subnets.get(&n.subnet_id) else {
            e.push(id, "SubnetId", format!("unknown subnet {}", n.subnet_id));
            continue;
        };
        let mut groups: Vec<SgIdx> = Vec::new();
        for (k, g) in n.groups.iter().enumerate() {
            match s.sgs.get(&g.group_id) {
                Some(x) => groups.push(x),
                None => e.push(
                    id,
                    format!("Groups[{k}].GroupId"),
                    format!("unknown security group {}", g.group_id),
                ),
            }
        }
        // An endpoint ENI carries its endpoint's groups when it names none itself.
        let endpoint = s
            .cfg
            .vpc_endpoints
            .iter()
            .position(|ep| ep.network_interface_ids.iter().any(|x| x == id))
            .map(EndpointIdx::from_usize);
        if n.groups.is_empty()
            && let Some(ep) = endpoint
        {
            let ep = &s.cfg.vpc_endpoints[ep.index()];
            groups.extend(ep.groups.iter().filter_map(|g| s.sgs.get(&g.group_id)));
        }
        if groups.is_empty() {
            groups.push(default_sg);
        }
        out.push(Eni {
            cfg: n,
            subnet,
            groups,
            endpoint,
        });
    }
    out
}

/// Addresses already taken, and by whom.
#[derive(Default)]
struct Plan<'c> {
    private: HashMap<IpAddr, &'c str>,
    public: HashMap<Ipv4Addr, &'c str>,
}

pub(super) fn addresses(s: &Scope<'_>, e: &mut Errors) {
    let mut plan = Plan::default();
    for n in &s.cfg.nat_gateways {
        nat_addresses(s, n, &mut plan, e);
    }
    for n in &s.cfg.network_interfaces {
        if let Some(sub) = s.subnets.get(&n.subnet_id) {
            eni_addresses(s.subnet(sub), n, &mut plan, e);
        }
    }
}

fn nat_addresses<'c>(s: &Scope<'c>, n: &'c m::NatGateway, plan: &mut Plan<'c>, e: &mut Errors) {
    let id = n.nat_gateway_id.as_str();
    for a in &n.nat_gateway_addresses {
        plan.private.insert(a.private_ip.into(), id);
        if let Some(p) = a.public_ip
            && let Some(o) = plan.public.insert(p, id)
        {
            e.push(
                id,
                "NatGatewayAddresses.PublicIp",
                format!("{p} is also {o}'s"),
            );
        }
        if let Some(sub) = s.subnets.get(&n.subnet_id).map(|x| s.subnet(x))
            && sub
                .cidr_block
                .is_none_or(|c| !c.contains(&a.private_ip) || reserved_in_subnet(c, a.private_ip))
        {
            e.push(
                id,
                "NatGatewayAddresses.PrivateIp",
                format!(
                    "{} is not a usable address of {} ({})",
                    a.private_ip,
                    sub.subnet_id,
                    cidr_text(sub)
                ),
            );
        }
    }
}

/// A subnet's IPv4 CIDR as messages show it.
fn cidr_text(sub: &m::Subnet) -> String {
    sub.cidr_block
        .map_or_else(|| "no IPv4 CIDR: IPv6-only".into(), |c| c.to_string())
}

fn eni_addresses<'c>(
    sub: &m::Subnet,
    n: &'c m::NetworkInterface,
    plan: &mut Plan<'c>,
    e: &mut Errors,
) {
    let id = n.network_interface_id.as_str();
    let native = n.ipv6_native == Some(true);
    match (n.private_ip_address, native, sub.is_ipv6_native()) {
        (None, false, _) => e.push(
            id,
            "PrivateIpAddress",
            "an ENI needs a PrivateIpAddress unless it is IPv6-only (Ipv6Native: true)",
        ),
        (Some(a), true, _) => e.push(
            id,
            "PrivateIpAddress",
            format!("{a}: an IPv6-only ENI (Ipv6Native) has no IPv4 address"),
        ),
        (_, true, false) => e.push(
            id,
            "Ipv6Native",
            format!(
                "an IPv6-only ENI lives in an IPv6-only subnet, not {}",
                sub.subnet_id
            ),
        ),
        (_, false, true) => e.push(
            id,
            "Ipv6Native",
            format!(
                "{} is IPv6-only: its ENIs are too (Ipv6Native: true)",
                sub.subnet_id
            ),
        ),
        _ => {}
    }
    if native && n.ipv6_addresses.is_empty() {
        e.push(
            id,
            "Ipv6Addresses",
            "an IPv6-only ENI needs an IPv6 address",
        );
    }
    let mut addrs: Vec<(String, Ipv4Addr)> = n
        .private_ip_address
        .map(|a| ("PrivateIpAddress".to_string(), a))
        .into_iter()
        .collect();
    for (k, p) in n.private_ip_addresses.iter().enumerate() {
        if Some(p.private_ip_address) != n.private_ip_address {
            addrs.push((
                format!("PrivateIpAddresses[{k}].PrivateIpAddress"),
                p.private_ip_address,
            ));
        }
    }
    for (f, a) in addrs {
        let Some(c) = sub.cidr_block.filter(|c| c.contains(&a)) else {
            e.push(
                id,
                f,
                format!("{a} is outside {} ({})", sub.subnet_id, cidr_text(sub)),
            );
            continue;
        };
        if reserved_in_subnet(c, a) {
            e.push(
                id,
                f,
                format!(
                    "{a} is reserved by AWS in {c} (network, +1 router, +2 DNS, +3, broadcast)"
                ),
            );
        } else if let Some(o) = plan.private.insert(a.into(), id) {
            e.push(id, f, format!("{a} is also {o}'s"));
        }
    }
    ipv6_addresses(sub, n, plan, e);
    if let Some(a) = &n.association {
        if n.private_ip_address.is_none() {
            e.push(
                id,
                "Association.PublicIp",
                "a public IPv4 needs a private IPv4 address to map to",
            );
        }
        if let Some(o) = plan.public.insert(a.public_ip, id) {
            e.push(
                id,
                "Association.PublicIp",
                format!("{} is also {o}'s", a.public_ip),
            );
        }
    }
}

fn ipv6_addresses<'c>(
    sub: &m::Subnet,
    n: &'c m::NetworkInterface,
    plan: &mut Plan<'c>,
    e: &mut Errors,
) {
    let id = n.network_interface_id.as_str();
    for (k, a) in n.ipv6_addresses.iter().enumerate() {
        let f = format!("Ipv6Addresses[{k}]");
        let cidr = sub.ipv6_cidrs().find(|c| c.contains(&a.ipv6_address));
        let Some(cidr) = cidr else {
            e.push(
                id,
                f,
                format!(
                    "{} is outside {}'s IPv6 CIDRs",
                    a.ipv6_address, sub.subnet_id
                ),
            );
            continue;
        };
        if reserved_in_subnet_v6(cidr, a.ipv6_address) {
            e.push(
                id,
                f,
                format!(
                    "{} is reserved by AWS in {cidr} (the first four addresses and the last)",
                    a.ipv6_address
                ),
            );
        } else if let Some(o) = plan.private.insert(a.ipv6_address.into(), id) {
            e.push(id, f, format!("{} is also {o}'s", a.ipv6_address));
        }
    }
}
