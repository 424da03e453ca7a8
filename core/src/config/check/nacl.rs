//! Network ACLs on their own: rule numbers, the `*` rule, CIDRs, protocols, port ranges.

use super::super::{Config, Errors, NetworkAcl, NetworkAclEntry, RuleAction};
use super::{is_icmp, l4_fields, parse_protocol};
use crate::wire::IpProtocol;
use std::collections::HashSet;

/// The `*` rule's number.
const STAR: u32 = 32767;

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    for n in &cfg.network_acls {
        entries(n, e);
    }
}

fn entries(n: &NetworkAcl, e: &mut Errors) {
    let id = n.network_acl_id.as_str();
    let mut numbers = HashSet::new();
    for (i, en) in n.entries.iter().flatten().enumerate() {
        let f = format!("Entries[{i}]");
        let proto = parse_protocol(&en.protocol);
        if en.rule_number == STAR {
            let star = proto == Some(None) && en.rule_action == RuleAction::Deny;
            if !star {
                e.push(
                    id,
                    format!("{f}.RuleNumber"),
                    "32767 is the `*` rule: protocol -1, deny, and it cannot be changed",
                );
            }
            continue;
        }
        if !(1..STAR).contains(&en.rule_number) {
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
                if p == Some(IpProtocol::Icmpv6) && en.icmp_type_code.is_none() {
                    e.push(
                        id,
                        format!("{f}.IcmpTypeCode"),
                        "an ICMPv6 entry (protocol 58) needs IcmpTypeCode (the EC2 API requires it; -1 for any)",
                    );
                }
                let (from, to) = l4_range(en, p);
                l4_fields(id, &f, p, from, to, e);
            }
        }
    }
}

/// An entry's `PortRange` or, for ICMP, its `IcmpTypeCode`, as `(from, to)`.
fn l4_range(en: &NetworkAclEntry, proto: Option<IpProtocol>) -> (Option<i32>, Option<i32>) {
    if is_icmp(proto) {
        (
            en.icmp_type_code.map(|t| t.r#type),
            en.icmp_type_code.map(|t| t.code),
        )
    } else {
        (en.port_range.map(|r| r.from), en.port_range.map(|r| r.to))
    }
}
