//! What the data path saw: per-worker counters (metrics) and per-ENI flow records (flow logs),
//! fed by an [`Observer`] — a pipeline `Tracer` that keeps a few facts per packet and counts
//! them when the verdict is known. Nothing here allocates per packet or takes a lock.
//!
//! Counters are per worker and per snapshot generation ([`Block`]): only the owning worker writes
//! them (a relaxed load + store, no atomic read-modify-write, no shared cache line), the
//! control plane sums them when `/metrics` is scraped ([`metrics::Registry`]). A reload gives
//! each worker a new block laid out for the new snapshot; the old one is retired and folded
//! into totals keyed by label, so counts survive the swap.

pub mod flowlog;
pub mod format;
pub mod metrics;
mod records;

pub use records::Rec;

use crate::pipeline::{DropReason, Stage, Tracer, Verdict};
use crate::snapshot::{EniIdx, NaclIdx, PortKind, RtbIdx, Snapshot, SubnetIdx};
use crate::wire::IpProtocol;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Where each counter of a [`Block`] lives, for one snapshot.
#[derive(Debug)]
pub struct Layout {
    pub ports: usize,
    /// First cell of each route table's per-route hit counters.
    route_base: Vec<usize>,
    /// First cell of each network ACL's counters: inbound rules, then outbound rules.
    nacl_base: Vec<usize>,
    /// First cell of the per-ENI security-group drop counters (egress, ingress).
    sg_base: usize,
    /// First cell of the per-route-table drop counters (no route, blackhole).
    rtb_drop_base: usize,
    cells: usize,
}

/// Per-port cells: rx packets, rx bytes, tx packets, tx bytes, tx errors.
pub const PORT_CELLS: usize = 5;
const DROPS_BASE: usize = 0;
const DROP_KINDS: usize = DropReason::ALL.len();

impl Layout {
    pub fn new(s: &Snapshot) -> Layout {
        let mut at = DROPS_BASE + DROP_KINDS + PORT_CELLS * s.ports.len();
        let route_base = s
            .route_tables
            .iter()
            .map(|t| {
                let b = at;
                at += t.routes.len();
                b
            })
            .collect();
        let nacl_base = s
            .nacls
            .iter()
            .map(|n| {
                let b = at;
                at += n.inbound.len() + n.outbound.len() + 2;
                b
            })
            .collect();
        let sg_base = at;
        at += 2 * s.enis.len();
        let rtb_drop_base = at;
        at += 2 * s.route_tables.len();
        Layout {
            ports: s.ports.len(),
            route_base,
            nacl_base,
            sg_base,
            rtb_drop_base,
            cells: at,
        }
    }

    fn drop(&self, r: DropReason) -> usize {
        DROPS_BASE + r.index()
    }

    fn port(&self, port: usize, what: usize) -> usize {
        DROPS_BASE + DROP_KINDS + port * PORT_CELLS + what
    }

    /// Cell of the NACL rule at `pos` of a direction's list (`pos == len`: the implicit `*`,
    /// which has the slot after the list).
    #[inline]
    fn nacl_rule(&self, s: &Snapshot, nacl: NaclIdx, outbound: bool, pos: u16) -> Option<usize> {
        let n = s.nacls.get(nacl)?;
        let base = *self.nacl_base.get(nacl.index())?;
        let (len, off) = if outbound {
            (n.outbound.len(), n.inbound.len() + 1)
        } else {
            (n.inbound.len(), 0)
        };
        Some(base + off + usize::from(pos).min(len))
    }
}

/// One worker's counters for one snapshot generation.
#[derive(Debug)]
pub struct Block {
    pub snap: Arc<Snapshot>,
    pub layout: Arc<Layout>,
    cells: Box<[AtomicU64]>,
    /// Set by the owner after its last write: the registry may fold and forget it.
    retired: AtomicBool,
}

impl Block {
    pub fn new(snap: Arc<Snapshot>, layout: Arc<Layout>) -> Block {
        let cells = (0..layout.cells).map(|_| AtomicU64::new(0)).collect();
        Block {
            snap,
            layout,
            cells,
            retired: AtomicBool::new(false),
        }
    }

    /// Owner-only increment: no read-modify-write instruction, nobody else writes this cell.
    #[inline]
    fn add(&self, i: usize, v: u64) {
        if let Some(c) = self.cells.get(i) {
            c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
        }
    }

    fn get(&self, i: usize) -> u64 {
        self.cells.get(i).map_or(0, |c| c.load(Relaxed))
    }

