//! What the pipeline reports as it decides: one `Stage` per step, in snapshot indices (`trace`
//! renders them to ids), handed to a `Tracer`. The hot path's `NoTrace` has an empty inline
//! method, so reporting costs nothing there; `Recorder` keeps every stage for `trace` and the
//! tests. Stages are small `Copy` values so that building one never allocates.

use crate::flow::{ConnState, Dir};
use crate::policy::SgHit;
use crate::snapshot::PortIdx;
use crate::snapshot::{EndpointIdx, EniIdx, NaclIdx, NatIdx, RtbIdx, SubnetIdx};
use crate::wire::{Field, PacketMeta};
use std::net::IpAddr;

/// One step of the decision, in snapshot indices (rendered to ids by `trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The packet as parsed.
    Parsed(PacketMeta),
    /// Where it came in.
    Ingress(PortIdx),
    /// Source/destination check of an ENI (`outbound`: on leaving it).
    SrcDstCheck {
        eni: EniIdx,
        outbound: bool,
        ok: bool,
    },
    /// Destination in a range the VPC never forwards.
    Reserved,
    /// Security groups of an ENI: which group and rule allowed, or none.
    Sg {
        eni: EniIdx,
        egress: bool,
        hit: Option<SgHit>,
    },
    /// Route lookup in a table: the winning route (index into its `routes`), or none.
    Route { table: RtbIdx, route: Option<u32> },
    /// A network ACL: first matching rule (its number, and its position in the compiled list
    /// for counters) and its action.
    Nacl {
        nacl: NaclIdx,
        subnet: SubnetIdx,
        outbound: bool,
        rule: u16,
        pos: u16,
        allow: bool,
    },
    /// Traffic between two ENIs of one subnet: NACLs do not apply.
    SameSubnet { subnet: SubnetIdx },
    /// To another instance's public address: out through the internet gateway and back in.
    Hairpin { eni: EniIdx },
    /// Through the NAT gateway.
    NatGateway { nat: NatIdx },
    /// The NAT gateway could not translate a new flow to `to`: no free source port towards
    /// it on any of its addresses (`NAT_PORT_ALLOCATION`), or no room in the translation table
    /// (`FLOW_TABLE_FULL`, `bound` translations in use) — two causes with two remedies, kept
    /// apart.
    NatRefused {
        nat: NatIdx,
        to: (IpAddr, u16),
        no_port: bool,
        bound: u32,
    },
    /// To a gateway endpoint (no security group, no NACL of its own, no translation).
    GatewayEndpoint { endpoint: EndpointIdx },
    /// To an interface endpoint's ENI.
    InterfaceEndpoint { endpoint: EndpointIdx, eni: EniIdx },
    /// An address (and port / ICMP identifier) rewritten in place.
    Translate {
        by: Xlat,
        field: Field,
        from: (IpAddr, u16),
        to: (IpAddr, u16),
    },
    /// The source of the packet an ICMP error quotes, translated back.
    TranslateQuoted {
        by: Xlat,
        from: (IpAddr, u16),
        to: (IpAddr, u16),
    },
    /// A packet of a flow the ENI's groups already allowed: rules not consulted.
    Flow {
        eni: EniIdx,
        egress: bool,
        dir: Dir,
        state: ConnState,
    },
    /// The flow is recorded for the ENI (its replies will pass).
    FlowNew { eni: EniIdx, state: ConnState },
    /// Allowed by any-address rules both ways (`0.0.0.0/0`; `::/0` for IPv6, `v6`): not
    /// tracked, replies are judged by rules.
    FlowUntracked { eni: EniIdx, v6: bool },
    /// Through the egress-only internet gateway: out (the connection is recorded), or in as a
    /// reply of one it let out.
    EgressOnly { reply: bool },
    /// From the internet to an address whose subnet sends the internet through the egress-only
    /// gateway, not a reply of a connection it let out.
    EgressOnlyRefused,
    /// From a service network to ENI `eni`, answering no flow of its: services never initiate.
    Unsolicited { eni: EniIdx },
    /// A DNS query to the Amazon-provided resolver, answered by it (no SG, no NACL).
    Resolver { eni: EniIdx },
    /// Router mode: TTL / hop limit decremented.
    TtlDecremented,
    /// Delivered to a port.
    Deliver(PortIdx),
}

/// Which component translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xlat {
    InternetGateway,
    NatGateway(NatIdx),
    PrivateLink(EndpointIdx),
}

/// Receives the pipeline's stages. The hot path uses `NoTrace`, which compiles to nothing.
pub trait Tracer {
    #[inline(always)]
    fn stage(&mut self, _stage: Stage) {}
}

/// The tracer of the hot path.
pub struct NoTrace;
impl Tracer for NoTrace {}

/// Records every stage (for `trace` and tests; allocates, so never on the hot path).
#[derive(Debug, Default)]
pub struct Recorder(pub Vec<Stage>);
impl Tracer for Recorder {
    fn stage(&mut self, stage: Stage) {
        self.0.push(stage);
    }
}
