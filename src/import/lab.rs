//! `--lab`: every address outside the VPC's CIDRs (public and Elastic IPs, prefix-list entries,
//! service ranges, route destinations, rule peers) moves into the documentation ranges,
//! deterministically and keeping the shape that decides routing: the prefixes form a forest by
//! containment, each is given a block inside its parent's block, disjoint from its siblings',
//! with room left over for addresses only it covers. So a prefix contains (or equals) another
//! after the remap exactly when it did before, and every longest-prefix match and every tie
//! (CIDR against prefix list) is decided as it was. Also the helpers that place addresses in the
//! documentation ranges for the import itself (internet hosts, interface-endpoint placeholders).

use super::Report;
use crate::config::Config;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 documentation ranges (RFC 5737), the only public space lab traffic may use.
pub const DOC_V4: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];
/// IPv6 documentation space (RFC 3849) the remap uses.
const DOC_V6: &str = "2001:db8:ffff::/48";

fn doc_v4() -> Vec<Ipv4Net> {
    DOC_V4.iter().map(|s| s.parse().expect("literal")).collect()
}

/// Calls `f` on every address and prefix of the config that names a place (not ENI private
/// addresses, which lie in the VPC). A port address `host/len` is visited as its network and its
/// host, and rebuilt from both.
fn visit(cfg: &mut Config, f: &mut dyn FnMut(&mut IpNet)) {
    fn host(a: &mut IpAddr, f: &mut dyn FnMut(&mut IpNet)) {
        let mut n = IpNet::from(*a);
        f(&mut n);
        *a = n.addr();
    }
    fn host4(a: &mut Ipv4Addr, f: &mut dyn FnMut(&mut IpNet)) {
        let mut x = IpAddr::V4(*a);
        host(&mut x, f);
        if let IpAddr::V4(v) = x {
            *a = v;
        }
    }
    fn net4(n: &mut Ipv4Net, f: &mut dyn FnMut(&mut IpNet)) {
        let mut x = IpNet::V4(*n);
        f(&mut x);
        if let IpNet::V4(v) = x {
            *n = v;
        }
    }
    fn net6(n: &mut Ipv6Net, f: &mut dyn FnMut(&mut IpNet)) {
        let mut x = IpNet::V6(*n);
        f(&mut x);
        if let IpNet::V6(v) = x {
            *n = v;
        }
    }
    for rt in &mut cfg.route_tables {
        for r in &mut rt.routes {
            if let Some(n) = &mut r.destination_cidr_block {
                net4(n, f);
            }
            if let Some(n) = &mut r.destination_ipv6_cidr_block {
                net6(n, f);
            }
        }
    }
    for p in &mut cfg.managed_prefix_lists {
        for e in &mut p.entries {
            f(&mut e.cidr);
        }
    }
    for g in &mut cfg.security_groups {
        for r in g.security_group_rules.iter_mut().flatten() {
            if let Some(n) = &mut r.cidr_ipv4 {
                net4(n, f);
            }
            if let Some(n) = &mut r.cidr_ipv6 {
                net6(n, f);
            }
        }
    }
    for a in &mut cfg.network_acls {
        for e in a.entries.iter_mut().flatten() {
            if let Some(n) = &mut e.cidr_block {
                net4(n, f);
            }
            if let Some(n) = &mut e.ipv6_cidr_block {
                net6(n, f);
            }
        }
    }
    for n in &mut cfg.network_interfaces {
        if let Some(a) = &mut n.association {
            host4(&mut a.public_ip, f);
        }
        for p in &mut n.private_ip_addresses {
            if let Some(a) = &mut p.association {
                host4(&mut a.public_ip, f);
            }
        }
    }
    for n in &mut cfg.nat_gateways {
        for a in &mut n.nat_gateway_addresses {
            if let Some(p) = &mut a.public_ip {
                host4(p, f);
            }
        }
    }
    for e in &mut cfg.vpc_endpoints {
        for t in &mut e.service_targets {
            let mut ip = t.ip();
            host(&mut ip, f);
            t.set_ip(ip);
        }
        for a in &mut e.load_balancer_addresses {
            host(a, f);
        }
    }
    for p in &mut cfg.ports {
        for a in &mut p.addresses {
            let mut net = a.trunc();
            let mut h = IpNet::from(a.addr());
            f(&mut net);
            f(&mut h);
            *a = IpNet::new(h.addr(), net.prefix_len()).unwrap_or(h);
        }
    }
}

fn vpc_cidrs(cfg: &Config) -> Vec<IpNet> {
    let mut v = Vec::new();
    for vpc in &cfg.vpcs {
        v.push(IpNet::V4(vpc.cidr_block));
        v.extend(
            vpc.cidr_block_association_set
                .iter()
                .map(|a| IpNet::V4(a.cidr_block)),
        );
        v.extend(
            vpc.ipv6_cidr_block_association_set
                .iter()
                .map(|a| IpNet::V6(a.ipv6_cidr_block)),
        );
    }
    v
}

