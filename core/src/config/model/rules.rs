//! Security groups and network ACLs.

use super::Tag;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

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
