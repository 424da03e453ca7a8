//! vpcfwd: a userspace dataplane that forwards real IP packets the way an AWS VPC would.
//!
//! The decision core (`vpcfwd-core`: config, snapshot, packet, flow, policy, pipeline, lpm,
//! trace) is re-exported here unchanged; this package adds the layers around it, lowest first:
//! `observe` (per-worker counters, flow logs: what the pipeline reports), `io` (TUN ports,
//! namespaces, workers, pcap: what reads and writes packets), `control` (tokio: signals, reload,
//! admin API, the CLI's client); beside them `import` (a config from `aws ec2 describe-*`
//! JSON), `reach` (the reachability matrix of a config, and `diff` of two) and `load` (a config
//! file or standard input for the CLI). Each imports only from the core and from modules before it.

pub use vpcfwd_core::{config, flow, lpm, packet, pipeline, policy, snapshot, trace};

pub mod control;
pub mod import;
pub mod io;
pub mod load;
pub mod observe;
pub mod reach;
