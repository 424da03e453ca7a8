//! The worker loop (`vpcfwd::io::worker`) without root: the real loop, shared state, counters
//! and flow-log hand-off on in-memory ports (`support::mem_lab`). What a TUN device would do
//! differently is only the syscalls.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::mem_lab::MemLab;
use support::*;
use vpcfwd::io::{VNET_HDR_LEN, VnetHdr};
use vpcfwd::snapshot;
use vpcfwd::wire::{self, IpProtocol};

/// The source port of a TCP packet.
fn sport(p: &[u8]) -> u16 {
    wire::parse(p).unwrap().sport
}

/// The lab with acl-private refusing SSH from the public subnet (a NACL change applies to the
/// next packet, tracked flow or not).
fn lab_without_ssh_from_web() -> snapshot::Snapshot {
    let mut cfg = lab();
    nacl(&mut cfg, "acl-private")
        .entries
        .as_mut()
        .expect("the lab lists acl-private's entries")
        .push(nacl_entry(
            50,
            false,
            "6",
            false,
            "10.0.1.0/24",
            Some((22, 22)),
        ));
    compile(&cfg)
}

#[test]
fn a_reload_mid_batch_takes_effect_at_the_next_batch() {
    let mut lab = MemLab::new(lab_snapshot());
    // One batch: five packets, the reload, five more; then the batch ends and five more come.
    for s in 1000..1005 {
        lab.send(
            "web",
            &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, s, 22),
        );
    }
    lab.reload_at("web", lab_without_ssh_from_web());
    for s in 1005..1010 {
        lab.send(
            "web",
            &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, s, 22),
        );
    }
    lab.end_batch("web");
    for s in 1010..1015 {
        lab.send(
            "web",
            &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, s, 22),
        );
    }
    lab.start();
    lab.settle();
    assert_eq!(lab.shared.live.load().generation, 2, "the reload happened");
    let through: Vec<u16> = lab.sent("app").iter().map(|p| sport(p)).collect();
    assert_eq!(
        through,
        (1000..1010).collect::<Vec<_>>(),
        "the batch in flight is decided by the snapshot it started with, the next one by the new"
    );
    assert_eq!(
        lab.counter("vpcfwd_drops_total", &[("reason", "NACL_DENY")]),
        5
    );
    assert_eq!(
        lab.counter(
            "vpcfwd_port_packets_total",
            &[("port", "web"), ("direction", "rx")]
        ),
        15
    );
}

#[test]
fn a_reload_retires_each_workers_counter_block_and_its_counts_survive() {
    let mut lab = MemLab::new(lab_snapshot());
    lab.start();
    for s in 2000..2003 {
        lab.send(
            "web",
            &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, s, 22),
        );
    }
    lab.settle();
    let first = Arc::clone(&lab.shared.live.load().snap);
    let next = snapshot::compile_after(&support::lab(), Some(&first)).unwrap();
    let old = Arc::downgrade(&first);
    drop(first);
    assert_eq!(lab.reload(next), 2);
    for s in 2003..2005 {
        lab.send(
            "web",
            &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, s, 22),
        );
    }
    lab.settle();
    let rx = |lab: &MemLab| {
        lab.counter(
            "vpcfwd_port_packets_total",
            &[("port", "web"), ("direction", "rx")],
        )
    };
    let tx = |lab: &MemLab| {
        lab.counter(
            "vpcfwd_port_packets_total",
            &[("port", "app"), ("direction", "tx")],
        )
    };
    assert_eq!((rx(&lab), tx(&lab)), (5, 5), "both generations counted");
    // Every worker retires its old block at its next wake-up; the registry folds a retired
    // block into its totals and lets it go — and with it the last reference to the old
    // snapshot. A block never retired would keep it alive.
    let deadline = Instant::now() + Duration::from_secs(5);
    while old.upgrade().is_some() {
        assert!(
            Instant::now() < deadline,
            "old counter blocks are not retired after a reload"
        );
        let _ = lab.totals();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!((rx(&lab), tx(&lab)), (5, 5), "folded counts survive");
    lab.stop();
    assert_eq!((rx(&lab), tx(&lab)), (5, 5), "and the last blocks' too");
}

