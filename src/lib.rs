//! vpcfwd: a userspace dataplane that forwards real IP packets the way an AWS VPC would.
//!
//! The decision core (`vpcfwd-core`: config, snapshot, wire, flow, policy, pipeline, lpm,
//! trace) is re-exported here unchanged; this package adds the layers around it, lowest first:
//! `observe` (per-worker counters, flow logs: what the pipeline reports), `io` (TUN ports,
//! namespaces, workers, pcap: what reads and writes packets), `control` (tokio: signals, reload,
//! admin API, the CLI's client). Each imports only from the core and from modules before it.

pub use vpcfwd_core::{config, dns, flow, lpm, pipeline, policy, snapshot, trace, wire};

pub mod control;
pub mod import;
pub mod io;
pub mod observe;
