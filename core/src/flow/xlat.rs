//! The address-and-port translation table behind the NAT gateway and PrivateLink: a forward
//! map (inside tuple → binding), a reverse map (what a reply carries → inside tuple), a count
//! of bindings per (external address, destination) and, for the NAT gateway, tombstones of
//! TCP bindings that idled out.
//!
//! Sharding is by the *inside tuple*, and each shard owns one residue class of the
//! translated ports (shard `i` of `n` hands out the ports `p` with `(p - 1024) % n == i`): the
//! forward key (inside tuple) and the reverse key (whose external port names the shard) meet
//! in one shard, so one shard lock covers a binding, its reverse entry and its tombstone. The
//! flows to one destination spread over every shard, so one destination can hold AWS's 55,000
//! connections per address whatever the shard count (an earlier design sharded by
//! destination, and one destination got only a shard's share of the bound: issue 17).
//!
//! The per-destination count (the 55,000 limit) is global: a separate map of counters,
//! sharded by destination, locked *inside* a shard lock and never the other way round (no
//! lock-order cycle). Each counter also keeps per-shard counts, so a shard whose quarter of
//! the ports towards a destination is taken knows it without walking them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::fixedmap::FixedMap;
use super::key::hash_words;
use super::{Dur, Time};
use crate::wire::IpProtocol;
use crate::wire::tcp::flags::{ACK, SYN};

/// Lowest translated source port (vpc-semantics §7: 1024–65535).
pub const PORT_LO: u16 = 1024;
const PORT_SPAN: u64 = 65536 - PORT_LO as u64;
/// Most simultaneous bindings per (external address, destination address, port, protocol).
pub const MAX_PER_DESTINATION: u32 = 55_000;
/// How long a TCP tombstone is kept.
pub const TOMBSTONE_SECS: u64 = 3600;
const SWEEP_PER_OP: usize = 8;
const SWEEP_WHEN_FULL: usize = 512;
/// Most shards of a translation table: each owns `64512 / n` ports towards a destination,
/// and 55,000 spread over `n` shards by a hash need headroom in every class (at 8, a class of
/// 8,064 ports takes ~6,875 ± 78 of them).
pub const MAX_SHARDS: usize = 8;
/// Shards of the per-destination counters.
const DEST_SHARDS: usize = 16;

/// A packet's tuple before translation (the inside view). For ICMP queries `sport` is the
/// identifier and `dport` 0. Addresses are [`super::key::addr_bits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inside {
    pub src: u128,
    pub dst: u128,
    pub sport: u16,
    pub dport: u16,
    pub proto: IpProtocol,
    pub zone: u16,
}

impl Inside {
    fn words(&self) -> [u64; 5] {
        [
            self.src as u64,
            (self.src >> 64) as u64 ^ (self.dst >> 64) as u64,
            self.dst as u64,
            u64::from(self.sport) | u64::from(self.dport) << 16 | u64::from(self.zone) << 32,
            u64::from(self.proto.number()),
        ]
    }
}

/// What a reply carries: from `remote:rport` to `ext:eport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outside {
    pub remote: u128,
    pub ext: u128,
    pub rport: u16,
    pub eport: u16,
    pub proto: IpProtocol,
}

impl Outside {
    fn hash(&self, seed: u64) -> u64 {
        hash_words(
            seed,
            &[
                self.remote as u64,
                self.ext as u64,
                (self.remote >> 64) as u64 ^ (self.ext >> 64) as u64,
                u64::from(self.rport)
                    | u64::from(self.eport) << 16
                    | u64::from(self.proto.number()) << 32,
            ],
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DestKey {
    ext: u128,
    remote: u128,
    rport: u16,
    proto: IpProtocol,
}

impl DestKey {
    fn hash(&self, seed: u64) -> u64 {
        hash_words(
            seed ^ 0x5bd1_e995,
            &[
                self.ext as u64,
                self.remote as u64,
                (self.remote >> 64) as u64 ^ (self.ext >> 64) as u64,
                u64::from(self.rport) | u64::from(self.proto.number()) << 16,
            ],
        )
    }
}

/// A translation: the packet leaves as `ext:ext_port → remote:remote_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub ext: u128,
    pub ext_port: u16,
    pub remote: u128,
    pub remote_port: u16,
    pub expires: Time,
}

/// Result of an outbound (inside → outside) packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// The flow's binding (refreshed); `new` if this packet created it.
    Mapped { binding: Binding, new: bool },
    /// TCP segment of a binding that idled out: drop and answer with a RST.
    IdleTimedOut,
    /// No free port towards this destination on any external address.
    PortAllocation,
    /// The table's bound is reached.
    TableFull,
}

/// What a table does with a packet that has no binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissAction {
    Allocate,
    /// Drop, count an idle timeout and send a RST.
    IdleTimeoutRst,
}

