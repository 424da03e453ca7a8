//! The matrix as text (a table per service: rows sources, columns destinations), JSON, CSV
//! and Markdown.

use super::{Cell, Leg, Matrix};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write;

const LEGEND: &str = "✓ the packet and its reply pass    ✓(p) they pass, delivered to port p (the destination has another, or none)\nCODE the packet is dropped        ↩CODE the packet passes, its reply is dropped        · the source itself";

impl Matrix {
    /// (connections, working): skipped cells are not connections.
    pub fn counts(&self) -> (usize, usize) {
        let live = self.cells.iter().filter(|c| c.skipped.is_none());
        let n = live.clone().count();
        (n, live.filter(|c| c.works()).count())
    }

    fn summary(&self, name: &str) -> String {
        let (n, ok) = self.counts();
        format!(
            "reach {name}: {} source{}, {} destination{}, {} service{}: {ok} of {n} connections work (the packet and its reply)",
            self.sources.len(),
            plural(self.sources.len()),
            self.dests.len(),
            plural(self.dests.len()),
            self.services.len(),
            plural(self.services.len()),
        )
    }

    /// The text form: the destinations, then one table per service, each with what decided
    /// its drops.
    pub fn text(&self, name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.summary(name));
        let key = |i: usize| format!("d{}", i + 1);
        let w_name = self.dests.iter().map(|d| d.name.len()).max().unwrap_or(0);
        let w_addr = self
            .dests
            .iter()
            .map(|d| d.address.to_string().len())
            .max()
            .unwrap_or(0);
        out.push_str("destinations\n");
        for (i, d) in self.dests.iter().enumerate() {
            let port = d
                .port
                .as_ref()
                .map(|p| format!("  port {p}"))
                .unwrap_or_default();
            let line = format!(
                "  {:<4} {:<w_name$}  {:<w_addr$}  {:<12}{port}",
                key(i),
                d.name,
                d.address.to_string(),
                d.kind
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let w_src = self
            .sources
            .iter()
            .map(|s| s.id.len())
            .chain(self.services.iter().map(|s| s.to_string().len()))
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..self.dests.len())
            .map(|t| {
                let mut w = key(t).len();
                for f in 0..self.sources.len() {
                    for v in 0..self.services.len() {
                        w = w.max(
                            self.cell(f, t, v)
                                .short_code(&self.dests[t])
                                .chars()
                                .count(),
                        );
                    }
                }
                w
            })
            .collect();
        let mut codes = std::collections::BTreeSet::new();
        for (v, svc) in self.services.iter().enumerate() {
            let mut head = format!("\n{:<w_src$}", svc.to_string());
            for (t, w) in widths.iter().enumerate() {
                let _ = write!(head, "  {:<w$}", key(t));
            }
            let _ = writeln!(out, "{}", head.trim_end());
            let mut why: BTreeMap<(String, String), usize> = BTreeMap::new();
            let mut used = std::collections::BTreeSet::new();
            for (f, src) in self.sources.iter().enumerate() {
                let mut row = format!("{:<w_src$}", src.id);
                for (t, w) in widths.iter().enumerate() {
                    let c = self.cell(f, t, v);
                    let _ = write!(row, "  {:<w$}", c.short_code(&self.dests[t]));
                    if let Some((leg, reply)) = c.failure() {
                        let code = leg.reason.clone().unwrap_or_default();
                        used.insert(code.clone());
                        let code = if reply { format!("↩{code}") } else { code };
                        *why.entry((code, leg.by.clone().unwrap_or_default()))
                            .or_default() += 1;
                    }
                }
                let _ = writeln!(out, "{}", row.trim_end());
            }
            let mut why: Vec<_> = why.into_iter().collect();
            why.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for ((code, by), n) in why {
                let _ = writeln!(out, "  {n:>3} × {code}: {by}");
            }
            codes.extend(used);
        }
        let _ = writeln!(out, "\n{LEGEND}");
        let short: Vec<String> = codes
            .iter()
            .filter(|c| super::short(c) != c.as_str())
            .map(|c| format!("{} {c}", super::short(c)))
            .collect();
        if !short.is_empty() {
            let _ = writeln!(out, "codes: {}", short.join(", "));
        }
        out
    }

