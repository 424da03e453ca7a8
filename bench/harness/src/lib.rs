//! The lookup benchmark harness behind `vpcfwd bench lpm` and the criterion bench: every
//! contender side by side on the same keys. Kept out of the decision core: it reads files, parses
//! arguments and links DPDK, none of which the forwarder needs.
//!
//! Contenders: this crate's Poptrie FIB, prefix-trie's `PrefixMap::get_lpm` (the RIB), and with
//! the `dpdk` cargo feature DPDK's `rte_lpm` / `rte_lpm6` and `rte_fib` / `rte_fib6` (one
//! contender per lookup type: scalar ones and AVX-512). Each repetition runs every contender
//! once, starting with a different one each time (the machine is shared and noisy), and the
//! medians are reported. Every contender must produce the same next-hop checksum on the same
//! keys, or the run fails.
//!
//! Also [`maxima`]: configs at AWS's maxima (`vpcfwd bench config-maxima`: check + compile
//! time and peak RSS).

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod maxima;
pub mod table;

use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::process::ExitCode;
use std::time::Instant;
use table::nh_of;
use vpcfwd_core::lpm::{BatchPath, Fib4, Fib6, NextHop};

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
    /// Key distribution: `uniform` over the address space, or `inside` the table's prefixes.
    /// Default: `uniform` for v4, `inside` for v6 (7/8 of uniform IPv6 keys fall outside
    /// 2000::/3 and end at the root: they say little).
    #[arg(long)]
    pub dist: Option<String>,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
}

/// Width of the batch handed to batched lookups (DPDK's bulk API is measured the same way).
pub const BATCH: usize = 64;

/// Folds one lookup result into a checksum; cheap, so it does not dominate a fast lookup.
#[inline(always)]
pub fn fold(acc: u64, nh: Option<NextHop>) -> u64 {
    acc.wrapping_add(nh.map_or(0, |x| x as u64 + 1))
}

/// One lookup structure under test, for keys of type `K`.
pub trait Contender<K> {
    fn name(&self) -> String;
    /// One `lookup` per key; returns the checksum of the next hops.
    fn single(&self, keys: &[K]) -> u64;
    /// Batched lookups of [`BATCH`] keys; `None` when there is no batch API.
    fn batch(&self, keys: &[K]) -> Option<u64>;
    fn memory_bytes(&self) -> usize;
}

/// This FIB along one batch path (`Auto` for the headline row).
struct PoptrieV4 {
    fib: Fib4,
    path: BatchPath,
    label: &'static str,
}
impl Contender<u32> for PoptrieV4 {
    fn name(&self) -> String {
        format!("vpcfwd Fib4{}", self.label)
    }
    fn single(&self, keys: &[u32]) -> u64 {
        keys.iter().fold(0, |a, k| fold(a, self.fib.lookup_u32(*k)))
    }
    fn batch(&self, keys: &[u32]) -> Option<u64> {
        let mut out = [None; BATCH];
        let mut acc = 0;
        for c in keys.chunks(BATCH) {
            self.fib.lookup_batch_u32_path(self.path, c, &mut out);
            acc = out[..c.len()].iter().fold(acc, |a, o| fold(a, *o));
        }
        Some(acc)
    }
    fn memory_bytes(&self) -> usize {
        self.fib.memory_bytes()
    }
}

/// IPv6 counterpart of [`PoptrieV4`].
struct PoptrieV6 {
    fib: Fib6,
    path: BatchPath,
    label: &'static str,
}
impl Contender<u128> for PoptrieV6 {
    fn name(&self) -> String {
        format!("vpcfwd Fib6{}", self.label)
    }
    fn single(&self, keys: &[u128]) -> u64 {
        keys.iter()
            .fold(0, |a, k| fold(a, self.fib.lookup_u128(*k)))
    }
    fn batch(&self, keys: &[u128]) -> Option<u64> {
        let mut out = [None; BATCH];
        let mut acc = 0;
        for c in keys.chunks(BATCH) {
            self.fib.lookup_batch_u128_path(self.path, c, &mut out);
            acc = out[..c.len()].iter().fold(acc, |a, o| fold(a, *o));
        }
        Some(acc)
    }
    fn memory_bytes(&self) -> usize {
        self.fib.memory_bytes()
    }
}

