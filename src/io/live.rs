//! What the workers share: the live config generation (snapshot + ports, swapped whole on
//! reload), the flow table, the clock, the counters and the flow-log hand-off.
//!
//! Generic over the port type `P` so that the same state and the same worker loop run on
//! in-memory ports in tests; `vpcfwd run` uses the default, [`LivePort`] (a TUN device behind
//! a capture tap). One port type per forwarder: the worker calls the egress port directly.

use super::pcap::Captured;
use super::tun::TunPort;
use crate::flow::{FlowTable, Time};
use crate::observe::Layout;
use crate::observe::flowlog;
use crate::observe::metrics::Registry;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A port as the running forwarder has it: its TUN device, behind a capture tap.
pub type LivePort = Captured<TunPort>;

/// What the workers forward with: a config generation and the ports that go with it. Swapped
/// whole on reload, so a worker never sees a snapshot whose port indices do not match its ports.
pub struct Live<P = LivePort> {
    pub generation: u64,
    pub snap: Arc<Snapshot>,
    pub layout: Arc<Layout>,
    /// In the snapshot's port order.
    pub ports: Vec<Arc<P>>,
}

impl<P> Live<P> {
    /// Generation `generation` of `snap` with its ports (in the snapshot's port order), and
    /// where each of its counters lives.
    pub fn new(generation: u64, snap: Snapshot, ports: Vec<Arc<P>>) -> Live<P> {
        Live {
            generation,
            layout: Arc::new(Layout::new(&snap)),
            snap: Arc::new(snap),
            ports,
        }
    }
}

/// Flow-log settings of a running forwarder.
pub struct FlowLogTap {
    /// Where workers hand their interval batches (to the writer thread).
    pub tx: std::sync::mpsc::Sender<flowlog::Batch>,
    pub interval_secs: u64,
    /// Keys per worker per interval before records are skipped (SKIPDATA).
    pub cap: usize,
}

/// What every worker shares.
pub struct Shared<P = LivePort> {
    pub live: ArcSwap<Live<P>>,
    pub flows: FlowTable,
    pub stop: AtomicBool,
    pub epoch: Instant,
    /// Wall-clock time at `epoch` (µs since the Unix epoch), for flow logs.
    pub epoch_unix_micros: u64,
    pub stats: Registry,
    pub flow_log: Option<FlowLogTap>,
}

impl<P> Shared<P> {
    pub fn new(live: Live<P>, flows: FlowTable, flow_log: Option<FlowLogTap>) -> Shared<P> {
        let epoch_unix_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Shared {
            live: ArcSwap::from_pointee(live),
            flows,
            stop: AtomicBool::new(false),
            epoch: Instant::now(),
            epoch_unix_micros,
            stats: Registry::new(),
            flow_log,
        }
    }

    /// Monotonic time for the pipeline (the I/O layer reads the clock, the core never does).
    pub fn now(&self) -> Time {
        Time(self.epoch.elapsed().as_nanos() as u64)
    }

    /// Wall-clock microseconds of a pipeline time.
    pub fn unix_micros(&self, t: Time) -> u64 {
        self.epoch_unix_micros + t.0 / 1000
    }
}
