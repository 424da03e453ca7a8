//! `trace --pcap`: every packet of a capture, in order, through the pipeline on one flow table
//! at the capture's timestamps (relative to its first packet).

use super::{Trace, run_packet};
use crate::config::Config;
use crate::flow::{DEFAULT_MAX_ENTRIES, Dur, FlowTable, Time};
use crate::snapshot::{PortIdx, PortKind, Snapshot};
use crate::wire::pcap::Record;
use serde_json::{Value, json};
use std::net::IpAddr;

/// The first packet runs at this time (as `trace` runs at 1 s).
const EPOCH: Time = Time::from_secs(1);

/// What became of one record.
#[derive(Debug, Clone)]
pub enum Replayed {
    Traced(Trace),
    /// Not an IP packet (an Ethernet frame of another type).
    NotIp,
    /// A packet the forwarder sent out of the port (to one of its addresses, from another):
    /// the capture holds both directions; only what the port received is replayed.
    Sent,
}

/// One record's result: 1-based number, seconds since the first record, what happened.
#[derive(Debug, Clone)]
pub struct ReplayStep {
    pub number: usize,
    pub at: f64,
    pub result: Replayed,
}

impl ReplayStep {
    pub fn text(&self, hex: bool) -> String {
        let head = format!("== packet {} at {:.6}s", self.number, self.at);
        match &self.result {
            Replayed::Traced(t) => format!("{head}\n{}", t.text_full(hex)),
            Replayed::NotIp => format!("{head}: not an IP packet, skipped\n"),
            Replayed::Sent => format!("{head}: sent out of this port by the forwarder, skipped\n"),
        }
    }

    pub fn json(&self, hex: bool) -> Value {
        let mut v = json!({"packet": self.number, "at": self.at});
        match &self.result {
            Replayed::Traced(t) => {
                if let (Value::Object(o), Some(m)) = (t.json_full(hex), v.as_object_mut()) {
                    m.extend(o);
                }
            }
            Replayed::NotIp => v["skipped"] = json!("not IP"),
            Replayed::Sent => v["skipped"] = json!("sent by the forwarder"),
        }
        v
    }
}

/// Whether `a` is one of the port's own addresses (its ENI's, or in its `Addresses`).
fn owns(snap: &Snapshot, cfg: &Config, port: PortIdx, a: IpAddr) -> bool {
    match snap.ports.get(port).map(|p| p.kind) {
        Some(PortKind::Eni(e)) => snap.enis.get(e).is_some_and(|e| e.addrs.contains(&a)),
        Some(_) => cfg
            .ports
            .get(port.index())
            .is_some_and(|p| p.addresses.iter().any(|n| n.contains(&a))),
        None => false,
    }
}

/// Replays `records` as arriving on `port`. The flow table is bounded as the forwarder's.
pub fn replay(
    snap: &Snapshot,
    cfg: &Config,
    port: PortIdx,
    records: &[Record<'_>],
) -> Vec<ReplayStep> {
    let max = cfg
        .options
        .flow_table_max_entries
        .map_or(DEFAULT_MAX_ENTRIES, |m| m as usize);
    let flows = FlowTable::new(max);
    let first = records.first().map_or(0, |r| r.nanos);
    let mut last = 0;
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        // A capture's clock can step back a little between queues: time never goes back.
        let rel = r.nanos.saturating_sub(first).max(last);
        last = rel;
        let now = EPOCH + Dur::from_nanos(rel);
        let result = match r.packet {
            None => Replayed::NotIp,
            Some(p) => match crate::wire::parse(p) {
                Ok(m) if !owns(snap, cfg, port, m.src) && owns(snap, cfg, port, m.dst) => {
                    Replayed::Sent
                }
                _ => Replayed::Traced(run_packet(snap, &flows, p, port, now)),
            },
        };
        out.push(ReplayStep {
            number: i + 1,
            at: rel as f64 / 1e9,
            result,
        });
    }
    out
}
