//! NAT gateways (their subnet) and internet gateways (one per VPC, and which one is attached).

use super::super::{Errors, model as m};
use super::{IdxVec, Nat, NatIdx, Scope};
use std::collections::HashMap;

pub(super) fn nats<'c>(s: &Scope<'c>, e: &mut Errors) -> IdxVec<NatIdx, Nat<'c>> {
    let mut out = IdxVec::with_capacity(s.cfg.nat_gateways.len());
    for n in &s.cfg.nat_gateways {
        let id = n.nat_gateway_id.as_str();
        s.vpc_ref(id, &n.vpc_id, e);
        match s.subnets.get(&n.subnet_id) {
            Some(subnet) => {
                out.push(Nat { cfg: n, subnet });
            }
            None => e.push(id, "SubnetId", format!("unknown subnet {}", n.subnet_id)),
        }
    }
    out
}

/// Checks every attachment (a known VPC, one gateway per VPC); the gateway attached to the VPC.
pub(super) fn igw<'c>(s: &Scope<'c>, e: &mut Errors) -> Option<&'c m::InternetGateway> {
    let mut per_vpc: HashMap<&str, &str> = HashMap::new();
    for g in &s.cfg.internet_gateways {
        let id = g.internet_gateway_id.as_str();
        for (k, a) in g.attachments.iter().enumerate() {
            let f = format!("Attachments[{k}].VpcId");
            if !s.cfg.vpcs.iter().any(|v| v.vpc_id == a.vpc_id) {
                e.push(id, f, format!("unknown VPC {}", a.vpc_id));
            } else if let Some(o) = per_vpc.insert(&a.vpc_id, id) {
                e.push(
                    id,
                    f,
                    format!("{} already has internet gateway {o}", a.vpc_id),
                );
            }
        }
    }
    attached_igw(s.cfg, s.vpc)
}

/// The first internet gateway attached to `vpc` (detached ones carry nothing).
pub(super) fn attached_igw<'c>(cfg: &'c m::Config, vpc: &m::Vpc) -> Option<&'c m::InternetGateway> {
    cfg.internet_gateways.iter().find(|g| {
        g.attachments
            .iter()
            .any(|a| a.vpc_id == vpc.vpc_id && a.is_attached())
    })
}

/// Checks every egress-only gateway's attachments (a known VPC).
pub(super) fn eigws(s: &Scope<'_>, e: &mut Errors) {
    for g in &s.cfg.egress_only_internet_gateways {
        for (k, a) in g.attachments.iter().enumerate() {
            if !s.cfg.vpcs.iter().any(|v| v.vpc_id == a.vpc_id) {
                e.push(
                    &g.egress_only_internet_gateway_id,
                    format!("Attachments[{k}].VpcId"),
                    format!("unknown VPC {}", a.vpc_id),
                );
            }
        }
    }
}

/// The egress-only internet gateways attached to `vpc`.
pub(super) fn attached_eigws<'c>(cfg: &'c m::Config, vpc: &m::Vpc) -> Vec<&'c str> {
    cfg.egress_only_internet_gateways
        .iter()
        .filter(|g| {
            g.attachments
                .iter()
                .any(|a| a.vpc_id == vpc.vpc_id && a.is_attached())
        })
        .map(|g| g.egress_only_internet_gateway_id.as_str())
        .collect()
}
