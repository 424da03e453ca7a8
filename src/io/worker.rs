//! The worker: one thread per queue of each port, each with its own preallocated buffer,
//! reading its queue in batches of up to [`BATCH`] packets per wake-up with one snapshot load
//! (an `ArcSwap` load: a reload swaps it without stopping forwarding) and one clock read,
//! deciding with `pipeline::process` and writing to the egress port's queue of the same number.
//! The kernel keeps each flow on one queue.
//!
//! Flow state is one sharded `FlowTable` shared by all workers rather than partitioned per
//! worker: a reply arrives on another device — hence another worker — than its request, and the
//! kernel's queue choice on the two devices is not coordinated, so no partition would keep both
//! directions of a flow on one worker.
//!
//! A batch is read at once ([`Port::recv_batch`] into the worker's [`BATCH`] frames), each
//! packet decided in its frame, then what leaves is grouped by egress port, coalesced where
//! the egress device segments it again ([`super::coalesce`]) and written with one
//! [`Port::send_batch`] per egress port (one `io_uring_enter` on the io_uring path).
//!
//! The loop is generic over the [`Port`] it runs on (a TUN device in `vpcfwd run`, an in-memory
//! port in tests): one monomorphic loop per port type, no dynamic dispatch per packet.

use super::coalesce::{self, Offloads};
use super::live::Shared;
use super::port::{self, Out, Port, RxMeta, Tx};
use crate::flow::{FlowCache, Time};
use crate::observe::flowlog::{self, Aggregator};
use crate::observe::{Block, Observer};
use crate::pipeline::{self, Batch, BatchIn, Rx, Verdict};
use crate::snapshot::PortIdx;
use crate::wire;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Packets handled per wake-up with one snapshot load and one clock read.
pub const BATCH: usize = 64;
/// How long a worker waits for packets before it looks for shutdown and reloads again.
const POLL: Duration = Duration::from_millis(200);

