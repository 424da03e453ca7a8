//! The VPC, its subnets, the prefix lists and the route tables.

use super::json::{arr, b, name_tag, parse, s, state, string};
use super::{ImportError, Report, input::Inputs};
use crate::config::{
    AddressFamily, CidrBlockAssociation, Config, Ipv6CidrBlockAssociation, ManagedPrefixList,
    PrefixListEntry, Subnet, Vpc, VpcEndpointType,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::Value;
use std::collections::HashSet;

/// Picks the VPC and maps it, its subnets and every prefix list of the input.
pub(super) fn build(
    inp: &Inputs,
    want: Option<&str>,
    report: &mut Report,
) -> Result<Config, ImportError> {
    let vpc = pick_vpc(inp, want, report)?;
    let vpc_id = string(vpc, "VpcId");
    let Some(cidr) = parse::<Ipv4Net>(vpc, "CidrBlock") else {
        return Err(ImportError(vec![format!(
            "{vpc_id}: CidrBlock: missing or not an IPv4 CIDR"
        )]));
    };
    let mut cfg = Config {
        account_id: s(vpc, "OwnerId").map(str::to_string),
        ..Config::default()
    };
    cfg.vpcs.push(Vpc {
        vpc_id: vpc_id.clone(),
        cidr_block: cidr,
        cidr_block_association_set: arr(vpc, "CidrBlockAssociationSet")
            .iter()
            .filter(|a| matches!(state(a, "CidrBlockState"), None | Some("associated")))
            .filter_map(|a| parse::<Ipv4Net>(a, "CidrBlock"))
            .filter(|c| *c != cidr)
            .map(|cidr_block| CidrBlockAssociation { cidr_block })
            .collect(),
        ipv6_cidr_block_association_set: v6_assocs(vpc),
        tags: name_tag(vpc),
    });
    for sn in inp
        .subnets
        .iter()
        .filter(|x| s(x, "VpcId") == Some(&vpc_id))
    {
        let id = string(sn, "SubnetId");
        let Some(c) = parse::<Ipv4Net>(sn, "CidrBlock") else {
            report.note(
                &id,
                "CidrBlock",
                "missing or not IPv4 (IPv6-only subnets are not modelled): subnet left out",
            );
            continue;
        };
        cfg.subnets.push(Subnet {
            subnet_id: id,
            vpc_id: vpc_id.clone(),
            cidr_block: Some(c),
            ipv6_cidr_block_association_set: v6_assocs(sn),
            ipv6_native: None,
            enable_dns64: None,
            availability_zone: s(sn, "AvailabilityZone").map(str::to_string),
            availability_zone_id: s(sn, "AvailabilityZoneId").map(str::to_string),
            tags: name_tag(sn),
        });
    }
    // The region: from an ARN (`arn:aws:ec2:<region>:…`), else from an AZ name (us-east-1a).
    let arn_region = inp
        .subnets
        .iter()
        .filter_map(|x| s(x, "SubnetArn"))
        .filter_map(|a| a.split(':').nth(3).map(str::to_string))
        .find(|r| !r.is_empty());
    cfg.region = arn_region
        .or_else(|| {
            cfg.subnets
                .iter()
                .filter_map(|x| x.availability_zone.as_deref())
                .next()
                .map(|az| {
                    az.trim_end_matches(|c: char| c.is_ascii_alphabetic())
                        .to_string()
                })
        })
        .filter(|r| !r.is_empty());
    prefix_lists(inp, &mut cfg, report);
    Ok(cfg)
}

fn v6_assocs(v: &Value) -> Vec<Ipv6CidrBlockAssociation> {
    arr(v, "Ipv6CidrBlockAssociationSet")
        .iter()
        .filter(|a| matches!(state(a, "Ipv6CidrBlockState"), None | Some("associated")))
        .filter_map(|a| parse::<Ipv6Net>(a, "Ipv6CidrBlock"))
        .map(|ipv6_cidr_block| Ipv6CidrBlockAssociation { ipv6_cidr_block })
        .collect()
}

fn pick_vpc<'a>(
    inp: &'a Inputs,
    want: Option<&str>,
    report: &mut Report,
) -> Result<&'a Value, ImportError> {
    let all: Vec<&Value> = inp.vpcs.iter().collect();
    let ids: Vec<String> = all.iter().map(|v| string(v, "VpcId")).collect();
    if all.is_empty() {
        return Err(ImportError(vec![
            "the input holds no VPC (no describe-vpcs output with Vpcs)".into(),
        ]));
    }
    if let Some(w) = want {
        return all
            .iter()
            .find(|v| s(v, "VpcId") == Some(w))
            .copied()
            .ok_or_else(|| {
                ImportError(vec![format!(
                    "--vpc {w}: not in the input (VPCs: {})",
                    ids.join(", ")
                )])
            });
    }
    if all.len() == 1 {
        return Ok(all[0]);
    }
    let own: Vec<&Value> = all
        .iter()
        .filter(|v| b(v, "IsDefault") != Some(true))
        .copied()
        .collect();
    if own.len() == 1 {
        for v in all.iter().filter(|v| b(v, "IsDefault") == Some(true)) {
            report.note(
                &string(v, "VpcId"),
                "IsDefault",
                format!(
                    "the account's default VPC: not imported (one VPC per config; --vpc {} picks it)",
                    string(v, "VpcId")
                ),
            );
        }
        return Ok(own[0]);
    }
    Err(ImportError(vec![format!(
        "the input holds {} VPCs: choose one with --vpc ({})",
        all.len(),
        ids.join(", ")
    )]))
}

