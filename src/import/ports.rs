//! The ports vpcfwd needs to carry packets: one per instance ENI (its port id derived from the
//! ENI id), `internet` for the internet gateway, one per endpoint (a gateway endpoint's hosts in
//! its service's first prefix-list entry; an interface endpoint's behind placeholder targets in
//! a documentation range, which the consumer account cannot see).

use super::{Report, lab};
use crate::config::{Config, InterfaceType, Port, VpcEndpointType};
use ipnet::{IpNet, Ipv4Net};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// How long a port id may be before import shortens it: `None`, since any AWS id is a valid port
/// id (`check` takes up to 64 characters, and `io::netns::device_name` derives a TUN device name
/// that fits from an id too long for `vf-<PortId>`). A limit makes import keep a longer id's
/// kind and last characters, reported.
pub(super) const SHORTEN_PORT_IDS: Option<usize> = None;

/// A port id vpcfwd accepts for an AWS id: the id itself when it fits `limit` (or there is no
/// limit), else its kind and last characters; unique among `taken`.
fn port_id(
    aws: &str,
    limit: Option<usize>,
    taken: &mut HashSet<String>,
    report: &mut Report,
) -> String {
    let lower = aws.to_ascii_lowercase();
    let Some(max) = limit else {
        let mut id = lower.clone();
        let mut n = 2;
        while !taken.insert(id.clone()) {
            id = format!("{lower}-{n}");
            n += 1;
        }
        return id;
    };
    if lower.len() <= max && taken.insert(lower.clone()) {
        return lower;
    }
    let (kind, rest) = lower.split_once('-').unwrap_or(("p", &lower));
    let room = max - kind.len() - 1;
    let tail: String = rest
        .chars()
        .rev()
        .take(room)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut id = format!("{kind}-{tail}");
    let mut n = 2;
    while !taken.insert(id.clone()) {
        let suffix = format!("-{n}");
        id = format!(
            "{kind}-{}{suffix}",
            &tail[..room.saturating_sub(suffix.len())]
        );
        n += 1;
    }
    report.note(
        aws,
        "PortId",
        format!("{id}: vpcfwd's validation still limits port ids to {max} characters"),
    );
    id
}

/// The ports, after the routes are mapped (a service port's host must be an address its
/// prefix-list route wins for) and the placeholders of interface endpoints.
pub(super) fn build(cfg: &mut Config, report: &mut Report) {
    let mut taken: HashSet<String> = HashSet::new();
    taken.insert("internet".into());
    let obstacles = lab::outside_prefixes(cfg);
    let mut ports = Vec::new();
    for n in &cfg.network_interfaces {
        let instance = n
            .attachment
            .as_ref()
            .is_some_and(|a| a.instance_id.is_some());
        if instance && n.interface_type != Some(InterfaceType::VpcEndpoint) {
            ports.push(Port {
                port_id: port_id(
                    &n.network_interface_id,
                    SHORTEN_PORT_IDS,
                    &mut taken,
                    report,
                ),
                network_interface_id: Some(n.network_interface_id.clone()),
                ..Port::default()
            });
        }
    }
    let mut placed: Vec<Ipv4Net> = Vec::new();
    if let Some(g) = cfg.internet_gateways.first() {
        match lab::doc_block(&obstacles, &placed, 28) {
            Some(b) => {
                placed.push(b);
                ports.push(Port {
                    port_id: "internet".into(),
                    internet_gateway_id: Some(g.internet_gateway_id.clone()),
                    addresses: vec![IpNet::V4(Ipv4Net::new(nth(b, 1), 28).expect("prefix"))],
                    ..Port::default()
                });
            }
            None => report.note(
                &g.internet_gateway_id,
                "Ports",
                "no documentation-range address is free of the config's routes: no internet port",
            ),
        }
    }
    for ix in 0..cfg.vpc_endpoints.len() {
        let ep = cfg.vpc_endpoints[ix].clone();
        let id = ep.vpc_endpoint_id.clone();
        let addr = match ep.vpc_endpoint_type {
            VpcEndpointType::Gateway => {
                let pl = cfg
                    .managed_prefix_lists
                    .iter()
                    .find(|p| p.prefix_list_name == ep.service_name);
                match pl
                    .and_then(|p| p.entries.first())
                    .and_then(|e| lab::free_host(e.cidr, &obstacles))
                {
                    Some(a) => a,
                    None => {
                        report.note(
                            &id,
                            "Ports",
                            "its prefix list has no entries: no service port",
                        );
                        continue;
                    }
                }
            }
            VpcEndpointType::Interface => {
                let Some(b) = lab::doc_block(&obstacles, &placed, 29) else {
                    report.note(&id, "ServiceTargets", "no documentation-range block is free of the config's routes: no placeholder, no port");
                    continue;
                };
                placed.push(b);
                let (lb, target) = (nth(b, 1), nth(b, 2));
                report.note(&id, "ServiceTargets", format!("the provider's targets are not visible to this account: placeholder {target}:443 behind load balancer {lb} (documentation range)"));
                let e = &mut cfg.vpc_endpoints[ix];
                e.service_targets = vec![SocketAddr::new(IpAddr::V4(target), 443)];
                e.load_balancer_addresses = vec![IpAddr::V4(lb)];
                IpNet::V4(Ipv4Net::new(target, 29).expect("prefix"))
            }
        };
        ports.push(Port {
            port_id: port_id(&id, SHORTEN_PORT_IDS, &mut taken, report),
            vpc_endpoint_id: Some(id),
            addresses: vec![addr],
            ..Port::default()
        });
    }
    cfg.ports = ports;
}

fn nth(b: Ipv4Net, k: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(b.network()) + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ids_keep_aws_ids_without_the_limit_and_shorten_with_it() {
        let (mut taken, mut report) = (HashSet::new(), Report::default());
        let eni = "eni-0123456789abcdef0";
        assert_eq!(port_id(eni, None, &mut taken, &mut report), eni);
        assert!(report.0.is_empty());
        let short = port_id(eni, Some(12), &mut taken, &mut report);
        assert_eq!(short, "eni-9abcdef0");
        assert_eq!(report.0.len(), 1, "{:?}", report.0);
        assert_eq!(
            port_id(eni, None, &mut taken, &mut report),
            format!("{eni}-2")
        );
    }
}
