//! The config language: one YAML document whose top-level lists and field names are those of the
//! `aws ec2 describe-*` JSON (`Vpcs`, `Subnets`, `RouteTables`, …), so that an AWS user reads it
//! without a manual and an importer maps describe output one to one. vpcfwd's own additions
//! (`Ports`, `Options`, the provider side of endpoints) are marked as such.
//!
//! These types are the *syntax*: they hold what was written, with every optional field kept
//! optional. Meaning lives downstream: `check` and `resolve` validate, the compiler
//! (`snapshot`) applies AWS's defaults and implied routes.
//!
//! One file per family: `network` (VPC, subnets, route tables, prefix lists), `rules`
//! (security groups, network ACLs), `attach` (interfaces, endpoints, gateways, ports).

mod attach;
mod network;
mod rules;

pub use attach::*;
pub use network::*;
pub use rules::*;

use serde::{Deserialize, Serialize};

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
    #[serde(default)]
    pub egress_only_internet_gateways: Vec<EgressOnlyInternetGateway>,
    /// vpcfwd: where packets enter and leave the emulated VPC.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// vpcfwd: behaviour AWS does not document, as explicit defaults.
    #[serde(default)]
    pub options: Options,
}
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
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
    /// Non-propagated routes per route table per address family (AWS's quota: 50 by default,
    /// raisable to 1,000). A prefix-list route counts as its list's `MaxEntries`.
    #[serde(default)]
    pub route_table_quota: Option<u32>,
    /// Where ports with `Pcap: true` are captured (default `vpcfwd-pcap`).
    #[serde(default)]
    pub pcap_directory: Option<String>,
}
