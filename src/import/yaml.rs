//! The config as YAML grouped like `configs/lab.yaml`: one section per `describe-*` call with a
//! comment naming it, block style for objects, flow style (`{…}`, `[…]`) for whatever fits on a
//! line; absent fields and defaults left out.

use crate::config::Config;
use serde_json::{Map, Value};

const WIDTH: usize = 100;

/// Empty lists that mean something (present but empty differs from absent).
const KEEP_EMPTY: [&str; 2] = ["SecurityGroupRules", "Entries"];
/// `false` fields that are the default.
const DROP_FALSE: [&str; 3] = ["Pcap", "IsDefault", "RouterMode"];

const SECTIONS: [(&str, &str); 14] = [
    ("Region", ""),
    ("AccountId", ""),
    ("Vpcs", "describe-vpcs"),
    ("Subnets", "describe-subnets"),
    ("InternetGateways", "describe-internet-gateways"),
    ("NatGateways", "describe-nat-gateways"),
    (
        "RouteTables",
        "describe-route-tables (local and gateway-endpoint routes are implied)",
    ),
    (
        "ManagedPrefixLists",
        "describe-managed-prefix-lists + get-managed-prefix-list-entries",
    ),
    (
        "SecurityGroups",
        "describe-security-groups, rules as describe-security-group-rules",
    ),
    (
        "NetworkAcls",
        "describe-network-acls (the `*` rules are implied)",
    ),
    ("NetworkInterfaces", "describe-network-interfaces"),
    (
        "VpcEndpoints",
        "describe-vpc-endpoints (+ vpcfwd: ServiceTargets, LoadBalancerAddresses)",
    ),
    (
        "Ports",
        "vpcfwd: where packets enter and leave (one TUN device each)",
    ),
    ("Options", "vpcfwd"),
];

fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(prune);
            m.retain(|k, x| match x {
                Value::Null => false,
                Value::Array(a) => !a.is_empty() || KEEP_EMPTY.contains(&k.as_str()),
                Value::Object(o) => !o.is_empty(),
                Value::Bool(false) => !DROP_FALSE.contains(&k.as_str()),
                _ => true,
            });
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => string(s),
        other => other.to_string(),
    }
}

/// Plain when YAML reads it back as the same string, double-quoted (JSON escapes) otherwise.
fn string(s: &str) -> String {
    let special = |c: char| ":,[]{}#&*!|>'\"%@`\\".contains(c) || c.is_control();
    let looks_typed = s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        || s.starts_with("0x")
        || s.starts_with("0o");
    let plain = !s.is_empty()
        && !looks_typed
        && !s.contains(special)
        && !s.starts_with(['-', '?', ' ', '.'])
        && !s.ends_with(' ');
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("string")
    }
}

fn flow(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m.iter().map(|(k, x)| format!("{k}: {}", flow(x))).collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
        s => scalar(s),
    }
}

fn fits(prefix_len: usize, v: &Value) -> Option<String> {
    let f = flow(v);
    (prefix_len + f.len() <= WIDTH && !f.contains('\n')).then_some(f)
}

/// `key: value` at `indent`, block style unless the value fits on the line.
fn field(out: &mut String, indent: usize, key: &str, v: &Value) {
    let pad = " ".repeat(indent);
    let head = format!("{pad}{key}:");
    match v {
        Value::Object(m) if !m.is_empty() => match fits(head.len() + 1, v) {
            Some(f) if indent > 0 || key == "Options" => out.push_str(&format!("{head} {f}\n")),
            _ => {
                out.push_str(&format!("{head}\n"));
                object(out, indent + 2, m);
            }
        },
        Value::Array(a) if !a.is_empty() => match fits(head.len() + 1, v) {
            Some(f) if indent > 0 && a.iter().all(|x| !x.is_object() || flow(x).len() < 60) => {
                out.push_str(&format!("{head} {f}\n"))
            }
            _ => {
                out.push_str(&format!("{head}\n"));
                for x in a {
                    item(out, indent + 2, x);
                }
            }
        },
        other => out.push_str(&format!("{head} {}\n", flow(other))),
    }
}

fn object(out: &mut String, indent: usize, m: &Map<String, Value>) {
    for (k, x) in m {
        field(out, indent, k, x);
    }
}

/// `- item` at `indent`: objects of top-level lists in block style, smaller ones on one line.
fn item(out: &mut String, indent: usize, v: &Value) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if indent > 2 => match fits(indent + 2, v) {
            Some(f) => out.push_str(&format!("{pad}- {f}\n")),
            None => block_item(out, indent, m),
        },
        Value::Object(m) => block_item(out, indent, m),
        other => out.push_str(&format!("{pad}- {}\n", flow(other))),
    }
}

fn block_item(out: &mut String, indent: usize, m: &Map<String, Value>) {
    let mut sub = String::new();
    object(&mut sub, indent + 2, m);
    let first = " ".repeat(indent + 2);
    let pad = " ".repeat(indent);
    let mut lines = sub.lines();
    if let Some(l) = lines.next() {
        out.push_str(&format!("{pad}- {}\n", l.strip_prefix(&first).unwrap_or(l)));
    }
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
}

/// The whole config.
pub(super) fn write(cfg: &Config) -> String {
    let mut v = serde_json::to_value(cfg).expect("config serialises");
    prune(&mut v);
    let Value::Object(m) = v else {
        return String::new();
    };
    let mut out = String::new();
    for (key, comment) in SECTIONS {
        let Some(x) = m.get(key) else { continue };
        if !comment.is_empty() {
            out.push_str(&format!("\n# {comment}\n"));
        }
        field(&mut out, 0, key, x);
    }
    if !m.contains_key("Options") {
        out.push_str("\n# vpcfwd\nOptions: {}\n");
    }
    out
}
