//! The compiled, immutable form of a config that the pipeline reads per packet: typed dense
//! indices instead of string ids, route tables as FIBs, rules in `policy` form. Built once per
//! (re)load, off the hot path, and shared read-only by every worker.
//!
//! Compilation starts from the resolved config (`config::resolve`): every reference is already
//! an index there, so nothing here looks an id up by string. Index spaces follow the config's
//! lists: `enis[i]` is `Config::network_interfaces[i]`, `endpoints[i]` is
//! `Config::vpc_endpoints[i]`, `ports[i]` is `Config::ports[i]`.

mod build;
mod nacl;
mod route;
mod sg;

use crate::config::{Config, ConfigError, EndpointIpAddressType, ErrorLocation};
use crate::flow::Timeouts;
use crate::lpm::{Fib4, Fib6};
use crate::policy::{Nacl, Sg};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr};

pub use crate::config::aws::RESERVED_DESTINATIONS;
pub use crate::config::index::{
    EndpointIdx, EniIdx, Idx, IdxVec, NaclIdx, NatIdx, PortIdx, RtbIdx, SgIdx, SubnetIdx,
};
pub use crate::config::resolve::{GatewayService, PortKind, Target};
pub use crate::flow::Zone;
pub use route::{RouteKind, RouteSource, TieBreak, kind_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub id: String,
    pub kind: PortKind,
}

/// A route after prefix-list expansion and tie resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dest: IpNet,
    pub source: RouteSource,
    pub target: Target,
    /// The target's id as written (`igw-…`, `nat-…`); `None` for the local route and for a
    /// blackhole route that names no target.
    pub target_id: Option<String>,
    /// The routes of the same prefix this one beat, and why.
    pub won_over: Vec<TieBreak>,
}

impl Route {
    /// The target as trace and metrics name it: its id, `local`, or `blackhole`.
    pub fn target_name(&self) -> &str {
        match (&self.target_id, self.target) {
            (Some(id), _) => id,
            (None, Target::Local) => "local",
            (None, _) => "blackhole",
        }
    }

    /// The tie-breaks as one line (`None` when the route beat no other).
    pub fn won_over_text(&self) -> Option<String> {
        if self.won_over.is_empty() {
            return None;
        }
        let v: Vec<String> = self.won_over.iter().map(|t| t.to_string()).collect();
        Some(v.join("; "))
    }
}

/// A compiled route table.
pub struct RouteTable {
    pub id: String,
    pub fib4: Fib4,
    pub fib6: Fib6,
    /// Next hops of both FIBs index this.
    pub routes: Vec<Route>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable")
            .field("id", &self.id)
            .field("routes", &self.routes)
            .finish()
    }
}

