//! The control plane (tokio): start-up, signals, clean shutdown, reload, admin.

use std::process::ExitCode;

/// `vpcfwd run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Config file.
    #[arg(short = 'c', long = "config")]
    pub config: std::path::PathBuf,
}

/// Runs the forwarder until SIGINT/SIGTERM.
pub fn run(_args: &RunArgs) -> ExitCode {
    eprintln!("run: not built yet");
    ExitCode::from(1)
}
