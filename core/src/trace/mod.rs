//! `vpcfwd trace`: builds a synthetic packet and runs the very same pipeline code on it,
//! recording every stage, then says why the packet went where it went (or was dropped).

use crate::config;
use crate::flow::Dir;
use crate::flow::{FlowTable, Time};
use crate::pipeline::{self, Recorder, ReplyKind, Rx, Stage, Verdict, Xlat};
use crate::snapshot::{self, EniIdx, PortIdx, PortKind, Snapshot, kind_name};
use crate::wire::{self, ChecksumMode, Field, IpProtocol};
use serde_json::{Value, json};
use std::net::IpAddr;

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
    let (port, default_src) = ingress(snap, cfg, &probe.from, probe.dst.is_ipv6())?;
    let src = probe.src.or(default_src).ok_or_else(|| {
        format!(
            "--from {}: no default source address; give --src",
            probe.from
        )
    })?;
    if src.is_ipv4() != probe.dst.is_ipv4() {
        return Err("--src and --dst must be of one address family".into());
    }
    let pkt = wire::build(
        src,
        probe.dst,
        probe.proto,
        probe.sport,
        probe.dport,
        probe.icmp,
        64,
    );
    let mut buf = pkt.clone();
    buf.resize(pkt.len() + 128, 0);
    let flows = FlowTable::new(1024);
    let first = run_one(snap, &flows, &mut buf, pkt.len(), port, Time::from_secs(1));
    if !probe.reply {
        return Ok(first);
    }
    let Verdict::Forward { egress, len } = first.verdict else {
        return Err(format!(
            "--reply: the packet was not forwarded ({}), so nothing answers it",
            first.verdict_line()
        ));
    };
    let meta = wire::parse(&buf[..len]).map_err(|k| format!("forwarded packet: {}", k.code()))?;
    wire::rewrite::make_reply(&mut buf, &meta);
    let mut reply = run_one(snap, &flows, &mut buf, len, egress, Time::from_secs(2));
    reply.request = Some(Box::new(first));
    Ok(reply)
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
    let (lines, stages) = rec.0.iter().map(|s| render(snap, s)).unzip();
    Trace {
        verdict,
        lines,
        stages,
        egress,
        request: None,
    }
}

