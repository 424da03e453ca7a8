//! ENIs, NAT and internet gateways, VPC endpoints, and the ports vpcfwd needs to carry packets:
//! one per instance ENI, `internet`, one per endpoint. Requester-managed ENIs map to what owns
//! them (a NAT gateway's address is the NAT gateway's; an endpoint's ENIs are the endpoint's).

use super::json::{arr, name_tag, parse, s, string};
use super::{Report, input::Inputs};
use crate::config::{
    AttachmentState, Config, ConnectionTrackingConfiguration, ConnectivityType,
    EndpointIpAddressType, EniAttachment, GroupIdentifier, InterfaceType, InternetGateway,
    InternetGatewayAttachment, IpAssociation, Ipv6Address, NatGateway, NatGatewayAddress,
    NetworkInterface, PrivateIpAddress, VpcEndpoint, VpcEndpointType,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

enum Owner {
    Nat(String),
    Endpoint(usize),
}

pub(super) fn build(inp: &Inputs, cfg: &mut Config, report: &mut Report) {
    let vpc_id = cfg.vpcs[0].vpc_id.clone();
    let in_vpc = |v: &&Value| s(v, "VpcId") == Some(vpc_id.as_str());
    for g in &inp.internet_gateways {
        let att: Vec<InternetGatewayAttachment> = arr(g, "Attachments")
            .iter()
            .filter(|a| s(a, "VpcId") == Some(&vpc_id))
            .filter(|a| matches!(s(a, "State"), None | Some("available" | "attached")))
            .map(|a| InternetGatewayAttachment {
                vpc_id: vpc_id.clone(),
                state: s(a, "State").and_then(attachment_state),
            })
            .collect();
        if !att.is_empty() {
            cfg.internet_gateways.push(InternetGateway {
                internet_gateway_id: string(g, "InternetGatewayId"),
                attachments: att,
                tags: name_tag(g),
            });
        }
    }
    for g in inp.egress_only_internet_gateways.iter().filter(|g| {
        arr(g, "Attachments")
            .iter()
            .any(|a| s(a, "VpcId") == Some(&vpc_id))
    }) {
        report.note(
            &string(g, "EgressOnlyInternetGatewayId"),
            "-",
            "egress-only internet gateway: not modelled by vpcfwd (routes to it are blackholes)",
        );
    }
    let mut owner: HashMap<String, Owner> = HashMap::new();
    for n in inp.nat_gateways.iter().filter(in_vpc) {
        let id = string(n, "NatGatewayId");
        if let Some(st @ ("deleted" | "deleting" | "failed")) = s(n, "State") {
            report.note(
                &id,
                "State",
                format!("{st}: not imported (routes to it are blackholes, as AWS keeps them)"),
            );
            continue;
        }
        let private = s(n, "ConnectivityType") == Some("private");
        let mut addrs = Vec::new();
        for (k, a) in arr(n, "NatGatewayAddresses").iter().enumerate() {
            if let Some(e) = s(a, "NetworkInterfaceId") {
                owner.insert(e.to_string(), Owner::Nat(id.clone()));
            }
            let Some(p) = parse::<Ipv4Addr>(a, "PrivateIp") else {
                report.note(
                    &id,
                    &format!("NatGatewayAddresses[{k}]"),
                    "no PrivateIp: left out",
                );
                continue;
            };
            let public = parse::<Ipv4Addr>(a, "PublicIp");
            if !private && public.is_none() {
                report.note(&id, &format!("NatGatewayAddresses[{k}]"), "a public NAT gateway address without PublicIp (Elastic IP not associated yet): left out");
                continue;
            }
            addrs.push(NatGatewayAddress {
                private_ip: p,
                public_ip: if private { None } else { public },
                allocation_id: s(a, "AllocationId").map(str::to_string),
                network_interface_id: s(a, "NetworkInterfaceId").map(str::to_string),
            });
        }
        if addrs.is_empty() {
            report.note(
                &id,
                "NatGatewayAddresses",
                "no usable address: not imported (routes to it are blackholes)",
            );
            continue;
        }
        if !cfg
            .subnets
            .iter()
            .any(|x| Some(x.subnet_id.as_str()) == s(n, "SubnetId"))
        {
            report.note(
                &id,
                "SubnetId",
                "its subnet was not imported: NAT gateway left out (routes to it are blackholes)",
            );
            continue;
        }
        cfg.nat_gateways.push(NatGateway {
            nat_gateway_id: id,
            subnet_id: string(n, "SubnetId"),
            vpc_id: vpc_id.clone(),
            connectivity_type: Some(if private {
                ConnectivityType::Private
            } else {
                ConnectivityType::Public
            }),
            nat_gateway_addresses: addrs,
            tags: name_tag(n),
        });
    }
    let rtbs: HashSet<&str> = inp
        .route_tables
        .iter()
        .filter(in_vpc)
        .filter_map(|r| s(r, "RouteTableId"))
        .collect();
    for e in inp.vpc_endpoints.iter().filter(in_vpc) {
        let id = string(e, "VpcEndpointId");
        let st = s(e, "State").unwrap_or("available").to_ascii_lowercase();
        if matches!(
            st.as_str(),
            "deleted" | "deleting" | "failed" | "rejected" | "expired"
        ) {
            report.note(&id, "State", format!("{st}: not imported"));
            continue;
        }
        let kind = match s(e, "VpcEndpointType") {
            Some("Gateway") => VpcEndpointType::Gateway,
            Some("Interface") => VpcEndpointType::Interface,
            other => {
                report.note(
                    &id,
                    "VpcEndpointType",
                    format!(
                        "{}: not modelled by vpcfwd, not imported",
                        other.unwrap_or("-")
                    ),
                );
                continue;
            }
        };
        let ix = cfg.vpc_endpoints.len();
        let mut ep = VpcEndpoint {
            vpc_endpoint_id: id.clone(),
            vpc_endpoint_type: kind,
            vpc_id: vpc_id.clone(),
            service_name: string(e, "ServiceName"),
            route_table_ids: vec![],
            subnet_ids: vec![],
            network_interface_ids: vec![],
            groups: groups(e),
            ip_address_type: match s(e, "IpAddressType") {
                Some("dualstack") => Some(EndpointIpAddressType::Dualstack),
                Some("ipv6") => Some(EndpointIpAddressType::Ipv6),
                _ => None,
            },
            service_targets: vec![],
            load_balancer_addresses: vec![],
            private_dns_enabled: e.get("PrivateDnsEnabled").and_then(Value::as_bool),
            private_dns_name: None,
            tags: name_tag(e),
        };
        match kind {
            VpcEndpointType::Gateway => {
                ep.groups.clear();
                ep.route_table_ids = arr(e, "RouteTableIds")
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|r| rtbs.contains(r))
                    .map(str::to_string)
                    .collect();
                let name = ep.service_name.clone();
                if let Some(p) = inp
                    .prefix_lists
                    .iter()
                    .chain(&inp.managed_prefix_lists)
                    .find(|p| s(p, "PrefixListName") == Some(&name))
                {
                    let pid = string(p, "PrefixListId");
                    super::network::ensure_prefix_list(cfg, &pid, Some(&name), &id, report);
                } else if !cfg
                    .managed_prefix_lists
                    .iter()
                    .any(|p| p.prefix_list_name == name)
                {
                    // The list's id is on the endpoint's routes, if the export has them.
                    let pid = inp
                        .route_tables
                        .iter()
                        .flat_map(|r| arr(r, "Routes"))
                        .find(|r| s(r, "GatewayId") == Some(&id))
                        .and_then(|r| s(r, "DestinationPrefixListId"))
                        .map_or_else(
                            || format!("pl-{}", id.trim_start_matches("vpce-")),
                            str::to_string,
                        );
                    super::network::ensure_prefix_list(cfg, &pid, Some(&name), &id, report);
                }
            }
            VpcEndpointType::Interface => {
                for sn in arr(e, "SubnetIds").iter().filter_map(Value::as_str) {
                    if cfg.subnets.iter().any(|x| x.subnet_id == sn) {
                        ep.subnet_ids.push(sn.to_string());
                    } else {
                        report.note(&id, "SubnetIds", format!("{sn} was not imported: left out"));
                    }
                }
                for n in arr(e, "NetworkInterfaceIds")
                    .iter()
                    .filter_map(Value::as_str)
                {
                    owner.insert(n.to_string(), Owner::Endpoint(ix));
                    ep.network_interface_ids.push(n.to_string());
                }
            }
        }
        cfg.vpc_endpoints.push(ep);
    }
    enis(inp, cfg, &owner, report);
    super::addresses::fix(cfg, report);
    super::addresses::odd_public_ips(cfg, report);
}

