//! vpcfwd: a userspace dataplane that forwards real IP packets the way an AWS VPC would.
//!
//! The decision core (`vpcfwd-core`: config, snapshot, wire, flow, policy, pipeline, lpm,
//! trace) is re-exported here unchanged; this package adds the layers around it, lowest first
//! (each imports only from the core and from modules before it; `tests/layering.rs` checks):
//!
//! 1. `load` — a config from a file or standard input, for the CLI.
//! 2. `observe` — per-worker counters and flow logs: what the pipeline reports.
//! 3. `io` — TUN ports, namespaces, workers, pcap: what reads and writes packets.
//! 4. `graph` — the topology and a traced path as Mermaid, DOT or SVG.
//! 5. `ui` — the web page (served by `vpcfwd ui`, and by the admin API with live counters).
//! 6. `control` — tokio: signals, reload, admin API, the CLI's client.
//! 7. `import` — a config from `aws ec2 describe-*` JSON.
//! 8. `reach` — the reachability matrix of a config, and `diff` of two.
//! 9. `top` — the terminal view of a running forwarder, through `control`'s client.

#![warn(unreachable_pub)]

pub use vpcfwd_core::{config, dns, flow, lpm, pipeline, policy, snapshot, trace, wire};

pub mod control;
pub mod graph;
pub mod import;
pub mod io;
pub mod load;
pub mod observe;
pub mod reach;
pub mod top;
pub mod ui;