/// The NAT gateway's rule for an inside packet without binding: a TCP segment that is not a
/// fresh SYN on a tuple whose binding idled out gets a RST; anything else opens a binding.
pub fn miss_action(proto: IpProtocol, tcp_flags: u8, tombstoned: bool) -> MissAction {
    let fresh_syn = tcp_flags & SYN != 0 && tcp_flags & ACK == 0;
    if proto == IpProtocol::Tcp && tombstoned && !fresh_syn {
        MissAction::IdleTimeoutRst
    } else {
        MissAction::Allocate
    }
}

/// Bindings towards one (external address, destination): in all, and per shard.
#[derive(Debug, Clone, Copy, Default)]
struct DestCount {
    total: u32,
    per_shard: [u16; MAX_SHARDS],
}

struct Shard {
    fwd: FixedMap<Inside, Binding>,
    rev: FixedMap<Outside, Inside>,
    tombs: FixedMap<Inside, Time>,
    cursor: usize,
    tomb_cursor: usize,
}

/// The per-destination counters, sharded by destination (locked inside a [`Shard`] lock).
struct Dests {
    shards: Box<[Mutex<FixedMap<DestKey, DestCount>>]>,
}

impl Dests {
    fn new(max_entries: usize) -> Dests {
        // Distinct destinations spread by a hash: a little headroom over the even share, so
        // a shard of counters does not refuse a new destination long before the bound.
        let share = max_entries.div_ceil(DEST_SHARDS);
        let limit = if share == 0 { 0 } else { share + share / 8 + 8 };
        Dests {
            shards: (0..DEST_SHARDS)
                .map(|_| Mutex::new(FixedMap::with_limit(limit)))
                .collect(),
        }
    }

    fn lock(&self, h: u64) -> std::sync::MutexGuard<'_, FixedMap<DestKey, DestCount>> {
        self.shards[(h as usize) % DEST_SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// One binding of shard `shard` towards `d` released.
    fn release(&self, seed: u64, d: &DestKey, shard: usize) {
        let dh = d.hash(seed);
        let mut m = self.lock(dh);
        if let Some(i) = m.find(dh, d) {
            let c = m.at_mut(i).expect("found");
            c.total = c.total.saturating_sub(1);
            c.per_shard[shard] = c.per_shard[shard].saturating_sub(1);
            if c.total == 0 {
                m.remove_at(i);
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()).memory_bytes())
            .sum()
    }
}

/// Counters (relaxed atomics).
#[derive(Debug, Default)]
pub struct XlatCounters {
    pub inserts: AtomicU64,
    pub expiries: AtomicU64,
    pub refusals: AtomicU64,
    /// `ErrorPortAllocation`.
    pub port_allocation_errors: AtomicU64,
    /// Packets refused with a RST because their binding idled out.
    pub idle_timeouts: AtomicU64,
    /// Tombstones not recorded because the tombstone map was full.
    pub tombstones_dropped: AtomicU64,
}

/// Sharded translation table (see the module docs).
pub struct XlatTable {
    shards: Box<[Mutex<Shard>]>,
    shard_mask: u64,
    dests: Dests,
    seed: u64,
    idle: Dur,
    tombstones: bool,
    max_entries: usize,
    /// When expired bindings were last reclaimed for an exhausted destination (nanoseconds
    /// + 1; 0: never).
    last_reclaim: AtomicU64,
    pub counters: XlatCounters,
}

struct Release<'a> {
    rev: &'a mut FixedMap<Outside, Inside>,
    dests: &'a Dests,
    shard: usize,
    tombs: &'a mut FixedMap<Inside, Time>,
    seed: u64,
    tombstones: bool,
    counters: &'a XlatCounters,
}