/// Every prefix of the config outside the VPC's CIDRs, except the default routes.
pub fn outside_prefixes(cfg: &Config) -> Vec<IpNet> {
    let vpc = vpc_cidrs(cfg);
    let mut out = Vec::new();
    let mut c = cfg.clone();
    visit(&mut c, &mut |n| {
        if n.prefix_len() > 0 && !vpc.iter().any(|v| v.contains(&*n)) {
            out.push(n.trunc());
        }
    });
    out
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b) || b.contains(&a)
}

/// The first /`len` of the documentation ranges that overlaps none of `obstacles` and `placed`.
pub fn doc_block(obstacles: &[IpNet], placed: &[Ipv4Net], len: u8) -> Option<Ipv4Net> {
    doc_v4()
        .into_iter()
        .flat_map(|bin| bin.subnets(len).into_iter().flatten())
        .find(|b| {
            let n = IpNet::V4(*b);
            !obstacles.iter().any(|o| overlaps(*o, n))
                && !placed.iter().any(|p| overlaps(IpNet::V4(*p), n))
        })
}

/// A host of `net` that no more specific prefix of `obstacles` covers (so a route to `net`
/// decides it), as `host/len`.
pub fn free_host(net: IpNet, obstacles: &[IpNet]) -> Option<IpNet> {
    let net = net.trunc();
    if net.prefix_len() == net.max_prefix_len() {
        return Some(net);
    }
    net.hosts()
        .take(1 << 16)
        .find(|h| {
            !obstacles
                .iter()
                .any(|o| o.prefix_len() > net.prefix_len() && o.contains(h))
        })
        .and_then(|h| IpNet::new(h, net.prefix_len()).ok())
}

/// One remapped prefix: the original, its image, its depth in the forest, and the address of
/// the image that no child covers (where addresses only it contained go).
#[derive(Debug, Clone)]
pub struct Remapped {
    pub from: IpNet,
    pub to: IpNet,
    pub depth: usize,
    pub spare: IpAddr,
}

/// `--lab`'s mapping, in address order.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub prefixes: Vec<Remapped>,
    vpc: Vec<IpNet>,
}

impl Mapping {
    /// The image of a prefix the config holds (unchanged when it was kept).
    pub fn map_net(&self, n: IpNet) -> IpNet {
        let t = n.trunc();
        self.prefixes
            .iter()
            .find(|r| r.from == t)
            .map_or(n, |r| r.to)
    }

    /// Where an address went: its own image if the config names it, else the spare address of
    /// the most specific remapped prefix containing it; unchanged if nothing remapped contains it.
    pub fn map_addr(&self, a: IpAddr) -> IpAddr {
        let h = IpNet::from(a);
        if let Some(r) = self.prefixes.iter().find(|r| r.from == h) {
            return r.to.addr();
        }
        self.prefixes
            .iter()
            .filter(|r| r.from.contains(&a))
            .max_by_key(|r| r.from.prefix_len())
            .map_or(a, |r| r.spare)
    }

    /// Whether an address is one a lab may carry: the documentation ranges, 10.0.0.0/8 (lab
    /// space, see the README's "Network safety") or the VPC's.
    pub fn lab_safe(&self, n: IpNet) -> bool {
        let doc: Vec<IpNet> = doc_v4()
            .into_iter()
            .map(IpNet::V4)
            .chain(["2001:db8::/32", "10.0.0.0/8"].map(|s| s.parse().expect("literal")))
            .collect();
        n.prefix_len() == 0 || doc.iter().chain(&self.vpc).any(|d| d.contains(&n))
    }

    /// The comment block at the top of the written file.
    pub fn comment(&self) -> String {
        let mut s = String::from(
            "# Imported by `vpcfwd import --lab` from aws ec2 describe-* output. Every address outside\n\
             # the VPC's CIDRs and 10.0.0.0/8 (lab space) was remapped into the documentation ranges,\n\
             # keeping which prefix contains or equals which (every route wins where it won).\n\
             # Original -> lab:\n",
        );
        if self.prefixes.is_empty() {
            s.push_str("#   (nothing to remap)\n");
        }
        for r in &self.prefixes {
            s.push_str(&format!(
                "#   {}{} -> {}\n",
                "  ".repeat(r.depth),
                r.from,
                r.to
            ));
        }
        s
    }
}

struct Node {
    net: IpNet,
    children: Vec<usize>,
    size: u128,
    depth: usize,
}

fn bits(n: &IpNet) -> u32 {
    n.max_prefix_len() as u32
}

fn num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn addr(v6: bool, x: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(x))
    } else {
        IpAddr::V4(Ipv4Addr::from(x as u32))
    }
}

fn align(off: u128, size: u128) -> u128 {
    off.div_ceil(size) * size
}

/// Sizes bottom-up: a host stays one address; a prefix gets its network address, its children
/// (aligned, in address order) and one spare address, rounded up to a power of two (at least 4).
fn size(nodes: &mut Vec<Node>, i: usize) -> u128 {
    if nodes[i].net.prefix_len() == nodes[i].net.max_prefix_len() {
        nodes[i].size = 1;
        return 1;
    }
    let mut off = 1u128;
    for c in nodes[i].children.clone() {
        let s = size(nodes, c);
        off = align(off, s) + s;
    }
    let s = (off + 1).next_power_of_two().max(4);
    nodes[i].size = s;
    s
}

