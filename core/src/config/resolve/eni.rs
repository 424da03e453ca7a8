//! Network interfaces: subnet, security groups (their own, else their endpoint's, else the
//! VPC default group), endpoint; and the address plan of the VPC — every ENI and NAT gateway
//! address inside its subnet, not one AWS reserves, and used once.

use super::super::aws::reserved_in_subnet;
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
            && (!sub.cidr_block.contains(&a.private_ip)
                || reserved_in_subnet(sub.cidr_block, a.private_ip))
        {
            e.push(
                id,
                "NatGatewayAddresses.PrivateIp",
                format!(
                    "{} is not a usable address of {} ({})",
                    a.private_ip, sub.subnet_id, sub.cidr_block
                ),
            );
        }
    }
}

fn eni_addresses<'c>(
    sub: &m::Subnet,
    n: &'c m::NetworkInterface,
    plan: &mut Plan<'c>,
    e: &mut Errors,
) {
    let id = n.network_interface_id.as_str();
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
        if !sub.cidr_block.contains(&a) {
            e.push(
                id,
                f,
                format!("{a} is outside {} ({})", sub.subnet_id, sub.cidr_block),
            );
        } else if reserved_in_subnet(sub.cidr_block, a) {
            e.push(
                id,
                f,
                format!(
                    "{a} is reserved by AWS in {} (network, +1 router, +2 DNS, +3, broadcast)",
                    sub.cidr_block
                ),
            );
        } else if let Some(o) = plan.private.insert(a.into(), id) {
            e.push(id, f, format!("{a} is also {o}'s"));
        }
    }
    ipv6_addresses(sub, n, plan, e);
    if let Some(a) = &n.association
        && let Some(o) = plan.public.insert(a.public_ip, id)
    {
        e.push(
            id,
            "Association.PublicIp",
            format!("{} is also {o}'s", a.public_ip),
        );
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
        if !sub
            .ipv6_cidr_block_association_set
            .iter()
            .any(|c| c.ipv6_cidr_block.contains(&a.ipv6_address))
        {
            e.push(
                id,
                f,
                format!(
                    "{} is outside {}'s IPv6 CIDRs",
                    a.ipv6_address, sub.subnet_id
                ),
            );
        } else if let Some(o) = plan.private.insert(a.ipv6_address.into(), id) {
            e.push(id, f, format!("{} is also {o}'s", a.ipv6_address));
        }
    }
}
