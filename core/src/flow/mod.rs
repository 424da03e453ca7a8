//! Connection tracking and address translation state (security-group state, NAT gateway,
//! PrivateLink). Shared by all workers: `&FlowTable` is `Sync`, because the reply of a flow
//! arrives on another TUN device whose worker is chosen independently.
//!
//! Design (details in `docs/readme/flow.md`):
//! - **Sans-IO, deterministic.** Time is always passed in ([`Time`]); hashes are keyed by a
//!   caller-supplied seed, never by OS randomness, so port allocation is reproducible.
//! - **Sharded.** Each table is N shards, each a std `Mutex` around a fixed-capacity
//!   open-addressing map ([`fixedmap`]) preallocated to its share of the bound.
//! - **Bounded, no allocation per packet.** The slot arrays are allocated once at
//!   construction and never grow (linear probing with backward-shift deletion has no
//!   tombstones to rehash away); a shard at its share refuses new flows
//!   ([`table::FlowTableFull`], `NatOut::TableFull`) and counts the refusal.
//! - **Expiry without stopping the world.** An expired entry met by a lookup is removed on the
//!   spot; each admission sweeps a few slots of its shard (more when the shard is full); idle
//!   workers may call [`FlowTable::sweep`].

mod cache;
pub mod conntrack;
mod fixedmap;
pub mod key;
pub mod nat;
pub mod privatelink;

mod table;
pub mod xlat;

pub use cache::{CacheStats, FlowCache, Hashed};
pub use conntrack::{ConnState, SgFacts, TcpState, Timeouts, is_untracked};
pub use key::{Dir, FlowKey, IcmpClass, L4, Side, Tuple, icmp_query};
pub use nat::{NatFlow, NatOut, NatTable};
pub use privatelink::{PlFlow, PrivateLinkTable};
pub use table::{Admit, ConnTable, FlowHit, FlowTableFull, FlowView, Zone};

/// Asks for the cache line at address `addr` (a hint: never a read, never a fault).
#[inline(always)]
fn prefetch_addr(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults and changes no state a program can observe, whatever the
    // address; SSE is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// The flow-table bound when `Options.FlowTableMaxEntries` (and `run --max-flows`) say none.
pub const DEFAULT_MAX_ENTRIES: usize = 262_144;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Monotonic time supplied by the caller, in nanoseconds since an arbitrary epoch. The core
/// never reads a clock (as `quinn-proto` takes `Instant`s from its driver); spans of it are
/// [`Dur`], so no caller writes a unit conversion by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const fn from_secs(s: u64) -> Time {
        Time(s.saturating_mul(NANOS_PER_SEC))
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
}

/// A span of [`Time`], in nanoseconds. Arithmetic saturates: a timeout never wraps around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub u64);

