//! Connection tracking and address translation state (security-group state, NAT gateway,
//! internet gateway, PrivateLink). Shared by all workers: `&FlowTable` is `Sync`.

/// Monotonic time supplied by the caller, in nanoseconds since an arbitrary epoch. The core
/// never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1_000_000_000)
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
}

/// The flow table (bounded).
#[derive(Debug, Default)]
pub struct FlowTable {
    max_entries: usize,
}

impl FlowTable {
    pub fn new(max_entries: usize) -> Self {
        FlowTable { max_entries }
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }
}