    /// The JSON form: sources, destinations, services, a summary and every connection.
    pub fn json(&self, name: &str) -> Value {
        let (n, ok) = self.counts();
        let sources: Vec<Value> = self
            .sources
            .iter()
            .map(|s| json!({"id": s.id, "kind": s.kind, "aliases": s.aliases, "addresses": s.addresses.iter().map(ToString::to_string).collect::<Vec<_>>()}))
            .collect();
        let dests: Vec<Value> = self
            .dests
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"key": format!("d{}", i + 1), "name": d.name, "address": d.address.to_string(), "kind": d.kind, "port": d.port}))
            .collect();
        let conns: Vec<Value> = self
            .live()
            .map(|c| {
                json!({
                    "from": self.sources[c.from].id,
                    "to": self.dests[c.to].name,
                    "address": self.dests[c.to].address.to_string(),
                    "service": self.services[c.service].to_string(),
                    "works": c.works(),
                    "code": c.code(&self.dests[c.to]),
                    "request": c.request.as_ref().map(leg_json),
                    "reply": c.reply.as_ref().map(leg_json),
                })
            })
            .collect();
        json!({
            "config": name,
            "summary": {"sources": self.sources.len(), "destinations": self.dests.len(), "services": self.services.len(), "connections": n, "working": ok},
            "services": self.services.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "sources": sources,
            "destinations": dests,
            "connections": conns,
        })
    }

    /// The traced cells, in order.
    pub fn live(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().filter(|c| c.skipped.is_none())
    }

    /// The CSV form: one connection a line.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "from,to,address,service,works,verdict,reason,by,egress,reply_verdict,reply_reason,reply_by\n",
        );
        for c in self.live() {
            let r = c.request.as_ref();
            let p = c.reply.as_ref();
            let f = |x: Option<&str>| csv_field(x.unwrap_or(""));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&self.sources[c.from].id),
                csv_field(&self.dests[c.to].name),
                self.dests[c.to].address,
                self.services[c.service],
                c.works(),
                f(r.map(|l| l.verdict.as_str())),
                f(r.and_then(|l| l.reason.as_deref())),
                f(r.and_then(|l| l.by.as_deref())),
                f(r.and_then(|l| l.egress.as_deref())),
                f(p.map(|l| l.verdict.as_str())),
                f(p.and_then(|l| l.reason.as_deref())),
                f(p.and_then(|l| l.by.as_deref())),
            );
        }
        out
    }

    /// The Markdown form: a table per service.
    pub fn markdown(&self, name: &str) -> String {
        let mut out = format!("{}\n", self.summary(name));
        for (v, svc) in self.services.iter().enumerate() {
            let _ = write!(out, "\n### {svc}\n\n| from |");
            for d in &self.dests {
                let _ = write!(out, " {} `{}` |", d.name, d.address);
            }
            out.push_str("\n|---|");
            for _ in &self.dests {
                out.push_str("---|");
            }
            out.push('\n');
            for (f, s) in self.sources.iter().enumerate() {
                let _ = write!(out, "| {} |", s.id);
                for (t, d) in self.dests.iter().enumerate() {
                    let c = self.cell(f, t, v);
                    let code = c.code(d);
                    match c.failure().and_then(|(l, _)| l.by.as_deref()) {
                        Some(by) if !by.is_empty() => {
                            let _ = write!(out, " {code} <sub>{by}</sub> |");
                        }
                        _ => {
                            let _ = write!(out, " {code} |");
                        }
                    }
                }
                out.push('\n');
            }
        }
        let _ = writeln!(out, "\n{LEGEND}");
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn leg_json(l: &Leg) -> Value {
    json!({"verdict": l.verdict, "reason": l.reason, "by": l.by, "egress": l.egress, "path": l.path})
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
