//! The scenario file: YAML read with the config loader's reader (serde-saphyr, unknown keys
//! refused), then checked step by step. Every error is `file:line:column: step N: message`.

use super::MAX_REPEAT;
use crate::pipeline::DropReason;
use crate::wire::{Fragment, tcp};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawScenario {
    config: String,
    steps: Vec<Spanned<RawStep>>,
}

/// The steps only, each with its place: to name the step an error is in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Places {
    #[serde(default)]
    steps: Vec<Spanned<serde::de::IgnoredAny>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawStep {
    at: f64,
    from: Option<String>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    proto: Option<String>,
    sport: Option<u16>,
    dport: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    ttl: Option<u8>,
    tcp_flags: Option<String>,
    fragment: Option<FragmentSpec>,
    length: Option<usize>,
    payload_hex: Option<String>,
    packet_hex: Option<String>,
    reply_to: Option<usize>,
    reload: Option<String>,
    repeat: Option<u64>,
    expect: Option<Expect>,
}

/// `Fragment: {MoreFragments: true, Offset: 0}` (offset in bytes, a multiple of 8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct FragmentSpec {
    #[serde(default)]
    pub more_fragments: bool,
    #[serde(default)]
    pub offset: usize,
}

/// What one packet must meet; unset fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ExpectOne {
    /// `ACCEPT` or `DROP`.
    pub verdict: Option<String>,
    /// A drop reason code (`NAT_IDLE_TIMEOUT`, `MALFORMED(BAD_CHECKSUM)`, …).
    pub reason: Option<String>,
    /// The port the packet (or the generated reply) leaves by.
    pub egress: Option<String>,
}

/// A step's expectations. On a `Repeat` step the bare fields apply to every packet (as
/// `All`); `Last` to the last one. On a `Reload` step, `Reload: ok` or `error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Expect {
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub egress: Option<String>,
    pub all: Option<ExpectOne>,
    pub last: Option<ExpectOne>,
    pub reload: Option<String>,
}

impl Expect {
    /// The bare fields (`Verdict`, `Reason`, `Egress`).
    pub fn one(&self) -> ExpectOne {
        ExpectOne {
            verdict: self.verdict.clone(),
            reason: self.reason.clone(),
            egress: self.egress.clone(),
        }
    }
}

/// A packet to send: the fields of `vpcfwd trace` (for a reply: the fields that override the
/// mirrored packet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketSpec {
    pub from: Option<String>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub proto: Option<String>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub ttl: Option<u8>,
    pub tcp_flags: Option<u8>,
    pub fragment: Option<Fragment>,
    pub length: Option<usize>,
    pub payload: Option<Vec<u8>>,
    /// A whole IP packet (`PacketHex`): sent as is from `from`.
    pub packet: Option<Vec<u8>>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Packet(PacketSpec),
    /// The far end's answer to step `to` (1-based), as it received it.
    Reply {
        to: usize,
        spec: PacketSpec,
    },
    /// Swap in this config as a hot reload does.
    Reload(PathBuf),
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based.
    pub index: usize,
    pub line: u64,
    pub column: u64,
    /// Seconds of simulated time since the start.
    pub at: f64,
    pub kind: StepKind,
    /// Packets sent (1 without `Repeat`).
    pub repeat: u64,
    pub expect: Option<Expect>,
}

/// A checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub file: String,
    /// The config, resolved against the scenario's directory.
    pub config: PathBuf,
    pub steps: Vec<Step>,
}

