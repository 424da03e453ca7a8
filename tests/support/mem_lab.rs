//! The forwarder on in-memory ports, in the spirit of quinn's `Pair`: the real worker loop
//! (`vpcfwd::io::worker::run`) and the real shared state, with one `MemPort` per port of a
//! snapshot in place of the TUN devices. A test scripts what each port receives (packets, batch
//! boundaries, a reload between two reads), waits until the workers have handled it
//! ([`MemLab::settle`]) and reads what each port sent, the counters and the flow logs. No root,
//! no namespace, no clock but the workers' own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::Duration;
use vpcfwd::flow::FlowTable;
use vpcfwd::io::mem::MemPort;
use vpcfwd::io::{FlowLogTap, Live, Shared, VnetHdr, worker};
use vpcfwd::observe::flowlog::{self, Batch};
use vpcfwd::observe::metrics::Series;
use vpcfwd::snapshot::Snapshot;

/// How long `settle` waits before the test fails.
const SETTLE: Duration = Duration::from_secs(10);

pub struct MemLab {
    pub shared: Arc<Shared<MemPort>>,
    ports: HashMap<String, Arc<MemPort>>,
    headroom: usize,
    workers: Vec<JoinHandle<()>>,
    flow_log: Option<Receiver<Batch>>,
}

impl MemLab {
    /// `snap` on plain in-memory ports (one queue each), no flow logs; workers not started.
    pub fn new(snap: Snapshot) -> MemLab {
        MemLab::with(snap, 0, None)
    }

    /// `snap` on in-memory ports whose frames carry `headroom` bytes (0, or a virtio-net header
    /// with `VNET_HDR_LEN`), with flow logs of `flow_log_secs` intervals if given.
    pub fn with(snap: Snapshot, headroom: usize, flow_log_secs: Option<u64>) -> MemLab {
        MemLab::with_ports(snap, headroom, flow_log_secs, (false, false))
    }

    /// `snap` on offload in-memory ports that claim UDP/TCP segmentation on writes (`seg`):
    /// the worker coalesces what it sends to them.
    pub fn segmenting(snap: Snapshot, seg: (bool, bool)) -> MemLab {
        MemLab::with_ports(snap, vpcfwd::io::VNET_HDR_LEN, None, seg)
    }

    fn with_ports(
        snap: Snapshot,
        headroom: usize,
        flow_log_secs: Option<u64>,
        seg: (bool, bool),
    ) -> MemLab {
        let ports: HashMap<String, Arc<MemPort>> = snap
            .ports
            .iter()
            .map(|p| {
                let port = MemPort::new(1, headroom).segmenting(seg.0, seg.1);
                (p.id.clone(), Arc::new(port))
            })
            .collect();
        let (tap, rx) = match flow_log_secs {
            Some(secs) => {
                let (tx, rx) = std::sync::mpsc::channel();
                let tap = FlowLogTap {
                    tx,
                    interval_secs: secs,
                    cap: 65_536,
                };
                (Some(tap), Some(rx))
            }
            None => (None, None),
        };
        let live = live_on(&ports, 1, snap);
        MemLab {
            shared: Arc::new(Shared::new(live, FlowTable::new(1 << 12), tap)),
            ports,
            headroom,
            workers: Vec::new(),
            flow_log: rx,
        }
    }

    fn live(&self, generation: u64, snap: Snapshot) -> Live<MemPort> {
        live_on(&self.ports, generation, snap)
    }

    /// Starts one worker per port.
    pub fn start(&mut self) {
        for p in self.shared.live.load().ports.iter() {
            let (s, p) = (Arc::clone(&self.shared), Arc::clone(p));
            self.workers
                .push(std::thread::spawn(move || worker::run(s, p, 0)));
        }
    }

    pub fn port(&self, id: &str) -> &MemPort {
        &self.ports[id]
    }

    /// Queues an IP packet for port `from` (behind an empty header on an offload lab).
    pub fn send(&self, from: &str, pkt: &[u8]) {
        self.port(from).push_packet(0, pkt);
    }

