//! Just enough of the Prometheus text format to read vpcfwd's own `/metrics` (the page's live
//! view and `vpcfwd top`): `name{label="value",…} number` lines.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One series: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map(String::as_str).unwrap_or("")
    }
}

/// Every sample line of a Prometheus text exposition (comments and blank lines skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(line)
        .collect()
}

fn line(l: &str) -> Option<Sample> {
    let (series, value) = l.trim().rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series.to_string(), BTreeMap::new()),
        Some((n, rest)) => {
            let body = rest.strip_suffix('}')?;
            let mut labels = BTreeMap::new();
            let mut s = body;
            while let Some((k, rest)) = s.split_once("=\"") {
                // Values escape `"` and `\` with a backslash.
                let mut v = String::new();
                let mut chars = rest.char_indices();
                let mut end = rest.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                v.push(if e == 'n' { '\n' } else { e });
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => v.push(c),
                    }
                }
                labels.insert(k.trim_start_matches(',').trim().to_string(), v);
                s = &rest[end..];
            }
            (n.to_string(), labels)
        }
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The counters a dashboard shows, as JSON: `ports` (`{port: {rx, tx}}` packets), `drops`
/// (`{reason: n}`), `object_drops` (NACL / SG / route-table drops with their labels),
/// `nat_ports` (ports in use per address and destination), `flows` (the gauge).
pub fn summary(m: &[Sample]) -> Value {
    let mut ports: BTreeMap<String, Value> = BTreeMap::new();
    let mut drops: BTreeMap<String, f64> = BTreeMap::new();
    let mut objects = Vec::new();
    let mut nat = Vec::new();
    let mut flows = 0.0;
    for s in m {
        match s.name.as_str() {
            "vpcfwd_port_packets_total" => {
                let e = ports
                    .entry(s.label("port").to_string())
                    .or_insert_with(|| json!({"rx": 0.0, "tx": 0.0}));
                e[s.label("direction")] = json!(s.value);
            }
            "vpcfwd_drops_total" if s.value > 0.0 => {
                *drops.entry(s.label("reason").to_string()).or_default() += s.value;
            }
            "vpcfwd_nacl_drops_total"
            | "vpcfwd_sg_drops_total"
            | "vpcfwd_route_table_drops_total"
                if s.value > 0.0 =>
            {
                let object = s
                    .labels
                    .get("network_acl")
                    .or_else(|| s.labels.get("network_interface"))
                    .or_else(|| s.labels.get("route_table"))
                    .cloned()
                    .unwrap_or_default();
                let detail: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|(_, v)| **v != object)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                objects.push(json!({"metric": s.name, "object": object,
                                    "detail": detail.join(" "), "value": s.value}));
            }
            "vpcfwd_nat_ports_in_use" => nat.push(json!({
                "address": s.label("address"),
                "destination": format!("{}:{}", s.label("destination"), s.label("destination_port")),
                "protocol": s.label("protocol"),
                "ports": s.value,
            })),
            "vpcfwd_flows" => flows = s.value,
            _ => {}
        }
    }
    json!({"ports": ports, "drops": drops, "object_drops": objects, "nat_ports": nat, "flow_count": flows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_and_values() {
        let m = parse(
            "# HELP x\nvpcfwd_drops_total{reason=\"NACL_DENY\"} 3\nvpcfwd_flows 2\n\
             vpcfwd_port_packets_total{port=\"app\",direction=\"rx\"} 10\n\
             vpcfwd_nacl_drops_total{network_acl=\"acl-private\",direction=\"outbound\",rule=\"90\"} 1\n",
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].label("reason"), "NACL_DENY");
        assert_eq!(m[2].label("direction"), "rx");
        let s = summary(&m);
        assert_eq!(s["drops"]["NACL_DENY"], 3.0);
        assert_eq!(s["ports"]["app"]["rx"], 10.0);
        assert_eq!(s["object_drops"][0]["object"], "acl-private");
        assert_eq!(s["flow_count"], 2.0);
    }
}
