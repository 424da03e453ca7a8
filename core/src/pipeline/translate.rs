//! The one in-place translation step the internet gateway, NAT gateway and PrivateLink share:
//! an address of the packet's own family (IPv4; IPv6 for PrivateLink) and optionally the port (ICMP: identifier), checksums updated by the wire
//! layer, the packet's summary kept in step, and a `Translate` stage reported.

use super::{Cx, Stage, Tracer, Xlat};
use crate::wire::{Field, IpProtocol, rewrite};
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// Rewrites an address (and the port / ICMP identifier when `port` is given). Callers
    /// check the family first: `to` of the other family is a translation (`xlat46`), and is
    /// refused here as a last guard, before any byte changes.
    #[inline]
    pub(super) fn translate(
        &mut self,
        by: Xlat,
        field: Field,
        to: impl Into<IpAddr>,
        port: Option<u16>,
    ) {
        let to: IpAddr = to.into();
        if to.is_ipv4() != self.m.dst.is_ipv4() {
            debug_assert!(false, "translate across families: {to} for {}", self.m.dst);
            return;
        }
        let icmp = self.m.proto == IpProtocol::Icmp;
        let (from, from_port) = match field {
            Field::Src => (self.m.src, self.m.nat_ports().0),
            Field::Dst if icmp => (self.m.dst, self.m.icmp_id),
            Field::Dst => (self.m.dst, self.m.dport),
        };
        let mode = self.rx.csum;
        rewrite::set_addr(self.buf, &self.m, field, to, mode);
        match field {
            Field::Src => self.m.src = to,
            Field::Dst => self.m.dst = to,
        }
        let to_port = port.unwrap_or(from_port);
        if let Some(p) = port {
            if icmp {
                rewrite::set_icmp_id(self.buf, &self.m, p);
                self.m.icmp_id = p;
            } else {
                rewrite::set_port(self.buf, &self.m, field, p, mode);
                match field {
                    Field::Src => self.m.sport = p,
                    Field::Dst => self.m.dport = p,
                }
            }
        }
        self.translated_by = Some(by);
        self.tr.stage(Stage::Translate {
            by,
            field,
            from: (from, from_port),
            to: (to, to_port),
        });
    }
}
