//! vpcfwd's decision core: everything that decides what happens to a packet, and nothing that
//! touches the outside world. No syscalls, no clock, no threads, no runtime crate: the I/O layer,
//! the control plane and the command line live in the `vpcfwd` package and drive this one (as
//! `quinn` drives `quinn-proto`).
//!
//! Modules, lowest first; each imports only from modules above it in this list:
//!
//! 1. `lpm` — longest-prefix-match FIBs (Poptrie), knows nothing of VPCs.
//! 2. `wire` — wire formats: typed views, parsing, rewrites, checksums, generated packets.
//! 3. `config` — the YAML model (`describe-*` names), loading, per-object checks, the resolver
//!    (string ids → typed indices, `config::index`), AWS's reserved addresses (`config::aws`).
//! 4. `policy` — security-group and network-ACL rules in matchable form.
//! 5. `flow` — connection tracking, NAT and PrivateLink bindings (bounded, sharded tables).
//! 6. `dns` — the VPC resolver's names and answers (DNS messages through hickory-proto).
//! 7. `snapshot` — the compiled, immutable form of a resolved config (typed indices, FIBs,
//!    rules).
//! 8. `pipeline` — the per-packet decision: a pure function of (snapshot, bytes, port, time,
//!    flow state).
//! 9. `trace` — runs the very same pipeline on a synthetic or raw packet and renders its stages;
//!    `trace::replay` a pcap's packets and `trace::scenario` a scenario file (packets, replies,
//!    reloads, expectations) on one flow table and simulated time.

#![warn(unreachable_pub)]

pub mod config;
pub mod dns;
pub mod flow;
pub mod lpm;
pub mod pipeline;
pub mod policy;
pub mod snapshot;
pub mod trace;
pub mod wire;
