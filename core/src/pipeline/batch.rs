//! The batch path: a worker's batch goes through the pipeline stage by stage, as VPP does —
//! parse every packet; compute each one's first flow key and look it up (the worker's
//! [`FlowCache`] first, the shared table's shard and slot prefetched for the keys it lacks);
//! one batched LPM per route table for every packet that needs a route; then the decisions.
//!
//! The decision of each packet is the one [`super::process`] makes, by the same code: the
//! stages before it only compute lookups that the steps would do anyway, handed over as hints
//! that a step uses only when it asks the very same question (the same table and destination,
//! the same ENI's key), and a hit of the worker's cache stands for exactly the touch of the
//! shared table it replaces (see `flow::cache`). So `trace` (one packet, `process`) shows what
//! the forwarder does. Nothing is allocated: the per-batch arrays live on the stack, up to
//! [`MAX_BATCH`] packets at a time.

use super::{Aux, DropReason, RouteHint, Rx, Tracer, Verdict, decide};
use crate::flow::{FlowCache, FlowKey, FlowTable, Hashed, Side, Time, Tuple};
use crate::snapshot::{EniIdx, PortKind, RtbIdx, Snapshot};
use crate::wire::{self, PacketMeta};
use std::net::IpAddr;

/// Packets decided together (longer batches are taken this many at a time).
pub const MAX_BATCH: usize = 64;

/// What the I/O layer knows of one packet of a batch: its length and its [`Rx`].
#[derive(Debug, Clone, Copy)]
pub struct BatchIn {
    pub len: usize,
    pub rx: Rx,
}

/// A batch: packet `i` is `bufs[i].as_mut()[head..][..pkts[i].len]` (the frame may be longer,
/// so that a generated reply fits), traced by `tracers[i]`, decided into `verdicts[i]`. The
/// batch is as long as the shortest of the four.
pub struct Batch<'a, B, T> {
    pub bufs: &'a mut [B],
    /// Bytes before each packet in its frame (a port's headroom), left as they are.
    pub head: usize,
    pub pkts: &'a [BatchIn],
    pub tracers: &'a mut [T],
    pub verdicts: &'a mut [Verdict],
}

/// Decides a batch (see the module documentation). `cache` is the calling worker's own; the
/// caller ties it to the snapshot with [`FlowCache::begin`] before each batch. Pending
/// refreshes are written back to the shared table before this returns.
pub fn process_batch<B: AsMut<[u8]>, T: Tracer>(
    snap: &Snapshot,
    flows: &FlowTable,
    cache: &mut FlowCache,
    batch: Batch<'_, B, T>,
) {
    let n = batch
        .bufs
        .len()
        .min(batch.pkts.len())
        .min(batch.tracers.len())
        .min(batch.verdicts.len());
    let mut at = 0;
    while at < n {
        let end = (at + MAX_BATCH).min(n);
        chunk(
            snap,
            flows,
            cache,
            &mut batch.bufs[at..end],
            batch.head,
            &batch.pkts[at..end],
            &mut batch.tracers[at..end],
            &mut batch.verdicts[at..end],
        );
        at = end;
    }
}

/// One packet's state between the stages.
#[derive(Clone, Copy)]
struct Pre {
    meta: Option<PacketMeta>,
    flow: Option<(EniIdx, Hashed, Side)>,
    /// The ingress subnet's route table, when the packet will want a route from it.
    table: Option<RtbIdx>,
    route: Option<RouteHint>,
}

const EMPTY: Pre = Pre {
    meta: None,
    flow: None,
    table: None,
    route: None,
};

#[allow(clippy::too_many_arguments)]
fn chunk<B: AsMut<[u8]>, T: Tracer>(
    snap: &Snapshot,
    flows: &FlowTable,
    cache: &mut FlowCache,
    bufs: &mut [B],
    head: usize,
    pkts: &[BatchIn],
    tracers: &mut [T],
    verdicts: &mut [Verdict],
) {
    let n = pkts.len();
    let mut pre = [EMPTY; MAX_BATCH];
    let conns = flows.conns();
    // Stage 1: parse everything (a malformed packet is decided here, as `process` does).
    let mut horizon = Time(0);
    for i in 0..n {
        horizon = horizon.max(pkts[i].rx.now);
        let buf = &bufs[i].as_mut()[head..];
        let len = pkts[i].len.min(buf.len());
        match wire::parse(&buf[..len]) {
            Ok(m) => pre[i].meta = Some(m),
            Err(k) => verdicts[i] = Verdict::Drop(DropReason::Malformed(k)),
        }
    }
    // Stage 2: the flow key the ingress ENI's groups will ask for, looked up in the cache,
    // the shared slot prefetched where the cache lacks it; and the route table to ask.
    for (p, b) in pre.iter_mut().zip(pkts).take(n) {
        let Some(m) = p.meta else { continue };
        let Some(PortKind::Eni(e)) = snap.ports.get(b.rx.ingress).map(|x| x.kind) else {
            continue;
        };
        let Some(eni) = snap.enis.get(e) else {
            continue;
        };
        let (key, side) = FlowKey::from_tuple(eni.zone.0, &Tuple::of(&m));
        let k = Hashed::new(conns, key);
        cache.prefetch(conns, &k);
        p.flow = Some((e, k, side));
        p.table = Some(snap.subnets[eni.subnet].route_table);
    }
    // Stage 3: one batched LPM per (route table, family) among the packets that want a route.
    let mut done = [false; MAX_BATCH];
    for first in 0..n {
        let (Some(table), Some(m)) = (pre[first].table, pre[first].meta) else {
            continue;
        };
        if done[first] {
            continue;
        }
        let v6 = m.dst.is_ipv6();
        let mut idx = [0u8; MAX_BATCH];
        let mut k4 = [0u32; MAX_BATCH];
        let mut k6 = [0u128; MAX_BATCH];
        let mut got = 0;
        for i in first..n {
            let Some(mi) = pre[i].meta else { continue };
            if done[i] || pre[i].table != Some(table) || mi.dst.is_ipv6() != v6 {
                continue;
            }
            done[i] = true;
            match mi.dst {
                IpAddr::V4(a) => k4[got] = u32::from(a),
                IpAddr::V6(a) => k6[got] = u128::from(a),
            }
            idx[got] = i as u8;
            got += 1;
        }
        let mut out = [None; MAX_BATCH];
        let rt = &snap.route_tables[table];
        if v6 {
            rt.fib6.lookup_batch_u128(&k6[..got], &mut out[..got]);
        } else {
            rt.fib4.lookup_batch_u32(&k4[..got], &mut out[..got]);
        }
        for (j, &i) in idx[..got].iter().enumerate() {
            let i = usize::from(i);
            if let Some(m) = pre[i].meta {
                pre[i].route = Some(RouteHint {
                    table,
                    dst: m.dst,
                    hit: out[j],
                });
            }
        }
    }
    // Stage 4: the decisions, each with its hints and the cache.
    for i in 0..n {
        let Some(m) = pre[i].meta else { continue };
        let buf = &mut bufs[i].as_mut()[head..];
        let aux = Aux {
            cache: Some(&mut *cache),
            horizon,
            flow: pre[i].flow,
            route: pre[i].route,
        };
        verdicts[i] = decide(snap, flows, buf, m, pkts[i].rx, &mut tracers[i], aux);
    }
    // The coalesced refreshes: the shared table now holds what one-by-one would have left.
    cache.write_back(conns);
}
