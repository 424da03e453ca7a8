//! End to end on configs/lab6.yaml: real IPv6 TCP and ICMPv6 through real TUN devices in
//! namespaces this test creates and always removes (see `support/lab.rs`) — the internet
//! gateway without translation both ways, the egress-only internet gateway (out and back, never
//! in), NAT64 on the NAT gateway (TCP and ICMPv6 echo to an IPv4 host). Needs root: without it the test prints SKIPPED (a failure under CI=true).

mod support;
use support::lab::*;

const LAB6: &str = include_str!("../configs/lab6.yaml");

/// The lab6 services: (port, listening addresses).
const SERVICES6: [(&str, &[&str]); 3] = [
    ("web", &["10.0.1.10:80", "2001:db8:10:1::10:80"]),
    ("v6", &["2001:db8:10:3::10:80", "2001:db8:10:3::10:22"]),
    ("internet", &["203.0.113.100:80", "2001:db8:ff::100:80"]),
];

#[test]
fn every_ipv6_lab_path_with_real_packets() {
    if !can_run("every_ipv6_lab_path_with_real_packets") {
        return;
    }
    let lab = Lab::up_custom(LAB6, &["web", "v6", "internet"], &SERVICES6, &[]);
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
