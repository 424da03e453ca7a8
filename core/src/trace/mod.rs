//! `vpcfwd trace`: builds a synthetic packet (or takes a raw one) and runs the very same
//! pipeline code on it, recording every stage, then says why the packet went where it went (or
//! was dropped) and what left: the forwarded packet, or the reply generated instead.
//! [`replay`] does it for every packet of a capture, [`scenario`] for a scenario file.

mod render;
pub mod replay;
pub mod scenario;

use crate::config;
use crate::flow::{FlowTable, Time};
use crate::pipeline::{self, Recorder, ReplyKind, Rx, Verdict};
use crate::snapshot::{PortIdx, PortKind, Snapshot};
use crate::wire::{self, BuildOptions, ChecksumMode, IpProtocol};
use serde_json::{Value, json};
use std::net::IpAddr;

pub use render::{describe, describe_json};

/// The result of a trace: verdict plus rendered stages.
#[derive(Debug, Clone)]
pub struct Trace {
    pub verdict: Verdict,
    /// One human line per stage.
    pub lines: Vec<String>,
    /// One JSON object per stage.
    pub stages: Vec<Value>,
    pub egress: Option<String>,
    /// With `--reply`: the trace of the packet this one answers.
    pub request: Option<Box<Trace>>,
    /// The bytes that leave: the forwarded packet as it goes out of `egress`, or the generated
    /// reply (RST, ICMP error); empty for a silent drop.
    pub out: Vec<u8>,
    /// The packet as it arrived (absent when it could not be parsed).
    pub input: Option<wire::PacketMeta>,
}

impl Trace {
    /// The text form: one line per stage, then the verdict line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(r) = &self.request {
            s.push_str(&r.text());
            s.push_str("-- reply --\n");
        }
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&self.verdict_line());
        s.push('\n');
        s
    }

    /// `verdict: ACCEPT egress=<port>` or `verdict: DROP reason=<CODE>`.
    pub fn verdict_line(&self) -> String {
        match self.verdict {
            Verdict::Forward { .. } => {
                format!(
                    "verdict: ACCEPT egress={}",
                    self.egress.as_deref().unwrap_or("-")
                )
            }
            Verdict::Drop(r) => format!("verdict: DROP reason={r}"),
            Verdict::Answer { .. } => format!(
                "verdict: ANSWER by=resolver egress={}",
                self.egress.as_deref().unwrap_or("-")
            ),
            Verdict::Reply { reason, kind, .. } => format!(
                "verdict: DROP reason={reason} ({} sent to {})",
                match kind {
                    ReplyKind::IcmpError => "router mode: ICMP error",
                    ReplyKind::TcpRst => "TCP RST",
                    ReplyKind::Dns => "DNS answer",
                },
                self.egress.as_deref().unwrap_or("-")
            ),
        }
    }

    /// The JSON form.
    pub fn json(&self) -> Value {
        let (verdict, reason) = match self.verdict {
            Verdict::Forward { .. } => ("ACCEPT", Value::Null),
            Verdict::Answer { .. } => ("ANSWER", Value::Null),
            Verdict::Drop(r) | Verdict::Reply { reason: r, .. } => ("DROP", json!(r.to_string())),
        };
        let egress = match self.verdict {
            Verdict::Forward { .. } => json!(self.egress),
            _ => Value::Null,
        };
        let mut v =
            json!({"verdict": verdict, "reason": reason, "egress": egress, "stages": self.stages});
        if let Some(r) = &self.request {
            v["request"] = r.json();
        }
        v
    }

    /// What leaves, decoded: `leaves     port P: …` for a forwarded packet, `reply      TCP
    /// RST out of port P: …` for a generated one; with `hex`, its bytes on the next line.
    pub fn leaving_lines(&self, hex: bool) -> Vec<String> {
        let Ok(m) = wire::parse(&self.out) else {
            return Vec::new();
        };
        let port = self.egress.as_deref().unwrap_or("-");
        let mut v = vec![match self.verdict {
            Verdict::Reply { kind, .. } => {
                format!(
                    "reply      {} out of port {port}: {}",
                    kind_name(kind),
                    describe(&m)
                )
            }
            _ => format!("leaves     port {port}: {}", describe(&m)),
        }];
        if hex {
            v.push(format!("hex        {}", wire::synth::to_hex(&self.out)));
        }
        v
    }

    /// The text form with what leaves ([`Trace::leaving_lines`]) before the verdict line.
    pub fn text_full(&self, hex: bool) -> String {
        let mut s = String::new();
        if let Some(r) = &self.request {
            s.push_str(&r.text_full(hex));
            s.push_str("-- reply --\n");
        }
        // The arriving packet with every field (`text` keeps the line it always had).
        let first = self.input.map(|m| format!("packet     {}", describe(&m)));
        let rest = self.lines.iter().skip(usize::from(first.is_some()));
        for l in first.iter().chain(rest).chain(&self.leaving_lines(hex)) {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&self.verdict_line());
        s.push('\n');
        s
    }

    /// The JSON form plus `packet` (the arriving packet, every field), and `leaves`
    /// (forwarded) or `reply` (generated: `kind`, `port`, the packet), each with `hex` when
    /// asked.
    pub fn json_full(&self, hex: bool) -> Value {
        let mut v = self.json();
        if let Some(r) = &self.request {
            v["request"] = r.json_full(hex);
        }
        if let Some(m) = &self.input {
            v["packet"] = describe_json(m);
        }
        if let Ok(m) = wire::parse(&self.out) {
            let mut p = describe_json(&m);
            if hex {
                p["hex"] = json!(wire::synth::to_hex(&self.out));
            }
            match self.verdict {
                Verdict::Reply { kind, .. } => {
                    v["reply"] = json!({"kind": kind_name(kind), "port": self.egress, "packet": p});
                }
                _ => v["leaves"] = json!({"port": self.egress, "packet": p}),
            }
        }
        v
    }
}

