//! Network ACLs: AWS's initial entries where none are written, the implied `*` rule, rules
//! sorted by number per direction.

use crate::config::resolve;
use crate::policy::{L4Match, Nacl, NaclRule};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub(super) fn compile(n: &resolve::Nacl<'_>) -> Nacl {
    let mut nacl = Nacl {
        id: n.cfg.network_acl_id.clone(),
        inbound: vec![],
        outbound: vec![],
    };
    let allow_all = |number, cidr| NaclRule {
        number,
        allow: true,
        proto: None,
        cidr,
        l4: L4Match::Any,
    };
    match &n.entries {
        None if n.cfg.is_default => {
            for list in [&mut nacl.inbound, &mut nacl.outbound] {
                list.push(allow_all(100, IpNet::V4(Ipv4Net::default())));
                list.push(allow_all(101, IpNet::V6(Ipv6Net::default())));
            }
        }
        None => {}
        Some(entries) => {
            for e in entries {
                let rule = NaclRule {
                    number: e.number,
                    allow: e.allow,
                    proto: e.proto,
                    cidr: e.cidr,
                    l4: L4Match::from_aws(e.proto, e.from, e.to),
                };
                if e.egress {
                    nacl.outbound.push(rule);
                } else {
                    nacl.inbound.push(rule);
                }
            }
        }
    }
    nacl.inbound.sort_by_key(|r| r.number);
    nacl.outbound.sort_by_key(|r| r.number);
    nacl
}
