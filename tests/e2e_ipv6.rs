//! End to end on configs/lab6.yaml: real IPv6 TCP and ICMPv6 through real TUN devices in
//! namespaces this test creates and always removes (see `support/lab.rs`) — the internet
//! gateway without translation both ways, the egress-only internet gateway (out and back, never
//! in), NAT64 on the NAT gateway (TCP and ICMPv6 echo to an IPv4 host), the dual-stack
//! interface endpoint (IPv6 and IPv4 consumers, each to the service target of its family), the
//! dual-stack gateway endpoint (S3's IPv6 list routed to it). Needs root: without it the test prints SKIPPED (a failure under CI=true).

mod support;
use support::lab::*;

const LAB6: &str = include_str!("../configs/lab6.yaml");

/// The lab6 services: (port, listening addresses).
const SERVICES6: [(&str, &[&str]); 5] = [
    ("web", &["10.0.1.10:80", "2001:db8:10:1::10:80"]),
    ("v6", &["2001:db8:10:3::10:80", "2001:db8:10:3::10:22"]),
    ("internet", &["203.0.113.100:80", "2001:db8:ff::100:80"]),
    ("api", &["192.0.2.130:443", "2001:db8:ff:1::130:443"]),
    ("s3", &["192.0.2.10:443", "2001:db8:53::10:443"]),
];

#[test]
fn every_ipv6_lab_path_with_real_packets() {
    if !can_run("every_ipv6_lab_path_with_real_packets") {
        return;
    }
    let lab = Lab::up_custom(
        LAB6,
        &["web", "v6", "internet", "api", "s3"],
        &SERVICES6,
        &[],
    );
    let cases = [
        (
            "web",
            "2001:db8:ff::100",
            "80",
            "internet sees 2001:db8:10:1::10",
        ),
        (
            "internet",
            "2001:db8:10:1::10",
            "80",
            "web sees 2001:db8:ff::100",
        ),
        (
            "v6",
            "2001:db8:ff::100",
            "80",
            "internet sees 2001:db8:10:3::10",
        ),
        ("internet", "2001:db8:10:3::10", "80", "TIMEOUT"),
        (
            "web",
            "2001:db8:10:3::10",
            "22",
            "v6 sees 2001:db8:10:1::10",
        ),
        ("web", "203.0.113.100", "80", "internet sees 198.51.100.10"),
        (
            "v6",
            "64:ff9b::cb00:7164",
            "80",
            "internet sees 198.51.100.5",
        ),
        // The dual-stack interface endpoint: each family to the target of its own.
        (
            "web",
            "2001:db8:10:1::20",
            "443",
            "api sees 2001:db8:ff:1::129",
        ),
        (
            "v6",
            "2001:db8:10:1::20",
            "443",
            "api sees 2001:db8:ff:1::129",
        ),
        ("web", "10.0.1.20", "443", "api sees 192.0.2.129"),
        // The dual-stack gateway endpoint: S3's IPv6 range routed to it, untranslated.
        ("v6", "2001:db8:53::10", "443", "s3 sees 2001:db8:10:3::10"),
        ("web", "2001:db8:53::10", "443", "s3 sees 2001:db8:10:1::10"),
        ("web", "192.0.2.10", "443", "s3 sees 10.0.1.10"),
    ];
    let mut failures = Vec::new();
    for (from, dst, port, want) in cases {
        let got = lab.connect_in(from, dst, port, 1.5);
        if got != want {
            failures.push(format!(
                "{from} -> {dst}:{port}: got {got:?}, want {want:?}"
            ));
        }
    }
    for (from, dst, want) in [
        ("v6", "2001:db8:ff::100", "REPLY from 2001:db8:ff::100"),
        (
            "internet",
            "2001:db8:10:1::10",
            "REPLY from 2001:db8:10:1::10",
        ),
        ("internet", "2001:db8:10:3::10", "TIMEOUT"),
        ("v6", "64:ff9b::cb00:7164", "REPLY from 64:ff9b::cb00:7164"),
    ] {
        let got = lab.ping_in(from, dst);
        if got != want {
            failures.push(format!("ping {from} -> {dst}: got {got:?}, want {want:?}"));
        }
    }
    let refused = lab.metric("vpcfwd_drops_total{reason=\"EGRESS_ONLY\"}");
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        lab.vpcfwd_log()
    );
    assert!(refused >= 1.0, "EGRESS_ONLY drops counted: {refused}");
}

/// Real TCP bulk through NAT64: 8 MB from the IPv6-only instance to the IPv4 host, the TUN
/// devices carrying TSO6 super-packets in and TSO4 ones out (`Tx::Translated`); the payload
/// digest matches end to end. Reports how many packets vpcfwd read and wrote.
#[test]
fn tcp_bulk_through_nat64_arrives_whole_and_in_order() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    if !can_run("tcp_bulk_through_nat64_arrives_whole_and_in_order") {
        return;
    }
    let lab = Lab::up_custom(
        LAB6,
        &["web", "v6", "internet", "api", "s3"],
        &SERVICES6,
        &[],
    );
    let script = format!("{ROOT}/scripts/lab_digest.py");
    let (chunks, size) = (2000usize, 4000usize);
    let mut rx = Command::new("ip")
        .args(["netns", "exec", &lab.ns("internet"), "python3", &script])
        .args([
            "recv",
            "tcp",
            "203.0.113.100",
            "5301",
            &chunks.to_string(),
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts the receiver");
    let mut lines = BufReader::new(rx.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("READY"));
    let packets = |port: &str, dir: &str| {
        lab.metric(&format!(
            "vpcfwd_port_packets_total{{port=\"{port}\",direction=\"{dir}\"}}"
        ))
    };
    let (rx0, tx0) = (packets("v6", "rx"), packets("internet", "tx"));
    let sent = Command::new("ip")
        .args(["netns", "exec", &lab.ns("v6"), "python3", &script])
        .args(["send", "tcp", "64:ff9b::cb00:7164", "5301"])
        .args([chunks.to_string(), size.to_string()])
        .output()
        .expect("runs the sender");
    let sent = String::from_utf8_lossy(&sent.stdout).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while rx.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = rx.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = rx.wait();
    let got = lines.next().and_then(Result::ok).unwrap_or_default();
    let n = chunks * size;
    assert!(sent.starts_with(&format!("n={n} ")), "sender: {sent}");
    let digest = sent.split_once(' ').map(|(_, d)| d).unwrap_or("?");
    assert_eq!(
        got,
        format!("n={n} {digest} ordered=1"),
        "TCP stream end to end through NAT64\n{}",
        lab.vpcfwd_log()
    );
    let (rx1, tx1) = (packets("v6", "rx"), packets("internet", "tx"));
    println!(
        "NAT64 TCP bulk: {} packets read from v6, {} written to internet for {n} bytes",
        rx1 - rx0,
        tx1 - tx0
    );
}