    pub fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Acquire)
    }

    #[inline]
    pub fn rx(&self, port: usize, bytes: usize) {
        self.add(self.layout.port(port, 0), 1);
        self.add(self.layout.port(port, 1), bytes as u64);
    }

    #[inline]
    pub fn tx(&self, port: usize, bytes: usize) {
        self.add(self.layout.port(port, 2), 1);
        self.add(self.layout.port(port, 3), bytes as u64);
    }

    #[inline]
    pub fn tx_error(&self, port: usize) {
        self.add(self.layout.port(port, 4), 1);
    }

    /// Counts a packet's decision: route and NACL-rule hits, and the drop with the object that
    /// caused it.
    #[inline]
    pub fn decision(&self, o: &Observer, v: &Verdict) {
        if o.n_nacls == 0 && o.route.is_none() && matches!(v, Verdict::Forward { .. }) {
            return;
        }
        let l = &*self.layout;
        if let Some((table, route)) = o.route
            && let Some(b) = l.route_base.get(table.index())
        {
            self.add(b + route as usize, 1);
        }
        for n in o.nacls.iter().take(o.n_nacls) {
            if let Some(i) = l.nacl_rule(&self.snap, n.nacl, n.outbound, n.pos) {
                self.add(i, 1);
            }
        }
        let reason = match v {
            Verdict::Drop(r) | Verdict::Reply { reason: r, .. } => *r,
            Verdict::Forward { .. } | Verdict::Answer { .. } => return,
        };
        self.add(l.drop(reason), 1);
        match reason {
            DropReason::SgNoAllow => {
                if let Some((eni, egress)) = o.sg {
                    self.add(l.sg_base + 2 * eni.index() + usize::from(!egress), 1);
                }
            }
            DropReason::NoRoute | DropReason::BlackholeRoute => {
                if let Some(t) = o.table {
                    let k = usize::from(reason == DropReason::BlackholeRoute);
                    self.add(l.rtb_drop_base + 2 * t.index() + k, 1);
                }
            }
            _ => {}
        }
    }
}

/// One NACL evaluation of a packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NaclHit {
    pub nacl: NaclIdx,
    pub subnet: SubnetIdx,
    pub outbound: bool,
    /// Position of the deciding rule in the compiled list (see `Stage::Nacl`).
    pub pos: u16,
}

/// The 5-tuple as an ENI sees it (ports 0 where the protocol has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Five {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// A pipeline tracer that remembers what counters and flow logs need about one packet. Reset
/// per packet; every field is Copy, so the hot path stays allocation-free.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observer {
    /// The packet as it is now (translations applied), and as it arrived.
    cur: Option<Five>,
    orig: Option<Five>,
    pub route: Option<(RtbIdx, u32)>,
    /// The last route table consulted (with or without a hit).
    pub table: Option<RtbIdx>,
    pub nacls: [NaclHit; 4],
    pub n_nacls: usize,
    /// The last security-group evaluation that found no rule: (ENI, egress).
    pub sg: Option<(EniIdx, bool)>,
    /// The ENI whose inbound side the packet reached, and the tuple it saw there.
    pub dst_eni: Option<(EniIdx, Five)>,
    /// The destination ENI failed its source/destination check.
    dst_check_failed: bool,
    /// Track the tuples flow logs need (off without flow logs: copying addresses at every
    /// stage is most of an observer's cost).
    flow_log: bool,
    /// The packet's TCP flags in AWS's encoding (flow logs' `tcp-flags`).
    tcp_flags: u8,
    /// The first route that matched (the sending ENI's `traffic-path`).
    first_route: Option<(RtbIdx, u32)>,
    /// Through a NAT gateway: which, the tuple before it, after it, and whether it translated
    /// the source (inside → out) — its own interface's records.
    nat: Option<(crate::snapshot::NatIdx, Five, Option<Five>, bool)>,
    /// The tuple after the last PrivateLink translation (the endpoint ENI's reply records).
    privatelink: Option<Five>,
}

