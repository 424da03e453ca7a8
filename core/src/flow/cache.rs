//! A worker's private cache of security-group flow entries, so that a packet of an established
//! flow takes no shared lock on its way: the batch pipeline (`pipeline::process_batch`) asks
//! it instead of [`ConnTable::touch`].
//!
//! Faithful by construction — a hit stands for exactly the touch the shared table would have
//! done:
//! - **Only packets that change nothing but the deadline hit.** A slot is used only if the
//!   packet's flags leave the copied state as it is (no SYN, FIN or RST; the TCP state machine
//!   agrees) and the state is final for its protocol (a UDP flow only once it is a stream, so a
//!   first reply always reaches the shared table). Everything else — new flows, handshakes,
//!   FIN/RST, first replies — goes to the shared table, after this worker's pending refreshes
//!   of the same flow, so state changes stay in order.
//! - **A copy dies with what it copied.** Each slot keeps its shard's change count
//!   ([`ConnTable`]'s per-shard epoch, bumped under the shard lock by every state change and
//!   removal: another worker's FIN or RST, expiry, an admin flush) and a hit compares it (an
//!   Acquire load, no lock). A hit also needs the slot's lower bound of the shared deadline to
//!   lie after the latest time of the batch, so the shared entry cannot have expired.
//! - **Refreshes are written back coalesced**: a hit counts the packet per direction and
//!   remembers its time; [`FlowCache::write_back`] (once per batch) applies the counts and the
//!   deadline under one lock per flow, so between batches the shared table holds what
//!   one-by-one processing would have left, and other workers, the admin API's flow list and
//!   expiry see the flow alive.
//! - **Tied to a snapshot generation**: [`FlowCache::begin`] writes back and empties the cache
//!   when a reload swapped the snapshot.
//!
//! Fixed capacity, allocated once (direct-mapped by the key's hash; a collision writes the old
//! slot back and replaces it).

use super::Time;
use super::conntrack::{self, ConnState, Exchange, Timeouts, tcp_flags};
use super::key::{Dir, FlowKey, Side};
use super::table::{ConnTable, FlowHit, Zone};

/// A flow key with its hash under the shared table's seed (computed once per packet, used by
/// the cache, the prefetch and the locked lookup alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    pub key: FlowKey,
    pub hash: u64,
}

impl Hashed {
    #[inline]
    pub fn new(conns: &ConnTable, key: FlowKey) -> Hashed {
        Hashed {
            hash: conns.hash_of(&key),
            key,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: FlowKey,
    hash: u64,
    init: Side,
    state: ConnState,
    tracked: bool,
    zones: [Zone; 2],
    timeouts: Timeouts,
    /// The shard's change count when the slot was filled.
    epoch: u64,
    /// A lower bound of the shared entry's deadline (the one it had when filled or last
    /// written back: refreshes only raise it, and a removal bumps the epoch).
    floor: Time,
    /// Packets passed since the last write-back, per direction, and when the last arrived.
    pending: Exchange,
    last: Time,
    dirty: bool,
}

/// Counters of one cache (the worker's statistics, not synchronisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    /// Lookups that went to the shared table (absent, stale, or a state-changing packet).
    pub misses: u64,
    /// Slots found stale (epoch changed, deadline near) or given up for a state change.
    pub invalidations: u64,
    /// Coalesced refreshes applied to the shared table.
    pub write_backs: u64,
}

/// A worker's cache of established flows (see the module documentation).
pub struct FlowCache {
    slots: Box<[Option<Slot>]>,
    mask: usize,
    /// Slots with pending refreshes, each once (`listed` says which are in it).
    dirty: Box<[u32]>,
    n_dirty: usize,
    listed: Box<[bool]>,
    generation: Option<u64>,
    stats: CacheStats,
}

impl std::fmt::Debug for FlowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowCache")
            .field("slots", &self.slots.len())
            .field("generation", &self.generation)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for FlowCache {
    fn default() -> Self {
        FlowCache::new(FlowCache::DEFAULT_SLOTS)
    }
}

impl FlowCache {
    /// Slots of a cache made by [`FlowCache::default`]: 2,048 flows per worker (about 300 KiB).
    pub const DEFAULT_SLOTS: usize = 2048;

