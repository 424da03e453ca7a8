//! `vpcfwd graph -c FILE [--format mermaid|dot|svg] [--trace TRACE-ARGS…]`.

use crate::trace::{Probe, parse_proto, trace};
use crate::wire::{IpProtocol, icmp};
use crate::{config, snapshot};
use clap::Parser;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
    Svg,
}

/// `vpcfwd graph` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// Config file.
    #[arg(short = 'c', long = "config")]
    pub config: std::path::PathBuf,
    /// Output format (svg needs Graphviz's `dot`).
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: Format,
    /// Draw the path of a packet on top: `vpcfwd trace`'s arguments (--from, --dst, --proto,
    /// --sport, --dport, --src, --icmp-type, --icmp-code, --reply). Must come last.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "TRACE-ARGS")]
    pub trace: Option<Vec<String>>,
}

/// A packet's fields as flags, beside `--from` and `--dst`: `vpcfwd trace`, `graph --trace` and
/// the web page take the same ones, with the same defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct PacketArgs {
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
}

impl PacketArgs {
    /// The probe entering at `from` for `dst`, with the defaults (sport 49152, dport 80, echo
    /// request of `dst`'s family).
    pub fn probe(&self, from: &str, dst: std::net::IpAddr, reply: bool) -> Result<Probe, String> {
        let proto = parse_proto(&self.proto, dst.is_ipv6()).ok_or_else(|| {
            format!(
                "--proto {:?}: expected tcp, udp, icmp, icmpv6 or a number",
                self.proto
            )
        })?;
        let default_type = if proto == IpProtocol::Icmpv6 {
            icmp::v6::ECHO_REQUEST
        } else {
            icmp::v4::ECHO_REQUEST
        };
        Ok(Probe {
            from: from.to_string(),
            src: self.src,
            dst,
            proto,
            sport: self.sport.unwrap_or(49152),
            dport: self.dport.unwrap_or(80),
            icmp: (
                self.icmp_type.unwrap_or(default_type),
                self.icmp_code.unwrap_or(0),
            ),
            reply,
        })
    }
}

/// The packet of a trace, as `vpcfwd trace` takes it (without `-c`).
#[derive(Debug, Clone, Parser)]
#[command(name = "--trace", no_binary_name = true)]
pub struct ProbeArgs {
    /// Where the packet enters: an ENI id (`eni-…`) or a port id.
    #[arg(long)]
    pub from: String,
    /// Destination address.
    #[arg(long)]
    pub dst: std::net::IpAddr,
    #[command(flatten)]
    pub packet: PacketArgs,
    /// Then trace the answer from the far end.
    #[arg(long)]
    pub reply: bool,
}

impl ProbeArgs {
    pub fn probe(&self) -> Result<Probe, String> {
        self.packet.probe(&self.from, self.dst, self.reply)
    }
}

/// Loads and compiles a config, printing its errors.
pub fn load(path: &std::path::Path) -> Result<(config::Config, snapshot::Snapshot), ExitCode> {
    let cfg = config::load_file(path).map_err(|errors| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        ExitCode::from(2)
    })?;
    let snap = snapshot::compile(&cfg).map_err(|errors| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        ExitCode::from(2)
    })?;
    Ok((cfg, snap))
}

/// Runs `vpcfwd graph`: 0 with the drawing on stdout; 2 for an invalid config or arguments;
/// 1 when `--format svg` has no Graphviz.
pub fn run(a: &GraphArgs) -> ExitCode {
    let (cfg, snap) = match load(&a.config) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let g = super::build(&cfg);
    let path = match &a.trace {
        None => None,
        Some(args) => {
            let pa = match ProbeArgs::try_parse_from(args) {
                Ok(p) => p,
                Err(e) => {
                    eprint!("{e}");
                    return ExitCode::from(2);
                }
            };
            let t = pa.probe().and_then(|p| trace(&snap, &cfg, &p));
            match t {
                Ok(t) => Some(super::path(&g, &t)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let dot = super::dot(&g, path.as_ref());
    match a.format {
        Format::Mermaid => print!("{}", super::mermaid(&g, path.as_ref())),
        Format::Dot => print!("{dot}"),
        Format::Svg => match super::svg(&dot) {
            Ok(s) => print!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
    }
    ExitCode::SUCCESS
}
