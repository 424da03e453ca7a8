//! `vpcfwd diff`: what changes in reachability between two matrices, cell by cell (keyed by
//! source port, destination name and address, service), and why.

use super::{Cell, Leg, Matrix};
use std::collections::BTreeMap;

/// One connection whose outcome changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Source port id.
    pub from: String,
    /// Destination name and address.
    pub to: String,
    pub address: String,
    pub service: String,
    /// `ACCEPT`, `DROP CODE`, `DROP reply CODE`, or `absent`.
    pub old: String,
    pub new: String,
    /// It worked before and does not now.
    pub broken: bool,
    /// The line `diff` prints.
    pub line: String,
}

type Key = (String, String, String, String);

/// The traced cells of a matrix by key, and the keys in matrix order.
fn cells(m: &Matrix) -> (BTreeMap<Key, (&Cell, String)>, Vec<Key>) {
    let map: BTreeMap<Key, (&Cell, String)> = m
        .live()
        .map(|c| {
            let s = &m.sources[c.from];
            // An ENI source is named by its ENI (what AWS calls it), others by their port.
            let shown = if s.kind == "eni" {
                s.aliases.first().unwrap_or(&s.id).clone()
            } else {
                s.id.clone()
            };
            let d = &m.dests[c.to];
            (
                (
                    s.id.clone(),
                    d.name.clone(),
                    d.address.to_string(),
                    m.services[c.service].to_string(),
                ),
                (c, shown),
            )
        })
        .collect();
    let mut order: Vec<(&Cell, &Key)> = map.iter().map(|(k, v)| (v.0, k)).collect();
    order.sort_by_key(|(c, _)| (c.from, c.to, c.service));
    let keys = order.into_iter().map(|(_, k)| k.clone()).collect();
    (map, keys)
}

/// `ACCEPT`, `DROP CODE` or `DROP reply CODE`.
fn state(c: Option<&Cell>) -> String {
    let Some(c) = c else {
        return "absent".into();
    };
    match c.failure() {
        None if c.works() => "ACCEPT".into(),
        None => "DROP".into(),
        Some((l, false)) => format!("DROP {}", l.reason.as_deref().unwrap_or("?")),
        Some((l, true)) => format!("DROP reply {}", l.reason.as_deref().unwrap_or("?")),
    }
}

/// The object ids a `by` or path entry names (`sg-a+sg-b egress` → sg-a, sg-b).
fn objects(s: &str) -> Vec<&str> {
    s.split_whitespace()
        .next()
        .map(|w| w.split('+').collect())
        .unwrap_or_default()
}

fn leg_of(c: &Cell, reply: bool) -> Option<&Leg> {
    if reply {
        c.reply.as_ref()
    } else {
        c.request.as_ref()
    }
}

/// Why a cell changed: what decides now, and what of the old path it replaced.
fn why(old: Option<&Cell>, new: Option<&Cell>) -> String {
    match (old, new) {
        (_, None) => "no longer in the config".into(),
        (None, Some(_)) => "new in the config".into(),
        (Some(o), Some(n)) => match n.failure() {
            Some((l, reply)) => {
                let by = l.by.clone().unwrap_or_default();
                let ids = objects(&by);
                let was: Vec<&String> = leg_of(o, reply)
                    .filter(|ol| ol.accepted())
                    .map(|ol| {
                        ol.path
                            .iter()
                            .filter(|p| objects(p).iter().any(|x| ids.contains(x)))
                            .collect()
                    })
                    .unwrap_or_default();
                match was.as_slice() {
                    [] => by,
                    w => format!(
                        "{by}; was allowed by {}",
                        w.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
            None => {
                let old_path: Vec<&String> = [false, true]
                    .into_iter()
                    .filter_map(|r| leg_of(o, r))
                    .flat_map(|l| l.path.iter())
                    .collect();
                let now: Vec<&str> = [false, true]
                    .into_iter()
                    .filter_map(|r| leg_of(n, r))
                    .flat_map(|l| l.path.iter())
                    .filter(|p| !old_path.contains(p))
                    .map(String::as_str)
                    .collect();
                if now.is_empty() {
                    "now passes".into()
                } else {
                    format!("now allowed by {}", now.join(", "))
                }
            }
        },
    }
}

/// Every changed connection: in the old matrix's order (sources, destinations, services),
/// then those only the new one has.
pub fn diff(old: &Matrix, new: &Matrix) -> Vec<Change> {
    let ((a, ka), (b, kb)) = (cells(old), cells(new));
    // The old matrix's order, then what only the new one has.
    let keys: Vec<&Key> = ka
        .iter()
        .chain(kb.iter().filter(|k| !a.contains_key(*k)))
        .collect();
    let mut out = Vec::new();
    for k in keys {
        let (o, n) = (a.get(k), b.get(k));
        let (oc, nc) = (o.map(|x| x.0), n.map(|x| x.0));
        let (os, ns) = (state(oc), state(nc));
        // A change of what decides a drop with the same outcome is no change of reachability.
        if os == ns {
            continue;
        }
        let shown = o.or(n).map(|x| x.1.clone()).unwrap_or_default();
        let (_, name, addr, svc) = k;
        let target = match svc.strip_prefix("tcp/") {
            Some(p) => format!("{addr}:{p}"),
            None => format!("{addr} {svc}"),
        };
        let broken = oc.is_some_and(Cell::works) && !nc.is_some_and(Cell::works);
        let line = format!("{shown} → {target} ({name}): {os} → {ns} ({})", why(oc, nc));
        out.push(Change {
            from: k.0.clone(),
            to: name.clone(),
            address: addr.clone(),
            service: svc.clone(),
            old: os,
            new: ns,
            broken,
            line,
        });
    }
    out
}
