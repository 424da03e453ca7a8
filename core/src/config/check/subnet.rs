//! VPCs and subnets on their own: how many VPCs, CIDR sizes, subnets that overlap.

use super::super::{Config, Errors, Subnet};
use ipnet::IpNet;

pub(super) fn vpcs(cfg: &Config, e: &mut Errors) {
    if let [_, second, ..] = &cfg.vpcs[..] {
        e.push(
            &second.vpc_id,
            "VpcId",
            format!(
                "{} VPCs declared: vpcfwd emulates one VPC per config",
                cfg.vpcs.len()
            ),
        );
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

pub(super) fn subnets(cfg: &Config, e: &mut Errors) {
    for (i, s) in cfg.subnets.iter().enumerate() {
        shape(s, e);
        for o in &cfg.subnets[..i] {
            let theirs: Vec<IpNet> = o.cidrs().collect();
            for n in s.cidrs() {
                if let Some(c) = theirs.iter().find(|c| c.contains(&n) || n.contains(*c)) {
                    let f = if n.addr().is_ipv6() {
                        "Ipv6CidrBlockAssociationSet"
                    } else {
                        "CidrBlock"
                    };
                    e.push(
                        &s.subnet_id,
                        f,
                        format!("{n} overlaps {c} of {}", o.subnet_id),
                    );
                }
            }
        }
    }
}

/// Sizes, and which CIDRs an IPv4, dual-stack or IPv6-only subnet has.
fn shape(s: &Subnet, e: &mut Errors) {
    let id = s.subnet_id.as_str();
    match (s.cidr_block, s.is_ipv6_native()) {
        (Some(c), true) => e.push(
            id,
            "CidrBlock",
            format!("{c}: an IPv6-only subnet (Ipv6Native) has no IPv4 CIDR"),
        ),
        (None, false) => e.push(
            id,
            "CidrBlock",
            "a subnet needs a CidrBlock unless it is IPv6-only (Ipv6Native: true)",
        ),
        (Some(c), false) if c.prefix_len() > 28 => {
            e.push(id, "CidrBlock", format!("{c}: a subnet is /16 to /28"))
        }
        _ => {}
    }
    if s.is_ipv6_native() && s.ipv6_cidr_block_association_set.is_empty() {
        e.push(
            id,
            "Ipv6CidrBlockAssociationSet",
            "an IPv6-only subnet needs an IPv6 CIDR",
        );
    }
    for n in s.ipv6_cidrs() {
        if !(44..=64).contains(&n.prefix_len()) {
            e.push(
                id,
                "Ipv6CidrBlockAssociationSet",
                format!("{n}: an IPv6 subnet CIDR is /44 to /64"),
            );
        }
    }
    if s.enable_dns64 == Some(true) && s.ipv6_cidr_block_association_set.is_empty() {
        e.push(id, "EnableDns64", "DNS64 needs an IPv6 CIDR on the subnet");
    }
}
