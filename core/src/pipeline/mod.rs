//! The decision pipeline: a pure function of (snapshot, packet bytes, ingress port, time, flow
//! state). No syscalls, no clock reads, no allocation per packet: everything it consults was
//! resolved into the snapshot at compile time, and stages are reported to a `Tracer` as small
//! Copy values (the hot path's `NoTrace` compiles them away).
//!
//! The path follows an AWS VPC: the ingress ENI's source/destination check and egress security
//! groups, the source subnet's route table, then the target — local delivery (NACLs when the
//! packet crosses subnets, the destination ENI's ingress groups), internet gateway (1:1
//! translation), NAT gateway (its subnet's NACLs and route table), gateway endpoint (no groups of
//! its own, no translation), interface endpoint (its groups, then the service).
//!
//! One file per component, one convention: every step is a method of the per-packet state
//! `Cx` that returns `Result<_, DropReason>`, so a drop anywhere ends the decision through
//! `?` and nothing else. The packets sent back instead of a silent drop (a NAT gateway's TCP
//! RST, router mode's ICMP errors) are chosen in one place from the drop reason
//! (`reply`), after the path has ended. In order of the path:
//! - `ingress` — where a packet enters: an instance's ENI, the internet, a service network;
//! - `sg`, `nacl` — security groups (with the flow table: stateful) and network ACLs;
//! - `route` — the subnet's route table and the dispatch on its target;
//! - `deliver` — to an ENI (the one "find the ENI by address, deliver or drop") and out a port;
//! - `igw`, `eigw`, `nat` (and `nat64`), `gateway_endpoint`, `privatelink` — the route targets and what they rewrite
//!   (through `translate`);
//! - `reply` — RST and ICMP errors, emitted by the wire layer;
//! - `resolver` — the Amazon-provided DNS resolver (VPC base + 2, 169.254.169.253): no SG, no
//!   NACL, no flow log; answered in place from the snapshot's names (`dns`).
//!
//! Two entry points, one decision. [`process`] decides one packet (what `trace` runs);
//! [`process_batch`] decides a worker's batch stage by stage, as VPP does — parse all, compute
//! each packet's first flow key and look it up (the worker's [`FlowCache`] first, the shared
//! shard and slot prefetched for the keys it lacks), one batched LPM per route table, then each
//! packet's decision. That last stage is the same code as `process` after parsing (`decide`):
//! the earlier stages only hand over lookups a step would make anyway, used only when the step
//! asks the very same question, and a cache hit stands for exactly the flow-table touch it
//! replaces (only a packet that changes nothing but the idle deadline hits; copies die with the
//! shard's change count; refreshes are written back once per batch — `flow::cache`). So the
//! stages a tracer sees, the verdicts, the bytes and the flow state after a batch are those of
//! one-by-one decisions (`tests/batch_props.rs`).
//!
//! Security groups are stateful: each ENI's checks first consult the flow table (keyed per ENI,
//! by the tuple as that ENI sees it), and a flow the rules allowed is recorded only once the
//! packet is actually forwarded, tracked or not as AWS decides (§5). The NAT gateway and
//! PrivateLink translate through the flow table's binding tables; the internet gateway's 1:1
//! translation is stateless.

mod batch;
mod deliver;
mod eigw;
mod gateway_endpoint;
mod igw;
mod ingress;
mod nacl;
mod nat;
mod nat64;
mod privatelink;
mod reason;
mod reply;
mod resolver;
mod route;
mod sg;
mod stage;
mod translate;

pub use batch::{Batch, BatchIn, MAX_BATCH, process_batch};
pub use eigw::EIGW_ZONE;
pub use reason::{DropReason, MalformedKind};
pub use stage::{NoTrace, Recorder, Stage, Tracer, Xlat};