    /// Queues an IP packet behind virtio-net header `h` for port `from`.
    pub fn send_with(&self, from: &str, h: VnetHdr, pkt: &[u8]) {
        self.port(from).push_with(0, h, pkt);
    }

    /// Queues `pkts` into `from` behind header `h` as one batch, all at once (a worker
    /// running meanwhile cannot split it).
    pub fn send_batch(&self, from: &str, h: VnetHdr, pkts: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = pkts.iter().map(|p| p.as_slice()).collect();
        self.port(from).push_batch(0, h, &refs);
    }

    /// Ends the batch of `from`'s worker here.
    pub fn end_batch(&self, from: &str) {
        self.port(from).end_batch(0);
    }

    /// Swaps in `snap` as the next generation now, as a reload does; its generation.
    pub fn reload(&self, snap: Snapshot) -> u64 {
        let g = self.shared.live.load().generation + 1;
        self.shared.live.store(Arc::new(self.live(g, snap)));
        g
    }

    /// Swaps in `snap` when `from`'s worker reaches this point of its queue (between two reads
    /// of one batch if packets are queued around it).
    pub fn reload_at(&self, from: &str, snap: Snapshot) {
        let g = self.shared.live.load().generation + 1;
        let live = Arc::new(self.live(g, snap));
        let shared = Arc::clone(&self.shared);
        self.port(from)
            .call(0, move || shared.live.store(Arc::clone(&live)));
    }

    /// Waits until every worker has handled everything queued for it.
    pub fn settle(&self) {
        for (id, p) in &self.ports {
            assert!(p.settle(0, SETTLE), "worker of {id} did not settle");
        }
    }

    /// The frames port `to` sent since the last call (headroom included).
    pub fn frames(&self, to: &str) -> Vec<Vec<u8>> {
        self.port(to).sent(0)
    }

    /// The IP packets port `to` sent since the last call.
    pub fn sent(&self, to: &str) -> Vec<Vec<u8>> {
        let h = self.headroom;
        self.frames(to)
            .into_iter()
            .map(|f| f[h..].to_vec())
            .collect()
    }

    /// Every counter series, summed over workers and generations.
    pub fn totals(&self) -> BTreeMap<Series, u64> {
        self.shared.stats.totals()
    }

    /// The total of counter `name` over the series that have all of `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.totals()
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    /// The next flow-log batch a worker hands over within `timeout`.
    pub fn flow_log_batch(&self, timeout: Duration) -> Option<Batch> {
        self.flow_log.as_ref()?.recv_timeout(timeout).ok()
    }

    /// Stops the workers (each hands over its last flow-log batch and retires its counters).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for p in self.ports.values() {
            p.wake();
        }
        for w in self.workers.drain(..) {
            w.join().expect("worker does not panic");
        }
    }

    /// Stops the workers and writes every flow-log batch they handed over through the flow-log
    /// writer, as `vpcfwd run`'s writer thread does: the records, as lines.
    pub fn stop_and_write_flow_log(&mut self) -> Vec<String> {
        self.stop();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flow.log");
        let file = flowlog::RotatingFile::open(&path, 1 << 20, 1).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut w = flowlog::Writer::new(file, 60, now);
        let snap = Arc::clone(&self.shared.live.load().snap);
        w.learn(
            &snap.account_id,
            snap.enis.iter().map(|e| (e.zone.0, e.id.clone())),
        );
        if let Some(rx) = &self.flow_log {
            while let Ok(b) = rx.try_recv() {
                w.add(b);
            }
        }
        w.flush(now, true).unwrap();
        drop(w);
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Generation `generation` of `snap` on `ports` (by port id: a snapshot may order them
/// otherwise).
fn live_on(
    ports: &HashMap<String, Arc<MemPort>>,
    generation: u64,
    snap: Snapshot,
) -> Live<MemPort> {
    let ports = snap
        .ports
        .iter()
        .map(|p| Arc::clone(&ports[&p.id]))
        .collect();
    Live::new(generation, snap, ports)
}

impl Drop for MemLab {
    fn drop(&mut self) {
        self.stop();
    }
}