/// The ENI's `Name` tag, or else its instance's (describe-instances): readable either way.
fn instance_name(inp: &Inputs, eni: &Value) -> Vec<crate::config::Tag> {
    let own = name_tag(eni);
    if !own.is_empty() {
        return own;
    }
    let Some(i) = eni.get("Attachment").and_then(|a| s(a, "InstanceId")) else {
        return own;
    };
    inp.instances
        .iter()
        .find(|x| s(x, "InstanceId") == Some(i))
        .map(name_tag)
        .unwrap_or_default()
}

fn groups(v: &Value) -> Vec<GroupIdentifier> {
    arr(v, "Groups")
        .iter()
        .filter_map(|g| s(g, "GroupId"))
        .map(|g| GroupIdentifier {
            group_id: g.to_string(),
            group_name: None,
        })
        .collect()
}

fn enis(inp: &Inputs, cfg: &mut Config, owner: &HashMap<String, Owner>, report: &mut Report) {
    let vpc_id = cfg.vpcs[0].vpc_id.clone();
    let subnets: HashSet<String> = cfg.subnets.iter().map(|x| x.subnet_id.clone()).collect();
    let sgs: HashSet<String> = cfg
        .security_groups
        .iter()
        .map(|g| g.group_id.clone())
        .collect();
    let mut found: HashSet<String> = HashSet::new();
    for n in inp.network_interfaces.iter().filter(|n| {
        s(n, "VpcId") == Some(&vpc_id) || s(n, "SubnetId").is_some_and(|x| subnets.contains(x))
    }) {
        let id = string(n, "NetworkInterfaceId");
        let kind = s(n, "InterfaceType").unwrap_or("interface");
        let sn = string(n, "SubnetId");
        if !subnets.contains(&sn) {
            report.note(
                &id,
                "SubnetId",
                format!("{sn} was not imported: ENI left out"),
            );
            continue;
        }
        let Some(primary) = parse::<Ipv4Addr>(n, "PrivateIpAddress") else {
            report.note(
                &id,
                "PrivateIpAddress",
                "missing (IPv6-only ENIs are not modelled): ENI left out",
            );
            continue;
        };
        let mut eni = NetworkInterface {
            network_interface_id: id.clone(),
            subnet_id: sn,
            description: s(n, "Description").map(str::to_string),
            interface_type: None,
            private_ip_address: Some(primary),
            private_ip_addresses: vec![],
            ipv6_native: None,
            ipv6_addresses: arr(n, "Ipv6Addresses")
                .iter()
                .filter_map(|a| parse(a, "Ipv6Address"))
                .map(|ipv6_address| Ipv6Address { ipv6_address })
                .collect(),
            association: n
                .get("Association")
                .and_then(|a| parse::<Ipv4Addr>(a, "PublicIp"))
                .map(|p| IpAssociation {
                    public_ip: p,
                    allocation_id: None,
                }),
            groups: groups(n),
            source_dest_check: (n.get("SourceDestCheck").and_then(Value::as_bool) == Some(false))
                .then_some(false),
            attachment: n
                .get("Attachment")
                .and_then(|a| s(a, "InstanceId"))
                .map(|i| EniAttachment {
                    instance_id: Some(i.to_string()),
                }),
            connection_tracking_configuration: n.get("ConnectionTrackingConfiguration").map(|c| {
                ConnectionTrackingConfiguration {
                    tcp_established_timeout: c
                        .get("TcpEstablishedTimeout")
                        .and_then(Value::as_u64)
                        .map(|x| x as u32),
                    udp_stream_timeout: c
                        .get("UdpStreamTimeout")
                        .and_then(Value::as_u64)
                        .map(|x| x as u32),
                    udp_timeout: c
                        .get("UdpTimeout")
                        .and_then(Value::as_u64)
                        .map(|x| x as u32),
                }
            }),
            tags: instance_name(inp, n),
        };
        for a in arr(n, "PrivateIpAddresses") {
            let Some(p) = parse::<Ipv4Addr>(a, "PrivateIpAddress") else {
                continue;
            };
            if p != primary {
                eni.private_ip_addresses.push(PrivateIpAddress {
                    private_ip_address: p,
                    primary: None,
                    association: a
                        .get("Association")
                        .and_then(|x| parse::<Ipv4Addr>(x, "PublicIp"))
                        .map(|p| IpAssociation {
                            public_ip: p,
                            allocation_id: None,
                        }),
                });
            }
        }
        match owner.get(&id) {
            Some(Owner::Nat(nat)) => {
                let how = if kind == "nat_gateway" {
                    String::new()
                } else {
                    format!(" (exported as InterfaceType {kind}; AWS says nat_gateway)")
                };
                report.note(&id, "InterfaceType", format!("the ENI of {nat}{how}: mapped to the NAT gateway, which holds its address; not an ENI or port of its own"));
                continue;
            }
            Some(Owner::Endpoint(ix)) => {
                let ep = &cfg.vpc_endpoints[*ix];
                if kind != "vpc_endpoint" {
                    report.note(
                        &id,
                        "InterfaceType",
                        format!(
                            "exported as {kind}, but it is {}'s ENI: vpc_endpoint, as AWS has it",
                            ep.vpc_endpoint_id
                        ),
                    );
                }
                eni.interface_type = Some(InterfaceType::VpcEndpoint);
                let want: Vec<&str> = ep.groups.iter().map(|g| g.group_id.as_str()).collect();
                let have: Vec<&str> = eni.groups.iter().map(|g| g.group_id.as_str()).collect();
                if want != have {
                    report.note(&id, "Groups", format!("exported with [{}]; an endpoint's ENIs carry the endpoint's groups, as in AWS: [{}]", have.join(", "), want.join(", ")));
                    eni.groups = ep.groups.clone();
                }
            }
            None if kind == "nat_gateway" => {
                report.note(
                    &id,
                    "InterfaceType",
                    "nat_gateway ENI of no NAT gateway in the input: left out",
                );
                continue;
            }
            None if kind == "vpc_endpoint" => {
                report.note(
                    &id,
                    "InterfaceType",
                    "vpc_endpoint ENI of no interface endpoint in the input: left out",
                );
                continue;
            }
            None if kind != "interface"
                || n.get("RequesterManaged") == Some(&Value::Bool(true)) =>
            {
                report.note(
                    &id,
                    "InterfaceType",
                    format!(
                        "{kind}, requester-managed ({}): kept as a plain ENI without a port",
                        s(n, "Description").unwrap_or("no description")
                    ),
                );
            }
            None => {}
        }
        let before = eni.groups.len();
        eni.groups.retain(|g| sgs.contains(&g.group_id));
        if eni.groups.len() != before {
            report.note(
                &id,
                "Groups",
                "names groups not in the input: left out (none left means the VPC default group)",
            );
        }
        found.insert(id);
        cfg.network_interfaces.push(eni);
    }
    for ep in &mut cfg.vpc_endpoints {
        let before = ep.network_interface_ids.len();
        ep.network_interface_ids.retain(|n| found.contains(n));
        if ep.network_interface_ids.len() != before {
            report.note(
                &ep.vpc_endpoint_id,
                "NetworkInterfaceIds",
                "names ENIs not in the input (describe-network-interfaces): left out",
            );
        }
    }
}

/// An attachment state as `describe-internet-gateways` prints it.
fn attachment_state(s: &str) -> Option<AttachmentState> {
    Some(match s {
        "attaching" => AttachmentState::Attaching,
        "attached" => AttachmentState::Attached,
        "detaching" => AttachmentState::Detaching,
        "detached" => AttachmentState::Detached,
        "available" => AttachmentState::Available,
        _ => return None,
    })
}