use crate::flow::{FlowCache, FlowHit, FlowKey, FlowTable, Hashed, Side, Time, Tuple};
use crate::policy::SgHit;
use crate::snapshot::{EniIdx, RtbIdx};
use crate::snapshot::{PortIdx, PortKind, Snapshot};
use crate::wire::{self, ChecksumMode, PacketMeta};

/// What the I/O layer knows about a received packet besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rx {
    pub ingress: PortIdx,
    pub now: Time,
    /// What the L4 checksum field holds: with TUN checksum offload
    /// (`VIRTIO_NET_HDR_F_NEEDS_CSUM`) only the pseudo-header sum, which rewrites keep partial.
    pub csum: ChecksumMode,
}

/// What a generated reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A TCP RST (NAT gateway: a segment of a connection that idled out).
    TcpRst,
    /// An ICMP / ICMPv6 error (router mode: time exceeded, unreachable).
    IcmpError,
    /// The Amazon-provided resolver's DNS answer.
    Dns,
}

/// The pipeline's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[..len]` (rewritten in place if translated) out of `egress`.
    Forward { egress: PortIdx, len: usize },
    /// Drop the packet.
    Drop(DropReason),
    /// Drop the packet for `reason` and send `buf[..len]`, now the generated reply `kind`,
    /// out of `egress`.
    Reply {
        egress: PortIdx,
        len: usize,
        reason: DropReason,
        kind: ReplyKind,
    },
    /// Answered by the VPC itself (the Amazon-provided resolver): `buf[..len]` is now the answer
    /// `kind`, sent out of `egress` (where the question came in). Not a drop, not forwarded.
    Answer {
        egress: PortIdx,
        len: usize,
        kind: ReplyKind,
    },
}

/// The outcome of a step: its value, or why the packet is dropped.
type Step<T = ()> = Result<T, DropReason>;

/// Decides one packet: `buf[..len]` arrived on `rx.ingress`. `buf` may be longer than the packet
/// so that a generated reply fits.
pub fn process<T: Tracer>(
    snap: &Snapshot,
    flows: &FlowTable,
    buf: &mut [u8],
    len: usize,
    rx: Rx,
    tr: &mut T,
) -> Verdict {
    let len = len.min(buf.len());
    match wire::parse(&buf[..len]) {
        Ok(m) => decide(snap, flows, buf, m, rx, tr, Aux::default()),
        Err(k) => Verdict::Drop(DropReason::Malformed(k)),
    }
}

/// What the batch path found out ahead of the decision, and the worker's flow cache. The
/// single-packet path passes none of it: every step then looks up for itself.
#[derive(Default)]
struct Aux<'c> {
    cache: Option<&'c mut FlowCache>,
    /// The latest time of the batch (a cached flow is used only if it outlives it).
    horizon: Time,
    /// The ingress ENI's egress flow key, hashed (and the side that sent the packet).
    flow: Option<(EniIdx, Hashed, Side)>,
    /// The route lookup of the packet's destination in the ingress subnet's table.
    route: Option<RouteHint>,
}

/// A route lookup done by the batch's LPM stage.
#[derive(Debug, Clone, Copy)]
struct RouteHint {
    table: RtbIdx,
    dst: std::net::IpAddr,
    hit: Option<u32>,
}

/// The decision of a parsed packet: the stages after parsing, shared by both paths.
fn decide<T: Tracer>(
    snap: &Snapshot,
    flows: &FlowTable,
    buf: &mut [u8],
    m: PacketMeta,
    rx: Rx,
    tr: &mut T,
    aux: Aux<'_>,
) -> Verdict {
    tr.stage(Stage::Parsed(m));
    tr.stage(Stage::Ingress(rx.ingress));
    let mut cx = Cx {
        snap,
        flows,
        buf,
        m,
        orig: m,
        rx,
        tr,
        pending: [None; 2],
        tracking_component: false,
        from_service: false,
        translated_by: None,
        aux,
    };
    match cx.ingress() {
        Ok(v) => v,
        Err(r) => cx.reply(r).unwrap_or(Verdict::Drop(r)),
    }
}

