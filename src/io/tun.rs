//! A port's TUN device: opened inside the port's namespace, one fd per queue, offloads
//! negotiated, and the virtio-net header that precedes every packet on an offload device.
//!
//! The device is created by a thread that has entered the port's namespace (`setns`), so it is
//! born there and never exists in the caller's namespace.
//!
//! Offloads: every device is opened with `IFF_VNET_HDR` and TSO/checksum offload when the kernel
//! allows it (all ports or none: a super-packet can only leave through a device that takes one).
//! A read then returns a virtio-net header and a TCP super-packet of up to 64 KB, which the
//! pipeline decides once — on the IP packet after the header, with its checksum partial when
//! the header says `VIRTIO_NET_HDR_F_NEEDS_CSUM` — and which is written out with its header
//! intact, never split and re-merged. Generated replies (RST, ICMP) get an empty header. Without
//! offloads (refused, or `--no-offload`) it is one read and one write per packet, no header.
//!
//! The virtio-net header's layout is the core's `wire::virtio` view; [`VnetHdr`] is its decoded
//! form, and only this file reads or writes it (as in firecracker's `devices/virtio/net/tap.rs`):
//! the worker never reads the header, the port tells it what it needs ([`RxMeta`]).

use super::netns::{self, PortPlan};
use super::port::{Frame, Out, Port, RxMeta, Tx};
use super::uring;
use crate::wire::{ChecksumMode, VirtioNetHdr, virtio};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

/// Size of the virtio-net header (`struct virtio_net_hdr`, no `num_buffers`) that precedes
/// every packet on an offload device.
pub const VNET_HDR_LEN: usize = virtio::HEADER_LEN;

/// The TUN devices' transmit queue length: the default 500 drops bursts of a fast sender
/// before the worker drains them.
pub const TX_QUEUE_LEN: u32 = 5000;