impl Release<'_> {
    /// Undoes everything a binding holds besides its forward entry.
    fn release(&mut self, k: Inside, b: Binding, now: Time) {
        let o = Outside {
            remote: b.remote,
            ext: b.ext,
            rport: b.remote_port,
            eport: b.ext_port,
            proto: k.proto,
        };
        self.rev.remove(o.hash(self.seed), &o);
        let d = DestKey {
            ext: b.ext,
            remote: b.remote,
            rport: b.remote_port,
            proto: k.proto,
        };
        self.dests.release(self.seed, &d, self.shard);
        self.counters.expiries.fetch_add(1, Relaxed);
        if self.tombstones && k.proto == IpProtocol::Tcp {
            let th = hash_words(self.seed ^ 1, &k.words());
            let until = now.max(b.expires) + Dur::from_secs(TOMBSTONE_SECS);
            if let Some(t) = self.tombs.get_mut(th, &k) {
                *t = until;
            } else if self.tombs.insert_new(th, k, until).is_err() {
                self.counters.tombstones_dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

impl XlatTable {
    /// `max_entries` bindings over `shards` shards (rounded up to a power of two, at most
    /// [`MAX_SHARDS`]); bindings idle out after `idle_secs`; `tombstones` keeps a trace of
    /// TCP bindings that idled out (bounded to 1/4 of the bound).
    pub fn new(
        max_entries: usize,
        shards: usize,
        seed: u64,
        idle_secs: u64,
        tombstones: bool,
    ) -> XlatTable {
        let n = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let share = max_entries.div_ceil(n);
        let tomb_share = if tombstones { share.div_ceil(4) } else { 0 };
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    fwd: FixedMap::with_limit(share),
                    rev: FixedMap::with_limit(share),
                    tombs: FixedMap::with_limit(tomb_share),
                    cursor: 0,
                    tomb_cursor: 0,
                })
            })
            .collect();
        XlatTable {
            shards,
            shard_mask: (n - 1) as u64,
            dests: Dests::new(max_entries),
            seed,
            idle: Dur::from_secs(idle_secs),
            tombstones,
            max_entries: share * n,
            last_reclaim: AtomicU64::new(0),
            counters: XlatCounters::default(),
        }
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Shards (a power of two, at most [`MAX_SHARDS`]).
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        // A worker that panicked mid-update leaves only counters possibly stale: keep going.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shard of an inside tuple whose forward hash is `fh` (its low bits; `FixedMap`
    /// places by the high bits).
    fn shard_of_inside(&self, fh: u64) -> usize {
        (fh & self.shard_mask) as usize
    }

    /// The shard that handed out external port `eport`, or `None` below [`PORT_LO`] (no
    /// binding has such a port).
    fn shard_of_port(&self, eport: u16) -> Option<usize> {
        let p = eport.checked_sub(PORT_LO)?;
        Some((u64::from(p) & self.shard_mask) as usize)
    }

    /// Translates an inside packet going to `remote:rport` (for the NAT gateway the original
    /// destination; for PrivateLink the chosen target). A new binding takes an external
    /// address from `exts` (the first tried picked by flow hash, then the next ones) and a
    /// port free towards that destination. `tcp_flags` decides, with the tombstones, whether
    /// a miss allocates.
    ///
    /// Bindings that idled out still count towards a destination's 55,000 until a sweep
    /// releases them; so before answering `PortAllocation` the table sweeps every shard once
    /// and tries again — at most once a second (of `now`), so a flood towards an exhausted
    /// destination cannot make every packet pay a full sweep.
    pub fn outbound(
        &self,
        k: &Inside,
        remote: u128,
        rport: u16,
        exts: &[u128],
        tcp_flags: u8,
        now: Time,
    ) -> Outbound {
        let mut r = self.outbound_once(k, remote, rport, exts, tcp_flags, now);
        if r == Outbound::PortAllocation && !exts.is_empty() && self.reclaim_due(now) {
            self.sweep(now, usize::MAX);
            r = self.outbound_once(k, remote, rport, exts, tcp_flags, now);
        }
        if r == Outbound::PortAllocation {
            self.counters.port_allocation_errors.fetch_add(1, Relaxed);
        }
        r
    }

    /// Whether an exhausted destination may sweep every shard now (claims the turn).
    fn reclaim_due(&self, now: Time) -> bool {
        let last = self.last_reclaim.load(Relaxed);
        let due = last == 0 || now.0.saturating_add(1) >= last.saturating_add(Dur::from_secs(1).0);
        due && self
            .last_reclaim
            .compare_exchange(last, now.0.saturating_add(1), Relaxed, Relaxed)
            .is_ok()
    }

    /// [`XlatTable::outbound`] without the reclaim; does not count `PortAllocation`.
    fn outbound_once(
        &self,
        k: &Inside,
        remote: u128,
        rport: u16,
        exts: &[u128],
        tcp_flags: u8,
        now: Time,
    ) -> Outbound {
        let seed = self.seed;
        let fh = hash_words(seed, &k.words());
        let si = self.shard_of_inside(fh);
        let mut guard = self.lock(si);
        let Shard {
            fwd,
            rev,
            tombs,
            cursor,
            tomb_cursor,
        } = &mut *guard;
        let mut rel = Release {
            rev,
            dests: &self.dests,
            shard: si,
            tombs,
            seed,
            tombstones: self.tombstones,
            counters: &self.counters,
        };
        if let Some(i) = fwd.find(fh, k) {
            let b = fwd.at_mut(i).expect("found");
            if now < b.expires && b.remote == remote && b.remote_port == rport {
                b.expires = now + self.idle;
                return Outbound::Mapped {
                    binding: *b,
                    new: false,
                };
            }
            // Idled out (or its target changed): release it, then treat as a miss.
            let (k0, b0) = fwd.remove_at(i).expect("found");
            rel.release(k0, b0, now);
        }
        // Steady-state expiry, a few slots per allocation.
        let budget = if fwd.is_full() {
            SWEEP_WHEN_FULL
        } else {
            SWEEP_PER_OP
        };
        fwd.sweep(
            cursor,
            budget,
            |_, b| now >= b.expires,
            |k0, b0| rel.release(k0, b0, now),
        );
        rel.tombs
            .sweep(tomb_cursor, SWEEP_PER_OP, |_, t| now >= *t, |_, _| {});

        let th = hash_words(seed ^ 1, &k.words());
        let tombstoned = rel.tombs.get_mut(th, k).is_some_and(|t| now < *t);
        if miss_action(k.proto, tcp_flags, tombstoned) == MissAction::IdleTimeoutRst {
            self.counters.idle_timeouts.fetch_add(1, Relaxed);
            return Outbound::IdleTimedOut;
        }
        if fwd.is_full() || rel.rev.is_full() {
            self.counters.refusals.fetch_add(1, Relaxed);
            return Outbound::TableFull;
        }
        if exts.is_empty() {
            return Outbound::PortAllocation;
        }
        let n_shards = self.shards.len();
        let class = (PORT_SPAN / n_shards as u64) as u16;
        let first = (fh % exts.len() as u64) as usize;
        for n in 0..exts.len() {
            let ext = exts[(first + n) % exts.len()];
            let d = DestKey {
                ext,
                remote,
                rport,
                proto: k.proto,
            };
            let dh = d.hash(seed);
            let mut counts = self.dests.lock(dh);
            let slot = counts.find(dh, &d);
            let used = slot
                .and_then(|i| counts.at(i))
                .map_or(DestCount::default(), |(_, c)| *c);
            if used.total >= MAX_PER_DESTINATION || used.per_shard[si] >= class {
                continue;
            }
            let Some(port) =
                free_port(rel.rev, seed, fh, si, n_shards, ext, remote, rport, k.proto)
            else {
                continue;
            };
            match slot {
                Some(i) => {
                    let c = counts.at_mut(i).expect("found");
                    c.total += 1;
                    c.per_shard[si] += 1;
                }
                None => {
                    let mut c = DestCount {
                        total: 1,
                        ..DestCount::default()
                    };
                    c.per_shard[si] = 1;
                    if counts.insert_new(dh, d, c).is_err() {
                        self.counters.refusals.fetch_add(1, Relaxed);
                        return Outbound::TableFull;
                    }
                }
            }
            drop(counts);
            let o = Outside {
                remote,
                ext,
                rport,
                eport: port,
                proto: k.proto,
            };
            let binding = Binding {
                ext,
                ext_port: port,
                remote,
                remote_port: rport,
                expires: now + self.idle,
            };
            // Both maps have room: checked above under the same lock.
            let _ = rel.rev.insert_new(o.hash(seed), o, *k);
            let _ = fwd.insert_new(fh, *k, binding);
            if tombstoned {
                rel.tombs.remove(th, k);
            }
            self.counters.inserts.fetch_add(1, Relaxed);
            return Outbound::Mapped { binding, new: true };
        }
        Outbound::PortAllocation
    }

    /// The live binding of inside tuple `k` towards `remote:rport`, looked up only: nothing
    /// allocated, refreshed or released (an ICMP error about the flow is no sign of life).
    pub fn lookup(&self, k: &Inside, remote: u128, rport: u16, now: Time) -> Option<Binding> {
        let fh = hash_words(self.seed, &k.words());
        let guard = self.lock(self.shard_of_inside(fh));
        let (_, b) = guard.fwd.at(guard.fwd.find(fh, k)?)?;
        (now < b.expires && b.remote == remote && b.remote_port == rport).then_some(*b)
    }

    /// A reply `remote:rport → ext:eport`: the inside tuple it belongs to and its binding
    /// (refreshed), or `None` (unsolicited, or idled out).
    pub fn inbound(
        &self,
        remote: u128,
        rport: u16,
        ext: u128,
        eport: u16,
        proto: IpProtocol,
        now: Time,
    ) -> Option<(Inside, Binding)> {
        let si = self.shard_of_port(eport)?;
        let mut guard = self.lock(si);
        let Shard {
            fwd, rev, tombs, ..
        } = &mut *guard;
        let o = Outside {
            remote,
            ext,
            rport,
            eport,
            proto,
        };
        let k = *rev.get_mut(o.hash(self.seed), &o)?;
        let fh = hash_words(self.seed, &k.words());
        let i = fwd.find(fh, &k)?;
        let b = fwd.at_mut(i)?;
        if now < b.expires {
            b.expires = now + self.idle;
            return Some((k, *b));
        }
        let (k0, b0) = fwd.remove_at(i)?;
        let mut rel = Release {
            rev,
            dests: &self.dests,
            shard: si,
            tombs,
            seed: self.seed,
            tombstones: self.tombstones,
            counters: &self.counters,
        };
        rel.release(k0, b0, now);
        None
    }

    /// Visits every live binding, one shard locked at a time.
    pub fn for_each(&self, now: Time, mut f: impl FnMut(&Inside, &Binding)) {
        for i in 0..self.shards.len() {
            let sh = self.lock(i);
            sh.fwd.for_each(|k, b| {
                if now < b.expires {
                    f(k, b);
                }
            });
        }
    }

    /// Ports in use per destination: `f(external address, remote address, remote port,
    /// protocol, ports)`, once per destination with bindings.
    pub fn for_each_destination(&self, mut f: impl FnMut(u128, u128, u16, IpProtocol, u32)) {
        for m in self.dests.shards.iter() {
            let m = m.lock().unwrap_or_else(|e| e.into_inner());
            m.for_each(|d, c| f(d.ext, d.remote, d.rport, d.proto, c.total));
        }
    }

    /// Housekeeping: examines up to `budget` slots per shard; returns bindings released.
    pub fn sweep(&self, now: Time, budget: usize) -> usize {
        let mut total = 0;
        for si in 0..self.shards.len() {
            let mut guard = self.lock(si);
            let Shard {
                fwd,
                rev,
                tombs,
                cursor,
                tomb_cursor,
            } = &mut *guard;
            let mut rel = Release {
                rev,
                dests: &self.dests,
                shard: si,
                tombs,
                seed: self.seed,
                tombstones: self.tombstones,
                counters: &self.counters,
            };
            total += fwd.sweep(
                cursor,
                budget,
                |_, b| now >= b.expires,
                |k, b| rel.release(k, b, now),
            );
            rel.tombs
                .sweep(tomb_cursor, budget, |_, t| now >= *t, |_, _| {});
        }
        total
    }

    /// Live bindings (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).fwd.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Preallocated bytes (forward, reverse, per-destination counts, tombstones).
    pub fn memory_bytes(&self) -> usize {
        (0..self.shards.len())
            .map(|i| {
                let g = self.lock(i);
                g.fwd.memory_bytes() + g.rev.memory_bytes() + g.tombs.memory_bytes()
            })
            .sum::<usize>()
            + self.dests.memory_bytes()
    }
}

