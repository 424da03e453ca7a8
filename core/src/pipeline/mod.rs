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
//! Security groups are stateful: each ENI's checks first consult the flow table (keyed per ENI,
//! by the tuple as that ENI sees it), and a flow the rules allowed is recorded only once the
//! packet is actually forwarded, tracked or not as AWS decides (§5). The NAT gateway and
//! PrivateLink translate through the flow table's binding tables; the internet gateway's 1:1
//! translation is stateless.

mod reason;
pub use reason::{DropReason, MalformedKind};

use crate::flow::key::{L4, Side, Tuple, icmp_query};
use crate::flow::nat::NatFlow;
use crate::flow::privatelink::{PlError, PlFlow};
use crate::flow::{Admit, ConnState, Dir, FlowKey, FlowTable, NatOut, SgFacts, Time, is_untracked};
use crate::packet::rewrite::{self, Field};
use crate::packet::{self, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, PacketMeta};
use crate::policy::{L4Match, SgHit, in_any, sg_eval};
use crate::snapshot::{
    EndpointIdx, EniIdx, NaclIdx, NatIdx, PortIdx, PortKind, RESERVED_DESTINATIONS, RtbIdx,
    Snapshot, SubnetIdx, Target,
};
use std::net::{IpAddr, Ipv4Addr};

/// What the I/O layer knows about a received packet besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rx {
    pub ingress: PortIdx,
    pub now: Time,
    /// The L4 checksum field holds only the pseudo-header sum (TUN offload,
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`): rewrites must keep it partial, not complete it.
    pub l4_csum_partial: bool,
}

/// The pipeline's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[..len]` (rewritten in place if translated) out of `egress`.
    Forward { egress: PortIdx, len: usize },
    /// Drop the packet.
    Drop(DropReason),
    /// Drop the packet for `reason` and send `buf[..len]`, now a generated reply (TCP RST,
    /// ICMP error), out of `egress`.
    Reply {
        egress: PortIdx,
        len: usize,
        reason: DropReason,
    },
}

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
    /// Through the NAT gateway.
    NatGateway { nat: NatIdx },
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
    /// Allowed by 0.0.0.0/0 rules both ways: not tracked, replies are judged by rules.
    FlowUntracked { eni: EniIdx },
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
    let m = match packet::parse(&buf[..len]) {
        Ok(m) => m,
        Err(k) => return Verdict::Drop(DropReason::Malformed(k)),
    };
    tr.stage(Stage::Parsed(m));
    tr.stage(Stage::Ingress(rx.ingress));
    if m.dst.is_ipv6() && !snap.ipv6 {
        return Verdict::Drop(DropReason::Ipv6NotEnabled);
    }
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
    };
    let Some(port) = snap.ports.get(rx.ingress) else {
        return Verdict::Drop(DropReason::NoPort);
    };
    let v = match port.kind {
        PortKind::Eni(e) => cx.ingress_eni(e),
        PortKind::Internet => cx.ingress_internet(),
        PortKind::Service(ep) => cx.ingress_service(ep),
    };
    match v {
        Verdict::Drop(r) if snap.router_mode => cx.icmp_error(r).unwrap_or(v),
        v => v,
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
}

/// A flow to record once the packet is forwarded.
#[derive(Debug, Clone, Copy)]
struct Pending {
    key: FlowKey,
    side: Side,
    eni: EniIdx,
    egress: bool,
    hit: SgHit,
}

/// The flow-table tuple of a packet. Later fragments have no ports: they are keyed by address
/// pair and protocol, and judged by rules.
fn tuple(m: &PacketMeta) -> Tuple {
    let l4 = match m.proto {
        PROTO_TCP | PROTO_UDP if m.has_ports() => L4::Ports {
            src: m.sport,
            dst: m.dport,
        },
        PROTO_ICMP | PROTO_ICMPV6 if !m.later_fragment => {
            match icmp_query(m.proto == PROTO_ICMPV6, m.icmp_type) {
                Some((class, _)) => L4::IcmpQuery {
                    class,
                    id: m.icmp_id,
                },
                None => L4::None,
            }
        }
        _ => L4::None,
    };
    Tuple {
        src: m.src,
        dst: m.dst,
        proto: m.proto,
        l4,
    }
}

