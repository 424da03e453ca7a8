//! Coalescing on egress: consecutive packets of one flow in a batch leave as one super-packet.
//!
//! After the worker has decided every packet of a batch (the pipeline decides each one: policy
//! is per flow, so the decision of every packet of a run is the same, and each was counted and
//! flow-logged on its own), the packets going out of one port are merged where the device
//! segments them again on the way in:
//!
//! - **UDP** (`VIRTIO_NET_HDR_GSO_UDP_L4`, `TUN_F_USO4/6`, Linux 6.2+): datagrams of one flow
//!   whose payloads are all `gso_size` bytes (the last may be shorter) become one datagram with
//!   the segment size in the header; the receiving stack splits it back into the same datagrams
//!   (`__udp_gso_segment`), as wireguard-go does on TUN.
//! - **TCP** (`GSO_TCPV4/6`): segments that arrived one by one, merged as Linux GRO merges them
//!   (`tcp_gro_receive`): same flow, each starting where the last ended, same ACK, window,
//!   flags and options, equal sizes (the last may be shorter), PSH only on the last.
//!
//! A run is consecutive in the batch: a packet of another flow, or one dropped, in between ends
//! it. It is also bounded: 64 KiB of IP packet and [`MAX_SEGMENTS`] packets. Only plain IP
//! headers merge (IPv4 without options or fragments, IPv6 without extension headers), with
//! equal TOS/traffic class, TTL/hop limit and DF (and flow label). Checksums: a packet whose L4
//! checksum arrived partial (`F_NEEDS_CSUM`, from the local stack) is trusted as the kernel
//! trusts it; a complete one is verified first and a bad one is not merged (it leaves as it
//! came, for the receiver to drop) — so merging never turns a corrupt packet into a good one.
//! The merged packet's checksum is partial (pseudo-header sum over its whole length,
//! `F_NEEDS_CSUM`, `csum_start`/`csum_offset` at the L4 checksum), which the kernel completes
//! per segment; its IPv4 header checksum is recomputed.

use super::port::{Frame, Out, Tx};
use super::tun::VnetHdr;
use crate::wire::checksum;
use crate::wire::virtio;

/// Most packets in one merged super-packet.
pub const MAX_SEGMENTS: usize = 64;
/// Largest merged IP packet.
const MAX_IP: usize = 65535;

const UDP: u8 = 17;
const TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;

/// What the egress device segments again when written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offloads {
    /// `GSO_UDP_L4` (USO).
    pub udp: bool,
    /// `GSO_TCPV4/6` (TSO).
    pub tcp: bool,
}

/// The parts of a packet a merge looks at.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    v6: bool,
    proto: u8,
    /// IP header length.
    ip: usize,
    /// L4 header length (8 for UDP, the data offset for TCP).
    l4: usize,
    /// Payload bytes after the L4 header.
    payload: usize,
    /// Checksum partial on arrival (`F_NEEDS_CSUM`).
    partial: bool,
}