/// A virtio-net header, decoded (little-endian fields, as the TUN device writes them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Bytes of headers (IP + TCP) before the payload a super-packet is cut into.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum holds only the pseudo-header sum.
    pub const F_NEEDS_CSUM: u8 = virtio::F_NEEDS_CSUM;
    /// `VIRTIO_NET_HDR_GSO_NONE`.
    pub const GSO_NONE: u8 = virtio::GSO_NONE;
    /// `VIRTIO_NET_HDR_GSO_TCPV4`.
    pub const GSO_TCPV4: u8 = virtio::GSO_TCPV4;
    /// `VIRTIO_NET_HDR_GSO_TCPV6`.
    pub const GSO_TCPV6: u8 = virtio::GSO_TCPV6;

    /// The header at the start of `b` (all zero — no offload — if `b` is shorter).
    pub fn parse(b: &[u8]) -> VnetHdr {
        let Some(h) = VirtioNetHdr::new_checked(b) else {
            return VnetHdr::default();
        };
        VnetHdr {
            flags: h.flags(),
            gso_type: h.gso_type(),
            hdr_len: h.hdr_len(),
            gso_size: h.gso_size(),
            csum_start: h.csum_start(),
            csum_offset: h.csum_offset(),
        }
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] bytes of `b` (nothing if shorter).
    pub fn write(&self, b: &mut [u8]) {
        let Some(mut h) = VirtioNetHdr::new_checked(b) else {
            return;
        };
        h.set_flags(self.flags);
        h.set_gso_type(self.gso_type);
        h.set_hdr_len(self.hdr_len);
        h.set_gso_size(self.gso_size);
        h.set_csum_start(self.csum_start);
        h.set_csum_offset(self.csum_offset);
    }

    /// The checksum state of the packet behind this header, as the pipeline's rewrites need it.
    pub fn checksum_mode(&self) -> ChecksumMode {
        if self.flags & Self::F_NEEDS_CSUM != 0 {
            ChecksumMode::Partial
        } else {
            ChecksumMode::Full
        }
    }

    /// Wire packets an IP packet of `len` bytes under this header stands for: a GSO
    /// super-packet is `ceil(payload / gso_size)` segments.
    pub fn segments(&self, len: usize) -> u64 {
        if self.gso_type == Self::GSO_NONE || self.gso_size == 0 {
            return 1;
        }
        let payload = len.saturating_sub(usize::from(self.hdr_len));
        payload.div_ceil(usize::from(self.gso_size)).max(1) as u64
    }

    /// What the worker needs of a frame read with this header in front of `len` IP bytes.
    pub fn rx_meta(&self, len: usize) -> RxMeta {
        RxMeta {
            len,
            csum: self.checksum_mode(),
            segments: self.segments(len),
        }
    }

    /// What a frame read says of its `len` IP bytes: from its header on an offload device
    /// (`vnet`), else a plain packet.
    #[inline]
    pub fn frame_meta(vnet: bool, frame: &[u8], len: usize) -> RxMeta {
        if vnet {
            VnetHdr::parse(frame).rx_meta(len)
        } else {
            RxMeta {
                len,
                csum: ChecksumMode::Full,
                segments: 1,
            }
        }
    }

    /// Readies a frame's header for sending: a forwarded packet keeps the header it came with
    /// (its segmentation and checksum state); a generated one gets an empty header; a
    /// translated one ([`VnetHdr::translated`]) the header of its new family.
    #[inline]
    pub fn frame_tx(vnet: bool, frame: &mut [u8], tx: Tx) {
        if !vnet {
            return;
        }
        match tx {
            Tx::Forwarded => {}
            Tx::Generated => VnetHdr::default().write(frame),
            Tx::Translated => {
                let h = VnetHdr::translated(VnetHdr::parse(frame), frame);
                h.write(frame);
            }
        }
    }

    /// The header of a packet NAT64 translated (IP packet after the header in `frame`,
    /// checksums complete), given the one it came with. A super-packet stays one: its L4
    /// checksum made the pseudo-header sum over its whole L4 length again (`NEEDS_CSUM` from
    /// the new `csum_start`); TCP (`GSO_TCPV4/6`) retyped for its new family, its segment size
    /// cut by the 20 bytes the IPv6 header is longer when it became IPv6, so that each segment
    /// still fits the MTU the sender segmented for; UDP (`GSO_UDP_L4`) keeps its datagram size
    /// (datagram boundaries are the application's). Anything else: an empty header.
    pub fn translated(came: VnetHdr, frame: &mut [u8]) -> VnetHdr {
        use crate::wire::{IpProtocol, checksum, tcp, udp};
        /// Where the UDP checksum is in its header.
        const UDP_CHECKSUM_OFFSET: usize = 6;
        let tso = matches!(came.gso_type, Self::GSO_TCPV4 | Self::GSO_TCPV6);
        let uso = came.gso_type == virtio::GSO_UDP_L4;
        let Some(p) = frame.get_mut(VNET_HDR_LEN..) else {
            return VnetHdr::default();
        };
        let Ok(m) = crate::wire::parse(p) else {
            return VnetHdr::default();
        };
        let (hdr_len, csum_offset) = match m.proto {
            IpProtocol::Tcp if tso && m.len >= m.l4_offset + tcp::HEADER_LEN => (
                m.l4_offset + usize::from(p[m.l4_offset + 12] >> 4) * 4,
                tcp::field::CHECKSUM.start,
            ),
            IpProtocol::Udp if uso && m.len >= m.l4_offset + udp::HEADER_LEN => {
                (m.l4_offset + udp::HEADER_LEN, UDP_CHECKSUM_OFFSET)
            }
            _ => return VnetHdr::default(),
        };
        if came.gso_size == 0 || m.len <= hdr_len {
            return VnetHdr::default();
        }
        let l4_len = m.len - m.l4_offset;
        let pseudo = match (m.src, m.dst) {
            (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
                checksum::pseudo_v4(s, d, m.proto, l4_len as u16)
            }
            (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
                checksum::pseudo_v6(s, d, m.proto, l4_len as u32)
            }
            _ => return VnetHdr::default(),
        };
        let at = m.l4_offset + csum_offset;
        p[at..at + 2].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
        let v6 = m.dst.is_ipv6();
        let (gso_type, gso_size) = match (uso, v6) {
            (true, _) => (virtio::GSO_UDP_L4, came.gso_size),
            (false, true) => (Self::GSO_TCPV6, came.gso_size.saturating_sub(20).max(1)),
            (false, false) => (Self::GSO_TCPV4, came.gso_size),
        };
        VnetHdr {
            flags: Self::F_NEEDS_CSUM,
            gso_type,
            hdr_len: hdr_len as u16,
            gso_size,
            csum_start: m.l4_offset as u16,
            csum_offset: csum_offset as u16,
        }
    }
}

