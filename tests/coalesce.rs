//! Coalescing on egress (`vpcfwd::io::coalesce`) through the real worker loop on in-memory
//! offload ports (no root): consecutive same-flow UDP datagrams leave as one USO super-packet,
//! same-flow TCP segments merged as GRO merges them; every packet is decided by the pipeline
//! first (NAT rewrites each), a packet of another flow or a dropped one in between ends a run,
//! runs are bounded, and the merged packet's bytes and checksum state are what the kernel
//! segments back into the original packets.

mod support;

use std::net::Ipv4Addr;
use support::mem_lab::MemLab;
use support::*;
use vpcfwd::io::{VNET_HDR_LEN, VnetHdr};
use vpcfwd::wire::{IpProtocol, checksum, virtio};

const APP: &str = "10.0.2.10";
const NET: &str = "203.0.113.100";
const NAT_EIP: &str = "198.51.100.5";
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

/// An IPv4 packet (no options, DF, TTL 64) around `l4`, with its IP checksum.
fn ipv4(src: &str, dst: &str, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&7u16.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
    p[16..20].copy_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn pseudo(p: &[u8], l4_len: usize) -> u32 {
    let s = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let d = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let proto = if p[9] == 6 {
        IpProtocol::Tcp
    } else {
        IpProtocol::Udp
    };
    checksum::pseudo_v4(s, d, proto, l4_len as u16)
}

/// Fills in the L4 checksum (complete) of an IPv4 TCP/UDP packet; `at` is its offset in L4.
fn fill_l4_checksum(p: &mut [u8], at: usize) {
    p[20 + at..22 + at].fill(0);
    let c = checksum::finish(checksum::sum(&p[20..], pseudo(p, p.len() - 20)));
    p[20 + at..22 + at].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram with a complete checksum.
fn udp(sport: u16, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(8 + payload.len());
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&5201u16.to_be_bytes());
    l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(payload);
    let mut p = ipv4(APP, dst, 17, &l4);
    fill_l4_checksum(&mut p, 6);
    p
}

/// A TCP segment (timestamps option) with a complete checksum.
fn tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 32];
    l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
    l4[2..4].copy_from_slice(&80u16.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&555u32.to_be_bytes());
    l4[12] = 8 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&500u16.to_be_bytes());
    // NOP NOP TS(10) with fixed values.
    l4[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
    l4.extend_from_slice(payload);
    let mut p = ipv4(APP, NET, 6, &l4);
    fill_l4_checksum(&mut p, 16);
    p
}

fn payload(i: usize, n: usize) -> Vec<u8> {
    (0..n).map(|k| (i * 31 + k * 7) as u8).collect()
}