/// Parses and checks a scenario; `file` names it in errors, `base` is the directory its
/// `Config` and `Reload` paths are relative to.
pub fn parse_str(text: &str, file: &str, base: &Path) -> Result<Scenario, Vec<String>> {
    let raw: RawScenario =
        serde_saphyr::from_str_with_options(text, crate::config::load::yaml_options()).map_err(
            |e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                let step = step_at(text, line)
                    .map(|n| format!("step {n}: "))
                    .unwrap_or_default();
                let msg = e.to_string();
                let msg = msg.lines().next().unwrap_or("invalid YAML").trim();
                let msg = msg.strip_prefix("error: ").unwrap_or(msg);
                let msg = match msg.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
                    Some((_, m)) => m,
                    None => msg,
                };
                vec![format!("{file}:{line}:{column}: {step}{msg}")]
            },
        )?;
    let mut errors = Vec::new();
    let mut steps = Vec::new();
    let mut last_at = 0.0f64;
    for (i, s) in raw.steps.into_iter().enumerate() {
        let index = i + 1;
        let (line, column) = (s.defined.line(), s.defined.column());
        let mut err = |m: String| errors.push(format!("{file}:{line}:{column}: step {index}: {m}"));
        let r = s.value;
        if !r.at.is_finite() || r.at < 0.0 {
            err(format!("At: {}: a time in seconds, 0 or more", r.at));
        } else if r.at < last_at {
            err(format!(
                "At: {}: before the previous step's {last_at}: time only goes forward",
                r.at
            ));
        } else {
            last_at = r.at;
        }
        match step_kind(&r, index, base) {
            Ok(kind) => {
                let repeat = r.repeat.unwrap_or(1);
                if repeat == 0 || repeat > MAX_REPEAT {
                    err(format!("Repeat: {repeat}: between 1 and {MAX_REPEAT}"));
                } else if repeat > 1
                    && !matches!(kind, StepKind::Packet(ref p) if p.packet.is_none())
                {
                    err("Repeat: only a packet step built from fields can repeat".into());
                }
                if let Some(e) = &r.expect {
                    for m in check_expect(e, &kind, repeat) {
                        err(m);
                    }
                }
                steps.push(Step {
                    index,
                    line,
                    column,
                    at: r.at,
                    kind,
                    repeat,
                    expect: r.expect,
                });
            }
            Err(m) => err(m),
        }
    }
    if steps.is_empty() && errors.is_empty() {
        errors.push(format!(
            "{file}:1:1: Steps: a scenario has at least one step"
        ));
    }
    if errors.is_empty() {
        Ok(Scenario {
            file: file.to_string(),
            config: base.join(&raw.config),
            steps,
        })
    } else {
        Err(errors)
    }
}

/// The step (1-based) whose text holds `line`.
fn step_at(text: &str, line: u64) -> Option<usize> {
    let p: Places = serde_saphyr::from_str(text).ok()?;
    p.steps
        .iter()
        .rposition(|s| s.defined.line() <= line)
        .map(|i| i + 1)
}

fn step_kind(r: &RawStep, index: usize, base: &Path) -> Result<StepKind, String> {
    let has_packet_fields = r.from.is_some()
        || r.src.is_some()
        || r.dst.is_some()
        || r.sport.is_some()
        || r.dport.is_some()
        || r.packet_hex.is_some();
    if let Some(file) = &r.reload {
        if has_packet_fields || r.reply_to.is_some() || r.repeat.is_some() || r.proto.is_some() {
            return Err("Reload: a reload step has no packet fields".into());
        }
        return Ok(StepKind::Reload(base.join(file)));
    }
    let tcp_flags = match &r.tcp_flags {
        Some(f) => Some(tcp::flags::parse(f).ok_or_else(|| {
            format!("TcpFlags: {f:?}: letters of S, A, F, R, P, U, E, C (e.g. S, SA, FA)")
        })?),
        None => None,
    };
    let hex = |field: &str, v: &Option<String>| -> Result<Option<Vec<u8>>, String> {
        match v {
            Some(h) => crate::wire::synth::parse_hex(h)
                .map(Some)
                .ok_or_else(|| format!("{field}: not an even number of hex digits")),
            None => Ok(None),
        }
    };
    let spec = PacketSpec {
        from: r.from.clone(),
        src: r.src,
        dst: r.dst,
        proto: r.proto.clone(),
        sport: r.sport,
        dport: r.dport,
        icmp_type: r.icmp_type,
        icmp_code: r.icmp_code,
        ttl: r.ttl,
        tcp_flags,
        fragment: r.fragment.map(|f| Fragment {
            more: f.more_fragments,
            offset: f.offset,
        }),
        length: r.length,
        payload: hex("PayloadHex", &r.payload_hex)?,
        packet: hex("PacketHex", &r.packet_hex)?,
    };
    if let Some(to) = r.reply_to {
        if to == 0 || to >= index {
            return Err(format!(
                "ReplyTo: {to}: a step answers an earlier step (1 to {})",
                index - 1
            ));
        }
        if has_packet_fields {
            return Err("ReplyTo: a reply goes back the way step's packet came: no From, Src, Dst, Sport, Dport or PacketHex".into());
        }
        if let Some(p) = &r.proto
            && (r.icmp_type.is_none() || !p.starts_with("icmp"))
        {
            return Err(format!(
                "Proto: {p}: a reply keeps the protocol of what it answers; an ICMP error says Proto: icmp and IcmpType"
            ));
        }
        return Ok(StepKind::Reply { to, spec });
    }
    if spec.from.is_none() {
        return Err("From: a packet step says where the packet enters (a port or an ENI id); or use ReplyTo or Reload".into());
    }
    if spec.packet.is_some() {
        if spec.dst.is_some() || spec.proto.is_some() || spec.payload.is_some() {
            return Err("PacketHex: a raw packet takes only From (and Expect)".into());
        }
    } else if spec.dst.is_none() {
        return Err("Dst: a packet step needs a destination (or PacketHex)".into());
    }
    Ok(StepKind::Packet(spec))
}

