//! Running a scenario: one flow table (bounded as `Options.FlowTableMaxEntries` says, as the
//! forwarder's), one simulated clock, `pipeline::process` for every packet, and reloads through
//! `config::load_file` + `snapshot::compile_after` as a hot reload does (flow state kept, zones
//! stable; an invalid config changes nothing).

use super::report::{Outcome, Report, Seen, StepOutcome};
use super::spec::{Expect, ExpectOne, PacketSpec, Scenario, Step, StepKind};
use crate::config::{self, Config};
use crate::flow::{DEFAULT_MAX_ENTRIES, Dur, FlowTable, Time};
use crate::pipeline::{self, NoTrace, Rx, Verdict};
use crate::snapshot::{self, PortIdx, Snapshot};
use crate::trace::{Trace, parse_proto, port_of, probe_source, run_packet};
use crate::wire::{self, BuildOptions, ChecksumMode, IpProtocol, icmp, tcp};
use std::net::IpAddr;

/// Simulated time `At: 0` is this far after the clock's epoch (as `trace` runs at 1 s).
const EPOCH: Time = Time::from_secs(1);
const NANOS_PER_SEC: f64 = 1e9;
/// Room after a packet for the reply the pipeline may write in its place.
const REPLY_ROOM: usize = 1280;

/// What a forwarded packet left behind, for a later `ReplyTo`.
#[derive(Debug, Clone)]
enum Sent {
    Forwarded { out: Vec<u8>, egress: PortIdx },
    Not(String),
}

/// The running state: config, snapshot, flows, clock.
struct Engine {
    cfg: Config,
    snap: Snapshot,
    flows: FlowTable,
    sent: Vec<Sent>,
}

/// Runs a scenario. `Err`: its config is invalid (every error, `file:line:column` or id +
/// field).
pub fn run(sc: &Scenario) -> Result<Report, Vec<String>> {
    let strings =
        |e: Vec<config::ConfigError>| -> Vec<String> { e.iter().map(|e| e.to_string()).collect() };
    let cfg = config::load_file(&sc.config).map_err(strings)?;
    let snap = snapshot::compile(&cfg).map_err(strings)?;
    let max = cfg
        .options
        .flow_table_max_entries
        .map_or(DEFAULT_MAX_ENTRIES, |m| m as usize);
    let mut e = Engine {
        flows: FlowTable::new(max),
        cfg,
        snap,
        sent: Vec::new(),
    };
    let mut report = Report::default();
    for step in &sc.steps {
        match e.step(step) {
            Ok(o) => report.steps.push(o),
            Err(m) => {
                report.error = Some(format!("step {}: {m}", step.index));
                break;
            }
        }
    }
    Ok(report)
}

fn time(at: f64) -> Time {
    EPOCH + Dur::from_nanos((at * NANOS_PER_SEC).round() as u64)
}

/// `base + k`, counting through 1..=65535 (0 is skipped: no port, no identifier).
fn count_up(base: u16, k: u64) -> u16 {
    let span = u64::from(u16::MAX);
    (((u64::from(base.max(1)) - 1 + k) % span) + 1) as u16
}

impl Engine {
    fn step(&mut self, step: &Step) -> Result<StepOutcome, String> {
        let now = time(step.at);
        let (outcome, sent) = match &step.kind {
            StepKind::Reload(path) => (self.reload(path), Sent::Not("a reload".into())),
            StepKind::Packet(spec) if spec.packet.is_some() => {
                let from = spec.from.as_deref().unwrap_or_default();
                let port = port_of(&self.snap, &self.cfg, from).map_err(|e| from_msg(&e))?;
                let pkt = spec.packet.as_deref().unwrap_or_default();
                self.one(pkt, port, now)
            }
            StepKind::Packet(spec) => self.packets(spec, step.repeat, now)?,
            StepKind::Reply { to, spec } => {
                let (pkt, port) = self.reply(*to, spec)?;
                self.one(&pkt, port, now)
            }
        };
        self.sent.push(sent);
        let (checked, failures) = check(step.expect.as_ref(), &outcome, &self.snap);
        Ok(StepOutcome {
            index: step.index,
            at: step.at,
            outcome,
            checked,
            failures,
        })
    }

    fn one(&self, pkt: &[u8], port: PortIdx, now: Time) -> (Outcome, Sent) {
        let t = run_packet(&self.snap, &self.flows, pkt, port, now);
        let sent = sent_of(&t, &self.snap);
        (Outcome::Packet(t), sent)
    }

