//! `vpcfwd reach` and `vpcfwd diff` on the command line.

use super::{Matrix, Selection, Service, diff, reach};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Which services, sources and destinations (shared by `reach` and `diff`).
#[derive(Debug, Clone, clap::Args)]
pub struct Selectors {
    /// Services: TCP ports, tcp/N, udp/N, icmp (comma-separated).
    #[arg(long, default_value = "22,80,443,icmp")]
    pub ports: String,
    /// Only these sources: port ids, ENI, internet gateway or endpoint ids.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub from: Vec<String>,
    /// Only these destinations: ENI, endpoint, prefix-list or port ids, or addresses.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub to: Vec<String>,
}

impl Selectors {
    fn selection(&self) -> Result<Selection, String> {
        Ok(Selection {
            services: Service::parse_list(&self.ports)?,
            from: self.from.clone(),
            to: self.to.clone(),
        })
    }
}

/// `vpcfwd reach` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReachArgs {
    /// Config file (`-`: standard input).
    #[arg(short = 'c', long = "config")]
    pub config: PathBuf,
    #[command(flatten)]
    pub select: Selectors,
    /// Every connection as JSON.
    #[arg(long, group = "format")]
    pub json: bool,
    /// Every connection as CSV.
    #[arg(long, group = "format")]
    pub csv: bool,
    /// The tables as Markdown.
    #[arg(long, group = "format")]
    pub markdown: bool,
}

/// `vpcfwd diff` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The old config, then the new one (`-c OLD -c NEW`; one of them may be `-`).
    #[arg(short = 'c', long = "config", num_args = 1, required = true)]
    pub config: Vec<PathBuf>,
    #[command(flatten)]
    pub select: Selectors,
    /// The changes as JSON (the exit code is the same).
    #[arg(long)]
    pub json: bool,
}

const EXIT_INVALID: u8 = 2;

/// Loads, compiles and traces one config; errors are printed.
fn matrix(path: &Path, sel: &Selection) -> Result<Matrix, ExitCode> {
    let name = crate::load::display(path);
    let fail = |errors: Vec<String>| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        ExitCode::from(EXIT_INVALID)
    };
    let cfg =
        crate::load::config(path).map_err(|e| fail(e.iter().map(ToString::to_string).collect()))?;
    let snap = crate::snapshot::compile(&cfg)
        .map_err(|e| fail(e.iter().map(ToString::to_string).collect()))?;
    let t0 = Instant::now();
    let m = reach(&cfg, &snap, sel).map_err(|e| fail(vec![e]))?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "reach {name}: {} connections, {} packets traced in {:.1} ms ({:.0} traces/s)",
        m.counts().0,
        m.traces,
        secs * 1e3,
        m.traces as f64 / secs.max(1e-9)
    );
    Ok(m)
}

/// Runs `vpcfwd reach`: exit 0 when the matrix was computed, 2 for an invalid config or
/// arguments.
pub fn run(a: &ReachArgs) -> ExitCode {
    let sel = match a.select.selection() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let m = match matrix(&a.config, &sel) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let name = crate::load::display(&a.config);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&m.json(&name)).unwrap_or_default()
        );
    } else if a.csv {
        print!("{}", m.csv());
    } else if a.markdown {
        print!("{}", m.markdown(&name));
    } else {
        print!("{}", m.text(&name));
    }
    ExitCode::SUCCESS
}

/// Runs `vpcfwd diff`: exit 1 when a connection that worked stops working, 0 otherwise, 2 for
/// an invalid config or arguments.
pub fn run_diff(a: &DiffArgs) -> ExitCode {
    let [old, new] = a.config.as_slice() else {
        eprintln!("error: diff takes two configs: -c OLD -c NEW");
        return ExitCode::from(EXIT_INVALID);
    };
    if crate::load::is_stdin(old) && crate::load::is_stdin(new) {
        eprintln!("error: only one of the configs can be standard input");
        return ExitCode::from(EXIT_INVALID);
    }
    let sel = match a.select.selection() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let (mo, mn) = match (matrix(old, &sel), matrix(new, &sel)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let changes = diff::diff(&mo, &mn);
    let broken = changes.iter().filter(|c| c.broken).count();
    if a.json {
        let list: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| {
                serde_json::json!({"from": c.from, "to": c.to, "address": c.address,
                    "service": c.service, "old": c.old, "new": c.new, "broken": c.broken,
                    "line": c.line})
            })
            .collect();
        let v = serde_json::json!({
            "old": crate::load::display(old),
            "new": crate::load::display(new),
            "changed": changes.len(),
            "broken": broken,
            "changes": list,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return if broken > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
    }
    for c in &changes {
        println!("{}", c.line);
    }
    println!(
        "diff {} → {}: {} connection{} changed, {broken} stopped working",
        crate::load::display(old),
        crate::load::display(new),
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    );
    if broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
