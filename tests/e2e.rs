//! End to end: real TCP connections through real TUN devices in network namespaces this test
//! creates and always removes (see `support/lab.rs`). Needs root (CAP_NET_ADMIN): without it the test
//! prints SKIPPED, and under CI=true that is a failure.

mod support;
use std::time::{Duration, Instant};
use support::lab::*;

#[test]
fn every_lab_path_with_real_packets() {
    if !can_run("every_lab_path_with_real_packets") {
        return;
    }
    let lab = Lab::up();
    // (from, dst, port, expected answer)
    let cases = [
        ("web", "203.0.113.100", "80", "internet sees 198.51.100.10"),
        ("internet", "198.51.100.10", "80", "web sees 203.0.113.100"),
        ("app", "192.0.2.10", "80", "s3 sees 10.0.2.10"),
        ("app", "192.0.2.70", "80", "ddb sees 10.0.2.10"),
        ("app", "203.0.113.100", "80", "internet sees 198.51.100.5"),
        ("app", "10.0.2.20", "443", "api sees 192.0.2.129"),
        ("web", "10.0.1.20", "443", "api sees 192.0.2.129"),
        ("web", "10.0.2.10", "22", "app sees 10.0.1.10"),
        ("app", "203.0.113.100", "23", "TIMEOUT"),
        ("web", "10.0.2.10", "8080", "TIMEOUT"),
        ("app", "10.0.2.20", "80", "TIMEOUT"),
        ("web", "10.0.1.20", "80", "TIMEOUT"),
        ("app", "203.0.113.200", "80", "TIMEOUT"),
        ("internet", "198.51.100.5", "80", "TIMEOUT"),
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
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shutdown_removes_every_namespace_and_device() {
    if !can_run("shutdown_removes_every_namespace_and_device") {
        return;
    }
    let names;
    {
        let mut lab = Lab::up();
        names = lab.namespaces.clone();
        let mut c = lab.vpcfwd.take().unwrap();
        // SAFETY: signalling the PID of the child we started.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let status = c.wait().unwrap();
        assert!(status.success(), "vpcfwd exits 0 on SIGTERM");
        for ns in &names {
            assert!(
                !std::path::Path::new("/var/run/netns").join(ns).exists(),
                "vpcfwd removed the namespace {ns} it created"
            );
        }
    }
}

#[test]
fn a_nacl_blocks_the_reply_although_the_request_passed() {
    if !can_run("a_nacl_blocks_the_reply_although_the_request_passed") {
        return;
    }
    // acl-private admits inbound traffic from the VPC only: app's request to the S3 stand-in
    // leaves (outbound rule 100), its reply from 192.0.2.10 is denied on the way back in.
    let inbound_all = "      - RuleNumber: 100\n        Egress: false\n        Protocol: \"-1\"\n        RuleAction: allow\n        CidrBlock: 0.0.0.0/0";
    assert_eq!(LAB.matches(inbound_all).count(), 1);
    let yaml = LAB.replacen(
        inbound_all,
        &inbound_all.replace("0.0.0.0/0", "10.0.0.0/16"),
        1,
    );
    let lab = Lab::up_with(&yaml);
    assert_eq!(lab.connect_in("app", "192.0.2.10", "80", 1.5), "TIMEOUT");
    // The same reply is admitted by security-group state alone once the NACL lets it in:
    // web (default NACL) reaches the internet and gets its answer.
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 1.5),
        "internet sees 198.51.100.10"
    );
    // The flow log says it as AWS does: the request ACCEPT, the reply REJECT.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (req, rep) = (
        " eni-app 10.0.2.10 192.0.2.10 ",
        " eni-app 192.0.2.10 10.0.2.10 80 ",
    );
    loop {
        let log = std::fs::read_to_string(&lab.flow_log).unwrap_or_default();
        let has = |prefix: &str, action: &str| {
            log.lines()
                .any(|l| l.contains(prefix) && l.ends_with(&format!(" {action} OK")))
        };
        if has(req, "ACCEPT") && has(rep, "REJECT") {
            assert!(!has(req, "REJECT") && !has(rep, "ACCEPT"), "{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "request ACCEPT + reply REJECT in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
