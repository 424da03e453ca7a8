//! Mermaid, Graphviz DOT and SVG (DOT laid out by Graphviz's `dot`) of a [`Graph`], with an
//! optional [`Path`] drawn on top: numbered edges, the deciding rule on the edge of a drop.

use super::{Graph, Kind, Path};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Request edges, reply edges, and the colour of a drop.
const REQUEST: &str = "#e6550d";
const REPLY: &str = "#3182bd";
const DROP: &str = "#d62728";

/// An id usable in SVG/HTML and Mermaid: `n_` + the id with every non-alphanumeric as `_`.
pub fn html_id(id: &str) -> String {
    let mut s = String::from("n_");
    s.extend(
        id.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    s
}

fn cluster_html_id(id: &str) -> String {
    format!("c{}", &html_id(id)[1..])
}

fn fill(kind: Kind) -> &'static str {
    match kind {
        Kind::Subnet => "#f0f0f0",
        Kind::RouteTable => "#fff5d6",
        Kind::NetworkAcl => "#fde0dd",
        Kind::Eni => "#e0ecf8",
        Kind::EndpointEni => "#e5f5e0",
        Kind::NatGateway => "#efe3f7",
        Kind::GatewayEndpoint | Kind::InterfaceEndpoint => "#d9f0d3",
        Kind::InternetGateway => "#dcdcdc",
        Kind::Port => "#ffffff",
    }
}

fn children(g: &Graph, parent: Option<usize>) -> Vec<usize> {
    (0..g.clusters.len())
        .filter(|&i| g.clusters[i].parent == parent)
        .collect()
}

fn path_edge_label(e: &super::trace_path::PathEdge) -> String {
    match &e.drop {
        Some(d) => format!("{}: {d}", e.n),
        None => e.n.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// DOT

fn dot_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_label(kind: Kind, lines: &[String]) -> String {
    let lines: Vec<String> = lines.iter().map(|l| dot_str(l)).collect();
    if kind == Kind::RouteTable {
        // Left-justified: a route per line reads like a table.
        let mut s = lines.join("\\l");
        s.push_str("\\l");
        s
    } else {
        lines.join("\\n")
    }
}

/// Graphviz DOT. Node, cluster and path-edge ids (`n_…`, `c_…`, `p<N>`) carry into the SVG.
pub fn dot(g: &Graph, path: Option<&Path>) -> String {
    dot_with(g, path, true)
}

/// DOT with the path's edges; `light_nodes`: also outline the nodes it visits (the web page
/// lights them itself, stage by stage).
pub fn dot_with(g: &Graph, path: Option<&Path>, light_nodes: bool) -> String {
    let lit: Vec<String> = path
        .filter(|_| light_nodes)
        .map(|p| p.nodes())
        .unwrap_or_default();
    let mut s = String::new();
    s.push_str("digraph vpcfwd {\n");
    s.push_str("  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep=0.25, ranksep=0.7, newrank=true];\n");
    s.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, color=\"#666666\"];\n");
    s.push_str(
        "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#888888\", fontcolor=\"#555555\"];\n",
    );
    fn cluster(s: &mut String, g: &Graph, i: usize, depth: usize, lit: &[String]) {
        let c = &g.clusters[i];
        let pad = "  ".repeat(depth);
        let _ = writeln!(
            s,
            "{pad}subgraph \"cluster_{}\" {{\n{pad}  id=\"{}\"; label=\"{}\"; style=\"rounded\"; color=\"#999999\"; labeljust=l;",
            dot_str(&c.id),
            cluster_html_id(&c.id),
            dot_str(&c.label)
        );
        for n in g.nodes.iter().filter(|n| n.cluster == Some(i)) {
            node(s, n, depth + 1, lit);
        }
        for ch in children(g, Some(i)) {
            cluster(s, g, ch, depth + 1, lit);
        }
        let _ = writeln!(s, "{pad}}}");
    }
    fn node(s: &mut String, n: &super::Node, depth: usize, lit: &[String]) {
        let shape = match n.kind {
            Kind::Port => ", shape=cds",
            Kind::InternetGateway => ", shape=hexagon",
            Kind::NatGateway => ", shape=octagon",
            Kind::Subnet => ", shape=note",
            _ => "",
        };
        let hot = if lit.contains(&n.id) {
            format!(", penwidth=2.5, color=\"{REQUEST}\"")
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{}\"{}\" [id=\"{}\", class=\"k-{}\", label=\"{}\", fillcolor=\"{}\"{shape}{hot}];",
            "  ".repeat(depth),
            dot_str(&n.id),
            html_id(&n.id),
            n.kind.name(),
            dot_label(n.kind, &n.label),
            fill(n.kind)
        );
    }
    for i in children(g, None) {
        cluster(&mut s, g, i, 1, &lit);
    }
    for n in g.nodes.iter().filter(|n| n.cluster.is_none()) {
        node(&mut s, n, 1, &lit);
    }
    for e in &g.edges {
        let mut attrs = Vec::new();
        if let Some(l) = &e.label {
            attrs.push(format!("label=\"{}\"", dot_str(l)));
        }
        if e.association {
            attrs.push("style=dashed, arrowhead=none".into());
        }
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\" [{}];",
            dot_str(&e.from),
            dot_str(&e.to),
            attrs.join(", ")
        );
    }
    if let Some(p) = path {
        for e in &p.edges {
            let colour = if e.leg == "reply" { REPLY } else { REQUEST };
            let font = if e.drop.is_some() { DROP } else { colour };
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [id=\"p{}\", class=\"path {}{}\", label=\"{}\", color=\"{colour}\", fontcolor=\"{font}\", penwidth=2.5, fontsize=11, constraint=false];",
                dot_str(&e.from),
                dot_str(&e.to),
                e.n,
                e.leg,
                if e.drop.is_some() { " drop" } else { "" },
                dot_str(&path_edge_label(e))
            );
        }
    }
    s.push_str("}\n");
    s
}

