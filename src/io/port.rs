//! The port trait: what a worker needs of a port, and nothing more.
//!
//! The split follows boringtun's and quinn's: the worker owns its buffer and the decisions, the
//! port owns the syscalls (and the format of what precedes a packet on its device). A worker
//! waits on its queue, reads up to a batch of packets one by one into its one buffer, decides
//! each in place and hands the bytes to the egress port's queue of the same number. Two ports
//! implement it: a TUN device ([`super::tun::TunPort`]) and an in-memory port
//! ([`super::mem::MemPort`], for tests without root); [`super::pcap::Captured`] wraps either and
//! records what passes.
//!
//! Why one packet per call rather than a vector of buffers: a TUN device has no `recvmmsg`
//! (one `read` per packet whatever the API), and one buffer of 64 KiB stays in cache where a
//! batch of them would not. The batch is the worker's: one wake-up, one snapshot load, one clock
//! read, up to [`super::worker::BATCH`] packets. The worker is generic over the port type, so a
//! call is a direct (inlinable) call: no dynamic dispatch and no allocation per packet.
//!
//! Batches: [`Port::recv_batch`] and [`Port::send_batch`] move a whole batch per call, over
//! frames the worker owns ([`Frame`], one per packet of a batch). Their default methods loop over
//! `recv` and `send`, so an in-memory port (and a TUN device on the plain path) needs nothing
//! more; a TUN device on io_uring ([`super::uring`]) reads a batch from one multishot read's
//! completions — swapping the worker's frame for the provided buffer the kernel filled, no copy
//! — and writes a batch with one `io_uring_enter`. Holding the batch's packets at once is also
//! what lets the worker coalesce consecutive same-flow packets before they leave
//! ([`super::coalesce`]).
//!
//! Methods take `&self` and a queue number: several workers write to one egress port at once
//! (a TUN queue is an fd; the in-memory port locks), as quinn's `AsyncUdpSocket` is shared.

use crate::wire::ChecksumMode;
use std::io;
use std::time::Duration;

/// Largest IP packet a read may hold (a 64 KiB super-packet).
pub const MAX_PACKET: usize = 65536;
/// Most headroom a port may have (a virtio-net header is 10 bytes).
pub const MAX_HEADROOM: usize = 16;
/// Room after the largest read for a generated reply.
pub const REPLY_ROOM: usize = 256;
/// Bytes of every frame buffer: headroom, the largest packet, room for a reply.
pub const FRAME_LEN: usize = MAX_HEADROOM + MAX_PACKET + REPLY_ROOM;

/// A frame buffer of [`FRAME_LEN`] bytes: headroom, then the IP packet. Owned by the worker
/// between batches; a port may swap it for one of its own of the same length.
pub type Frame = Box<[u8]>;

/// A zeroed frame buffer (pages are mapped as they are touched: a small packet uses one).
pub fn frame() -> Frame {
    vec![0u8; FRAME_LEN].into_boxed_slice()
}

/// One frame of a batch to send: `frames[slot][..len]` (headroom, then the IP packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    pub slot: usize,
    pub len: usize,
    pub tx: Tx,
}

/// What a port says of a packet it read, beyond its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// Bytes of the IP packet (after the port's headroom).
    pub len: usize,
    /// `Partial` when the L4 checksum holds only the pseudo-header sum (checksum offload):
    /// rewrites must keep it partial.
    pub csum: ChecksumMode,
    /// Wire packets it stands for: a segmentation-offload super-packet is several (flow logs
    /// count packets as AWS sees them on the wire); otherwise 1.
    pub segments: u64,
}

/// What the worker sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tx {
    /// A packet as it was read (possibly rewritten in place): its headroom is kept, so an
    /// offload super-packet leaves whole, with its segmentation and checksum state.
    #[default]
    Forwarded,
    /// A packet the forwarder made (TCP RST, ICMP error): complete checksums, no segmentation;
    /// the port writes its headroom accordingly.
    Generated,
    /// A packet NAT64 translated to the other family, complete checksums: a TCP super-packet
    /// keeps its segmentation, retyped for the new family (`GSO_TCPV6` ↔ `GSO_TCPV4`); anything
    /// else leaves as [`Tx::Generated`] does.
    Translated,
}

