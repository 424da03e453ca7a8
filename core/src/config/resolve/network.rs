//! The VPC's CIDRs, subnets inside them, and which route table and network ACL govern each
//! subnet (explicit associations, else the main table / the default ACL).

use super::super::check::{is_icmp, parse_protocol};
use super::super::{Errors, RuleAction, model as m};
use super::{Idx, IdxVec, Nacl, NaclEntry, NaclIdx, RtbIdx, Scope, Subnet, SubnetIdx};
use ipnet::IpNet;
use rustc_hash::FxHashMap;

/// The VPC's IPv4 CIDRs (primary first, repeats dropped), then its IPv6 CIDRs.
pub(super) fn vpc_cidrs(vpc: &m::Vpc) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = vec![vpc.cidr_block.into()];
    for a in &vpc.cidr_block_association_set {
        let n = IpNet::from(a.cidr_block);
        if !v.contains(&n) {
            v.push(n);
        }
    }
    v.extend(
        vpc.ipv6_cidr_block_association_set
            .iter()
            .map(|a| IpNet::from(a.ipv6_cidr_block)),
    );
    v
}

pub(super) fn subnets<'c>(s: &Scope<'c>, e: &mut Errors) -> IdxVec<SubnetIdx, Subnet<'c>> {
    let cidrs: Vec<IpNet> = s.cfg.vpcs.iter().flat_map(vpc_cidrs).collect();
    let tables = route_table_of(s, e);
    let acls = nacl_of(s, e);
    let mut out = IdxVec::with_capacity(s.cfg.subnets.len());
    for (i, sub) in s.cfg.subnets.iter().enumerate() {
        let id = sub.subnet_id.as_str();
        s.vpc_ref(id, &sub.vpc_id, e);
        if let Some(c4) = sub.cidr_block
            && !cidrs.iter().any(|c| c.contains(&IpNet::from(c4)))
        {
            e.push(id, "CidrBlock", format!("{c4} is outside the VPC's CIDRs"));
        }
        for a in &sub.ipv6_cidr_block_association_set {
            let n = IpNet::from(a.ipv6_cidr_block);
            if !cidrs.iter().any(|c| c.contains(&n)) {
                e.push(
                    id,
                    "Ipv6CidrBlockAssociationSet",
                    format!("{n} is outside the VPC's IPv6 CIDRs"),
                );
            }
        }
        let i = SubnetIdx::from_usize(i);
        let (Some(route_table), Some(nacl)) = (tables(i), acls(i)) else {
            continue; // no main table or no default ACL: reported by `main_table`, `default_nacl`
        };
        out.push(Subnet {
            cfg: sub,
            route_table,
            nacl,
        });
    }
    out
}

/// The VPC's main route table: exactly one says `Main: true`.
fn main_table(s: &Scope<'_>, e: &mut Errors) -> Option<RtbIdx> {
    let cfg = s.cfg;
    // One entry per `Main: true` association (a table saying it twice is two).
    let mains: Vec<usize> = (0..cfg.route_tables.len())
        .flat_map(|t| {
            let n = cfg.route_tables[t]
                .associations
                .iter()
                .filter(|a| a.subnet_id.is_none() && a.main == Some(true))
                .count();
            std::iter::repeat_n(t, n)
        })
        .collect();
    let id = |t: usize| cfg.route_tables[t].route_table_id.as_str();
    match mains[..] {
        [_] => {}
        [] if !cfg.route_tables.is_empty() => e.push(
            id(0),
            "Associations",
            "no route table is the main one (Main: true)",
        ),
        [] => e.push(
            "RouteTables",
            "RouteTables",
            "the VPC needs a main route table",
        ),
        [first, second, ..] => e.push(
            id(second),
            "Associations",
            format!("a second main route table ({} is main)", id(first)),
        ),
    }
    mains.first().map(|&t| RtbIdx::from_usize(t))
}

/// The VPC's default network ACL: exactly one says `IsDefault: true`.
fn default_nacl(s: &Scope<'_>, e: &mut Errors) -> Option<NaclIdx> {
    let acls = &s.cfg.network_acls;
    let defaults: Vec<usize> = (0..acls.len()).filter(|&n| acls[n].is_default).collect();
    let id = |n: usize| acls[n].network_acl_id.as_str();
    match defaults[..] {
        [_] => {}
        [] => e.push(
            acls.first()
                .map_or("NetworkAcls", |n| n.network_acl_id.as_str()),
            "IsDefault",
            "the VPC needs one default network ACL (IsDefault: true)",
        ),
        [first, second, ..] => e.push(
            id(second),
            "IsDefault",
            format!("a second default network ACL ({} is default)", id(first)),
        ),
    }
    defaults.first().map(|&n| NaclIdx::from_usize(n))
}

