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
//! Hook points for connection tracking and stateful translation are marked `STATE HOOK`: until
//! the flow table is wired in, replies are judged by rules and NAT gateway / PrivateLink traffic
//! is forwarded untranslated, which the trace says.

mod reason;
pub use reason::{DropReason, MalformedKind};

use crate::flow::{FlowTable, Time};
use crate::packet::rewrite::{self, Field};
use crate::packet::{self, PROTO_ICMP, PROTO_TCP, PROTO_UDP, PacketMeta};
use crate::policy::{SgHit, in_any, sg_eval};
use crate::snapshot::{PortIdx, PortKind, Snapshot, Target, reserved_destinations};
use std::net::IpAddr;

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
    SrcDstCheck { eni: u32, outbound: bool, ok: bool },
    /// Destination in a range the VPC never forwards.
    Reserved,
    /// Security groups of an ENI: which group and rule allowed, or none.
    Sg {
        eni: u32,
        egress: bool,
        hit: Option<SgHit>,
    },
    /// Route lookup in a table: the winning route (index into its `routes`), or none.
    Route { table: u32, route: Option<u32> },
    /// A network ACL: first matching rule and its action.
    Nacl {
        nacl: u32,
        subnet: u32,
        outbound: bool,
        rule: u16,
        allow: bool,
    },
    /// Traffic between two ENIs of one subnet: NACLs do not apply.
    SameSubnet { subnet: u32 },
    /// Through the NAT gateway.
    NatGateway { nat: u32 },
    /// To a gateway endpoint (no security group, no NACL of its own, no translation).
    GatewayEndpoint { endpoint: u32 },
    /// To an interface endpoint's ENI.
    InterfaceEndpoint { endpoint: u32, eni: u32 },
    /// An address rewritten in place.
    Rewrite {
        field: Field,
        from: IpAddr,
        to: IpAddr,
    },
    /// A translation that needs flow state, not applied yet.
    Pending(&'static str),
    /// Router mode: TTL / hop limit decremented.
    TtlDecremented,
    /// Delivered to a port.
    Deliver(PortIdx),
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
    _flows: &FlowTable,
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
        buf,
        m,
        rx,
        tr,
    };
    let Some(port) = snap.ports.get(usize::from(rx.ingress.0)) else {
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
    buf: &'a mut [u8],
    m: PacketMeta,
    rx: Rx,
    tr: &'a mut T,
}

type Step = Result<(), DropReason>;