// ---------------------------------------------------------------------------------------------
// Mermaid

fn mm_str(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// A Mermaid flowchart (pastes into GitHub/GitLab Markdown as a ```mermaid block).
pub fn mermaid(g: &Graph, path: Option<&Path>) -> String {
    let mut s = String::from("flowchart LR\n");
    fn node(s: &mut String, n: &super::Node, depth: usize) {
        let label = n
            .label
            .iter()
            .map(|l| mm_str(l))
            .collect::<Vec<_>>()
            .join("<br/>");
        let (open, close) = match n.kind {
            Kind::Port => ("([", "])"),
            Kind::InternetGateway => ("{{", "}}"),
            Kind::NatGateway => ("[/", "/]"),
            Kind::GatewayEndpoint | Kind::InterfaceEndpoint => ("[[", "]]"),
            Kind::Eni | Kind::EndpointEni => ("(", ")"),
            _ => ("[", "]"),
        };
        let _ = writeln!(
            s,
            "{}{}{open}\"{label}\"{close}",
            "  ".repeat(depth),
            html_id(&n.id)
        );
    }
    fn cluster(s: &mut String, g: &Graph, i: usize, depth: usize) {
        let c = &g.clusters[i];
        let pad = "  ".repeat(depth);
        let _ = writeln!(
            s,
            "{pad}subgraph {}[\"{}\"]",
            cluster_html_id(&c.id),
            mm_str(&c.label)
        );
        for n in g.nodes.iter().filter(|n| n.cluster == Some(i)) {
            node(s, n, depth + 1);
        }
        for ch in children(g, Some(i)) {
            cluster(s, g, ch, depth + 1);
        }
        let _ = writeln!(s, "{pad}end");
    }
    for i in children(g, None) {
        cluster(&mut s, g, i, 1);
    }
    for n in g.nodes.iter().filter(|n| n.cluster.is_none()) {
        node(&mut s, n, 1);
    }
    for e in &g.edges {
        let arrow = if e.association { "-.-" } else { "-->" };
        match &e.label {
            Some(l) => {
                let _ = writeln!(
                    s,
                    "  {} {arrow}|\"{}\"| {}",
                    html_id(&e.from),
                    mm_str(l),
                    html_id(&e.to)
                );
            }
            None => {
                let _ = writeln!(s, "  {} {arrow} {}", html_id(&e.from), html_id(&e.to));
            }
        }
    }
    let mut styles = String::new();
    if let Some(p) = path {
        for (k, e) in p.edges.iter().enumerate() {
            let _ = writeln!(
                s,
                "  {} ==>|\"{}\"| {}",
                html_id(&e.from),
                mm_str(&path_edge_label(e)),
                html_id(&e.to)
            );
            let colour = if e.drop.is_some() {
                DROP
            } else if e.leg == "reply" {
                REPLY
            } else {
                REQUEST
            };
            let _ = writeln!(
                styles,
                "  linkStyle {} stroke:{colour},stroke-width:3px,color:{colour}",
                g.edges.len() + k
            );
        }
    }
    s.push_str(&styles);
    let mut kinds: Vec<Kind> = g.nodes.iter().map(|n| n.kind).collect();
    kinds.dedup();
    let mut seen = Vec::new();
    for k in kinds {
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        let members: Vec<String> = g
            .nodes
            .iter()
            .filter(|n| n.kind == k)
            .map(|n| html_id(&n.id))
            .collect();
        let cls = k.name().replace('-', "_");
        let _ = writeln!(s, "  classDef {cls} fill:{},stroke:#666", fill(k));
        let _ = writeln!(s, "  class {} {cls}", members.join(","));
    }
    if let Some(p) = path {
        let lit: Vec<String> = p.nodes().iter().map(|n| html_id(n)).collect();
        if !lit.is_empty() {
            let _ = writeln!(s, "  classDef lit stroke:{REQUEST},stroke-width:3px");
            let _ = writeln!(s, "  class {} lit", lit.join(","));
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// SVG

/// Graphviz's `dot` is not on this machine.
#[derive(Debug, thiserror::Error)]
pub enum DotMissing {
    #[error(
        "--format svg needs Graphviz's `dot` ({0}); install it (Debian: apt-get install graphviz), or use --format mermaid|dot"
    )]
    NotInstalled(String),
    #[error("dot -Tsvg failed: {0}")]
    Failed(String),
}

/// SVG: the DOT laid out by Graphviz's `dot -Tsvg` (layout is Graphviz's, not ours).
pub fn svg(dot_text: &str) -> Result<String, DotMissing> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DotMissing::NotInstalled(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_text.as_bytes())
            .map_err(|e| DotMissing::Failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DotMissing::Failed(e.to_string()))?;
    if !out.status.success() {
        return Err(DotMissing::Failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| DotMissing::Failed(e.to_string()))
}
