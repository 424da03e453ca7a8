//! Ports on their own: names, one port per attachment.

use super::super::{Config, Errors};
use std::collections::{HashMap, HashSet};

/// Long enough for any AWS id (`eni-` or `vpce-` and 17 hex digits) with room to spare; the TUN
/// device name (15 bytes) is derived from the id by `io::netns::device_name`, not limited by it.
const MAX_PORT_ID: usize = 64;

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    let mut ids = HashSet::new();
    let mut attached: HashMap<&str, &str> = HashMap::new();
    for p in &cfg.ports {
        let id = p.port_id.as_str();
        let name_ok = !id.is_empty()
            && id.len() <= MAX_PORT_ID
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            e.push(
                id,
                "PortId",
                "a port id is 1 to 64 of [a-z0-9-] (AWS ids fit; the TUN device name is derived from it)",
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
