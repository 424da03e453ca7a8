//! The resolver: every string id of a checked config becomes a typed index (`index`), once,
//! and every dangling or inconsistent reference is reported here, once, as `id: Field: message`.
//! What comes out ([`Resolved`]) is what the compiler (`snapshot`) starts from: it never looks
//! an id up by string again.
//!
//! Index spaces follow the config's lists (`enis[i]` is `Config::network_interfaces[i]`); the
//! security groups end with the synthesized VPC default group when none is named `default`.
//! Each family resolves against the id maps only, never against another family's resolved
//! form, so a reference that fails to resolve cannot shift another's index: when anything fails,
//! [`resolve`] returns the errors and no resolved form.

mod endpoint;
mod eni;
mod gateway;
mod network;
mod port;
mod route;
mod sg;

use super::index::{
    EndpointIdx, EniIdx, Idx, IdxVec, NaclIdx, NatIdx, PlIdx, PortIdx, RtbIdx, SgIdx, SubnetIdx,
};
use super::{Config, ConfigError, Errors, model as m};
use crate::wire::IpProtocol;
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::borrow::Cow;

pub use super::GatewayService;
pub use endpoint::EndpointKind;
pub use port::PortKind;
pub use route::{Destination, Route, Target};

/// A config with every reference resolved.
#[derive(Debug)]
pub struct Resolved<'c> {
    pub cfg: &'c Config,
    /// The VPC (vpcfwd emulates one).
    pub vpc: &'c m::Vpc,
    /// Its IPv4 CIDRs (primary first, repeats dropped), then its IPv6 CIDRs.
    pub vpc_cidrs: Vec<IpNet>,
    pub prefix_lists: IdxVec<PlIdx, &'c m::ManagedPrefixList>,
    pub subnets: IdxVec<SubnetIdx, Subnet<'c>>,
    pub route_tables: IdxVec<RtbIdx, RouteTable<'c>>,
    pub nacls: IdxVec<NaclIdx, Nacl<'c>>,
    pub sgs: IdxVec<SgIdx, Sg<'c>>,
    /// The VPC default group: ENIs (and endpoints) that name no group use it.
    pub default_sg: SgIdx,
    pub enis: IdxVec<EniIdx, Eni<'c>>,
    pub nat_gateways: IdxVec<NatIdx, Nat<'c>>,
    pub endpoints: IdxVec<EndpointIdx, Endpoint<'c>>,
    /// The internet gateway attached to the VPC, if any.
    pub igw: Option<&'c m::InternetGateway>,
    /// The (first) egress-only internet gateway attached to the VPC.
    pub eigw: Option<&'c str>,
    pub ports: IdxVec<PortIdx, Port<'c>>,
}

/// A subnet with the route table and network ACL that govern it.
#[derive(Debug)]
pub struct Subnet<'c> {
    pub cfg: &'c m::Subnet,
    pub route_table: RtbIdx,
    pub nacl: NaclIdx,
}

/// A route table: the routes as written, resolved (the implied local and endpoint routes are
/// the compiler's).
#[derive(Debug)]
pub struct RouteTable<'c> {
    pub cfg: &'c m::RouteTable,
    pub routes: Vec<Route<'c>>,
    /// Gateway endpoints whose `RouteTableIds` name this table.
    pub endpoints: Vec<EndpointIdx>,
}

/// A network ACL with its entries parsed; `None`: AWS's initial entries.
#[derive(Debug)]
pub struct Nacl<'c> {
    pub cfg: &'c m::NetworkAcl,
    pub entries: Option<Vec<NaclEntry>>,
}

/// One NACL entry (the `*` entry AWS exports is left out: it is always implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaclEntry {
    pub number: u16,
    pub egress: bool,
    pub allow: bool,
    /// `None`: all protocols.
    pub proto: Option<IpProtocol>,
    pub cidr: IpNet,
    /// Port range, or ICMP type and code.
    pub from: Option<i32>,
    pub to: Option<i32>,
}

/// A security group; `rules: None` is a new group's rules (AWS's defaults).
#[derive(Debug)]
pub struct Sg<'c> {
    pub id: Cow<'c, str>,
    /// Named `default`: the VPC default group (its initial rules admit itself).
    pub is_default: bool,
    pub rules: Option<Vec<SgRule>>,
}

/// A security-group rule with its peer resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgRule {
    /// Position among the group's rules as written.
    pub index: u16,
    pub egress: bool,
    pub proto: Option<IpProtocol>,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub peer: Peer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Cidr(IpNet),
    PrefixList(PlIdx),
    Group(SgIdx),
}

/// A network interface with its subnet, groups (its own, its endpoint's, or the default) and
/// the interface endpoint it belongs to.
#[derive(Debug)]
pub struct Eni<'c> {
    pub cfg: &'c m::NetworkInterface,
    pub subnet: SubnetIdx,
    pub groups: Vec<SgIdx>,
    pub endpoint: Option<EndpointIdx>,
}

#[derive(Debug)]
pub struct Nat<'c> {
    pub cfg: &'c m::NatGateway,
    pub subnet: SubnetIdx,
}

#[derive(Debug)]
pub struct Endpoint<'c> {
    pub cfg: &'c m::VpcEndpoint,
    pub kind: EndpointKind,
}