/// One queue of a TUN device: its fd, and its io_uring receive side on the io_uring path.
pub struct TunQueue {
    pub dev: tun_rs::SyncDevice,
    /// `Some` on the io_uring path ([`uring::enabled`] when the device was opened).
    pub rx: Option<uring::RxQueue>,
}

impl TunQueue {
    /// The io_uring receive side, unless this queue runs the plain loop.
    #[inline]
    fn uring(&self) -> Option<&uring::RxQueue> {
        self.rx
            .as_ref()
            .filter(|r| !r.failed.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// A TUN device of a port, open for reading and writing.
pub struct TunPort {
    pub plan: PortPlan,
    /// The device's queues (one fd each; the kernel keeps each flow on one queue). Shared with
    /// the `TunPort` that replaces this one when a reload only changes addresses.
    pub queues: Arc<[TunQueue]>,
    /// Reads and writes carry a virtio-net header (offloads on).
    pub vnet: bool,
}

impl TunPort {
    /// Queue `q`, or `q % queues` for a worker of a port with more queues than this one.
    #[inline]
    fn queue(&self, q: usize) -> io::Result<&TunQueue> {
        let n = self.queues.len();
        let q = if q < n { q } else { q % n.max(1) };
        self.queues
            .get(q)
            .ok_or_else(|| io::Error::other("port without queues"))
    }
}

impl Port for TunPort {
    fn queues(&self) -> usize {
        self.queues.len()
    }

    fn headroom(&self) -> usize {
        if self.vnet { VNET_HDR_LEN } else { 0 }
    }

    fn wait(&self, q: usize, timeout: Duration) -> io::Result<bool> {
        let tq = self.queue(q)?;
        if let Some(rx) = tq.uring()
            && let Some(ready) = rx.wait(tq.dev.as_raw_fd(), self.headroom(), timeout)
        {
            return Ok(ready);
        }
        let mut pfd = libc::pollfd {
            fd: tq.dev.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r > 0)
    }

    #[inline]
    fn recv(&self, q: usize, frame: &mut [u8]) -> io::Result<Option<RxMeta>> {
        let hdr = self.headroom();
        let n = match self.queue(q)?.dev.recv(frame) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        if n <= hdr {
            return Err(io::ErrorKind::InvalidData.into());
        }
        Ok(Some(VnetHdr::frame_meta(self.vnet, frame, n - hdr)))
    }

    #[inline]
    fn send(&self, q: usize, frame: &mut [u8], tx: Tx) -> io::Result<()> {
        VnetHdr::frame_tx(self.vnet, frame, tx);
        self.queue(q)?.dev.send(frame).map(|_| ())
    }

    fn recv_batch(&self, q: usize, frames: &mut [Frame], metas: &mut [RxMeta]) -> usize {
        if let Ok(tq) = self.queue(q)
            && let Some(rx) = tq.uring()
            && let Some(n) = rx.recv_batch(
                tq.dev.as_raw_fd(),
                self.headroom(),
                self.vnet,
                frames,
                metas,
            )
        {
            return n;
        }
        super::port::recv_each(self, q, frames, metas)
    }

    fn send_batch(
        &self,
        q: usize,
        frames: &mut [Frame],
        outs: &[Out],
        done: &mut dyn FnMut(&Out, bool),
    ) {
        if let Ok(tq) = self.queue(q)
            && tq.rx.is_some()
            && outs.len() > 1
            && uring::send_batch(tq.dev.as_raw_fd(), self.vnet, frames, outs, done)
        {
            return;
        }
        for o in outs {
            let ok = self.send(q, &mut frames[o.slot][..o.len], o.tx).is_ok();
            done(o, ok);
        }
    }

    fn takes_uso(&self) -> bool {
        self.vnet && self.queues.first().is_some_and(|q| q.dev.udp_gso())
    }

    fn takes_tso(&self) -> bool {
        self.vnet
    }
}

/// Creates the port's device inside its namespace with `queues` queues (fewer if the kernel
/// refuses multi-queue) and configures it (addresses, MTU, txqueuelen, up, default routes into
/// it). The namespace must exist.
pub fn open_port(plan: &PortPlan, offload: bool, queues: usize) -> io::Result<TunPort> {
    let queues = queues.max(1);
    let ns_path = std::path::Path::new("/var/run/netns").join(&plan.namespace);
    let ns_file = std::fs::File::open(&ns_path).map_err(|e| {
        io::Error::other(format!(
            "namespace {}: {e} (create it, or run with --create-namespaces)",
            plan.namespace
        ))
    })?;
    netns::quiet_ipv6(plan);
    let name = plan.device.clone();
    let mtu = plan.mtu;
    // A thread that enters the namespace creates the device there, and attaches its extra
    // queues there too (TUNSETIFF finds the device by name in the caller's namespace); the fds
    // outlive the thread.
    let devs = std::thread::spawn(move || -> io::Result<Vec<tun_rs::SyncDevice>> {
        // SAFETY: setns on a valid namespace fd affects only this (short-lived) thread.
        if unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let build = |mq: bool| {
            tun_rs::DeviceBuilder::new()
                .name(&name)
                .mtu(mtu)
                .tx_queue_len(TX_QUEUE_LEN)
                .packet_information(false)
                .offload(offload)
                .multi_queue(mq)
                .build_sync()
        };
        let first = if queues > 1 {
            match build(true) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("{name}: multi-queue refused ({e}); one queue");
                    build(false)?
                }
            }
        } else {
            build(false)?
        };
        let mut devs = Vec::with_capacity(queues);
        for _ in 1..queues {
            match first.try_clone() {
                Ok(d) => devs.push(d),
                Err(_) => break,
            }
        }
        devs.insert(0, first);
        Ok(devs)
    })
    .join()
    .map_err(|_| io::Error::other("device thread panicked"))??;
    for d in &devs {
        d.set_nonblocking(true)?;
    }
    netns::configure_port(plan)?;
    let queues: Vec<TunQueue> = devs
        .into_iter()
        .map(|dev| TunQueue {
            dev,
            rx: uring::enabled().then(uring::RxQueue::default),
        })
        .collect();
    Ok(TunPort {
        plan: plan.clone(),
        queues: queues.into(),
        vnet: offload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_round_trip_little_endian() {
        let h = VnetHdr {
            flags: VnetHdr::F_NEEDS_CSUM,
            gso_type: VnetHdr::GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut b = [0u8; VNET_HDR_LEN];
        h.write(&mut b);
        assert_eq!(b, [1, 1, 40, 0, 0xa8, 0x05, 20, 0, 16, 0]);
        assert_eq!(VnetHdr::parse(&b), h);
        assert_eq!(VnetHdr::parse(&b[..4]), VnetHdr::default());
    }

    #[test]
    fn a_super_packet_counts_its_segments_and_a_plain_one_is_one() {
        let h = VnetHdr {
            gso_type: VnetHdr::GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1000,
            ..Default::default()
        };
        assert_eq!(h.segments(40 + 3500), 4);
        assert_eq!(h.segments(40 + 1000), 1);
        assert_eq!(h.segments(40), 1);
        let m = h.rx_meta(40 + 2001);
        assert_eq!((m.len, m.segments, m.csum), (2041, 3, ChecksumMode::Full));
        assert_eq!(VnetHdr::default().segments(9000), 1);
        let partial = VnetHdr {
            flags: VnetHdr::F_NEEDS_CSUM,
            ..Default::default()
        };
        assert_eq!(partial.rx_meta(60).csum, ChecksumMode::Partial);
    }
}
