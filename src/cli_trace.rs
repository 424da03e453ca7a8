//! `vpcfwd trace`'s command line: arguments in, the core's `trace` (one packet, a raw packet, a
//! pcap replay) or `trace::scenario` out, exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vpcfwd::graph::cli::PacketArgs;
use vpcfwd::trace::{port_of, replay, run_packet, scenario, trace_with};
use vpcfwd::wire::{BuildOptions, Fragment, pcap, synth, tcp};
use vpcfwd::{config, flow, snapshot};

/// `vpcfwd trace` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// Config file.
    #[arg(short = 'c', long = "config", required_unless_present = "scenario")]
    pub config: Option<PathBuf>,
    /// Where the packet enters: an ENI id (`eni-…`) or a port id.
    #[arg(long, required_unless_present = "scenario")]
    pub from: Option<String>,
    /// Destination address.
    #[arg(long, required_unless_present_any = ["scenario", "packet_hex", "pcap"])]
    pub dst: Option<std::net::IpAddr>,
    #[command(flatten)]
    pub packet: PacketArgs,
    /// TTL / hop limit (default 64).
    #[arg(long)]
    pub ttl: Option<u8>,
    /// TCP flags as letters: `S` (default), `SA`, `A`, `PA`, `FA`, `R`, …
    #[arg(long = "tcp-flags")]
    pub tcp_flags: Option<String>,
    /// An IPv4 fragment: `OFFSET` in bytes (a multiple of 8), `mf,OFFSET` with more-fragments
    /// (`mf,0` is a first fragment).
    #[arg(long)]
    pub fragment: Option<String>,
    /// Total length of the IP packet (the payload is padded with zeros).
    #[arg(long)]
    pub length: Option<usize>,
    /// Payload after the L4 header, in hex.
    #[arg(long = "payload-hex")]
    pub payload_hex: Option<String>,
    /// A whole IP packet in hex, sent as is from `--from`.
    #[arg(long = "packet-hex", conflicts_with_all = ["dst", "pcap", "scenario"])]
    pub packet_hex: Option<String>,
    /// Every packet of a pcap (LINKTYPE_RAW or Ethernet), in order, entering at `--from`, on
    /// one flow table at the capture's timestamps.
    #[arg(long, conflicts_with_all = ["dst", "scenario", "reply"])]
    pub pcap: Option<PathBuf>,
    /// Show what leaves (the forwarded packet or the generated reply) in hex too.
    #[arg(long)]
    pub hex: bool,
    /// Then trace the answer from the far end, through the flow state the packet created
    /// (connection tracking, NAT gateway and PrivateLink translation back).
    #[arg(long)]
    pub reply: bool,
    /// Run a scenario file: steps on one flow table and a simulated clock, with expectations.
    #[arg(long, conflicts_with_all = ["config", "from", "reply", "hex"])]
    pub scenario: Option<PathBuf>,
    /// Print JSON instead of text (several packets or steps: one object a line).
    #[arg(long)]
    pub json: bool,
}

fn fail(errors: &[impl std::fmt::Display]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}

/// Runs `vpcfwd trace`: exit 0 whenever the trace ran (whatever the verdict), 2 for an invalid
/// config or arguments. With `--scenario`: 0 when every expectation held, 1 otherwise (naming
/// the first step that failed), 2 for an invalid scenario.
pub fn run(args: &TraceArgs) -> ExitCode {
    if let Some(s) = &args.scenario {
        return run_scenario(s, args.json);
    }
    let (Some(config_path), Some(from)) = (&args.config, &args.from) else {
        return fail(&["--config and --from are required"]);
    };
    let cfg = match config::load_file(config_path) {
        Ok(c) => c,
        Err(errors) => return fail(&errors),
    };
    let snap = match snapshot::compile(&cfg) {
        Ok(s) => s,
        Err(errors) => return fail(&errors),
    };
    if let Some(p) = &args.pcap {
        return run_pcap(&snap, &cfg, from, p, args);
    }
    if let Some(h) = &args.packet_hex {
        let Some(pkt) = synth::parse_hex(h) else {
            return fail(&["--packet-hex: not an even number of hex digits"]);
        };
        let port = match port_of(&snap, &cfg, from) {
            Ok(p) => p,
            Err(e) => return fail(&[e]),
        };
        let flows = flow::FlowTable::new(1024);
        let t = run_packet(&snap, &flows, &pkt, port, flow::Time::from_secs(1));
        print_one(&t, args, true);
        return ExitCode::SUCCESS;
    }
    let Some(dst) = args.dst else {
        return fail(&["--dst is required"]);
    };
    let opts = match options(args) {
        Ok(o) => o,
        Err(e) => return fail(&[e]),
    };
    let probe = match args.packet.probe(from, dst, args.reply) {
        Ok(p) => p,
        Err(e) => return fail(&[e]),
    };
    match trace_with(&snap, &cfg, &probe, &opts) {
        Ok(t) => {
            // The plain form (no option of the packet itself): output as it always was.
            let full = args.hex || opts != BuildOptions::default();
            print_one(&t, args, full);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&[e]),
    }
}

