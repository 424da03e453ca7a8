//! The VPC, its subnets, route tables and managed prefix lists.

use super::Tag;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// `describe-vpcs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Vpc {
    pub vpc_id: String,
    /// Primary IPv4 CIDR.
    pub cidr_block: Ipv4Net,
    /// Secondary IPv4 CIDRs (AWS lists the primary here too; a repeat of it is accepted).
    #[serde(default)]
    pub cidr_block_association_set: Vec<CidrBlockAssociation>,
    #[serde(default)]
    pub ipv6_cidr_block_association_set: Vec<Ipv6CidrBlockAssociation>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CidrBlockAssociation {
    pub cidr_block: Ipv4Net,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Ipv6CidrBlockAssociation {
    pub ipv6_cidr_block: Ipv6Net,
}

/// `describe-subnets`. Route-table and NACL associations live on the route table and the NACL,
/// as in AWS; a subnet named by none uses the VPC's main route table / default NACL.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Subnet {
    pub subnet_id: String,
    pub vpc_id: String,
    /// The subnet's IPv4 CIDR; absent only in an IPv6-only subnet (`Ipv6Native: true`).
    #[serde(default)]
    pub cidr_block: Option<Ipv4Net>,
    #[serde(default)]
    pub ipv6_cidr_block_association_set: Vec<Ipv6CidrBlockAssociation>,
    /// IPv6-only: no IPv4 CIDR, its ENIs have IPv6 addresses only.
    #[serde(default)]
    pub ipv6_native: Option<bool>,
    /// The VPC resolver answers AAAA records synthesized in 64:ff9b::/96 (DNS64) to this
    /// subnet's queries.
    #[serde(default)]
    pub enable_dns64: Option<bool>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// The AZ's ID (`use1-az1`): flow logs' `az-id`.
    #[serde(default)]
    pub availability_zone_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// `describe-route-tables`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RouteTable {
    pub route_table_id: String,
    pub vpc_id: String,
    #[serde(default)]
    pub associations: Vec<RouteTableAssociation>,
    /// Routes as written. The `local` routes are implied (writing them is allowed when they
    /// match a VPC CIDR); gateway-endpoint routes are implied by `VpcEndpoints[].RouteTableIds`
    /// and may not be written by hand.
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Either `SubnetId` or `Main: true`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RouteTableAssociation {
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub main: Option<bool>,
}

/// One route. Exactly one destination field and, unless `State: blackhole`, exactly one target.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub destination_cidr_block: Option<Ipv4Net>,
    #[serde(default)]
    pub destination_ipv6_cidr_block: Option<Ipv6Net>,
    #[serde(default)]
    pub destination_prefix_list_id: Option<String>,
    /// `local`, `igw-…` or `vpce-…` (as AWS reports gateway targets).
    #[serde(default)]
    pub gateway_id: Option<String>,
    #[serde(default)]
    pub nat_gateway_id: Option<String>,
    #[serde(default)]
    pub network_interface_id: Option<String>,
    /// `eigw-…`: an egress-only internet gateway (IPv6 destinations only).
    #[serde(default)]
    pub egress_only_internet_gateway_id: Option<String>,
    /// `active` (default) or `blackhole`. A route whose target does not exist in the config is
    /// a blackhole whatever is written here, as AWS keeps it.
    #[serde(default)]
    pub state: Option<RouteState>,
    /// `CreateRoute` (default), `CreateRouteTable` (the implied local/endpoint routes) or
    /// `EnableVgwRoutePropagation` (loses ties to static and prefix-list routes).
    #[serde(default)]
    pub origin: Option<RouteOrigin>,
}

impl Route {
    /// How many destination fields are given (a valid route has one).
    pub fn destination_count(&self) -> usize {
        usize::from(self.destination_cidr_block.is_some())
            + usize::from(self.destination_ipv6_cidr_block.is_some())
            + usize::from(self.destination_prefix_list_id.is_some())
    }