impl Tracer for Observer {
    // Always inlined: at each call site the variant is known, so the match folds away and a
    // stage costs one or two stores.
    #[inline(always)]
    fn stage(&mut self, stage: Stage) {
        match stage {
            Stage::Parsed(m) if self.flow_log => {
                let (sport, dport) = if m.proto.has_ports() {
                    (m.sport, m.dport)
                } else {
                    (0, 0)
                };
                let f = Five {
                    src: m.src,
                    dst: m.dst,
                    sport,
                    dport,
                    proto: m.proto.into(),
                };
                self.cur = Some(f);
                self.orig = Some(f);
                if m.proto == IpProtocol::Tcp {
                    self.tcp_flags = format::aws_tcp_flags(m.tcp_flags);
                }
            }
            Stage::Route { table, route } => {
                self.table = Some(table);
                if let Some(r) = route {
                    self.route = Some((table, r));
                    self.first_route.get_or_insert((table, r));
                }
            }
            Stage::NatGateway { nat } if self.flow_log => {
                if let Some(c) = self.cur {
                    self.nat = Some((nat, c, None, false));
                }
            }
            Stage::Nacl {
                nacl,
                subnet,
                outbound,
                pos,
                ..
            } => {
                if let Some(slot) = self.nacls.get_mut(self.n_nacls) {
                    *slot = NaclHit {
                        nacl,
                        subnet,
                        outbound,
                        pos,
                    };
                    self.n_nacls += 1;
                }
            }
            Stage::Sg {
                eni,
                egress,
                hit: None,
            } => {
                self.sg = Some((eni, egress));
                self.at_dst(eni, egress);
            }
            Stage::Sg { eni, egress, .. } | Stage::Flow { eni, egress, .. } => {
                self.at_dst(eni, egress)
            }
            Stage::SrcDstCheck {
                eni,
                outbound: false,
                ..
            } => {
                self.at_dst(eni, false);
                self.dst_check_failed = true;
            }
            Stage::Translate { by, field, to, .. } if self.flow_log => {
                if let Some(c) = &mut self.cur {
                    let port = if IpProtocol::from(c.proto).has_ports() {
                        to.1
                    } else {
                        0
                    };
                    match field {
                        crate::wire::Field::Src => {
                            c.src = to.0;
                            c.sport = port;
                        }
                        crate::wire::Field::Dst => {
                            c.dst = to.0;
                            c.dport = port;
                        }
                    }
                    let c = *c;
                    match by {
                        crate::pipeline::Xlat::NatGateway(_) => {
                            if let Some(n) = &mut self.nat {
                                n.2 = Some(c);
                                n.3 = field == crate::wire::Field::Src;
                            }
                        }
                        crate::pipeline::Xlat::PrivateLink(_) => self.privatelink = Some(c),
                        crate::pipeline::Xlat::InternetGateway => {}
                    }
                }
            }
            _ => {}
        }
    }
}

impl Observer {
    /// A fresh observer for one packet; `flow_log`: also keep what flow-log records need.
    #[inline(always)]
    pub fn new(flow_log: bool) -> Observer {
        Observer {
            flow_log,
            ..Default::default()
        }
    }

    #[inline(always)]
    fn at_dst(&mut self, eni: EniIdx, egress: bool) {
        if !egress
            && self.dst_eni.is_none()
            && let Some(c) = self.cur
        {
            self.dst_eni = Some((eni, c));
        }
    }

    /// The per-ENI flow-log records of this packet: `(ENI index, tuple, accepted)`, at most two
    /// (the sending ENI and the receiving one). `ingress` is the port kind it came in on.
    pub fn records(
        &self,
        snap: &Snapshot,
        ingress: Option<PortKind>,
        v: &Verdict,
    ) -> [Option<(EniIdx, Five, bool)>; 2] {
        let mut out = [None, None];
        let (Some(orig), Some(cur)) = (self.orig, self.cur) else {
            return out;
        };
        if flowlog::excluded(snap, &orig) {
            return out;
        }
        let drop = match v {
            // The resolver's answers are never logged.
            Verdict::Answer { .. } => return out,
            Verdict::Forward { .. } => None,
            Verdict::Drop(r) | Verdict::Reply { reason: r, .. } => Some(*r),
        };
        if drop == Some(DropReason::ReservedDestination)
            || matches!(drop, Some(DropReason::Malformed(_)))
        {
            return out;
        }
        let last_nacl = self.n_nacls.checked_sub(1).map(|i| self.nacls[i]);
        // Rejected where the packet is now: by a NACL (which side: its direction), an SG, or a
        // failed source/destination check.
        let nacl_out_deny =
            drop == Some(DropReason::NaclDeny) && last_nacl.is_some_and(|n| n.outbound);
        let nacl_in_deny =
            drop == Some(DropReason::NaclDeny) && last_nacl.is_some_and(|n| !n.outbound);
        if let Some(PortKind::Eni(e)) = ingress {
            let rejected = match drop {
                Some(DropReason::SrcDstCheck) => !self.dst_check_failed,
                Some(DropReason::SgNoAllow) => self.sg.is_some_and(|(x, eg)| eg && x == e),
                Some(DropReason::NaclDeny) => {
                    nacl_out_deny
                        && last_nacl
                            .is_some_and(|n| snap.enis.get(e).is_some_and(|x| x.subnet == n.subnet))
                }
                _ => false,
            };
            out[0] = Some((e, orig, !rejected));
        }
        let dst = match self.dst_eni {
            Some(d) => Some(d),
            // Denied by the destination subnet's inbound NACL before its ENI was reached.
            None if nacl_in_deny => snap.eni_by_ip.get(&cur.dst).map(|&e| (e, cur)),
            None => None,
        };
        if let Some((e, five)) = dst {
            let rejected = match drop {
                Some(DropReason::SgNoAllow) => self.sg.is_some_and(|(x, eg)| !eg && x == e),
                Some(DropReason::NaclDeny) => nacl_in_deny,
                Some(DropReason::SrcDstCheck) => self.dst_check_failed,
                _ => false,
            };
            if out[0].is_none_or(|(s, _, _)| s != e) {
                out[1] = Some((e, five, !rejected));
            }
        }
        out
    }
}
