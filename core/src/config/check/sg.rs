//! Security groups on their own: one peer per rule, protocols, port ranges.

use super::super::{Config, Errors};
use super::{l4_fields, parse_protocol};

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    for g in &cfg.security_groups {
        let id = g.group_id.as_str();
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
            match parse_protocol(&r.ip_protocol) {
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