impl RouteTable {
    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, dst: IpAddr) -> Option<u32> {
        match dst {
            IpAddr::V4(a) => self.fib4.lookup(a),
            IpAddr::V6(a) => self.fib6.lookup(a),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: String,
    pub cidrs: Vec<IpNet>,
    pub route_table: RtbIdx,
    pub nacl: NaclIdx,
    /// Its Availability Zone (the resolver answers endpoint names in it first), and its ID.
    pub az: Option<String>,
    pub az_id: Option<String>,
    /// `EnableDns64`: the resolver synthesizes `64:ff9b::/96` AAAA answers for IPv4-only names.
    pub dns64: bool,
}

#[derive(Debug, Clone)]
pub struct Eni {
    pub id: String,
    pub subnet: SubnetIdx,
    /// Private addresses (v4 and v6); the first is the primary.
    pub addrs: Vec<IpAddr>,
    /// The public IPv4 of its first mapped private address (the primary's, normally).
    pub public_ip: Option<Ipv4Addr>,
    /// (private, public): the internet gateway's 1:1 pairs, one per private address that has one.
    pub public_ips: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub sgs: Vec<SgIdx>,
    pub src_dst_check: bool,
    pub port: Option<PortIdx>,
    /// The instance it is attached to (`Attachment.InstanceId`).
    pub instance_id: Option<String>,
    /// Set for the requester-managed ENI of an interface endpoint.
    pub endpoint: Option<EndpointIdx>,
    /// Idle timeouts of its tracked flows (AWS defaults, or its ConnectionTrackingConfiguration).
    pub timeouts: Timeouts,
    /// Flow-table zone of its security-group state. Unlike the index, it stays the same for the
    /// same ENI id across reloads (see [`compile_after`]), so tracked flows survive a reload.
    pub zone: Zone,
}

impl Eni {
    /// The public IPv4 the internet gateway maps private address `private` to.
    #[inline]
    pub fn public_of(&self, private: Ipv4Addr) -> Option<Ipv4Addr> {
        self.public_ips
            .iter()
            .find_map(|&(v, p)| (v == private).then_some(p))
    }

    /// The private IPv4 public address `public` maps to.
    #[inline]
    pub fn private_of(&self, public: Ipv4Addr) -> Option<Ipv4Addr> {
        self.public_ips
            .iter()
            .find_map(|&(v, p)| (p == public).then_some(v))
    }
}

#[derive(Debug, Clone)]
pub struct NatGateway {
    pub id: String,
    pub subnet: SubnetIdx,
    pub private_ips: Vec<Ipv4Addr>,
    pub public_ips: Vec<Ipv4Addr>,
    /// Its own network interface (flow logs).
    pub eni_id: String,
}

/// What an endpoint is, with what the pipeline needs of each kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointKind {
    Gateway(GatewayService),
    Interface {
        /// Service targets behind the provider's load balancer, as the flow table takes them:
        /// the IPv4 ones first, then the IPv6 ones from `targets_v6`.
        targets: Vec<(IpAddr, u16)>,
        targets_v6: usize,
        /// The load balancer's addresses (the source the targets see), IPv4 first, then IPv6
        /// from `lb_v6`.
        lb_addrs: Vec<IpAddr>,
        lb_v6: usize,
    },
}

