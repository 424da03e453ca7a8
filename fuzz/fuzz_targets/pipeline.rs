#![no_main]
//! The whole pipeline on the lab config, from every port, must never panic.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vpcfwd::flow::{FlowTable, Time};
use vpcfwd::pipeline::{NoTrace, Rx, process};
use vpcfwd::snapshot::{PortIdx, Snapshot};

fn lab() -> &'static Snapshot {
    static S: OnceLock<Snapshot> = OnceLock::new();
    S.get_or_init(|| {
        let cfg = vpcfwd::config::load::parse_str(include_str!("../../configs/lab.yaml"), "lab")
            .expect("lab parses");
        vpcfwd::snapshot::compile(&cfg).expect("lab compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&port, pkt)) = data.split_first() else { return };
    let snap = lab();
    let mut buf = pkt.to_vec();
    buf.resize(pkt.len() + 128, 0);
    let rx = Rx { ingress: PortIdx(u16::from(port) % snap.ports.len() as u16), now: Time(0), l4_csum_partial: false };
    let _ = process(snap, &FlowTable::new(16), &mut buf, pkt.len(), rx, &mut NoTrace);
});
