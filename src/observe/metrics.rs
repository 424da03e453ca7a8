//! Scrape-time aggregation: the workers' [`Block`]s summed per label set, pushed into the
//! `metrics` facade's Prometheus recorder, rendered as text for `/metrics`.

use super::{Block, Layout, PORT_CELLS};
use crate::pipeline::DropReason;
use crate::policy::NACL_STAR;
use crate::snapshot::{NaclIdx, Snapshot};
use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// A series: metric name and labels.
pub type Series = (&'static str, Vec<(&'static str, String)>);

/// Metric names and their help text.
pub const HELP: &[(&str, &str)] = &[
    (
        "vpcfwd_port_packets_total",
        "Packets per port and direction (rx: read from the port's TUN device, tx: written to it); a TSO super-packet counts once",
    ),
    ("vpcfwd_port_bytes_total", "IP bytes per port and direction"),
    (
        "vpcfwd_port_tx_errors_total",
        "Writes to a port's device that failed",
    ),
    (
        "vpcfwd_drops_total",
        "Packets dropped, by reason (the trace vocabulary)",
    ),
    (
        "vpcfwd_route_hits_total",
        "Packets per winning route (route table, destination, target)",
    ),
    (
        "vpcfwd_route_table_drops_total",
        "Packets dropped by a route table (NO_ROUTE, BLACKHOLE_ROUTE)",
    ),
    (
        "vpcfwd_nacl_rule_hits_total",
        "Packets per network ACL rule that decided them",
    ),
    (
        "vpcfwd_nacl_drops_total",
        "Packets dropped per network ACL deny rule",
    ),
    (
        "vpcfwd_sg_drops_total",
        "Packets no security-group rule of the ENI allowed",
    ),
    ("vpcfwd_flows", "Security-group flows in the table"),
    ("vpcfwd_flow_inserts_total", "Flows recorded"),
    (
        "vpcfwd_flow_expiries_total",
        "Flows removed after their idle timeout",
    ),
    (
        "vpcfwd_flow_refusals_total",
        "New flows refused because a table was full (FLOW_TABLE_FULL), by table (sg: security-group flows, nat: NAT gateway translations, privatelink: interface endpoint translations); live flows are never evicted. A NAT gateway without a free port is vpcfwd_nat_port_allocation_errors_total",
    ),
    (
        "vpcfwd_flow_flushes_total",
        "Flows removed by an admin flush",
    ),
    ("vpcfwd_nat_bindings", "NAT gateway translations in use"),
    (
        "vpcfwd_nat_ports_in_use",
        "NAT gateway source ports in use per destination (limit 55000)",
    ),
    (
        "vpcfwd_nat_port_allocation_errors_total",
        "NAT gateway ErrorPortAllocation: no free source port for a destination",
    ),
    (
        "vpcfwd_nat_idle_timeouts_total",
        "TCP packets of a NAT translation that idled out (answered with a RST)",
    ),
    (
        "vpcfwd_privatelink_bindings",
        "Interface endpoint translations in use",
    ),
    ("vpcfwd_reloads_total", "Config reloads, by result"),
    (
        "vpcfwd_last_reload_success",
        "1 if the last reload was applied, 0 if it was refused (the old config keeps running)",
    ),
    (
        "vpcfwd_config_generation",
        "Generation of the running config (1 at start, +1 per applied reload)",
    ),
    ("vpcfwd_flow_log_records_total", "Flow-log records written"),
    ("vpcfwd_pcap_packets_total", "Packets written to pcap files"),
    (
        "vpcfwd_pcap_truncated_total",
        "Packets not captured because a pcap file reached its size cap",
    ),
];

/// The counter blocks of every worker, and the totals of retired ones.
pub struct Registry {
    blocks: Mutex<Vec<Arc<Block>>>,
    folded: Mutex<BTreeMap<Series, u64>>,
    /// Gauge series set at the last scrape (so that a vanished one is set to 0).
    last_gauges: Mutex<BTreeSet<Series>>,
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        for (name, help) in HELP {
            let k = KeyName::from(*name);
            let h = SharedString::from(*help);
            if name.ends_with("_total") {
                recorder.describe_counter(k, None, h);
            } else {
                recorder.describe_gauge(k, None, h);
            }
        }
        Registry {
            blocks: Mutex::new(Vec::new()),
            folded: Mutex::new(BTreeMap::new()),
            last_gauges: Mutex::new(BTreeSet::new()),
            recorder,
            handle,
        }
    }

    /// A new block for a worker on snapshot `snap`. Retired blocks are folded here too, not
    /// only at a scrape: each holds the snapshot it was laid out for, so without a scrape every
    /// reload would keep one old snapshot per worker alive.
    pub fn block(&self, snap: Arc<Snapshot>, layout: Arc<Layout>) -> Arc<Block> {
        let b = Arc::new(Block::new(snap, layout));
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        self.fold_retired(&mut blocks);
        blocks.push(Arc::clone(&b));
        b
    }

    /// Blocks the registry holds (live ones, and retired ones not folded yet).
    pub fn blocks_held(&self) -> usize {
        self.blocks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Adds the retired blocks' counts to the folded totals and lets the blocks (and their
    /// snapshots) go.
    fn fold_retired(&self, blocks: &mut Vec<Arc<Block>>) {
        let mut folded = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        blocks.retain(|b| {
            if b.is_retired() {
                series(b, &mut folded);
                false
            } else {
                true
            }
        });
    }

    /// Every counter series summed over all workers and generations.
    pub fn totals(&self) -> BTreeMap<Series, u64> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        self.fold_retired(&mut blocks);
        let folded = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        let mut t = folded.clone();
        for b in blocks.iter() {
            series(b, &mut t);
        }
        t
    }

    /// Sets a counter series to its total (counters only go up: totals are absolute).
    pub fn counter(&self, s: &Series, v: u64) {
        self.recorder.register_counter(&key(s), &md()).absolute(v);
    }

    /// Sets gauges; series of the previous call that are missing now are set to 0.
    pub fn gauges(&self, now: &[(Series, f64)]) {
        let mut last = self.last_gauges.lock().unwrap_or_else(|e| e.into_inner());
        let current: BTreeSet<Series> = now.iter().map(|(s, _)| s.clone()).collect();
        for gone in last.difference(&current) {
            self.recorder.register_gauge(&key(gone), &md()).set(0.0);
        }
        for (s, v) in now {
            self.recorder.register_gauge(&key(s), &md()).set(*v);
        }
        *last = current;
    }

    /// Prometheus text of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