#[test]
fn reloads_without_a_scrape_keep_no_old_snapshot_alive() {
    // The soak's question (issue 17): does memory grow per reload? Each worker's counter block
    // holds the snapshot it was laid out for; a retired block used to be let go only when
    // /metrics was scraped, so a forwarder nobody scraped kept one old snapshot per worker per
    // reload. Here nobody scrapes: after 20 reloads only the live generation's snapshot is
    // alive, and the registry holds one block per worker.
    let mut lab = MemLab::new(lab_snapshot());
    lab.start();
    let ports: Vec<String> = lab
        .shared
        .live
        .load()
        .snap
        .ports
        .iter()
        .map(|p| p.id.clone())
        .collect();
    let mut old = Vec::new();
    for g in 2..22u16 {
        let prev = Arc::clone(&lab.shared.live.load().snap);
        let next = snapshot::compile_after(&support::lab(), Some(&prev)).unwrap();
        old.push(Arc::downgrade(&prev));
        drop(prev);
        assert_eq!(lab.reload(next), u64::from(g));
        // A packet into every port: each worker wakes, sees the new generation and swaps its
        // block before it handles the packet.
        for p in &ports {
            lab.send(
                p,
                &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 3000 + g, 22),
            );
        }
        lab.settle();
    }
    let alive = old.iter().filter(|w| w.upgrade().is_some()).count();
    assert_eq!(
        alive, 0,
        "old snapshots still alive after 20 reloads without a scrape"
    );
    assert_eq!(
        lab.shared.stats.blocks_held(),
        ports.len(),
        "one counter block per worker"
    );
    let rx: u64 = ports
        .iter()
        .map(|p| {
            lab.counter(
                "vpcfwd_port_packets_total",
                &[("port", p), ("direction", "rx")],
            )
        })
        .sum();
    assert_eq!(
        rx,
        20 * ports.len() as u64,
        "the folded blocks' counts survive"
    );
    lab.stop();
}

#[test]
fn flow_log_records_reach_the_writer() {
    let mut lab = MemLab::with(lab_snapshot(), 0, Some(60));
    lab.start();
    for _ in 0..3 {
        lab.send(
            "web",
            &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 40000, 22),
        );
    }
    lab.send(
        "web",
        &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 40001, 8080),
    );
    lab.settle();
    assert_eq!(lab.sent("app").len(), 3);
    let lines = lab.stop_and_write_flow_log();
    let has = |want: &str| lines.iter().any(|l| l.contains(want));
    for want in [
        "eni-web 10.0.1.10 10.0.2.10 40000 22 6 3 120 ",
        "eni-app 10.0.1.10 10.0.2.10 40000 22 6 3 120 ",
        "eni-app 10.0.1.10 10.0.2.10 40001 8080 6 1 40 ",
    ] {
        assert!(has(want), "no record {want:?} in {lines:#?}");
    }
    let action = |want: &str| {
        lines
            .iter()
            .find(|l| l.contains(want))
            .map(|l| l.split(' ').nth(12).unwrap_or_default().to_string())
    };
    assert_eq!(
        action("eni-app 10.0.1.10 10.0.2.10 40000 22 ").as_deref(),
        Some("ACCEPT")
    );
    // web's egress passed the packet, app's security group refused it.
    assert_eq!(
        action("eni-web 10.0.1.10 10.0.2.10 40001 8080 ").as_deref(),
        Some("ACCEPT")
    );
    assert_eq!(
        action("eni-app 10.0.1.10 10.0.2.10 40001 8080 ").as_deref(),
        Some("REJECT")
    );
}

#[test]
fn flow_log_batches_are_handed_over_every_interval_while_running() {
    let mut lab = MemLab::with(lab_snapshot(), 0, Some(1));
    lab.start();
    lab.send(
        "web",
        &pkt("10.0.1.10", "10.0.2.10", IpProtocol::Tcp, 40000, 22),
    );
    lab.settle();
    // No shutdown: the interval of one second closes and the worker hands its records over.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut records = 0;
    while records == 0 && Instant::now() < deadline {
        if let Some(b) = lab.flow_log_batch(Duration::from_millis(200)) {
            records += b.records.len();
        }
    }
    assert_eq!(records, 2, "eni-web and eni-app each record the flow");
}

