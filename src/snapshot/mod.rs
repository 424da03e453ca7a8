//! The compiled, immutable form of a config that the pipeline reads per packet: dense indices
//! instead of string ids, route tables as FIBs, rules in forms fast to evaluate. Built once per
//! (re)load, off the hot path, and shared read-only by every worker.

use crate::config::{Config, ConfigError};

/// Index of a port. Ports keep the order of `Config::ports`, so `PortIdx(i)` is `ports[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortIdx(pub u16);

/// Where a port attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortKind {
    /// The instance behind an ENI (index into `Config::network_interfaces`).
    Eni(u32),
    /// The internet beyond the internet gateway.
    Internet,
    /// The service network behind a VPC endpoint (index into `Config::vpc_endpoints`).
    Service(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub id: String,
    pub kind: PortKind,
}

/// The compiled VPC.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub ports: Vec<PortSpec>,
}

/// Compiles a validated config.
pub fn compile(config: &Config) -> Result<Snapshot, Vec<ConfigError>> {
    let mut ports = Vec::new();
    for p in &config.ports {
        let kind = if let Some(eni) = &p.network_interface_id {
            let i = config
                .network_interfaces
                .iter()
                .position(|e| &e.network_interface_id == eni)
                .unwrap_or(0);
            PortKind::Eni(i as u32)
        } else if p.internet_gateway_id.is_some() {
            PortKind::Internet
        } else {
            let i = config
                .vpc_endpoints
                .iter()
                .position(|e| Some(&e.vpc_endpoint_id) == p.vpc_endpoint_id.as_ref())
                .unwrap_or(0);
            PortKind::Service(i as u32)
        };
        ports.push(PortSpec {
            id: p.port_id.clone(),
            kind,
        });
    }
    Ok(Snapshot { ports })
}
