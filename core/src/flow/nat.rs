//! NAT gateway state (vpc-semantics §7): source translation to one of the gateway's addresses
//! (up to 8) with a port from 1024–65535, at most 55,000 bindings per destination per
//! address, 350 s idle timeout, ICMP echo by identifier, and a RST for a TCP segment whose
//! binding idled out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering::Relaxed;

use super::Time;
use super::key::addr_bits;
use super::xlat::{Inside, Outbound, XlatTable};
use crate::wire::IpProtocol;

/// Fixed idle timeout of a NAT gateway binding.
pub const NAT_IDLE_SECS: u64 = 350;
/// Addresses a gateway may have.
pub const MAX_NAT_ADDRESSES: usize = 8;

/// An inside packet as the NAT gateway sees it. ICMP echo: `sport` is the identifier,
/// `dport` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatFlow {
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub proto: IpProtocol,
}

/// Outcome of an inside packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatOut {
    /// Rewrite the source to `addr:port` (ICMP: the identifier to `port`).
    Translate {
        addr: Ipv4Addr,
        port: u16,
        new: bool,
    },
    /// `NAT_IDLE_TIMEOUT`: drop and send a RST (see [`crate::wire::emit::tcp_rst`]).
    IdleTimedOut,
    /// `NAT_PORT_ALLOCATION`.
    PortAllocation,
    /// `FLOW_TABLE_FULL`.
    TableFull,
}

/// Counter values of the NAT state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatStats {
    pub active: u64,
    pub inserts: u64,
    pub expiries: u64,
    pub refusals: u64,
    pub port_allocation_errors: u64,
    pub idle_timeouts: u64,
}

/// Bindings of every NAT gateway (their addresses are distinct, so one table serves all).
pub struct NatTable {
    pub(super) t: XlatTable,
}

impl NatTable {
    pub fn new(max_entries: usize, shards: usize, seed: u64) -> NatTable {
        NatTable {
            t: XlatTable::new(max_entries, shards, seed, NAT_IDLE_SECS, true),
        }
    }

    /// An inside packet leaving through the gateway whose addresses are `addrs` (at most
    /// [`MAX_NAT_ADDRESSES`] are used). `tcp_flags` is 0 for UDP/ICMP.
    pub fn outbound(&self, f: &NatFlow, addrs: &[Ipv4Addr], tcp_flags: u8, now: Time) -> NatOut {
        self.outbound_from(addr_bits(f.src.into()), f, addrs, tcp_flags, now)
    }

    /// NAT64: an IPv6 inside host `src` (its translated flow `f`, whose `src` is ignored)
    /// leaving through the gateway. Replies find it through [`NatTable::inbound_any`].
    pub fn outbound64(
        &self,
        src: Ipv6Addr,
        f: &NatFlow,
        addrs: &[Ipv4Addr],
        tcp_flags: u8,
        now: Time,
    ) -> NatOut {
        self.outbound_from(addr_bits(src.into()), f, addrs, tcp_flags, now)
    }

    fn outbound_from(
        &self,
        src: u128,
        f: &NatFlow,
        addrs: &[Ipv4Addr],
        tcp_flags: u8,
        now: Time,
    ) -> NatOut {
        let mut ext = [0u128; MAX_NAT_ADDRESSES];
        let n = addrs.len().min(MAX_NAT_ADDRESSES);
        for (e, a) in ext.iter_mut().zip(addrs) {
            *e = addr_bits((*a).into());
        }
        let k = Inside {
            src,
            dst: addr_bits(f.dst.into()),
            sport: f.sport,
            dport: f.dport,
            proto: f.proto,
            zone: 0,
        };
        match self
            .t
            .outbound(&k, k.dst, f.dport, &ext[..n], tcp_flags, now)
        {
            Outbound::Mapped { binding, new } => NatOut::Translate {
                addr: v4(binding.ext),
                port: binding.ext_port,
                new,
            },
            Outbound::IdleTimedOut => NatOut::IdleTimedOut,
            Outbound::PortAllocation => NatOut::PortAllocation,
            Outbound::TableFull => NatOut::TableFull,
        }
    }

