//! Private addresses as AWS would have them: each a usable, unused address of its subnet (moto
//! puts ENI and NAT addresses anywhere in 10.0.0.0/8); public IPs that are no public address.

use super::Report;
use crate::config::Config;
use ipnet::Ipv4Net;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

/// The addresses AWS reserves: network, +1, +2, +3, broadcast.
fn usable(subnet: Ipv4Net, a: Ipv4Addr) -> bool {
    let off = u32::from(a).wrapping_sub(u32::from(subnet.network()));
    subnet.contains(&a) && off > 3 && a != subnet.broadcast()
}

/// Every private address must be a usable, unused address of its subnet; one that is not (moto
/// puts ENI addresses anywhere in 10.0.0.0/8) moves to the subnet's first free address.
pub(super) fn fix(cfg: &mut Config, report: &mut Report) {
    let subnets: HashMap<String, Ipv4Net> = cfg
        .subnets
        .iter()
        .filter_map(|x| Some((x.subnet_id.clone(), x.cidr_block?)))
        .collect();
    let mut used: HashSet<Ipv4Addr> = HashSet::new();
    let mut bad: Vec<(usize, Option<usize>, bool)> = Vec::new(); // (index, secondary, is_nat)
    let ok = |net: Option<&Ipv4Net>, a: Ipv4Addr, used: &mut HashSet<Ipv4Addr>| {
        net.is_some_and(|n| usable(*n, a)) && used.insert(a)
    };
    for (i, n) in cfg.nat_gateways.iter().enumerate() {
        for (k, a) in n.nat_gateway_addresses.iter().enumerate() {
            if !ok(subnets.get(&n.subnet_id), a.private_ip, &mut used) {
                bad.push((i, Some(k), true));
            }
        }
    }
    for (i, n) in cfg.network_interfaces.iter().enumerate() {
        let net = subnets.get(&n.subnet_id);
        if let Some(a) = n.private_ip_address
            && !ok(net, a, &mut used)
        {
            bad.push((i, None, false));
        }
        for (k, a) in n.private_ip_addresses.iter().enumerate() {
            if !ok(net, a.private_ip_address, &mut used) {
                bad.push((i, Some(k), false));
            }
        }
    }
    for (i, k, nat) in bad {
        let (id, sn) = if nat {
            (
                cfg.nat_gateways[i].nat_gateway_id.clone(),
                cfg.nat_gateways[i].subnet_id.clone(),
            )
        } else {
            (
                cfg.network_interfaces[i].network_interface_id.clone(),
                cfg.network_interfaces[i].subnet_id.clone(),
            )
        };
        let Some(net) = subnets.get(&sn).copied() else {
            continue;
        };
        let free = net.hosts().find(|a| usable(net, *a) && !used.contains(a));
        let Some(free) = free else {
            report.note(
                &id,
                "PrivateIpAddress",
                format!("{sn} has no free address left: kept as exported"),
            );
            continue;
        };
        used.insert(free);
        let (field, slot): (String, &mut Ipv4Addr) = match (nat, k) {
            (true, Some(k)) => (
                format!("NatGatewayAddresses[{k}].PrivateIp"),
                &mut cfg.nat_gateways[i].nat_gateway_addresses[k].private_ip,
            ),
            (false, None) => match &mut cfg.network_interfaces[i].private_ip_address {
                Some(a) => ("PrivateIpAddress".into(), a),
                None => continue,
            },
            (_, Some(k)) => (
                format!("PrivateIpAddresses[{k}]"),
                &mut cfg.network_interfaces[i].private_ip_addresses[k].private_ip_address,
            ),
            (true, None) => continue,
        };
        let why = if net.contains(&*slot) {
            "reserved by AWS or used twice"
        } else {
            "outside"
        };
        report.note(
            &id,
            &field,
            format!(
                "{} is {why} {sn} ({net}): moved to {free}, the subnet's first free address",
                *slot
            ),
        );
        *slot = free;
    }
}

/// Public IPs that are no public address (moto hands out Elastic IPs in 127.0.0.0/8).
pub(super) fn odd_public_ips(cfg: &Config, report: &mut Report) {
    let odd = |a: &Ipv4Addr| {
        a.is_loopback()
            || a.is_private()
            || a.is_unspecified()
            || a.is_link_local()
            || a.is_broadcast()
    };
    let note = |report: &mut Report, id: &str, f: &str, a: &Ipv4Addr| {
        report.note(id, f, format!("{a} is not a public address (moto gives Elastic IPs in 127.0.0.0/8): kept, trace only (--lab remaps it)"));
    };
    for n in &cfg.nat_gateways {
        for (k, a) in n.nat_gateway_addresses.iter().enumerate() {
            if let Some(p) = a.public_ip.as_ref().filter(|p| odd(p)) {
                note(
                    report,
                    &n.nat_gateway_id,
                    &format!("NatGatewayAddresses[{k}].PublicIp"),
                    p,
                );
            }
        }
    }
    for n in &cfg.network_interfaces {
        if let Some(a) = n.association.as_ref().filter(|a| odd(&a.public_ip)) {
            note(
                report,
                &n.network_interface_id,
                "Association.PublicIp",
                &a.public_ip,
            );
        }
    }
}
