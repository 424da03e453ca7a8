//! PrivateLink state (vpc-semantics §4): a consumer's flow to an endpoint ENI is sent to one of
//! the service's targets (chosen by flow hash, stable for the flow) with its source translated
//! to one of the load balancer's addresses and an allocated port; replies are translated back.
//! Only consumers open flows: a packet from the provider side without binding is unsolicited.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

use super::Time;
use super::key::{addr_bits, bits_addr, hash_words};
use super::xlat::{Inside, Outbound, XlatTable};
use crate::wire::IpProtocol;

/// Idle timeout of an endpoint flow (AWS documents 350 s for interface endpoints).
pub const PRIVATELINK_IDLE_SECS: u64 = 350;
/// Load balancer addresses considered per service.
pub const MAX_LB_ADDRESSES: usize = 16;

/// A consumer's packet to an endpoint: `src:sport → endpoint:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlFlow {
    pub src: IpAddr,
    pub sport: u16,
    pub endpoint: IpAddr,
    pub port: u16,
    pub proto: IpProtocol,
    /// Consumer VPC (consumer address spaces may overlap).
    pub zone: u16,
}

/// Where a consumer's packet goes on the provider side: `lb:lb_port → target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlOut {
    pub target: (IpAddr, u16),
    pub lb: IpAddr,
    pub lb_port: u16,
    pub new: bool,
}

/// Why a consumer's packet could not be translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlError {
    /// No target or no load balancer address.
    NoTarget,
    PortAllocation,
    TableFull,
}

/// A reply translated back: deliver `endpoint:port → consumer:cport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlBack {
    pub consumer: IpAddr,
    pub cport: u16,
    pub endpoint: IpAddr,
    pub port: u16,
    pub zone: u16,
}

/// Chooses a target by rendezvous hashing of the flow: stable for the flow, and a change of
/// the target list moves only the flows of targets that were added or removed.
pub fn pick_target(f: &PlFlow, targets: &[(IpAddr, u16)], seed: u64) -> Option<usize> {
    let (s, e) = (addr_bits(f.src), addr_bits(f.endpoint));
    let fh = hash_words(
        seed,
        &[
            s as u64,
            (s >> 64) as u64,
            e as u64,
            (e >> 64) as u64,
            u64::from(f.sport)
                | u64::from(f.port) << 16
                | u64::from(f.proto.number()) << 32
                | u64::from(f.zone) << 40,
        ],
    );
    targets
        .iter()
        .enumerate()
        .max_by_key(|(_, (a, p))| {
            let t = addr_bits(*a);
            hash_words(fh, &[t as u64, (t >> 64) as u64, u64::from(*p)])
        })
        .map(|(i, _)| i)
}

/// Bindings of every interface endpoint.
pub struct PrivateLinkTable {
    t: XlatTable,
    seed: u64,
}

impl PrivateLinkTable {
    pub fn new(max_entries: usize, shards: usize, seed: u64) -> PrivateLinkTable {
        PrivateLinkTable {
            t: XlatTable::new(max_entries, shards, seed, PRIVATELINK_IDLE_SECS, false),
            seed,
        }
    }

    /// A consumer's packet: its target and translated source.
    pub fn outbound(
        &self,
        f: &PlFlow,
        targets: &[(IpAddr, u16)],
        lbs: &[IpAddr],
        now: Time,
    ) -> Result<PlOut, PlError> {
        let ti = pick_target(f, targets, self.seed).ok_or(PlError::NoTarget)?;
        let target = targets[ti];
        let mut ext = [0u128; MAX_LB_ADDRESSES];
        let n = lbs.len().min(MAX_LB_ADDRESSES);
        if n == 0 {
            return Err(PlError::NoTarget);
        }
        for (e, a) in ext.iter_mut().zip(lbs) {
            *e = addr_bits(*a);
        }
        let k = Inside {
            src: addr_bits(f.src),
            dst: addr_bits(f.endpoint),
            sport: f.sport,
            dport: f.port,
            proto: f.proto,
            zone: f.zone,
        };
        let v6 = target.0.is_ipv6();
        match self
            .t
            .outbound(&k, addr_bits(target.0), target.1, &ext[..n], 0, now)
        {
            Outbound::Mapped { binding, new } => Ok(PlOut {
                target,
                lb: bits_addr(binding.ext, v6),
                lb_port: binding.ext_port,
                new,
            }),
            Outbound::PortAllocation => Err(PlError::PortAllocation),
            Outbound::TableFull | Outbound::IdleTimedOut => Err(PlError::TableFull),
        }
    }

    /// A provider's reply `target:tport → lb:lb_port`.
    pub fn inbound(
        &self,
        target: (IpAddr, u16),
        lb: IpAddr,
        lb_port: u16,
        proto: IpProtocol,
        now: Time,
    ) -> Option<PlBack> {
        let (k, _) = self.t.inbound(
            addr_bits(target.0),
            target.1,
            addr_bits(lb),
            lb_port,
            proto,
            now,
        )?;
        // `bits_addr(_, false)` gives IPv4 for a mapped address, IPv6 otherwise.
        Some(PlBack {
            consumer: bits_addr(k.src, false),
            cport: k.sport,
            endpoint: bits_addr(k.dst, false),
            port: k.dport,
            zone: k.zone,
        })
    }

    pub fn sweep(&self, now: Time, budget: usize) -> usize {
        self.t.sweep(now, budget)
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// New translations refused because the table was full (`FLOW_TABLE_FULL`).
    pub fn refusals(&self) -> u64 {
        self.t.counters.refusals.load(Relaxed)
    }

    pub fn port_allocation_errors(&self) -> u64 {
        self.t.counters.port_allocation_errors.load(Relaxed)
    }

    pub fn memory_bytes(&self) -> usize {
        self.t.memory_bytes()
    }
}
