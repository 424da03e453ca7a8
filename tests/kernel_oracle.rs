//! The kernel's FIB as the oracle of the forwarder's LPM, bounded for CI: `scripts/kernel-oracle.sh`
//! with 100,000 random keys per family, the endpoints of 10,000 Tier-1 prefixes (when
//! ../shared holds the table) and 20 random tables (/0, host routes, nesting). Root: SKIPPED
//! without it (a failure under CI=true). The full run (1M keys, every prefix) is the script's
//! default: docs/reliability.md.

mod support;
use support::lab::{ROOT, can_run};

#[test]
fn kernel_and_vpcfwd_lookup_agree() {
    if !can_run("kernel_and_vpcfwd_lookup_agree") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("oracle.json");
    let o = std::process::Command::new(format!("{ROOT}/scripts/kernel-oracle.sh"))
        .args([
            "--keys",
            "100000",
            "--sample",
            "10000",
            "--random-tables",
            "20",
            "--json",
        ])
        .arg(&json)
        .env("VPCFWD", env!("CARGO_BIN_EXE_vpcfwd"))
        .output()
        .expect("runs scripts/kernel-oracle.sh");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    println!("{out}{err}");
    assert!(o.status.success(), "kernel-oracle failed:\n{out}\n{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["mismatches"], 0, "{doc}");
    assert_eq!(doc["kernel_refused_routes"], 0, "{doc}");
    assert!(doc["keys"].as_u64().unwrap() >= 100_000, "{doc}");
}
