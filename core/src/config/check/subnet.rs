//! VPCs and subnets on their own: how many VPCs, CIDR sizes, subnets that overlap.

use super::super::{Config, Errors};

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
        if s.cidr_block.prefix_len() > 28 {
            e.push(
                &s.subnet_id,
                "CidrBlock",
                format!("{}: a subnet is /16 to /28", s.cidr_block),
            );
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
