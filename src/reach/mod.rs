//! `vpcfwd reach` and `vpcfwd diff`: the reachability matrix of a config — every source (each
//! port: instance ENIs, the internet, service networks) to every destination (ENIs, public IPs,
//! the hosts behind the internet and service ports, each service prefix-list entry) on each
//! service port — and what changes in it between two configs.
//!
//! Every cell is the core's [`trace`] of the packet, then (forwarded) of the packet *and its
//! reply* (`reply: true`): a connection works only if both are forwarded and the reply comes
//! back to the source. One compile, then the traces; the verdict, drop reason, egress and the
//! objects that decided are read from the trace's JSON form (its documented, golden-tested
//! output), so the decision core is used through `trace::{trace, Probe}` and `Trace::json`
//! alone (plus `snapshot::compile` in `cli`); `model` reads the config's ports, ENIs, NAT
//! gateways, endpoints and prefix lists for the sources and destinations.
//!
//! `model` builds the sources and destinations from the config; `render` writes the matrix as
//! text, JSON, CSV or Markdown; `diff` compares two matrices; `cli` is the command line.

pub mod cli;
pub mod diff;
pub mod model;
pub mod render;

use crate::config::Config;
use crate::snapshot::Snapshot;
use crate::trace::{Probe, trace};
use crate::wire::{IpProtocol, icmp};
use serde_json::Value;
use std::net::IpAddr;

pub use model::{Dest, Service, Source};

/// One direction of a connection, as the pipeline decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// `ACCEPT` or `DROP`.
    pub verdict: String,
    /// The drop reason code (`SG_NO_ALLOW`, …), or why the reply went wrong.
    pub reason: Option<String>,
    /// What decided a drop: `acl-private rule 90 outbound`, `sg-app egress`, `rtb-private
    /// blackhole 203.0.113.128/25`.
    pub by: Option<String>,
    /// The port it left by (forwarded).
    pub egress: Option<String>,
    /// What let it through, in order: security-group rules, NACL rules, routes.
    pub path: Vec<String>,
}

impl Leg {
    pub fn accepted(&self) -> bool {
        self.verdict == "ACCEPT"
    }
}

/// One source, destination and service: the packet and (when it was forwarded) its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Index into [`Matrix::sources`].
    pub from: usize,
    /// Index into [`Matrix::dests`].
    pub to: usize,
    /// Index into [`Matrix::services`].
    pub service: usize,
    /// Why no trace ran (the destination is the source itself, or of an address family the
    /// source has no address of).
    pub skipped: Option<String>,
    pub request: Option<Leg>,
    pub reply: Option<Leg>,
}

impl Cell {
    /// Both the packet and its reply pass, and the reply reaches the source.
    pub fn works(&self) -> bool {
        self.request.as_ref().is_some_and(Leg::accepted)
            && self.reply.as_ref().is_some_and(Leg::accepted)
    }

    /// The leg that failed, and whether it is the reply.
    pub fn failure(&self) -> Option<(&Leg, bool)> {
        match (&self.request, &self.reply) {
            (Some(r), _) if !r.accepted() => Some((r, false)),
            (Some(_), Some(r)) if !r.accepted() => Some((r, true)),
            _ => None,
        }
    }

    /// What a cell shows: `✓`, `✓(port)` when delivered to another port than the
    /// destination's (or it has none), the drop reason, `↩REASON` when only the reply is dropped, `·` skipped.
    pub fn code(&self, dest: &Dest) -> String {
        self.code_with(dest, |r| r.to_string())
    }

    /// [`Cell::code`] with the text table's short reason codes ([`short`]).
    pub fn short_code(&self, dest: &Dest) -> String {
        self.code_with(dest, |r| short(r).to_string())
    }

