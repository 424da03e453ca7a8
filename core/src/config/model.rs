//! The config language: one YAML document whose top-level lists and field names are those of the
//! `aws ec2 describe-*` JSON (`Vpcs`, `Subnets`, `RouteTables`, …), so that an AWS user reads it
//! without a manual and an importer maps describe output one to one. vpcfwd's own additions
//! (`Ports`, `Options`, the provider side of endpoints) are marked as such.
//!
//! These types are the *syntax*: they hold what was written, with every optional field kept
//! optional. Meaning (defaults, implied routes, validation) lives in `validate` and `compile`.

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A whole vpcfwd config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// AWS region the emulated VPC lives in; service names use it (`com.amazonaws.<region>.s3`).
    #[serde(default)]
    pub region: Option<String>,
    /// Account id written in flow logs.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub vpcs: Vec<Vpc>,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub route_tables: Vec<RouteTable>,
    #[serde(default)]
    pub managed_prefix_lists: Vec<ManagedPrefixList>,
    #[serde(default)]
    pub security_groups: Vec<SecurityGroup>,
    #[serde(default)]
    pub network_acls: Vec<NetworkAcl>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub vpc_endpoints: Vec<VpcEndpoint>,
    #[serde(default)]
    pub nat_gateways: Vec<NatGateway>,
    #[serde(default)]
    pub internet_gateways: Vec<InternetGateway>,
    /// vpcfwd: where packets enter and leave the emulated VPC.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// vpcfwd: behaviour AWS does not document, as explicit defaults.
    #[serde(default)]
    pub options: Options,
}

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

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `describe-subnets`. Route-table and NACL associations live on the route table and the NACL,
/// as in AWS; a subnet named by none uses the VPC's main route table / default NACL.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Subnet {
    pub subnet_id: String,
    pub vpc_id: String,
    pub cidr_block: Ipv4Net,
    #[serde(default)]
    pub ipv6_cidr_block_association_set: Vec<Ipv6CidrBlockAssociation>,
    #[serde(default)]
    pub availability_zone: Option<String>,
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
}