    /// NAT64: the gateway address and port of IPv6 inside host `src`'s live flow `f` (whose
    /// `src` is ignored), looked up without allocating (an ICMPv6 error the host sends about
    /// the flow is translated with it).
    pub fn binding64(&self, src: Ipv6Addr, f: &NatFlow, now: Time) -> Option<(Ipv4Addr, u16)> {
        let k = Inside {
            src: addr_bits(src.into()),
            dst: addr_bits(f.dst.into()),
            sport: f.sport,
            dport: f.dport,
            proto: f.proto,
            zone: 0,
        };
        let b = self.t.lookup(&k, k.dst, f.dport, now)?;
        Some((v4(b.ext), b.ext_port))
    }

    /// A reply from `remote:rport` to `nat_addr:nat_port`: the inside `(address, port)` to
    /// write as destination, or `None` (`UNSOLICITED`).
    pub fn inbound(
        &self,
        remote: Ipv4Addr,
        rport: u16,
        nat_addr: Ipv4Addr,
        nat_port: u16,
        proto: IpProtocol,
        now: Time,
    ) -> Option<(Ipv4Addr, u16)> {
        match self.inbound_any(remote, rport, nat_addr, nat_port, proto, now)? {
            (IpAddr::V4(a), port) => Some((a, port)),
            (IpAddr::V6(_), _) => None,
        }
    }

    /// The reply's inside host for IPv4 and NAT64 (IPv6) bindings alike; [`NatTable::inbound`]
    /// is its IPv4-only view (a NAT64 binding is not an IPv4 host).
    pub fn inbound_any(
        &self,
        remote: Ipv4Addr,
        rport: u16,
        nat_addr: Ipv4Addr,
        nat_port: u16,
        proto: IpProtocol,
        now: Time,
    ) -> Option<(IpAddr, u16)> {
        let (k, _) = self.t.inbound(
            addr_bits(remote.into()),
            rport,
            addr_bits(nat_addr.into()),
            nat_port,
            proto,
            now,
        )?;
        let a = Ipv6Addr::from(k.src);
        Some((
            a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
            k.sport,
        ))
    }

    pub fn sweep(&self, now: Time, budget: usize) -> usize {
        self.t.sweep(now, budget)
    }

    /// Every live binding: `f(inside flow, external address, external port, expiry)`.
    pub fn for_each(&self, now: Time, mut f: impl FnMut(&NatFlow, Ipv4Addr, u16, Time)) {
        self.t.for_each(now, |k, b| {
            let flow = NatFlow {
                src: v4(k.src),
                sport: k.sport,
                dst: v4(k.dst),
                dport: k.dport,
                proto: k.proto,
            };
            f(&flow, v4(b.ext), b.ext_port, b.expires);
        });
    }

    /// Ports in use per destination, summed over shards: `(external address, destination,
    /// destination port, protocol) → ports`.
    pub fn ports_per_destination(&self) -> Vec<((Ipv4Addr, Ipv4Addr, u16, IpProtocol), u32)> {
        let mut m: std::collections::BTreeMap<(Ipv4Addr, Ipv4Addr, u16, IpProtocol), u32> =
            Default::default();
        self.t.for_each_destination(|ext, remote, rport, proto, n| {
            *m.entry((v4(ext), v4(remote), rport, proto)).or_default() += n;
        });
        m.into_iter().collect()
    }

    pub fn stats(&self) -> NatStats {
        let c = &self.t.counters;
        NatStats {
            active: self.t.len() as u64,
            inserts: c.inserts.load(Relaxed),
            expiries: c.expiries.load(Relaxed),
            refusals: c.refusals.load(Relaxed),
            port_allocation_errors: c.port_allocation_errors.load(Relaxed),
            idle_timeouts: c.idle_timeouts.load(Relaxed),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.t.memory_bytes()
    }

    pub fn max_entries(&self) -> usize {
        self.t.max_entries()
    }
}

fn v4(bits: u128) -> Ipv4Addr {
    std::net::Ipv6Addr::from(bits)
        .to_ipv4_mapped()
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}