/// Splits a frame sent (virtio-net header + IP) as the kernel segments it: the IP packets
/// of its segments with complete checksums. A frame without GSO is itself.
fn segments(frame: &[u8]) -> Vec<Vec<u8>> {
    let h = VnetHdr::parse(frame);
    let p = &frame[VNET_HDR_LEN..];
    assert_eq!(
        u16::from_be_bytes([p[2], p[3]]) as usize,
        p.len(),
        "IP total length"
    );
    assert_eq!(checksum::checksum(&p[..20]), 0, "IP header checksum");
    if h.gso_type == virtio::GSO_NONE {
        if h.flags & virtio::F_NEEDS_CSUM == 0 {
            assert_eq!(
                checksum::fold(checksum::sum(&p[20..], pseudo(p, p.len() - 20))),
                0xffff,
                "complete L4 checksum"
            );
        }
        return vec![p.to_vec()];
    }
    assert_eq!(h.flags, virtio::F_NEEDS_CSUM);
    assert_eq!(h.csum_start, 20);
    let udp = h.gso_type == virtio::GSO_UDP_L4;
    assert_eq!(h.csum_offset, if udp { 6 } else { 16 });
    if udp {
        assert_eq!(
            u16::from_be_bytes([p[24], p[25]]) as usize,
            p.len() - 20,
            "UDP length: the whole super-datagram"
        );
    }
    // The partial checksum: the pseudo-header sum over the whole L4 length.
    let at = 20 + usize::from(h.csum_offset);
    assert_eq!(
        u16::from_be_bytes([p[at], p[at + 1]]),
        checksum::fold(pseudo(p, p.len() - 20)),
        "partial checksum"
    );
    let hl = usize::from(h.hdr_len);
    let mut out = Vec::new();
    let mut seq = u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
    for chunk in p[hl..].chunks(usize::from(h.gso_size)) {
        let mut s = p[..hl].to_vec();
        s.extend_from_slice(chunk);
        let n = s.len();
        s[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        s[10..12].fill(0);
        let c = checksum::checksum(&s[..20]);
        s[10..12].copy_from_slice(&c.to_be_bytes());
        if udp {
            s[24..26].copy_from_slice(&((n - 20) as u16).to_be_bytes());
            fill_l4_checksum(&mut s, 6);
        } else {
            s[24..28].copy_from_slice(&seq.to_be_bytes());
            seq = seq.wrapping_add(chunk.len() as u32);
            fill_l4_checksum(&mut s, 16);
        }
        out.push(s);
    }
    out
}

/// The payloads (after the L4 header) of packets.
fn payloads(pkts: &[Vec<u8>]) -> Vec<Vec<u8>> {
    pkts.iter()
        .map(|p| {
            let l4 = if p[9] == 17 {
                8
            } else {
                usize::from(p[32] >> 4) * 4
            };
            p[20 + l4..].to_vec()
        })
        .collect()
}

fn lab(seg: (bool, bool)) -> MemLab {
    let mut lab = MemLab::segmenting(lab_snapshot(), seg);
    lab.start();
    lab
}

/// Sends `pkts` from app in one batch, returns the frames the internet port got.
fn through(lab: &MemLab, pkts: &[Vec<u8>]) -> Vec<Vec<u8>> {
    lab.send_batch("app", VnetHdr::default(), pkts);
    lab.settle();
    lab.frames("internet")
}

#[test]
fn same_flow_udp_datagrams_leave_as_one_uso_super_packet_nat_applied_to_all() {
    let lab = lab((true, true));
    // The flow exists first (its NAT binding), then a batch of 10 datagrams: 9 full, 1 short.
    through(&lab, &[udp(33000, NET, &payload(99, 100))]);
    let sent: Vec<Vec<u8>> = (0..10)
        .map(|i| udp(33000, NET, &payload(i, if i == 9 { 37 } else { 100 })))
        .collect();
    let frames = through(&lab, &sent);
    assert_eq!(frames.len(), 1, "one super-packet");
    let h = VnetHdr::parse(&frames[0]);
    assert_eq!(
        (h.gso_type, h.gso_size, h.hdr_len),
        (virtio::GSO_UDP_L4, 100, 28)
    );
    let segs = segments(&frames[0]);
    assert_eq!(segs.len(), 10);
    assert_eq!(
        payloads(&segs),
        payloads(&sent),
        "no byte lost or reordered"
    );
    for s in &segs {
        assert_eq!(&s[12..16], &NAT_EIP.parse::<Ipv4Addr>().unwrap().octets());
    }
    assert_eq!(
        lab.counter(
            "vpcfwd_port_packets_total",
            &[("port", "app"), ("direction", "rx")]
        ),
        11,
        "each datagram was decided"
    );
}

#[test]
fn another_flow_or_a_drop_in_between_ends_the_run() {
    let lab = lab((true, true));
    through(
        &lab,
        &[
            udp(33001, NET, &payload(0, 10)),
            udp(33002, NET, &payload(0, 10)),
        ],
    );
    let a = |i| udp(33001, NET, &payload(i, 60));
    let b = |i| udp(33002, NET, &payload(i, 60));
    // 203.0.113.200 is a blackhole route: dropped.
    let dropped = udp(33001, "203.0.113.200", &payload(0, 60));
    let sent = [a(1), a(2), b(3), a(4), a(5), dropped, a(6), a(7)];
    let frames = through(&lab, &sent);
    let runs: Vec<usize> = frames.iter().map(|f| segments(f).len()).collect();
    assert_eq!(runs, [2, 1, 2, 2]);
    let all: Vec<Vec<u8>> = frames.iter().flat_map(|f| segments(f)).collect();
    let expect: Vec<Vec<u8>> = [&sent[..5], &sent[6..]].concat();
    assert_eq!(payloads(&all), payloads(&expect));
}

#[test]
fn runs_follow_the_size_rules_and_bounds() {
    let lab = lab((true, true));
    through(&lab, &[udp(33003, NET, &payload(0, 10))]);
    // A shorter datagram ends its run; a longer one after a short one starts a new run.
    let sizes = [100, 100, 50, 100, 100];
    let sent: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| udp(33003, NET, &payload(i, n)))
        .collect();
    let frames = through(&lab, &sent);
    let runs: Vec<usize> = frames.iter().map(|f| segments(f).len()).collect();
    assert_eq!(runs, [3, 2]);
    // 64 KiB of IP packet at most: 60 datagrams of 1400 bytes are two super-packets.
    let sent: Vec<Vec<u8>> = (0..60)
        .map(|i| udp(33003, NET, &payload(i, 1400)))
        .collect();
    let frames = through(&lab, &sent);
    assert!(frames.iter().all(|f| f.len() - VNET_HDR_LEN <= 65535));
    let all: Vec<Vec<u8>> = frames.iter().flat_map(|f| segments(f)).collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(payloads(&all), payloads(&sent));
}