impl RouteTargetField {
    pub fn name(self) -> &'static str {
        match self {
            RouteTargetField::GatewayId => "GatewayId",
            RouteTargetField::NatGatewayId => "NatGatewayId",
            RouteTargetField::NetworkInterfaceId => "NetworkInterfaceId",
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

/// `describe-security-groups`, with rules in the one-peer-per-rule shape of
/// `describe-security-group-rules`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Absent: the rules AWS gives a new group (no inbound, all outbound; for the group named
    /// `default`: all inbound from itself, all outbound). Present (even empty): exactly these.
    #[serde(default)]
    pub security_group_rules: Option<Vec<SecurityGroupRule>>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// One rule; exactly one peer field.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SecurityGroupRule {
    #[serde(default)]
    pub security_group_rule_id: Option<String>,
    pub is_egress: bool,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `-1` (all) or an IANA protocol number.
    pub ip_protocol: String,
    /// Port range start; for ICMP the type (-1 any).
    #[serde(default)]
    pub from_port: Option<i32>,
    /// Port range end; for ICMP the code (-1 any).
    #[serde(default)]
    pub to_port: Option<i32>,
    #[serde(default)]
    pub cidr_ipv4: Option<Ipv4Net>,
    #[serde(default)]
    pub cidr_ipv6: Option<Ipv6Net>,
    #[serde(default)]
    pub prefix_list_id: Option<String>,
    #[serde(default)]
    pub referenced_group_info: Option<ReferencedGroupInfo>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReferencedGroupInfo {
    pub group_id: String,
}

/// `describe-network-acls`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: String,
    /// The VPC's default NACL: used by every subnet no other NACL names.
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub associations: Vec<NetworkAclAssociation>,
    /// Absent: AWS's initial entries (default NACL: 100 allow all, 101 allow all IPv6, `*`;
    /// custom NACL: only `*`). Present: these plus the implied `*` deny (32767).
    #[serde(default)]
    pub entries: Option<Vec<NetworkAclEntry>>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NetworkAclAssociation {
    pub subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NetworkAclEntry {
    /// 1..=32766; 32767 is the `*` rule and may only be written as the deny-all AWS shows.
    pub rule_number: u32,
    pub egress: bool,
    /// `-1` or a protocol number as a string (names `tcp`/`udp`/`icmp`/`icmpv6` accepted too).
    pub protocol: String,
    pub rule_action: RuleAction,
    #[serde(default)]
    pub cidr_block: Option<Ipv4Net>,
    #[serde(default)]
    pub ipv6_cidr_block: Option<Ipv6Net>,
    #[serde(default)]
    pub port_range: Option<PortRange>,
    #[serde(default)]
    pub icmp_type_code: Option<IcmpTypeCode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PortRange {
    pub from: i32,
    pub to: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IcmpTypeCode {
    pub r#type: i32,
    pub code: i32,
}

/// `describe-network-interfaces`: instance ENIs, and the requester-managed ENIs of interface
/// endpoints (`InterfaceType: vpc_endpoint`, named by the endpoint's `NetworkInterfaceIds`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NetworkInterface {
    pub network_interface_id: String,
    pub subnet_id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `interface` (default) or `vpc_endpoint`.
    #[serde(default)]
    pub interface_type: Option<InterfaceType>,
    /// Primary private IPv4 address.
    pub private_ip_address: Ipv4Addr,
    /// Further private addresses (the primary may be repeated here, as AWS lists it).
    #[serde(default)]
    pub private_ip_addresses: Vec<PrivateIpAddress>,
    #[serde(default)]
    pub ipv6_addresses: Vec<Ipv6Address>,
    /// Public IPv4 (auto-assigned or Elastic IP) mapped 1:1 by the internet gateway.
    #[serde(default)]
    pub association: Option<IpAssociation>,
    /// Security groups; none means the VPC's default group.
    #[serde(default)]
    pub groups: Vec<GroupIdentifier>,
    /// On by default: the ENI drops traffic not from / not to its own addresses.
    #[serde(default)]
    pub source_dest_check: Option<bool>,
    #[serde(default)]
    pub attachment: Option<EniAttachment>,
    /// Idle timeouts of tracked flows (AWS defaults and ranges apply).
    #[serde(default)]
    pub connection_tracking_configuration: Option<ConnectionTrackingConfiguration>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceType {
    Interface,
    VpcEndpoint,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PrivateIpAddress {
    pub private_ip_address: Ipv4Addr,
    #[serde(default)]
    pub primary: Option<bool>,
    #[serde(default)]
    pub association: Option<IpAssociation>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Ipv6Address {
    pub ipv6_address: Ipv6Addr,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IpAssociation {
    pub public_ip: Ipv4Addr,
    #[serde(default)]
    pub allocation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GroupIdentifier {
    pub group_id: String,
    #[serde(default)]
    pub group_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EniAttachment {
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// Seconds; AWS ranges: TCP established 60–432000 (default 432000), UDP stream 60–180 (180),
/// UDP 30–60 (30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConnectionTrackingConfiguration {
    #[serde(default)]
    pub tcp_established_timeout: Option<u32>,
    #[serde(default)]
    pub udp_stream_timeout: Option<u32>,
    #[serde(default)]
    pub udp_timeout: Option<u32>,
}

/// `describe-vpc-endpoints`, plus (vpcfwd) what stands on the provider side.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VpcEndpoint {
    pub vpc_endpoint_id: String,
    pub vpc_endpoint_type: VpcEndpointType,
    pub vpc_id: String,
    /// Gateway endpoints: `com.amazonaws.<region>.s3` or `.dynamodb`; the prefix list whose
    /// `PrefixListName` equals it supplies the route's destinations.
    pub service_name: String,
    /// Gateway endpoints: tables that get the route `pl-<service> → vpce-…`.
    #[serde(default)]
    pub route_table_ids: Vec<String>,
    /// Interface endpoints: one subnet per AZ.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Interface endpoints: the requester-managed ENIs (declared in `NetworkInterfaces`).
    #[serde(default)]
    pub network_interface_ids: Vec<String>,
    /// Interface endpoints: the ENIs' security groups (the VPC default group if none).
    #[serde(default)]
    pub groups: Vec<GroupIdentifier>,
    /// vpcfwd, interface endpoints: the service targets behind the provider's load balancer.
    #[serde(default)]
    pub service_targets: Vec<SocketAddr>,
    /// vpcfwd, interface endpoints: the load balancer's private addresses, which the provider's
    /// targets see as the source of consumer traffic.
    #[serde(default)]
    pub load_balancer_addresses: Vec<IpAddr>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum VpcEndpointType {
    Gateway,
    Interface,
}

/// `describe-nat-gateways`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NatGateway {
    pub nat_gateway_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    /// `public` (default; every address has a `PublicIp`) or `private`.
    #[serde(default)]
    pub connectivity_type: Option<ConnectivityType>,
    /// 1 to 8 addresses.
    pub nat_gateway_addresses: Vec<NatGatewayAddress>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectivityType {
    Public,
    Private,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NatGatewayAddress {
    pub private_ip: Ipv4Addr,
    #[serde(default)]
    pub public_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub allocation_id: Option<String>,
}

/// `describe-internet-gateways`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InternetGateway {
    pub internet_gateway_id: String,
    /// Detached (no attachment): routes to it are blackholes.
    #[serde(default)]
    pub attachments: Vec<InternetGatewayAttachment>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InternetGatewayAttachment {
    pub vpc_id: String,
    /// Absent: attached.
    #[serde(default)]
    pub state: Option<AttachmentState>,
}

/// An internet gateway attachment's state, as `describe-internet-gateways` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentState {
    Attaching,
    Attached,
    Detaching,
    Detached,
    /// What `describe-internet-gateways` shows for an attached gateway.
    Available,
}

impl InternetGatewayAttachment {
    /// Whether the gateway carries the VPC's traffic through this attachment.
    pub fn is_attached(&self) -> bool {
        matches!(
            self.state,
            None | Some(AttachmentState::Attached | AttachmentState::Available)
        )
    }
}

/// vpcfwd: an attachment point where packets enter and leave the VPC. Each port becomes one
/// TUN device in its own network namespace. Exactly one attachment field.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Port {
    /// Short name (`[a-z0-9-]`, ≤ 12 chars): the TUN device is `vf-<PortId>`.
    pub port_id: String,
    /// The instance behind an ENI: its namespace gets the ENI's addresses.
    #[serde(default)]
    pub network_interface_id: Option<String>,
    /// The internet beyond an internet gateway.
    #[serde(default)]
    pub internet_gateway_id: Option<String>,
    /// The service network behind an endpoint (the S3/DynamoDB stand-ins of a gateway endpoint,
    /// the service targets of an interface endpoint).
    #[serde(default)]
    pub vpc_endpoint_id: Option<String>,
    /// Lab network namespace; default `vpcfwd-<PortId>`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Addresses of the hosts in the namespace (internet and service ports); an ENI port uses
    /// the ENI's addresses.
    #[serde(default)]
    pub addresses: Vec<ipnet::IpNet>,
    #[serde(default)]
    pub mtu: Option<u16>,
    /// Capture what the port receives and sends into `<PcapDirectory>/<PortId>.pcap` from
    /// start-up (`vpcfwd run --pcap DIR` captures every port instead).
    #[serde(default)]
    pub pcap: bool,
}

impl Port {
    /// The attachment fields given, as `(field, id)` (a valid port has exactly one).
    pub fn attachments(&self) -> impl Iterator<Item = (PortAttachment, &str)> {
        [
            (
                PortAttachment::NetworkInterfaceId,
                self.network_interface_id.as_deref(),
            ),
            (
                PortAttachment::InternetGatewayId,
                self.internet_gateway_id.as_deref(),
            ),
            (
                PortAttachment::VpcEndpointId,
                self.vpc_endpoint_id.as_deref(),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// The field a port's attachment is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortAttachment {
    NetworkInterfaceId,
    InternetGatewayId,
    VpcEndpointId,
}

impl PortAttachment {
    pub fn name(self) -> &'static str {
        match self {
            PortAttachment::NetworkInterfaceId => "NetworkInterfaceId",
            PortAttachment::InternetGatewayId => "InternetGatewayId",
            PortAttachment::VpcEndpointId => "VpcEndpointId",
        }
    }
}

/// vpcfwd behaviour where AWS documents nothing or a lab wants something else.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Options {
    /// Off (AWS): no TTL decrement, silent drops. On: decrement TTL / hop limit and answer
    /// with ICMP time-exceeded / unreachable like a router.
    #[serde(default)]
    pub router_mode: bool,
    /// Bound of the flow table; new flows beyond it are dropped and counted.
    #[serde(default)]
    pub flow_table_max_entries: Option<u32>,
    /// ICMP idle timeout in seconds (undocumented by AWS; assumed 30).
    #[serde(default)]
    pub icmp_timeout: Option<u32>,
    /// For `check` and `trace` only: `run` refuses the config. Set by configs that use real AWS
    /// address ranges, which must never carry live lab traffic.
    #[serde(default)]
    pub trace_only: bool,
    /// Where ports with `Pcap: true` are captured (default `vpcfwd-pcap`).
    #[serde(default)]
    pub pcap_directory: Option<String>,
}
