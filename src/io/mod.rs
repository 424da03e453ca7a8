//! Ports as TUN devices in network namespaces, and the workers that move packets between them
//! through the pipeline. Lowest first:
//!
//! - [`netns`]: where each port lives ([`PortPlan`]) and the `ip` commands that set it up.
//! - [`port`]: the [`Port`] trait a worker runs over (wait, receive one packet of a batch,
//!   send), implemented by
//! - [`tun`]: a port's TUN device (open in its namespace, queues, offloads, the virtio-net
//!   header), and [`mem`]: in-memory queues, for tests without root; wrapped by
//! - [`pcap`]: capture files, and [`pcap::Captured`], a port that records what passes.
//! - [`uring`]: the io_uring path of a TUN device (multishot reads, batched writes), probed at
//!   start-up, with the plain `read`/`write` loop as fallback.
//! - [`coalesce`]: consecutive same-flow packets of a batch merged into one super-packet on
//!   egress (USO for UDP, GRO-style for TCP).
//! - [`live`]: what the workers share ([`Live`]: snapshot + ports, swapped whole on reload;
//!   [`Shared`]).
//! - [`worker`]: the batch loop.
//!
//! Each port of the config becomes one TUN device `vf-<PortId>` in its own namespace, which
//! then holds only `lo` and that device, with a default route into it: nothing can route out of
//! the lab. Workers: one thread per queue of each port (multi-queue TUN, `--queues`, default one
//! per core).

pub mod coalesce;
pub mod live;
pub mod mem;
pub mod netns;
pub mod pcap;
pub mod port;
pub mod tun;
pub mod uring;
pub mod worker;

pub use live::{FlowLogTap, Live, LivePort, Shared};
pub use netns::{
    PortPlan, configure_port, ip, namespace_exists, plan, quiet_ipv6, reconfigure_port,
};
pub use port::{Frame, Out, Port, RxMeta, Tx};
pub use tun::{TX_QUEUE_LEN, TunPort, TunQueue, VNET_HDR_LEN, VnetHdr, open_port};
pub use uring::IoMode;
pub use worker::BATCH;