/// A virtio-net header for a TCP/IPv4 packet whose checksum is left to the device.
fn needs_csum() -> VnetHdr {
    VnetHdr {
        flags: VnetHdr::F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 16,
        ..Default::default()
    }
}

#[test]
fn a_partial_checksum_packet_leaves_with_its_header_and_a_partial_checksum() {
    let mut lab = MemLab::with(lab_snapshot(), VNET_HDR_LEN, None);
    lab.start();
    let mut p = pkt("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40000, 80);
    make_partial(&mut p);
    lab.send_with("app", needs_csum(), &p);
    // A packet with a complete checksum, for contrast.
    let full = pkt("10.0.2.10", "203.0.113.100", IpProtocol::Tcp, 40001, 80);
    lab.send_with("app", VnetHdr::default(), &full);
    lab.settle();
    let out = lab.frames("internet");
    assert_eq!(out.len(), 2);
    assert_eq!(VnetHdr::parse(&out[0]), needs_csum(), "header kept");
    let o = &out[0][VNET_HDR_LEN..];
    let m = wire::parse(o).unwrap();
    assert_eq!(m.src, ip("198.51.100.5"), "through the NAT gateway");
    assert!(
        csum_eq(tcp_csum(o), partial_csum(o)),
        "still the pseudo-header sum of the new addresses: {:#x} vs {:#x}",
        tcp_csum(o),
        partial_csum(o)
    );
    assert_eq!(VnetHdr::parse(&out[1]), VnetHdr::default());
    let o = &out[1][VNET_HDR_LEN..];
    assert!(l4_checksum_ok(o), "a complete checksum stays complete");
}

#[test]
fn a_tso_super_packet_is_decided_once_written_whole_and_counted_as_its_segments() {
    let mut lab = MemLab::with(lab_snapshot(), VNET_HDR_LEN, Some(60));
    lab.start();
    let mut p = tcp_with_payload("10.0.2.10", "203.0.113.100", 40000, 80, 3500);
    assert_eq!(p.len(), 3540);
    make_partial(&mut p);
    let h = VnetHdr {
        gso_type: VnetHdr::GSO_TCPV4,
        hdr_len: 40,
        gso_size: 1000,
        ..needs_csum()
    };
    lab.send_with("app", h, &p);
    lab.settle();
    let out = lab.frames("internet");
    assert_eq!(out.len(), 1, "one write, not segments");
    assert_eq!(out[0].len(), VNET_HDR_LEN + 3540, "the whole super-packet");
    assert_eq!(VnetHdr::parse(&out[0]), h, "its segmentation header kept");
    let o = &out[0][VNET_HDR_LEN..];
    assert_eq!(wire::parse(o).unwrap().src, ip("198.51.100.5"));
    assert!(csum_eq(tcp_csum(o), partial_csum(o)));
    assert_eq!(
        lab.counter(
            "vpcfwd_port_packets_total",
            &[("port", "app"), ("direction", "rx")]
        ),
        1,
        "a super-packet counts once at the port"
    );
    assert_eq!(
        lab.counter(
            "vpcfwd_port_bytes_total",
            &[("port", "internet"), ("direction", "tx")]
        ),
        3540
    );
    let lines = lab.stop_and_write_flow_log();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("eni-app 10.0.2.10 203.0.113.100 40000 80 6 4 3540 ")),
        "flow logs count the four wire segments: {lines:#?}"
    );
}

#[test]
fn a_generated_reply_leaves_with_an_empty_header() {
    let mut cfg = lab();
    cfg.options.router_mode = true;
    let mut lab = MemLab::with(compile(&cfg), VNET_HDR_LEN, None);
    lab.start();
    let mut p = probe_pkt("10.0.2.10", "192.0.2.10", IpProtocol::Tcp, 80, 1);
    make_partial(&mut p);
    lab.send_with("app", needs_csum(), &p);
    lab.settle();
    let out = lab.frames("app");
    assert_eq!(out.len(), 1, "the ICMP time-exceeded goes back to app");
    assert_eq!(VnetHdr::parse(&out[0]), VnetHdr::default(), "no offload");
    assert_eq!(&out[0][..VNET_HDR_LEN], &[0; VNET_HDR_LEN]);
    let m = wire::parse(&out[0][VNET_HDR_LEN..]).unwrap();
    assert_eq!((m.proto, m.icmp_type), (IpProtocol::Icmp, 11));
    assert!(lab.frames("s3").is_empty());
}

