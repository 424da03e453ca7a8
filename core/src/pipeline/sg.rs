//! Security groups, stateful: an ENI's groups first consult the flow table (keyed per ENI, by
//! the tuple as that ENI sees it; an ICMP error by the tuple of the packet it quotes, built by
//! the same `Tuple::of`), then their rules. A flow the rules allowed is recorded only when the
//! packet is forwarded (`commit_flows`), so drops leave no state behind; whether it is tracked
//! at all is §5's untracked rule.

use super::{Cx, DropReason, Pending, Stage, Step, Tracer};
use crate::flow::conntrack::tcp_flags::{ACK, SYN};
use crate::flow::{Admit, FlowKey, SgFacts, Tuple, is_untracked};
use crate::policy::{L4Match, SgHit, sg_eval};
use crate::snapshot::EniIdx;
use crate::wire::{self, IpProtocol};

impl<T: Tracer> Cx<'_, T> {
    /// The security groups of ENI `e`: a packet of a flow they already allowed passes; otherwise
    /// the rules decide, and an allowed flow is recorded once the packet is forwarded.
    #[inline]
    pub(super) fn sg(&mut self, e: EniIdx, egress: bool) -> Step {
        let zone = self.snap.enis[e].zone;
        let (key, side, hit) = self.touch(e, egress);
        if let Some(f) = hit {
            self.tr.stage(Stage::Flow {
                eni: e,
                egress,
                dir: f.dir,
                state: f.state,
            });
            return Ok(());
        }
        // An ICMP error about a tracked flow of this ENI passes as part of that flow.
        if let Some(q) = wire::quoted_meta(self.buf, &self.m) {
            let (qkey, qside) = FlowKey::from_tuple(zone.0, &Tuple::of(&q));
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
        let hit = hit.ok_or(DropReason::SgNoAllow)?;
        let p = Pending {
            key,
            side,
            eni: e,
            egress,
            hit,
            reply_of_untracked: self.reply_of_untracked(e, egress),
        };
        if let Some(slot) = self.pending.iter_mut().find(|s| s.is_none()) {
            *slot = Some(p);
        }
        Ok(())
    }

    /// Records the flows the rules allowed on this packet's way, tracked unless §5's untracked
    /// rule applies. Called when the packet is forwarded, so drops leave no state behind.
    #[inline]
    pub(super) fn commit_flows(&mut self) -> Step {
        let v6 = self.orig.src.is_ipv6();
        for p in self.pending.iter().flatten() {
            let eni = &self.snap.enis[p.eni];
            let facts = SgFacts {
                proto: self.orig.proto,
                allowed_by_any_peer_rule: self.rule_has_any_peer(p.hit, p.egress),
                opposite_allows_all_from_any: self.opposite_open(p.eni, !p.egress, v6),
                through_tracking_component: self.tracking_component,
            };
            if is_untracked(&facts) || (p.reply_of_untracked && !self.tracking_component) {
                self.tr.stage(Stage::FlowUntracked { eni: p.eni, v6 });
                continue;
            }
            let a = Admit {
                tcp_flags: self.orig.tcp_flags,
                tracked: true,
                // Zones, not indices: they name the same ENI after a reload.
                zones: [eni.zone, eni.zone],
                timeouts: eni.timeouts,
            };
            let h = self
                .flows
                .conns()
                .admit(&p.key, p.side, &a, self.rx.now)
                .map_err(|_| DropReason::FlowTableFull)?;
            self.tr.stage(Stage::FlowNew {
                eni: p.eni,
                state: h.state,
            });
        }
        Ok(())
    }

    /// Whether this packet, which no flow of ENI `e` knows, can be the reply of an untracked
    /// flow the other way: the packet it answers would have been allowed by a rule with peer
    /// 0.0.0.0/0 (::/0), and this direction allows all ports to/from anywhere (§5). Such a
    /// reply is judged by the rules and recorded as nothing, or the untracked flow would become
    /// tracked through its own reply and outlive the removal of its rule. A bare TCP SYN opens
    /// a connection and is never such a reply; ICMP is always tracked.
    fn reply_of_untracked(&self, e: EniIdx, egress: bool) -> bool {
        let m = &self.m;
        let bare_syn = m.tcp_flags & (SYN | ACK) == SYN;
        if !matches!(m.proto, IpProtocol::Tcp | IpProtocol::Udp)
            || (m.proto == IpProtocol::Tcp && bare_syn)
            || !self.opposite_open(e, egress, m.src.is_ipv6())
        {
            return false;
        }
        let mut answered = *m;
        std::mem::swap(&mut answered.src, &mut answered.dst);
        std::mem::swap(&mut answered.sport, &mut answered.dport);
        let eni = &self.snap.enis[e];
        sg_eval(&self.snap.sgs, &eni.sgs, !egress, &answered)
            .is_some_and(|hit| self.rule_has_any_peer(hit, !egress))
    }

    #[inline]
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
    #[inline]
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
}
