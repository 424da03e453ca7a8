//! Scenarios (`vpcfwd trace --scenario FILE`): packets, replies, time and reloads on one flow
//! table and a simulated clock, with expectations — a VPC's behaviour pinned as a file.
//!
//! ```yaml
//! Config: lab.yaml                 # relative to the scenario file
//! Steps:
//!   - {At: 0, From: app, Dst: 203.0.113.100, Proto: tcp, Dport: 80, TcpFlags: S}
//!   - {At: 0.1, ReplyTo: 1, TcpFlags: SA}
//!   - {At: 400, From: app, Dst: 203.0.113.100, Dport: 80, TcpFlags: A,
//!      Expect: {Verdict: DROP, Reason: NAT_IDLE_TIMEOUT}}
//!   - {At: 401, Reload: lab-without-ssh.yaml}
//!   - {At: 402, From: app, Dst: 203.0.113.100, Proto: udp, Dport: 53, Repeat: 55001,
//!      Expect: {Last: {Reason: NAT_PORT_ALLOCATION}}}
//! ```
//!
//! This module reads and checks the file (`file:line:column` for every error, the step named);
//! [`run`] runs it through the very same `snapshot::compile_after`, `pipeline::process` and
//! `FlowTable` as the forwarder.

mod report;
mod run;
mod spec;

pub use report::{Outcome, Report, Seen, StepOutcome};
pub use run::run;
pub use spec::{Expect, ExpectOne, FragmentSpec, Scenario, Step, StepKind, parse_str};

/// The most packets one `Repeat` sends.
pub const MAX_REPEAT: u64 = 10_000_000;

/// Reads a scenario file; its `Config` and `Reload` files are relative to it.
pub fn load(path: &std::path::Path) -> Result<Scenario, Vec<String>> {
    let file = path.display().to_string();
    // Bounded like a config file: a huge one is refused before it is read whole.
    let text = std::fs::File::open(path)
        .map_err(|e| vec![format!("{file}: cannot read: {e}")])
        .and_then(|f| {
            crate::config::load::read_bounded(f, &file)
                .map_err(|e| e.iter().map(ToString::to_string).collect())
        })?;
    let base = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    parse_str(&text, &file, &base)
}
