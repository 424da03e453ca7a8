#![no_main]
//! The scenario file parser (`trace --scenario`) must never panic, whatever the text: an error
//! with file:line:column, or a checked scenario.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vpcfwd::trace::scenario::parse_str(text, "fuzz.yaml", std::path::Path::new("."));
    }
});