/// Issue 14: a TSO6 super-packet through NAT64 (configs/lab6.yaml) is decided and translated
/// once and leaves as a TSO4 super-packet — `GSO_TCPV4`, headers 40 bytes, the same segment
/// size, the checksum partial again from the IPv4 `csum_start` — and a TSO4 reply comes back
/// as TSO6 with its segment size cut by 20 (each IPv6 segment still fits the sender's MTU).
#[test]
fn a_tso_super_packet_through_nat64_changes_its_segmentation_type_with_its_family() {
    let yaml = include_str!("../configs/lab6.yaml");
    let cfg = vpcfwd::config::load::parse_str(yaml, "lab6.yaml").unwrap();
    let mut lab = MemLab::with(compile(&cfg), VNET_HDR_LEN, None);
    lab.start();
    let (v6, host64) = ("2001:db8:10:3::10", "64:ff9b::cb00:7164");
    let mut p = tcp_with_payload(v6, host64, 40000, 80, 3500);
    assert_eq!(p.len(), 3560);
    make_partial(&mut p);
    let h6 = VnetHdr {
        flags: VnetHdr::F_NEEDS_CSUM,
        gso_type: VnetHdr::GSO_TCPV6,
        hdr_len: 60,
        gso_size: 1000,
        csum_start: 40,
        csum_offset: 16,
    };
    lab.send_with("v6", h6, &p);
    lab.settle();
    let out = lab.frames("internet");
    assert_eq!(out.len(), 1, "one write, not segments");
    assert_eq!(
        out[0].len(),
        VNET_HDR_LEN + 3540,
        "the whole super-packet, as IPv4"
    );
    assert_eq!(
        VnetHdr::parse(&out[0]),
        VnetHdr {
            gso_type: VnetHdr::GSO_TCPV4,
            hdr_len: 40,
            csum_start: 20,
            ..h6
        }
    );
    let o = &out[0][VNET_HDR_LEN..];
    let m = wire::parse(o).unwrap();
    assert_eq!((m.src, m.dst), (ip("198.51.100.5"), ip("203.0.113.100")));
    assert!(csum_eq(tcp_csum(o), partial_csum(o)), "partial again");
    let eport = m.sport;
    // The reply: a TSO4 super-packet from the IPv4 host.
    let mut r = Pkt::from_bytes(tcp_with_payload(
        "203.0.113.100",
        "198.51.100.5",
        80,
        eport,
        3500,
    ));
    r.ack();
    let mut r = r.bytes().to_vec();
    make_partial(&mut r);
    let h4 = VnetHdr {
        flags: VnetHdr::F_NEEDS_CSUM,
        gso_type: VnetHdr::GSO_TCPV4,
        hdr_len: 40,
        gso_size: 1460,
        csum_start: 20,
        csum_offset: 16,
    };
    lab.send_with("internet", h4, &r);
    lab.settle();
    let back = lab.frames("v6");
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].len(), VNET_HDR_LEN + 3560);
    assert_eq!(
        VnetHdr::parse(&back[0]),
        VnetHdr {
            gso_type: VnetHdr::GSO_TCPV6,
            hdr_len: 60,
            gso_size: 1440,
            csum_start: 40,
            ..h4
        },
        "IPv6 segments of 60 + 1440 bytes fit where IPv4 ones of 40 + 1460 did"
    );
    let b = &back[0][VNET_HDR_LEN..];
    let m = wire::parse(b).unwrap();
    assert_eq!((m.src, m.dst, m.dport), (ip(host64), ip(v6), 40000));
    assert!(csum_eq(tcp_csum(b), partial_csum(b)));
    lab.stop();
}