/// The NAT gateway's "ports" of a packet: TCP/UDP ports, or the ICMP identifier.
fn nat_ports(m: &PacketMeta) -> (u16, u16) {
    if m.proto == PROTO_ICMP {
        (m.icmp_id, 0)
    } else {
        (m.sport, m.dport)
    }
}

type Step = Result<(), DropReason>;

impl<T: Tracer> Cx<'_, T> {
    /// From an instance behind ENI `e`.
    fn ingress_eni(&mut self, e: EniIdx) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.enis.get(e) else {
            return Verdict::Drop(DropReason::NoPort);
        };
        let ok = !eni.src_dst_check || eni.addrs.contains(&self.m.src);
        self.tr.stage(Stage::SrcDstCheck {
            eni: e,
            outbound: true,
            ok,
        });
        if !ok {
            return Verdict::Drop(DropReason::SrcDstCheck);
        }
        if in_any(&RESERVED_DESTINATIONS, self.m.dst) {
            self.tr.stage(Stage::Reserved);
            return Verdict::Drop(DropReason::ReservedDestination);
        }
        if let Err(r) = self.sg(e, true) {
            return Verdict::Drop(r);
        }
        let subnet = eni.subnet;
        match self.route(subnet) {
            Ok(t) => self.forward_to(t, subnet),
            Err(r) => Verdict::Drop(r),
        }
    }

    /// From the internet: only public addresses the internet gateway maps.
    fn ingress_internet(&mut self) -> Verdict {
        let snap = self.snap;
        let dst_eni = match self.m.dst {
            IpAddr::V4(d) => match snap.eni_by_public.get(&d) {
                Some(&e) => {
                    let Some(IpAddr::V4(private)) = snap.enis[e].addrs.first().copied() else {
                        return Verdict::Drop(DropReason::NoPublicIpMapping);
                    };
                    self.translate(Xlat::InternetGateway, Field::Dst, private, None);
                    e
                }
                None => {
                    if let Some(n) = snap.nat_gateways.position(|n| n.public_ips.contains(&d)) {
                        return self.nat_inbound(n, d);
                    }
                    return Verdict::Drop(DropReason::NoPublicIpMapping);
                }
            },
            // IPv6 addresses are global: no translation.
            IpAddr::V6(d) => match snap.eni_by_ip.get(&IpAddr::V6(d)) {
                Some(&e) => e,
                None => return Verdict::Drop(DropReason::NoEniAtDestination),
            },
        };
        self.deliver(dst_eni, None)
    }

    /// From a service network back into the VPC.
    fn ingress_service(&mut self, ep: EndpointIdx) -> Verdict {
        let snap = self.snap;
        if let Some(e) = snap.endpoints.get(ep)
            && !e.is_gateway()
            && e.lb_addrs().contains(&self.m.dst)
        {
            return self.privatelink_inbound(ep);
        }
        match snap.eni_by_ip.get(&self.m.dst) {
            Some(&e) => self.deliver(e, None),
            None => Verdict::Drop(DropReason::NoEniAtDestination),
        }
    }

    /// Looks the destination up in the route table of `subnet`.
    fn route(&mut self, subnet: SubnetIdx) -> Result<Target, DropReason> {
        let snap = self.snap;
        let table = snap.subnets[subnet].route_table;
        let rt = &snap.route_tables[table];
        let hit = rt.lookup(self.m.dst);
        self.tr.stage(Stage::Route { table, route: hit });
        let Some(r) = hit else {
            return Err(DropReason::NoRoute);
        };
        match rt.routes[r as usize].target {
            Target::Blackhole => Err(DropReason::BlackholeRoute),
            t => {
                if snap.router_mode {
                    if self.m.ttl <= 1 {
                        return Err(DropReason::TtlExceeded);
                    }
                    rewrite::decrement_ttl(self.buf, &self.m);
                    self.m.ttl -= 1;
                    self.tr.stage(Stage::TtlDecremented);
                }
                Ok(t)
            }
        }
    }

    /// Acts on the route target chosen for a packet leaving `subnet`.
    fn forward_to(&mut self, t: Target, subnet: SubnetIdx) -> Verdict {
        let snap = self.snap;
        match t {
            Target::Local => match snap.eni_by_ip.get(&self.m.dst) {
                Some(&e) => self.deliver(e, Some(subnet)),
                None => Verdict::Drop(DropReason::NoEniAtDestination),
            },
            Target::Eni(e) => self.deliver(e, Some(subnet)),
            Target::Igw => {
                if let Err(r) = self.nacl(subnet, true) {
                    return Verdict::Drop(r);
                }
                if let IpAddr::V4(src) = self.m.src {
                    // 1:1 translation of the sending ENI's private address.
                    let Some(public) = snap
                        .eni_by_ip
                        .get(&IpAddr::V4(src))
                        .and_then(|&e| snap.enis[e].public_ip)
                    else {
                        return Verdict::Drop(DropReason::NoPublicIp);
                    };
                    self.translate(Xlat::InternetGateway, Field::Src, public, None);
                }
                self.out(snap.internet_port)
            }
            Target::GatewayEndpoint(ep) => {
                if let Err(r) = self.nacl(subnet, true) {
                    return Verdict::Drop(r);
                }
                self.tr.stage(Stage::GatewayEndpoint { endpoint: ep });
                let e = snap.endpoints.get(ep);
                self.tracking_component |= e.is_some_and(|e| e.always_tracked());
                self.out(e.and_then(|e| e.port))
            }
            Target::Nat(n) => self.via_nat(n, subnet),
            Target::Blackhole => Verdict::Drop(DropReason::BlackholeRoute),
        }
    }

    /// Through NAT gateway `n`: out of the source subnet, into and out of the NAT's subnet,
    /// then the NAT subnet's route table.
    fn via_nat(&mut self, n: NatIdx, subnet: SubnetIdx) -> Verdict {
        let snap = self.snap;
        let nat = &snap.nat_gateways[n];
        self.tr.stage(Stage::NatGateway { nat: n });
        if !matches!(self.m.proto, PROTO_TCP | PROTO_UDP | PROTO_ICMP) {
            return Verdict::Drop(DropReason::UnsupportedProtocol);
        }
        if self.m.fragment && self.m.proto != PROTO_UDP {
            return Verdict::Drop(DropReason::NatFragment);
        }
        let nat_subnet = nat.subnet;
        if nat_subnet != subnet {
            if let Err(r) = self.nacl(subnet, true) {
                return Verdict::Drop(r);
            }
            if let Err(r) = self.nacl(nat_subnet, false) {
                return Verdict::Drop(r);
            }
        }
        if let Some(v) = self.nat_outbound(n) {
            return v;
        }
        match self.route(nat_subnet) {
            Ok(Target::Igw) => {
                if let Err(r) = self.nacl(nat_subnet, true) {
                    return Verdict::Drop(r);
                }
                self.out(snap.internet_port)
            }
            Ok(Target::Local) => match snap.eni_by_ip.get(&self.m.dst) {
                Some(&e) => self.deliver(e, Some(nat_subnet)),
                None => Verdict::Drop(DropReason::NoEniAtDestination),
            },
            Ok(_) => Verdict::Drop(DropReason::NoRoute),
            Err(r) => Verdict::Drop(r),
        }
    }

    /// Delivers to ENI `e`. `from_subnet` is the subnet the packet leaves (None when it comes
    /// from outside the VPC): NACLs apply only when it crosses a subnet boundary.
    fn deliver(&mut self, e: EniIdx, from_subnet: Option<SubnetIdx>) -> Verdict {
        let snap = self.snap;
        let eni = &snap.enis[e];
        match from_subnet {
            Some(s) if s == eni.subnet => self.tr.stage(Stage::SameSubnet { subnet: s }),
            Some(s) => {
                if let Err(r) = self
                    .nacl(s, true)
                    .and_then(|_| self.nacl(eni.subnet, false))
                {
                    return Verdict::Drop(r);
                }
            }
            None => {
                if let Err(r) = self.nacl(eni.subnet, false) {
                    return Verdict::Drop(r);
                }
            }
        }
        let ok = !eni.src_dst_check || eni.addrs.contains(&self.m.dst);
        if !ok {
            self.tr.stage(Stage::SrcDstCheck {
                eni: e,
                outbound: false,
                ok,
            });
            return Verdict::Drop(DropReason::SrcDstCheck);
        }
        if let Err(r) = self.sg(e, false) {
            return Verdict::Drop(r);
        }
        if let Some(ep) = eni.endpoint {
            self.tr.stage(Stage::InterfaceEndpoint {
                endpoint: ep,
                eni: e,
            });
            if let Some(v) = self.privatelink_outbound(ep) {
                return v;
            }
            return self.out(snap.endpoints.get(ep).and_then(|x| x.port));
        }
        self.out(eni.port)
    }

    fn out(&mut self, port: Option<PortIdx>) -> Verdict {
        match port {
            Some(p) => {
                if let Err(r) = self.commit_flows() {
                    return Verdict::Drop(r);
                }
                self.tr.stage(Stage::Deliver(p));
                Verdict::Forward {
                    egress: p,
                    len: self.m.len,
                }
            }
            None => Verdict::Drop(DropReason::NoPort),
        }
    }

    fn nacl(&mut self, subnet: SubnetIdx, outbound: bool) -> Step {
        let s = &self.snap.subnets[subnet];
        let (allow, rule, pos) = self.snap.nacls[s.nacl].eval(outbound, &self.m);
        self.tr.stage(Stage::Nacl {
            nacl: s.nacl,
            subnet,
            outbound,
            rule,
            pos,
            allow,
        });
        if allow {
            Ok(())
        } else {
            Err(DropReason::NaclDeny)
        }
    }

    /// The security groups of ENI `e`: a packet of a flow they already allowed passes; otherwise
    /// the rules decide, and an allowed flow is recorded once the packet is forwarded.
    fn sg(&mut self, e: EniIdx, egress: bool) -> Step {
        let zone = self.snap.enis[e].zone;
        let (key, side) = FlowKey::from_tuple(zone.0, &tuple(&self.m));
        if let Some(f) = self
            .flows
            .conns()
            .touch(&key, side, self.m.tcp_flags, self.rx.now)
        {
            self.tr.stage(Stage::Flow {
                eni: e,
                egress,
                dir: f.dir,
                state: f.state,
            });
            return Ok(());
        }
        if let Some(q) = packet::quoted_v4(self.buf, &self.m) {
            // An ICMP error about a tracked flow of this ENI passes as part of that flow.
            let quoted = Tuple {
                src: IpAddr::V4(q.src),
                dst: IpAddr::V4(q.dst),
                proto: q.proto,
                l4: match q.proto {
                    PROTO_TCP | PROTO_UDP => L4::Ports {
                        src: q.sport,
                        dst: q.dport,
                    },
                    _ => L4::None,
                },
            };
            let (qkey, qside) = FlowKey::from_tuple(zone.0, &quoted);
            if let Some(f) = self.flows.conns().lookup(&qkey, qside, self.rx.now) {
                self.tr.stage(Stage::Flow {
                    eni: e,
                    egress,
                    dir: f.dir,
                    state: f.state,
                });
                return Ok(());
            }
        }
        let eni = &self.snap.enis[e];
        let hit = sg_eval(&self.snap.sgs, &eni.sgs, egress, &self.m);
        self.tr.stage(Stage::Sg {
            eni: e,
            egress,
            hit,
        });
        let Some(hit) = hit else {
            return Err(DropReason::SgNoAllow);
        };
        let p = Pending {
            key,
            side,
            eni: e,
            egress,
            hit,
        };
        if let Some(slot) = self.pending.iter_mut().find(|s| s.is_none()) {
            *slot = Some(p);
        }
        Ok(())
    }

    /// Records the flows the rules allowed on this packet's way, tracked unless §5's untracked
    /// rule applies. Called when the packet is forwarded, so drops leave no state behind.
    fn commit_flows(&mut self) -> Step {
        let v6 = self.orig.src.is_ipv6();
        for p in self.pending.iter().flatten() {
            let eni = &self.snap.enis[p.eni];
            let facts = SgFacts {
                proto: self.orig.proto,
                allowed_by_any_peer_rule: self.rule_has_any_peer(p.hit, p.egress),
                opposite_allows_all_from_any: self.opposite_open(p.eni, !p.egress, v6),
                through_tracking_component: self.tracking_component,
            };
            if is_untracked(&facts) {
                self.tr.stage(Stage::FlowUntracked { eni: p.eni });
                continue;
            }
            let a = Admit {
                tcp_flags: self.orig.tcp_flags,
                tracked: true,
                // Zones, not indices: they name the same ENI after a reload.
                zones: [eni.zone, eni.zone],
                timeouts: eni.timeouts,
            };
            match self.flows.conns().admit(&p.key, p.side, &a, self.rx.now) {
                Ok(h) => self.tr.stage(Stage::FlowNew {
                    eni: p.eni,
                    state: h.state,
                }),
                Err(_) => return Err(DropReason::FlowTableFull),
            }
        }
        Ok(())
    }

    fn rule_has_any_peer(&self, hit: SgHit, egress: bool) -> bool {
        let sg = &self.snap.sgs[hit.sg];
        let rules = if egress { &sg.egress } else { &sg.ingress };
        rules
            .iter()
            .find(|r| r.index == hit.rule)
            .is_some_and(|r| r.peer_nets.iter().any(|n| n.prefix_len() == 0))
    }

    /// Whether ENI `e`'s groups allow all ports of this protocol to/from 0.0.0.0/0 (::/0) in
    /// direction `egress`.
    fn opposite_open(&self, e: EniIdx, egress: bool, v6: bool) -> bool {
        let proto = self.orig.proto;
        self.snap.enis[e].sgs.iter().any(|&g| {
            let sg = &self.snap.sgs[g];
            let rules = if egress { &sg.egress } else { &sg.ingress };
            rules.iter().any(|r| {
                r.proto.is_none_or(|p| p == proto)
                    && matches!(r.l4, L4Match::Any | L4Match::Ports(0, 65535))
                    && r.peer_nets
                        .iter()
                        .any(|n| n.prefix_len() == 0 && n.addr().is_ipv6() == v6)
            })
        })
    }

    /// NAT gateway `n`, inside → outside: source translation to one of its addresses. `None`
    /// means translated (go on); `Some` is the final verdict.
    fn nat_outbound(&mut self, n: NatIdx) -> Option<Verdict> {
        self.tracking_component = true;
        let nat = &self.snap.nat_gateways[n];
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.m.src, self.m.dst) else {
            return Some(Verdict::Drop(DropReason::UnsupportedProtocol));
        };
        let (sport, dport) = nat_ports(&self.m);
        let flow = NatFlow {
            src,
            sport,
            dst,
            dport,
            proto: self.m.proto,
        };
        let addrs = if nat.public_ips.is_empty() {
            &nat.private_ips
        } else {
            &nat.public_ips
        };
        match self
            .flows
            .nat()
            .outbound(&flow, addrs, self.m.tcp_flags, self.rx.now)
        {
            NatOut::Translate { addr, port, .. } => {
                self.translate(Xlat::NatGateway(n), Field::Src, addr, Some(port));
                None
            }
            NatOut::IdleTimedOut => Some(self.rst(DropReason::NatIdleTimeout)),
            NatOut::PortAllocation => Some(Verdict::Drop(DropReason::NatPortAllocation)),
            NatOut::TableFull => Some(Verdict::Drop(DropReason::FlowTableFull)),
        }
    }

    /// From the internet to NAT gateway `n`'s address `addr`: back to the inside host through
    /// the NAT subnet's NACLs, or UNSOLICITED (connections cannot be opened from outside).
    fn nat_inbound(&mut self, n: NatIdx, addr: Ipv4Addr) -> Verdict {
        self.tracking_component = true;
        let nat_subnet = self.snap.nat_gateways[n].subnet;
        self.tr.stage(Stage::NatGateway { nat: n });
        if let Err(r) = self.nacl(nat_subnet, false) {
            return Verdict::Drop(r);
        }
        let IpAddr::V4(remote) = self.m.src else {
            return Verdict::Drop(DropReason::Unsolicited);
        };
        // An ICMP error about a translated packet: found by the packet it quotes.
        if let Some(q) = packet::quoted_v4(self.buf, &self.m) {
            let Some((inside, iport)) = self
                .flows
                .nat()
                .inbound(q.dst, q.dport, q.src, q.sport, q.proto, self.rx.now)
                .filter(|_| q.src == addr)
            else {
                return Verdict::Drop(DropReason::Unsolicited);
            };
            self.translate(Xlat::NatGateway(n), Field::Dst, inside, None);
            rewrite::set_quoted_src(self.buf, &self.m, &q, inside, iport);
            self.tr.stage(Stage::TranslateQuoted {
                by: Xlat::NatGateway(n),
                from: (IpAddr::V4(q.src), q.sport),
                to: (IpAddr::V4(inside), iport),
            });
            return match self.snap.eni_by_ip.get(&IpAddr::V4(inside)) {
                Some(&e) => self.deliver(e, Some(nat_subnet)),
                None => Verdict::Drop(DropReason::NoEniAtDestination),
            };
        }
        let (rport, nport) = match self.m.proto {
            PROTO_ICMP => (0, self.m.icmp_id),
            _ => (self.m.sport, self.m.dport),
        };
        let Some((inside, iport)) =
            self.flows
                .nat()
                .inbound(remote, rport, addr, nport, self.m.proto, self.rx.now)
        else {
            return Verdict::Drop(DropReason::Unsolicited);
        };
        self.translate(Xlat::NatGateway(n), Field::Dst, inside, Some(iport));
        match self.snap.eni_by_ip.get(&IpAddr::V4(inside)) {
            Some(&e) => self.deliver(e, Some(nat_subnet)),
            None => Verdict::Drop(DropReason::NoEniAtDestination),
        }
    }

    /// Consumer → interface endpoint `ep`: one service target by flow hash, and the source
    /// translated to a load-balancer address, as the provider's targets see it.
    fn privatelink_outbound(&mut self, ep: EndpointIdx) -> Option<Verdict> {
        self.tracking_component = true;
        if self.m.proto != PROTO_TCP || !self.m.has_ports() {
            return Some(Verdict::Drop(DropReason::UnsupportedProtocol));
        }
        let e = &self.snap.endpoints[ep];
        let f = PlFlow {
            src: self.m.src,
            sport: self.m.sport,
            endpoint: self.m.dst,
            port: self.m.dport,
            proto: self.m.proto,
            zone: 0,
        };
        match self
            .flows
            .privatelink()
            .outbound(&f, e.targets(), e.lb_addrs(), self.rx.now)
        {
            Ok(o) => {
                let (IpAddr::V4(target), IpAddr::V4(lb)) = (o.target.0, o.lb) else {
                    return Some(Verdict::Drop(DropReason::UnsupportedProtocol));
                };
                self.translate(Xlat::PrivateLink(ep), Field::Dst, target, Some(o.target.1));
                self.translate(Xlat::PrivateLink(ep), Field::Src, lb, Some(o.lb_port));
                None
            }
            Err(PlError::PortAllocation) => Some(Verdict::Drop(DropReason::NatPortAllocation)),
            Err(PlError::TableFull) => Some(Verdict::Drop(DropReason::FlowTableFull)),
            Err(_) => Some(Verdict::Drop(DropReason::NoPort)),
        }
    }

    /// Provider target → load balancer of endpoint `ep`: back to the consumer as if from the
    /// endpoint ENI, or UNSOLICITED (the provider cannot open connections).
    fn privatelink_inbound(&mut self, ep: EndpointIdx) -> Verdict {
        self.tracking_component = true;
        let Some(b) = self.flows.privatelink().inbound(
            (self.m.src, self.m.sport),
            self.m.dst,
            self.m.dport,
            self.m.proto,
            self.rx.now,
        ) else {
            return Verdict::Drop(DropReason::Unsolicited);
        };
        let (IpAddr::V4(endpoint), IpAddr::V4(consumer)) = (b.endpoint, b.consumer) else {
            return Verdict::Drop(DropReason::UnsupportedProtocol);
        };
        self.translate(Xlat::PrivateLink(ep), Field::Src, endpoint, Some(b.port));
        self.translate(Xlat::PrivateLink(ep), Field::Dst, consumer, Some(b.cport));
        let from_subnet = self
            .snap
            .eni_by_ip
            .get(&IpAddr::V4(endpoint))
            .map(|&x| self.snap.enis[x].subnet);
        match self.snap.eni_by_ip.get(&IpAddr::V4(consumer)) {
            Some(&e) => self.deliver(e, from_subnet),
            None => Verdict::Drop(DropReason::NoEniAtDestination),
        }
    }

    /// Replaces the packet by a TCP RST to its sender (NAT gateway idle timeout).
    fn rst(&mut self, reason: DropReason) -> Verdict {
        let m = self.orig;
        let (IpAddr::V4(src), IpAddr::V4(dst), true) = (m.src, m.dst, m.proto == PROTO_TCP) else {
            return Verdict::Drop(reason);
        };
        let l4 = m.l4_offset;
        let b = &*self.buf;
        let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let data_off = usize::from(b[l4 + 12] >> 4) * 4;
        let seg = crate::flow::TcpSegmentV4 {
            src,
            dst,
            sport: m.sport,
            dport: m.dport,
            seq: word(l4 + 4),
            ack: word(l4 + 8),
            flags: m.tcp_flags,
            payload_len: m.len.saturating_sub(l4 + data_off) as u32,
        };
        match crate::flow::write_rst_v4(&seg, self.buf) {
            Some(len) => Verdict::Reply {
                egress: self.rx.ingress,
                len,
                reason,
            },
            None => Verdict::Drop(reason),
        }
    }

    /// Rewrites an IPv4 address (and the port / ICMP identifier when `port` is given).
    fn translate(&mut self, by: Xlat, field: Field, to: Ipv4Addr, port: Option<u16>) {
        let icmp = self.m.proto == PROTO_ICMP;
        let (from, from_port) = match field {
            Field::Src => (self.m.src, nat_ports(&self.m).0),
            Field::Dst if icmp => (self.m.dst, self.m.icmp_id),
            Field::Dst => (self.m.dst, self.m.dport),
        };
        let partial = self.rx.l4_csum_partial;
        rewrite::set_v4_addr(self.buf, &self.m, field, to, partial);
        match field {
            Field::Src => self.m.src = to.into(),
            Field::Dst => self.m.dst = to.into(),
        }
        let to_port = port.unwrap_or(from_port);
        if let Some(p) = port {
            if icmp {
                rewrite::set_icmp_id(self.buf, &self.m, p);
                self.m.icmp_id = p;
            } else {
                rewrite::set_port(self.buf, &self.m, field, p, partial);
                match field {
                    Field::Src => self.m.sport = p,
                    Field::Dst => self.m.dport = p,
                }
            }
        }
        self.tr.stage(Stage::Translate {
            by,
            field,
            from: (from, from_port),
            to: (to.into(), to_port),
        });
    }

    /// Router mode: an ICMPv4 error back to the sender for drops a router would report.
    fn icmp_error(&mut self, reason: DropReason) -> Option<Verdict> {
        let (ty, code) = match reason {
            DropReason::TtlExceeded => (11, 0),
            DropReason::NoRoute | DropReason::BlackholeRoute => (3, 0),
            _ => return None,
        };
        let (IpAddr::V4(sender), true) = (
            self.m.src,
            self.m.proto != PROTO_ICMP || self.m.icmp_type == 8,
        ) else {
            return None;
        };
        // The VPC router's address in the first VPC CIDR.
        let router = match self.snap.vpc_cidrs.first() {
            Some(ipnet::IpNet::V4(n)) => crate::config::aws::router(*n),
            _ => return None,
        };
        let ihl = self.m.l4_offset;
        let quoted = (ihl + 8).min(self.m.len);
        let total = 20 + 8 + quoted;
        if self.buf.len() < total {
            return None;
        }
        self.buf.copy_within(0..quoted, 28);
        let b = &mut *self.buf;
        b[..28].fill(0);
        b[0] = 0x45;
        b[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        b[8] = 64;
        b[9] = PROTO_ICMP;
        b[12..16].copy_from_slice(&router.octets());
        b[16..20].copy_from_slice(&sender.octets());
        let c = packet::checksum::checksum(&b[..20]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b[20] = ty;
        b[21] = code;
        let c = packet::checksum::checksum(&b[20..total]);
        b[22..24].copy_from_slice(&c.to_be_bytes());
        Some(Verdict::Reply {
            egress: self.rx.ingress,
            len: total,
            reason,
        })
    }
}
