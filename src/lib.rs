//! vpcfwd: a userspace dataplane that forwards real IP packets the way an AWS VPC would.
//!
//! Data flows one way through the modules:
//! `config` (YAML → validated model) → `snapshot` (compiled, immutable, dense indices; route
//! tables as `lpm` FIBs, rules in `policy` form) → `pipeline` (sans-IO decision per packet over
//! `packet` views and `flow` state) → `io` (TUN ports, workers, pcap), which reports what it saw
//! to `observe` (per-worker counters, flow logs), under `control` (tokio: signals, reload, admin
//! API). `trace` runs the very same pipeline on a synthetic packet.

pub mod config;
pub mod control;
pub mod flow;
pub mod io;
pub mod lpm;
pub mod observe;
pub mod packet;
pub mod pipeline;
pub mod policy;
pub mod snapshot;
pub mod trace;
