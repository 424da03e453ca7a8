//! Managed prefix lists: `MaxEntries`, entry families, repeated entries.

use super::super::{AddressFamily, Config, Errors};
use std::collections::HashSet;

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    for p in &cfg.managed_prefix_lists {
        let id = &p.prefix_list_id;
        let aws = p.owner_id.as_deref() == Some("AWS");
        match p.max_entries {
            None if !aws => e.push(
                id,
                "MaxEntries",
                "a customer-managed prefix list needs MaxEntries",
            ),
            Some(m) if m == 0 || m > 1000 => {
                e.push(id, "MaxEntries", format!("{m}: allowed 1 to 1000"))
            }
            Some(m) if p.entries.len() > m as usize => e.push(
                id,
                "Entries",
                format!("{} entries exceed MaxEntries {m}", p.entries.len()),
            ),
            _ => {}
        }
        let mut seen = HashSet::new();
        for (k, en) in p.entries.iter().enumerate() {
            let v6 = en.cidr.addr().is_ipv6();
            if v6 != (p.address_family == AddressFamily::IPv6) {
                e.push(
                    id,
                    format!("Entries[{k}].Cidr"),
                    format!("{} is not of family {:?}", en.cidr, p.address_family),
                );
            }
            if !seen.insert(en.cidr.trunc()) {
                e.push(
                    id,
                    format!("Entries[{k}].Cidr"),
                    format!("{} is listed twice", en.cidr),
                );
            }
        }
    }
}