/// `TCP RST`, `ICMP error` or `DNS answer`.
fn kind_name(k: ReplyKind) -> &'static str {
    match k {
        ReplyKind::TcpRst => "TCP RST",
        ReplyKind::IcmpError => "ICMP error",
        ReplyKind::Dns => "DNS answer",
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct Probe {
    pub from: String,
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub proto: IpProtocol,
    pub sport: u16,
    pub dport: u16,
    pub icmp: (u8, u8),
    /// Also trace the answer (see `TraceArgs::reply`).
    pub reply: bool,
}

/// Resolves `--from` to a port and a default source address.
fn ingress(
    snap: &Snapshot,
    cfg: &config::Config,
    from: &str,
    v6: bool,
) -> Result<(PortIdx, Option<IpAddr>), String> {
    for (i, p) in snap.ports.iter().enumerate() {
        let eni_id = match p.kind {
            PortKind::Eni(e) => Some(snap.enis[e].id.as_str()),
            _ => None,
        };
        if p.id == from || eni_id == Some(from) {
            let src = match p.kind {
                PortKind::Eni(e) => snap.enis[e]
                    .addrs
                    .iter()
                    .copied()
                    .find(|a| a.is_ipv6() == v6),
                _ => cfg.ports[i]
                    .addresses
                    .iter()
                    .map(|a| a.addr())
                    .find(|a| a.is_ipv6() == v6),
            };
            return Ok((PortIdx(i as u16), src));
        }
    }
    Err(format!(
        "--from {from}: no port and no ENI with a port has that id"
    ))
}

/// Runs a probe through the pipeline of a compiled config.
pub fn trace(snap: &Snapshot, cfg: &config::Config, probe: &Probe) -> Result<Trace, String> {
    trace_with(snap, cfg, probe, &BuildOptions::default())
}

/// The source address of a probe: `src`, or the default of `from` for the family of `dst`.
pub fn probe_source(
    snap: &Snapshot,
    cfg: &config::Config,
    from: &str,
    src: Option<IpAddr>,
    dst: IpAddr,
) -> Result<(PortIdx, IpAddr), String> {
    let (port, default_src) = ingress(snap, cfg, from, dst.is_ipv6())?;
    let src = src
        .or(default_src)
        .ok_or_else(|| format!("--from {from}: no default source address; give --src"))?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("--src and --dst must be of one address family".into());
    }
    Ok((port, src))
}

