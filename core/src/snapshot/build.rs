//! Resolved config → snapshot: each family in its compiled form (zones are `compile_after`'s).

use super::{
    Endpoint, EndpointKind, Eni, EniIdx, IdxVec, NatGateway, PortKind, PortSpec, Snapshot, Subnet,
    Zone, nacl, route, sg,
};
use crate::config::resolve::{self, EndpointKind as Kind, Resolved};
use crate::flow::Timeouts;
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn snapshot(r: &Resolved<'_>) -> Snapshot {
    let mut enis: IdxVec<EniIdx, Eni> = r.enis.iter().map(|e| eni(r, e)).collect();
    let mut endpoints: IdxVec<_, Endpoint> = r.endpoints.iter().map(endpoint).collect();
    let mut internet_port = None;
    for (i, p) in r.ports.iter_enumerated() {
        match p.kind {
            PortKind::Eni(e) => enis[e].port = Some(i),
            PortKind::Internet => internet_port = Some(i),
            PortKind::Service(ep) => endpoints[ep].port = Some(i),
        }
    }
    let mut eni_by_ip = FxHashMap::default();
    let mut eni_by_public = FxHashMap::default();
    for (i, e) in enis.iter_enumerated() {
        for a in &e.addrs {
            eni_by_ip.insert(*a, i);
        }
        for &(_, p) in &e.public_ips {
            eni_by_public.insert(p, i);
        }
    }
    Snapshot {
        vpc_id: r.vpc.vpc_id.clone(),
        vpc_cidrs: r.vpc_cidrs.clone(),
        ipv6: !r.vpc.ipv6_cidr_block_association_set.is_empty(),
        subnets: r.subnets.iter().map(subnet).collect(),
        route_tables: r.route_tables.iter().map(|t| route::table(r, t)).collect(),
        nacls: r.nacls.iter().map(nacl::compile).collect(),
        sgs: sg::compile(r, &enis),
        enis,
        nat_gateways: r.nat_gateways.iter().map(nat).collect(),
        endpoints,
        igw_id: r.igw.map(|g| g.internet_gateway_id.clone()),
        eigw_id: r.eigw.map(str::to_string),
        internet_port,
        ports: r
            .ports
            .iter()
            .map(|p| PortSpec {
                id: p.cfg.port_id.clone(),
                kind: p.kind,
            })
            .collect(),
        eni_by_ip,
        eni_by_public,
        router_mode: r.cfg.options.router_mode,
        resolver_addrs: resolver_addrs(r),
        resolver_v6: r
            .vpc_cidrs
            .iter()
            .any(|c| c.addr().is_ipv6())
            .then_some(crate::config::aws::RESOLVER_V6),
        dns: crate::dns::compile(r.cfg, |id| {
            r.cfg
                .subnets
                .iter()
                .find(|s| s.subnet_id == id)
                .and_then(|s| s.availability_zone.as_deref())
        }),
        account_id: r.cfg.account_id.clone().unwrap_or_else(|| "-".into()),
        region: r.cfg.region.clone().unwrap_or_else(|| "us-east-1".into()),
        aws_services: aws_services(r),
        next_zone: 0,
    }
}

