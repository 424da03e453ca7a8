//! Security groups: peers as address sets (prefix-list entries, the private addresses of a
//! referenced group's ENIs), and AWS's initial rules for a group declared without rules.

use super::{Eni, EniIdx, IdxVec, SgIdx};
use crate::config::resolve::{Peer, Resolved};
use crate::policy::{L4Match, Sg, SgRule};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub(super) fn compile(r: &Resolved<'_>, enis: &IdxVec<EniIdx, Eni>) -> IdxVec<SgIdx, Sg> {
    r.sgs
        .iter_enumerated()
        .map(|(me, g)| {
            let mut sg = Sg {
                id: g.id.to_string(),
                ingress: vec![],
                egress: vec![],
            };
            let Some(rules) = &g.rules else {
                initial_rules(&mut sg, me, g.is_default, enis);
                return sg;
            };
            for rule in rules {
                let (peer, peer_nets) = match rule.peer {
                    Peer::Cidr(c) => (c.to_string(), vec![c]),
                    Peer::PrefixList(p) => {
                        let pl = r.prefix_lists[p];
                        (
                            pl.prefix_list_id.clone(),
                            pl.entries.iter().map(|e| e.cidr.trunc()).collect(),
                        )
                    }
                    Peer::Group(x) => (r.sgs[x].id.to_string(), group_members(x, enis)),
                };
                let list = if rule.egress {
                    &mut sg.egress
                } else {
                    &mut sg.ingress
                };
                list.push(SgRule {
                    index: rule.index,
                    proto: rule.proto,
                    l4: L4Match::from_aws(rule.proto, rule.from, rule.to),
                    peer,
                    peer_nets,
                });
            }
            sg
        })
        .collect()
}

/// AWS's initial rules: the default group admits itself; every group sends anywhere.
fn initial_rules(sg: &mut Sg, me: SgIdx, is_default: bool, enis: &IdxVec<EniIdx, Eni>) {
    if is_default {
        sg.ingress.push(SgRule {
            index: 0,
            proto: None,
            l4: L4Match::Any,
            peer: sg.id.clone(),
            peer_nets: group_members(me, enis),
        });
    }
    let all = [IpNet::V4(Ipv4Net::default()), IpNet::V6(Ipv6Net::default())];
    for (k, n) in all.into_iter().enumerate() {
        sg.egress.push(SgRule {
            index: k as u16,
            proto: None,
            l4: L4Match::Any,
            peer: n.to_string(),
            peer_nets: vec![n],
        });
    }
}

/// Host routes of the private addresses of every ENI carrying group `g` (never public ones).
fn group_members(g: SgIdx, enis: &IdxVec<EniIdx, Eni>) -> Vec<IpNet> {
    enis.iter()
        .filter(|e| e.sgs.contains(&g))
        .flat_map(|e| e.addrs.iter().map(|a| IpNet::from(*a)))
        .collect()
}