impl<T: Tracer> Cx<'_, T> {
    /// From an instance behind ENI `e`.
    fn ingress_eni(&mut self, e: u32) -> Verdict {
        let snap = self.snap;
        let Some(eni) = snap.enis.get(e as usize) else {
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
        if in_any(&reserved_destinations(), self.m.dst) {
            self.tr.stage(Stage::Reserved);
            return Verdict::Drop(DropReason::ReservedDestination);
        }
        // STATE HOOK: a packet of a tracked flow passes the egress groups without a rule.
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
                    let Some(IpAddr::V4(private)) = snap.enis[e as usize].addrs.first().copied()
                    else {
                        return Verdict::Drop(DropReason::NoPublicIpMapping);
                    };
                    self.rewrite(Field::Dst, private);
                    e
                }
                None => {
                    if snap.nat_gateways.iter().any(|n| n.public_ips.contains(&d)) {
                        // STATE HOOK: replies to NAT gateway bindings are translated back here.
                        self.tr.stage(Stage::Pending(
                            "NAT gateway reverse translation needs the flow table",
                        ));
                        return Verdict::Drop(DropReason::Unsolicited);
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
    fn ingress_service(&mut self, ep: u32) -> Verdict {
        let snap = self.snap;
        if let Some(e) = snap.endpoints.get(ep as usize)
            && !e.gateway
            && e.lb_addrs.contains(&self.m.dst)
        {
            // STATE HOOK: PrivateLink replies are translated back to the consumer here.
            self.tr.stage(Stage::Pending(
                "PrivateLink reverse translation needs the flow table",
            ));
            return Verdict::Drop(DropReason::Unsolicited);
        }
        match snap.eni_by_ip.get(&self.m.dst) {
            Some(&e) => self.deliver(e, None),
            None => Verdict::Drop(DropReason::NoEniAtDestination),
        }
    }

    /// Looks the destination up in the route table of `subnet`.
    fn route(&mut self, subnet: u32) -> Result<Target, DropReason> {
        let snap = self.snap;
        let table = snap.subnets[subnet as usize].route_table;
        let rt = &snap.route_tables[table as usize];
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
    fn forward_to(&mut self, t: Target, subnet: u32) -> Verdict {
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
                        .and_then(|&e| snap.enis[e as usize].public_ip)
                    else {
                        return Verdict::Drop(DropReason::NoPublicIp);
                    };
                    self.rewrite(Field::Src, public);
                }
                self.out(snap.internet_port)
            }
            Target::GatewayEndpoint(ep) => {
                if let Err(r) = self.nacl(subnet, true) {
                    return Verdict::Drop(r);
                }
                self.tr.stage(Stage::GatewayEndpoint { endpoint: ep });
                self.out(snap.endpoints.get(ep as usize).and_then(|e| e.port))
            }
            Target::Nat(n) => self.via_nat(n, subnet),
            Target::Blackhole => Verdict::Drop(DropReason::BlackholeRoute),
        }
    }

    /// Through NAT gateway `n`: out of the source subnet, into and out of the NAT's subnet,
    /// then the NAT subnet's route table.
    fn via_nat(&mut self, n: u32, subnet: u32) -> Verdict {
        let snap = self.snap;
        let nat = &snap.nat_gateways[n as usize];
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
        // STATE HOOK: source translation to the NAT gateway's address and port.
        self.tr.stage(Stage::Pending(
            "NAT gateway source translation needs the flow table",
        ));
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
    fn deliver(&mut self, e: u32, from_subnet: Option<u32>) -> Verdict {
        let snap = self.snap;
        let eni = &snap.enis[e as usize];
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
        // STATE HOOK: replies of a tracked flow pass the ingress groups without a rule.
        if let Err(r) = self.sg(e, false) {
            return Verdict::Drop(r);
        }
        if let Some(ep) = eni.endpoint {
            self.tr.stage(Stage::InterfaceEndpoint {
                endpoint: ep,
                eni: e,
            });
            // STATE HOOK: PrivateLink picks a service target and translates both addresses.
            self.tr.stage(Stage::Pending(
                "PrivateLink translation to a service target needs the flow table",
            ));
            return self.out(snap.endpoints.get(ep as usize).and_then(|x| x.port));
        }
        self.out(eni.port)
    }

    fn out(&mut self, port: Option<PortIdx>) -> Verdict {
        match port {
            Some(p) => {
                self.tr.stage(Stage::Deliver(p));
                Verdict::Forward {
                    egress: p,
                    len: self.m.len,
                }
            }
            None => Verdict::Drop(DropReason::NoPort),
        }
    }

    fn nacl(&mut self, subnet: u32, outbound: bool) -> Step {
        let s = &self.snap.subnets[subnet as usize];
        let (allow, rule) = self.snap.nacls[s.nacl as usize].eval(outbound, &self.m);
        self.tr.stage(Stage::Nacl {
            nacl: s.nacl,
            subnet,
            outbound,
            rule,
            allow,
        });
        if allow {
            Ok(())
        } else {
            Err(DropReason::NaclDeny)
        }
    }

    fn sg(&mut self, e: u32, egress: bool) -> Step {
        let eni = &self.snap.enis[e as usize];
        let hit = sg_eval(&self.snap.sgs, &eni.sgs, egress, &self.m);
        self.tr.stage(Stage::Sg {
            eni: e,
            egress,
            hit,
        });
        if hit.is_some() {
            Ok(())
        } else {
            Err(DropReason::SgNoAllow)
        }
    }

    fn rewrite(&mut self, field: Field, to: std::net::Ipv4Addr) {
        let from = match field {
            Field::Src => self.m.src,
            Field::Dst => self.m.dst,
        };
        rewrite::set_v4_addr(self.buf, &self.m, field, to, self.rx.l4_csum_partial);
        match field {
            Field::Src => self.m.src = to.into(),
            Field::Dst => self.m.dst = to.into(),
        }
        self.tr.stage(Stage::Rewrite {
            field,
            from,
            to: to.into(),
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
        // The VPC router's address: base + 1 of the first VPC CIDR.
        let router = match self.snap.vpc_cidrs.first() {
            Some(ipnet::IpNet::V4(n)) => std::net::Ipv4Addr::from(u32::from(n.network()) + 1),
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