#[test]
fn a_bad_checksum_is_not_merged_and_a_port_without_uso_gets_datagrams_one_by_one() {
    let lab = lab((true, true));
    through(&lab, &[udp(33004, NET, &payload(0, 10))]);
    let mut bad = udp(33004, NET, &payload(2, 80));
    bad[30] ^= 0xff; // payload byte changed, checksum not
    let sent = [
        udp(33004, NET, &payload(1, 80)),
        bad,
        udp(33004, NET, &payload(3, 80)),
    ];
    let frames = through(&lab, &sent);
    assert_eq!(frames.len(), 3, "the corrupt datagram breaks the run");
    assert!(
        frames
            .iter()
            .all(|f| VnetHdr::parse(f).gso_type == virtio::GSO_NONE)
    );

    let plain = self::lab((false, false));
    through(&plain, &[udp(33005, NET, &payload(0, 10))]);
    let sent: Vec<Vec<u8>> = (0..5).map(|i| udp(33005, NET, &payload(i, 80))).collect();
    assert_eq!(through(&plain, &sent).len(), 5);
}

#[test]
fn contiguous_tcp_segments_merge_as_gro_does_and_gaps_or_psh_end_a_run() {
    let lab = lab((true, true));
    through(&lab, &[tcp(1, 0x02, &[])]); // SYN: the flow and its NAT binding
    let mss = 1000;
    let mut seq = 2u32;
    let mut sent = Vec::new();
    for i in 0..6 {
        let n = if i == 5 { 300 } else { mss };
        let flags = if i == 5 { TCP_ACK | TCP_PSH } else { TCP_ACK };
        sent.push(tcp(seq, flags, &payload(i, n)));
        seq += n as u32;
    }
    let frames = through(&lab, &sent);
    assert_eq!(frames.len(), 1);
    let h = VnetHdr::parse(&frames[0]);
    assert_eq!(
        (h.gso_type, h.gso_size, h.hdr_len),
        (virtio::GSO_TCPV4, 1000, 52)
    );
    let p = &frames[0][VNET_HDR_LEN..];
    assert_eq!(p[20 + 13], TCP_ACK | TCP_PSH, "PSH of the last carried");
    let segs = segments(&frames[0]);
    assert_eq!(payloads(&segs), payloads(&sent));

    // A gap in sequence numbers, and a PSH in the middle, each end a run.
    let s = |seq: u32, f: u8, i: usize| tcp(seq, f, &payload(i, 500));
    let sent = [
        s(seq, TCP_ACK, 0),
        s(seq + 500, TCP_ACK, 1),
        s(seq + 1500, TCP_ACK, 2), // gap
        s(seq + 2000, TCP_ACK | TCP_PSH, 3),
        s(seq + 2500, TCP_ACK, 4),
    ];
    let frames = through(&lab, &sent);
    let runs: Vec<usize> = frames.iter().map(|f| segments(f).len()).collect();
    assert_eq!(runs, [2, 2, 1]);
}

#[test]
fn partial_checksums_from_the_local_stack_merge_too() {
    let lab = lab((true, true));
    through(&lab, &[udp(33006, NET, &payload(0, 10))]);
    let offload = VnetHdr {
        flags: virtio::F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 6,
        ..Default::default()
    };
    let mut sent = Vec::new();
    for i in 0..4 {
        let mut p = udp(33006, NET, &payload(i, 200));
        let c = checksum::fold(pseudo(&p, p.len() - 20));
        p[26..28].copy_from_slice(&c.to_be_bytes());
        sent.push(p);
    }
    lab.send_batch("app", offload, &sent);
    lab.settle();
    let frames = lab.frames("internet");
    assert_eq!(frames.len(), 1);
    assert_eq!(payloads(&segments(&frames[0])), payloads(&sent));
}
