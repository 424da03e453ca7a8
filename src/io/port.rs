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
//! Methods take `&self` and a queue number: several workers write to one egress port at once
//! (a TUN queue is an fd; the in-memory port locks), as quinn's `AsyncUdpSocket` is shared.

use crate::wire::ChecksumMode;
use std::io;
use std::time::Duration;

/// What a port says of a packet it read, beyond its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    /// A packet as it was read (possibly rewritten in place): its headroom is kept, so an
    /// offload super-packet leaves whole, with its segmentation and checksum state.
    Forwarded,
    /// A packet the forwarder made (TCP RST, ICMP error): complete checksums, no segmentation;
    /// the port writes its headroom accordingly.
    Generated,
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
}
