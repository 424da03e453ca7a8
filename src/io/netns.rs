//! Namespace plumbing: where each port of a config lives (its [`PortPlan`]: namespace, device
//! name, addresses, MTU) and the `ip` commands that give a device its addresses and routes.
//! Nothing here reads or writes packets.

use crate::config::{Config, InterfaceType};
use ipnet::IpNet;
use std::io;
use std::process::Command;

/// What a port needs in the lab: its namespace, device and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    pub port_id: String,
    pub namespace: String,
    pub device: String,
    /// Addresses of the namespace's host(s) on the device.
    pub addresses: Vec<IpNet>,
    pub mtu: u16,
}

/// Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL).
pub const IFNAME_MAX: usize = 15;

/// The TUN device of a port: `vf-<PortId>` when that fits in [`IFNAME_MAX`] bytes, else `vf-`
/// and 12 hex digits of a stable hash of the id (FNV-1a), so that port ids may be as long as
/// AWS ids (`eni-` + 17 hex digits). `salt` > 0 picks another hash (for a collision).
pub fn device_name(port_id: &str, salt: u32) -> String {
    let plain = format!("vf-{port_id}");
    if salt == 0
        && plain.len() <= IFNAME_MAX
        && port_id.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
    {
        return plain;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in port_id.bytes().chain(salt.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("vf-{:012x}", h >> 16)
}

/// The lab layout of a (validated) config: one entry per port, in port order.
pub fn plan(cfg: &Config) -> Vec<PortPlan> {
    let mut devices = std::collections::HashSet::new();
    cfg.ports
        .iter()
        .map(|p| {
            let mut addresses: Vec<IpNet> = p.addresses.clone();
            if let Some(eni_id) = &p.network_interface_id
                && let Some(eni) = cfg
                    .network_interfaces
                    .iter()
                    .find(|e| &e.network_interface_id == eni_id)
                && eni.interface_type != Some(InterfaceType::VpcEndpoint)
            {
                let subnet = cfg.subnets.iter().find(|s| s.subnet_id == eni.subnet_id);
                let len4 = subnet
                    .and_then(|s| s.cidr_block)
                    .map_or(32, |c| c.prefix_len());
                let mut v4: Vec<_> = eni.private_ip_address.into_iter().collect();
                v4.extend(
                    eni.private_ip_addresses
                        .iter()
                        .map(|a| a.private_ip_address)
                        .filter(|a| Some(*a) != eni.private_ip_address),
                );
                addresses = v4
                    .into_iter()
                    .filter_map(|a| ipnet::Ipv4Net::new(a, len4).ok().map(IpNet::V4))
                    .collect();
                for a in &eni.ipv6_addresses {
                    if let Ok(n) = ipnet::Ipv6Net::new(a.ipv6_address, 64) {
                        addresses.push(IpNet::V6(n));
                    }
                }
            }
            PortPlan {
                port_id: p.port_id.clone(),
                namespace: p
                    .namespace
                    .clone()
                    .unwrap_or_else(|| format!("vpcfwd-{}", p.port_id)),
                device: (0..)
                    .map(|salt| device_name(&p.port_id, salt))
                    .find(|d| devices.insert(d.clone()))
                    .expect("a free device name"),
                addresses,
                mtu: p.mtu.unwrap_or(1500),
            }
        })
        .collect()
}

/// Runs `ip` with `args`; an error names the command.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether network namespace `ns` exists.
pub fn namespace_exists(ns: &str) -> bool {
    std::path::Path::new("/var/run/netns").join(ns).exists()
}

/// Turns IPv6 off in an IPv4-only port's namespace: no link-local IPv6 chatter (router
/// solicitations) into the VPC. Best effort: a failure is logged, not fatal.
pub fn quiet_ipv6(plan: &PortPlan) {
    if plan.addresses.iter().any(|a| a.addr().is_ipv6()) {
        return;
    }
    let out = Command::new("ip")
        .args(["netns", "exec", &plan.namespace, "sysctl", "-qw"])
        .args([
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])
        .output();
    if let Ok(o) = out
        && !o.status.success()
    {
        tracing::debug!(
            "disable_ipv6 in {}: {}",
            plan.namespace,
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Gives a port's device its addresses, MTU and default routes (again, after a reload that
/// changed them: addresses no longer planned are removed).
pub fn configure_port(plan: &PortPlan) -> io::Result<()> {
    let ns = plan.namespace.as_str();
    let d = plan.device.as_str();
    ip(&["-n", ns, "link", "set", "lo", "up"])?;
    for a in &plan.addresses {
        let family = if a.addr().is_ipv6() { "-6" } else { "-4" };
        ip(&[
            "-n",
            ns,
            family,
            "addr",
            "replace",
            &a.to_string(),
            "dev",
            d,
            "nodad",
        ])
        .or_else(|_| {
            ip(&[
                "-n",
                ns,
                family,
                "addr",
                "replace",
                &a.to_string(),
                "dev",
                d,
            ])
        })?;
    }
    ip(&["-n", ns, "link", "set", d, "up"])?;
    ip(&["-n", ns, "-4", "route", "replace", "default", "dev", d])?;
    if plan.addresses.iter().any(|a| a.addr().is_ipv6()) {
        ip(&["-n", ns, "-6", "route", "replace", "default", "dev", d])?;
    }
    Ok(())
}

/// Applies a reload's change of a kept port's addresses or MTU to its device.
pub fn reconfigure_port(old: &PortPlan, new: &PortPlan) -> io::Result<()> {
    let (ns, d) = (new.namespace.as_str(), new.device.as_str());
    for a in old.addresses.iter().filter(|a| !new.addresses.contains(a)) {
        ip(&["-n", ns, "addr", "del", &a.to_string(), "dev", d])?;
    }
    if old.mtu != new.mtu {
        ip(&["-n", ns, "link", "set", d, "mtu", &new.mtu.to_string()])?;
    }
    configure_port(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_fit_and_are_stable() {
        assert_eq!(device_name("web", 0), "vf-web");
        assert_eq!(device_name("internet", 0), "vf-internet");
        assert_eq!(device_name("123456789012", 0), "vf-123456789012");
        let long = "eni-0123456789abcdef0";
        let d = device_name(long, 0);
        assert_eq!(d.len(), IFNAME_MAX, "{d}");
        assert!(d.starts_with("vf-") && d[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(d, device_name(long, 0), "stable");
        assert_ne!(d, device_name("eni-0123456789abcdef1", 0));
        assert_ne!(d, device_name(long, 1));
    }

    #[test]
    fn plan_gives_long_port_ids_distinct_short_devices() {
        let yaml = r#"
Vpcs: [{VpcId: vpc-1, CidrBlock: 10.0.0.0/16}]
Subnets: [{SubnetId: subnet-1, VpcId: vpc-1, CidrBlock: 10.0.1.0/24}]
NetworkInterfaces:
  - {NetworkInterfaceId: eni-0123456789abcdef0, SubnetId: subnet-1, PrivateIpAddress: 10.0.1.10}
  - {NetworkInterfaceId: eni-0123456789abcdef1, SubnetId: subnet-1, PrivateIpAddress: 10.0.1.11}
Ports:
  - {PortId: eni-0123456789abcdef0, NetworkInterfaceId: eni-0123456789abcdef0}
  - {PortId: eni-0123456789abcdef1, NetworkInterfaceId: eni-0123456789abcdef1}
  - {PortId: web, NetworkInterfaceId: eni-0123456789abcdef1}
"#;
        let cfg = crate::config::load::parse_str(yaml, "t.yaml").expect("parses");
        let plan = plan(&cfg);
        let devs: Vec<&str> = plan.iter().map(|p| p.device.as_str()).collect();
        assert!(devs.iter().all(|d| d.len() <= IFNAME_MAX), "{devs:?}");
        assert_eq!(devs[2], "vf-web");
        assert_ne!(devs[0], devs[1]);
        assert_eq!(plan[0].namespace, "vpcfwd-eni-0123456789abcdef0");
    }
}