/// Whether the input holds the entries of list `id`.
fn entries_known(inp: &Inputs, id: &str) -> bool {
    inp.prefix_list_entries.iter().any(|(i, _)| i == id)
        || inp
            .prefix_lists
            .iter()
            .any(|p| s(p, "PrefixListId") == Some(id) && p.get("Cidrs").is_some())
}

/// Every list of the input, with its entries; `finish_prefix_lists` keeps the referenced ones.
fn prefix_lists(inp: &Inputs, cfg: &mut Config, report: &mut Report) {
    let mut ids: Vec<(String, Option<&Value>, Option<&Value>)> = Vec::new();
    for p in &inp.managed_prefix_lists {
        ids.push((string(p, "PrefixListId"), Some(p), None));
    }
    for p in &inp.prefix_lists {
        let id = string(p, "PrefixListId");
        match ids.iter_mut().find(|x| x.0 == id) {
            Some(x) => x.2 = Some(p),
            None => ids.push((id, None, Some(p))),
        }
    }
    for (id, managed, old) in ids {
        if id.is_empty() {
            continue;
        }
        let mut cidrs: Vec<(String, Option<String>)> = Vec::new();
        if let Some((_, e)) = inp.prefix_list_entries.iter().find(|(i, _)| *i == id) {
            cidrs.extend(
                e.iter()
                    .map(|x| (string(x, "Cidr"), s(x, "Description").map(str::to_string))),
            );
        } else if let Some(o) = old {
            cidrs.extend(
                arr(o, "Cidrs")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|c| (c.to_string(), None)),
            );
        }
        let name = managed
            .and_then(|m| s(m, "PrefixListName"))
            .or(old.and_then(|o| s(o, "PrefixListName")))
            .unwrap_or(&id)
            .to_string();
        let owner = managed.and_then(|m| s(m, "OwnerId")).map(str::to_string);
        let owner = owner.or_else(|| old.map(|_| "AWS".to_string()));
        let mut family = managed.and_then(|m| s(m, "AddressFamily")).map(|f| {
            if f.eq_ignore_ascii_case("ipv6") {
                AddressFamily::IPv6
            } else {
                AddressFamily::IPv4
            }
        });
        let mut entries: Vec<PrefixListEntry> = Vec::new();
        let mut seen = HashSet::new();
        for (c, d) in cidrs {
            let Ok(net) = c.parse::<IpNet>() else {
                report.note(&id, "Entries", format!("{c:?} is not a CIDR: left out"));
                continue;
            };
            let fam = if net.addr().is_ipv6() {
                AddressFamily::IPv6
            } else {
                AddressFamily::IPv4
            };
            if *family.get_or_insert(fam) != fam {
                report.note(
                    &id,
                    "Entries",
                    format!("{net} is not of the list's address family: left out"),
                );
                continue;
            }
            if !seen.insert(net.trunc()) {
                report.note(&id, "Entries", format!("{net} is listed twice: kept once"));
                continue;
            }
            entries.push(PrefixListEntry {
                cidr: net,
                description: d,
            });
        }
        let aws = owner.as_deref() == Some("AWS");
        let mut max = managed
            .and_then(|m| m.get("MaxEntries"))
            .and_then(Value::as_u64)
            .map(|m| m as u32);
        if !aws && max.is_none_or(|m| (m as usize) < entries.len() || m == 0) {
            let m = (entries.len() as u32).max(1);
            report.note(
                &id,
                "MaxEntries",
                format!("missing or below its entries in the export: set to {m}"),
            );
            max = Some(m);
        }
        let entries_missing = !entries_known(inp, &id);
        cfg.managed_prefix_lists.push(ManagedPrefixList {
            prefix_list_id: id,
            prefix_list_name: name,
            address_family: family.unwrap_or(AddressFamily::IPv4),
            max_entries: if aws { None } else { max },
            owner_id: owner,
            version: None,
            entries,
            tags: if entries_missing {
                vec![missing_tag()]
            } else {
                vec![]
            },
        });
    }
}

