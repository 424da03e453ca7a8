//! `vpcfwd trace --pcap` replays a capture `vpcfwd run --pcap` made with the verdicts the
//! forwarder reached: what it forwarded from app is what reached the internet port (after NAT),
//! what it dropped never did, and why (root; SKIPPED without).

mod support;

use std::process::Command;
use support::lab::{LAB, Lab, can_run};
use vpcfwd::wire::{self, pcap};

#[test]
fn trace_pcap_replays_what_the_forwarder_decided() {
    if !can_run("trace_pcap_replays_what_the_forwarder_decided") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("pcap");
    let config = dir.path().join("lab.yaml");
    {
        // One queue per device: with several, the kernel may hand one flow's packets to two
        // queues, whose workers then forward (and capture) them in an order the capture of
        // the ingress port does not show, and the replay could not match it.
        let lab = Lab::up_with_args(LAB, &["--pcap", caps.to_str().unwrap(), "--queues", "1"]);
        std::fs::copy(&lab.config, &config).unwrap();
        assert_eq!(
            lab.connect_in("app", "203.0.113.100", "80", 1.5),
            "internet sees 198.51.100.5"
        );
        assert_eq!(lab.connect_in("app", "203.0.113.100", "23", 1.0), "TIMEOUT");
        assert_eq!(lab.connect_in("app", "203.0.113.200", "80", 1.0), "TIMEOUT");
    } // vpcfwd stopped: the captures are complete.
    let app = caps.join("app.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args([
            "trace",
            "-c",
            config.to_str().unwrap(),
            "--from",
            "app",
            "--pcap",
        ])
        .arg(&app)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // What the forwarder sent out of the internet port from the NAT gateway's address, in order.
    let inet = std::fs::read(caps.join("internet.pcap")).unwrap();
    let forwarded: Vec<(String, u16, u8)> = pcap::read(&inet)
        .unwrap()
        .iter()
        .filter_map(|r| wire::parse(r.packet?).ok())
        .filter(|m| m.src.to_string() == "198.51.100.5")
        .map(|m| (m.dst.to_string(), m.dport, m.tcp_flags))
        .collect();
    let traced: Vec<&serde_json::Value> = replay
        .iter()
        .filter(|v| v.get("skipped").is_none())
        .collect();
    assert!(traced.len() >= 5, "{replay:?}");
    let accepted: Vec<(String, u16, u8)> = traced
        .iter()
        .filter(|v| v["verdict"] == "ACCEPT")
        .map(|v| {
            assert_eq!(v["egress"], "internet", "{v}");
            let p = &v["leaves"]["packet"];
            let flags = wire::tcp::flags::parse(p["tcp_flags"].as_str().unwrap()).unwrap();
            (
                p["dst"].as_str().unwrap().to_string(),
                p["dport"].as_u64().unwrap() as u16,
                flags,
            )
        })
        .collect();
    assert!(
        forwarded.len() >= 3,
        "SYN, ACK, data at least: {forwarded:?}"
    );
    assert_eq!(
        accepted, forwarded,
        "the replay forwards what the forwarder did"
    );
    // What it dropped, for the reasons trace gives; none of it reached the internet.
    for v in traced.iter().filter(|v| v["verdict"] == "DROP") {
        let p = &v["packet"];
        let want = match (p["dst"].as_str(), p["dport"].as_u64()) {
            (Some("203.0.113.100"), Some(23)) => "NACL_DENY",
            (Some("203.0.113.200"), _) => "BLACKHOLE_ROUTE",
            _ => panic!("an unexpected drop: {v}"),
        };
        assert_eq!(v["reason"], want, "{v}");
    }
    let drops = traced.iter().filter(|v| v["verdict"] == "DROP").count();
    assert!(drops >= 2, "the telnet and blackhole SYNs: {replay:?}");
    assert!(
        replay
            .iter()
            .any(|v| v["skipped"] == "sent by the forwarder"),
        "the replies app received are in its capture, not replayed"
    );
}