/// The state of one decision.
struct Cx<'a, T: Tracer> {
    snap: &'a Snapshot,
    flows: &'a FlowTable,
    buf: &'a mut [u8],
    /// The packet as it is now (after any translation so far).
    m: PacketMeta,
    /// The packet as it arrived.
    orig: PacketMeta,
    rx: Rx,
    tr: &'a mut T,
    /// Flows the rules allowed at the source and destination ENIs, recorded on forwarding.
    pending: [Option<Pending>; 2],
    /// Through a NAT gateway, interface endpoint or DynamoDB gateway endpoint: always tracked.
    tracking_component: bool,
    /// From a service network (not a PrivateLink reply): only replies to the VPC's flows enter.
    from_service: bool,
    /// The gateway that last rewrote the packet on this pass, for an error raised behind it.
    translated_by: Option<Xlat>,
    /// The batch path's lookups and flow cache (none on the single-packet path).
    aux: Aux<'a>,
}

/// A flow to record once the packet is forwarded.
#[derive(Debug, Clone, Copy)]
struct Pending {
    key: FlowKey,
    side: Side,
    eni: EniIdx,
    egress: bool,
    hit: SgHit,
    /// Possibly the reply of an untracked flow the other way: not to be tracked (§5).
    reply_of_untracked: bool,
}

impl<T: Tracer> Cx<'_, T> {
    /// The flow table's `touch` of this packet for ENI `e`'s groups (egress or not) — through
    /// the worker's cache on the batch path. Returns the key it used too.
    #[inline]
    fn touch(&mut self, e: EniIdx, egress: bool) -> (FlowKey, Side, Option<FlowHit>) {
        let hint = self.aux.flow.take().filter(|h| h.0 == e && egress);
        match hint {
            Some((_, k, side)) => (k.key, side, self.touch_hashed(k, side)),
            None => {
                let zone = self.snap.enis[e].zone;
                let (key, side) = FlowKey::from_tuple(zone.0, &Tuple::of(&self.m));
                (key, side, self.touch_key(key, side))
            }
        }
    }

    /// `touch` of this packet under `key`, through the cache on the batch path.
    #[inline]
    fn touch_key(&mut self, key: FlowKey, side: Side) -> Option<FlowHit> {
        match self.aux.cache {
            Some(_) => self.touch_hashed(Hashed::new(self.flows.conns(), key), side),
            None => self
                .flows
                .conns()
                .touch(&key, side, self.m.tcp_flags, self.rx.now),
        }
    }

    #[inline]
    fn touch_hashed(&mut self, k: Hashed, side: Side) -> Option<FlowHit> {
        let conns = self.flows.conns();
        let (now, flags) = (self.rx.now, self.m.tcp_flags);
        match self.aux.cache.as_deref_mut() {
            Some(c) => c.touch(conns, &k, side, flags, now, self.aux.horizon),
            None => conns.touch(&k.key, side, flags, now),
        }
    }

    /// The route table `table`'s answer for `dst`: the batch's LPM stage's if it asked the same.
    #[inline]
    fn route_lookup(&self, table: RtbIdx, dst: std::net::IpAddr) -> Option<u32> {
        match self.aux.route {
            Some(h) if h.table == table && h.dst == dst => h.hit,
            _ => self.snap.route_tables[table].lookup(dst),
        }
    }

    /// Dispatches on the kind of the ingress port.
    #[inline]
    fn ingress(&mut self) -> Step<Verdict> {
        let snap = self.snap;
        if self.m.dst.is_ipv6() && !snap.ipv6 {
            return Err(DropReason::Ipv6NotEnabled);
        }
        let port = snap.ports.get(self.rx.ingress).ok_or(DropReason::NoPort)?;
        match port.kind {
            PortKind::Eni(e) => self.ingress_eni(e),
            PortKind::Internet => self.ingress_internet(),
            PortKind::Service(ep) => self.ingress_service(ep),
        }
    }
}