impl Dur {
    pub const ZERO: Dur = Dur(0);
    pub const fn from_secs(s: u64) -> Dur {
        Dur(s.saturating_mul(NANOS_PER_SEC))
    }
    pub const fn from_nanos(n: u64) -> Dur {
        Dur(n)
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
}

impl std::ops::Add<Dur> for Time {
    type Output = Time;
    #[inline]
    fn add(self, d: Dur) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}

impl std::ops::AddAssign<Dur> for Time {
    #[inline]
    fn add_assign(&mut self, d: Dur) {
        *self = *self + d;
    }
}

impl std::ops::Sub<Dur> for Time {
    type Output = Time;
    #[inline]
    fn sub(self, d: Dur) -> Time {
        Time(self.0.saturating_sub(d.0))
    }
}

/// The span from `earlier` to `self` (zero if `earlier` is later).
impl std::ops::Sub for Time {
    type Output = Dur;
    #[inline]
    fn sub(self, earlier: Time) -> Dur {
        Dur(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add for Dur {
    type Output = Dur;
    #[inline]
    fn add(self, d: Dur) -> Dur {
        Dur(self.0.saturating_add(d.0))
    }
}

impl std::ops::Mul<u64> for Dur {
    type Output = Dur;
    #[inline]
    fn mul(self, n: u64) -> Dur {
        Dur(self.0.saturating_mul(n))
    }
}

impl From<std::time::Duration> for Dur {
    fn from(d: std::time::Duration) -> Dur {
        Dur(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// Sizes of the state tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Security-group flows.
    pub max_entries: usize,
    /// NAT gateway bindings (all gateways).
    pub nat_max_entries: usize,
    /// Interface endpoint bindings.
    pub privatelink_max_entries: usize,
    /// Shards of the security-group table.
    pub shards: usize,
    /// Shards of the translation tables (at most [`xlat::MAX_SHARDS`]): each owns a class of
    /// the translated ports, so the flows to one destination spread over all of them.
    pub xlat_shards: usize,
    /// Hash key.
    pub seed: u64,
}

impl FlowConfig {
    /// Defaults for a bound of `max_entries` flows: NAT gets a quarter, PrivateLink an
    /// eighth. At the default bound the NAT quarter (65,536) holds AWS's 55,000 connections
    /// to one destination per address.
    pub fn with_max(max_entries: usize) -> FlowConfig {
        FlowConfig {
            max_entries,
            nat_max_entries: max_entries / 4,
            privatelink_max_entries: max_entries / 8,
            shards: 64,
            xlat_shards: 4,
            seed: 0x7670_6366_7764_0001,
        }
    }
}

/// Counters of all the flow state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowStats {
    pub conns: table::Stats,
    pub nat: nat::NatStats,
    pub privatelink_bindings: u64,
    pub privatelink_refusals: u64,
    pub privatelink_port_allocation_errors: u64,
}

/// All the flow state of the dataplane.
pub struct FlowTable {
    conns: ConnTable,
    nat: NatTable,
    privatelink: PrivateLinkTable,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("max_entries", &self.conns.max_entries())
            .field("flows", &self.conns.len())
            .field("nat_bindings", &self.nat.stats().active)
            .field("privatelink_bindings", &self.privatelink.len())
            .finish()
    }
}

impl Default for FlowTable {
    fn default() -> Self {
        FlowTable::new(0)
    }
}

impl FlowTable {
    /// State bounded at `max_entries` security-group flows (see [`FlowConfig::with_max`]).
    pub fn new(max_entries: usize) -> Self {
        FlowTable::with_config(FlowConfig::with_max(max_entries))
    }

    pub fn with_config(c: FlowConfig) -> Self {
        FlowTable {
            conns: ConnTable::new(c.max_entries, c.shards, c.seed),
            nat: NatTable::new(c.nat_max_entries, c.xlat_shards, c.seed ^ 0x6e61_7400),
            privatelink: PrivateLinkTable::new(
                c.privatelink_max_entries,
                c.xlat_shards,
                c.seed ^ 0x706c_0000,
            ),
        }
    }

    /// The security-group flow bound (rounded up to a multiple of the shard count).
    pub fn max_entries(&self) -> usize {
        self.conns.max_entries()
    }

    /// Security-group state.
    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// NAT gateway bindings.
    pub fn nat(&self) -> &NatTable {
        &self.nat
    }

    /// Interface endpoint bindings.
    pub fn privatelink(&self) -> &PrivateLinkTable {
        &self.privatelink
    }

    /// Housekeeping: examines up to `budget` slots per shard of every table.
    pub fn sweep(&self, now: Time, budget: usize) -> usize {
        self.conns.sweep(now, budget)
            + self.nat.sweep(now, budget)
            + self.privatelink.sweep(now, budget)
    }

    /// Counters of every table, for metrics.
    pub fn stats(&self) -> FlowStats {
        FlowStats {
            conns: self.conns.stats(),
            nat: self.nat.stats(),
            privatelink_bindings: self.privatelink.len() as u64,
            privatelink_refusals: self.privatelink.refusals(),
            privatelink_port_allocation_errors: self.privatelink.port_allocation_errors(),
        }
    }

    /// All preallocated state, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.conns.memory_bytes() + self.nat.memory_bytes() + self.privatelink.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_table_is_sync_and_send() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<FlowTable>();
    }

    #[test]
    fn bound_is_kept_and_rounded_to_shards() {
        let t = FlowTable::new(1000);
        assert!(t.max_entries() >= 1000 && t.max_entries() < 1000 + 64);
        let empty = FlowTable::new(0);
        assert_eq!(empty.max_entries(), 0);
        let (k, s) = FlowKey::from_tuple(
            0,
            &Tuple::udp([10, 0, 0, 1].into(), 1, [10, 0, 0, 2].into(), 2),
        );
        let a = Admit {
            tcp_flags: 0,
            tracked: true,
            zones: [Zone(0), Zone(0)],
            timeouts: Timeouts::default(),
        };
        assert_eq!(empty.conns().admit(&k, s, &a, Time(0)), Err(FlowTableFull));
        assert_eq!(empty.stats().conns.refusals, 1);
        assert_eq!(empty.memory_bytes(), 0);
    }
}
