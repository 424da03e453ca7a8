//! Security groups (from `IpPermissions`/`IpPermissionsEgress`, or the one-peer-per-rule
//! `describe-security-group-rules`) and network ACLs.

use super::json::{arr, b, i, name_tag, parse, s, string};
use super::network::ensure_prefix_list;
use super::{Report, input::Inputs};
use crate::config::{
    Config, IcmpTypeCode, NetworkAcl, NetworkAclAssociation, NetworkAclEntry, PortRange,
    ReferencedGroupInfo, RuleAction, SecurityGroup, SecurityGroupRule,
};
use crate::wire::IpProtocol;
use serde_json::Value;
use std::collections::HashSet;

pub(super) fn build(inp: &Inputs, cfg: &mut Config, report: &mut Report) {
    let vpc_id = cfg.vpcs[0].vpc_id.clone();
    let groups: HashSet<String> = inp
        .security_groups
        .iter()
        .filter(|g| s(g, "VpcId") == Some(&vpc_id))
        .map(|g| string(g, "GroupId"))
        .collect();
    let mut pls: Vec<String> = Vec::new();
    for g in inp
        .security_groups
        .iter()
        .filter(|g| s(g, "VpcId") == Some(&vpc_id))
    {
        let id = string(g, "GroupId");
        let from_sgr: Vec<&Value> = inp
            .security_group_rules
            .iter()
            .filter(|r| s(r, "GroupId") == Some(&id))
            .collect();
        let raw: Vec<SecurityGroupRule> = if from_sgr.is_empty() {
            let mut v = permissions(arr(g, "IpPermissions"), false);
            v.extend(permissions(arr(g, "IpPermissionsEgress"), true));
            v
        } else {
            from_sgr.iter().map(|r| sgr(r)).collect()
        };
        let mut rules = Vec::new();
        for (k, mut r) in raw.into_iter().enumerate() {
            let f = format!("SecurityGroupRules[{k}]");
            if let Some(rg) = &r.referenced_group_info
                && !groups.contains(&rg.group_id)
            {
                report.note(&id, &f, format!("references {}, not a group of this VPC in the input (another VPC or account: peering is not modelled): rule left out", rg.group_id));
                continue;
            }
            if let Some(p) = &r.prefix_list_id {
                pls.push(p.clone());
            }
            let proto = crate::config::parse_protocol(&r.ip_protocol);
            match proto {
                None => {
                    report.note(
                        &id,
                        &f,
                        format!(
                            "protocol {:?} unknown to vpcfwd: rule left out",
                            r.ip_protocol
                        ),
                    );
                    continue;
                }
                Some(None) => {
                    r.from_port = None;
                    r.to_port = None;
                }
                Some(Some(IpProtocol::Tcp | IpProtocol::Udp))
                    if r.from_port.is_none() || r.to_port.is_none() =>
                {
                    report.note(
                        &id,
                        &f,
                        "tcp/udp rule without ports: all ports (0-65535), as AWS shows it",
                    );
                    r.from_port = Some(0);
                    r.to_port = Some(65535);
                }
                _ => {}
            }
            rules.push(r);
        }
        let self_in = rules.iter().any(|r| {
            !r.is_egress
                && r.referenced_group_info
                    .as_ref()
                    .is_some_and(|g| g.group_id == id)
        });
        if s(g, "GroupName") == Some("default") && !self_in {
            report.note(&id, "SecurityGroupRules", "the default group has no inbound rule from itself (AWS creates one; moto does not): kept as exported, so its members do not reach each other");
        }
        cfg.security_groups.push(SecurityGroup {
            group_id: id,
            group_name: string(g, "GroupName"),
            vpc_id: vpc_id.clone(),
            description: None,
            security_group_rules: Some(rules),
            tags: name_tag(g),
        });
    }
    for p in pls {
        ensure_prefix_list(cfg, &p, None, "a security group rule", report);
    }
    nacls(inp, cfg, report);
}

fn base(proto: &str, egress: bool, from: Option<i64>, to: Option<i64>) -> SecurityGroupRule {
    SecurityGroupRule {
        is_egress: egress,
        ip_protocol: proto.to_string(),
        from_port: from.map(|x| x as i32),
        to_port: to.map(|x| x as i32),
        ..SecurityGroupRule::default()
    }
}

