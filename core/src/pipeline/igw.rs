//! The internet gateway: stateless 1:1 translation between an ENI's private IPv4 address and
//! its public one (IPv6 addresses are global and pass untranslated).

use super::{Cx, DropReason, Step, Tracer, Verdict, Xlat};
use crate::snapshot::{EniIdx, SubnetIdx};
use crate::wire::Field;
use std::net::IpAddr;

impl<T: Tracer> Cx<'_, T> {
    /// Out to the internet from `subnet`: its NACL, then the sender's public address.
    #[inline]
    pub(super) fn igw_outbound(&mut self, subnet: SubnetIdx) -> Step<Verdict> {
        let snap = self.snap;
        self.nacl(subnet, true)?;
        if let IpAddr::V4(src) = self.m.src {
            let public = snap
                .eni_by_ip
                .get(&IpAddr::V4(src))
                .and_then(|&e| snap.enis[e].public_ip)
                .ok_or(DropReason::NoPublicIp)?;
            self.translate(Xlat::InternetGateway, Field::Src, public, None);
        }
        self.out(snap.internet_port)
    }

    /// In from the internet to ENI `e`'s public address: to its private one.
    #[inline]
    pub(super) fn igw_inbound(&mut self, e: EniIdx) -> Step<Verdict> {
        let Some(IpAddr::V4(private)) = self.snap.enis[e].addrs.first().copied() else {
            return Err(DropReason::NoPublicIpMapping);
        };
        self.translate(Xlat::InternetGateway, Field::Dst, private, None);
        self.deliver(e, None)
    }
}