/// One stage as a text line and a JSON object.
fn render(snap: &Snapshot, s: &Stage) -> (String, Value) {
    let eni = |e: EniIdx| snap.enis[e].id.clone();
    let port = |p: PortIdx| snap.ports[p].id.clone();
    match *s {
        Stage::Parsed(m) => {
            let l4 = if m.has_ports() {
                format!(" sport={} dport={}", m.sport, m.dport)
            } else if m.proto.is_icmp() {
                format!(" type={} code={}", m.icmp_type, m.icmp_code)
            } else {
                String::new()
            };
            (
                format!(
                    "packet     {} -> {} {}{} ttl={} len={}",
                    m.src, m.dst, m.proto, l4, m.ttl, m.len
                ),
                json!({"stage": "packet", "src": m.src.to_string(), "dst": m.dst.to_string(), "protocol": m.proto.number(),
                       "sport": m.sport, "dport": m.dport, "icmp_type": m.icmp_type, "icmp_code": m.icmp_code, "ttl": m.ttl, "length": m.len}),
            )
        }
        Stage::Ingress(p) => (
            format!("ingress    port {}", port(p)),
            json!({"stage": "ingress", "port": port(p)}),
        ),
        Stage::SrcDstCheck {
            eni: e,
            outbound,
            ok,
        } => {
            let what = if outbound { "source" } else { "destination" };
            (
                format!(
                    "src/dst    {}: {what} address {}",
                    eni(e),
                    if ok {
                        "is the ENI's own"
                    } else {
                        "is not the ENI's (source/destination check on)"
                    }
                ),
                json!({"stage": "src_dst_check", "eni": eni(e), "direction": if outbound {"outbound"} else {"inbound"}, "ok": ok}),
            )
        }
        Stage::Reserved => (
            "reserved   destination in 169.254.168.0/22 or fd00:ec2::/32: never forwarded".into(),
            json!({"stage": "reserved_destination"}),
        ),
        Stage::Sg {
            eni: e,
            egress,
            hit,
        } => {
            let dir = if egress { "egress" } else { "ingress" };
            let groups: Vec<String> = snap.enis[e]
                .sgs
                .iter()
                .map(|g| snap.sgs[*g].id.clone())
                .collect();
            match hit {
                Some(h) => {
                    let sg = &snap.sgs[h.sg];
                    let rules = if egress { &sg.egress } else { &sg.ingress };
                    let r = rules.iter().find(|r| r.index == h.rule);
                    let desc = r
                        .map(|r| {
                            let proto = r.proto.map_or("all".to_string(), |p| p.to_string());
                            let ports = match r.l4 {
                                crate::policy::L4Match::Any => String::new(),
                                crate::policy::L4Match::Ports(a, b) if a == b => {
                                    format!(" port {a}")
                                }
                                crate::policy::L4Match::Ports(a, b) => format!(" ports {a}-{b}"),
                                crate::policy::L4Match::Icmp(t, c) => format!(
                                    " type {} code {}",
                                    t.map_or("-1".into(), |t| t.to_string()),
                                    c.map_or("-1".into(), |c| c.to_string())
                                ),
                            };
                            format!(
                                "{proto}{ports} {} {}",
                                if egress { "to" } else { "from" },
                                r.peer
                            )
                        })
                        .unwrap_or_default();
                    (
                        format!(
                            "sg         {} {dir}: allowed by {} rule #{} ({desc})",
                            eni(e),
                            sg.id,
                            h.rule
                        ),
                        json!({"stage": "security_group", "eni": eni(e), "direction": dir, "allowed": true, "group": sg.id, "rule": h.rule, "rule_text": desc}),
                    )
                }
                None => (
                    format!(
                        "sg         {} {dir}: no rule of [{}] allows it",
                        eni(e),
                        groups.join(", ")
                    ),
                    json!({"stage": "security_group", "eni": eni(e), "direction": dir, "allowed": false, "groups": groups}),
                ),
            }
        }
        Stage::Route { table, route } => {
            let rt = &snap.route_tables[table];
            match route {
                Some(r) => {
                    let r = &rt.routes[r as usize];
                    let why = match &r.source {
                        snapshot::RouteSource::PrefixList { pl, .. } => {
                            format!("{} {pl} entry {}", kind_name(&r.source), r.dest)
                        }
                        s => kind_name(s).to_string(),
                    };
                    let target = match (&r.target_id, r.target) {
                        (Some(id), snapshot::Target::Blackhole) => format!("{id} (blackhole)"),
                        _ => r.target_name().to_string(),
                    };
                    let mut line = format!(
                        "route      {}: {} -> {target} (longest prefix /{}, {why})",
                        rt.id,
                        r.dest,
                        r.dest.prefix_len()
                    );
                    if let Some(w) = r.won_over_text() {
                        line.push_str(&format!("; {w}"));
                    }
                    (
                        line,
                        json!({"stage": "route", "route_table": rt.id, "destination": r.dest.to_string(), "prefix_length": r.dest.prefix_len(),
                               "kind": kind_name(&r.source), "prefix_list": match &r.source { snapshot::RouteSource::PrefixList{pl, ..} => json!(pl), _ => Value::Null },
                               "target": r.target_name(), "blackhole": r.target == snapshot::Target::Blackhole, "won_over": r.won_over_text()}),
                    )
                }
                None => (
                    format!("route      {}: no route covers the destination", rt.id),
                    json!({"stage": "route", "route_table": rt.id, "destination": Value::Null}),
                ),
            }
        }
        Stage::Nacl {
            nacl,
            subnet,
            outbound,
            rule,
            allow,
            ..
        } => {
            let id = &snap.nacls[nacl].id;
            let sub = &snap.subnets[subnet].id;
            let dir = if outbound { "outbound" } else { "inbound" };
            let rule_s = if rule == crate::policy::NACL_STAR {
                "*".to_string()
            } else {
                rule.to_string()
            };
            (
                format!(
                    "nacl       {id} ({sub}) {dir}: rule {rule_s} {}",
                    if allow { "allow" } else { "deny" }
                ),
                json!({"stage": "network_acl", "nacl": id, "subnet": sub, "direction": dir, "rule": rule_s, "action": if allow {"allow"} else {"deny"}}),
            )
        }
        Stage::SameSubnet { subnet } => {
            let sub = &snap.subnets[subnet].id;
            (
                format!("nacl       not applied: both ENIs are in {sub}"),
                json!({"stage": "network_acl", "subnet": sub, "skipped": "same subnet"}),
            )
        }
        Stage::Resolver { eni: x } => (
            format!(
                "resolver   {}: to the Amazon-provided DNS resolver (no SG, no NACL, not logged)",
                eni(x)
            ),
            json!({"stage": "resolver", "eni": eni(x)}),
        ),
        Stage::Unsolicited { eni: x } => (
            format!(
                "service    answers no flow of {}: a service never initiates into the VPC",
                eni(x)
            ),
            json!({"stage": "service", "eni": eni(x), "solicited": false}),
        ),
        Stage::Hairpin { eni: x } => (
            format!("igw        hairpin: back in to {}'s public address", eni(x)),
            json!({"stage": "internet_gateway", "hairpin": eni(x)}),
        ),
        Stage::NatGateway { nat } => {
            let n = &snap.nat_gateways[nat];
            (
                format!(
                    "nat        through {} in {}",
                    n.id, snap.subnets[n.subnet].id
                ),
                json!({"stage": "nat_gateway", "nat_gateway": n.id}),
            )
        }
        Stage::GatewayEndpoint { endpoint } => {
            let e = &snap.endpoints[endpoint];
            (
                format!(
                    "endpoint   gateway endpoint {} ({}): no security group, no translation",
                    e.id, e.service
                ),
                json!({"stage": "gateway_endpoint", "endpoint": e.id, "service": e.service}),
            )
        }
        Stage::InterfaceEndpoint { endpoint, eni: x } => {
            let e = &snap.endpoints[endpoint];
            (
                format!(
                    "endpoint   interface endpoint {} ({}) via {}",
                    e.id,
                    e.service,
                    eni(x)
                ),
                json!({"stage": "interface_endpoint", "endpoint": e.id, "service": e.service, "eni": eni(x)}),
            )
        }
        Stage::Translate {
            by,
            field,
            from,
            to,
        } => {
            let f = match field {
                Field::Src => "source",
                Field::Dst => "destination",
            };
            let (who, tag, id) = match by {
                Xlat::InternetGateway => (
                    "igw       ",
                    "internet_gateway",
                    snap.igw_id.clone().unwrap_or_default(),
                ),
                Xlat::NatGateway(n) => {
                    ("nat       ", "nat_gateway", snap.nat_gateways[n].id.clone())
                }
                Xlat::PrivateLink(e) => {
                    ("privatelink", "privatelink", snap.endpoints[e].id.clone())
                }
            };
            let show = |(a, p): (IpAddr, u16)| match by {
                Xlat::InternetGateway => a.to_string(),
                _ => format!("{a}:{p}"),
            };
            (
                format!("{who} {id}: {f} {} -> {}", show(from), show(to)),
                json!({"stage": "translate", "by": tag, "id": id, "field": f,
                       "from": show(from), "to": show(to)}),
            )
        }
        Stage::TranslateQuoted { by, from, to } => {
            let id = match by {
                Xlat::NatGateway(n) => snap.nat_gateways[n].id.clone(),
                Xlat::PrivateLink(e) => snap.endpoints[e].id.clone(),
                Xlat::InternetGateway => snap.igw_id.clone().unwrap_or_default(),
            };
            (
                format!(
                    "nat        {id}: quoted source {}:{} -> {}:{} (ICMP error translated back)",
                    from.0, from.1, to.0, to.1
                ),
                json!({"stage": "translate", "by": "nat_gateway", "id": id, "field": "quoted_source",
                       "from": format!("{}:{}", from.0, from.1), "to": format!("{}:{}", to.0, to.1)}),
            )
        }
        Stage::Flow {
            eni: e,
            egress,
            dir,
            state,
        } => {
            let d = match dir {
                Dir::Original => "original direction",
                Dir::Reply => "reply",
            };
            let dir_s = if egress { "egress" } else { "ingress" };
            (
                format!(
                    "flow       {} {dir_s}: {d} of a tracked flow ({state}): security groups not consulted",
                    eni(e)
                ),
                json!({"stage": "flow", "eni": eni(e), "direction": dir_s, "flow_direction": d, "state": state.to_string()}),
            )
        }
        Stage::FlowNew { eni: e, state } => (
            format!(
                "flow       {}: new tracked flow ({state}); its replies will pass",
                eni(e)
            ),
            json!({"stage": "flow_new", "eni": eni(e), "state": state.to_string()}),
        ),
        Stage::FlowUntracked { eni: e } => (
            format!(
                "flow       {}: untracked (0.0.0.0/0 rules both ways): replies are judged by rules",
                eni(e)
            ),
            json!({"stage": "flow_untracked", "eni": eni(e)}),
        ),
        Stage::TtlDecremented => (
            "ttl        decremented (router mode)".into(),
            json!({"stage": "ttl_decrement"}),
        ),
        Stage::Deliver(p) => (
            format!("egress     port {}", port(p)),
            json!({"stage": "egress", "port": port(p)}),
        ),
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
