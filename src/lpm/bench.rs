//! `vpcfwd bench lpm`: every lookup contender side by side on the same keys.

use std::process::ExitCode;

/// `vpcfwd bench lpm` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchLpmArgs {
    /// Prefix table: one CIDR a line, plain or gzip-compressed.
    #[arg(long)]
    pub table: std::path::PathBuf,
    /// `v4` or `v6`.
    #[arg(long, default_value = "v4")]
    pub family: String,
    /// Number of random lookup keys.
    #[arg(long, default_value_t = 4_000_000)]
    pub keys: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark.
pub fn run(_args: &BenchLpmArgs) -> ExitCode {
    eprintln!("bench lpm: not built yet");
    ExitCode::from(1)
}
