//! The decision pipeline: a pure function of (snapshot, packet bytes, ingress port, time, flow
//! state). No syscalls, no clock reads, no allocation per packet.

mod reason;
pub use reason::{DropReason, MalformedKind};

use crate::flow::{FlowTable, Time};
use crate::snapshot::{PortIdx, Snapshot};

/// What the I/O layer knows about a received packet besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rx {
    pub ingress: PortIdx,
    pub now: Time,
    /// The L4 checksum field holds only the pseudo-header sum (TUN offload,
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`): rewrites must keep it partial, not complete it.
    pub l4_csum_partial: bool,
}

/// The pipeline's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[..len]` (rewritten in place if translated) out of `egress`.
    Forward { egress: PortIdx, len: usize },
    /// Drop the packet.
    Drop(DropReason),
    /// Drop the packet for `reason` and send `buf[..len]`, now a generated reply (TCP RST,
    /// ICMP error), out of `egress`.
    Reply {
        egress: PortIdx,
        len: usize,
        reason: DropReason,
    },
}

/// Receives the pipeline's stages. The hot path uses `NoTrace`, which compiles to nothing.
pub trait Tracer {}

/// The tracer of the hot path.
pub struct NoTrace;
impl Tracer for NoTrace {}

/// Decides one packet: `buf[..len]` arrived on `rx.ingress`. `buf` may be longer than the packet
/// so that a generated reply fits.
pub fn process<T: Tracer>(
    _snap: &Snapshot,
    _flows: &FlowTable,
    _buf: &mut [u8],
    _len: usize,
    _rx: Rx,
    _tracer: &mut T,
) -> Verdict {
    Verdict::Drop(DropReason::NoRoute)
}