/// [`trace`] with TTL, TCP flags, fragment, payload and length from `opts`.
pub fn trace_with(
    snap: &Snapshot,
    cfg: &config::Config,
    probe: &Probe,
    opts: &BuildOptions,
) -> Result<Trace, String> {
    let (port, src) = probe_source(snap, cfg, &probe.from, probe.src, probe.dst)?;
    let pkt = wire::build_with(
        src,
        probe.dst,
        probe.proto,
        probe.sport,
        probe.dport,
        probe.icmp,
        opts,
    )
    .map_err(|e| e.to_string())?;
    let flows = FlowTable::new(1024);
    let first = run_packet(snap, &flows, &pkt, port, Time::from_secs(1));
    if !probe.reply {
        return Ok(first);
    }
    let Verdict::Forward { egress, .. } = first.verdict else {
        return Err(format!(
            "--reply: the packet was not forwarded ({}), so nothing answers it",
            first.verdict_line()
        ));
    };
    let mut buf = first.out.clone();
    let meta = wire::parse(&buf).map_err(|k| format!("forwarded packet: {}", k.code()))?;
    wire::rewrite::make_reply(&mut buf, &meta);
    let mut reply = run_packet(snap, &flows, &buf, egress, Time::from_secs(2));
    reply.request = Some(Box::new(first));
    Ok(reply)
}

/// Finds the port `from` names (a port id, or the id of an ENI with a port).
pub fn port_of(snap: &Snapshot, cfg: &config::Config, from: &str) -> Result<PortIdx, String> {
    ingress(snap, cfg, from, false).map(|(p, _)| p)
}

/// Room after a packet for a generated reply (an ICMPv6 error quotes up to 1280 bytes).
const REPLY_ROOM: usize = 1280;

/// Runs the IP packet `pkt` arriving on `port` at `now` through the pipeline on `flows`.
pub fn run_packet(
    snap: &Snapshot,
    flows: &FlowTable,
    pkt: &[u8],
    port: PortIdx,
    now: Time,
) -> Trace {
    let mut buf = pkt.to_vec();
    buf.resize(pkt.len() + REPLY_ROOM, 0);
    run_one(snap, flows, &mut buf, pkt.len(), port, now)
}

/// Runs one packet, `buf[..len]`, from `port` and renders what happened.
fn run_one(
    snap: &Snapshot,
    flows: &FlowTable,
    buf: &mut [u8],
    len: usize,
    port: PortIdx,
    now: Time,
) -> Trace {
    let mut rec = Recorder::default();
    let rx = Rx {
        ingress: port,
        now,
        csum: ChecksumMode::Full,
    };
    let verdict = pipeline::process(snap, flows, buf, len, rx, &mut rec);
    let egress = match verdict {
        Verdict::Forward { egress, .. }
        | Verdict::Reply { egress, .. }
        | Verdict::Answer { egress, .. } => snap.ports.get(egress).map(|p| p.id.clone()),
        Verdict::Drop(_) => None,
    };
    let (lines, stages) = rec.0.iter().map(|s| render::render(snap, s)).unzip();
    let input = rec.0.iter().find_map(|s| match s {
        pipeline::Stage::Parsed(m) => Some(*m),
        _ => None,
    });
    let out = match verdict {
        Verdict::Forward { len, .. } | Verdict::Reply { len, .. } | Verdict::Answer { len, .. } => {
            buf.get(..len).unwrap_or_default().to_vec()
        }
        Verdict::Drop(_) => Vec::new(),
    };
    Trace {
        verdict,
        lines,
        stages,
        egress,
        request: None,
        out,
        input,
    }
}

/// Parses `--proto`: a name or number; `icmp` towards an IPv6 destination means ICMPv6.
pub fn parse_proto(p: &str, v6: bool) -> Option<IpProtocol> {
    match IpProtocol::from_name(p)? {
        IpProtocol::Icmp if v6 => Some(IpProtocol::Icmpv6),
        p => Some(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::DropReason;

    fn with(verdict: Verdict) -> Trace {
        Trace {
            verdict,
            lines: Vec::new(),
            stages: Vec::new(),
            egress: Some("app".into()),
            request: None,
            out: Vec::new(),
            input: None,
        }
    }

    #[test]
    fn a_reply_is_labelled_by_what_was_sent() {
        let reply = |reason, kind| Verdict::Reply {
            egress: PortIdx(0),
            len: 40,
            reason,
            kind,
        };
        assert_eq!(
            with(reply(DropReason::NatIdleTimeout, ReplyKind::TcpRst)).verdict_line(),
            "verdict: DROP reason=NAT_IDLE_TIMEOUT (TCP RST sent to app)"
        );
        assert_eq!(
            with(reply(DropReason::TtlExceeded, ReplyKind::IcmpError)).verdict_line(),
            "verdict: DROP reason=TTL_EXCEEDED (router mode: ICMP error sent to app)"
        );
    }
}