impl EndpointKind {
    /// An interface endpoint's kind, its targets and addresses ordered by family.
    pub fn interface(mut targets: Vec<(IpAddr, u16)>, mut lb_addrs: Vec<IpAddr>) -> EndpointKind {
        // Stable: the order within a family is the config's.
        targets.sort_by_key(|t| t.0.is_ipv6());
        lb_addrs.sort_by_key(|a| a.is_ipv6());
        EndpointKind::Interface {
            targets_v6: targets.iter().take_while(|t| t.0.is_ipv4()).count(),
            targets,
            lb_v6: lb_addrs.iter().take_while(|a| a.is_ipv4()).count(),
            lb_addrs,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub kind: EndpointKind,
    pub service: String,
    pub port: Option<PortIdx>,
    /// The families it carries (`IpAddressType`).
    pub ip_type: EndpointIpAddressType,
}

impl Endpoint {
    pub fn is_gateway(&self) -> bool {
        matches!(self.kind, EndpointKind::Gateway(_))
    }

    /// Security groups always track flows through a DynamoDB gateway endpoint.
    pub fn always_tracked(&self) -> bool {
        self.kind == EndpointKind::Gateway(GatewayService::DynamoDb)
    }

    /// An interface endpoint's service targets (none for a gateway endpoint).
    pub fn targets(&self) -> &[(IpAddr, u16)] {
        match &self.kind {
            EndpointKind::Interface { targets, .. } => targets,
            EndpointKind::Gateway(_) => &[],
        }
    }

    /// An interface endpoint's load-balancer addresses (none for a gateway endpoint).
    pub fn lb_addrs(&self) -> &[IpAddr] {
        match &self.kind {
            EndpointKind::Interface { lb_addrs, .. } => lb_addrs,
            EndpointKind::Gateway(_) => &[],
        }
    }

    /// The service targets and load-balancer addresses a packet of one family (IPv6 when
    /// `v6`) is translated to: none where the endpoint does not carry that family.
    pub fn targets_of(&self, v6: bool) -> (&[(IpAddr, u16)], &[IpAddr]) {
        match &self.kind {
            EndpointKind::Interface {
                targets,
                targets_v6,
                lb_addrs,
                lb_v6,
            } if self.ip_type.carries(v6) => {
                let (t4, t6) = targets.split_at(*targets_v6);
                let (l4, l6) = lb_addrs.split_at(*lb_v6);
                if v6 { (t6, l6) } else { (t4, l4) }
            }
            _ => (&[], &[]),
        }
    }
}

/// The compiled VPC.
#[derive(Debug)]
pub struct Snapshot {
    pub vpc_id: String,
    pub vpc_cidrs: Vec<IpNet>,
    pub ipv6: bool,
    pub subnets: IdxVec<SubnetIdx, Subnet>,
    pub route_tables: IdxVec<RtbIdx, RouteTable>,
    pub nacls: IdxVec<NaclIdx, Nacl>,
    pub sgs: IdxVec<SgIdx, Sg>,
    pub enis: IdxVec<EniIdx, Eni>,
    pub nat_gateways: IdxVec<NatIdx, NatGateway>,
    pub endpoints: IdxVec<EndpointIdx, Endpoint>,
    pub igw_id: Option<String>,
    /// The egress-only internet gateway attached to the VPC (IPv6 out through the internet
    /// port), if any.
    pub eigw_id: Option<String>,
    pub internet_port: Option<PortIdx>,
    pub ports: IdxVec<PortIdx, PortSpec>,
    /// Private address (v4/v6) → ENI.
    pub eni_by_ip: FxHashMap<IpAddr, EniIdx>,
    /// Public IPv4 → ENI (the internet gateway's 1:1 map).
    pub eni_by_public: FxHashMap<Ipv4Addr, EniIdx>,
    pub router_mode: bool,
    /// Where the Amazon-provided resolver answers: VPC base + 2, and 169.254.169.253.
    pub resolver_addrs: Vec<Ipv4Addr>,
    /// `fd00:ec2::253` where the VPC has IPv6.
    pub resolver_v6: Option<std::net::Ipv6Addr>,
    /// The names it answers.
    pub dns: crate::dns::Names,
    /// `Region` of the config (`us-east-1` when absent).
    pub region: String,
    /// The ranges of AWS-managed prefix lists (`com.amazonaws.<region>.<service>`) and the
    /// service's name as flow logs write it (`S3`, `DYNAMODB`).
    pub aws_services: Vec<(IpNet, String)>,
    /// `AccountId` of the config (`-` when absent): the flow logs' account-id field.
    pub account_id: String,
    /// The next flow-table zone a new ENI gets (zones are never reused while running).
    pub next_zone: u32,
}

/// Compiles a validated config. Reference errors it meets anyway are errors, never panics.
pub fn compile(cfg: &Config) -> Result<Snapshot, Vec<ConfigError>> {
    compile_after(cfg, None)
}

/// Compiles a config that replaces `prev` (a reload): an ENI keeps the flow-table zone it had in
/// `prev`, a new ENI gets a zone never used before, so the flow state of a kept ENI stays valid
/// and a new ENI never inherits the flows of a removed one.
pub fn compile_after(cfg: &Config, prev: Option<&Snapshot>) -> Result<Snapshot, Vec<ConfigError>> {
    let resolved = crate::config::resolve(cfg)?;
    let mut snap = build::snapshot(&resolved);
    let prev_zones: FxHashMap<&str, Zone> = prev
        .map(|p| p.enis.iter().map(|e| (e.id.as_str(), e.zone)).collect())
        .unwrap_or_default();
    let mut next = prev.map_or(0, |p| p.next_zone);
    for e in snap.enis.iter_mut() {
        match prev_zones.get(e.id.as_str()) {
            Some(&z) => e.zone = z,
            None => {
                let z = u16::try_from(next).ok().filter(|&z| Zone(z) != Zone::NONE);
                let Some(z) = z else {
                    return Err(vec![ConfigError {
                        location: ErrorLocation::Object {
                            id: e.id.clone(),
                            field: "NetworkInterfaceId".into(),
                        },
                        message: "more than 65535 distinct ENIs since start-up: restart vpcfwd"
                            .into(),
                    }]);
                };
                e.zone = Zone(z);
                next += 1;
            }
        }
    }
    snap.next_zone = next;
    Ok(snap)
}
