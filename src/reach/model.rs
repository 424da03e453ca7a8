//! The sources, destinations and services of a reachability matrix, from a (validated) config.

use crate::config::{Config, InterfaceType};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Where connections start: a port (instance ENI, the internet, a service network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The port id (what `trace --from` takes).
    pub id: String,
    /// `eni`, `internet` or `service`.
    pub kind: &'static str,
    /// Other names `--from` accepts: the ENI, internet gateway or endpoint id.
    pub aliases: Vec<String>,
    /// The addresses of the source's host(s): a destination among them is the source itself.
    pub addresses: Vec<IpAddr>,
}

impl Source {
    pub fn matches(&self, id: &str) -> bool {
        self.id == id || self.aliases.iter().any(|a| a == id)
    }
}

/// Where connections go: one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// What lives there: an ENI id (`eni-web`, `eni-web public`), a NAT gateway, a port id
    /// (`internet`, `s3`), a prefix list (`pl-…`).
    pub name: String,
    pub address: IpAddr,
    /// `eni`, `endpoint-eni`, `public-ip`, `internet`, `service`, `prefix-list`.
    pub kind: &'static str,
    /// The port the address is delivered to when it is reached, where it has one.
    pub port: Option<String>,
    /// Other names `--to` accepts (ENI, endpoint, prefix list, port ids).
    pub aliases: Vec<String>,
}

impl Dest {
    pub fn matches(&self, id: &str) -> bool {
        self.name == id
            || self.address.to_string() == id
            || self.port.as_deref() == Some(id)
            || self.aliases.iter().any(|a| a == id)
    }

    /// `name address`, the way the text and diff name a destination.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.address)
    }
}

/// A service: TCP or UDP to a port, or ICMP echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Tcp(u16),
    Udp(u16),
    Icmp,
}

impl Service {
    /// `22,80,443,icmp`.
    pub fn defaults() -> Vec<Service> {
        vec![
            Service::Tcp(22),
            Service::Tcp(80),
            Service::Tcp(443),
            Service::Icmp,
        ]
    }

