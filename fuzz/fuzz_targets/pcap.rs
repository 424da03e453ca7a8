#![no_main]
//! The pcap reader (`trace --pcap`) must never panic, whatever the bytes; each packet it yields
//! goes through the packet parser too.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = vpcfwd::wire::pcap::read(data) {
        for r in records {
            if let Some(p) = r.packet {
                let _ = vpcfwd::wire::parse(p);
            }
        }
    }
});