/// A port of shard `si`'s class (`(port - 1024) % n == si`) not bound towards `remote:rport`
/// on `ext`: double hashing over the class's `64512 / n` ports from a start derived from the
/// flow hash, with a stride coprime to the class size (`2^k·3^2·7`), so the walk visits every
/// port of the class once. Deterministic for the same table contents; with at most 55,000 of
/// 64,512 ports taken the expected walk is short (≤ 1/(1−0.87) ≈ 8 probes).
#[allow(clippy::too_many_arguments)]
fn free_port(
    rev: &FixedMap<Outside, Inside>,
    seed: u64,
    fh: u64,
    si: usize,
    n: usize,
    ext: u128,
    remote: u128,
    rport: u16,
    proto: IpProtocol,
) -> Option<u16> {
    let class = PORT_SPAN / n as u64;
    let h = hash_words(fh, &[ext as u64, (ext >> 64) as u64]);
    let start = h % class;
    let mut stride = ((h >> 32) % class) | 1;
    while stride.is_multiple_of(3) || stride.is_multiple_of(7) {
        stride += 2;
    }
    let mut j = start;
    for _ in 0..class {
        let port = PORT_LO + (j * n as u64 + si as u64) as u16;
        let o = Outside {
            remote,
            ext,
            rport,
            eport: port,
            proto,
        };
        if rev.find(o.hash(seed), &o).is_none() {
            return Some(port);
        }
        j = (j + stride) % class;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::addr_bits;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};
    use std::net::Ipv4Addr;

    const UDP: IpProtocol = IpProtocol::Udp;

    fn v4(a: Ipv4Addr) -> u128 {
        addr_bits(a.into())
    }

    fn inside(i: u32, dst: Ipv4Addr, dport: u16) -> Inside {
        Inside {
            src: v4(Ipv4Addr::from(0x0a00_0000 | (i >> 14))),
            dst: v4(dst),
            sport: 1024 + (i & 0x3fff) as u16,
            dport,
            proto: UDP,
            zone: 0,
        }
    }

    const DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
    const EXT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 5);

    /// The bug of issue 17: at the default flow-table bound, one destination held only a
    /// shard's share (16,384) of the NAT table. Now it holds AWS's 55,000 per address, the
    /// next one is "no free port", not "no room", and other destinations are unaffected.
    #[test]
    fn default_bound_holds_55000_flows_to_one_destination() {
        let t = crate::flow::FlowTable::new(crate::flow::DEFAULT_MAX_ENTRIES);
        let nat = &t.nat().t;
        assert_eq!(nat.shards(), 4, "still sharded");
        let ext = [v4(EXT)];
        let mut ports = HashSet::new();
        for i in 0..MAX_PER_DESTINATION {
            let k = inside(i, DST, 53);
            match nat.outbound(&k, k.dst, 53, &ext, 0, Time(0)) {
                Outbound::Mapped { binding, new: true } => {
                    assert!(ports.insert(binding.ext_port), "port given twice");
                }
                o => panic!("flow {i}: {o:?}"),
            }
        }
        let k = inside(MAX_PER_DESTINATION, DST, 53);
        assert_eq!(
            nat.outbound(&k, k.dst, 53, &ext, 0, Time(0)),
            Outbound::PortAllocation
        );
        let c = &nat.counters;
        assert_eq!(c.port_allocation_errors.load(Relaxed), 1);
        assert_eq!(c.refusals.load(Relaxed), 0, "no room is not no port");
        // Another destination port is another destination.
        assert!(matches!(
            nat.outbound(&k, k.dst, 54, &ext, 0, Time(0)),
            Outbound::Mapped { new: true, .. }
        ));
        let mut per_dest = Vec::new();
        nat.for_each_destination(|_, _, rport, _, n| per_dest.push((rport, n)));
        per_dest.sort();
        assert_eq!(per_dest, vec![(53, MAX_PER_DESTINATION), (54, 1)]);
    }

    /// After the idle timeout a destination has room again at once, without the housekeeping
    /// sweep: the exhausted destination reclaims the expired bindings itself (at most once a
    /// second).
    #[test]
    fn an_exhausted_destination_recovers_after_the_idle_timeout_without_a_sweep() {
        let t = XlatTable::new(65_536, 4, 7, 350, false);
        let ext = [v4(EXT)];
        for i in 0..MAX_PER_DESTINATION {
            let k = inside(i, DST, 53);
            assert!(matches!(
                t.outbound(&k, k.dst, 53, &ext, 0, Time(0)),
                Outbound::Mapped { .. }
            ));
        }
        let k = inside(MAX_PER_DESTINATION, DST, 53);
        // Still live at 349 s: refused (a reclaim found nothing), and again within the second.
        let t349 = Time::from_secs(349);
        assert_eq!(
            t.outbound(&k, k.dst, 53, &ext, 0, t349),
            Outbound::PortAllocation
        );
        assert_eq!(
            t.outbound(&k, k.dst, 53, &ext, 0, t349),
            Outbound::PortAllocation
        );
        assert_eq!(t.counters.port_allocation_errors.load(Relaxed), 2);
        let later = Time::from_secs(351);
        assert!(matches!(
            t.outbound(&k, k.dst, 53, &ext, 0, later),
            Outbound::Mapped { new: true, .. }
        ));
        // The destination takes 55,000 new flows again, with no housekeeping sweep between.
        for i in 1..MAX_PER_DESTINATION {
            let k = inside(MAX_PER_DESTINATION + i, DST, 53);
            let r = t.outbound(&k, k.dst, 53, &ext, 0, later);
            assert!(
                matches!(r, Outbound::Mapped { new: true, .. }),
                "flow {i}: {r:?}"
            );
        }
        assert_eq!(t.counters.port_allocation_errors.load(Relaxed), 2);
        assert_eq!(
            t.len(),
            MAX_PER_DESTINATION as usize,
            "every idle binding was released"
        );
    }

    /// A full table is `TableFull` (counted as a refusal), never `PortAllocation`.
    #[test]
    fn no_room_and_no_free_port_are_counted_apart() {
        let t = XlatTable::new(64, 4, 3, 350, true);
        let ext = [v4(EXT)];
        let mut mapped = 0;
        let mut full = 0;
        for i in 0..1000 {
            let k = inside(i, Ipv4Addr::from(0xcb00_7100 + i), 53);
            match t.outbound(&k, k.dst, 53, &ext, 0, Time(0)) {
                Outbound::Mapped { .. } => mapped += 1,
                Outbound::TableFull => full += 1,
                o => panic!("{o:?}"),
            }
        }
        assert_eq!(mapped, t.len());
        assert!(mapped <= 64 && mapped > 48, "{mapped} of 64");
        assert_eq!(t.counters.refusals.load(Relaxed), full);
        assert_eq!(t.counters.port_allocation_errors.load(Relaxed), 0);
    }

    /// A shard whose class of ports towards a destination is taken says so without a walk:
    /// `PortAllocation` for its flows, while flows of other shards still get ports.
    #[test]
    fn a_shard_with_its_ports_taken_refuses_only_its_flows() {
        let t = XlatTable::new(100_000, MAX_SHARDS, 11, 350, false);
        let class = (PORT_SPAN / MAX_SHARDS as u64) as usize;
        let ext = [v4(EXT)];
        let (mut mine, mut other) = (Vec::new(), None);
        for i in 0.. {
            let k = inside(i, DST, 53);
            let s = t.shard_of_inside(hash_words(t.seed, &k.words()));
            if s == 3 {
                mine.push(k);
            } else if other.is_none() {
                other = Some(k);
            }
            if mine.len() > class {
                break;
            }
        }
        for k in &mine[..class] {
            let Outbound::Mapped { binding, .. } = t.outbound(k, k.dst, 53, &ext, 0, Time(0))
            else {
                panic!("class not yet full")
            };
            assert_eq!(t.shard_of_port(binding.ext_port), Some(3));
        }
        let k = mine[class];
        assert_eq!(
            t.outbound(&k, k.dst, 53, &ext, 0, Time(0)),
            Outbound::PortAllocation
        );
        let k = other.expect("another shard");
        assert!(matches!(
            t.outbound(&k, k.dst, 53, &ext, 0, Time(0)),
            Outbound::Mapped { .. }
        ));
    }

    /// Memory stays per binding what it was before the resharding (forward, reverse,
    /// counters, tombstones): at the default bound the NAT table is about 26 MB.
    #[test]
    fn nat_memory_at_the_default_bound() {
        let t = crate::flow::FlowTable::new(crate::flow::DEFAULT_MAX_ENTRIES);
        let bytes = t.nat().memory_bytes();
        let per = bytes as f64 / t.nat().max_entries() as f64;
        assert!(t.nat().max_entries() >= 65_536);
        assert!(per < 480.0, "{per} bytes per NAT binding");
        assert!(bytes < 32 << 20, "{bytes} bytes");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Out { src: u16, dst: u8, ext: u8 },
        Reply { pick: usize },
        Wait { secs: u16 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u16..150, 0u8..3, 1u8..3).prop_map(|(src, dst, ext)| Op::Out { src, dst, ext }),
            2 => any::<usize>().prop_map(|pick| Op::Reply { pick }),
            1 => (0u16..200).prop_map(|secs| Op::Wait { secs }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Against a naive model (one map inside → binding, counted per destination), for any
        /// shard count: a live binding is reused, a new one takes a port of its shard's class
        /// that no live binding to the same destination holds, every binding reverses, and
        /// the per-destination counts are the model's.
        #[test]
        fn sharded_table_matches_a_naive_model(
            shards in 1usize..=MAX_SHARDS,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let t = XlatTable::new(1024, shards, 5, 350, false);
            let exts = [v4(Ipv4Addr::new(198, 51, 100, 1)), v4(Ipv4Addr::new(198, 51, 100, 2))];
            let mut model: HashMap<Inside, Binding> = HashMap::new();
            let mut now = Time(0);
            for o in ops {
                match o {
                    Op::Out { src, dst, ext } => {
                        let k = Inside { src: u128::from(src), ..inside(0, Ipv4Addr::new(203, 0, 113, dst), 53) };
                        let r = t.outbound(&k, k.dst, 53, &exts[..usize::from(ext)], 0, now);
                        let Outbound::Mapped { binding, new } = r else {
                            return Err(TestCaseError::fail(format!("{r:?}")));
                        };
                        match model.get(&k) {
                            Some(b) => {
                                prop_assert!(!new);
                                prop_assert_eq!((b.ext, b.ext_port), (binding.ext, binding.ext_port));
                            }
                            None => {
                                prop_assert!(new);
                                prop_assert!(binding.ext_port >= PORT_LO);
                                let shard = t.shard_of_inside(hash_words(5, &k.words()));
                                prop_assert_eq!(t.shard_of_port(binding.ext_port), Some(shard));
                                prop_assert!(!model.values().any(|b| b.ext == binding.ext
                                    && b.ext_port == binding.ext_port && b.remote == binding.remote));
                            }
                        }
                        model.insert(k, binding);
                    }
                    Op::Reply { pick } => {
                        let mut keys: Vec<_> = model.keys().copied().collect();
                        keys.sort_by_key(|k| (k.src, k.dst));
                        let Some(k) = keys.get(pick % keys.len().max(1)).copied() else { continue };
                        let b = model[&k];
                        let got = t.inbound(b.remote, b.remote_port, b.ext, b.ext_port, UDP, now);
                        prop_assert_eq!(got.map(|(k, _)| k), Some(k));
                        model.insert(k, Binding { expires: now + Dur::from_secs(350), ..b });
                    }
                    Op::Wait { secs } => now += Dur::from_secs(u64::from(secs)),
                }
                model.retain(|_, b| now < b.expires);
                // Counts per destination: what the model holds (the table may hold expired
                // bindings not yet swept, so compare after a full sweep).
                t.sweep(now, usize::MAX);
                let mut want: HashMap<(u128, u128), u32> = HashMap::new();
                for b in model.values() {
                    *want.entry((b.ext, b.remote)).or_default() += 1;
                }
                let mut got: HashMap<(u128, u128), u32> = HashMap::new();
                t.for_each_destination(|ext, remote, _, _, n| { got.insert((ext, remote), n); });
                prop_assert_eq!(got, want);
                prop_assert_eq!(t.len(), model.len());
            }
        }
    }
}