/// Problems with an `Expect` (unknown verdicts and reasons, misplaced fields).
fn check_expect(e: &Expect, kind: &StepKind, repeat: u64) -> Vec<String> {
    let mut out = Vec::new();
    let reload = matches!(kind, StepKind::Reload(_));
    if reload {
        if e.one() != ExpectOne::default() || e.all.is_some() || e.last.is_some() {
            out.push("Expect: a reload step expects only Reload: ok or error".into());
        }
        if let Some(r) = &e.reload
            && r != "ok"
            && r != "error"
        {
            out.push(format!("Expect: Reload: {r:?}: ok or error"));
        }
        return out;
    }
    if e.reload.is_some() {
        out.push("Expect: Reload: only on a reload step".into());
    }
    if repeat == 1 && (e.all.is_some() || e.last.is_some()) {
        out.push("Expect: All and Last are for a step with Repeat".into());
    }
    let bare = e.one();
    for one in [Some(&bare), e.all.as_ref(), e.last.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Some(v) = &one.verdict
            && v != "ACCEPT"
            && v != "DROP"
        {
            out.push(format!("Expect: Verdict: {v:?}: ACCEPT or DROP"));
        }
        if let Some(r) = &one.reason
            && !DropReason::ALL.iter().any(|d| d.to_string() == *r)
        {
            out.push(format!(
                "Expect: Reason: {r:?}: not a drop reason (see the README's table)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Scenario, Vec<String>> {
        parse_str(s, "s.yaml", Path::new("dir"))
    }

    #[test]
    fn steps_and_errors_name_the_step() {
        let ok = parse(
            "Config: lab.yaml\nSteps:\n  - {At: 0, From: app, Dst: 203.0.113.100, TcpFlags: S}\n  - {At: 1, ReplyTo: 1, TcpFlags: SA}\n  - {At: 2, Reload: b.yaml, Expect: {Reload: ok}}\n",
        )
        .unwrap();
        assert_eq!(ok.config, Path::new("dir/lab.yaml"));
        assert_eq!(ok.steps.len(), 3);
        assert!(matches!(ok.steps[1].kind, StepKind::Reply { to: 1, .. }));
        let e = parse("Config: a\nSteps:\n  - {At: 0, From: app, Dst: 10.0.0.1}\n  - {At: 1, From: app, Dst: 10.0.0.1, Bogus: 1}\n").unwrap_err();
        assert!(
            e[0].starts_with("s.yaml:4:") && e[0].contains("step 2") && e[0].contains("Bogus"),
            "{e:?}"
        );
        let e = parse(
            "Config: a\nSteps:\n  - {At: 5, From: app, Dst: 10.0.0.1}\n  - {At: 1, ReplyTo: 2}\n",
        )
        .unwrap_err();
        assert!(
            e.iter()
                .any(|m| m.contains("step 2") && m.contains("time only goes forward")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("step 2") && m.contains("ReplyTo: 2")),
            "{e:?}"
        );
        let e =
            parse("Config: a\nSteps:\n  - {At: 0, From: app, Dst: 10.0.0.1, Repeat: 10000001}\n")
                .unwrap_err();
        assert!(e[0].contains("step 1: Repeat: 10000001"), "{e:?}");
        for bad in ["", "Steps: 3", "Config: [", "Config: a\nSteps: [{At: x}]"] {
            assert!(parse(bad).is_err());
        }
    }
}