/// Parses a frame (`hdr` bytes of virtio-net header, then `ip_len` IP bytes) as a packet that
/// may take part in a merge: no offload of its own, plain IP header, UDP or TCP.
fn parse(f: &[u8], hdr: usize, ip_len: usize) -> Option<Pkt> {
    let h = VnetHdr::parse(f);
    if h.gso_type != virtio::GSO_NONE {
        return None;
    }
    let p = f.get(hdr..hdr + ip_len)?;
    let (v6, proto, ip, l4_len) = match p.first()? >> 4 {
        4 => {
            if p.len() < 20 || p[0] & 0x0f != 5 {
                return None;
            }
            // No fragment: MF clear and offset 0 (DF may be set).
            if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if total != p.len() {
                return None;
            }
            (false, p[9], 20, total - 20)
        }
        6 => {
            if p.len() < 40 {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
            if plen + 40 != p.len() {
                return None;
            }
            (true, p[6], 40, plen)
        }
        _ => return None,
    };
    let l4 = match proto {
        UDP => {
            if l4_len < 8 || usize::from(u16::from_be_bytes([p[ip + 4], p[ip + 5]])) != l4_len {
                return None;
            }
            8
        }
        TCP => {
            if l4_len < 20 {
                return None;
            }
            let doff = usize::from(p[ip + 12] >> 4) * 4;
            if doff < 20 || doff > l4_len {
                return None;
            }
            doff
        }
        _ => return None,
    };
    Some(Pkt {
        v6,
        proto,
        ip,
        l4,
        payload: l4_len - l4,
        partial: h.flags & virtio::F_NEEDS_CSUM != 0,
    })
}

/// Pseudo-header sum of `p` for an L4 length of `l4_len`.
fn pseudo(p: &[u8], a: &Pkt, l4_len: usize) -> u32 {
    if a.v6 {
        let acc = checksum::sum(&p[8..40], 0);
        acc + (l4_len as u32 >> 16) + (l4_len as u32 & 0xffff) + u32::from(a.proto)
    } else {
        checksum::sum(&p[12..20], 0) + u32::from(a.proto) + l4_len as u32
    }
}

/// Whether a packet with a complete L4 checksum holds a correct one (a UDP/IPv4 checksum of
/// zero is "none", also correct).
fn l4_checksum_ok(p: &[u8], a: &Pkt) -> bool {
    let l4 = &p[a.ip..];
    if a.proto == UDP && !a.v6 && l4[6] == 0 && l4[7] == 0 {
        return true;
    }
    checksum::fold(checksum::sum(l4, pseudo(p, a, l4.len()))) == 0xffff
}

/// Whether packet `b` may follow packet `a` (the run's first is `first`) in a merge.
fn joins(first: &[u8], fa: &Pkt, a: &[u8], pa: &Pkt, b: &[u8], pb: &Pkt) -> bool {
    if pb.v6 != fa.v6 || pb.proto != fa.proto || pb.l4 != fa.l4 {
        return false;
    }
    // The IP header but its length, ID and checksum: version/TOS, flags, TTL, protocol and
    // addresses (IPv6: version, class, flow label, next header, hop limit, addresses).
    let same_ip = if fa.v6 {
        first[0..4] == b[0..4] && first[6..40] == b[6..40]
    } else {
        first[0..2] == b[0..2]
            && first[6..7] == b[6..7]
            && first[8..10] == b[8..10]
            && first[12..20] == b[12..20]
    };
    if !same_ip {
        return false;
    }
    let (fl, bl) = (&first[fa.ip..], &b[pb.ip..]);
    // Ports.
    if fl[0..4] != bl[0..4] {
        return false;
    }
    let gso = fa.payload;
    if pb.payload == 0 || pb.payload > gso || pa.payload < gso {
        // Every segment but the last carries exactly gso_size bytes.
        return false;
    }
    if fa.proto == TCP {
        let al = &a[pa.ip..];
        let flags_a = al[13];
        // The previous segment may not end the run (PSH), nor may any carry SYN/FIN/RST/URG/CWR.
        if flags_a & TCP_PSH != 0 {
            return false;
        }
        let bad = TCP_SYN | TCP_FIN | TCP_RST | TCP_URG | TCP_CWR;
        if bl[13] & bad != 0 || (bl[13] & !TCP_PSH) != (fl[13] & !TCP_PSH) {
            return false;
        }
        // Contiguous: b starts where a ended.
        let seq_a = u32::from_be_bytes([al[4], al[5], al[6], al[7]]);
        let seq_b = u32::from_be_bytes([bl[4], bl[5], bl[6], bl[7]]);
        if seq_a.wrapping_add(pa.payload as u32) != seq_b {
            return false;
        }
        // Same ACK, data offset, window, and options (timestamps included), as GRO requires.
        if fl[8..13] != bl[8..13] || fl[14..16] != bl[14..16] || fl[20..fa.l4] != bl[20..pb.l4] {
            return false;
        }
    }
    true
}

/// Merges runs of `outs` (the frames sent out of one port, in batch order) where `off` allows,
/// in place: each run's packets are appended to its first frame, which gets the super-packet's
/// header, and `outs` keeps one entry per run. `hdr` is the ports' headroom (a virtio-net
/// header: without one nothing merges). Returns how many packets were merged away.
pub fn coalesce(frames: &mut [Frame], outs: &mut Vec<Out>, hdr: usize, off: Offloads) -> usize {
    if hdr < virtio::HEADER_LEN || (!off.udp && !off.tcp) || outs.len() < 2 {
        return 0;
    }
    let mut merged = 0;
    let mut w = 0;
    let mut i = 0;
    while i < outs.len() {
        let first = outs[i];
        let mut end = i + 1;
        let head = parse_out(frames, &first, hdr).filter(|p| match p.proto {
            UDP => off.udp,
            _ => off.tcp,
        });
        if let Some(fa) =
            head.filter(|fa| fa.payload > 0 && (fa.partial || ok(frames, &first, hdr, fa)))
        {
            let mut total = first.len - hdr;
            let mut prev = (first, fa);
            while end < outs.len() && end - i < MAX_SEGMENTS {
                let o = outs[end];
                if o.slot != prev.0.slot + 1 || o.tx != Tx::Forwarded {
                    break;
                }
                let Some(pb) = parse_out(frames, &o, hdr) else {
                    break;
                };
                if total + pb.payload > MAX_IP || !(pb.partial || ok(frames, &o, hdr, &pb)) {
                    break;
                }
                let joined = {
                    let f = &frames[first.slot][hdr..first.len];
                    let a = &frames[prev.0.slot][hdr..prev.0.len];
                    let b = &frames[o.slot][hdr..o.len];
                    joins(f, &fa, a, &prev.1, b, &pb)
                };
                if !joined {
                    break;
                }
                total += pb.payload;
                prev = (o, pb);
                end += 1;
            }
            if end - i > 1 {
                outs[i].len = merge(frames, &outs[i..end], hdr, &fa);
                merged += end - i - 1;
            }
        }
        outs[w] = outs[i];
        w += 1;
        i = end;
    }
    outs.truncate(w);
    merged
}

fn parse_out(frames: &[Frame], o: &Out, hdr: usize) -> Option<Pkt> {
    if o.tx != Tx::Forwarded || o.len <= hdr {
        return None;
    }
    parse(frames.get(o.slot)?.get(..o.len)?, hdr, o.len - hdr)
}

fn ok(frames: &[Frame], o: &Out, hdr: usize, a: &Pkt) -> bool {
    l4_checksum_ok(&frames[o.slot][hdr..o.len], a)
}

/// Appends the payloads of `run[1..]` to `run[0]`'s frame and writes the super-packet's
/// headers. Returns the new frame length.
fn merge(frames: &mut [Frame], run: &[Out], hdr: usize, fa: &Pkt) -> usize {
    let first = run[0];
    let mut end = first.len;
    let mut last_flags = 0u8;
    for o in &run[1..] {
        // The source frame is another slot: split the slice to copy between the two.
        let (dst, src) = if first.slot < o.slot {
            let (lo, hi) = frames.split_at_mut(o.slot);
            (&mut lo[first.slot], &hi[0])
        } else {
            let (lo, hi) = frames.split_at_mut(first.slot);
            (&mut hi[0], &lo[o.slot])
        };
        let off = hdr + fa.ip + fa.l4;
        let body = &src[off..o.len];
        dst[end..end + body.len()].copy_from_slice(body);
        end += body.len();
        if fa.proto == TCP {
            last_flags = src[hdr + fa.ip + 13];
        }
    }
    let f = &mut frames[first.slot];
    let ip_len = end - hdr;
    let l4_len = ip_len - fa.ip;
    let (h, p) = f.split_at_mut(hdr);
    if fa.v6 {
        p[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    } else {
        p[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let csum_offset = if fa.proto == UDP {
        p[fa.ip + 4..fa.ip + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        6
    } else {
        p[fa.ip + 13] |= last_flags & TCP_PSH;
        16
    };
    let ps = checksum::fold(pseudo(p, fa, l4_len));
    p[fa.ip + csum_offset..fa.ip + csum_offset + 2].copy_from_slice(&ps.to_be_bytes());
    VnetHdr {
        flags: virtio::F_NEEDS_CSUM,
        gso_type: match (fa.proto, fa.v6) {
            (UDP, _) => virtio::GSO_UDP_L4,
            (_, false) => virtio::GSO_TCPV4,
            (_, true) => virtio::GSO_TCPV6,
        },
        hdr_len: (fa.ip + fa.l4) as u16,
        gso_size: fa.payload as u16,
        csum_start: fa.ip as u16,
        csum_offset: csum_offset as u16,
    }
    .write(h);
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame(sport: u16, payload: usize) -> Frame {
        let mut f = super::super::port::frame();
        let h = virtio::HEADER_LEN;
        let p = &mut f[h..h + 28 + payload];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((28 + payload) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = UDP;
        p[12..16].copy_from_slice(&[10, 0, 2, 10]);
        p[16..20].copy_from_slice(&[203, 0, 113, 100]);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
        for (k, b) in p[28..].iter_mut().enumerate() {
            *b = k as u8;
        }
        f
    }

    #[test]
    fn runs_stop_at_64_kib() {
        let n = 60;
        let mut frames: Vec<Frame> = (0..n).map(|_| udp_frame(1, 1400)).collect();
        let mut outs: Vec<Out> = (0..n)
            .map(|slot| Out {
                slot,
                len: virtio::HEADER_LEN + 1428,
                tx: Tx::Forwarded,
            })
            .collect();
        let off = Offloads {
            udp: true,
            tcp: true,
        };
        let merged = coalesce(&mut frames, &mut outs, virtio::HEADER_LEN, off);
        assert_eq!(outs.len(), 2);
        assert_eq!(merged, n - 2);
        assert!(outs[0].len - virtio::HEADER_LEN <= MAX_IP);
        assert_eq!(outs[0].len - virtio::HEADER_LEN, 28 + 46 * 1400);
        // A different flow ends the run.
        let mut frames: Vec<Frame> = [1, 1, 2, 1].iter().map(|&s| udp_frame(s, 10)).collect();
        let mut outs: Vec<Out> = (0..4)
            .map(|slot| Out {
                slot,
                len: virtio::HEADER_LEN + 38,
                tx: Tx::Forwarded,
            })
            .collect();
        coalesce(&mut frames, &mut outs, virtio::HEADER_LEN, off);
        assert_eq!(outs.iter().map(|o| o.slot).collect::<Vec<_>>(), [0, 2, 3]);
    }

    #[test]
    fn ipv6_udp_merges_with_a_partial_checksum_over_the_whole_length() {
        let h = virtio::HEADER_LEN;
        let mk = |payload: usize| {
            let mut f = super::super::port::frame();
            let p = &mut f[h..h + 48 + payload];
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
            p[6] = UDP;
            p[7] = 64;
            p[8] = 0x20; // 2001:db8::1 -> 2001:db8::2
            p[9] = 0x01;
            p[10] = 0x0d;
            p[11] = 0xb8;
            p[23] = 1;
            p.copy_within(8..24, 24);
            p[39] = 2;
            p[40..42].copy_from_slice(&7u16.to_be_bytes());
            p[42..44].copy_from_slice(&9u16.to_be_bytes());
            p[44..46].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
            let a = parse(&f[..h + 48 + payload], h, 48 + payload).unwrap();
            let c = checksum::finish(checksum::sum(
                &f[h + 40..h + 48 + payload],
                pseudo(&f[h..h + 48 + payload], &a, 8 + payload),
            ));
            f[h + 46..h + 48].copy_from_slice(&c.to_be_bytes());
            f
        };
        let mut frames: Vec<Frame> = vec![mk(100), mk(100), mk(60)];
        let mut outs: Vec<Out> = [100, 100, 60]
            .iter()
            .enumerate()
            .map(|(slot, n)| Out {
                slot,
                len: h + 48 + n,
                tx: Tx::Forwarded,
            })
            .collect();
        let off = Offloads {
            udp: true,
            tcp: false,
        };
        assert_eq!(coalesce(&mut frames, &mut outs, h, off), 2);
        let f = &frames[0][..outs[0].len];
        let v = VnetHdr::parse(f);
        assert_eq!(
            (
                v.gso_type,
                v.gso_size,
                v.hdr_len,
                v.csum_start,
                v.csum_offset
            ),
            (virtio::GSO_UDP_L4, 100, 48, 40, 6)
        );
        let p = &f[h..];
        let l4 = 8 + 260;
        assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), l4);
        assert_eq!(usize::from(u16::from_be_bytes([p[44], p[45]])), l4);
        let a = parse_v6_for_test(p);
        assert_eq!(
            u16::from_be_bytes([p[46], p[47]]),
            checksum::fold(pseudo(p, &a, l4))
        );
    }

    fn parse_v6_for_test(p: &[u8]) -> Pkt {
        Pkt {
            v6: true,
            proto: UDP,
            ip: 40,
            l4: 8,
            payload: p.len() - 48,
            partial: true,
        }
    }
}