/// Each subnet's route table: its association, else the main table.
fn route_table_of(s: &Scope<'_>, e: &mut Errors) -> impl Fn(SubnetIdx) -> Option<RtbIdx> + use<> {
    let mut assoc: FxHashMap<SubnetIdx, RtbIdx> = FxHashMap::default();
    let main = main_table(s, e);
    for (t, rt) in s.cfg.route_tables.iter().enumerate() {
        let t = RtbIdx::from_usize(t);
        let id = rt.route_table_id.as_str();
        for (k, a) in rt.associations.iter().enumerate() {
            let (Some(sub), None | Some(false)) = (&a.subnet_id, a.main) else {
                continue;
            };
            let f = format!("Associations[{k}].SubnetId");
            match s.subnets.get(sub) {
                None => e.push(id, f, format!("unknown subnet {sub}")),
                Some(x) => {
                    if let Some(&other) = assoc.get(&x) {
                        let other = &s.cfg.route_tables[other.index()].route_table_id;
                        e.push(id, f, format!("{sub} is already associated with {other}"));
                    } else {
                        assoc.insert(x, t);
                    }
                }
            }
        }
    }
    move |x| assoc.get(&x).copied().or(main)
}

/// Each subnet's network ACL: the one associating it, else the default one.
fn nacl_of(s: &Scope<'_>, e: &mut Errors) -> impl Fn(SubnetIdx) -> Option<NaclIdx> + use<> {
    let mut assoc: FxHashMap<SubnetIdx, NaclIdx> = FxHashMap::default();
    let default = default_nacl(s, e);
    for (n, acl) in s.cfg.network_acls.iter().enumerate() {
        let n = NaclIdx::from_usize(n);
        let id = acl.network_acl_id.as_str();
        for (k, a) in acl.associations.iter().enumerate() {
            let f = format!("Associations[{k}].SubnetId");
            match s.subnets.get(&a.subnet_id) {
                None => e.push(id, f, format!("unknown subnet {}", a.subnet_id)),
                Some(x) => {
                    if let Some(&other) = assoc.get(&x) {
                        let other = &s.cfg.network_acls[other.index()].network_acl_id;
                        e.push(
                            id,
                            f,
                            format!("{} is already associated with {other}", a.subnet_id),
                        );
                    } else {
                        assoc.insert(x, n);
                    }
                }
            }
        }
    }
    move |x| assoc.get(&x).copied().or(default)
}

pub(super) fn nacls<'c>(s: &Scope<'c>, e: &mut Errors) -> IdxVec<NaclIdx, Nacl<'c>> {
    s.cfg
        .network_acls
        .iter()
        .map(|n| {
            s.vpc_ref(&n.network_acl_id, &n.vpc_id, e);
            Nacl {
                cfg: n,
                entries: n
                    .entries
                    .as_ref()
                    .map(|es| es.iter().filter_map(entry).collect()),
            }
        })
        .collect()
}

/// One entry in typed form; `None` for the `*` entry (always implied) and for entries `check`
/// rejects (no protocol, no CIDR).
fn entry(e: &m::NetworkAclEntry) -> Option<NaclEntry> {
    if e.rule_number >= 32767 {
        return None; // AWS's `*` as exported by describe: implied.
    }
    let proto = parse_protocol(&e.protocol)?;
    let cidr = e
        .cidr_block
        .map(IpNet::from)
        .or(e.ipv6_cidr_block.map(IpNet::from))?;
    let (from, to) = match (e.port_range, e.icmp_type_code) {
        (_, Some(t)) if is_icmp(proto) => (Some(t.r#type), Some(t.code)),
        (Some(p), _) => (Some(p.from), Some(p.to)),
        _ => (None, None),
    };
    Some(NaclEntry {
        number: e.rule_number as u16,
        egress: e.egress,
        allow: e.rule_action == RuleAction::Allow,
        proto,
        cidr: cidr.trunc(),
        from,
        to,
    })
}