    /// The destination CIDR (IPv4 or IPv6), when the destination is not a prefix list.
    pub fn destination_cidr(&self) -> Option<ipnet::IpNet> {
        self.destination_cidr_block
            .map(ipnet::IpNet::from)
            .or(self.destination_ipv6_cidr_block.map(ipnet::IpNet::from))
    }

    /// The destination as written: a CIDR or a prefix-list id.
    pub fn destination_text(&self) -> Option<String> {
        self.destination_cidr_block
            .map(|c| c.to_string())
            .or(self.destination_ipv6_cidr_block.map(|c| c.to_string()))
            .or(self.destination_prefix_list_id.clone())
    }

    /// The target fields given, as `(field name, id)` (a valid route has at most one).
    pub fn targets(&self) -> impl Iterator<Item = (RouteTargetField, &str)> {
        [
            (RouteTargetField::GatewayId, self.gateway_id.as_deref()),
            (
                RouteTargetField::NatGatewayId,
                self.nat_gateway_id.as_deref(),
            ),
            (
                RouteTargetField::NetworkInterfaceId,
                self.network_interface_id.as_deref(),
            ),
            (
                RouteTargetField::EgressOnlyInternetGatewayId,
                self.egress_only_internet_gateway_id.as_deref(),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    pub fn is_blackhole(&self) -> bool {
        self.state == Some(RouteState::Blackhole)
    }
}

/// The field a route's target is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTargetField {
    /// `local`, `igw-…` (or a gateway endpoint's `vpce-…`, which AWS manages itself).
    GatewayId,
    NatGatewayId,
    NetworkInterfaceId,
    EgressOnlyInternetGatewayId,
}

impl RouteTargetField {
    pub fn name(self) -> &'static str {
        match self {
            RouteTargetField::GatewayId => "GatewayId",
            RouteTargetField::NatGatewayId => "NatGatewayId",
            RouteTargetField::NetworkInterfaceId => "NetworkInterfaceId",
            RouteTargetField::EgressOnlyInternetGatewayId => "EgressOnlyInternetGatewayId",
        }
    }
}

/// The id `GatewayId` takes for the VPC's own (implied) route.
pub const LOCAL_TARGET: &str = "local";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteState {
    Active,
    Blackhole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RouteOrigin {
    CreateRouteTable,
    CreateRoute,
    EnableVgwRoutePropagation,
}

/// `describe-managed-prefix-lists` with the entries of `get-managed-prefix-list-entries`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ManagedPrefixList {
    pub prefix_list_id: String,
    /// AWS-managed lists are named for their service: `com.amazonaws.<region>.s3`.
    pub prefix_list_name: String,
    pub address_family: AddressFamily,
    /// Required for customer-managed lists (≤ 1000); optional for AWS-managed ones.
    #[serde(default)]
    pub max_entries: Option<u32>,
    /// `AWS` for AWS-managed lists; an account id (or absent) for customer-managed ones.
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub entries: Vec<PrefixListEntry>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum AddressFamily {
    IPv4,
    IPv6,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PrefixListEntry {
    pub cidr: ipnet::IpNet,
    #[serde(default)]
    pub description: Option<String>,
}

impl Subnet {
    /// `Ipv6Native: true`: an IPv6-only subnet.
    pub fn is_ipv6_native(&self) -> bool {
        self.ipv6_native == Some(true)
    }

    /// Its IPv6 CIDRs.
    pub fn ipv6_cidrs(&self) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.ipv6_cidr_block_association_set
            .iter()
            .map(|a| a.ipv6_cidr_block)
    }

    /// Its CIDRs, IPv4 first.
    pub fn cidrs(&self) -> impl Iterator<Item = ipnet::IpNet> + '_ {
        self.cidr_block
            .map(ipnet::IpNet::from)
            .into_iter()
            .chain(self.ipv6_cidrs().map(ipnet::IpNet::from))
    }
}
