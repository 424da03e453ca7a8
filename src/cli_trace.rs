//! `vpcfwd trace`'s command line: arguments in, the core's `trace` out, exit code.

use std::process::ExitCode;
use vpcfwd::trace::{Probe, parse_proto, trace};
use vpcfwd::wire::{IpProtocol, icmp};
use vpcfwd::{config, snapshot};

/// `vpcfwd trace` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// Config file.
    #[arg(short = 'c', long = "config")]
    pub config: std::path::PathBuf,
    /// Where the packet enters: an ENI id (`eni-…`) or a port id.
    #[arg(long)]
    pub from: String,
    /// Destination address.
    #[arg(long)]
    pub dst: std::net::IpAddr,
    /// Source address (default: the ENI's primary address, or the port's first address).
    #[arg(long)]
    pub src: Option<std::net::IpAddr>,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    /// Source port (default 49152).
    #[arg(long)]
    pub sport: Option<u16>,
    /// Destination port (default 80).
    #[arg(long)]
    pub dport: Option<u16>,
    /// ICMP type (default: echo request).
    #[arg(long = "icmp-type")]
    pub icmp_type: Option<u8>,
    /// ICMP code (default 0).
    #[arg(long = "icmp-code")]
    pub icmp_code: Option<u8>,
    /// Then trace the answer from the far end, through the flow state the packet created
    /// (connection tracking, NAT gateway and PrivateLink translation back).
    #[arg(long)]
    pub reply: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vpcfwd trace`: exit 0 whenever the trace ran (whatever the verdict), 2 for an invalid
/// config or arguments.
pub fn run(args: &TraceArgs) -> ExitCode {
    let cfg = match config::load_file(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let snap = match snapshot::compile(&cfg) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let Some(proto) = parse_proto(&args.proto, args.dst.is_ipv6()) else {
        eprintln!(
            "error: --proto {:?}: expected tcp, udp, icmp, icmpv6 or a number",
            args.proto
        );
        return ExitCode::from(2);
    };
    let default_type = if proto == IpProtocol::Icmpv6 {
        icmp::v6::ECHO_REQUEST
    } else {
        icmp::v4::ECHO_REQUEST
    };
    let probe = Probe {
        from: args.from.clone(),
        src: args.src,
        dst: args.dst,
        proto,
        sport: args.sport.unwrap_or(49152),
        dport: args.dport.unwrap_or(80),
        icmp: (
            args.icmp_type.unwrap_or(default_type),
            args.icmp_code.unwrap_or(0),
        ),
        reply: args.reply,
    };
    match trace(&snap, &cfg, &probe) {
        Ok(t) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&t.json()).unwrap_or_default()
                );
            } else {
                print!("{}", t.text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
