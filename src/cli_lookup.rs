//! `vpcfwd lookup`: longest-prefix match of addresses read on stdin against a prefix table,
//! through the forwarder's own FIB (`lpm::Fib4` / `Fib6`) — `ip route get fibmatch` over a
//! table of your own, and the side `scripts/kernel-oracle.sh` compares with the kernel.

use std::io::{BufRead, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vpcfwd::lpm::{Fib4, Fib6, NextHop};
use vpcfwd_bench::table::{self, RouteTable};

/// `vpcfwd lookup` arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Input: one IPv4 or IPv6 address a line on stdin (blank lines and `#` comments skipped).
Output: one line per address, `ADDRESS PREFIX NEXT_HOP`, or `ADDRESS - -` when no prefix
covers it. PREFIX is the longest matching prefix of the table (host bits cleared); NEXT_HOP is
the next hop its table line names, or the prefix itself when the line names none. A prefix
listed twice: the last line wins. Exit 0; 2 for an unreadable table or a line that is not an
address (named with its line number).")]
pub struct LookupArgs {
    /// Prefix table: one `PREFIX [[via] NEXT_HOP]` a line (NEXT_HOP: one word, e.g. an address
    /// or a device), plain or gzip-compressed (`.gz`), blank lines and `#` comments skipped.
    #[arg(short = 't', long = "table", value_name = "FILE")]
    pub table: PathBuf,
}

/// The compiled table: both FIBs map to an index into the table's own lines.
pub struct Lookup {
    t: RouteTable,
    v4: Fib4,
    v6: Fib6,
}

impl Lookup {
    pub fn new(t: RouteTable) -> Self {
        let idx = |i: usize| NextHop::try_from(i).expect("table under 2^31 lines");
        let r4: Vec<_> =
            t.v4.iter()
                .enumerate()
                .map(|(i, r)| (r.0, idx(i)))
                .collect();
        let r6: Vec<_> =
            t.v6.iter()
                .enumerate()
                .map(|(i, r)| (r.0, idx(i)))
                .collect();
        Lookup {
            v4: Fib4::build(&r4),
            v6: Fib6::build(&r6),
            t,
        }
    }

    /// The answer line for `a` (without the newline).
    pub fn answer(&self, a: IpAddr, out: &mut impl Write) -> std::io::Result<()> {
        match a {
            IpAddr::V4(x) => match self.v4.lookup(x) {
                Some(i) => {
                    let (p, nh) = &self.t.v4[i as usize];
                    let p = p.trunc();
                    match nh {
                        Some(h) => write!(out, "{a} {p} {h}"),
                        None => write!(out, "{a} {p} {p}"),
                    }
                }
                None => write!(out, "{a} - -"),
            },
            IpAddr::V6(x) => match self.v6.lookup(x) {
                Some(i) => {
                    let (p, nh) = &self.t.v6[i as usize];
                    let p = p.trunc();
                    match nh {
                        Some(h) => write!(out, "{a} {p} {h}"),
                        None => write!(out, "{a} {p} {p}"),
                    }
                }
                None => write!(out, "{a} - -"),
            },
        }
    }
}

pub fn run(a: &LookupArgs) -> ExitCode {
    let t = match table::read_routes(&a.table) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if t.v4.len() + t.v6.len() >= vpcfwd::lpm::MAX_NEXT_HOP as usize {
        eprintln!("error: {}: too many prefixes", a.table.display());
        return ExitCode::from(2);
    }
    let l = Lookup::new(t);
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    for (n, line) in stdin.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: stdin: {e}");
                return ExitCode::from(2);
            }
        };
        let s = line.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let Ok(addr) = s.parse::<IpAddr>() else {
            let _ = out.flush();
            eprintln!(
                "error: stdin:{}: not an IP address: {:?}",
                n + 1,
                s.chars().take(80).collect::<String>()
            );
            return ExitCode::from(2);
        };
        if l.answer(addr, &mut out)
            .and_then(|()| out.write_all(b"\n"))
            .is_err()
        {
            // The reader went away (e.g. `| head`): nothing more to say.
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
