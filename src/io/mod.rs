//! Ports as TUN devices in network namespaces, and the workers that move packets between them
//! through the pipeline.
//!
//! Each port of the config becomes one TUN device `vf-<PortId>`, created by a thread that has
//! entered the port's namespace (`setns`), so the device is born there and never exists in the
//! caller's namespace. Its namespace then holds only `lo` and that device, with a default route
//! into it: nothing can route out of the lab.
//!
//! Workers: one thread per queue of each port (multi-queue TUN, `--queues`, default one per
//! core), each with its own preallocated buffer, reading its queue in batches of up to
//! [`BATCH`] packets per wake-up with one snapshot load (an `ArcSwap` load: a reload swaps it
//! without stopping forwarding) and one clock read, deciding with `pipeline::process` and
//! writing to the egress port's queue of the same number. The kernel keeps each flow on one
//! queue. Flow state is one sharded `FlowTable` shared by all workers rather than partitioned
//! per worker: a reply arrives on another device — hence another worker — than its request,
//! and the kernel's queue choice on the two devices is not coordinated, so no partition would
//! keep both directions of a flow on one worker.
//!
//! Offloads: every device is opened with `IFF_VNET_HDR` and TSO/checksum offload when the kernel
//! allows it (all ports or none: a super-packet can only leave through a device that takes one).
//! A read then returns a virtio-net header and a TCP super-packet of up to 64 KB, which the
//! pipeline decides once — on the IP packet after the header, with `l4_csum_partial` from
//! `VIRTIO_NET_HDR_F_NEEDS_CSUM` — and which is written out with its header intact, never split
//! and re-merged. Generated replies (RST, ICMP) get an empty header. Without offloads (refused,
//! or `--no-offload`) it is one read and one write per packet.

pub mod pcap;

use crate::config::{Config, InterfaceType};
use crate::flow::{FlowTable, Time};
use crate::observe::flowlog::{self, Aggregator};
use crate::observe::metrics::Registry;
use crate::observe::{Block, Layout, Observer};
use crate::pipeline::{self, Rx, Verdict};
use crate::snapshot::{PortIdx, Snapshot};
use arc_swap::ArcSwap;
use ipnet::IpNet;
use pcap::Capture;
use std::io;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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