/// Marks (until `finish_prefix_lists`) a list whose entries the input does not hold.
fn missing_tag() -> crate::config::Tag {
    crate::config::Tag {
        key: "vpcfwd:entries-missing".into(),
        value: "true".into(),
    }
}

/// A list a route, rule or endpoint names: the input's, or an empty one (reported).
pub(super) fn ensure_prefix_list(
    cfg: &mut Config,
    id: &str,
    name: Option<&str>,
    by: &str,
    report: &mut Report,
) {
    if cfg
        .managed_prefix_lists
        .iter()
        .any(|p| p.prefix_list_id == id)
    {
        return;
    }
    report.note(
        id,
        "PrefixListId",
        format!("named by {by} but not in the input (no describe-managed-prefix-lists / describe-prefix-lists item): kept as an empty list, which matches nothing"),
    );
    cfg.managed_prefix_lists.push(ManagedPrefixList {
        prefix_list_id: id.to_string(),
        prefix_list_name: name.unwrap_or(id).to_string(),
        address_family: AddressFamily::IPv4,
        max_entries: if name.is_some() { None } else { Some(1) },
        owner_id: name.map(|_| "AWS".to_string()),
        version: None,
        entries: vec![],
        tags: vec![],
    });
}

/// Keeps the lists something names (customer lists always), reports those without entries.
pub(super) fn finish_prefix_lists(cfg: &mut Config, report: &mut Report) {
    let mut used: HashSet<String> = HashSet::new();
    for rt in &cfg.route_tables {
        used.extend(
            rt.routes
                .iter()
                .filter_map(|r| r.destination_prefix_list_id.clone()),
        );
    }
    for g in &cfg.security_groups {
        used.extend(
            g.security_group_rules
                .iter()
                .flatten()
                .filter_map(|r| r.prefix_list_id.clone()),
        );
    }
    let services: HashSet<&str> = cfg
        .vpc_endpoints
        .iter()
        .filter(|e| e.vpc_endpoint_type == VpcEndpointType::Gateway)
        .map(|e| e.service_name.as_str())
        .collect();
    let keep: Vec<bool> = cfg
        .managed_prefix_lists
        .iter()
        .map(|p| {
            used.contains(&p.prefix_list_id)
                || services.contains(p.prefix_list_name.as_str())
                || p.owner_id.as_deref() != Some("AWS")
        })
        .collect();
    let mut k = keep.iter();
    cfg.managed_prefix_lists
        .retain(|_| *k.next().unwrap_or(&false));
    for p in &mut cfg.managed_prefix_lists {
        if p.tags.iter().any(|t| t.key == "vpcfwd:entries-missing") {
            p.tags.clear();
            report.note(
                &p.prefix_list_id,
                "Entries",
                "not in the input (no get-managed-prefix-list-entries file named with this id): kept empty, so routes and rules naming it match nothing",
            );
        }
    }
}
