//! The internet gateway: stateless 1:1 translation between each private IPv4 address of an ENI
//! and the public one mapped to it (IPv6 addresses are global and pass untranslated). A packet to
//! another instance's public address hairpins: out through the gateway, translated, and back in.
//! A detached gateway carries nothing (its routes are blackholes, `config::resolve`).

use super::{Cx, DropReason, Stage, Step, Tracer, Verdict, Xlat};
use crate::snapshot::{EniIdx, SubnetIdx};
use crate::wire::Field;
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// Out to the internet from `subnet`: its NACL, then the sender's public address (the one
    /// mapped to the very private address it sends from).
    #[inline]
    pub(super) fn igw_outbound(&mut self, subnet: SubnetIdx) -> Step<Verdict> {
        let snap = self.snap;
        self.nacl(subnet, true)?;
        if let IpAddr::V4(src) = self.m.src {
            let public = snap
                .eni_by_ip
                .get(&IpAddr::V4(src))
                .and_then(|&e| snap.enis[e].public_of(src))
                .ok_or(DropReason::NoPublicIp)?;
            self.translate(Xlat::InternetGateway, Field::Src, public, None);
            if let IpAddr::V4(dst) = self.m.dst
                && let Some(&e) = snap.eni_by_public.get(&dst)
            {
                self.tr.stage(Stage::Hairpin { eni: e });
                return self.igw_inbound(e);
            }
        }
        self.out(snap.internet_port)
    }

    /// In from the internet (or a hairpin) to ENI `e`'s public address: to the private address
    /// mapped to it.
    #[inline]
    pub(super) fn igw_inbound(&mut self, e: EniIdx) -> Step<Verdict> {
        let IpAddr::V4(public) = self.m.dst else {
            return Err(DropReason::NoPublicIpMapping);
        };
        let private = self.snap.enis[e]
            .private_of(public)
            .ok_or(DropReason::NoPublicIpMapping)?;
        self.translate(Xlat::InternetGateway, Field::Dst, private, None);
        self.deliver(e, None)
    }
}