#[derive(Debug)]
pub struct Port<'c> {
    pub cfg: &'c m::Port,
    pub kind: PortKind,
}

/// Every id of one kind → its index (the last object wins a repeated id, as AWS's describe
/// output would show the newest; `check` reports the repeat).
struct Ids<'c, I>(FxHashMap<&'c str, I>);

impl<'c, I: Idx> Ids<'c, I> {
    fn of(ids: impl Iterator<Item = &'c str>) -> Self {
        let mut map = FxHashMap::default();
        for (i, id) in ids.enumerate() {
            map.insert(id, I::from_usize(i));
        }
        Ids(map)
    }

    fn get(&self, id: &str) -> Option<I> {
        self.0.get(id).copied()
    }
}

/// The id maps every family resolves against.
struct Scope<'c> {
    cfg: &'c Config,
    vpc: &'c m::Vpc,
    subnets: Ids<'c, SubnetIdx>,
    rtbs: Ids<'c, RtbIdx>,
    pls: Ids<'c, PlIdx>,
    sgs: Ids<'c, SgIdx>,
    enis: Ids<'c, EniIdx>,
    nats: Ids<'c, NatIdx>,
    endpoints: Ids<'c, EndpointIdx>,
    igws: Ids<'c, usize>,
    eigws: Ids<'c, usize>,
    /// Each gateway endpoint's prefix list (the one named for its service), found once.
    endpoint_pl: FxHashMap<EndpointIdx, PlIdx>,
    /// ... and a dualstack one's IPv6 list.
    endpoint_pl6: FxHashMap<EndpointIdx, PlIdx>,
}

impl Scope<'_> {
    /// `VpcId` must name a declared VPC.
    fn vpc_ref(&self, id: &str, vpc: &str, e: &mut Errors) {
        if !self.cfg.vpcs.iter().any(|v| v.vpc_id == vpc) {
            e.push(id, "VpcId", format!("unknown VPC {vpc}"));
        }
    }

    fn subnet(&self, i: SubnetIdx) -> &m::Subnet {
        &self.cfg.subnets[i.index()]
    }
}

/// Resolves every reference of `cfg`: the resolved form, or every reference error.
pub fn resolve(cfg: &Config) -> Result<Resolved<'_>, Vec<ConfigError>> {
    let Some(vpc) = cfg.vpcs.first() else {
        let mut e = Errors::default();
        e.push("Vpcs", "Vpcs", "the config declares no VPC");
        return Err(e.0);
    };
    let s = scope(cfg, vpc);
    let mut e = Errors::default();
    let vpc_cidrs = network::vpc_cidrs(vpc);
    let subnets = network::subnets(&s, &mut e);
    let nacls = network::nacls(&s, &mut e);
    let route_tables = route::tables(&s, &mut e);
    let (sgs, default_sg) = sg::groups(&s, &mut e);
    let endpoints = endpoint::endpoints(&s, &mut e);
    let enis = eni::enis(&s, default_sg, &mut e);
    eni::addresses(&s, &mut e);
    let nat_gateways = gateway::nats(&s, &mut e);
    let igw = gateway::igw(&s, &mut e);
    gateway::eigws(&s, &mut e);
    let ports = port::ports(&s, &mut e);
    if !e.0.is_empty() {
        return Err(e.0);
    }
    Ok(Resolved {
        cfg,
        vpc,
        vpc_cidrs,
        prefix_lists: cfg.managed_prefix_lists.iter().collect(),
        subnets,
        route_tables,
        nacls,
        sgs,
        default_sg,
        enis,
        nat_gateways,
        endpoints,
        igw,
        eigw: gateway::attached_eigws(cfg, vpc).first().copied(),
        ports,
    })
}

fn scope<'c>(cfg: &'c Config, vpc: &'c m::Vpc) -> Scope<'c> {
    let pls = Ids::of(
        cfg.managed_prefix_lists
            .iter()
            .map(|p| p.prefix_list_id.as_str()),
    );
    let endpoint_pl = endpoint::prefix_lists(cfg);
    let endpoint_pl6 = endpoint::prefix_lists_v6(cfg);
    Scope {
        cfg,
        vpc,
        subnets: Ids::of(cfg.subnets.iter().map(|s| s.subnet_id.as_str())),
        rtbs: Ids::of(cfg.route_tables.iter().map(|r| r.route_table_id.as_str())),
        pls,
        // Declared groups only: the synthesized default group has no id a config can name.
        sgs: Ids::of(cfg.security_groups.iter().map(|g| g.group_id.as_str())),
        enis: Ids::of(
            cfg.network_interfaces
                .iter()
                .map(|n| n.network_interface_id.as_str()),
        ),
        nats: Ids::of(cfg.nat_gateways.iter().map(|n| n.nat_gateway_id.as_str())),
        endpoints: Ids::of(cfg.vpc_endpoints.iter().map(|v| v.vpc_endpoint_id.as_str())),
        igws: Ids::of(
            cfg.internet_gateways
                .iter()
                .map(|g| g.internet_gateway_id.as_str()),
        ),
        eigws: Ids::of(
            cfg.egress_only_internet_gateways
                .iter()
                .map(|g| g.egress_only_internet_gateway_id.as_str()),
        ),
        endpoint_pl,
        endpoint_pl6,
    }
}

#[cfg(test)]
mod tests;