    /// A packet step, `repeat` times with the source port (ICMP: identifier) counting up.
    fn packets(
        &self,
        spec: &PacketSpec,
        repeat: u64,
        now: Time,
    ) -> Result<(Outcome, Sent), String> {
        let dst = spec.dst.ok_or("Dst: missing")?;
        let from = spec.from.as_deref().unwrap_or_default();
        let (port, src) =
            probe_source(&self.snap, &self.cfg, from, spec.src, dst).map_err(|e| from_msg(&e))?;
        let proto_s = spec.proto.as_deref().unwrap_or("tcp");
        let proto = parse_proto(proto_s, dst.is_ipv6())
            .ok_or_else(|| format!("Proto: {proto_s:?}: tcp, udp, icmp, icmpv6 or a number"))?;
        let echo = if proto == IpProtocol::Icmpv6 {
            icmp::v6::ECHO_REQUEST
        } else {
            icmp::v4::ECHO_REQUEST
        };
        let icmp = (spec.icmp_type.unwrap_or(echo), spec.icmp_code.unwrap_or(0));
        let mut opts = options(spec);
        let sport = spec.sport.unwrap_or(49152);
        let dport = spec.dport.unwrap_or(80);
        let build = |k: u64, opts: &mut BuildOptions| {
            opts.icmp_id = count_up(BuildOptions::default().icmp_id, k);
            wire::build_with(src, dst, proto, count_up(sport, k), dport, icmp, opts)
                .map_err(|e| e.to_string())
        };
        if repeat == 1 {
            opts.icmp_id = BuildOptions::default().icmp_id;
            let pkt = wire::build_with(src, dst, proto, sport, dport, icmp, &opts)
                .map_err(|e| e.to_string())?;
            return Ok(self.one(&pkt, port, now));
        }
        let mut summary: Vec<(Seen, u64)> = Vec::new();
        let mut buf = Vec::new();
        for k in 0..repeat - 1 {
            let pkt = build(k, &mut opts)?;
            buf.clear();
            buf.extend_from_slice(&pkt);
            buf.resize(pkt.len() + REPLY_ROOM, 0);
            let rx = Rx {
                ingress: port,
                now,
                csum: ChecksumMode::Full,
            };
            let v = pipeline::process(
                &self.snap,
                &self.flows,
                &mut buf,
                pkt.len(),
                rx,
                &mut NoTrace,
            );
            tally(&mut summary, Seen::of(&v, &self.snap));
        }
        let pkt = build(repeat - 1, &mut opts)?;
        let (outcome, sent) = self.one(&pkt, port, now);
        let Outcome::Packet(last) = outcome else {
            return Err("internal: a packet step without a trace".into());
        };
        tally(&mut summary, Seen::of(&last.verdict, &self.snap));
        let outcome = Outcome::Repeat {
            count: repeat,
            summary,
            last,
        };
        Ok((outcome, sent))
    }

    /// The far end's answer to step `to`: mirrored from what it received (or, with an ICMP
    /// error type, an ICMP error quoting it), entering where that packet left.
    fn reply(&self, to: usize, spec: &PacketSpec) -> Result<(Vec<u8>, PortIdx), String> {
        let (out, egress) = match self.sent.get(to - 1) {
            Some(Sent::Forwarded { out, egress }) => (out, *egress),
            Some(Sent::Not(why)) => {
                return Err(format!(
                    "ReplyTo: {to}: step {to} is {why}: nothing reached the far end to answer"
                ));
            }
            None => return Err(format!("ReplyTo: {to}: step {to} has not run")),
        };
        let m = wire::parse(out).map_err(|k| format!("ReplyTo: {to}: {}", k.code()))?;
        let v6 = m.src.is_ipv6();
        let is_error = |t: u8| {
            if v6 {
                icmp::v6::is_error(t)
            } else {
                icmp::v4::is_error(t)
            }
        };
        if let Some(t) = spec.icmp_type.filter(|t| is_error(*t)) {
            let mut buf = out.clone();
            buf.resize(out.len() + REPLY_ROOM, 0);
            let len =
                wire::emit::icmp_error(&mut buf, &m, m.dst, t, spec.icmp_code.unwrap_or(0))
                    .ok_or_else(|| format!("ReplyTo: {to}: no ICMP error can quote that packet"))?;
            buf.truncate(len);
            return Ok((buf, egress));
        }
        let mut opts = options(spec);
        opts.tcp_flags = spec.tcp_flags.unwrap_or_else(|| {
            use tcp::flags::{ACK, SYN};
            if m.tcp_flags & SYN != 0 && m.tcp_flags & ACK == 0 {
                SYN | ACK
            } else {
                ACK
            }
        });
        opts.icmp_id = m.icmp_id;
        let icmp = (
            spec.icmp_type.unwrap_or(icmp::reply_type(v6, m.icmp_type)),
            spec.icmp_code.unwrap_or(m.icmp_code),
        );
        let src: IpAddr = m.dst;
        let pkt = wire::build_with(src, m.src, m.proto, m.dport, m.sport, icmp, &opts)
            .map_err(|e| e.to_string())?;
        Ok((pkt, egress))
    }