/// `IpPermissions`: one rule per peer.
fn permissions(perms: &[Value], egress: bool) -> Vec<SecurityGroupRule> {
    let mut out = Vec::new();
    for p in perms {
        let proto = s(p, "IpProtocol").unwrap_or("-1");
        let mk = || base(proto, egress, i(p, "FromPort"), i(p, "ToPort"));
        for r in arr(p, "IpRanges") {
            if let Some(c) = parse(r, "CidrIp") {
                out.push(SecurityGroupRule {
                    cidr_ipv4: Some(c),
                    ..mk()
                });
            }
        }
        for r in arr(p, "Ipv6Ranges") {
            if let Some(c) = parse(r, "CidrIpv6") {
                out.push(SecurityGroupRule {
                    cidr_ipv6: Some(c),
                    ..mk()
                });
            }
        }
        for r in arr(p, "PrefixListIds") {
            if let Some(id) = s(r, "PrefixListId") {
                out.push(SecurityGroupRule {
                    prefix_list_id: Some(id.into()),
                    ..mk()
                });
            }
        }
        for r in arr(p, "UserIdGroupPairs") {
            if let Some(g) = s(r, "GroupId") {
                out.push(SecurityGroupRule {
                    referenced_group_info: Some(ReferencedGroupInfo { group_id: g.into() }),
                    ..mk()
                });
            }
        }
    }
    out
}

/// One `describe-security-group-rules` item.
fn sgr(r: &Value) -> SecurityGroupRule {
    let mut x = base(
        s(r, "IpProtocol").unwrap_or("-1"),
        b(r, "IsEgress").unwrap_or(false),
        i(r, "FromPort"),
        i(r, "ToPort"),
    );
    x.security_group_rule_id = s(r, "SecurityGroupRuleId").map(str::to_string);
    x.cidr_ipv4 = parse(r, "CidrIpv4");
    x.cidr_ipv6 = parse(r, "CidrIpv6");
    x.prefix_list_id = s(r, "PrefixListId").map(str::to_string);
    x.referenced_group_info = r
        .get("ReferencedGroupInfo")
        .and_then(|g| s(g, "GroupId"))
        .map(|g| ReferencedGroupInfo { group_id: g.into() });
    x
}

fn nacls(inp: &Inputs, cfg: &mut Config, report: &mut Report) {
    let vpc_id = cfg.vpcs[0].vpc_id.clone();
    let subnets: HashSet<String> = cfg.subnets.iter().map(|x| x.subnet_id.clone()).collect();
    for n in inp
        .network_acls
        .iter()
        .filter(|n| s(n, "VpcId") == Some(&vpc_id))
    {
        let id = string(n, "NetworkAclId");
        let is_default = b(n, "IsDefault").unwrap_or(false);
        let mut entries = Vec::new();
        let mut star = [false, false];
        for (k, e) in arr(n, "Entries").iter().enumerate() {
            let egress = b(e, "Egress").unwrap_or(false);
            let number = i(e, "RuleNumber").unwrap_or(0);
            let action = match s(e, "RuleAction") {
                Some("allow") => RuleAction::Allow,
                _ => RuleAction::Deny,
            };
            if number >= 32767 {
                // The `*` rules (32767; 32768 for IPv6, as AWS numbers it): implied by vpcfwd.
                if number == 32767 {
                    star[egress as usize] = true;
                }
                continue;
            }
            let proto = s(e, "Protocol").unwrap_or("-1").to_string();
            let entry = NetworkAclEntry {
                rule_number: number.clamp(0, u32::MAX as i64) as u32,
                egress,
                protocol: proto,
                rule_action: action,
                cidr_block: parse(e, "CidrBlock"),
                ipv6_cidr_block: parse(e, "Ipv6CidrBlock"),
                port_range: e.get("PortRange").map(|p| PortRange {
                    from: i(p, "From").unwrap_or(0) as i32,
                    to: i(p, "To").unwrap_or(65535) as i32,
                }),
                icmp_type_code: e.get("IcmpTypeCode").map(|p| IcmpTypeCode {
                    r#type: i(p, "Type").unwrap_or(-1) as i32,
                    code: i(p, "Code").unwrap_or(-1) as i32,
                }),
            };
            if entry.cidr_block.is_none() && entry.ipv6_cidr_block.is_none() {
                report.note(
                    &id,
                    &format!("Entries[{k}]"),
                    "no CidrBlock or Ipv6CidrBlock: left out",
                );
                continue;
            }
            entries.push(entry);
        }
        for (eg, dir) in [(false, "inbound"), (true, "outbound")] {
            if !star[eg as usize] {
                report.note(&id, "Entries", format!("no `*` rule (32767 deny) for {dir} traffic in the export; AWS always has it and vpcfwd implies it"));
            }
        }
        let assocs = arr(n, "Associations")
            .iter()
            .filter_map(|a| s(a, "SubnetId"))
            .filter(|sn| subnets.contains(*sn))
            .map(|sn| NetworkAclAssociation {
                subnet_id: sn.to_string(),
            })
            .collect();
        cfg.network_acls.push(NetworkAcl {
            network_acl_id: id,
            vpc_id: vpc_id.clone(),
            is_default,
            associations: assocs,
            entries: Some(entries),
            tags: name_tag(n),
        });
    }
}