fn md() -> Metadata<'static> {
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()))
}

fn key(s: &Series) -> Key {
    Key::from_parts(
        s.0,
        s.1.iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect::<Vec<_>>(),
    )
}

fn add(
    out: &mut BTreeMap<Series, u64>,
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    v: u64,
) {
    if v > 0 {
        *out.entry((name, labels)).or_default() += v;
    }
}

fn direction(outbound: bool) -> String {
    if outbound { "egress" } else { "ingress" }.into()
}

/// Adds a block's non-zero cells to `out`, labelled with the ids of its snapshot.
fn series(b: &Block, out: &mut BTreeMap<Series, u64>) {
    let s = &*b.snap;
    let l: &Layout = &b.layout;
    for r in DropReason::ALL {
        add(
            out,
            "vpcfwd_drops_total",
            vec![("reason", r.to_string())],
            b.get(l.drop(r)),
        );
    }
    for (p, spec) in s.ports.iter().enumerate().take(l.ports) {
        let at = |w| b.get(l.port(p, w));
        for (w, name, dir) in [
            (0, "vpcfwd_port_packets_total", "rx"),
            (1, "vpcfwd_port_bytes_total", "rx"),
            (2, "vpcfwd_port_packets_total", "tx"),
            (3, "vpcfwd_port_bytes_total", "tx"),
        ] {
            add(
                out,
                name,
                vec![("port", spec.id.clone()), ("direction", dir.into())],
                at(w),
            );
        }
        add(
            out,
            "vpcfwd_port_tx_errors_total",
            vec![("port", spec.id.clone())],
            at(PORT_CELLS - 1),
        );
    }
    for (t, rt) in s.route_tables.iter().enumerate() {
        let base = l.route_base[t];
        for (r, route) in rt.routes.iter().enumerate() {
            let target = route.target_name().to_string();
            add(
                out,
                "vpcfwd_route_hits_total",
                vec![
                    ("route_table", rt.id.clone()),
                    ("destination", route.dest.to_string()),
                    ("target", target),
                ],
                b.get(base + r),
            );
        }
        for (k, reason) in ["NO_ROUTE", "BLACKHOLE_ROUTE"].iter().enumerate() {
            add(
                out,
                "vpcfwd_route_table_drops_total",
                vec![("route_table", rt.id.clone()), ("reason", (*reason).into())],
                b.get(l.rtb_drop_base + 2 * t + k),
            );
        }
    }
    for (n, acl) in s.nacls.iter().enumerate() {
        for outbound in [false, true] {
            let rules = if outbound {
                &acl.outbound
            } else {
                &acl.inbound
            };
            // One past the list: the implicit `*` (a packet no rule matched).
            for pos in 0..=rules.len() {
                let Some(cell) = l.nacl_rule(s, NaclIdx(n as u32), outbound, pos as u16) else {
                    continue;
                };
                let v = b.get(cell);
                let (number, allow) = rules
                    .get(pos)
                    .map_or((NACL_STAR, false), |r| (r.number, r.allow));
                let rule = if number == NACL_STAR {
                    "*".to_string()
                } else {
                    number.to_string()
                };
                let labels = vec![
                    ("network_acl", acl.id.clone()),
                    ("direction", direction(outbound)),
                    ("rule", rule),
                ];
                if !allow {
                    add(out, "vpcfwd_nacl_drops_total", labels.clone(), v);
                }
                let action = if allow { "allow" } else { "deny" };
                let mut hit = labels;
                hit.push(("action", action.into()));
                add(out, "vpcfwd_nacl_rule_hits_total", hit, v);
            }
        }
    }
    for (e, eni) in s.enis.iter().enumerate() {
        let groups: Vec<&str> = eni
            .sgs
            .iter()
            .filter_map(|&g| s.sgs.get(g).map(|x| x.id.as_str()))
            .collect();
        for (k, dir) in ["egress", "ingress"].iter().enumerate() {
            add(
                out,
                "vpcfwd_sg_drops_total",
                vec![
                    ("network_interface", eni.id.clone()),
                    ("security_groups", groups.join(",")),
                    ("direction", (*dir).into()),
                ],
                b.get(l.sg_base + 2 * e + k),
            );
        }
    }
}
