//! What attaches to subnets: network interfaces, VPC endpoints, NAT and internet gateways, and
//! vpcfwd's ports.

use super::Tag;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
    /// Primary private IPv4 address; absent only on an IPv6-only ENI (`Ipv6Native: true`, in
    /// an IPv6-only subnet).
    #[serde(default)]
    pub private_ip_address: Option<Ipv4Addr>,
    /// Further private addresses (the primary may be repeated here, as AWS lists it).
    #[serde(default)]
    pub private_ip_addresses: Vec<PrivateIpAddress>,
    #[serde(default)]
    pub ipv6_addresses: Vec<Ipv6Address>,
    /// IPv6-only: no IPv4 address (only in an IPv6-only subnet).
    #[serde(default)]
    pub ipv6_native: Option<bool>,
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
    /// `ipv4` (default), `dualstack` or `ipv6` (describe-vpc-endpoints' `IpAddressType`):
    /// the address families the endpoint carries. Interface endpoints: which addresses its ENIs
    /// have (dualstack: both, in dual-stack subnets; ipv6: IPv6 only, in IPv6-only subnets)
    /// and needs service targets and load-balancer addresses of each family it carries.
    /// Gateway endpoints: `dualstack` routes the IPv6 entries of the service's prefix list too.
    #[serde(default)]
    pub ip_address_type: Option<EndpointIpAddressType>,
    /// vpcfwd, interface endpoints: the service targets behind the provider's load balancer.
    #[serde(default)]
    pub service_targets: Vec<SocketAddr>,
    /// vpcfwd, interface endpoints: the load balancer's private addresses, which the provider's
    /// targets see as the source of consumer traffic.
    #[serde(default)]
    pub load_balancer_addresses: Vec<IpAddr>,
    /// Interface endpoints: the VPC resolver answers the service's private DNS name with the
    /// endpoint's ENI addresses.
    #[serde(default)]
    pub private_dns_enabled: Option<bool>,
    /// The private DNS name (describe-vpc-endpoint-services' `PrivateDnsName`); for an AWS
    /// service (`com.amazonaws.<region>.<service>`) it defaults to `<service>.<region>.amazonaws.com`.
    #[serde(default)]
    pub private_dns_name: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The address families an endpoint carries (`IpAddressType`, AWS's lowercase values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointIpAddressType {
    #[default]
    Ipv4,
    Dualstack,
    Ipv6,
}

impl EndpointIpAddressType {
    /// Whether packets of this family (IPv6 when `v6`) are carried.
    pub fn carries(self, v6: bool) -> bool {
        match self {
            EndpointIpAddressType::Ipv4 => !v6,
            EndpointIpAddressType::Dualstack => true,
            EndpointIpAddressType::Ipv6 => v6,
        }
    }

    /// AWS's name (`ipv4`, `dualstack`, `ipv6`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointIpAddressType::Ipv4 => "ipv4",
            EndpointIpAddressType::Dualstack => "dualstack",
            EndpointIpAddressType::Ipv6 => "ipv6",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum VpcEndpointType {
    Gateway,
    Interface,
}

/// The services gateway endpoints exist for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayService {
    S3,
    /// Security groups always track flows through a DynamoDB gateway endpoint.
    DynamoDb,
}

impl GatewayService {
    /// The service of `com.amazonaws.<region>.s3` / `.dynamodb` (`None` for any other name).
    pub fn of(service_name: &str) -> Option<GatewayService> {
        let mut parts = service_name.split('.');
        let (Some("com"), Some("amazonaws"), Some(_region), Some(svc), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        match svc {
            "s3" => Some(GatewayService::S3),
            "dynamodb" => Some(GatewayService::DynamoDb),
            _ => None,
        }
    }
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
    /// The NAT gateway's own (requester-managed) network interface: its flow-log records'
    /// `interface-id` (`eni-<NatGatewayId>` when absent).
    #[serde(default)]
    pub network_interface_id: Option<String>,
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

/// `describe-egress-only-internet-gateways`: IPv6 connections out, and their replies, pass;
/// connections from the internet do not.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EgressOnlyInternetGateway {
    pub egress_only_internet_gateway_id: String,
    /// Detached (no attachment): routes to it are blackholes.
    #[serde(default)]
    pub attachments: Vec<InternetGatewayAttachment>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// vpcfwd: an attachment point where packets enter and leave the VPC. Each port becomes one
/// TUN device in its own network namespace. Exactly one attachment field.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Port {
    /// Name (`[a-z0-9-]`, ≤ 64 chars, so any AWS id): the TUN device is `vf-<PortId>`, or a hash of it when that is over 15 bytes.
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
