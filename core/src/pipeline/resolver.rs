//! The Amazon-provided DNS resolver, at VPC base + 2, 169.254.169.253 and (VPCs with IPv6)
//! fd00:ec2::253: a packet for it is
//! neither filtered by security groups or NACLs nor flow-logged, and never forwarded. The
//! resolver answers it in place (the answer overwrites the query in the packet buffer) from the
//! snapshot's name table, the asking subnet's Availability Zone first, with DNS64 where the
//! subnet has `EnableDns64` (`dns`).

use super::{Cx, DropReason, MalformedKind, ReplyKind, Stage, Step, Tracer, Verdict};
use crate::dns;
use crate::snapshot::EniIdx;
use crate::wire::{IpProtocol, emit, udp};
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// Whether the packet is a DNS query (UDP, port 53) to the resolver.
    #[inline]
    pub(super) fn for_resolver(&self) -> bool {
        self.m.proto == IpProtocol::Udp
            && self.m.dport == udp::DNS_PORT
            && !self.m.fragment
            && match self.m.dst {
                IpAddr::V4(d) => self.snap.resolver_addrs.contains(&d),
                IpAddr::V6(d) => self.snap.resolver_v6 == Some(d),
            }
    }

    /// Answers the query ENI `e` sent; a datagram that holds no DNS query is dropped.
    #[cold]
    pub(super) fn resolver(&mut self, e: EniIdx) -> Step<Verdict> {
        self.tr.stage(Stage::Resolver { eni: e });
        let snap = self.snap;
        let m = self.m;
        let subnet = &snap.subnets[snap.enis[e].subnet];
        let az = subnet.az.as_deref();
        let query = self
            .buf
            .get(m.l4_offset + udp::HEADER_LEN..m.len)
            .unwrap_or_default();
        let bad = DropReason::Malformed(MalformedKind::BadL4Header);
        let answer = dns::answer(&snap.dns, query, az, subnet.dns64).ok_or(bad)?;
        let len = emit::udp((m.dst, m.dport), (m.src, m.sport), &answer, self.buf).ok_or(bad)?;
        Ok(Verdict::Answer {
            egress: self.rx.ingress,
            len,
            kind: ReplyKind::Dns,
        })
    }
}