    fn code_with(&self, dest: &Dest, name: impl Fn(&str) -> String) -> String {
        if self.skipped.is_some() {
            return "·".into();
        }
        if let Some((leg, reply)) = self.failure() {
            let r = name(leg.reason.as_deref().unwrap_or("DROP"));
            return if reply { format!("↩{r}") } else { r };
        }
        let egress = self.request.as_ref().and_then(|r| r.egress.as_deref());
        match (egress, dest.port.as_deref()) {
            (Some(e), Some(p)) if e == p => "✓".into(),
            // Delivered elsewhere than the destination's port, or the destination has none
            // (a NAT gateway's public IP): say where.
            (Some(e), _) => format!("✓({e})"),
            _ => "✓".into(),
        }
    }
}

/// The short form of a reason code in the text table (its legend lists those used).
pub fn short(code: &str) -> &str {
    match code {
        "SG_NO_ALLOW" => "SG",
        "NACL_DENY" => "NACL",
        "BLACKHOLE_ROUTE" => "BLACKHOLE",
        "NO_ROUTE" => "NOROUTE",
        "NO_ENI_AT_DESTINATION" => "NOENI",
        "NO_PUBLIC_IP" => "NOPUBLIC",
        "NO_PUBLIC_IP_MAPPING" => "NOMAP",
        "UNSOLICITED" => "UNSOLICITED",
        "SRC_DST_CHECK" => "SRCDST",
        "RESERVED_DESTINATION" => "RESERVED",
        "REPLY_ELSEWHERE" => "ELSEWHERE",
        "UNSUPPORTED_PROTOCOL" => "PROTO",
        "IPV6_NOT_ENABLED" => "NOIPV6",
        c => c,
    }
}

/// The matrix: sources × destinations × services, cells in that order.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub sources: Vec<Source>,
    pub dests: Vec<Dest>,
    pub services: Vec<Service>,
    pub cells: Vec<Cell>,
    /// Packets traced: one per cell whose packet is dropped, three (the packet, then the packet
    /// and its reply) per cell whose packet is forwarded.
    pub traces: usize,
}

impl Matrix {
    pub fn cell(&self, from: usize, to: usize, service: usize) -> &Cell {
        &self.cells[(from * self.dests.len() + to) * self.services.len() + service]
    }

    /// The cell of source `from` (port id or alias) to `addr` on `service` (`tcp/22`, `icmp`).
    pub fn find(&self, from: &str, addr: IpAddr, service: &str) -> Option<&Cell> {
        let s = self.sources.iter().position(|s| s.matches(from))?;
        let d = self.dests.iter().position(|d| d.address == addr)?;
        let v = self
            .services
            .iter()
            .position(|v| v.to_string() == service)?;
        Some(self.cell(s, d, v))
    }
}

/// What `reach` covers: services, and `--from` / `--to` selectors (empty: all).
#[derive(Debug, Clone)]
pub struct Selection {
    pub services: Vec<Service>,
    pub from: Vec<String>,
    pub to: Vec<String>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            services: Service::defaults(),
            from: Vec::new(),
            to: Vec::new(),
        }
    }
}

