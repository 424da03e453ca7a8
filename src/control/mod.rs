//! The control plane: start-up, signals, hot reload, the admin API, flow-log writing and clean
//! shutdown (tokio), around the data-path workers of `io` (plain threads).
//!
//! Reload (SIGHUP, `POST /reload`, `--watch`): the file is parsed, validated and compiled on a
//! blocking thread, never on a worker. An invalid config changes nothing (the error goes to the
//! log, the `vpcfwd_reloads_total{result="error"}` metric and the API answer). A valid one
//! becomes a new [`Live`] (snapshot + ports) swapped in with one pointer store: workers pick it
//! up at their next batch. The flow table is not part of the snapshot, and ENIs keep their
//! flow-table zone across compiles, so tracked flows and NAT bindings carry on; security-group
//! changes do not cut them, NACL and route changes apply to the next packet (semantics §5, §6).

pub mod admin;
pub mod client;
pub mod privilege;

use crate::config;
use crate::flow::FlowTable;
use crate::io::pcap::{Capture, Captured};
use crate::io::{self, FlowLogTap, Live, LivePort, PortPlan, Shared, TunPort};
use crate::observe::flowlog::{self, RotatingFile};
use crate::snapshot;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `vpcfwd run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Config file.
    #[arg(short = 'c', long = "config")]
    pub config: PathBuf,
    /// Create the ports' network namespaces that do not exist (and remove them on exit).
    #[arg(long)]
    pub create_namespaces: bool,
    /// Flow-table bound N (default: `Options.FlowTableMaxEntries`, else 262144), fixed at
    /// start. It holds N security-group flows, N/4 NAT gateway translations (all gateways
    /// together: at the default 65,536, room for AWS's 55,000 connections per destination per
    /// address) and N/8 interface endpoint translations, all preallocated (about 300 bytes
    /// per N: 78 MB at the default). A new flow beyond a table's share is dropped with
    /// FLOW_TABLE_FULL; a NAT gateway out of ports towards a destination, NAT_PORT_ALLOCATION.
    #[arg(long)]
    pub max_flows: Option<usize>,
    /// Plain devices: no virtio-net header, no TSO/GSO super-packets.
    #[arg(long)]
    pub no_offload: bool,
    /// Queues (and workers) per TUN device (default: one per core).
    #[arg(long, value_name = "N")]
    pub queues: Option<usize>,
    /// Pin each queue's worker to one CPU (queue q of every port on CPU q mod the CPUs this
    /// process may use), so that a flow's packets stay on the core its queue is read on.
    #[arg(long)]
    pub pin_workers: bool,
    /// TUN I/O: `uring` (multishot reads, batched writes; Linux 6.7+) or `plain` (a read and a
    /// write per packet). Default: uring where the start-up probe succeeds, else plain.
    #[arg(long = "io", value_enum, value_name = "uring|plain")]
    pub io_mode: Option<io::IoMode>,
    /// Admin API address (metrics, flows, reload). Anything but loopback is reachable by others:
    /// it needs --admin-token (or --admin-token-file), else vpcfwd refuses to start. Port 0
    /// picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:9180")]
    pub admin: String,
    /// Bearer token every admin API call must carry (`Authorization: Bearer TOKEN`); required
    /// when --admin is not a loopback address. Prefer --admin-token-file: a command line is
    /// visible to every local user.
    #[arg(long, value_name = "TOKEN", conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// Read the admin token from this file (first line).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// After start-up, run as this user (name or uid), keeping only the capabilities still
    /// needed (see --static-ports). Captures and flow-log rotation then write as that user.
    /// Not with --create-namespaces (removing them needs root).
    #[arg(long, value_name = "NAME", conflicts_with = "create_namespaces")]
    pub user: Option<String>,
    /// Keep only CAP_NET_ADMIN after start-up: a reload may change rules, routes and flows but
    /// not add or readdress ports (entering their namespaces needs CAP_SYS_ADMIN, which is
    /// otherwise kept beside it). Not with --create-namespaces (removing them needs it too).
    #[arg(long, conflicts_with = "create_namespaces")]
    pub static_ports: bool,
    /// No admin API.
    #[arg(long)]
    pub no_admin: bool,
    /// Reload when the config file changes (checked every second).
    #[arg(long)]
    pub watch: bool,
    /// Write VPC flow logs (AWS default format, version 2) to this file.
    #[arg(long, value_name = "FILE")]
    pub flow_log: Option<PathBuf>,
    /// Flow-log record format: AWS's `LogFormat` (`'${version} ${vpc-id} ${srcaddr} …'`, the
    /// fields of versions 2–5); the default format (version 2) when absent.
    #[arg(long, value_name = "FORMAT")]
    pub flow_log_format: Option<String>,
    /// Flow-log aggregation interval in seconds: 60 or 600 as in AWS; shorter for demos.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub flow_log_interval: u64,
    /// Rotate the flow-log file past this size (keeps 5 old files).
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    pub flow_log_max_bytes: u64,
    /// Capture every port into DIR/<port>.pcap from the start (LINKTYPE_RAW).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// The pcap directory without capturing from the start: where `POST /pcap/start` (and
    /// `Pcap: true` ports) write; its `dir=` must stay below it. Default: --pcap's DIR, else
    /// `Options.PcapDirectory`, else `vpcfwd-pcap`.
    #[arg(long, value_name = "DIR", conflicts_with = "pcap")]
    pub pcap_dir: Option<PathBuf>,
    /// Size cap of each pcap file.
    #[arg(long, default_value_t = 100 << 20, value_name = "BYTES")]
    pub pcap_max_bytes: u64,
}

/// Namespaces this process created (or adopted from a previous run that was killed), removed
/// again on every exit path.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.drain(..) {
            match io::ip(&["netns", "delete", &ns]) {
                Ok(()) => owned::forget(&ns),
                Err(e) => tracing::warn!("removing namespace {ns}: {e}"),
            }
        }
    }
}

/// Which namespaces a vpcfwd created: `/run/vpcfwd/netns/<name>` holds its PID, so that a run
/// after a `kill -9` knows a leftover namespace as its own (and one still in use as not).
pub mod owned {
    use std::path::PathBuf;

    pub const DIR: &str = "/run/vpcfwd/netns";

    fn file(ns: &str) -> PathBuf {
        PathBuf::from(DIR).join(ns)
    }

    /// Records that this process created `ns`.
    pub fn record(ns: &str) {
        let r = std::fs::create_dir_all(DIR)
            .and_then(|()| std::fs::write(file(ns), format!("{}\n", std::process::id())));
        if let Err(e) = r {
            tracing::warn!("recording namespace {ns} in {DIR}: {e}");
        }
    }

    pub fn forget(ns: &str) {
        let _ = std::fs::remove_file(file(ns));
    }

    /// The PID of the vpcfwd that created `ns`, if one recorded it.
    pub fn owner(ns: &str) -> Option<u32> {
        std::fs::read_to_string(file(ns)).ok()?.trim().parse().ok()
    }

    /// Whether `pid` is a running vpcfwd (not a reused PID).
    pub fn is_running_vpcfwd(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "vpcfwd")
    }
}

/// The outcome of the last reload, for the API and metrics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    pub ok: u64,
    pub errors: u64,
    pub last_ok: Option<bool>,
    pub last_at_unix: Option<u64>,
    pub last_errors: Vec<String>,
    pub generation: u64,
}

/// Everything the control plane manages.
pub struct Control {
    pub shared: Arc<Shared>,
    pub args: RunArgs,
    offload: bool,
    created: Mutex<Namespaces>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    pub reload_status: Mutex<ReloadStatus>,
    /// Serialises reloads (SIGHUP, API and file watch may race).
    reloading: Mutex<()>,
    /// Where captures go (from `--pcap`, or the last admin start): always inside `pcap_base`.
    pub pcap_dir: Mutex<Option<PathBuf>>,
    /// The pcap directory: `--pcap DIR`, else `Options.PcapDirectory`, else `vpcfwd-pcap`.
    /// `POST /pcap/start?dir=` writes only below it.
    pub pcap_base: PathBuf,
    /// The admin API's bearer token (every call must carry it), if any.
    pub admin_token: Option<String>,
    pub flushed: AtomicU64,
    pub flow_log_written: Arc<AtomicU64>,
}

/// Runs the forwarder until SIGINT/SIGTERM: exit 0 after a clean shutdown, 2 for an invalid
/// config, 1 when the ports or the admin API cannot be brought up.
pub fn run(args: &RunArgs) -> ExitCode {
    fixed_mmap_threshold();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let cfg = match config::load_file(&args.config) {
        Ok(c) => c,
        Err(errors) => return invalid(&errors),
    };
    // An unknown flow-log field is a start-up error, before any device exists.
    if let Some(f) = &args.flow_log_format
        && let Err(e) = crate::observe::format::Format::parse(f)
    {
        eprintln!("error: --flow-log-format: {e}");
        return ExitCode::from(2);
    }
    if cfg.options.trace_only {
        eprintln!(
            "error: {}: Options.TraceOnly is set (real AWS addresses): this config is for check and trace only",
            args.config.display()
        );
        return ExitCode::from(2);
    }
    let snap = match snapshot::compile(&cfg) {
        Ok(s) => s,
        Err(errors) => return invalid(&errors),
    };
    // Refusals that need no privilege come before anything is created.
    let admin_token = match admin_token(args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.no_admin
        && let Err(e) = admin::check_exposure(&args.admin, admin_token.as_deref())
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let user = match args.user.as_deref().map(privilege::lookup_user).transpose() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let plans = io::plan(&cfg);
    match io::uring::select(args.io_mode) {
        (io::IoMode::Uring, _) => {
            tracing::info!("TUN I/O: io_uring (multishot reads, one io_uring_enter per batch)")
        }
        (io::IoMode::Plain, None) => tracing::info!("TUN I/O: plain read/write (--io plain)"),
        (io::IoMode::Plain, Some(why)) => {
            tracing::warn!("TUN I/O: plain read/write; io_uring unavailable: {why}")
        }
    }
    let mut created = Namespaces(Vec::new());
    // Offloads on every port, or on none (a super-packet can only leave through a device that
    // takes one): try with them, fall back to plain devices when the kernel refuses.
    let mut ports = Vec::new();
    let mut last_err = None;
    let mut offload = false;
    for want in [!args.no_offload, false] {
        match bring_up_all(
            &plans,
            want,
            queues(args),
            args.create_namespaces,
            &mut created,
        ) {
            Ok(p) => {
                ports = p;
                offload = want;
                last_err = None;
                break;
            }
            Err(e) => {
                if want {
                    tracing::warn!("offloads refused ({e}); falling back to plain devices");
                }
                last_err = Some(e);
            }
        }
    }
    if let Some(e) = last_err {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let max_flows = args
        .max_flows
        .or(cfg.options.flow_table_max_entries.map(|m| m as usize))
        .unwrap_or(vpcfwd_core::flow::DEFAULT_MAX_ENTRIES);
    // What needs privilege comes first: the admin listener, the flow-log file.
    let listener = if args.no_admin {
        None
    } else {
        match admin::bind(&args.admin, admin_token.as_deref()) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: admin API on {}: {e}", args.admin);
                return ExitCode::from(1);
            }
        }
    };
    let flow_log_file = match &args.flow_log {
        Some(path) => match RotatingFile::open(path, args.flow_log_max_bytes, 5) {
            Ok(f) => Some((path, f)),
            Err(e) => {
                eprintln!("error: flow log {}: {e}", path.display());
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    // Then only what is still needed, before any other thread exists (capabilities are per
    // thread: the ones spawned below inherit the reduced sets).
    let keep = privilege::kept(args.static_ports);
    if let Err(e) = privilege::drop_privileges(&keep, user) {
        eprintln!("error: dropping privileges: {e}");
        return ExitCode::from(1);
    }
    tracing::info!(
        capabilities = %privilege::names(&keep),
        user = args.user.as_deref().unwrap_or("(unchanged)"),
        "privileges dropped"
    );
    let flow_log_written = Arc::new(AtomicU64::new(0));
    let (flow_log, writer) = match flow_log_file {
        Some((path, file)) => {
            match start_flow_log(file, path, args, &snap, Arc::clone(&flow_log_written)) {
                Ok((tap, w)) => (Some(tap), Some(w)),
                Err(e) => {
                    eprintln!("error: flow log {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
        }
        None => (None, None),
    };
    let pcap_base = args
        .pcap
        .clone()
        .or(args.pcap_dir.clone())
        .unwrap_or_else(|| {
            PathBuf::from(
                cfg.options
                    .pcap_directory
                    .clone()
                    .unwrap_or_else(|| "vpcfwd-pcap".into()),
            )
        });
    let live = Live::new(
        1,
        snap,
        ports
            .into_iter()
            .map(|p| Arc::new(Captured::new(p, Arc::new(Capture::default()))))
            .collect(),
    );
    let shared = Arc::new(Shared::new(live, FlowTable::new(max_flows), flow_log));
    let ctl = Arc::new(Control {
        shared: Arc::clone(&shared),
        args: args.clone(),
        offload,
        created: Mutex::new(created),
        workers: Mutex::new(Vec::new()),
        reload_status: Mutex::new(ReloadStatus {
            generation: 1,
            ..Default::default()
        }),
        reloading: Mutex::new(()),
        pcap_dir: Mutex::new(args.pcap.clone()),
        pcap_base,
        admin_token,
        flushed: AtomicU64::new(0),
        flow_log_written,
    });
    let all: Vec<Arc<LivePort>> = shared.live.load().ports.clone();
    ctl.start_workers(&all);
    ctl.start_configured_captures(&all, &cfg);
    // Only `Live` may keep ports alive: a port a reload removes must close with its worker.
    drop(all);
    let code = control_loop(&ctl, listener);
    shared.stop.store(true, Ordering::Relaxed);
    for w in ctl
        .workers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        let _ = w.join();
    }
    for p in shared.live.load().ports.iter() {
        p.capture.stop();
    }
    if let (Some(tap), Some(w)) = (&shared.flow_log, writer) {
        // The sentinel: write everything pending, then exit.
        let _ = tap.tx.send(flowlog::Batch {
            interval: u64::MAX,
            ..Default::default()
        });
        let _ = w.join();
    }
    report(&shared);
    // Devices close as the last references to the ports go; then namespaces are removed.
    drop(ctl);
    drop(shared);
    code
}

impl Control {
    /// A control plane over `shared` without devices of its own (tests drive its admin API
    /// through [`admin::router`]); `args` as `vpcfwd run` would take them.
    pub fn new(shared: Arc<Shared>, args: RunArgs) -> Result<Control, String> {
        let admin_token = admin_token(&args)?;
        Ok(Control {
            shared,
            offload: false,
            created: Mutex::new(Namespaces(Vec::new())),
            workers: Mutex::new(Vec::new()),
            reload_status: Mutex::new(ReloadStatus::default()),
            reloading: Mutex::new(()),
            pcap_dir: Mutex::new(args.pcap.clone()),
            pcap_base: args
                .pcap
                .clone()
                .or(args.pcap_dir.clone())
                .unwrap_or_else(|| "vpcfwd-pcap".into()),
            admin_token,
            flushed: AtomicU64::new(0),
            flow_log_written: Arc::new(AtomicU64::new(0)),
            args,
        })
    }

    fn start_workers(&self, ports: &[Arc<LivePort>]) {
        let mut ws = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for p in ports {
            for q in 0..p.queues.len() {
                let s = Arc::clone(&self.shared);
                let port = Arc::clone(p);
                let pin = self.args.pin_workers;
                match std::thread::Builder::new()
                    .name(format!("vf-{}-{q}", p.plan.port_id))
                    .spawn(move || {
                        if pin {
                            pin_to_cpu(q);
                        }
                        io::worker::run(s, port, q)
                    }) {
                    Ok(h) => ws.push(h),
                    Err(e) => tracing::error!(port = %p.plan.port_id, "worker thread: {e}"),
                }
            }
        }
        ws.retain(|h| !h.is_finished());
    }

    /// Captures from `--pcap DIR` (every port) or the ports whose config says `Pcap: true`.
    fn start_configured_captures(&self, ports: &[Arc<LivePort>], cfg: &config::Config) {
        let dir = self
            .pcap_dir
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for p in ports {
            let wanted = cfg
                .ports
                .iter()
                .any(|c| c.port_id == p.plan.port_id && c.pcap);
            let d = match (&dir, wanted) {
                (Some(d), _) => d.clone(),
                (None, true) => self.pcap_base.clone(),
                (None, false) => continue,
            };
            if p.capture.active() {
                continue;
            }
            if let Err(e) = self.capture_start(p, &d) {
                tracing::warn!(port = %p.plan.port_id, "pcap: {e}");
            }
        }
    }

    /// Starts capturing port `p` into `dir/<port>.pcap`.
    pub fn capture_start(&self, p: &LivePort, dir: &std::path::Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.pcap", p.plan.port_id));
        p.capture.start(&path, self.args.pcap_max_bytes)?;
        tracing::info!(port = %p.plan.port_id, file = %path.display(), "pcap capture started");
        Ok(path)
    }

    /// Reloads the config file: `Ok(generation)` when applied, the errors otherwise (the running
    /// config is untouched). Blocking: call it off the async runtime.
    pub fn reload(&self, why: &str) -> Result<u64, Vec<String>> {
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now();
        let r = self.try_reload();
        let mut st = self.reload_status.lock().unwrap_or_else(|e| e.into_inner());
        st.last_at_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        match &r {
            Ok(g) => {
                st.ok += 1;
                st.last_ok = Some(true);
                st.last_errors.clear();
                st.generation = *g;
                tracing::info!(
                    "reload ({why}): generation {g} applied in {:.1} ms",
                    t.elapsed().as_secs_f64() * 1e3
                );
            }
            Err(errs) => {
                st.errors += 1;
                st.last_ok = Some(false);
                st.last_errors = errs.clone();
                for e in errs {
                    tracing::error!("reload ({why}) refused, the running config stays: {e}");
                }
            }
        }
        r
    }

    fn try_reload(&self) -> Result<u64, Vec<String>> {
        let strings = |errs: Vec<config::ConfigError>| -> Vec<String> {
            errs.iter().map(|e| e.to_string()).collect()
        };
        let path = &self.args.config;
        let cfg = config::load_file(path).map_err(strings)?;
        if cfg.options.trace_only {
            return Err(vec![format!(
                "{}: Options.TraceOnly is set: a trace-only config cannot carry live traffic",
                path.display()
            )]);
        }
        let old = self.shared.live.load_full();
        let snap = snapshot::compile_after(&cfg, Some(&old.snap)).map_err(strings)?;
        let plans = io::plan(&cfg);
        let mut ports = Vec::with_capacity(plans.len());
        let mut fresh = Vec::new();
        for p in &plans {
            let same_place = old.ports.iter().find(|o| {
                o.plan.port_id == p.port_id
                    && o.plan.namespace == p.namespace
                    && o.plan.device == p.device
            });
            let port = match same_place {
                Some(o) if o.plan == *p => Arc::clone(o),
                Some(_) | None if self.args.static_ports => {
                    return Err(vec![format!(
                        "port {}: --static-ports: adding or readdressing a port needs CAP_SYS_ADMIN, which vpcfwd dropped after start-up; restart it to apply this config",
                        p.port_id
                    )]);
                }
                Some(o) => {
                    io::reconfigure_port(&o.plan, p)
                        .map_err(|e| vec![format!("port {}: {e}", p.port_id)])?;
                    let tun = TunPort {
                        plan: p.clone(),
                        queues: Arc::clone(&o.queues),
                        vnet: o.vnet,
                    };
                    Arc::new(Captured::new(tun, Arc::clone(&o.capture)))
                }
                None => {
                    let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
                    let port = bring_up(
                        p,
                        self.offload,
                        queues(&self.args),
                        self.args.create_namespaces,
                        &mut created,
                    )
                    .map_err(|e| vec![format!("port {}: {e}", p.port_id)])?;
                    log_port(&port, "port up (added by reload)");
                    Arc::new(Captured::new(port, Arc::new(Capture::default())))
                }
            };
            if !old.ports.iter().any(|o| Arc::ptr_eq(o, &port)) {
                fresh.push(Arc::clone(&port));
            }
            ports.push(port);
        }
        for o in old.ports.iter() {
            if !plans.iter().any(|p| p.port_id == o.plan.port_id) {
                tracing::info!(port = %o.plan.port_id, "port removed by reload");
            }
        }
        let generation = old.generation + 1;
        self.shared
            .live
            .store(Arc::new(Live::new(generation, snap, ports)));
        self.start_workers(&fresh);
        self.start_configured_captures(&fresh, &cfg);
        if let Some(tap) = &self.shared.flow_log {
            // The writer learns the new ENIs (for NODATA records) even if no packet flows.
            let _ = tap.tx.send(flowlog::Batch {
                snap: Some(Arc::clone(&self.shared.live.load().snap)),
                ..Default::default()
            });
        }
        Ok(generation)
    }
}

fn log_port(port: &TunPort, msg: &str) {
    let p = &port.plan;
    tracing::info!(
        port = %p.port_id, namespace = %p.namespace, device = %p.device,
        addresses = ?p.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        offload = if port.vnet { "vnet-hdr, TSO4/6, csum" } else { "none" },
        queues = port.queues.len(),
        txqueuelen = io::TX_QUEUE_LEN,
        "{msg}"
    );
}

fn start_flow_log(
    file: RotatingFile,
    path: &std::path::Path,
    args: &RunArgs,
    snap: &snapshot::Snapshot,
    written: Arc<AtomicU64>,
) -> std::io::Result<(FlowLogTap, std::thread::JoinHandle<()>)> {
    let format = match &args.flow_log_format {
        Some(f) => Some(
            crate::observe::format::Format::parse(f)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    let interval = args.flow_log_interval.max(1);
    if interval != 60 && interval != 600 {
        tracing::info!(
            "flow-log interval {interval} s: AWS offers 60 s and 600 s; a shorter one is for demos"
        );
    }
    let (tx, rx) = std::sync::mpsc::channel::<flowlog::Batch>();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut w = flowlog::Writer::new(file, interval, now);
    if let Some(f) = format {
        w = w.with_format(f);
    }
    w.learn_snapshot(snap);
    let h = std::thread::Builder::new()
        .name("vf-flowlog".into())
        .spawn(move || {
            let unix = || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            };
            loop {
                let (all, stop) = match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(b) if b.interval == u64::MAX => (true, true),
                    Ok(b) => {
                        w.add(b);
                        (false, false)
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => (false, false),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => (true, true),
                };
                if let Err(e) = w.flush(unix(), all) {
                    tracing::error!("flow log: {e}");
                }
                written.store(w.written, Ordering::Relaxed);
                if stop {
                    // Batches the workers sent before the sentinel are already in.
                    while let Ok(b) = rx.try_recv() {
                        w.add(b);
                    }
                    let _ = w.flush(unix(), true);
                    written.store(w.written, Ordering::Relaxed);
                    return;
                }
            }
        })?;
    tracing::info!(file = %path.display(), interval_secs = interval, "flow logs on");
    Ok((
        FlowLogTap {
            tx,
            interval_secs: interval,
            cap: 65_536,
        },
        h,
    ))
}

/// Brings every port up, or none (devices already opened close as the Vec drops).
fn bring_up_all(
    plans: &[PortPlan],
    offload: bool,
    queues: usize,
    create: bool,
    created: &mut Namespaces,
) -> Result<Vec<TunPort>, String> {
    let mut ports = Vec::with_capacity(plans.len());
    for p in plans {
        let port = bring_up(p, offload, queues, create, created)
            .map_err(|e| format!("port {}: {e}", p.port_id))?;
        log_port(&port, "port up");
        ports.push(port);
    }
    Ok(ports)
}

/// Queues per device: `--queues`, else one per core (at most 8).
fn queues(args: &RunArgs) -> usize {
    args.queues.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8)
    })
}

fn bring_up(
    p: &PortPlan,
    offload: bool,
    queues: usize,
    create: bool,
    created: &mut Namespaces,
) -> std::io::Result<TunPort> {
    let ns = p.namespace.as_str();
    let mut adopted = false;
    if !io::namespace_exists(ns) {
        if !create {
            return Err(std::io::Error::other(format!(
                "namespace {ns} does not exist (create it, or run with --create-namespaces)"
            )));
        }
        io::ip(&["netns", "add", ns])?;
        owned::record(ns);
        created.0.push(ns.to_string());
    } else if let Some(pid) = owned::owner(ns)
        && pid != std::process::id()
        && !created.0.iter().any(|c| c == ns)
    {
        if owned::is_running_vpcfwd(pid) {
            return Err(std::io::Error::other(format!(
                "namespace {ns} belongs to vpcfwd PID {pid}, which is still running: stop it first (kill {pid})"
            )));
        }
        if create {
            // Left by a vpcfwd that could not clean up (kill -9): ours now, removed on exit.
            tracing::warn!(
                "namespace {ns} was left by vpcfwd PID {pid} (gone): reusing it, removed on exit"
            );
            owned::record(ns);
            created.0.push(ns.to_string());
            adopted = true;
        }
    }
    let exists = || io::ip(&["-n", ns, "link", "show", "dev", &p.device]).is_ok();
    if adopted && exists() {
        // The dead forwarder's own device: a TUN can outlive its process for a moment (io_uring
        // tears its rings down asynchronously, holding the fd). Wait for it, then remove it.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if exists() {
            tracing::warn!(
                "device {} left by the dead forwarder in {ns}: removing it",
                p.device
            );
            let _ = io::ip(&["-n", ns, "link", "delete", &p.device]);
        }
    }
    if exists() {
        return Err(std::io::Error::other(format!(
            "device {} already exists in namespace {ns} (another forwarder on this config?): stop what holds it, or remove it with `ip -n {ns} link delete {}`",
            p.device, p.device
        )));
    }
    io::open_port(p, offload, queues)
}

/// Serves signals, the admin API, the file watch and housekeeping until SIGINT/SIGTERM.
fn control_loop(ctl: &Arc<Control>, listener: Option<std::net::TcpListener>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: control runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let ctl = Arc::clone(ctl);
    rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            eprintln!("error: cannot install signal handlers");
            return ExitCode::from(1);
        };
        if let Some(l) = listener {
            match tokio::net::TcpListener::from_std(l) {
                Ok(listener) => {
                    let addr = listener
                        .local_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    println!("vpcfwd: admin API on http://{addr}");
                    tokio::spawn(admin::serve(listener, Arc::clone(&ctl)));
                }
                Err(e) => {
                    eprintln!("error: admin API on {}: {e}", ctl.args.admin);
                    return ExitCode::from(1);
                }
            }
        }
        println!(
            "vpcfwd: ready ({} ports)",
            ctl.shared.live.load().ports.len()
        );
        let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen = mtime(&ctl.args.config);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: shutting down"); break; }
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = hup.recv() => {
                    let c = Arc::clone(&ctl);
                    tokio::task::spawn_blocking(move || c.reload("SIGHUP"));
                }
                _ = tick.tick() => {
                    let s = &ctl.shared;
                    s.flows.sweep(s.now(), 1024);
                    for p in s.live.load().ports.iter() {
                        p.capture.flush();
                    }
                    if ctl.args.watch {
                        let m = mtime(&ctl.args.config);
                        if m != seen {
                            seen = m;
                            let c = Arc::clone(&ctl);
                            tokio::task::spawn_blocking(move || c.reload("file changed"));
                        }
                    }
                }
            }
        }
        ExitCode::SUCCESS
    })
}

/// `--admin-token`, or the first line of `--admin-token-file`; an empty token is refused.
fn admin_token(args: &RunArgs) -> Result<Option<String>, String> {
    let t = match (&args.admin_token, &args.admin_token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| format!("--admin-token-file {}: {e}", f.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    if t.len() < 16 || t.len() > 256 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the admin token must be 16 to 256 printable ASCII characters (e.g. `openssl rand -hex 32`)"
                .into(),
        );
    }
    Ok(Some(t))
}

impl RunArgs {
    /// Parses `vpcfwd run`'s arguments (without the program and subcommand names): tests.
    pub fn parse_from<I, T>(args: I) -> Result<RunArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct W {
            #[command(flatten)]
            a: RunArgs,
        }
        use clap::Parser;
        let v: Vec<std::ffi::OsString> = std::iter::once("run".into())
            .chain(args.into_iter().map(Into::into))
            .collect();
        W::try_parse_from(v).map(|w| w.a)
    }
}

/// The one-line summary printed at shutdown (scripts read it).
fn report(shared: &Shared) {
    let totals = shared.stats.totals();
    let sum = |name: &str, dir: Option<&str>| -> u64 {
        totals
            .iter()
            .filter(|((n, l), _)| {
                *n == name && dir.is_none_or(|d| l.iter().any(|(k, v)| *k == "direction" && v == d))
            })
            .map(|(_, v)| *v)
            .sum()
    };
    let mut drops = String::new();
    for ((n, l), v) in &totals {
        if *n == "vpcfwd_drops_total"
            && let Some((_, r)) = l.first()
        {
            drops.push_str(&format!(" {r}={v}"));
        }
    }
    eprintln!(
        "vpcfwd: rx={} tx={} tx_errors={} drops:{}",
        sum("vpcfwd_port_packets_total", Some("rx")),
        sum("vpcfwd_port_packets_total", Some("tx")),
        sum("vpcfwd_port_tx_errors_total", None),
        if drops.is_empty() {
            " none".into()
        } else {
            drops
        }
    );
}

fn invalid(errors: &[config::ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}

/// Large allocations (256 KiB and up: a flood's flow-log interval maps and record buffers) are
/// always their own mappings, returned to the system when freed. glibc otherwise raises its
/// mmap threshold to the size of each large block freed (up to 32 MiB), so the next flood's
/// blocks of that size come from a thread's arena and stay resident there after they are freed:
/// a second flood then grew RSS by another 20-30 MB that nothing used (issue 17).
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Pins the calling thread to the `n`-th CPU (modulo those in its affinity mask); a failure is
/// logged and the thread runs unpinned.
fn pin_to_cpu(n: usize) {
    // SAFETY: cpu_set_t is plain data; the calls only read and write the set we pass.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            tracing::warn!(
                "pin: sched_getaffinity: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &allowed))
            .collect();
        let Some(&cpu) = cpus.get(n % cpus.len().max(1)) else {
            return;
        };
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
            tracing::warn!("pin: CPU {cpu}: {}", std::io::Error::last_os_error());
        } else {
            tracing::debug!("worker pinned to CPU {cpu}");
        }
    }
}
