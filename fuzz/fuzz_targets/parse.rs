#![no_main]
//! Packet parsing must never panic, whatever the bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vpcfwd::wire::parse(data);
});
