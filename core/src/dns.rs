//! The Amazon-provided resolver's names, as the VPC answers them: the private DNS names of
//! interface endpoints with `PrivateDnsEnabled: true` (their ENIs' addresses of the endpoint's
//! `IpAddressType`, A and/or AAAA, those in the asking subnet's Availability Zone first) and each ENI's `ip-a-b-c-d.<region>.compute.internal`
//! (in us-east-1 also AWS's own form there, `ip-a-b-c-d.ec2.internal`). Every other name is
//! NXDOMAIN: the emulated resolver has no upstream (the lab is cut off from the internet).
//!
//! The table is compiled with the snapshot; answering decodes and encodes the messages with
//! hickory-proto (a pure codec). That allocates (its message types own their names and
//! records), which is why resolver packets leave the forwarding path for this module: a query
//! is answered once, off the per-packet fast path, and the answer is written back into the
//! packet's own buffer by the wire layer.

/// The codec, for callers that build or read DNS messages (tests, tools).
pub use hickory_proto as proto;

use crate::config::{self as m, GatewayService, VpcEndpointType};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr};

/// TTL of the answers (the Route 53 Resolver answers private names with 60 s).
pub const TTL: u32 = 60;

/// One address a name resolves to, with the Availability Zone of the subnet it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Addr {
    addr: IpAddr,
    az: Option<String>,
}

/// Lowercase names without the trailing dot → their addresses.
#[derive(Debug, Default, Clone)]
pub struct Names {
    names: FxHashMap<String, Vec<Addr>>,
}

impl Names {
    /// What `name` resolves to for a subnet in `az`: addresses in `az` first, in table order;
    /// `None` for a name the VPC does not know.
    pub fn lookup(&self, name: &str, az: Option<&str>) -> Option<Vec<IpAddr>> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        let v = self.names.get(&key)?;
        let (mut near, far): (Vec<&Addr>, Vec<&Addr>) = v
            .iter()
            .partition(|a| az.is_some() && a.az.as_deref() == az);
        near.extend(far);
        Some(near.into_iter().map(|a| a.addr).collect())
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn add(&mut self, name: &str, addr: IpAddr, az: Option<&str>) {
        let v = self.names.entry(name.to_ascii_lowercase()).or_default();
        let a = Addr {
            addr,
            az: az.map(str::to_string),
        };
        if !v.contains(&a) {
            v.push(a);
        }
    }
}

/// The private DNS name of an interface endpoint: its `PrivateDnsName`, else the AWS service's
/// own (`com.amazonaws.<region>.<service>` → `<service>.<region>.amazonaws.com`).
pub fn private_dns_name(ep: &m::VpcEndpoint) -> Option<String> {
    if let Some(n) = &ep.private_dns_name {
        return Some(n.trim_end_matches('.').to_string());
    }
    let rest = ep.service_name.strip_prefix("com.amazonaws.")?;
    let (region, service) = rest.split_once('.')?;
    (region != "vpce" && GatewayService::of(&ep.service_name).is_none())
        .then(|| format!("{service}.{region}.amazonaws.com"))
}

/// The table of `cfg`'s VPC: `az_of(subnet id)` is the subnet's Availability Zone.
pub fn compile<'a>(cfg: &'a m::Config, az_of: impl Fn(&str) -> Option<&'a str>) -> Names {
    let mut t = Names::default();
    let region = cfg.region.as_deref().unwrap_or("us-east-1");
    let eni = |id: &str| {
        cfg.network_interfaces
            .iter()
            .find(|n| n.network_interface_id == id)
    };
    for ep in &cfg.vpc_endpoints {
        if ep.vpc_endpoint_type != VpcEndpointType::Interface
            || ep.private_dns_enabled != Some(true)
        {
            continue;
        }
        let Some(name) = private_dns_name(ep) else {
            continue;
        };
        // The records of the endpoint's IpAddressType (its default DnsRecordIpType): A for
        // ipv4, AAAA for ipv6, both for dualstack.
        let ty = ep.ip_address_type.unwrap_or_default();
        for n in ep.network_interface_ids.iter().filter_map(|id| eni(id)) {
            let az = az_of(&n.subnet_id);
            if let Some(a) = n.private_ip_address.filter(|_| ty.carries(false)) {
                t.add(&name, a.into(), az);
            }
            for a in n.ipv6_addresses.iter().filter(|_| ty.carries(true)) {
                t.add(&name, a.ipv6_address.into(), az);
            }
        }
    }
    for n in &cfg.network_interfaces {
        let az = az_of(&n.subnet_id);
        let secondary = n.private_ip_addresses.iter().map(|p| p.private_ip_address);
        for a in n.private_ip_address.into_iter().chain(secondary) {
            for name in eni_names(a, region) {
                t.add(&name, a.into(), az);
            }
        }
    }
    t
}