    /// A `--ports` list: `22,80,udp/53,icmp` (a bare number is TCP).
    pub fn parse_list(s: &str) -> Result<Vec<Service>, String> {
        let mut v: Vec<Service> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let svc = part.parse()?;
            if !v.contains(&svc) {
                v.push(svc);
            }
        }
        if v.is_empty() {
            return Err("--ports: no service given".into());
        }
        Ok(v)
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--ports {s:?}: expected a TCP port, tcp/N, udp/N or icmp");
        let lower = s.to_ascii_lowercase();
        if lower == "icmp" || lower == "icmpv6" {
            return Ok(Service::Icmp);
        }
        let (proto, port) = match lower.split_once(['/', ':']) {
            Some((p, n)) => (p, n),
            None => ("tcp", lower.as_str()),
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        match proto {
            "tcp" => Ok(Service::Tcp(port)),
            "udp" => Ok(Service::Udp(port)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Tcp(p) => write!(f, "tcp/{p}"),
            Service::Udp(p) => write!(f, "udp/{p}"),
            Service::Icmp => f.write_str("icmp"),
        }
    }
}

/// Every port of the config, in port order.
pub fn sources(cfg: &Config) -> Vec<Source> {
    cfg.ports
        .iter()
        .map(|p| {
            let eni = p.network_interface_id.as_ref().and_then(|id| {
                cfg.network_interfaces
                    .iter()
                    .find(|n| &n.network_interface_id == id)
            });
            let (kind, addresses) = match eni {
                Some(n) => {
                    let mut a: Vec<IpAddr> =
                        n.private_ip_address.map(IpAddr::from).into_iter().collect();
                    a.extend(
                        n.private_ip_addresses
                            .iter()
                            .map(|x| IpAddr::V4(x.private_ip_address)),
                    );
                    a.extend(n.ipv6_addresses.iter().map(|x| IpAddr::V6(x.ipv6_address)));
                    ("eni", a)
                }
                None => (
                    if p.internet_gateway_id.is_some() {
                        "internet"
                    } else {
                        "service"
                    },
                    p.addresses.iter().map(IpNet::addr).collect(),
                ),
            };
            let aliases = [
                &p.network_interface_id,
                &p.internet_gateway_id,
                &p.vpc_endpoint_id,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
            Source {
                id: p.port_id.clone(),
                kind,
                aliases,
                addresses,
            }
        })
        .collect()
}

/// Every destination of the config, each address once: ENIs (private, then public addresses),
/// NAT gateways' public addresses, the hosts of the internet and service ports, then one host
/// of each service prefix-list entry no listed address lies in.
pub fn destinations(cfg: &Config) -> Vec<Dest> {
    let mut out: Vec<Dest> = Vec::new();
    let push = |out: &mut Vec<Dest>, d: Dest| {
        if !out.iter().any(|x| x.address == d.address) {
            out.push(d);
        }
    };
    let port_of_eni = |id: &str| {
        cfg.ports
            .iter()
            .find(|p| p.network_interface_id.as_deref() == Some(id))
            .map(|p| p.port_id.clone())
    };
    let endpoint_of_eni = |id: &str| {
        cfg.vpc_endpoints
            .iter()
            .find(|e| e.network_interface_ids.iter().any(|x| x == id))
    };
    let port_of_endpoint = |id: &str| {
        cfg.ports
            .iter()
            .find(|p| p.vpc_endpoint_id.as_deref() == Some(id))
            .map(|p| p.port_id.clone())
    };
    let mut publics = Vec::new();
    for n in &cfg.network_interfaces {
        let id = &n.network_interface_id;
        let endpoint = (n.interface_type == Some(InterfaceType::VpcEndpoint))
            .then(|| endpoint_of_eni(id))
            .flatten();
        let (kind, port, mut aliases) = match endpoint {
            Some(e) => (
                "endpoint-eni",
                port_of_endpoint(&e.vpc_endpoint_id),
                vec![e.vpc_endpoint_id.clone()],
            ),
            None => ("eni", port_of_eni(id), Vec::new()),
        };
        aliases.push(id.clone());
        let mut addrs: Vec<IpAddr> = n.private_ip_address.map(IpAddr::from).into_iter().collect();
        addrs.extend(
            n.private_ip_addresses
                .iter()
                .map(|x| IpAddr::V4(x.private_ip_address)),
        );
        addrs.extend(n.ipv6_addresses.iter().map(|x| IpAddr::V6(x.ipv6_address)));
        for a in addrs {
            push(
                &mut out,
                Dest {
                    name: id.clone(),
                    address: a,
                    kind,
                    port: port.clone(),
                    aliases: aliases.clone(),
                },
            );
        }
        if let Some(a) = &n.association {
            publics.push(Dest {
                name: format!("{id} public"),
                address: a.public_ip.into(),
                kind: "public-ip",
                port: port.clone(),
                aliases: aliases.clone(),
            });
        }
    }
    for n in &cfg.nat_gateways {
        for a in &n.nat_gateway_addresses {
            if let Some(p) = a.public_ip {
                publics.push(Dest {
                    name: n.nat_gateway_id.clone(),
                    address: p.into(),
                    kind: "public-ip",
                    port: None,
                    aliases: vec![n.nat_gateway_id.clone()],
                });
            }
        }
    }
    for d in publics {
        push(&mut out, d);
    }
    for p in &cfg.ports {
        if p.network_interface_id.is_some() {
            continue;
        }
        let kind = if p.internet_gateway_id.is_some() {
            "internet"
        } else {
            "service"
        };
        let aliases: Vec<String> = [&p.internet_gateway_id, &p.vpc_endpoint_id]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for a in &p.addresses {
            push(
                &mut out,
                Dest {
                    name: p.port_id.clone(),
                    address: a.addr(),
                    kind,
                    port: Some(p.port_id.clone()),
                    aliases: aliases.clone(),
                },
            );
        }
    }
    // Service prefix lists: those a gateway endpoint's service names, and AWS-owned ones.
    for pl in &cfg.managed_prefix_lists {
        let gateway = cfg
            .vpc_endpoints
            .iter()
            .find(|e| e.service_name == pl.prefix_list_name);
        if gateway.is_none() && pl.owner_id.as_deref() != Some("AWS") {
            continue;
        }
        let port = gateway.and_then(|e| port_of_endpoint(&e.vpc_endpoint_id));
        for e in &pl.entries {
            if let Some(d) = out.iter_mut().find(|d| e.cidr.contains(&d.address)) {
                if !d.aliases.contains(&pl.prefix_list_id) {
                    d.aliases.push(pl.prefix_list_id.clone());
                }
                continue;
            }
            let mut aliases = vec![pl.prefix_list_id.clone()];
            aliases.extend(gateway.map(|g| g.vpc_endpoint_id.clone()));
            push(
                &mut out,
                Dest {
                    name: pl.prefix_list_id.clone(),
                    address: first_host(e.cidr),
                    kind: "prefix-list",
                    port: port.clone(),
                    aliases,
                },
            );
        }
    }
    out
}

/// The first host of a prefix (its network address for /31, /32, /127, /128).
fn first_host(n: IpNet) -> IpAddr {
    let host_bits = n.max_prefix_len() - n.prefix_len();
    match n.network() {
        IpAddr::V4(a) if host_bits >= 2 => IpAddr::V4((u32::from(a) + 1).into()),
        IpAddr::V6(a) if host_bits >= 2 => IpAddr::V6((u128::from(a) + 1).into()),
        a => a,
    }
}