fn eni(r: &Resolved<'_>, e: &resolve::Eni<'_>) -> Eni {
    let n = e.cfg;
    let mut addrs: Vec<IpAddr> = n.private_ip_address.map(IpAddr::from).into_iter().collect();
    for a in &n.private_ip_addresses {
        let a = IpAddr::from(a.private_ip_address);
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    addrs.extend(
        n.ipv6_addresses
            .iter()
            .map(|a| IpAddr::from(a.ipv6_address)),
    );
    // Each private address may carry its own public one: the primary's is the ENI's
    // `Association`, a secondary's its `PrivateIpAddresses[k].Association`.
    let mut public_ips: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
    let primary = n
        .association
        .as_ref()
        .and_then(|a| Some((n.private_ip_address?, a.public_ip)));
    let secondary = n.private_ip_addresses.iter().filter_map(|p| {
        p.association
            .as_ref()
            .map(|a| (p.private_ip_address, a.public_ip))
    });
    for (private, public) in primary.into_iter().chain(secondary) {
        if !public_ips.iter().any(|&(v, _)| v == private) {
            public_ips.push((private, public));
        }
    }
    let public_ip = public_ips.first().map(|&(_, p)| p);
    let c = n.connection_tracking_configuration.unwrap_or_default();
    Eni {
        id: n.network_interface_id.clone(),
        subnet: e.subnet,
        addrs,
        public_ip,
        public_ips,
        sgs: e.groups.clone(),
        src_dst_check: n.source_dest_check.unwrap_or(true),
        port: None,
        instance_id: n.attachment.as_ref().and_then(|a| a.instance_id.clone()),
        endpoint: e.endpoint,
        timeouts: Timeouts::with_overrides(
            c.tcp_established_timeout,
            c.udp_timeout,
            c.udp_stream_timeout,
            r.cfg.options.icmp_timeout,
        ),
        zone: Zone(0),
    }
}

fn subnet(s: &resolve::Subnet<'_>) -> Subnet {
    let cidrs: Vec<IpNet> = s.cfg.cidrs().collect();
    Subnet {
        id: s.cfg.subnet_id.clone(),
        cidrs,
        route_table: s.route_table,
        nacl: s.nacl,
        az: s.cfg.availability_zone.clone(),
        az_id: s.cfg.availability_zone_id.clone(),
        dns64: s.cfg.enable_dns64 == Some(true),
    }
}

fn nat(n: &resolve::Nat<'_>) -> NatGateway {
    let addrs = &n.cfg.nat_gateway_addresses;
    NatGateway {
        id: n.cfg.nat_gateway_id.clone(),
        subnet: n.subnet,
        private_ips: addrs.iter().map(|a| a.private_ip).collect(),
        public_ips: addrs.iter().filter_map(|a| a.public_ip).collect(),
        eni_id: addrs
            .iter()
            .find_map(|a| a.network_interface_id.clone())
            .unwrap_or_else(|| format!("eni-{}", n.cfg.nat_gateway_id)),
    }
}

fn endpoint(e: &resolve::Endpoint<'_>) -> Endpoint {
    let kind = match e.kind {
        Kind::Gateway { service, .. } => EndpointKind::Gateway(service),
        Kind::Interface => EndpointKind::interface(
            e.cfg
                .service_targets
                .iter()
                .map(|t| (t.ip(), t.port()))
                .collect(),
            e.cfg.load_balancer_addresses.clone(),
        ),
    };
    Endpoint {
        id: e.cfg.vpc_endpoint_id.clone(),
        kind,
        service: e.cfg.service_name.clone(),
        port: None,
        ip_type: e.cfg.ip_address_type.unwrap_or_default(),
    }
}

/// The resolver's addresses: base + 2 of the VPC's primary CIDR, and 169.254.169.253.
fn resolver_addrs(r: &Resolved<'_>) -> Vec<Ipv4Addr> {
    vec![
        crate::config::aws::resolver(r.vpc.cidr_block),
        crate::config::aws::RESOLVER_LINK_LOCAL,
    ]
}

/// The AWS-managed prefix lists' entries, named for their service as flow logs write it.
fn aws_services(r: &Resolved<'_>) -> Vec<(IpNet, String)> {
    let mut v = Vec::new();
    for p in r.cfg.managed_prefix_lists.iter() {
        let Some(rest) = p.prefix_list_name.strip_prefix("com.amazonaws.") else {
            continue;
        };
        let Some((_, service)) = rest.split_once('.') else {
            continue;
        };
        // `com.amazonaws.<region>.ipv6.s3` is S3's IPv6 list.
        let service = service.strip_prefix("ipv6.").unwrap_or(service);
        if p.owner_id.as_deref() != Some("AWS") {
            continue;
        }
        for e in &p.entries {
            v.push((e.cidr, service.to_ascii_uppercase()));
        }
    }
    v
}
