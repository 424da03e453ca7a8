#![no_main]
//! The whole pipeline on the lab config, from every port, must never panic — with the observer a
//! worker runs (counters and flow-log records) as well as without.
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use vpcfwd::flow::{FlowTable, Time};
use vpcfwd::observe::{Block, Layout, Observer};
use vpcfwd::pipeline::{NoTrace, Rx, process};
use vpcfwd::wire::ChecksumMode;
use vpcfwd::snapshot::{PortIdx, Snapshot};

fn lab() -> &'static Arc<Snapshot> {
    static S: OnceLock<Arc<Snapshot>> = OnceLock::new();
    S.get_or_init(|| {
        let cfg = vpcfwd::config::load::parse_str(include_str!("../../configs/lab.yaml"), "lab")
            .expect("lab parses");
        Arc::new(vpcfwd::snapshot::compile(&cfg).expect("lab compiles"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&port, pkt)) = data.split_first() else { return };
    let snap = lab();
    let mut buf = pkt.to_vec();
    buf.resize(pkt.len() + 128, 0);
    let ingress = PortIdx(u16::from(port) % snap.ports.len() as u16);
    let rx = Rx { ingress, now: Time(0), csum: ChecksumMode::Full };
    let _ = process(snap, &FlowTable::new(16), &mut buf, pkt.len(), rx, &mut NoTrace);
    buf[..pkt.len()].copy_from_slice(pkt);
    let block = Block::new(Arc::clone(snap), Arc::new(Layout::new(snap)));
    let mut obs = Observer::new(true);
    let v = process(snap, &FlowTable::new(16), &mut buf, pkt.len(), rx, &mut obs);
    block.decision(&obs, &v);
    let _ = obs.records(snap, Some(snap.ports[ingress].kind), &v);
});