/// One port of the forwarder: its queues, as the workers use them.
pub trait Port: Send + Sync + 'static {
    /// Queues of the port (at least 1). A worker serves one; it writes to queue
    /// `q % queues()` of the egress port.
    fn queues(&self) -> usize;

    /// Bytes in front of the IP packet in every frame the port reads and writes (an offload
    /// header); the same for every port of one forwarder.
    fn headroom(&self) -> usize;

    /// Waits up to `timeout` for queue `q` to have a packet: `Ok(false)` when none came (the
    /// worker then checks for shutdown and reloads).
    fn wait(&self, q: usize, timeout: Duration) -> io::Result<bool>;

    /// Reads one packet of queue `q` into `frame` (headroom, then the IP packet). `Ok(None)`:
    /// nothing more is ready now, the batch ends. An error of kind `Interrupted` or
    /// `InvalidData` (a frame too short to hold a packet) skips one read; any other ends the
    /// batch.
    fn recv(&self, q: usize, frame: &mut [u8]) -> io::Result<Option<RxMeta>>;

    /// Writes `frame` (headroom, then the IP packet) to queue `q % queues()`.
    fn send(&self, q: usize, frame: &mut [u8], tx: Tx) -> io::Result<()>;

    /// Reads up to `frames.len()` packets of queue `q`: packet `i` into `frames[i]` (the port
    /// may put a buffer of its own, of [`FRAME_LEN`] bytes, in its place) and what it says of
    /// it into `metas[i]`. Returns how many it read: 0 when nothing is ready now.
    ///
    /// The default loops over [`Port::recv`], skipping reads that fail with `Interrupted` or
    /// `InvalidData` and ending the batch at any other error, at most `frames.len()` reads.
    fn recv_batch(&self, q: usize, frames: &mut [Frame], metas: &mut [RxMeta]) -> usize {
        recv_each(self, q, frames, metas)
    }

    /// Writes the frames `outs` names, in order, to queue `q % queues()`, and calls `done` with
    /// each of them and whether it was written.
    ///
    /// The default loops over [`Port::send`].
    fn send_batch(
        &self,
        q: usize,
        frames: &mut [Frame],
        outs: &[Out],
        done: &mut dyn FnMut(&Out, bool),
    ) {
        for o in outs {
            let ok = self.send(q, &mut frames[o.slot][..o.len], o.tx).is_ok();
            done(o, ok);
        }
    }

    /// Whether the device takes UDP segmentation offload (`VIRTIO_NET_HDR_GSO_UDP_L4`) in what
    /// is written to it: consecutive same-flow datagrams may then leave as one super-packet.
    fn takes_uso(&self) -> bool {
        false
    }

    /// Whether the device takes TCP segmentation offload in what is written to it: same-flow
    /// segments that arrived one by one may then leave merged, as GRO would.
    fn takes_tso(&self) -> bool {
        false
    }
}

/// [`Port::recv_batch`]'s default: one [`Port::recv`] per packet, skipping reads that fail
/// with `Interrupted` or `InvalidData`, ending at any other error, at most `frames.len()` reads.
pub fn recv_each<P: Port + ?Sized>(
    p: &P,
    q: usize,
    frames: &mut [Frame],
    metas: &mut [RxMeta],
) -> usize {
    let hdr = p.headroom();
    let want = frames.len().min(metas.len());
    let mut n = 0;
    for _ in 0..want {
        match p.recv(q, &mut frames[n][..hdr + MAX_PACKET]) {
            Ok(Some(m)) => {
                metas[n] = m;
                n += 1;
            }
            Ok(None) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::InvalidData
                ) => {}
            Err(_) => break,
        }
    }
    n
}
