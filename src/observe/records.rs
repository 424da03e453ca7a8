//! The flow-log records of one packet with what the custom formats need: direction, the
//! packet-level addresses, `traffic-path`, TCP flags — and, besides the sending and receiving
//! ENIs', the records of the network interfaces AWS logs on the way: a NAT gateway's own
//! (`pkt-srcaddr` is the instance behind it) and an interface endpoint's on the provider's reply.

use super::flowlog::{Ext, NAT_ZONE_BASE};
use super::format::path;
use super::{Five, Observer};
use crate::pipeline::{DropReason, Verdict};
use crate::snapshot::{PortKind, Snapshot, Target};
use std::net::IpAddr;

/// One record of a packet: the zone of the interface, the tuple it saw, the action, the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub zone: u16,
    pub five: Five,
    pub accept: bool,
    pub ext: Ext,
}

impl Observer {
    /// Every record of this packet (at most four: sender, NAT gateway in and out or the
    /// endpoint's reply, receiver). The first two are [`Observer::records`]'.
    pub fn records_ext(
        &self,
        snap: &Snapshot,
        ingress: Option<PortKind>,
        v: &Verdict,
    ) -> [Option<Rec>; 4] {
        let mut out = [None; 4];
        let base = self.records(snap, ingress, v);
        let out_path = |egress_port| match v {
            Verdict::Forward { egress, .. } if Some(*egress) == egress_port => {
                path::INTERNET_GATEWAY
            }
            _ => path::SAME_VPC,
        };
        let first_path = match self.first_route {
            Some((t, r)) => match snap.route_tables[t].routes[r as usize].target {
                Target::Igw => path::INTERNET_GATEWAY,
                Target::GatewayEndpoint(_) => path::GATEWAY_ENDPOINT,
                _ => path::SAME_VPC,
            },
            None => path::SAME_VPC,
        };
        let ext = |egress: bool, f: Five, p: u8| Ext {
            egress: Some(egress),
            pkt: Some((f.src, f.dst)),
            path: if egress { p } else { 0 },
            tcp_flags: self.tcp_flags,
        };
        for (k, r) in base.iter().enumerate() {
            if let Some((e, five, accept)) = *r
                && let Some(eni) = snap.enis.get(e)
            {
                out[k] = Some(Rec {
                    zone: eni.zone.0,
                    five,
                    accept,
                    ext: ext(k == 0, five, first_path),
                });
            }
        }
        if base[0].is_none() && base[1].is_none() {
            return out; // excluded traffic, or nothing an interface saw
        }
        let forwarded = matches!(v, Verdict::Forward { .. });
        if let Some((n, before, Some(after), _)) = self.nat {
            let nat = &snap.nat_gateways[n];
            // Outbound when the packet left with one of the gateway's addresses as source (the
            // order of the translate stages says nothing: NAT64 rewrites source and
            // destination both ways).
            let outbound = matches!(after.src, IpAddr::V4(a)
                if nat.public_ips.contains(&a) || nat.private_ips.contains(&a));
            let zone = NAT_ZONE_BASE.saturating_add(n.index() as u16);
            // The NAT gateway's interface sees its private address where the packet has its
            // Elastic IP (translated at the internet gateway in AWS).
            let private = |a: IpAddr| match a {
                IpAddr::V4(v4) => nat
                    .public_ips
                    .iter()
                    .position(|p| *p == v4)
                    .and_then(|i| nat.private_ips.get(i))
                    .or(nat.private_ips.first())
                    .map_or(a, |p| IpAddr::V4(*p)),
                IpAddr::V6(_) => a,
            };
            // A record is of one family: on NAT64's IPv6 side (the gateway has no IPv6 address
            // modelled) the packet's own address stands.
            let or_own =
                |a: IpAddr, own: IpAddr| if a.is_ipv4() == own.is_ipv4() { a } else { own };
            let (inn, outr) = if outbound {
                // Instance → NAT: to its private address (packet still for the remote host);
                // NAT → remote: from its private address.
                let i = Five {
                    dst: or_own(private(after.src), before.dst),
                    ..before
                };
                let o = Five {
                    src: or_own(private(after.src), after.src),
                    ..after
                };
                (
                    Rec {
                        zone,
                        five: i,
                        accept: true,
                        ext: Ext {
                            pkt: Some((before.src, before.dst)),
                            ..ext(false, i, 0)
                        },
                    },
                    Rec {
                        zone,
                        five: o,
                        accept: forwarded || !matches!(v, Verdict::Drop(DropReason::NaclDeny)),
                        ext: ext(true, o, out_path(snap.internet_port)),
                    },
                )
            } else {
                // Remote → NAT's address; NAT → instance from its private address, the packet
                // still from the remote host.
                let i = Five {
                    dst: or_own(private(before.dst), before.dst),
                    ..before
                };
                let o = Five {
                    src: or_own(private(before.dst), after.src),
                    ..after
                };
                (
                    Rec {
                        zone,
                        five: i,
                        accept: true,
                        ext: ext(false, i, 0),
                    },
                    Rec {
                        zone,
                        five: o,
                        accept: forwarded,
                        ext: Ext {
                            pkt: Some((after.src, after.dst)),
                            ..ext(true, o, path::SAME_VPC)
                        },
                    },
                )
            };
            out[2] = Some(inn);
            out[3] = Some(outr);
        } else if let (Some(PortKind::Service(_)), Some(f)) = (ingress, self.privatelink)
            && let Some(&e) = snap.eni_by_ip.get(&f.src)
        {
            // The provider's reply leaves the endpoint's ENI for the consumer.
            out[2] = Some(Rec {
                zone: snap.enis[e].zone.0,
                five: f,
                accept: forwarded,
                ext: ext(true, f, path::SAME_VPC),
            });
        }
        out
    }
}
