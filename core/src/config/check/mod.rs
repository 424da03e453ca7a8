//! The checks of one object at a time: ranges, formats, id prefixes, duplicates within one list.
//! Nothing here looks another object up: references are `resolve`'s.

mod endpoint;
mod eni;
mod gateway;
mod ids;
mod nacl;
mod port;
mod prefix_list;
mod route;
mod sg;
mod subnet;

use super::{Config, ConfigError, Errors};
use crate::wire::IpProtocol;

/// Every error of the config's objects taken one by one.
pub(super) fn objects(cfg: &Config) -> Vec<ConfigError> {
    let mut e = Errors::default();
    ids::check(cfg, &mut e);
    subnet::vpcs(cfg, &mut e);
    subnet::subnets(cfg, &mut e);
    prefix_list::check(cfg, &mut e);
    route::check(cfg, &mut e);
    sg::check(cfg, &mut e);
    nacl::check(cfg, &mut e);
    eni::check(cfg, &mut e);
    endpoint::check(cfg, &mut e);
    gateway::check(cfg, &mut e);
    gateway::detached_igws(cfg, &mut e);
    port::check(cfg, &mut e);
    e.0
}

/// Parses an AWS protocol: `-1`/`all` → None (all), names, or a number.
pub fn parse_protocol(p: &str) -> Option<Option<IpProtocol>> {
    match p.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" => Some(None),
        n => IpProtocol::from_name(n).map(Some),
    }
}

/// Whether a protocol's `FromPort`/`ToPort` are an ICMP type and code.
pub(crate) fn is_icmp(proto: Option<IpProtocol>) -> bool {
    matches!(proto, Some(IpProtocol::Icmp | IpProtocol::Icmpv6))
}

/// Port range / ICMP checks shared by SG rules and NACL entries.
fn l4_fields(
    id: &str,
    f: &str,
    proto: Option<IpProtocol>,
    from: Option<i32>,
    to: Option<i32>,
    e: &mut Errors,
) {
    match proto {
        Some(IpProtocol::Tcp | IpProtocol::Udp) => match (from, to) {
            (Some(a), Some(b)) => {
                if !(0..=65535).contains(&a) || !(0..=65535).contains(&b) {
                    e.push(
                        id,
                        format!("{f}.FromPort"),
                        format!("ports {a}-{b}: allowed 0 to 65535"),
                    );
                } else if a > b {
                    e.push(
                        id,
                        format!("{f}.FromPort"),
                        format!("FromPort {a} is above ToPort {b}"),
                    );
                }
            }
            _ => e.push(
                id,
                format!("{f}.FromPort"),
                "tcp and udp rules need a port range",
            ),
        },
        p if is_icmp(p) => {
            let (t, c) = (from.unwrap_or(-1), to.unwrap_or(-1));
            if !(-1..=255).contains(&t) || !(-1..=255).contains(&c) {
                e.push(
                    id,
                    format!("{f}.FromPort"),
                    format!("ICMP type {t} code {c}: allowed -1 to 255"),
                );
            } else if t == -1 && c != -1 {
                e.push(
                    id,
                    format!("{f}.ToPort"),
                    format!("ICMP type -1 (any) requires code -1, not {c}"),
                );
            }
        }
        _ => {}
    }
}
