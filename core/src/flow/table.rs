//! The security-group flow table: N shards, each a std `Mutex` around a [`FixedMap`]
//! preallocated to its share of the bound. Expiry is lazy (an expired entry found by a lookup
//! is removed then) plus incremental: every admission sweeps a few slots of its shard, and a
//! full shard sweeps harder before refusing. Nothing ever stops the world.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

use super::Time;
use super::conntrack::{self, ConnState, Exchange, Timeouts};
use super::fixedmap::FixedMap;
use super::key::{Dir, FlowKey, Side};

/// Slots examined per admission (steady-state expiry).
const SWEEP_PER_ADMIT: usize = 8;
/// Slots examined before a full shard refuses a new flow.
const SWEEP_WHEN_FULL: usize = 512;

/// A flow-table zone: the space of one ENI's security-group state. Not the ENI's index in the
/// snapshot: an ENI keeps its zone across reloads (the snapshot's `compile_after`), whatever
/// its position in the new config, and a zone is never given to another ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Zone(pub u16);

impl Zone {
    /// No ENI (the snapshot never assigns it).
    pub const NONE: Zone = Zone(u16::MAX);
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The flow table is full: the caller drops with `FLOW_TABLE_FULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTableFull;

/// What the pipeline learns about a packet's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowHit {
    pub dir: Dir,
    pub state: ConnState,
    /// Whether the entry tracks its flow. The pipeline records only tracked flows (an
    /// untracked one leaves no entry, §5); the table keeps the flag for callers that admit
    /// untracked entries.
    pub tracked: bool,
    /// Zones of the ENIs involved: `[initiator's, responder's]`, [`Zone::NONE`] where none.
    pub zones: [Zone; 2],
    pub expires: Time,
    /// Whether this call created the entry.
    pub new: bool,
}

/// A flow as the admin API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowView {
    /// The end that sent the first packet.
    pub init: Side,
    pub state: ConnState,
    pub tracked: bool,
    /// Flow-table zone of the ENI whose groups track it.
    pub zone: Zone,
    pub expires: Time,
}

/// Facts about a new flow, given at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admit {
    /// TCP flags of the first packet (0 for other protocols).
    pub tcp_flags: u8,
    pub tracked: bool,
    /// Zones of the ENIs involved: `[initiator's, responder's]`, [`Zone::NONE`] where none.
    pub zones: [Zone; 2],
    /// Idle timeouts of the ENI whose security group tracks the flow.
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    init: Side,
    state: ConnState,
    tracked: bool,
    zones: [Zone; 2],
    ex: Exchange,
    timeouts: Timeouts,
    expires: Time,
}

impl Entry {
    fn view(&self) -> FlowView {
        FlowView {
            init: self.init,
            state: self.state,
            tracked: self.tracked,
            zone: self.zones[0],
            expires: self.expires,
        }
    }

    fn hit(&self, side: Side, new: bool) -> FlowHit {
        FlowHit {
            dir: if side == self.init {
                Dir::Original
            } else {
                Dir::Reply
            },
            state: self.state,
            tracked: self.tracked,
            zones: self.zones,
            expires: self.expires,
            new,
        }
    }
}

struct Shard {
    map: FixedMap<FlowKey, Entry>,
    cursor: usize,
}

/// Plain atomic counters (relaxed: they are statistics, not synchronisation).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub inserts: AtomicU64,
    pub expiries: AtomicU64,
    pub refusals: AtomicU64,
}

/// A snapshot of [`Counters`] plus the live size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub size: u64,
    pub inserts: u64,
    pub expiries: u64,
    pub refusals: u64,
}

/// What a per-worker [`super::FlowCache`] copies from an entry when it fills a slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fill {
    pub(super) init: Side,
    pub(super) timeouts: Timeouts,
    /// The shard's change count read under its lock, with the entry's state.
    pub(super) epoch: u64,
}

/// The security-group state of every flow, shared by all workers.
pub struct ConnTable {
    shards: Box<[Mutex<Shard>]>,
    /// Per shard, a count of changes that a worker's cached copy of an entry would miss: a
    /// state change (another worker's FIN or RST), a removal (expiry, flush). Bumped under the
    /// shard's lock (Release), read without it (Acquire) by a cache hit. A refresh of an idle
    /// deadline alone does not count: a cached copy may hold an earlier deadline.
    epochs: Box<[AtomicU64]>,
    /// Per shard, the address of its map's hash array (allocated once, never moved): only
    /// for prefetch hints before the lock is taken.
    hash_arrays: Box<[(usize, usize)]>,
    shard_mask: u64,
    seed: u64,
    max_entries: usize,
    counters: Counters,
}

impl ConnTable {
    /// A table of at most `max_entries` flows over `shards` shards (rounded up to a power of
    /// two); each shard holds `ceil(max / shards)`, so a skewed hash can refuse a little early
    /// in a crowded shard but the total never exceeds `shards * share`.
    pub fn new(max_entries: usize, shards: usize, seed: u64) -> ConnTable {
        let n = shards.max(1).next_power_of_two();
        let share = max_entries.div_ceil(n);
        let shards: Box<[Mutex<Shard>]> = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    map: FixedMap::with_limit(share),
                    cursor: 0,
                })
            })
            .collect();
        let hash_arrays = shards
            .iter()
            .map(|s| {
                let sh = s.lock().unwrap_or_else(|e| e.into_inner());
                sh.map.hash_array()
            })
            .collect();
        ConnTable {
            shards,
            epochs: (0..n).map(|_| AtomicU64::new(0)).collect(),
            hash_arrays,
            shard_mask: (n - 1) as u64,
            seed,
            max_entries: share * n,
            counters: Counters::default(),
        }
    }

    /// The effective bound (the requested one rounded up to a multiple of the shard count).
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    fn shard(&self, h: u64) -> std::sync::MutexGuard<'_, Shard> {
        // A worker that panicked mid-update leaves only counters possibly stale: keep going.
        self.shards[self.shard_index(h)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The hash's low bits pick the shard, its high bits the slot (`FixedMap` reduces by
    /// multiply-shift), so the two choices are independent.
    #[inline]
    fn shard_index(&self, h: u64) -> usize {
        (h & self.shard_mask) as usize
    }

    /// Records a change of shard `i` that cached copies must not outlive (under its lock).
    #[inline]
    fn bump(&self, i: usize) {
        self.epochs[i].fetch_add(1, Release);
    }

    /// The key's hash under this table's seed (what the cache indexes by).
    #[inline]
    pub(super) fn hash_of(&self, key: &FlowKey) -> u64 {
        key.hash(self.seed)
    }

    /// The change count of the shard of hash `h`, read without its lock.
    #[inline]
    pub(super) fn epoch(&self, h: u64) -> u64 {
        self.epochs[self.shard_index(h)].load(Acquire)
    }

    /// Asks for the cache lines a locked lookup of hash `h` will touch first: the shard's
    /// lock and the key's home slot in its hash array (a hint: no lock, no read).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        let i = self.shard_index(h);
        super::prefetch_addr(std::ptr::from_ref(&self.shards[i]) as usize);
        let (base, slots) = self.hash_arrays[i];
        if slots > 0 {
            let home = ((u128::from(h.max(1)) * slots as u128) >> 64) as usize;
            super::prefetch_addr(base + home * std::mem::size_of::<u64>());
        }
    }

    /// The flow of `key`, seen from `side`, without changing it (for `trace`). An expired
    /// entry counts as absent.
    pub fn lookup(&self, key: &FlowKey, side: Side, now: Time) -> Option<FlowHit> {
        let h = key.hash(self.seed);
        let mut sh = self.shard(h);
        let i = sh.map.find(h, key)?;
        let (_, e) = sh.map.at(i)?;
        if now >= e.expires {
            sh.map.remove_at(i);
            self.bump(self.shard_index(h));
            self.counters.expiries.fetch_add(1, Relaxed);
            return None;
        }
        Some(e.hit(side, false))
    }

    /// A packet of an existing flow: updates its state and idle deadline.
    pub fn touch(&self, key: &FlowKey, side: Side, tcp_flags: u8, now: Time) -> Option<FlowHit> {
        self.touch_fill(key.hash(self.seed), key, side, tcp_flags, now)
            .map(|(hit, _)| hit)
    }

    /// [`ConnTable::touch`] of a key whose hash is `h`, also returning what a cache copies.
    pub(super) fn touch_fill(
        &self,
        h: u64,
        key: &FlowKey,
        side: Side,
        tcp_flags: u8,
        now: Time,
    ) -> Option<(FlowHit, Fill)> {
        let si = self.shard_index(h);
        let mut sh = self.shard(h);
        let i = sh.map.find(h, key)?;
        let e = sh.map.at_mut(i)?;
        if now >= e.expires {
            sh.map.remove_at(i);
            self.bump(si);
            self.counters.expiries.fetch_add(1, Relaxed);
            return None;
        }
        let dir = if side == e.init {
            Dir::Original
        } else {
            Dir::Reply
        };
        let before = e.state;
        e.state = conntrack::on_packet(e.state, &mut e.ex, dir, tcp_flags);
        e.expires = conntrack::expiry(e.state, &e.timeouts, now);
        if e.state != before {
            self.bump(si);
        }
        let fill = Fill {
            init: e.init,
            timeouts: e.timeouts,
            epoch: self.epochs[si].load(Relaxed),
        };
        Some((e.hit(side, false), fill))
    }

    /// A cache's coalesced record of packets it passed on a cached copy of `key`'s entry in
    /// state `state`: `ex` counts them per direction, the last arrived at `last`. Applied as
    /// those packets' touches would have been (their flags left the state as it was) if the
    /// entry is still in that state; if it changed meanwhile (another worker's FIN or RST,
    /// a flush and a new flow) the packets are ordered before that change, which a refresh
    /// cannot undo, and nothing is applied. Returns the entry's deadline, if it still lives.
    pub(super) fn write_back(
        &self,
        h: u64,
        key: &FlowKey,
        state: ConnState,
        ex: Exchange,
        last: Time,
    ) -> Option<Time> {
        let mut sh = self.shard(h);
        let i = sh.map.find(h, key)?;
        let e = sh.map.at_mut(i)?;
        if e.state != state || last >= e.expires {
            return None;
        }
        e.ex.original = e.ex.original.saturating_add(ex.original);
        e.ex.reply = e.ex.reply.saturating_add(ex.reply);
        e.expires = e.expires.max(conntrack::expiry(e.state, &e.timeouts, last));
        Some(e.expires)
    }

    /// The first packet of a flow (sent by `side`), allowed by policy: records it. If the flow
    /// exists already (a race with another worker, or a reply admitted by rules), the packet
    /// is applied to it instead.
    pub fn admit(
        &self,
        key: &FlowKey,
        side: Side,
        a: &Admit,
        now: Time,
    ) -> Result<FlowHit, FlowTableFull> {
        let h = key.hash(self.seed);
        let si = self.shard_index(h);
        let mut sh = self.shard(h);
        let sh = &mut *sh;
        if let Some(i) = sh.map.find(h, key) {
            let live = sh.map.at(i).is_some_and(|(_, e)| now < e.expires);
            if live {
                let e = sh.map.at_mut(i).expect("found");
                let dir = if side == e.init {
                    Dir::Original
                } else {
                    Dir::Reply
                };
                let before = e.state;
                e.state = conntrack::on_packet(e.state, &mut e.ex, dir, a.tcp_flags);
                e.expires = conntrack::expiry(e.state, &e.timeouts, now);
                if e.state != before {
                    self.bump(si);
                }
                return Ok(e.hit(side, false));
            }
            sh.map.remove_at(i);
            self.bump(si);
            self.counters.expiries.fetch_add(1, Relaxed);
        }
        let budget = if sh.map.is_full() {
            SWEEP_WHEN_FULL
        } else {
            SWEEP_PER_ADMIT
        };
        let n = sh
            .map
            .sweep(&mut sh.cursor, budget, |_, e| now >= e.expires, |_, _| {});
        if n > 0 {
            self.bump(si);
        }
        self.counters.expiries.fetch_add(n as u64, Relaxed);
        let timeouts = a.timeouts;
        let state = ConnState::initial(key.proto, a.tcp_flags);
        let mut ex = Exchange::default();
        ex.count(Dir::Original);
        let e = Entry {
            init: side,
            state,
            tracked: a.tracked,
            zones: a.zones,
            ex,
            timeouts,
            expires: conntrack::expiry(state, &timeouts, now),
        };
        let hit = e.hit(side, true);
        match sh.map.insert_new(h, *key, e) {
            Ok(_) => {
                self.counters.inserts.fetch_add(1, Relaxed);
                Ok(hit)
            }
            Err(_) => {
                self.counters.refusals.fetch_add(1, Relaxed);
                Err(FlowTableFull)
            }
        }
    }

    /// Removes a flow at once (e.g. an untracked flow whose rule went away).
    pub fn remove(&self, key: &FlowKey) -> bool {
        let h = key.hash(self.seed);
        let mut sh = self.shard(h);
        let removed = sh.map.remove(h, key).is_some();
        if removed {
            self.bump(self.shard_index(h));
        }
        removed
    }

    /// Visits every live flow, one shard locked at a time (workers wait at most one shard's pass).
    pub fn for_each(&self, now: Time, mut f: impl FnMut(&FlowKey, &FlowView)) {
        for s in self.shards.iter() {
            let sh = s.lock().unwrap_or_else(|e| e.into_inner());
            sh.map.for_each(|k, e| {
                if now < e.expires {
                    f(k, &e.view());
                }
            });
        }
    }

    /// Removes every flow `pred` selects; returns how many (admin flush).
    pub fn remove_matching(&self, mut pred: impl FnMut(&FlowKey, &FlowView) -> bool) -> usize {
        let mut n = 0;
        for (i, s) in self.shards.iter().enumerate() {
            let mut sh = s.lock().unwrap_or_else(|e| e.into_inner());
            let slots = sh.map.capacity_slots();
            let mut cursor = 0;
            let m = sh
                .map
                .sweep(&mut cursor, slots, |k, e| pred(k, &e.view()), |_, _| {});
            if m > 0 {
                self.bump(i);
            }
            n += m;
        }
        n
    }

    /// Housekeeping for an idle worker: examines up to `budget` slots of every shard.
    pub fn sweep(&self, now: Time, budget: usize) -> usize {
        let mut total = 0;
        for (i, s) in self.shards.iter().enumerate() {
            let mut sh = s.lock().unwrap_or_else(|e| e.into_inner());
            let sh = &mut *sh;
            let n = sh
                .map
                .sweep(&mut sh.cursor, budget, |_, e| now >= e.expires, |_, _| {});
            if n > 0 {
                self.bump(i);
            }
            total += n;
        }
        self.counters.expiries.fetch_add(total as u64, Relaxed);
        total
    }

    /// Entries held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> Stats {
        Stats {
            size: self.len() as u64,
            inserts: self.counters.inserts.load(Relaxed),
            expiries: self.counters.expiries.load(Relaxed),
            refusals: self.counters.refusals.load(Relaxed),
        }
    }

    /// Bytes preallocated for entries (all of it, up front).
    pub fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map
                    .memory_bytes()
            })
            .sum()
    }

    /// Bytes per storable flow (slot size times slots per entry of the bound).
    pub fn bytes_per_entry(&self) -> f64 {
        self.memory_bytes() as f64 / self.max_entries.max(1) as f64
    }

    /// Slots allocated in all shards (for tests of the no-growth guarantee).
    pub fn slots(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map
                    .capacity_slots()
            })
            .sum()
    }
}