/// The lab layout of a (validated) config: one entry per port, in port order.
pub fn plan(cfg: &Config) -> Vec<PortPlan> {
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
                let len4 = subnet.map_or(32, |s| s.cidr_block.prefix_len());
                let mut v4 = vec![eni.private_ip_address];
                v4.extend(
                    eni.private_ip_addresses
                        .iter()
                        .map(|a| a.private_ip_address)
                        .filter(|a| *a != eni.private_ip_address),
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
                device: format!("vf-{}", p.port_id),
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

/// A TUN device of a port, open for reading and writing.
pub struct Port {
    pub plan: PortPlan,
    /// The device's queues (one fd each; the kernel keeps each flow on one queue). Shared with
    /// the `Port` that replaces this one when a reload only changes addresses.
    pub queues: Arc<[tun_rs::SyncDevice]>,
    /// Reads and writes carry a virtio-net header (offloads on).
    pub vnet: bool,
    pub capture: Arc<Capture>,
}

/// Size of the virtio-net header that precedes every packet on an offload device.
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum holds only the pseudo-header sum.
const VNET_F_NEEDS_CSUM: u8 = 1;

/// The TUN devices' transmit queue length: the default 500 drops bursts of a fast sender
/// before the worker drains them.
pub const TX_QUEUE_LEN: u32 = 5000;

/// Creates the port's device inside its namespace with `queues` queues (fewer if the kernel
/// refuses multi-queue) and configures it (addresses, MTU, txqueuelen, up, default routes into
/// it). The namespace must exist.
pub fn open_port(plan: &PortPlan, offload: bool, queues: usize) -> io::Result<Port> {
    let queues = queues.max(1);
    let ns_path = std::path::Path::new("/var/run/netns").join(&plan.namespace);
    let ns_file = std::fs::File::open(&ns_path).map_err(|e| {
        io::Error::other(format!(
            "namespace {}: {e} (create it, or run with --create-namespaces)",
            plan.namespace
        ))
    })?;
    if !plan.addresses.iter().any(|a| a.addr().is_ipv6()) {
        // An IPv4-only port: no link-local IPv6 chatter (router solicitations) into the VPC.
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
    let name = plan.device.clone();
    let mtu = plan.mtu;
    // A thread that enters the namespace creates the device there, and attaches its extra
    // queues there too (TUNSETIFF finds the device by name in the caller's namespace); the fds
    // outlive the thread.
    let devs = std::thread::spawn(move || -> io::Result<Vec<tun_rs::SyncDevice>> {
        // SAFETY: setns on a valid namespace fd affects only this (short-lived) thread.
        if unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let build = |mq: bool| {
            tun_rs::DeviceBuilder::new()
                .name(&name)
                .mtu(mtu)
                .tx_queue_len(TX_QUEUE_LEN)
                .packet_information(false)
                .offload(offload)
                .multi_queue(mq)
                .build_sync()
        };
        let first = if queues > 1 {
            match build(true) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("{name}: multi-queue refused ({e}); one queue");
                    build(false)?
                }
            }
        } else {
            build(false)?
        };
        let mut devs = Vec::with_capacity(queues);
        for _ in 1..queues {
            match first.try_clone() {
                Ok(d) => devs.push(d),
                Err(_) => break,
            }
        }
        devs.insert(0, first);
        Ok(devs)
    })
    .join()
    .map_err(|_| io::Error::other("device thread panicked"))??;
    for d in &devs {
        d.set_nonblocking(true)?;
    }
    configure_port(plan)?;
    Ok(Port {
        plan: plan.clone(),
        queues: devs.into(),
        vnet: offload,
        capture: Arc::new(Capture::default()),
    })
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

/// What the workers forward with: a config generation and the ports that go with it. Swapped
/// whole on reload, so a worker never sees a snapshot whose port indices do not match its ports.
pub struct Live {
    pub generation: u64,
    pub snap: Arc<Snapshot>,
    pub layout: Arc<Layout>,
    pub ports: Vec<Arc<Port>>,
}

impl Live {
    /// Generation `generation` of `snap` with its ports (in the snapshot's port order), and
    /// where each of its counters lives.
    pub fn new(generation: u64, snap: Snapshot, ports: Vec<Arc<Port>>) -> Live {
        Live {
            generation,
            layout: Arc::new(Layout::new(&snap)),
            snap: Arc::new(snap),
            ports,
        }
    }
}

/// Flow-log settings of a running forwarder.
pub struct FlowLogTap {
    /// Where workers hand their interval batches (to the writer thread).
    pub tx: std::sync::mpsc::Sender<flowlog::Batch>,
    pub interval_secs: u64,
    /// Keys per worker per interval before records are skipped (SKIPDATA).
    pub cap: usize,
}

/// What every worker shares.
pub struct Shared {
    pub live: ArcSwap<Live>,
    pub flows: FlowTable,
    pub stop: AtomicBool,
    pub epoch: Instant,
    /// Wall-clock time at `epoch` (µs since the Unix epoch), for flow logs and pcap.
    pub epoch_unix_micros: u64,
    pub stats: Registry,
    pub flow_log: Option<FlowLogTap>,
}

impl Shared {
    pub fn new(live: Live, flows: FlowTable, flow_log: Option<FlowLogTap>) -> Shared {
        let epoch_unix_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Shared {
            live: ArcSwap::from_pointee(live),
            flows,
            stop: AtomicBool::new(false),
            epoch: Instant::now(),
            epoch_unix_micros,
            stats: Registry::new(),
            flow_log,
        }
    }

    /// Monotonic time for the pipeline (the I/O layer reads the clock, the core never does).
    pub fn now(&self) -> Time {
        Time(self.epoch.elapsed().as_nanos() as u64)
    }

    /// Wall-clock microseconds of a pipeline time.
    pub fn unix_micros(&self, t: Time) -> u64 {
        self.epoch_unix_micros + t.0 / 1000
    }
}

/// Largest read (virtio-net header + 64 KiB IP packet) plus room for a generated reply.
const BUF: usize = VNET_HDR_LEN + 65536 + 256;
/// Packets handled per wake-up with one snapshot load and one clock read.
pub const BATCH: usize = 64;

/// Wire packets in a read: a GSO super-packet stands for `ceil(payload / gso_size)` segments
/// (flow logs count packets as AWS sees them on the wire).
fn segments(vnet: &[u8], len: usize) -> u64 {
    if vnet.len() < VNET_HDR_LEN || vnet[1] == 0 {
        return 1;
    }
    let hdr_len = usize::from(u16::from_le_bytes([vnet[2], vnet[3]]));
    let gso = usize::from(u16::from_le_bytes([vnet[4], vnet[5]]));
    if gso == 0 {
        return 1;
    }
    (len.saturating_sub(hdr_len).div_ceil(gso)).max(1) as u64
}

/// The loop of the worker serving queue `q` of `port`: read a batch, decide, write (to the
/// egress port's queue of the same number), count; until `stop` or until a reload removes the
/// port.
pub fn worker(shared: Arc<Shared>, port: Arc<Port>, q: usize) {
    let mut buf = vec![0u8; BUF];
    let Some(dev) = port.queues.get(q) else {
        return;
    };
    let fd = dev.as_raw_fd();
    // With offloads every packet is preceded by a virtio-net header, kept as it came.
    let hdr = if port.vnet { VNET_HDR_LEN } else { 0 };
    let mut generation = u64::MAX;
    let mut me = 0usize;
    let mut block: Option<Arc<Block>> = None;
    let unix = |t: Time| shared.unix_micros(t) / 1_000_000;
    let mut agg = shared.flow_log.as_ref().map(|f| {
        (
            Aggregator::new(f.cap, f.interval_secs, unix(shared.now())),
            f.tx.clone(),
        )
    });
    while !shared.stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a timeout keeps shutdown and reloads prompt.
        let r = unsafe { libc::poll(&mut pfd, 1, 200) };
        let live = shared.live.load();
        if live.generation != generation {
            let Some(i) = live.ports.iter().position(|p| Arc::ptr_eq(p, &port)) else {
                break;
            };
            me = i;
            if let Some(b) = block.take() {
                b.retire();
            }
            block = Some(
                shared
                    .stats
                    .block(Arc::clone(&live.snap), Arc::clone(&live.layout)),
            );
            generation = live.generation;
        }
        let Some(counters) = block.as_deref() else {
            break;
        };
        let now = shared.now();
        let now_unix = unix(now);
        if let Some((a, tx)) = &mut agg
            && a.due(now_unix)
        {
            let b = a.take(now_unix, Some(Arc::clone(&live.snap)));
            if !b.records.is_empty() || !b.skipped.is_empty() {
                let _ = tx.send(b);
            }
        }
        if r <= 0 {
            continue;
        }
        let snap = &*live.snap;
        let ingress_kind = snap.ports.get(PortIdx(me as u16)).map(|p| p.kind);
        for _ in 0..BATCH {
            let n = match dev.recv(&mut buf[..hdr + 65536]) {
                Ok(n) if n > hdr => n - hdr,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            counters.rx(me, n);
            if port.capture.active() {
                port.capture
                    .record(&buf[hdr..hdr + n], shared.unix_micros(now));
            }
            let segs = segments(&buf[..hdr], n);
            let rx = Rx {
                ingress: PortIdx(me as u16),
                now,
                l4_csum_partial: hdr > 0 && buf[0] & VNET_F_NEEDS_CSUM != 0,
            };
            let mut obs = Observer::new(agg.is_some());
            let v = pipeline::process(snap, &shared.flows, &mut buf[hdr..], n, rx, &mut obs);
            counters.decision(&obs, &v);
            if let Some((a, _)) = &mut agg {
                for (e, five, accept) in obs.records(snap, ingress_kind, &v).into_iter().flatten() {
                    if let Some(eni) = snap.enis.get(e) {
                        let key = flowlog::Key {
                            zone: eni.zone.0,
                            five,
                            accept,
                        };
                        a.add(key, segs, n as u64, now_unix);
                    }
                }
            }
            let (egress, len) = match v {
                Verdict::Forward { egress, len } => (egress, len),
                Verdict::Reply { egress, len, .. } => {
                    // A generated packet: no segmentation, checksums complete.
                    buf[..hdr].fill(0);
                    (egress, len)
                }
                Verdict::Drop(_) => continue,
            };
            let e = usize::from(egress.0);
            let Some(out) = live.ports.get(e) else {
                continue;
            };
            if out.capture.active() {
                out.capture
                    .record(&buf[hdr..hdr + len], shared.unix_micros(now));
            }
            let Some(out_q) = out.queues.get(q % out.queues.len().max(1)) else {
                continue;
            };
            match out_q.send(&buf[..hdr + len]) {
                Ok(_) => counters.tx(e, len),
                Err(_) => counters.tx_error(e),
            }
        }
    }
    if let Some(b) = block.take() {
        b.retire();
    }
    if let Some((mut a, tx)) = agg {
        let now_unix = unix(shared.now());
        let snap = Arc::clone(&shared.live.load().snap);
        let _ = tx.send(a.take(now_unix, Some(snap)));
    }
}
