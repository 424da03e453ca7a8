//! Security groups: rules' peers resolved (CIDR, prefix list, referenced group), and the VPC
//! default group (declared, or synthesized as AWS creates it).

use super::super::check::parse_protocol;
use super::super::{Errors, model as m};
use super::{IdxVec, Peer, Scope, Sg, SgIdx, SgRule};
use ipnet::IpNet;
use std::borrow::Cow;

/// The declared groups, then the synthesized default group if none is named `default`; and
/// the default group's index.
pub(super) fn groups<'c>(s: &Scope<'c>, e: &mut Errors) -> (IdxVec<SgIdx, Sg<'c>>, SgIdx) {
    let mut sgs: IdxVec<SgIdx, Sg<'c>> = s
        .cfg
        .security_groups
        .iter()
        .map(|g| {
            s.vpc_ref(&g.group_id, &g.vpc_id, e);
            Sg {
                id: Cow::Borrowed(g.group_id.as_str()),
                is_default: g.group_name == "default",
                rules: g
                    .security_group_rules
                    .as_ref()
                    .map(|rules| resolve_rules(s, &g.group_id, rules, e)),
            }
        })
        .collect();
    let default = match sgs.position(|g| g.is_default) {
        Some(d) => d,
        None => sgs.push(Sg {
            id: Cow::Owned(format!(
                "sg-default-{}",
                s.vpc.vpc_id.trim_start_matches("vpc-")
            )),
            is_default: true,
            rules: None,
        }),
    };
    (sgs, default)
}

fn resolve_rules(
    s: &Scope<'_>,
    id: &str,
    rules: &[m::SecurityGroupRule],
    e: &mut Errors,
) -> Vec<SgRule> {
    rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let f = format!("SecurityGroupRules[{i}]");
            let pl = r.prefix_list_id.as_ref().map(|p| {
                let x = s.pls.get(p);
                if x.is_none() {
                    e.push(
                        id,
                        format!("{f}.PrefixListId"),
                        format!("unknown prefix list {p}"),
                    );
                }
                x
            });
            let group = r.referenced_group_info.as_ref().map(|g| {
                let x = s.sgs.get(&g.group_id);
                if x.is_none() {
                    e.push(
                        id,
                        format!("{f}.ReferencedGroupInfo.GroupId"),
                        format!("unknown security group {}", g.group_id),
                    );
                }
                x
            });
            let peer = match (r.cidr_ipv4, r.cidr_ipv6, pl, group) {
                (Some(c), ..) => Peer::Cidr(IpNet::from(c)),
                (None, Some(c), ..) => Peer::Cidr(IpNet::from(c)),
                (None, None, Some(p), _) => Peer::PrefixList(p?),
                (None, None, None, Some(g)) => Peer::Group(g?),
                (None, None, None, None) => return None,
            };
            Some(SgRule {
                index: i as u16,
                egress: r.is_egress,
                proto: parse_protocol(&r.ip_protocol)?,
                from: r.from_port,
                to: r.to_port,
                peer,
            })
        })
        .collect()
}
