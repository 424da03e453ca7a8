//! `vpcfwd trace`: builds a synthetic packet and runs the very same pipeline code on it,
//! recording every stage.

use std::process::ExitCode;

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
    /// `tcp`, `udp`, `icmp` or a protocol number.
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    #[arg(long)]
    pub sport: Option<u16>,
    #[arg(long)]
    pub dport: Option<u16>,
    #[arg(long = "icmp-type")]
    pub icmp_type: Option<u8>,
    #[arg(long = "icmp-code")]
    pub icmp_code: Option<u8>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vpcfwd trace`.
pub fn run(_args: &TraceArgs) -> ExitCode {
    eprintln!("trace: not built yet");
    ExitCode::from(1)
}
