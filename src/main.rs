//! The `vpcfwd` command line: a thin layer over the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vpcfwd::{config, control, io, snapshot};

mod cli_lookup;
mod cli_trace;

#[derive(Parser)]
#[command(
    name = "vpcfwd",
    version,
    about = "Forward real IP packets the way an AWS VPC would"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a config: exit 0 when valid, 2 with every error listed otherwise.
    Check {
        /// Config file (`-`: standard input).
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
    /// Run the pipeline on a synthetic packet and show why it went where it went.
    Trace(cli_trace::TraceArgs),
    /// A config from `aws ec2 describe-*` JSON: files or directories, recognised by content.
    Import(vpcfwd::import::ImportArgs),
    /// The reachability matrix: every source to every destination on each service, the packet
    /// and its reply, and what decided.
    Reach(vpcfwd::reach::cli::ReachArgs),
    /// What changes in reachability between two configs: exit 1 when something that worked
    /// stops working.
    Diff(vpcfwd::reach::cli::DiffArgs),
    /// Run the forwarder: one TUN device per port, until SIGINT/SIGTERM.
    Run(control::RunArgs),
    /// Longest-prefix match of stdin's addresses against a prefix table (the forwarder's FIB):
    /// one `ADDRESS PREFIX NEXT_HOP` line each.
    Lookup(cli_lookup::LookupArgs),
    /// Benchmarks users can run.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// The lab layout of a config: one line per port — id, namespace, device, addresses, and the
    /// resolver its host uses (instances: VPC base + 2; `-` for the others).
    Ports {
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
    /// The flow table of a running forwarder (admin API).
    Flows(control::client::FlowsArgs),
    /// The counters of a running forwarder (admin API): the non-zero Prometheus series.
    Stats(control::client::StatsArgs),
    /// Make a running forwarder reload its config file (admin API): exit 2 if it refused.
    Reload(control::client::AdminArgs),
    /// The topology as Mermaid, Graphviz DOT or SVG; `--trace …` draws a packet's path on top.
    Graph(vpcfwd::graph::cli::GraphArgs),
    /// The web page without a forwarder (trace-only, no root): drawing and traced paths.
    Ui(vpcfwd::ui::UiArgs),
    /// A running forwarder in the terminal (admin API): packets/s, drops, flows, NAT ports.
    Top(vpcfwd::top::TopArgs),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Route lookup: the compiled FIB against prefix-trie (and DPDK with `--features dpdk`).
    Lpm(vpcfwd_bench::BenchLpmArgs),
    /// A config at AWS's maxima (1,000 routes per table, prefix lists of 1,000 entries, 1,000
    /// SG rules per ENI, 20,000 NACL entries): check + compile time and peak RSS.
    ConfigMaxima(vpcfwd_bench::maxima::BenchConfigArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Check { config } => check(config),
        Cmd::Trace(a) => cli_trace::run(a),
        Cmd::Import(a) => vpcfwd::import::run(a),
        Cmd::Reach(a) => vpcfwd::reach::cli::run(a),
        Cmd::Diff(a) => vpcfwd::reach::cli::run_diff(a),
        Cmd::Run(a) => control::run(a),
        Cmd::Lookup(a) => cli_lookup::run(a),
        Cmd::Bench(BenchCmd::Lpm(a)) => vpcfwd_bench::run(a),
        Cmd::Bench(BenchCmd::ConfigMaxima(a)) => vpcfwd_bench::maxima::run(a),
        Cmd::Ports { config } => ports(config),
        Cmd::Flows(a) => control::client::flows(a),
        Cmd::Stats(a) => control::client::stats(a),
        Cmd::Reload(a) => control::client::reload(a),
        Cmd::Graph(a) => vpcfwd::graph::cli::run(a),
        Cmd::Ui(a) => vpcfwd::ui::run(a),
        Cmd::Top(a) => vpcfwd::top::run(a),
    }
}

/// Exit code for an invalid config (clap uses 2 for usage errors too: both mean "fix the input").
const EXIT_INVALID: u8 = 2;

fn check(path: &std::path::Path) -> ExitCode {
    let cfg = match vpcfwd::load::config(path) {
        Ok(c) => c,
        Err(errors) => return report(path, &errors),
    };
    match snapshot::compile(&cfg) {
        Ok(_) => {
            println!(
                "{}: OK ({} VPC, {} subnets, {} route tables, {} security groups, {} network ACLs, {} ENIs, {} endpoints, {} ports)",
                vpcfwd::load::display(path),
                cfg.vpcs.len(),
                cfg.subnets.len(),
                cfg.route_tables.len(),
                cfg.security_groups.len(),
                cfg.network_acls.len(),
                cfg.network_interfaces.len(),
                cfg.vpc_endpoints.len(),
                cfg.ports.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => report(path, &errors),
    }
}

fn report(path: &std::path::Path, errors: &[config::ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!(
        "{}: {} error{}",
        vpcfwd::load::display(path),
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(EXIT_INVALID)
}

fn ports(path: &std::path::Path) -> ExitCode {
    let cfg = match config::load_file(path) {
        Ok(c) => c,
        Err(errors) => return report(path, &errors),
    };
    // Instances resolve through the Amazon-provided resolver (VPC base + 2; an IPv6-only
    // instance, which has no IPv4 address to reach it from, at fd00:ec2::253); other ports: `-`.
    let resolver = cfg
        .vpcs
        .first()
        .map(|v| config::aws::resolver(v.cidr_block));
    for p in io::plan(&cfg) {
        let addrs: Vec<String> = p.addresses.iter().map(|a| a.to_string()).collect();
        let dns = cfg
            .ports
            .iter()
            .find(|x| x.port_id == p.port_id)
            .and_then(|x| x.network_interface_id.as_deref())
            .and_then(|id| {
                let eni = cfg
                    .network_interfaces
                    .iter()
                    .find(|n| n.network_interface_id == id)?;
                match eni.private_ip_address {
                    None if !eni.ipv6_addresses.is_empty() => {
                        Some(std::net::IpAddr::V6(config::aws::RESOLVER_V6))
                    }
                    _ => resolver.map(std::net::IpAddr::V4),
                }
            })
            .map_or_else(|| "-".to_string(), |r| r.to_string());
        println!(
            "{} {} {} {} {dns}",
            p.port_id,
            p.namespace,
            p.device,
            addrs.join(",")
        );
    }
    ExitCode::SUCCESS
}
