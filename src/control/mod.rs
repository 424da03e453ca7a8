//! The control plane: start-up, signals, flow-table housekeeping and clean shutdown (tokio), around
//! the data-path workers of `io` (plain threads).

use crate::config;
use crate::flow::FlowTable;
use crate::io::{self, PortPlan, Shared};
use crate::snapshot;
use arc_swap::ArcSwap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// `vpcfwd run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Config file.
    #[arg(short = 'c', long = "config")]
    pub config: std::path::PathBuf,
    /// Create the ports' network namespaces that do not exist (and remove them on exit).
    #[arg(long)]
    pub create_namespaces: bool,
    /// Flow-table bound (default: `Options.FlowTableMaxEntries`, else 262144).
    #[arg(long)]
    pub max_flows: Option<usize>,
    /// Plain devices: no virtio-net header, no TSO/GSO super-packets.
    #[arg(long)]
    pub no_offload: bool,
}

/// Namespaces this process created, removed again on every exit path.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.drain(..) {
            if let Err(e) = io::ip(&["netns", "delete", &ns]) {
                tracing::warn!("removing namespace {ns}: {e}");
            }
        }
    }
}

/// Runs the forwarder until SIGINT/SIGTERM: exit 0 after a clean shutdown, 2 for an invalid
/// config, 1 when the ports cannot be brought up.
pub fn run(args: &RunArgs) -> ExitCode {
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
    let plans = io::plan(&cfg);
    let mut created = Namespaces(Vec::new());
    // Offloads on every port, or on none: bring all ports up with them, and fall back to plain
    // devices when the kernel refuses.
    let mut ports = Vec::new();
    let mut last_err = None;
    for offload in [!args.no_offload, false] {
        match bring_up_all(&plans, offload, args.create_namespaces, &mut created) {
            Ok(p) => {
                ports = p;
                last_err = None;
                break;
            }
            Err(e) => {
                if offload {
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
        .unwrap_or(262_144);
    let shared = Arc::new(Shared {
        ports,
        snapshot: ArcSwap::from_pointee(snap),
        flows: FlowTable::new(max_flows),
        counters: io::Counters::default(),
        stop: Default::default(),
        epoch: Instant::now(),
    });
    let workers: Vec<_> = (0..shared.ports.len())
        .map(|i| {
            let s = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("vf-worker-{i}"))
                .spawn(move || io::worker(s, i))
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    println!("vpcfwd: ready ({} ports)", shared.ports.len());
    let signal = wait_for_shutdown(Arc::clone(&shared));
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    report(&shared);
    tracing::info!("shut down on {signal}; removing devices");
    drop(shared);
    drop(created);
    ExitCode::SUCCESS
}

/// Brings every port up, or none (devices already opened close as the Vec drops).
fn bring_up_all(
    plans: &[PortPlan],
    offload: bool,
    create: bool,
    created: &mut Namespaces,
) -> Result<Vec<io::Port>, String> {
    let mut ports = Vec::with_capacity(plans.len());
    for p in plans {
        let port = bring_up(p, offload, create, created)
            .map_err(|e| format!("port {}: {e}", p.port_id))?;
        tracing::info!(
            port = %p.port_id, namespace = %p.namespace, device = %p.device,
            addresses = ?p.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            offload = if port.vnet { "vnet-hdr, TSO4/6, csum" } else { "none" },
            "port up (single queue)"
        );
        ports.push(port);
    }
    Ok(ports)
}

fn bring_up(
    p: &PortPlan,
    offload: bool,
    create: bool,
    created: &mut Namespaces,
) -> std::io::Result<io::Port> {
    if !io::namespace_exists(&p.namespace) {
        if !create {
            return Err(std::io::Error::other(format!(
                "namespace {} does not exist (create it, or run with --create-namespaces)",
                p.namespace
            )));
        }
        io::ip(&["netns", "add", &p.namespace])?;
        created.0.push(p.namespace.clone());
    }
    io::open_port(p, offload)
}

/// Waits for SIGINT or SIGTERM, sweeping idle flows meanwhile. Returns the signal's name.
fn wait_for_shutdown(shared: Arc<Shared>) -> &'static str {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: control runtime: {e}");
            return "runtime error";
        }
    };
    rt.block_on(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return "signal setup error",
            };
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = term.recv() => return "SIGTERM",
                _ = tick.tick() => {
                    shared.flows.sweep(shared.now(), 1024);
                }
            }
        }
    })
}

fn report(shared: &Shared) {
    let c = &shared.counters;
    let mut drops = String::new();
    for (i, d) in c.drops.iter().enumerate() {
        let n = d.load(Ordering::Relaxed);
        if n > 0 {
            drops.push_str(&format!(" {}={n}", io::drop_code(i)));
        }
    }
    eprintln!(
        "vpcfwd: rx={} tx={} tx_errors={} drops:{}",
        c.rx_packets.load(Ordering::Relaxed),
        c.tx_packets.load(Ordering::Relaxed),
        c.tx_errors.load(Ordering::Relaxed),
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
