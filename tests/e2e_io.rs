//! End to end over both TUN I/O paths (`--io uring` and the plain `--io plain` fallback), with
//! coalescing on egress: bulk UDP and TCP from app through the NAT gateway and the IGW to the
//! internet namespace, the payload's SHA-256 compared end to end (no byte lost, altered or
//! reordered), and the forwarder's counters showing packets merged on the way out. Real packets
//! in namespaces this test creates and removes (`support/lab.rs`); needs root, else SKIPPED.

mod support;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::lab::*;

const DATAGRAMS: usize = 3000;
const TCP_CHUNKS: usize = 2000;

/// Runs `lab_digest.py recv` in `to`'s namespace and `send` in `from`'s: (sent, received).
fn transfer(lab: &Lab, proto: &str, port: &str, count: usize, size: usize) -> (String, String) {
    let script = format!("{ROOT}/scripts/lab_digest.py");
    let mut rx = Command::new("ip")
        .args(["netns", "exec", &lab.ns("internet"), "python3", &script])
        .args([
            "recv",
            proto,
            "203.0.113.100",
            port,
            &count.to_string(),
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts the receiver");
    let mut lines = BufReader::new(rx.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("READY"),
        "receiver ready"
    );
    let sent = Command::new("ip")
        .args(["netns", "exec", &lab.ns("app"), "python3", &script])
        .args(["send", proto, "203.0.113.100", port])
        .args([count.to_string(), size.to_string()])
        .output()
        .expect("runs the sender");
    let deadline = Instant::now() + Duration::from_secs(30);
    while rx.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = rx.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = rx.wait();
    let got = lines.next().and_then(Result::ok).unwrap_or_default();
    (
        String::from_utf8_lossy(&sent.stdout).trim().to_string(),
        got,
    )
}

fn packets(lab: &Lab, port: &str, dir: &str) -> f64 {
    lab.metric(&format!(
        "vpcfwd_port_packets_total{{port=\"{port}\",direction=\"{dir}\"}}"
    ))
}

fn bulk_through(mode: &str, log_says: &str) {
    let lab = Lab::up_with_args(LAB, &["--io", mode, "--queues", "1"]);
    assert!(
        lab.vpcfwd_log().contains(log_says),
        "vpcfwd logs its I/O path ({log_says}):\n{}",
        lab.vpcfwd_log()
    );
    // UDP: 3000 datagrams of 200 bytes in bursts; every one arrives, in order, unaltered.
    let (rx0, tx0) = (packets(&lab, "app", "rx"), packets(&lab, "internet", "tx"));
    let (sent, got) = transfer(&lab, "udp", "5300", DATAGRAMS, 200);
    let digest = sent.split_once(' ').map(|(_, d)| d).unwrap_or("?");
    assert!(
        sent.starts_with(&format!("n={DATAGRAMS} ")),
        "sender: {sent}"
    );
    assert_eq!(
        got,
        format!("n={DATAGRAMS} {digest} ordered=1"),
        "UDP payload end to end"
    );
    let (rx1, tx1) = (packets(&lab, "app", "rx"), packets(&lab, "internet", "tx"));
    println!(
        "{mode}: UDP {} datagrams read, {} written (coalesced)",
        rx1 - rx0,
        tx1 - tx0
    );
    assert!(rx1 - rx0 >= DATAGRAMS as f64);

    // TCP with the sender's device segmenting in software (one segment per skb): segments
    // reach vpcfwd one by one and leave merged.
    let dev_cmd = Command::new("ip")
        .args([
            "-n",
            &lab.ns("app"),
            "link",
            "set",
            "vf-app",
            "gso_max_segs",
            "1",
        ])
        .status()
        .expect("runs ip");
    let (rx0, tx0) = (packets(&lab, "app", "rx"), packets(&lab, "internet", "tx"));
    let (sent, got) = transfer(&lab, "tcp", "5301", TCP_CHUNKS, 4000);
    let (rx1, tx1) = (packets(&lab, "app", "rx"), packets(&lab, "internet", "tx"));
    let n = TCP_CHUNKS * 4000;
    assert!(sent.starts_with(&format!("n={n} ")), "sender: {sent}");
    let digest = sent.split_once(' ').map(|(_, d)| d).unwrap_or("?");
    assert_eq!(
        got,
        format!("n={n} {digest} ordered=1"),
        "TCP stream end to end"
    );
    println!(
        "{mode}: TCP {} packets read, {} written (gso_max_segs 1 on the sender: {})",
        rx1 - rx0,
        tx1 - tx0,
        dev_cmd.success()
    );
    if dev_cmd.success() {
        assert!(
            tx1 - tx0 < rx1 - rx0,
            "segments that arrived one by one leave merged"
        );
    }
}

#[test]
fn bulk_udp_and_tcp_through_the_io_uring_path_arrive_whole_and_in_order() {
    if !can_run("bulk_udp_and_tcp_through_the_io_uring_path_arrive_whole_and_in_order") {
        return;
    }
    if let Err(why) = vpcfwd::io::uring::probe() {
        println!("SKIPPED: io_uring path not available here: {why}");
        return;
    }
    bulk_through("uring", "TUN I/O: io_uring");
}

#[test]
fn bulk_udp_and_tcp_through_the_plain_fallback_arrive_whole_and_in_order() {
    if !can_run("bulk_udp_and_tcp_through_the_plain_fallback_arrive_whole_and_in_order") {
        return;
    }
    bulk_through("plain", "TUN I/O: plain");
}

/// `--pin-workers`: every worker thread (`vf-PORT-Q`) may run on exactly one CPU, queue q's on
/// the q-th allowed CPU (mod their count), and the pinned forwarder still carries a TCP stream
/// whole.
#[test]
fn pinned_workers_each_run_on_their_queues_cpu_and_carry_traffic() {
    if !can_run("pinned_workers_each_run_on_their_queues_cpu_and_carry_traffic") {
        return;
    }
    let lab = Lab::up_with_args(LAB, &["--pin-workers", "--queues", "2"]);
    let pid = lab.vpcfwd.as_ref().expect("vpcfwd runs").id();
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = cpu_list(
        own.lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim(),
    );
    let mut workers = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let comm = comm.trim();
        // Thread names are cut to 15 bytes: the queue is the last `-N` of the full name.
        let Some(q) = comm
            .strip_prefix("vf-")
            .and_then(|r| r.rsplit_once('-'))
            .and_then(|(_, q)| q.parse::<usize>().ok())
        else {
            continue;
        };
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let Some(list) = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        else {
            continue;
        };
        assert_eq!(
            cpu_list(list.trim()),
            vec![allowed[q % allowed.len()]],
            "{comm}: pinned to queue {q}'s CPU"
        );
        workers += 1;
    }
    assert!(workers >= 2, "found {workers} worker threads");
    let (sent, got) = transfer(&lab, "tcp", "5302", 500, 4000);
    let digest = sent.split_once(' ').map(|(_, d)| d).unwrap_or("?");
    assert_eq!(got, format!("n=2000000 {digest} ordered=1"), "TCP stream");
}

/// `0-1,3` → [0, 1, 3].
fn cpu_list(s: &str) -> Vec<usize> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .flat_map(|p| match p.split_once('-') {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<usize>>(),
            None => vec![p.parse().unwrap()],
        })
        .collect()
}
