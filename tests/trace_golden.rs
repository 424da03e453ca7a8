//! Golden trace output (text and JSON) for every path of configs/lab.yaml. Regenerate after an
//! intended change with `UPDATE_GOLDEN=1 cargo test --test trace_golden`, and review the diff.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{LAB_PATH, lab_compiled};
use vpcfwd::trace::{Probe, parse_proto, trace};

/// (golden name, --from, --dst, --proto, --dport, --src)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u16,
    Option<&'static str>,
);
const CASES: &[Case] = &[
    (
        "web-to-internet-igw",
        "web",
        "203.0.113.100",
        "tcp",
        80,
        None,
    ),
    (
        "internet-to-web-public-ip",
        "internet",
        "198.51.100.10",
        "tcp",
        80,
        None,
    ),
    (
        "internet-to-unmapped-public-ip",
        "internet",
        "198.51.100.99",
        "tcp",
        80,
        None,
    ),
    (
        "app-to-s3-gateway-endpoint",
        "app",
        "192.0.2.10",
        "tcp",
        80,
        None,
    ),
    (
        "app-to-dynamodb-gateway-endpoint",
        "app",
        "192.0.2.70",
        "tcp",
        80,
        None,
    ),
    (
        "app-to-s3-port-22-sg-deny",
        "app",
        "192.0.2.10",
        "tcp",
        22,
        None,
    ),
    (
        "app-to-internet-via-nat",
        "app",
        "203.0.113.100",
        "tcp",
        80,
        None,
    ),
    (
        "app-ping-internet-via-nat",
        "app",
        "203.0.113.100",
        "icmp",
        0,
        None,
    ),
    (
        "app-to-interface-endpoint",
        "app",
        "10.0.2.20",
        "tcp",
        443,
        None,
    ),
    (
        "web-to-interface-endpoint-other-subnet",
        "web",
        "10.0.2.20",
        "tcp",
        443,
        None,
    ),
    (
        "web-to-interface-endpoint-same-subnet",
        "web",
        "10.0.1.20",
        "tcp",
        443,
        None,
    ),
    (
        "app-to-interface-endpoint-port-80-sg-deny",
        "app",
        "10.0.2.20",
        "tcp",
        80,
        None,
    ),
    (
        "app-telnet-nacl-ordered-deny",
        "app",
        "203.0.113.100",
        "tcp",
        23,
        None,
    ),
    (
        "web-to-app-8080-sg-deny",
        "web",
        "10.0.2.10",
        "tcp",
        8080,
        None,
    ),
    (
        "web-to-app-ssh-sg-reference",
        "web",
        "10.0.2.10",
        "tcp",
        22,
        None,
    ),
    (
        "web-ping-app-prefix-list-rule",
        "web",
        "10.0.2.10",
        "icmp",
        0,
        None,
    ),
    (
        "app-to-blackhole-route",
        "app",
        "203.0.113.200",
        "tcp",
        80,
        None,
    ),
    (
        "web-to-deleted-nat-blackhole",
        "web",
        "192.0.2.200",
        "tcp",
        80,
        None,
    ),
    (
        "app-spoofed-source-src-dst-check",
        "app",
        "203.0.113.100",
        "tcp",
        80,
        Some("10.0.2.99"),
    ),
    (
        "app-to-reserved-destination",
        "app",
        "169.254.168.1",
        "tcp",
        80,
        None,
    ),
    (
        "s3-reply-to-app-needs-state",
        "s3",
        "10.0.2.10",
        "tcp",
        49152,
        None,
    ),
];

/// Paths traced with `--reply`: (golden name, --from, --dst, --proto, --dport, reply verdict).
const REPLIES: &[(&str, &str, &str, &str, u16, &str)] = &[
    (
        "reply-web-internet-igw",
        "web",
        "203.0.113.100",
        "tcp",
        80,
        "verdict: ACCEPT egress=web",
    ),
    (
        "reply-app-s3",
        "app",
        "192.0.2.10",
        "tcp",
        80,
        "verdict: ACCEPT egress=app",
    ),
    (
        "reply-app-dynamodb",
        "app",
        "192.0.2.70",
        "tcp",
        80,
        "verdict: ACCEPT egress=app",
    ),
    (
        "reply-app-internet-nat",
        "app",
        "203.0.113.100",
        "tcp",
        80,
        "verdict: ACCEPT egress=app",
    ),
    (
        "reply-app-ping-nat",
        "app",
        "203.0.113.100",
        "icmp",
        0,
        "verdict: ACCEPT egress=app",
    ),
    (
        "reply-app-interface-endpoint",
        "app",
        "10.0.2.20",
        "tcp",
        443,
        "verdict: ACCEPT egress=app",
    ),
    (
        "reply-web-interface-endpoint",
        "web",
        "10.0.2.20",
        "tcp",
        443,
        "verdict: ACCEPT egress=web",
    ),
    (
        "reply-web-app-ssh",
        "web",
        "10.0.2.10",
        "tcp",
        22,
        "verdict: ACCEPT egress=web",
    ),
    (
        "reply-internet-web",
        "internet",
        "198.51.100.10",
        "tcp",
        80,
        "verdict: ACCEPT egress=internet",
    ),
];

