//! Ports on their own: names, one port per attachment.

use super::super::{Config, Errors};
use std::collections::{HashMap, HashSet};

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    let mut ids = HashSet::new();
    let mut attached: HashMap<&str, &str> = HashMap::new();
    for p in &cfg.ports {
        let id = p.port_id.as_str();
        let name_ok = !id.is_empty()
            && id.len() <= 12
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            e.push(
                id,
                "PortId",
                "a port id is 1 to 12 of [a-z0-9-] (the TUN device is vf-<PortId>)",
            );
        }
        if !ids.insert(id) {
            e.push(id, "PortId", "the port id is used twice");
        }
        let mut att = p.attachments();
        let (Some((field, target)), None) = (att.next(), att.next()) else {
            continue; // the resolver reports it: it cannot resolve the port
        };
        if let Some(o) = attached.insert(target, id) {
            e.push(id, field.name(), format!("{target} already has port {o}"));
        }
    }
}
