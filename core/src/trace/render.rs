//! One pipeline stage as a text line and a JSON object, and a packet as one line.

use crate::flow::Dir;
use crate::pipeline::{Stage, Xlat};
use crate::snapshot::{self, EniIdx, PortIdx, Snapshot, kind_name};
use crate::wire::{Field, PacketMeta, tcp};
use serde_json::{Value, json};
use std::net::IpAddr;

/// One stage as a text line and a JSON object.
pub(super) fn render(snap: &Snapshot, s: &Stage) -> (String, Value) {
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
        Stage::NatRefused {
            nat,
            to,
            no_port,
            bound,
        } => {
            let n = &snap.nat_gateways[nat];
            let text = if no_port {
                format!(
                    "nat        {}: no free source port towards {} port {} on any of its addresses (55000 per address per destination)",
                    n.id, to.0, to.1
                )
            } else {
                format!(
                    "nat        {}: translation table full ({bound} translations, the NAT share of the flow-table bound); no translation is evicted",
                    n.id
                )
            };
            let why = if no_port {
                "no_free_port"
            } else {
                "table_full"
            };
            (
                text,
                json!({"stage": "nat_refused", "nat_gateway": n.id, "destination": to.0.to_string(), "destination_port": to.1,
                       "cause": why, "bound": if no_port { Value::Null } else { json!(bound) }}),
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
        Stage::FlowUntracked { eni: e, v6 } => (
            format!(
                "flow       {}: untracked ({} rules both ways): replies are judged by rules",
                eni(e),
                if v6 { "::/0" } else { "0.0.0.0/0" }
            ),
            json!({"stage": "flow_untracked", "eni": eni(e)}),
        ),
        Stage::EgressOnly { reply } => {
            let id = snap.eigw_id.as_deref().unwrap_or("-");
            (
                if reply {
                    format!("eigw       {id}: reply of a connection opened from inside")
                } else {
                    format!("eigw       {id}: out, connection recorded (IPv6, untranslated)")
                },
                json!({"stage": "egress_only_internet_gateway", "gateway": id, "reply": reply}),
            )
        }
        Stage::EgressOnlyRefused => {
            let id = snap.eigw_id.as_deref().unwrap_or("-");
            (
                format!("eigw       {id}: a connection from the internet, not a reply: refused"),
                json!({"stage": "egress_only_internet_gateway", "gateway": id, "refused": true}),
            )
        }
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

/// ` fragment` markers of a packet (nothing for a whole one).
fn fragment(m: &PacketMeta) -> String {
    match (m.fragment, m.later_fragment) {
        (false, _) => String::new(),
        (true, false) => " fragment=first".into(),
        (true, true) => " fragment=later".into(),
    }
}

/// A packet in one line, every field: `src -> dst proto sport=… dport=… flags=… ttl=… len=…`.
pub fn describe(m: &PacketMeta) -> String {
    let mut s = format!("{} -> {} {}", m.src, m.dst, m.proto);
    if m.has_ports() {
        s += &format!(" sport={} dport={}", m.sport, m.dport);
    } else if m.proto.is_icmp() && !m.later_fragment {
        s += &format!(" type={} code={}", m.icmp_type, m.icmp_code);
        if m.icmp_id != 0 {
            s += &format!(" id={}", m.icmp_id);
        }
    }
    if m.proto == crate::wire::IpProtocol::Tcp && !m.later_fragment {
        s += &format!(" flags={}", tcp::flags::name(m.tcp_flags));
    }
    s += &fragment(m);
    s + &format!(" ttl={} len={}", m.ttl, m.len)
}

/// A packet as a JSON object (the `packet` stage's fields, plus flags and fragment).
pub fn describe_json(m: &PacketMeta) -> Value {
    json!({"src": m.src.to_string(), "dst": m.dst.to_string(), "protocol": m.proto.number(),
           "sport": m.sport, "dport": m.dport, "icmp_type": m.icmp_type, "icmp_code": m.icmp_code,
           "icmp_id": m.icmp_id, "tcp_flags": tcp::flags::name(m.tcp_flags), "fragment": m.fragment,
           "later_fragment": m.later_fragment, "ttl": m.ttl, "length": m.len})
}