#[test]
fn replies_match_golden_files() {
    let (cfg, snap) = lab_compiled();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut mismatches = Vec::new();
    for &(name, from, dst, proto, dport, want_verdict) in REPLIES {
        let probe = Probe {
            from: from.into(),
            src: None,
            dst: dst.parse().unwrap(),
            proto: parse_proto(proto, false).unwrap(),
            sport: 49152,
            dport,
            icmp: (8, 0),
            reply: true,
        };
        let t = trace(&snap, &cfg, &probe).unwrap();
        assert_eq!(t.verdict_line(), want_verdict, "{name}");
        compare(&dir, name, &t, &mut mismatches);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Compares (or with UPDATE_GOLDEN writes) the text and JSON golden files of one trace.
fn compare(
    dir: &std::path::Path,
    name: &str,
    t: &vpcfwd::trace::Trace,
    mismatches: &mut Vec<String>,
) {
    let text = t.text();
    let json = serde_json::to_string_pretty(&t.json()).unwrap() + "\n";
    for (ext, got) in [("txt", &text), ("json", &json)] {
        support::golden::compare_file(&dir.join(format!("{name}.{ext}")), got, mismatches);
    }
}

#[test]
fn lab_paths_match_golden_files() {
    let (cfg, snap) = lab_compiled();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut mismatches = Vec::new();
    for &(name, from, dst, proto, dport, src) in CASES {
        let dst = dst.parse().unwrap();
        let probe = Probe {
            from: from.into(),
            src: src.map(|s| s.parse().unwrap()),
            dst,
            proto: parse_proto(proto, false).unwrap(),
            sport: 49152,
            dport,
            icmp: (8, 0),
            reply: false,
        };
        let t = trace(&snap, &cfg, &probe).unwrap();
        compare(&dir, name, &t, &mut mismatches);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The verdict each lab path must have, independent of the golden files' wording.
#[test]
fn lab_verdicts() {
    let (cfg, snap) = lab_compiled();
    let expect: &[(&str, &str)] = &[
        ("web-to-internet-igw", "verdict: ACCEPT egress=internet"),
        ("internet-to-web-public-ip", "verdict: ACCEPT egress=web"),
        (
            "internet-to-unmapped-public-ip",
            "verdict: DROP reason=NO_PUBLIC_IP_MAPPING",
        ),
        ("app-to-s3-gateway-endpoint", "verdict: ACCEPT egress=s3"),
        (
            "app-to-dynamodb-gateway-endpoint",
            "verdict: ACCEPT egress=ddb",
        ),
        (
            "app-to-s3-port-22-sg-deny",
            "verdict: DROP reason=SG_NO_ALLOW",
        ),
        ("app-to-internet-via-nat", "verdict: ACCEPT egress=internet"),
        (
            "app-ping-internet-via-nat",
            "verdict: ACCEPT egress=internet",
        ),
        ("app-to-interface-endpoint", "verdict: ACCEPT egress=api"),
        (
            "web-to-interface-endpoint-other-subnet",
            "verdict: ACCEPT egress=api",
        ),
        (
            "web-to-interface-endpoint-same-subnet",
            "verdict: ACCEPT egress=api",
        ),
        (
            "app-to-interface-endpoint-port-80-sg-deny",
            "verdict: DROP reason=SG_NO_ALLOW",
        ),
        (
            "app-telnet-nacl-ordered-deny",
            "verdict: DROP reason=NACL_DENY",
        ),
        (
            "web-to-app-8080-sg-deny",
            "verdict: DROP reason=SG_NO_ALLOW",
        ),
        ("web-to-app-ssh-sg-reference", "verdict: ACCEPT egress=app"),
        (
            "web-ping-app-prefix-list-rule",
            "verdict: ACCEPT egress=app",
        ),
        (
            "app-to-blackhole-route",
            "verdict: DROP reason=BLACKHOLE_ROUTE",
        ),
        (
            "web-to-deleted-nat-blackhole",
            "verdict: DROP reason=BLACKHOLE_ROUTE",
        ),
        (
            "app-spoofed-source-src-dst-check",
            "verdict: DROP reason=SRC_DST_CHECK",
        ),
        (
            "app-to-reserved-destination",
            "verdict: DROP reason=RESERVED_DESTINATION",
        ),
        (
            "s3-reply-to-app-needs-state",
            "verdict: DROP reason=SG_NO_ALLOW",
        ),
    ];
    assert_eq!(expect.len(), CASES.len());
    for (&(name, from, dst, proto, dport, src), &(ename, line)) in CASES.iter().zip(expect) {
        assert_eq!(name, ename);
        let probe = Probe {
            from: from.into(),
            src: src.map(|s| s.parse().unwrap()),
            dst: dst.parse().unwrap(),
            proto: parse_proto(proto, false).unwrap(),
            sport: 49152,
            dport,
            icmp: (8, 0),
            reply: false,
        };
        let t = trace(&snap, &cfg, &probe).unwrap();
        assert_eq!(t.verdict_line(), line, "{name}");
    }
}

/// The CLI contract: exit 0 whatever the verdict, `--json` shape, exit 2 on a bad config.
#[test]
fn trace_cli_contract() {
    let bin = env!("CARGO_BIN_EXE_vpcfwd");
    let lab = LAB_PATH;
    let out = Command::new(bin)
        .args([
            "trace",
            "-c",
            lab,
            "--from",
            "eni-app",
            "--dst",
            "203.0.113.200",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "DROP");
    assert_eq!(v["reason"], "BLACKHOLE_ROUTE");
    assert!(v["egress"].is_null());
    assert!(v["stages"].as_array().is_some_and(|s| !s.is_empty()));

    let out = Command::new(bin)
        .args([
            "trace",
            "-c",
            lab,
            "--from",
            "web",
            "--dst",
            "203.0.113.100",
            "--dport",
            "443",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.trim_end().ends_with("verdict: ACCEPT egress=internet"),
        "{text}"
    );

    let out = Command::new(bin)
        .args([
            "trace",
            "-c",
            lab,
            "--from",
            "nosuch",
            "--dst",
            "203.0.113.100",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from nosuch"));

    let out = Command::new(bin)
        .args([
            "trace",
            "-c",
            "/nonexistent.yaml",
            "--from",
            "web",
            "--dst",
            "203.0.113.100",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
