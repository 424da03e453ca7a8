//! `vpcfwd import`: a vpcfwd config from `aws ec2 describe-*` JSON.
//!
//! `input` reads and recognises the files; `network` maps the VPC, subnets and prefix lists;
//! `rules` the security groups and network ACLs; `enis` the ENIs, NAT and internet gateways and
//! endpoints; `routes` the route tables (after their targets); `ports` the synthesised ports;
//! `lab` remaps outside addresses into the documentation ranges (`--lab`); `yaml` writes the
//! config grouped as `configs/lab.yaml` is.
//!
//! Tolerant and honest: whatever could not be mapped as exported, or had to be adjusted, is one
//! line of the [`Report`] (`id: Field: what was done and why`), never silent.

mod addresses;
mod enis;
mod input;
mod json;
pub mod lab;
mod network;
mod ports;
mod routes;
mod rules;
mod yaml;

use crate::config::{self, Config};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

pub use lab::Mapping;

/// `vpcfwd import [-o FILE] [--vpc VPC_ID] [--lab] PATH...`
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// Write the config here instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// The VPC to import when the files hold several.
    #[arg(long = "vpc")]
    pub vpc: Option<String>,
    /// Remap every address outside the VPC's CIDRs into the documentation ranges (mapping written
    /// as a comment at the top) and leave TraceOnly off, so the config runs live in the lab.
    #[arg(long = "lab")]
    pub lab: bool,
    /// describe-* JSON files, or directories of *.json.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// What the import did to the export, one line per object: `id: Field: what and why`.
#[derive(Debug, Default, Clone)]
pub struct Report(pub Vec<String>);

impl Report {
    pub fn note(&mut self, id: &str, field: &str, what: impl AsRef<str>) {
        self.0.push(format!("{id}: {field}: {}", what.as_ref()));
    }
}

/// A finished import.
#[derive(Debug, Clone)]
pub struct Imported {
    pub config: Config,
    /// The config as written (YAML, with the `--lab` mapping comment when remapped).
    pub yaml: String,
    pub report: Report,
    /// `--lab`: where each outside prefix went.
    pub mapping: Option<Mapping>,
}

/// Why no config could be written (exit 2): one message per problem.
#[derive(Debug, Clone)]
pub struct ImportError(pub Vec<String>);

/// Options of one import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub vpc: Option<String>,
    pub lab: bool,
}

/// Reads the paths and builds the config.
pub fn import(paths: &[PathBuf], opts: &Options) -> Result<Imported, ImportError> {
    let mut report = Report::default();
    let inp = input::read(paths, &mut report).map_err(ImportError)?;
    let mut cfg = network::build(&inp, opts.vpc.as_deref(), &mut report)?;
    rules::build(&inp, &mut cfg, &mut report);
    enis::build(&inp, &mut cfg, &mut report);
    routes::build(&inp, &mut cfg, &mut report);
    ports::build(&mut cfg, &mut report);
    network::finish_prefix_lists(&mut cfg, &mut report);
    let mapping = if opts.lab {
        cfg.options.trace_only = false;
        Some(lab::remap(&mut cfg, &mut report).map_err(|e| ImportError(vec![e]))?)
    } else {
        cfg.options.trace_only = true;
        None
    };
    let mut text = String::new();
    match &mapping {
        Some(m) => text.push_str(&m.comment()),
        None => text.push_str(
            "# Imported by `vpcfwd import` from aws ec2 describe-* output. Real AWS addresses:\n\
             # trace-only (`vpcfwd import --lab` remaps them into documentation ranges).\n",
        ),
    }
    text.push_str(&yaml::write(&cfg));
    Ok(Imported {
        config: cfg,
        yaml: text,
        report,
        mapping,
    })
}

/// The CLI: config to stdout or `-o`, report to stderr; 0 when written, 2 otherwise.
pub fn run(a: &ImportArgs) -> ExitCode {
    let opts = Options {
        vpc: a.vpc.clone(),
        lab: a.lab,
    };
    let imp = match import(&a.paths, &opts) {
        Ok(i) => i,
        Err(ImportError(errs)) => {
            for e in errs {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    for l in &imp.report.0 {
        eprintln!("{l}");
    }
    // The written text must load as the config it came from.
    match config::load::parse_str(&imp.yaml, "import") {
        Err(errs) => {
            for e in errs {
                eprintln!("error: internal: the written YAML does not parse: {e}");
            }
            return ExitCode::from(2);
        }
        // What `check` would still refuse (an export AWS itself would not accept): said, and
        // the config written anyway so that it can be fixed by hand.
        Ok(cfg) => {
            let mut errs = config::validate::validate(&cfg);
            if errs.is_empty()
                && let Err(e) = crate::snapshot::compile(&cfg)
            {
                errs = e;
            }
            for e in errs {
                eprintln!("warning: `vpcfwd check` refuses the imported config: {e}");
            }
        }
    }
    match &a.output {
        Some(p) => {
            if let Err(e) = std::fs::write(p, &imp.yaml) {
                eprintln!("error: {}: cannot write: {e}", p.display());
                return ExitCode::from(2);
            }
            eprintln!(
                "{}: written ({} adjustment{} reported)",
                p.display(),
                imp.report.0.len(),
                if imp.report.0.len() == 1 { "" } else { "s" }
            );
        }
        None => print!("{}", imp.yaml),
    }
    ExitCode::SUCCESS
}