/// Traces every cell of the selection on a compiled config (`snap` from `cfg`).
pub fn reach(cfg: &Config, snap: &Snapshot, sel: &Selection) -> Result<Matrix, String> {
    let sources = select(model::sources(cfg), &sel.from, "--from", Source::matches)?;
    let dests = select(model::destinations(cfg), &sel.to, "--to", Dest::matches)?;
    let services = sel.services.clone();
    let mut jobs = Vec::with_capacity(sources.len() * dests.len() * services.len());
    for f in 0..sources.len() {
        for t in 0..dests.len() {
            for v in 0..services.len() {
                jobs.push((f, t, v));
            }
        }
    }
    // The traces are independent (each has its own flow table): spread them over the cores.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().div_ceil(64))
        .max(1);
    let chunk = jobs.len().div_ceil(threads).max(1);
    let results: Vec<(Cell, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let (sources, dests, services) = (&sources, &dests, &services);
                scope.spawn(move || {
                    part.iter()
                        .map(|&(f, t, v)| {
                            one(cfg, snap, &sources[f], &dests[t], services[v], (f, t, v))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a reach thread panicked"))
            .collect()
    });
    let traces = results.iter().map(|(_, n)| n).sum();
    Ok(Matrix {
        sources,
        dests,
        services,
        cells: results.into_iter().map(|(c, _)| c).collect(),
        traces,
    })
}

fn select<T>(
    all: Vec<T>,
    ids: &[String],
    flag: &str,
    matches: fn(&T, &str) -> bool,
) -> Result<Vec<T>, String> {
    if ids.is_empty() {
        return Ok(all);
    }
    for id in ids {
        if !all.iter().any(|x| matches(x, id)) {
            return Err(format!("{flag} {id}: no such source or destination"));
        }
    }
    Ok(all
        .into_iter()
        .filter(|x| ids.iter().any(|id| matches(x, id)))
        .collect())
}

/// One cell: the packet with its reply, or (not forwarded) the packet alone.
fn one(
    cfg: &Config,
    snap: &Snapshot,
    src: &Source,
    dst: &Dest,
    service: Service,
    (from, to, svc): (usize, usize, usize),
) -> (Cell, usize) {
    let mut cell = Cell {
        from,
        to,
        service: svc,
        skipped: None,
        request: None,
        reply: None,
    };
    if src.addresses.contains(&dst.address) {
        cell.skipped = Some("the destination is the source itself".into());
        return (cell, 0);
    }
    if !src
        .addresses
        .iter()
        .any(|a| a.is_ipv6() == dst.address.is_ipv6())
    {
        cell.skipped = Some(format!(
            "{} has no {} address",
            src.id,
            if dst.address.is_ipv6() {
                "IPv6"
            } else {
                "IPv4"
            }
        ));
        return (cell, 0);
    }
    // The packet alone first: most cells are dropped there. Forwarded, then the packet with
    // its reply (`reply: true` traces both through one flow table).
    let mut probe = service.probe(&src.id, dst.address);
    let request = match trace(snap, cfg, &probe) {
        Ok(t) => leg(&t.json()),
        Err(e) => {
            cell.skipped = Some(e);
            return (cell, 1);
        }
    };
    if !request.accepted() {
        cell.request = Some(request);
        return (cell, 1);
    }
    probe.reply = true;
    let reply = match trace(snap, cfg, &probe) {
        Ok(t) => {
            let j = t.json();
            cell.request = Some(leg(&j["request"]));
            let mut reply = leg(&j);
            if reply.accepted() && reply.egress.as_deref() != Some(src.id.as_str()) {
                reply.verdict = "DROP".into();
                reply.reason = Some("REPLY_ELSEWHERE".into());
                reply.by = reply
                    .egress
                    .as_ref()
                    .map(|e| format!("the reply leaves by port {e}"));
            }
            reply
        }
        // Forwarded, yet nothing could answer it.
        Err(e) => {
            cell.request = Some(request);
            Leg {
                verdict: "DROP".into(),
                reason: Some("NO_REPLY".into()),
                by: Some(e),
                egress: None,
                path: Vec::new(),
            }
        }
    };
    cell.reply = Some(reply);
    (cell, 3)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A leg from a trace's JSON (`verdict`, `reason`, `egress`, `stages`).
fn leg(j: &Value) -> Leg {
    let verdict = s(&j["verdict"]).to_string();
    let reason = j["reason"].as_str().map(str::to_string);
    let empty = Vec::new();
    let stages = j["stages"].as_array().unwrap_or(&empty);
    let mut path = Vec::new();
    for st in stages {
        match s(&st["stage"]) {
            "security_group" if st["allowed"] == Value::Bool(true) => path.push(format!(
                "{} {} rule #{}",
                s(&st["group"]),
                s(&st["direction"]),
                st["rule"]
            )),
            "network_acl" if st["action"] == "allow" => path.push(format!(
                "{} rule {} {}",
                s(&st["nacl"]),
                s(&st["rule"]),
                s(&st["direction"])
            )),
            "route" if st["destination"].is_string() => path.push(format!(
                "{} {} -> {}",
                s(&st["route_table"]),
                s(&st["destination"]),
                s(&st["target"])
            )),
            _ => {}
        }
    }
    let by = (verdict != "ACCEPT").then(|| decider(reason.as_deref(), stages));
    Leg {
        egress: j["egress"].as_str().map(str::to_string),
        verdict,
        reason,
        by,
        path,
    }
}

/// The object that dropped the packet, from the stages (the deciding stage is the last of its
/// kind; anything else: the last stage's object).
fn decider(reason: Option<&str>, stages: &[Value]) -> String {
    let last = |kind: &str| stages.iter().rev().find(|st| st["stage"] == kind);
    let found = match reason {
        Some("NACL_DENY") => last("network_acl").map(|st| {
            format!(
                "{} rule {} {}",
                s(&st["nacl"]),
                s(&st["rule"]),
                s(&st["direction"])
            )
        }),
        Some("SG_NO_ALLOW") => last("security_group").map(|st| {
            let groups: Vec<&str> = st["groups"]
                .as_array()
                .map(|g| g.iter().map(s).collect())
                .unwrap_or_default();
            let groups = if groups.is_empty() {
                "no security group".to_string()
            } else {
                groups.join("+")
            };
            format!("{groups} {} ({})", s(&st["direction"]), s(&st["eni"]))
        }),
        Some("BLACKHOLE_ROUTE") => last("route").map(|st| {
            let target = s(&st["target"]);
            let via = if target.is_empty() || target == "blackhole" {
                String::new()
            } else {
                format!(" ({target})")
            };
            format!(
                "{} blackhole {}{via}",
                s(&st["route_table"]),
                s(&st["destination"])
            )
        }),
        Some("NO_ROUTE") => last("route").map(|st| format!("{} no route", s(&st["route_table"]))),
        Some("SRC_DST_CHECK") => {
            last("src_dst_check").map(|st| format!("{} source/destination check", s(&st["eni"])))
        }
        Some("NO_ENI_AT_DESTINATION") => Some(match last("route") {
            Some(st) => format!(
                "{} {} local: no ENI has the address",
                s(&st["route_table"]),
                s(&st["destination"])
            ),
            None => "no ENI has the address".into(),
        }),
        Some("NO_PUBLIC_IP_MAPPING") => {
            Some("internet gateway: no ENI or NAT gateway has that public IP".into())
        }
        Some("NO_PUBLIC_IP") => stages
            .iter()
            .rev()
            .find_map(|st| st["eni"].as_str())
            .map(|e| format!("{e} has no public IP")),
        Some("UNSOLICITED") => stages.iter().rev().find_map(|st| {
            ["nat_gateway", "endpoint"]
                .iter()
                .find_map(|k| st[*k].as_str())
                .map(|id| format!("{id}: connection opened from outside"))
        }),
        _ => None,
    };
    found.unwrap_or_else(|| {
        stages
            .iter()
            .rev()
            .find_map(|st| {
                [
                    "nat_gateway",
                    "endpoint",
                    "eni",
                    "nacl",
                    "route_table",
                    "port",
                ]
                .iter()
                .find_map(|k| st[*k].as_str())
                .map(|id| format!("{} {id}", s(&st["stage"]).replace('_', " ")))
            })
            .unwrap_or_default()
    })
}

/// A probe for a service: TCP/UDP from port 49152, ICMP echo request.
impl Service {
    pub fn probe(self, from: &str, dst: IpAddr) -> Probe {
        let v6 = dst.is_ipv6();
        let (proto, dport, icmp) = match self {
            Service::Tcp(p) => (IpProtocol::Tcp, p, (icmp::v4::ECHO_REQUEST, 0)),
            Service::Udp(p) => (IpProtocol::Udp, p, (icmp::v4::ECHO_REQUEST, 0)),
            Service::Icmp if v6 => (IpProtocol::Icmpv6, 0, (icmp::v6::ECHO_REQUEST, 0)),
            Service::Icmp => (IpProtocol::Icmp, 0, (icmp::v4::ECHO_REQUEST, 0)),
        };
        Probe {
            from: from.to_string(),
            src: None,
            dst,
            proto,
            sport: 49152,
            dport,
            icmp,
            reply: false,
        }
    }
}
