#![no_main]
//! YAML config → check → compile (what `vpcfwd check` and a reload do with a file) must never
//! panic, whatever the text: parse errors and validation errors are answers, not crashes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cfg) = vpcfwd::config::load::parse_str(text, "fuzz.yaml") else { return };
    if !vpcfwd::config::validate::validate(&cfg).is_empty() {
        return;
    }
    if let Ok(snap) = vpcfwd::snapshot::compile(&cfg) {
        // The lab plan of a valid config, as `vpcfwd ports` and `run` derive it.
        let _ = vpcfwd::io::plan(&cfg);
        let _ = snap.ports.len();
    }
});