    /// A hot reload: the new config compiled after the running snapshot, or nothing changes.
    fn reload(&mut self, path: &std::path::Path) -> Outcome {
        let file = path.display().to_string();
        let strings = |e: Vec<config::ConfigError>| -> Vec<String> {
            e.iter().map(|e| e.to_string()).collect()
        };
        let next = config::load_file(path).map_err(strings).and_then(|cfg| {
            snapshot::compile_after(&cfg, Some(&self.snap))
                .map(|s| (cfg, s))
                .map_err(strings)
        });
        match next {
            Ok((cfg, snap)) => {
                self.cfg = cfg;
                self.snap = snap;
                Outcome::Reload {
                    file,
                    errors: Vec::new(),
                }
            }
            Err(errors) => Outcome::Reload { file, errors },
        }
    }
}

fn from_msg(e: &str) -> String {
    e.replacen("--from", "From:", 1)
        .replacen("--src", "Src", 1)
        .replacen("--dst", "Dst", 1)
}

fn options(spec: &PacketSpec) -> BuildOptions {
    let d = BuildOptions::default();
    BuildOptions {
        ttl: spec.ttl.unwrap_or(d.ttl),
        tcp_flags: spec.tcp_flags.unwrap_or(d.tcp_flags),
        icmp_id: d.icmp_id,
        fragment: spec.fragment,
        payload: spec.payload.clone(),
        length: spec.length,
    }
}

fn sent_of(t: &Trace, snap: &Snapshot) -> Sent {
    match t.verdict {
        Verdict::Forward { egress, .. } => Sent::Forwarded {
            out: t.out.clone(),
            egress,
        },
        ref v => Sent::Not(format!("dropped ({})", Seen::of(v, snap).text())),
    }
}

fn tally(summary: &mut Vec<(Seen, u64)>, s: Seen) {
    match summary.iter_mut().find(|(x, _)| *x == s) {
        Some((_, n)) => *n += 1,
        None => summary.push((s, 1)),
    }
}

/// Checks one packet against `want`: what did not hold.
fn unmet(want: &ExpectOne, got: &Seen) -> Option<String> {
    let mut exp = Vec::new();
    let mut ok = true;
    let mut field = |name: &str, w: &Option<String>, g: Option<&str>| {
        if let Some(w) = w {
            exp.push(format!("{name}={w}"));
            ok &= Some(w.as_str()) == g;
        }
    };
    field("Verdict", &want.verdict, Some(got.verdict));
    field("Reason", &want.reason, got.reason.as_deref());
    field("Egress", &want.egress, got.egress.as_deref());
    (!ok).then(|| format!("expected {}, got {}", exp.join(" "), got.text()))
}

/// Whether the step is checked, and what failed.
fn check(expect: Option<&Expect>, o: &Outcome, snap: &Snapshot) -> (bool, Vec<String>) {
    let mut fails = Vec::new();
    match o {
        Outcome::Reload { errors, .. } => {
            let want_error = expect.and_then(|e| e.reload.as_deref()) == Some("error");
            if want_error && errors.is_empty() {
                fails.push("expected Reload=error, got the reload taken".into());
            } else if !want_error && !errors.is_empty() {
                fails.push(format!(
                    "expected the reload taken, got it rejected: {}",
                    errors.join("; ")
                ));
            }
            return (expect.is_some() || !errors.is_empty(), fails);
        }
        Outcome::Packet(t) => {
            if let Some(e) = expect {
                fails.extend(unmet(&e.one(), &Seen::of(&t.verdict, snap)));
            }
        }
        Outcome::Repeat { summary, last, .. } => {
            if let Some(e) = expect {
                for (label, want) in [("all", Some(e.one())), ("all", e.all.clone())] {
                    let Some(want) = want else { continue };
                    if let Some((seen, n)) = summary.iter().find(|(s, _)| unmet(&want, s).is_some())
                    {
                        let f = unmet(&want, seen).unwrap_or_default();
                        fails.push(format!("{label}: {f} ({n} packets)"));
                    }
                }
                if let Some(want) = &e.last {
                    fails.extend(
                        unmet(want, &Seen::of(&last.verdict, snap)).map(|f| format!("last: {f}")),
                    );
                }
            }
        }
    }
    (expect.is_some(), fails)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_count_up_through_1_to_65535_and_time_starts_at_the_epoch() {
        assert_eq!(count_up(49152, 0), 49152);
        assert_eq!(count_up(65535, 1), 1);
        assert_eq!(count_up(49152, 16384), 1);
        assert_eq!(count_up(0, 0), 1);
        assert_eq!(time(0.0), EPOCH);
        assert_eq!(time(0.5), EPOCH + Dur::from_nanos(500_000_000));
    }

    #[test]
    fn expectations_name_what_was_expected_and_what_came() {
        let got = Seen {
            verdict: "DROP",
            reason: Some("NACL_DENY".into()),
            egress: None,
        };
        let want = ExpectOne {
            verdict: Some("ACCEPT".into()),
            ..Default::default()
        };
        assert_eq!(
            unmet(&want, &got).as_deref(),
            Some("expected Verdict=ACCEPT, got DROP reason=NACL_DENY")
        );
        let want = ExpectOne {
            reason: Some("NACL_DENY".into()),
            ..Default::default()
        };
        assert_eq!(unmet(&want, &got), None);
    }
}
