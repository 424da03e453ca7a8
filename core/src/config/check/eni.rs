//! Network interfaces on their own: connection-tracking timeouts within AWS's ranges.

use super::super::{Config, Errors};

pub(super) fn check(cfg: &Config, e: &mut Errors) {
    for n in &cfg.network_interfaces {
        let Some(c) = &n.connection_tracking_configuration else {
            continue;
        };
        for (f, v, lo, hi) in [
            (
                "TcpEstablishedTimeout",
                c.tcp_established_timeout,
                60,
                432_000,
            ),
            ("UdpStreamTimeout", c.udp_stream_timeout, 60, 180),
            ("UdpTimeout", c.udp_timeout, 30, 60),
        ] {
            if let Some(v) = v
                && !(lo..=hi).contains(&v)
            {
                e.push(
                    &n.network_interface_id,
                    format!("ConnectionTrackingConfiguration.{f}"),
                    format!("{v} s: AWS allows {lo} to {hi}"),
                );
            }
        }
    }
}
