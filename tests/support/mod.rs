//! What the integration tests share (each test file says `mod support;`):
//!
//! - [`sans_io`]: the lab config and snapshot, `compile`, `port`, the pipeline's `Rx`, packet
//!   builders and config edits — re-exported here; the benches include that file alone.
//! - [`mem_lab`]: the forwarder's workers on in-memory ports (no root): scripted input, what
//!   each port sent, counters and flow logs.
//! - [`golden`]: compare outputs with tests/golden/ (`UPDATE_GOLDEN=1` rewrites them).
//! - [`lab`]: the end-to-end lab in network namespaces with real packets (root).
//!
//! A test file uses part of it: the rest is dead code there.
#![allow(dead_code, unused_imports)]

pub mod golden;
pub mod lab;
pub mod mem_lab;
pub mod sans_io;

pub use sans_io::*;
