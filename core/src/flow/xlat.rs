//! The address-and-port translation table behind the NAT gateway and PrivateLink: a forward
//! map (inside tuple → binding), a reverse map (what a reply carries → inside tuple), a count
//! of bindings per (external address, destination) and, for the NAT gateway, tombstones of
//! TCP bindings that idled out.
//!
//! Sharding is by the *remote endpoint* (the post-translation destination address, port and
//! protocol): the forward key, the reverse key and the per-destination count all contain it,
//! so one shard lock covers a whole allocation. The price: every flow to one destination
//! lands in one shard, so a shard's share of the bound caps the flows to one destination.

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

struct Shard {
    fwd: FixedMap<Inside, Binding>,
    rev: FixedMap<Outside, Inside>,
    dests: FixedMap<DestKey, u32>,
    tombs: FixedMap<Inside, Time>,
    cursor: usize,
    tomb_cursor: usize,
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
    seed: u64,
    idle: Dur,
    tombstones: bool,
    max_entries: usize,
    pub counters: XlatCounters,
}

struct Release<'a> {
    rev: &'a mut FixedMap<Outside, Inside>,
    dests: &'a mut FixedMap<DestKey, u32>,
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
        let dh = d.hash(self.seed);
        if let Some(i) = self.dests.find(dh, &d) {
            let c = self.dests.at_mut(i).expect("found");
            *c -= 1;
            if *c == 0 {
                self.dests.remove_at(i);
            }
        }
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
    /// `max_entries` bindings over `shards` shards, bindings idle out after `idle_secs`;
    /// `tombstones` keeps a trace of TCP bindings that idled out (bounded to 1/4 of the
    /// bound).
    pub fn new(
        max_entries: usize,
        shards: usize,
        seed: u64,
        idle_secs: u64,
        tombstones: bool,
    ) -> XlatTable {
        let n = shards.max(1).next_power_of_two();
        let share = max_entries.div_ceil(n);
        let tomb_share = if tombstones { share.div_ceil(4) } else { 0 };
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    fwd: FixedMap::with_limit(share),
                    rev: FixedMap::with_limit(share),
                    dests: FixedMap::with_limit(share),
                    tombs: FixedMap::with_limit(tomb_share),
                    cursor: 0,
                    tomb_cursor: 0,
                })
            })
            .collect();
        XlatTable {
            shards,
            shard_mask: (n - 1) as u64,
            seed,
            idle: Dur::from_secs(idle_secs),
            tombstones,
            max_entries: share * n,
            counters: XlatCounters::default(),
        }
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    fn shard_of(
        &self,
        remote: u128,
        rport: u16,
        proto: IpProtocol,
    ) -> std::sync::MutexGuard<'_, Shard> {
        let h = hash_words(
            self.seed ^ 2,
            &[
                remote as u64,
                (remote >> 64) as u64,
                u64::from(rport) | u64::from(proto.number()) << 16,
            ],
        );
        let i = (h & self.shard_mask) as usize;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Translates an inside packet going to `remote:rport` (for the NAT gateway the original
    /// destination; for PrivateLink the chosen target). A new binding takes an external
    /// address from `exts` (the first tried picked by flow hash, then the next ones) and a
    /// port free towards that destination. `tcp_flags` decides, with the tombstones, whether
    /// a miss allocates.
    pub fn outbound(
        &self,
        k: &Inside,
        remote: u128,
        rport: u16,
        exts: &[u128],
        tcp_flags: u8,
        now: Time,
    ) -> Outbound {
        let mut guard = self.shard_of(remote, rport, k.proto);
        let Shard {
            fwd,
            rev,
            dests,
            tombs,
            cursor,
            tomb_cursor,
        } = &mut *guard;
        let seed = self.seed;
        let mut rel = Release {
            rev,
            dests,
            tombs,
            seed,
            tombstones: self.tombstones,
            counters: &self.counters,
        };
        let fh = hash_words(seed, &k.words());
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
            self.counters.port_allocation_errors.fetch_add(1, Relaxed);
            return Outbound::PortAllocation;
        }
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
            let used = rel.dests.get_mut(dh, &d).map_or(0, |c| *c);
            if used >= MAX_PER_DESTINATION {
                continue;
            }
            let Some(port) = free_port(rel.rev, seed, fh, ext, remote, rport, k.proto) else {
                continue;
            };
            let o = Outside {
                remote,
                ext,
                rport,
                eport: port,
                proto: k.proto,
            };
            if used == 0 {
                if rel.dests.insert_new(dh, d, 1).is_err() {
                    self.counters.refusals.fetch_add(1, Relaxed);
                    return Outbound::TableFull;
                }
            } else {
                *rel.dests.get_mut(dh, &d).expect("counted") += 1;
            }
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
        self.counters.port_allocation_errors.fetch_add(1, Relaxed);
        Outbound::PortAllocation
    }

    /// The live binding of inside tuple `k` towards `remote:rport`, looked up only: nothing
    /// allocated, refreshed or released (an ICMP error about the flow is no sign of life).
    pub fn lookup(&self, k: &Inside, remote: u128, rport: u16, now: Time) -> Option<Binding> {
        let guard = self.shard_of(remote, rport, k.proto);
        let fh = hash_words(self.seed, &k.words());
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
        let mut guard = self.shard_of(remote, rport, proto);
        let Shard {
            fwd,
            rev,
            dests,
            tombs,
            ..
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
            dests,
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
        for s in self.shards.iter() {
            let sh = s.lock().unwrap_or_else(|e| e.into_inner());
            sh.fwd.for_each(|k, b| {
                if now < b.expires {
                    f(k, b);
                }
            });
        }
    }

    /// Ports in use per destination: `f(external address, remote address, remote port,
    /// protocol, ports)`, once per shard that holds bindings to it (callers sum).
    pub fn for_each_destination(&self, mut f: impl FnMut(u128, u128, u16, IpProtocol, u32)) {
        for s in self.shards.iter() {
            let sh = s.lock().unwrap_or_else(|e| e.into_inner());
            sh.dests
                .for_each(|d, n| f(d.ext, d.remote, d.rport, d.proto, *n));
        }
    }

    /// Housekeeping: examines up to `budget` slots per shard; returns bindings released.
    pub fn sweep(&self, now: Time, budget: usize) -> usize {
        let mut total = 0;
        for s in self.shards.iter() {
            let mut guard = s.lock().unwrap_or_else(|e| e.into_inner());
            let Shard {
                fwd,
                rev,
                dests,
                tombs,
                cursor,
                tomb_cursor,
            } = &mut *guard;
            let mut rel = Release {
                rev,
                dests,
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
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).fwd.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Preallocated bytes (forward, reverse, per-destination counts, tombstones).
    pub fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let g = s.lock().unwrap_or_else(|e| e.into_inner());
                g.fwd.memory_bytes()
                    + g.rev.memory_bytes()
                    + g.dests.memory_bytes()
                    + g.tombs.memory_bytes()
            })
            .sum()
    }
}

/// A port not bound towards `remote:rport` on `ext`: double hashing over 1024–65535 from a
/// start derived from the flow hash, with a stride coprime to the span (64512 = 2^10·3^2·7),
/// so the walk visits every port once. Deterministic for the same table contents; with at
/// most 55,000 of 64,512 ports taken the expected walk is short (≤ 1/(1−0.853) ≈ 7 probes).
fn free_port(
    rev: &FixedMap<Outside, Inside>,
    seed: u64,
    fh: u64,
    ext: u128,
    remote: u128,
    rport: u16,
    proto: IpProtocol,
) -> Option<u16> {
    let h = hash_words(fh, &[ext as u64, (ext >> 64) as u64]);
    let start = h % PORT_SPAN;
    let mut stride = ((h >> 32) % PORT_SPAN) | 1;
    while stride.is_multiple_of(3) || stride.is_multiple_of(7) {
        stride += 2;
    }
    let mut p = start;
    for _ in 0..PORT_SPAN {
        let port = PORT_LO + p as u16;
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
        p = (p + stride) % PORT_SPAN;
    }
    None
}
