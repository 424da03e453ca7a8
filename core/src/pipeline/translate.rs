//! The one in-place translation step the internet gateway, NAT gateway and PrivateLink share:
//! an IPv4 address and optionally the port (ICMP: identifier), checksums updated by the wire
//! layer, the packet's summary kept in step, and a `Translate` stage reported.

use super::{Cx, Stage, Tracer, Xlat};
use crate::wire::{Field, IpProtocol, rewrite};
use std::net::Ipv4Addr;

impl<T: Tracer> Cx<'_, T> {
    /// Rewrites an IPv4 address (and the port / ICMP identifier when `port` is given).
    #[inline]
    pub(super) fn translate(&mut self, by: Xlat, field: Field, to: Ipv4Addr, port: Option<u16>) {
        let icmp = self.m.proto == IpProtocol::Icmp;
        let (from, from_port) = match field {
            Field::Src => (self.m.src, self.m.nat_ports().0),
            Field::Dst if icmp => (self.m.dst, self.m.icmp_id),
            Field::Dst => (self.m.dst, self.m.dport),
        };
        let mode = self.rx.csum;
        rewrite::set_v4_addr(self.buf, &self.m, field, to, mode);
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
            to: (to.into(), to_port),
        });
    }
}