/// The private DNS hostnames of address `a`: `ip-a-b-c-d.<region>.compute.internal`, and in
/// us-east-1 also `ip-a-b-c-d.ec2.internal` (the form AWS uses there).
pub fn eni_names(a: Ipv4Addr, region: &str) -> Vec<String> {
    let [x, y, z, w] = a.octets();
    let host = format!("ip-{x}-{y}-{z}-{w}");
    let mut v = vec![format!("{host}.{region}.compute.internal")];
    if region == "us-east-1" {
        v.push(format!("{host}.ec2.internal"));
    }
    v
}

/// The answer to the DNS query `query` from a subnet in `az`, encoded; `None` when `query` is
/// not a DNS query at all (no answer is sent then). `dns64` (the subnet's `EnableDns64`):
/// an AAAA query for a name with A records only is answered with those addresses in
/// `64:ff9b::/96` (RFC 6147 §5.1.7); a name with AAAA records gets them as they are.
pub fn answer(names: &Names, query: &[u8], az: Option<&str>, dns64: bool) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut res = Message::response(req.metadata.id, req.metadata.op_code);
    res.metadata.recursion_desired = req.metadata.recursion_desired;
    res.metadata.recursion_available = true;
    if req.edns.is_some() {
        res.set_edns(Edns::new());
    }
    let Some(q) = req.queries.first().filter(|_| req.queries.len() == 1) else {
        res.metadata.response_code = ResponseCode::FormErr;
        return res.to_vec().ok();
    };
    res.add_query(q.clone());
    if req.metadata.op_code != OpCode::Query {
        res.metadata.response_code = ResponseCode::NotImp;
        return res.to_vec().ok();
    }
    match names.lookup(&q.name().to_ascii(), az) {
        None => res.metadata.response_code = ResponseCode::NXDomain,
        Some(addrs) => {
            let mut rs = records(q, &addrs);
            if rs.is_empty() && dns64 && q.query_type() == RecordType::AAAA {
                let synth: Vec<IpAddr> = addrs
                    .iter()
                    .filter_map(|a| match a {
                        IpAddr::V4(v4) => Some(IpAddr::V6(crate::wire::xlat46::synthesize(*v4))),
                        IpAddr::V6(_) => None,
                    })
                    .collect();
                rs = records(q, &synth);
            }
            for r in rs {
                res.add_answer(r);
            }
        }
    }
    let out = res.to_vec().ok()?;
    let max = req
        .edns
        .as_ref()
        .map_or(crate::wire::udp::DNS_UDP_MAX, |e| {
            usize::from(e.max_payload()).max(crate::wire::udp::DNS_UDP_MAX)
        });
    if out.len() > max {
        // Too long for UDP: header and question only, truncated (the client retries over TCP).
        res.answers.clear();
        res.metadata.truncation = true;
        return res.to_vec().ok();
    }
    Some(out)
}

/// The records of `addrs` that answer `q` (A for IPv4, AAAA for IPv6; `ANY` both).
fn records(q: &Query, addrs: &[IpAddr]) -> Vec<Record> {
    if q.query_class() != DNSClass::IN && q.query_class() != DNSClass::ANY {
        return Vec::new();
    }
    let name: Name = q.name().clone();
    let qt = q.query_type();
    addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(v4) if matches!(qt, RecordType::A | RecordType::ANY) => {
                Some(RData::A(A(*v4)))
            }
            IpAddr::V6(v6) if matches!(qt, RecordType::AAAA | RecordType::ANY) => {
                Some(RData::AAAA(AAAA(*v6)))
            }
            _ => None,
        })
        .map(|d| Record::from_rdata(name.clone(), TTL, d))
        .collect()
}