/// The loop of the worker serving queue `q` of `port`: read a batch, decide, write (to the
/// egress port's queue of the same number), count; until `stop` or until a reload removes the
/// port.
pub fn run<P: Port>(shared: Arc<Shared<P>>, port: Arc<P>, q: usize) {
    if q >= port.queues() {
        return;
    }
    // The port's headroom (a virtio-net header with offloads) precedes every packet, kept as
    // it came.
    let hdr = port.headroom();
    // `VPCFWD_COALESCE=0` turns coalescing off (to measure what it is worth).
    let coalescing = std::env::var_os("VPCFWD_COALESCE").is_none_or(|v| v != "0");
    let mut frames: Vec<port::Frame> = (0..BATCH).map(|_| port::frame()).collect();
    let mut metas = [RxMeta::default(); BATCH];
    // Per packet of a batch: what the pipeline is told, its observer (counters and flow logs,
    // as one by one), its IP version as it came (NAT64 changes it), its verdict.
    let mut ins = [BatchIn {
        len: 0,
        rx: Rx {
            ingress: PortIdx(0),
            now: Time(0),
            csum: wire::ChecksumMode::Full,
        },
    }; BATCH];
    let mut obs = [Observer::default(); BATCH];
    let mut versions = [None; BATCH];
    let mut verdicts = [Verdict::Drop(pipeline::DropReason::NoPort); BATCH];
    // This worker's flow cache (established flows without the shared lock; see `flow::cache`).
    let mut cache = FlowCache::default();
    // What leaves, in batch order, with its egress port; and one egress port's share of it.
    let mut outs: Vec<(usize, Out)> = Vec::with_capacity(BATCH);
    let mut group: Vec<Out> = Vec::with_capacity(BATCH);
    let mut generation = u64::MAX;
    let mut me = 0usize;
    let mut block: Option<Arc<Block>> = None;
    let unix = |t: Time| shared.unix_micros(t) / 1_000_000;
    let mut agg = shared.flow_log.as_ref().map(|f| {
        (
            Aggregator::new(f.cap, f.interval_secs, unix(shared.now())),
            f.tx.clone(),
        )
    });
    while !shared.stop.load(Ordering::Relaxed) {
        let ready = port.wait(q, POLL).unwrap_or(false);
        let live = shared.live.load();
        if live.generation != generation {
            let Some(i) = live.ports.iter().position(|p| Arc::ptr_eq(p, &port)) else {
                break;
            };
            me = i;
            if let Some(b) = block.take() {
                b.retire();
            }
            block = Some(
                shared
                    .stats
                    .block(Arc::clone(&live.snap), Arc::clone(&live.layout)),
            );
            generation = live.generation;
        }
        let Some(counters) = block.as_deref() else {
            break;
        };
        let now = shared.now();
        let now_unix = unix(now);
        if let Some((a, tx)) = &mut agg
            && a.due(now_unix)
        {
            let b = a.take(now_unix, Some(Arc::clone(&live.snap)));
            if !b.records.is_empty() || !b.skipped.is_empty() {
                let _ = tx.send(b);
            }
        }
        if !ready {
            continue;
        }
        let snap = &*live.snap;
        let ingress_kind = snap.ports.get(PortIdx(me as u16)).map(|p| p.kind);
        let n = port.recv_batch(q, &mut frames, &mut metas);
        for (slot, m) in metas.iter().enumerate().take(n) {
            counters.rx(me, m.len);
            ins[slot] = BatchIn {
                len: m.len,
                rx: Rx {
                    ingress: PortIdx(me as u16),
                    now,
                    csum: m.csum,
                },
            };
            obs[slot] = Observer::new(agg.is_some());
            versions[slot] = wire::xlat46::version(&frames[slot][hdr..]);
        }
        cache.begin(shared.flows.conns(), generation);
        pipeline::process_batch(
            snap,
            &shared.flows,
            &mut cache,
            Batch {
                bufs: &mut frames[..n],
                head: hdr,
                pkts: &ins[..n],
                tracers: &mut obs[..n],
                verdicts: &mut verdicts[..n],
            },
        );
        for (slot, m) in metas.iter().enumerate().take(n) {
            let (v, o, n) = (verdicts[slot], &obs[slot], m.len);
            counters.decision(o, &v);
            if let Some((a, _)) = &mut agg {
                for r in o.records_ext(snap, ingress_kind, &v).into_iter().flatten() {
                    let key = flowlog::Key {
                        zone: r.zone,
                        five: r.five,
                        accept: r.accept,
                    };
                    a.add_ext(key, r.ext, m.segments, n as u64, now_unix);
                }
            }
            let buf = &frames[slot];
            let (egress, len, tx) = match v {
                // NAT64 changed the family: the packet left with complete checksums, and the
                // header it came with (checksum start, segmentation type) is the port's to redo.
                Verdict::Forward { egress, len }
                    if wire::xlat46::version(&buf[hdr..]) != versions[slot] =>
                {
                    (egress, len, Tx::Translated)
                }
                Verdict::Forward { egress, len } => (egress, len, Tx::Forwarded),
                Verdict::Reply { egress, len, .. } | Verdict::Answer { egress, len, .. } => {
                    (egress, len, Tx::Generated)
                }
                Verdict::Drop(_) => continue,
            };
            let len = hdr + len;
            outs.push((usize::from(egress.0), Out { slot, len, tx }));
        }
        // Each egress port's packets, in batch order, coalesced, in one send.
        while let Some(&(e, _)) = outs.first() {
            group.clear();
            outs.retain(|&(x, o)| {
                if x == e {
                    group.push(o);
                }
                x != e
            });
            let Some(out) = live.ports.get(e) else {
                continue;
            };
            let off = Offloads {
                udp: coalescing && out.takes_uso(),
                tcp: coalescing && out.takes_tso(),
            };
            coalesce::coalesce(&mut frames, &mut group, hdr, off);
            out.send_batch(q, &mut frames, &group, &mut |o, ok| {
                if ok {
                    counters.tx(e, o.len - hdr);
                } else {
                    counters.tx_error(e);
                }
            });
        }
    }
    if let Some(b) = block.take() {
        b.retire();
    }
    if let Some((mut a, tx)) = agg {
        let now_unix = unix(shared.now());
        let snap = Arc::clone(&shared.live.load().snap);
        let _ = tx.send(a.take(now_unix, Some(snap)));
    }
}