fn print_one(t: &vpcfwd::trace::Trace, args: &TraceArgs, full: bool) {
    if args.json {
        let v = if full {
            t.json_full(args.hex)
        } else {
            t.json()
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if full {
        print!("{}", t.text_full(args.hex));
    } else {
        print!("{}", t.text());
    }
}

/// `--ttl`, `--tcp-flags`, `--fragment`, `--length`, `--payload-hex`.
fn options(args: &TraceArgs) -> Result<BuildOptions, String> {
    let d = BuildOptions::default();
    let tcp_flags = match &args.tcp_flags {
        Some(f) => tcp::flags::parse(f).ok_or_else(|| {
            format!("--tcp-flags {f:?}: letters of S, A, F, R, P, U, E, C (e.g. S, SA, FA)")
        })?,
        None => d.tcp_flags,
    };
    let fragment = match &args.fragment {
        Some(f) => {
            let (more, off) = match f.strip_prefix("mf,") {
                Some(o) => (true, o),
                None => (false, f.as_str()),
            };
            let offset = off.parse().map_err(|_| {
                format!("--fragment {f:?}: OFFSET or mf,OFFSET (bytes, a multiple of 8)")
            })?;
            Some(Fragment { more, offset })
        }
        None => None,
    };
    let payload = match &args.payload_hex {
        Some(h) => {
            Some(synth::parse_hex(h).ok_or("--payload-hex: not an even number of hex digits")?)
        }
        None => None,
    };
    Ok(BuildOptions {
        ttl: args.ttl.unwrap_or(d.ttl),
        tcp_flags,
        icmp_id: d.icmp_id,
        fragment,
        payload,
        length: args.length,
    })
}

fn run_pcap(
    snap: &snapshot::Snapshot,
    cfg: &config::Config,
    from: &str,
    path: &Path,
    args: &TraceArgs,
) -> ExitCode {
    let port = match port_of(snap, cfg, from) {
        Ok(p) => p,
        Err(e) => return fail(&[e]),
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return fail(&[format!("{}: {e}", path.display())]),
    };
    let records = match pcap::read(&data) {
        Ok(r) => r,
        Err(e) => return fail(&[format!("{}: {e}", path.display())]),
    };
    for step in replay::replay(snap, cfg, port, &records) {
        if args.json {
            println!("{}", step.json(args.hex));
        } else {
            print!("{}", step.text(args.hex));
        }
    }
    ExitCode::SUCCESS
}

fn run_scenario(path: &Path, json: bool) -> ExitCode {
    let sc = match scenario::load(path) {
        Ok(s) => s,
        Err(errors) => return fail(&errors),
    };
    let report = match scenario::run(&sc) {
        Ok(r) => r,
        Err(errors) => {
            return fail(
                &errors
                    .iter()
                    .map(|e| format!("{}: Config: {e}", sc.file))
                    .collect::<Vec<_>>(),
            );
        }
    };
    if json {
        for s in &report.steps {
            println!("{}", s.json());
        }
    } else {
        print!("{}", report.text());
    }
    if let Some(e) = &report.error {
        eprintln!("error: {}: {e}", sc.file);
        return ExitCode::from(2);
    }
    match report.first_failure() {
        Some(f) => {
            eprintln!("error: {}: {f}", sc.file);
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}