fn place(nodes: &[Node], i: usize, base: u128, out: &mut Vec<Remapped>) {
    let n = &nodes[i];
    let v6 = n.net.addr().is_ipv6();
    let len = bits(&n.net) - n.size.trailing_zeros();
    let at = out.len();
    out.push(Remapped {
        from: n.net,
        to: IpNet::new(addr(v6, base), len as u8).expect("prefix length"),
        depth: n.depth,
        spare: addr(v6, base),
    });
    if n.size == 1 {
        return;
    }
    let mut off = 1u128;
    for &c in &n.children {
        let s = nodes[c].size;
        off = align(off, s);
        place(nodes, c, base + off, out);
        off += s;
    }
    out[at].spare = addr(v6, base + off);
}

/// Remaps the config in place; the mapping says where everything went.
pub fn remap(cfg: &mut Config, report: &mut Report) -> Result<Mapping, String> {
    let vpc = vpc_cidrs(cfg);
    let ten: IpNet = "10.0.0.0/8".parse().expect("literal");
    let keep = |n: &IpNet| {
        n.prefix_len() == 0 || vpc.iter().any(|v| v.contains(n) || n.contains(v)) || ten.contains(n)
    };
    let mut items: Vec<IpNet> = Vec::new();
    let mut kept_wide: Vec<IpNet> = Vec::new();
    let mut c = cfg.clone();
    visit(&mut c, &mut |n| {
        let t = n.trunc();
        if !keep(&t) {
            items.push(t);
        } else if t.prefix_len() > 0 && !ten.contains(&t) && !vpc.iter().any(|v| v.contains(&t)) {
            kept_wide.push(t);
        }
    });
    kept_wide.sort();
    kept_wide.dedup();
    for k in kept_wide {
        report.note(&k.to_string(), "-", "contains the VPC's CIDR: kept as it is (--lab cannot move it into the documentation ranges)");
    }
    let doc6: IpNet = "2001:db8::/32".parse().expect("literal");
    for v in &vpc {
        if !ten.contains(v) && !doc6.contains(v) {
            report.note(
                &cfg.vpcs[0].vpc_id,
                "CidrBlock",
                format!("{v}: the VPC's own addresses are kept by --lab; lab traffic is meant for 10.0.0.0/8 and the documentation ranges (README, Network safety)"),
            );
        }
    }
    let m = mapping_for(vpc, items)?;
    let by: HashMap<IpNet, IpNet> = m.prefixes.iter().map(|r| (r.from, r.to)).collect();
    visit(cfg, &mut |n| {
        if let Some(to) = by.get(&n.trunc()) {
            *n = *to;
        }
    });
    Ok(m)
}

/// The mapping of `items` (prefixes and hosts to move) into the documentation ranges; `vpc`
/// is kept for [`Mapping::lab_safe`].
pub fn mapping_for(vpc: Vec<IpNet>, mut items: Vec<IpNet>) -> Result<Mapping, String> {
    for n in &mut items {
        *n = n.trunc();
    }
    items.sort_by_key(|n| (n.addr().is_ipv6(), num(n.addr()), n.prefix_len()));
    items.dedup();
    let mut nodes: Vec<Node> = Vec::new();
    let mut tops: Vec<usize> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for n in items {
        while let Some(&t) = stack.last() {
            if nodes[t].net.contains(&n) {
                break;
            }
            stack.pop();
        }
        let i = nodes.len();
        nodes.push(Node {
            net: n,
            children: vec![],
            size: 0,
            depth: stack.len(),
        });
        match stack.last() {
            Some(&p) => nodes[p].children.push(i),
            None => tops.push(i),
        }
        stack.push(i);
    }
    for &t in &tops {
        size(&mut nodes, t);
    }
    let bins4: Vec<(u128, u128)> = doc_v4()
        .iter()
        .map(|b| (num(IpAddr::V4(b.network())), 256))
        .collect();
    let v6bin: Ipv6Net = DOC_V6.parse().expect("literal");
    let mut used4 = vec![0u128; bins4.len()];
    let mut used6 = 0u128;
    let mut out = Vec::new();
    for &t in &tops {
        let s = nodes[t].size;
        if nodes[t].net.addr().is_ipv6() {
            let off = align(used6, s);
            place(&nodes, t, num(IpAddr::V6(v6bin.network())) + off, &mut out);
            used6 = off + s;
            continue;
        }
        let Some(b) = (0..bins4.len()).find(|&b| align(used4[b], s) + s <= bins4[b].1) else {
            return Err(format!(
                "--lab: the prefixes outside the VPC need more room than the documentation ranges ({}) have; {} does not fit",
                DOC_V4.join(", "),
                nodes[t].net
            ));
        };
        let off = align(used4[b], s);
        place(&nodes, t, bins4[b].0 + off, &mut out);
        used4[b] = off + s;
    }
    Ok(Mapping { prefixes: out, vpc })
}