    /// A cache of `slots` entries (rounded up to a power of two, at least 1), all allocated now.
    pub fn new(slots: usize) -> FlowCache {
        let n = slots.max(1).next_power_of_two();
        FlowCache {
            slots: vec![None; n].into_boxed_slice(),
            mask: n - 1,
            dirty: vec![0; n].into_boxed_slice(),
            n_dirty: 0,
            listed: vec![false; n].into_boxed_slice(),
            generation: None,
            stats: CacheStats::default(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Slots held (valid or not yet found stale).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a batch decided on snapshot `generation`: a cache filled under another one is
    /// written back and emptied (a reload may have changed what its copies were decided by).
    pub fn begin(&mut self, conns: &ConnTable, generation: u64) {
        if self.generation != Some(generation) {
            self.clear(conns);
            self.generation = Some(generation);
        }
    }

    /// Writes every pending refresh back and empties the cache.
    pub fn clear(&mut self, conns: &ConnTable) {
        self.write_back(conns);
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    #[inline]
    fn index(&self, h: u64) -> usize {
        // High bits: the shard took the low ones, the shard's map the top ones by
        // multiply-shift; bits 32.. spread a shard's keys over the cache.
        (h >> 32) as usize & self.mask
    }

    /// Prepares a lookup of `k`: a key not in the cache has its shared shard and slot
    /// prefetched, so the locked lookup that follows does not wait for memory.
    #[inline]
    pub fn prefetch(&self, conns: &ConnTable, k: &Hashed) {
        let cached = self.slots[self.index(k.hash)]
            .as_ref()
            .is_some_and(|s| s.hash == k.hash && s.key == k.key);
        if !cached {
            conns.prefetch(k.hash);
        }
    }

    /// [`ConnTable::touch`] through the cache: a packet that leaves a cached, still valid
    /// entry's state as it is passes on the copy; anything else goes to the shared table (and
    /// fills the slot when the result is cacheable). `horizon` is the latest time any packet
    /// of the batch carries: a copy is used only while the shared deadline lies beyond it.
    pub fn touch(
        &mut self,
        conns: &ConnTable,
        k: &Hashed,
        side: Side,
        flags: u8,
        now: Time,
        horizon: Time,
    ) -> Option<FlowHit> {
        let (key, h) = (&k.key, k.hash);
        let i = self.index(h);
        if let Some(s) = self.slots[i].as_mut()
            && s.hash == h
            && s.key == *key
        {
            let dir = if side == s.init {
                Dir::Original
            } else {
                Dir::Reply
            };
            if s.epoch == conns.epoch(h) && horizon < s.floor && unchanged(s.state, dir, flags) {
                s.pending.count(dir);
                s.last = s.last.max(now);
                s.dirty = true;
                if !self.listed[i] {
                    self.listed[i] = true;
                    self.dirty[self.n_dirty] = i as u32;
                    self.n_dirty += 1;
                }
                self.stats.hits += 1;
                return Some(FlowHit {
                    dir,
                    state: s.state,
                    tracked: s.tracked,
                    zones: s.zones,
                    expires: conntrack::expiry(s.state, &s.timeouts, now),
                    new: false,
                });
            }
            // Stale, or a packet that changes the state: what this worker passed before goes
            // first, then the shared table decides this one.
            self.stats.invalidations += 1;
            self.flush_slot(conns, i);
            self.slots[i] = None;
        }
        self.stats.misses += 1;
        let (hit, fill) = conns.touch_fill(h, key, side, flags, now)?;
        if cacheable(hit.state) {
            if self.slots[i].is_some() {
                self.flush_slot(conns, i);
            }
            self.slots[i] = Some(Slot {
                key: *key,
                hash: h,
                init: fill.init,
                state: hit.state,
                tracked: hit.tracked,
                zones: hit.zones,
                timeouts: fill.timeouts,
                epoch: fill.epoch,
                floor: hit.expires,
                pending: Exchange::default(),
                last: now,
                dirty: false,
            });
        }
        Some(hit)
    }

    /// Applies every pending refresh to the shared table, one lock per flow (once per batch).
    pub fn write_back(&mut self, conns: &ConnTable) {
        for d in 0..self.n_dirty {
            let i = self.dirty[d] as usize;
            self.listed[i] = false;
            self.flush_slot(conns, i);
        }
        self.n_dirty = 0;
    }

    /// Writes slot `i`'s pending refresh back (it stays listed in `dirty` if it was: the next
    /// pass finds it clean and does nothing).
    fn flush_slot(&mut self, conns: &ConnTable, i: usize) {
        let Some(s) = self.slots[i].as_mut() else {
            return;
        };
        if !s.dirty {
            return;
        }
        s.dirty = false;
        let pending = std::mem::take(&mut s.pending);
        self.stats.write_backs += 1;
        match conns.write_back(s.hash, &s.key, s.state, pending, s.last) {
            Some(deadline) => s.floor = deadline,
            // Gone or changed: the copy must not be used again.
            None => self.slots[i] = None,
        }
    }
}

/// Whether a packet with `flags` travelling `dir` leaves a flow in `state` as it is (what
/// `conntrack::on_packet` would do, for the states a slot may hold).
#[inline]
fn unchanged(state: ConnState, dir: Dir, flags: u8) -> bool {
    use tcp_flags::{FIN, RST, SYN};
    match state {
        ConnState::Tcp(t) => {
            flags & (SYN | FIN | RST) == 0 && conntrack::tcp_next(t, dir, flags) == t
        }
        // A stream stays one (the exchange counts only grow); ICMP and others have no states.
        ConnState::Udp { stream } => stream,
        ConnState::Icmp | ConnState::Other => true,
    }
}

/// Whether a flow in `state` may be cached: a state no flag-less packet moves on from.
#[inline]
fn cacheable(state: ConnState) -> bool {
    !matches!(state, ConnState::Udp { stream: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::Tuple;
    use crate::flow::table::Admit;
    use crate::flow::{Dur, TcpState};
    use tcp_flags::{ACK, FIN, RST, SYN};

    const T0: Time = Time::from_secs(100);

    /// A table holding one established TCP flow (SYN, SYN-ACK, ACK at T0), its key and the
    /// initiator's side.
    fn established() -> (ConnTable, Hashed, Side) {
        let t = ConnTable::new(1024, 4, 7);
        let tuple = Tuple::tcp([10, 0, 0, 1].into(), 1000, [10, 0, 0, 2].into(), 80);
        let (key, side) = FlowKey::from_tuple(3, &tuple);
        let a = Admit {
            tcp_flags: SYN,
            tracked: true,
            zones: [Zone(3), Zone(3)],
            timeouts: Timeouts::default(),
        };
        t.admit(&key, side, &a, T0).unwrap();
        t.touch(&key, side.other(), SYN | ACK, T0).unwrap();
        let h = t.touch(&key, side, ACK, T0).unwrap();
        assert_eq!(h.state, ConnState::Tcp(TcpState::Established));
        let k = Hashed::new(&t, key);
        (t, k, side)
    }

    #[test]
    fn established_packets_hit_and_write_back_coalesced() {
        let (t, k, s) = established();
        let mut c = FlowCache::new(16);
        // The first packet fills, the next ones hit.
        for i in 0..10 {
            let now = T0 + Dur::from_secs(i);
            let h = c.touch(&t, &k, s, ACK, now, now).unwrap();
            assert_eq!(h.state, ConnState::Tcp(TcpState::Established));
        }
        assert_eq!(c.stats().misses, 1);
        assert_eq!(c.stats().hits, 9);
        // Before the write-back the shared deadline is the first packet's, after it the last's.
        let deadline = |t: &ConnTable| {
            let mut d = None;
            t.for_each(T0, |_, v| d = Some(v.expires));
            d.unwrap()
        };
        let est = Dur::from_secs(u64::from(Timeouts::default().tcp_established));
        assert_eq!(deadline(&t), T0 + est);
        c.write_back(&t);
        assert_eq!(deadline(&t), T0 + Dur::from_secs(9) + est);
        assert_eq!(c.stats().write_backs, 1);
    }

    #[test]
    fn another_workers_fin_invalidates_the_copy() {
        let (t, k, s) = established();
        let (mut a, mut b) = (FlowCache::new(16), FlowCache::new(16));
        a.touch(&t, &k, s, ACK, T0, T0).unwrap();
        a.touch(&t, &k, s, ACK, T0, T0).unwrap();
        assert_eq!(a.stats().hits, 1);
        // The reply direction's FIN, on worker b: the shared state moves on.
        let h = b.touch(&t, &k, s.other(), FIN | ACK, T0, T0).unwrap();
        assert_eq!(h.state, ConnState::Tcp(TcpState::FinWait(Dir::Reply)));
        // Worker a's next ACK no longer passes on its copy: it sees FIN_WAIT.
        let h = a.touch(&t, &k, s, ACK, T0, T0).unwrap();
        assert_eq!(h.state, ConnState::Tcp(TcpState::FinWait(Dir::Reply)));
        assert_eq!(a.stats().hits, 1);
        assert_eq!(a.stats().invalidations, 1);
        // A's pending ACK (before the FIN) was not applied over the FIN's state.
        let mut st = None;
        t.for_each(T0, |_, v| st = Some(v.state));
        assert_eq!(st, Some(ConnState::Tcp(TcpState::FinWait(Dir::Reply))));
    }

    #[test]
    fn rst_and_fin_of_the_same_worker_go_to_the_shared_table() {
        let (t, k, s) = established();
        let mut c = FlowCache::new(16);
        c.touch(&t, &k, s, ACK, T0, T0).unwrap();
        let h = c.touch(&t, &k, s, RST | ACK, T0, T0).unwrap();
        assert_eq!(h.state, ConnState::Tcp(TcpState::Closed));
        assert_eq!(c.stats().hits, 0);
        let mut st = None;
        t.for_each(T0, |_, v| st = Some(v.state));
        assert_eq!(st, Some(ConnState::Tcp(TcpState::Closed)));
    }

    #[test]
    fn an_expiring_copy_is_not_used() {
        let t = ConnTable::new(1024, 4, 7);
        let tuple = Tuple::udp([10, 0, 0, 1].into(), 1000, [10, 0, 0, 2].into(), 53);
        let (key, side) = FlowKey::from_tuple(3, &tuple);
        let a = Admit {
            tcp_flags: 0,
            tracked: true,
            zones: [Zone(3), Zone(3)],
            timeouts: Timeouts::default(),
        };
        t.admit(&key, side, &a, T0).unwrap();
        t.touch(&key, side.other(), 0, T0).unwrap();
        let k = Hashed::new(&t, key);
        let mut c = FlowCache::new(16);
        // The third packet makes it a stream (180 s): cached from then on.
        let h = c.touch(&t, &k, side, 0, T0, T0).unwrap();
        assert_eq!(h.state, ConnState::Udp { stream: true });
        c.touch(&t, &k, side, 0, T0, T0).unwrap();
        assert_eq!(c.stats().hits, 1);
        c.write_back(&t);
        // A batch whose latest packet comes after the shared deadline: not from the copy, and
        // the shared table finds the flow expired.
        let late = T0 + Dur::from_secs(181);
        assert!(c.touch(&t, &k, side, 0, late, late).is_none());
        assert_eq!(c.stats().hits, 1);
        // Likewise when only a later packet of the batch is past the deadline.
        t.admit(&key, side, &a, late).unwrap();
        t.touch(&key, side.other(), 0, late).unwrap();
        t.touch(&key, side, 0, late).unwrap();
        let h = c.touch(&t, &k, side, 0, late, late).unwrap();
        assert_eq!(h.state, ConnState::Udp { stream: true });
        let hits = c.stats().hits;
        let past = late + Dur::from_secs(200);
        c.touch(&t, &k, side, 0, late, past).unwrap();
        assert_eq!(
            c.stats().hits,
            hits,
            "a copy that may expire within the batch is not used"
        );
    }

    #[test]
    fn a_flush_invalidates_the_copy() {
        let (t, k, s) = established();
        let mut c = FlowCache::new(16);
        c.touch(&t, &k, s, ACK, T0, T0).unwrap();
        c.touch(&t, &k, s, ACK, T0, T0).unwrap();
        assert_eq!(t.remove_matching(|_, _| true), 1);
        assert!(c.touch(&t, &k, s, ACK, T0, T0).is_none());
        c.write_back(&t);
        assert!(
            t.is_empty(),
            "a pending refresh does not bring a flushed flow back"
        );
    }

    #[test]
    fn a_reload_empties_the_cache_after_writing_back() {
        let (t, k, s) = established();
        let mut c = FlowCache::new(16);
        c.begin(&t, 1);
        c.touch(&t, &k, s, ACK, T0, T0).unwrap();
        let later = T0 + Dur::from_secs(5);
        c.touch(&t, &k, s, ACK, later, later).unwrap();
        assert_eq!(c.len(), 1);
        c.begin(&t, 1);
        assert_eq!(c.len(), 1, "same generation: kept");
        c.begin(&t, 2);
        assert!(c.is_empty());
        let mut d = None;
        t.for_each(T0, |_, v| d = Some(v.expires));
        let est = Dur::from_secs(u64::from(Timeouts::default().tcp_established));
        assert_eq!(
            d,
            Some(later + est),
            "the pending refresh reached the shared table"
        );
    }

    #[test]
    fn colliding_flows_evict_with_write_back() {
        let t = ConnTable::new(1024, 4, 7);
        let mut c = FlowCache::new(1);
        let est = Dur::from_secs(u64::from(Timeouts::default().tcp_established));
        let mut keys = Vec::new();
        for p in 0..3u16 {
            let tuple = Tuple::tcp([10, 0, 0, 1].into(), 1000 + p, [10, 0, 0, 2].into(), 80);
            let (key, side) = FlowKey::from_tuple(3, &tuple);
            let a = Admit {
                tcp_flags: ACK,
                tracked: true,
                zones: [Zone(3), Zone(3)],
                timeouts: Timeouts::default(),
            };
            t.admit(&key, side, &a, T0).unwrap();
            keys.push((Hashed::new(&t, key), side));
        }
        let later = T0 + Dur::from_secs(7);
        for (k, s) in &keys {
            c.touch(&t, k, *s, ACK, T0, T0).unwrap();
            c.touch(&t, k, *s, ACK, later, later).unwrap();
        }
        c.write_back(&t);
        let mut deadlines = Vec::new();
        t.for_each(T0, |_, v| deadlines.push(v.expires));
        assert_eq!(deadlines, vec![later + est; 3]);
    }
}
