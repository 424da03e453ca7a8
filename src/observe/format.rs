//! AWS's flow-log record formats: the default one (version 2) and custom `LogFormat` strings
//! (`${version} ${vpc-id} ${srcaddr} …`) with every field of versions 2–5 that has a meaning in
//! an emulated VPC. An unknown field is an error naming it (a start-up error of `vpcfwd run`).
//! A record's `version` is the highest version among the format's fields, as AWS writes it.

use std::fmt::Write as _;

/// One field of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    // version 2
    Version,
    AccountId,
    InterfaceId,
    Srcaddr,
    Dstaddr,
    Srcport,
    Dstport,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    // version 3
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcaddr,
    PktDstaddr,
    // version 4
    Region,
    AzId,
    SublocationType,
    SublocationId,
    // version 5
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
}

/// Every field: its name in `${…}` and the version that introduced it.
pub const ALL: [(Field, &str, u8); 29] = {
    use Field::*;
    [
        (Version, "version", 2),
        (AccountId, "account-id", 2),
        (InterfaceId, "interface-id", 2),
        (Srcaddr, "srcaddr", 2),
        (Dstaddr, "dstaddr", 2),
        (Srcport, "srcport", 2),
        (Dstport, "dstport", 2),
        (Protocol, "protocol", 2),
        (Packets, "packets", 2),
        (Bytes, "bytes", 2),
        (Start, "start", 2),
        (End, "end", 2),
        (Action, "action", 2),
        (LogStatus, "log-status", 2),
        (VpcId, "vpc-id", 3),
        (SubnetId, "subnet-id", 3),
        (InstanceId, "instance-id", 3),
        (TcpFlags, "tcp-flags", 3),
        (Type, "type", 3),
        (PktSrcaddr, "pkt-srcaddr", 3),
        (PktDstaddr, "pkt-dstaddr", 3),
        (Region, "region", 4),
        (AzId, "az-id", 4),
        (SublocationType, "sublocation-type", 4),
        (SublocationId, "sublocation-id", 4),
        (PktSrcAwsService, "pkt-src-aws-service", 5),
        (PktDstAwsService, "pkt-dst-aws-service", 5),
        (FlowDirection, "flow-direction", 5),
        (TrafficPath, "traffic-path", 5),
    ]
};

impl Field {
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(f, ..)| *f == self).map_or("?", |x| x.1)
    }

    fn version(self) -> u8 {
        ALL.iter().find(|(f, ..)| *f == self).map_or(2, |x| x.2)
    }

    fn by_name(n: &str) -> Option<Field> {
        ALL.iter().find(|(_, s, _)| *s == n).map(|x| x.0)
    }

    /// Whether a `NODATA` / `SKIPDATA` record has a value for this field.
    fn in_empty_record(self) -> bool {
        use Field::*;
        matches!(
            self,
            Version | AccountId | InterfaceId | Start | End | LogStatus
        )
    }
}

/// A record format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub fields: Vec<Field>,
    /// What `${version}` writes: 2 for the default format, else the highest field version.
    pub version: u8,
}

impl Default for Format {
    /// AWS's default format (version 2).
    fn default() -> Format {
        Format {
            fields: ALL[..14].iter().map(|x| x.0).collect(),
            version: 2,
        }
    }
}

impl Format {
    /// Parses an AWS `LogFormat` string: `${field}` separated by spaces. Errors name the first
    /// unknown field (or what is not `${…}`).
    pub fn parse(s: &str) -> Result<Format, String> {
        let mut fields = Vec::new();
        for tok in s.split_whitespace() {
            let name = tok
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .ok_or_else(|| format!("`{tok}`: fields are written ${{name}}"))?;
            let f = Field::by_name(name)
                .ok_or_else(|| format!("unknown flow-log field ${{{name}}}"))?;
            fields.push(f);
        }
        if fields.is_empty() {
            return Err("an empty flow-log format".into());
        }
        let version = fields.iter().map(|f| f.version()).max().unwrap_or(2);
        Ok(Format { fields, version })
    }

    /// The record of `values` (one per field, `-` where AWS writes `-`), space separated.
    pub fn render(&self, value: impl Fn(Field) -> String) -> String {
        let mut out = String::new();
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match f {
                Field::Version => {
                    let _ = write!(out, "{}", self.version);
                }
                f => out.push_str(&value(*f)),
            }
        }
        out
    }

    /// A `NODATA` / `SKIPDATA` record: `-` for every traffic field.
    pub fn render_empty(&self, value: impl Fn(Field) -> String) -> String {
        self.render(|f| {
            if f.in_empty_record() {
                value(f)
            } else {
                "-".into()
            }
        })
    }
}

/// AWS's TCP-flags encoding of one segment's flags: FIN 1, SYN 2, RST 4, and SYN-ACK 18 (an
/// ACK alone is not reported); a record holds the OR over its packets.
pub fn aws_tcp_flags(flags: u8) -> u8 {
    use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};
    let mut v = flags & (FIN | SYN | RST);
    if flags & SYN != 0 && flags & ACK != 0 {
        v |= SYN | ACK;
    }
    v
}

/// `traffic-path` codes (egress records only; `-` for ingress).
pub mod path {
    /// Through another resource in the same VPC.
    pub const SAME_VPC: u8 = 1;
    /// Through a gateway VPC endpoint (Nitro).
    pub const GATEWAY_ENDPOINT: u8 = 7;
    /// Through an internet gateway (Nitro).
    pub const INTERNET_GATEWAY: u8 = 8;
}