/// The FIB rows besides the headline: each batch path, and the headline on 4 KiB pages.
const FIB_VARIANTS: [(BatchPath, bool, &str); 5] = [
    (BatchPath::Lockstep, true, " lockstep"),
    (BatchPath::Pipelined, true, " pipelined scalar"),
    (BatchPath::PipelinedAvx512, true, " pipelined AVX-512"),
    (BatchPath::Vector, true, " vector AVX-512"),
    (BatchPath::Auto, false, " 4 KiB pages"),
];

/// Asks the kernel for transparent huge pages under the FIB's lookup array, before it is
/// written (`madvise(MADV_HUGEPAGE)` on the 2 MiB-aligned part of the allocation). Done here,
/// not in the core, which links no libc: [`Fib4::try_build_in`] hands the allocation over.
pub fn advise_huge(buf: &mut [std::mem::MaybeUninit<u32>]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        const MADV_HUGEPAGE: std::ffi::c_int = 14;
        unsafe extern "C" {
            fn madvise(
                addr: *mut std::ffi::c_void,
                len: usize,
                advice: std::ffi::c_int,
            ) -> std::ffi::c_int;
        }
        let start = buf.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(buf);
        let (a, b) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if b > a {
            // SAFETY: `[a, b)` lies inside `buf`, memory this process owns and that no one
            // reads yet; MADV_HUGEPAGE only changes how the kernel backs it, not its contents.
            // A failure (no THP in this kernel) leaves 4 KiB pages, which is fine.
            let _ = unsafe { madvise(a as *mut std::ffi::c_void, b - a, MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// The THP mode and how much of this process is on huge pages (for the report's header).
pub fn thp_state() -> String {
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .unwrap_or_else(|_| "n/a".into());
    let huge = std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!("THP {}, AnonHugePages {huge} kB", mode.trim())
}

struct TrieV4(PrefixMap<Ipv4Net, NextHop>);
impl Contender<u32> for TrieV4 {
    fn name(&self) -> String {
        "prefix-trie get_lpm".into()
    }
    fn single(&self, keys: &[u32]) -> u64 {
        keys.iter().fold(0, |a, k| {
            let p = Ipv4Net::from(std::net::Ipv4Addr::from(*k));
            fold(a, self.0.get_lpm(&p).map(|x| *x.1))
        })
    }
    fn batch(&self, _: &[u32]) -> Option<u64> {
        None
    }
    fn memory_bytes(&self) -> usize {
        self.0.mem_size()
    }
}

struct TrieV6(PrefixMap<Ipv6Net, NextHop>);
impl Contender<u128> for TrieV6 {
    fn name(&self) -> String {
        "prefix-trie get_lpm".into()
    }
    fn single(&self, keys: &[u128]) -> u64 {
        keys.iter().fold(0, |a, k| {
            let p = Ipv6Net::from(std::net::Ipv6Addr::from(*k));
            fold(a, self.0.get_lpm(&p).map(|x| *x.1))
        })
    }
    fn batch(&self, _: &[u128]) -> Option<u64> {
        None
    }
    fn memory_bytes(&self) -> usize {
        self.0.mem_size()
    }
}

/// Routes of a table with deterministic next hops (a hash of the prefix, below 2^20).
pub fn routes_v4(t: &table::PrefixTable) -> Vec<(Ipv4Net, NextHop)> {
    t.v4.iter()
        .map(|p| {
            (
                *p,
                nh_of(u32::from(p.trunc().addr()) as u128, p.prefix_len()),
            )
        })
        .collect()
}

/// IPv6 counterpart of [`routes_v4`].
pub fn routes_v6(t: &table::PrefixTable) -> Vec<(Ipv6Net, NextHop)> {
    t.v6.iter()
        .map(|p| (*p, nh_of(u128::from(p.trunc().addr()), p.prefix_len())))
        .collect()
}

/// splitmix64: reproducible keys.
pub struct KeyRng(pub u64);
impl KeyRng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `n` IPv4 keys: uniform, or a uniform address inside a uniformly chosen prefix.
pub fn keys_v4(routes: &[(Ipv4Net, NextHop)], n: usize, inside: bool, seed: u64) -> Vec<u32> {
    let mut rng = KeyRng(seed);
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            if inside && !routes.is_empty() {
                let p = routes[(r >> 32) as usize % routes.len()].0;
                u32::from(p.network()) | (r as u32 & !u32::from(p.netmask()))
            } else {
                r as u32
            }
        })
        .collect()
}

/// IPv6 counterpart of [`keys_v4`].
pub fn keys_v6(routes: &[(Ipv6Net, NextHop)], n: usize, inside: bool, seed: u64) -> Vec<u128> {
    let mut rng = KeyRng(seed);
    (0..n)
        .map(|_| {
            let r = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
            if inside && !routes.is_empty() {
                let p = routes[(r >> 64) as usize % routes.len()].0;
                u128::from(p.network()) | (r & !u128::from(p.netmask()))
            } else {
                r
            }
        })
        .collect()
}

/// Contenders with their build time in seconds; the first is the reference.
pub type Contenders<K> = Vec<(Box<dyn Contender<K>>, f64)>;

/// Result of one contender.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub single_lookups_per_s: f64,
    pub batch_lookups_per_s: Option<f64>,
    pub memory_bytes: usize,
    pub build_s: f64,
    pub checksum: u64,
    /// This FIB's single-lookup rate divided by this contender's.
    pub fib_speedup_single: f64,
    /// This FIB's batched rate divided by this contender's (batched, or single if it has none).
    pub fib_speedup_batch: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `reps` rounds over all contenders (alternating who goes first), checks the checksums
/// and returns one row per contender; the first contender is the reference.
fn measure<K>(cs: &Contenders<K>, keys: &[K], reps: usize) -> Result<Vec<Row>, String> {
    let n = cs.len();
    let mut single = vec![Vec::new(); n];
    let mut batch = vec![Vec::new(); n];
    let mut sums = vec![0u64; n];
    for rep in 0..reps.max(1) {
        for j in 0..n {
            let i = (j + rep) % n;
            let c = &cs[i].0;
            let t = Instant::now();
            let s = c.single(keys);
            single[i].push(keys.len() as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            if let Some(b) = c.batch(keys) {
                batch[i].push(keys.len() as f64 / t.elapsed().as_secs_f64());
                if b != s {
                    return Err(format!("{}: batched checksum {b} != single {s}", c.name()));
                }
            }
            sums[i] = s;
        }
    }
    for i in 1..n {
        if sums[i] != sums[0] {
            return Err(format!(
                "checksum mismatch: {} = {}, {} = {}",
                cs[0].0.name(),
                sums[0],
                cs[i].0.name(),
                sums[i]
            ));
        }
    }
    let s: Vec<f64> = single.iter_mut().map(|v| median(v)).collect();
    let b: Vec<Option<f64>> = batch
        .iter_mut()
        .map(|v| (!v.is_empty()).then(|| median(v)))
        .collect();
    let fib_b = b[0].unwrap_or(s[0]);
    Ok((0..n)
        .map(|i| Row {
            name: cs[i].0.name(),
            single_lookups_per_s: s[i],
            batch_lookups_per_s: b[i],
            memory_bytes: cs[i].0.memory_bytes(),
            build_s: cs[i].1,
            checksum: sums[i],
            fib_speedup_single: s[0] / s[i],
            fib_speedup_batch: fib_b / b[i].unwrap_or(s[i]),
        })
        .collect())
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let x = f();
    (x, t.elapsed().as_secs_f64())
}

/// Builds the IPv4 contenders (this FIB first).
pub fn contenders_v4(routes: &[(Ipv4Net, NextHop)]) -> Result<Contenders<u32>, String> {
    let k = vpcfwd_core::lpm::default_direct_bits(routes.len());
    let build = |huge: bool| {
        timed(|| {
            Fib4::try_build_in(routes, k, |b| {
                if huge {
                    advise_huge(b)
                }
            })
        })
    };
    let (fib, t) = build(true);
    let fib = fib.map_err(|e| e.to_string())?;
    let head = PoptrieV4 {
        fib,
        path: BatchPath::Auto,
        label: "",
    };
    let mut v: Vec<(Box<dyn Contender<u32>>, f64)> = vec![(Box::new(head), t)];
    for (path, huge, label) in FIB_VARIANTS {
        let (fib, t) = build(huge);
        let fib = fib.map_err(|e| e.to_string())?;
        v.push((Box::new(PoptrieV4 { fib, path, label }), t));
    }
    let (rib, t) = timed(|| {
        let mut m = PrefixMap::new();
        for (p, nh) in routes {
            m.insert(p.trunc(), *nh);
        }
        m
    });
    v.push((Box::new(TrieV4(rib)), t));
    #[cfg(feature = "dpdk")]
    {
        let (d, t) = timed(|| crate::dpdk::Dpdk4::build(routes));
        v.push((Box::new(d?), t));
        for ty in crate::dpdk::FIB4_TYPES {
            let (d, t) = timed(|| crate::dpdk::DpdkFib4::build(routes, ty));
            v.push((Box::new(d?), t));
        }
    }
    Ok(v)
}

/// Builds the IPv6 contenders (this FIB first).
pub fn contenders_v6(routes: &[(Ipv6Net, NextHop)]) -> Result<Contenders<u128>, String> {
    let k = vpcfwd_core::lpm::default_direct_bits(routes.len());
    let build = |huge: bool| {
        timed(|| {
            Fib6::try_build_in(routes, k, |b| {
                if huge {
                    advise_huge(b)
                }
            })
        })
    };
    let (fib, t) = build(true);
    let fib = fib.map_err(|e| e.to_string())?;
    let head = PoptrieV6 {
        fib,
        path: BatchPath::Auto,
        label: "",
    };
    let mut v: Vec<(Box<dyn Contender<u128>>, f64)> = vec![(Box::new(head), t)];
    for (path, huge, label) in FIB_VARIANTS {
        let (fib, t) = build(huge);
        let fib = fib.map_err(|e| e.to_string())?;
        v.push((Box::new(PoptrieV6 { fib, path, label }), t));
    }
    let (rib, t) = timed(|| {
        let mut m = PrefixMap::new();
        for (p, nh) in routes {
            m.insert(p.trunc(), *nh);
        }
        m
    });
    v.push((Box::new(TrieV6(rib)), t));
    #[cfg(feature = "dpdk")]
    {
        let (d, t) = timed(|| crate::dpdk::Dpdk6::build(routes));
        v.push((Box::new(d?), t));
        for ty in crate::dpdk::FIB6_TYPES {
            let (d, t) = timed(|| crate::dpdk::DpdkFib6::build(routes, ty));
            v.push((Box::new(d?), t));
        }
    }
    Ok(v)
}

/// Runs the benchmark.
pub fn run(args: &BenchLpmArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench lpm: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &BenchLpmArgs) -> Result<(), String> {
    let dist = args.dist.clone().unwrap_or_else(|| {
        if args.family == "v6" {
            "inside"
        } else {
            "uniform"
        }
        .into()
    });
    let inside = match dist.as_str() {
        "uniform" => false,
        "inside" => true,
        d => return Err(format!("--dist {d}: expected uniform or inside")),
    };
    let t = table::read(&args.table).map_err(|e| e.to_string())?;
    let keys = args.keys.max(1);
    // The path `Auto` takes depends on the family and the table's size (one more build).
    let (count, rows, path) = match args.family.as_str() {
        "v4" => {
            let routes = routes_v4(&t);
            let cs = contenders_v4(&routes)?;
            let k = keys_v4(&routes, keys, inside, 42);
            let path = Fib4::try_build(&routes)
                .map_err(|e| e.to_string())?
                .batch_path();
            (routes.len(), measure(&cs, &k, args.reps)?, path)
        }
        "v6" => {
            let routes = routes_v6(&t);
            let cs = contenders_v6(&routes)?;
            let k = keys_v6(&routes, keys, inside, 42);
            let path = Fib6::try_build(&routes)
                .map_err(|e| e.to_string())?
                .batch_path();
            (routes.len(), measure(&cs, &k, args.reps)?, path)
        }
        f => return Err(format!("--family {f}: expected v4 or v6")),
    };
    let thp = thp_state();
    if args.json {
        let v = serde_json::json!({
            "table": args.table, "family": args.family, "routes": count, "keys": keys,
            "thp": thp, "batch_path": format!("{path:?}"),
            "dist": dist, "reps": args.reps, "contenders": rows,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "{} {} routes, {} {} keys, median of {} reps; speedup = this FIB's rate / contender's",
        args.family, count, keys, dist, args.reps
    );
    println!("{thp}; FIB batch path (Auto) {path:?}");
    println!(
        "{:<30} {:>12} {:>12} {:>12} {:>9} {:>9} {:>9} {:>20}",
        "contender",
        "single M/s",
        "batch M/s",
        "memory B",
        "build s",
        "spd 1",
        "spd batch",
        "checksum"
    );
    for r in &rows {
        println!(
            "{:<30} {:>12.1} {:>12} {:>12} {:>9.3} {:>8.2}x {:>8.2}x {:>20}",
            r.name,
            r.single_lookups_per_s / 1e6,
            r.batch_lookups_per_s
                .map_or("-".into(), |b| format!("{:.1}", b / 1e6)),
            r.memory_bytes,
            r.build_s,
            r.fib_speedup_single,
            r.fib_speedup_batch,
            r.checksum
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A contender that answers one key wrongly.
    struct OffByOne(Fib4);
    impl Contender<u32> for OffByOne {
        fn name(&self) -> String {
            "broken".into()
        }
        fn single(&self, keys: &[u32]) -> u64 {
            keys.iter()
                .fold(0, |a, k| fold(a, self.0.lookup_u32(*k)))
                .wrapping_add(1)
        }
        fn batch(&self, keys: &[u32]) -> Option<u64> {
            Some(self.single(keys))
        }
        fn memory_bytes(&self) -> usize {
            0
        }
    }

    fn routes() -> Vec<(Ipv4Net, NextHop)> {
        vec![
            ("0.0.0.0/0".parse().unwrap(), 1),
            ("10.0.0.0/8".parse().unwrap(), 2),
        ]
    }

    #[test]
    fn agreeing_contenders_share_a_checksum() {
        let r = routes();
        let keys = keys_v4(&r, 1000, false, 3);
        let rows = measure(&contenders_v4(&r).unwrap(), &keys, 2).unwrap();
        assert!(rows.len() >= 2);
        assert!(rows.iter().all(|x| x.checksum == rows[0].checksum));
        assert_eq!(rows[0].fib_speedup_single, 1.0);
    }

    #[test]
    fn a_disagreeing_contender_fails_the_run() {
        let r = routes();
        let keys = keys_v4(&r, 1000, false, 3);
        let mut cs = contenders_v4(&r).unwrap();
        cs.push((Box::new(OffByOne(Fib4::build(&r))), 0.0));
        let e = measure(&cs, &keys, 1).unwrap_err();
        assert!(
            e.contains("checksum mismatch") && e.contains("broken"),
            "{e}"
        );
    }
}
