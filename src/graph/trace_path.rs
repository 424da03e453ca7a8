//! The path of a traced packet over the topology: one hop per recorded stage that names an
//! object of the drawing (the stage's `stage` name and ids as `Trace::json()` gives them).

use super::{Graph, port_node};
use crate::trace::Trace;
use serde::Serialize;
use serde_json::Value;

/// One recorded stage, where it happened and how trace prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// `request` or `reply`.
    pub leg: &'static str,
    /// The stage's JSON object, as `trace --json` prints it.
    pub stage: Value,
    /// The stage's line as `trace` prints it.
    pub text: String,
    /// The drawn objects it happened at (empty for `packet`, TTL, reserved destination).
    pub nodes: Vec<String>,
    /// The number of the path edge that led here (None: same place as the hop before).
    pub edge: Option<usize>,
}

/// A numbered path edge.
#[derive(Debug, Clone, Serialize)]
pub struct PathEdge {
    pub n: usize,
    pub leg: &'static str,
    pub from: String,
    pub to: String,
    /// On the edge where the packet was dropped: the reason and the deciding stage's text.
    pub drop: Option<String>,
}

/// A trace laid over the topology.
#[derive(Debug, Clone, Serialize)]
pub struct Path {
    pub hops: Vec<Hop>,
    pub edges: Vec<PathEdge>,
    /// Each leg's `{verdict, reason, egress}`.
    pub verdicts: Vec<Value>,
}

impl Path {
    /// Every node the path visits, in order, without repeats.
    pub fn nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for h in &self.hops {
            for n in &h.nodes {
                if !v.contains(n) {
                    v.push(n.clone());
                }
            }
        }
        v
    }
}

/// The drawn objects a stage names.
pub fn stage_nodes(stage: &Value) -> Vec<String> {
    let s = |k: &str| stage[k].as_str().map(str::to_string);
    let name = stage["stage"].as_str().unwrap_or("");
    let v: Vec<Option<String>> = match name {
        "ingress" | "egress" => vec![s("port").map(|p| port_node(&p))],
        "src_dst_check" | "security_group" | "flow" | "flow_new" | "flow_untracked" => {
            vec![s("eni")]
        }
        "route" => vec![s("route_table")],
        "network_acl" => vec![s("nacl")],
        "nat_gateway" => vec![s("nat_gateway")],
        "gateway_endpoint" => vec![s("endpoint")],
        "interface_endpoint" => vec![s("eni"), s("endpoint")],
        "translate" => vec![s("id")],
        _ => vec![],
    };
    v.into_iter().flatten().collect()
}

/// Lays a trace (with `--reply`: its request first) over the graph.
pub fn path(g: &Graph, t: &Trace) -> Path {
    let mut legs: Vec<(&'static str, &Trace)> = Vec::new();
    if let Some(r) = &t.request {
        legs.push(("request", r));
        legs.push(("reply", t));
    } else {
        legs.push(("request", t));
    }
    let mut p = Path {
        hops: Vec::new(),
        edges: Vec::new(),
        verdicts: Vec::new(),
    };
    for (leg, tr) in legs {
        let j = tr.json();
        p.verdicts.push(serde_json::json!({
            "leg": leg, "verdict": j["verdict"], "reason": j["reason"], "egress": j["egress"],
        }));
        let mut at: Option<String> = None;
        for (i, stage) in tr.stages.iter().enumerate() {
            let nodes: Vec<String> = stage_nodes(stage)
                .into_iter()
                .filter(|n| g.node(n).is_some())
                .collect();
            let mut edge = None;
            // A new flow is recorded once the packet is decided: it lights the ENI, the packet
            // does not go back there.
            let bookkeeping =
                matches!(stage["stage"].as_str(), Some("flow_new" | "flow_untracked"));
            for n in nodes.iter().filter(|_| !bookkeeping) {
                if let Some(prev) = &at
                    && prev != n
                {
                    p.edges.push(PathEdge {
                        n: p.edges.len() + 1,
                        leg,
                        from: prev.clone(),
                        to: n.clone(),
                        drop: None,
                    });
                    edge = Some(p.edges.len());
                }
                at = Some(n.clone());
            }
            p.hops.push(Hop {
                leg,
                stage: stage.clone(),
                text: tr.lines.get(i).cloned().unwrap_or_default(),
                nodes,
                edge,
            });
        }
        if j["verdict"] == "DROP" {
            // The deciding stage is the last one that names an object.
            let reason = j["reason"].as_str().unwrap_or("?");
            let decided = p
                .hops
                .iter()
                .rev()
                .find(|h| h.leg == leg && !h.nodes.is_empty())
                .map(|h| strip_column(&h.text))
                .unwrap_or_default();
            let text = format!("DROP {reason}: {decided}");
            match p.edges.iter_mut().rev().find(|e| e.leg == leg) {
                Some(e) => e.drop = Some(text),
                None => {
                    // Dropped where it entered: a loop on that node carries the reason.
                    if let Some(n) = at.clone() {
                        p.edges.push(PathEdge {
                            n: p.edges.len() + 1,
                            leg,
                            from: n.clone(),
                            to: n,
                            drop: Some(text),
                        });
                    }
                }
            }
        }
    }
    p
}

/// `nacl       acl-private (…)` → `acl-private (…)`.
fn strip_column(line: &str) -> String {
    match line.split_once(' ') {
        Some((_, rest)) => rest.trim_start().to_string(),
        None => line.to_string(),
    }
}
