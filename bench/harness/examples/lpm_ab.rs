//! Batch paths of one FIB, alternated over many rounds on the same keys; the best round of
//! each (the least disturbed by other work on a shared machine) and checksums.
//! `lpm_ab TABLE v4|v6 uniform|inside KEYS ROUNDS`
use std::path::Path;
use std::time::Instant;
use vpcfwd_bench::{fold, keys_v4, keys_v6, routes_v4, routes_v6, table};
use vpcfwd_core::lpm::{BatchPath, Fib4, Fib6, NextHop};

const PATHS: [BatchPath; 4] = [
    BatchPath::Lockstep,
    BatchPath::Pipelined,
    BatchPath::PipelinedAvx512,
    BatchPath::Vector,
];

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let t = table::read(Path::new(&a[1])).expect("table");
    let inside = a[3] == "inside";
    let n: usize = a[4].parse().expect("keys");
    let rounds: usize = a[5].parse().expect("rounds");
    let mut best = [f64::MAX; PATHS.len() + 1];
    let mut sums = [0u64; PATHS.len() + 1];
    let mut out: Vec<Option<NextHop>> = vec![None; n];
    let v6 = a[2] == "v6";
    let (r4, r6) = if v6 {
        (vec![], routes_v6(&t))
    } else {
        (routes_v4(&t), vec![])
    };
    let (f4, f6) = (Fib4::build(&r4), Fib6::build(&r6));
    let k4 = if v6 {
        vec![]
    } else {
        keys_v4(&r4, n, inside, 7)
    };
    let k6 = if v6 {
        keys_v6(&r6, n, inside, 7)
    } else {
        vec![]
    };
    for _ in 0..rounds {
        for (i, p) in PATHS.iter().map(Some).chain([None]).enumerate() {
            let s = Instant::now();
            if v6 {
                for (c, o) in k6.chunks(64).zip(out.chunks_mut(64)) {
                    match p {
                        Some(p) => {
                            f6.lookup_batch_u128_path(*p, c, o);
                        }
                        None => o
                            .iter_mut()
                            .zip(c)
                            .for_each(|(o, k)| *o = f6.lookup_u128(*k)),
                    }
                }
            } else {
                for (c, o) in k4.chunks(64).zip(out.chunks_mut(64)) {
                    match p {
                        Some(p) => {
                            f4.lookup_batch_u32_path(*p, c, o);
                        }
                        None => o
                            .iter_mut()
                            .zip(c)
                            .for_each(|(o, k)| *o = f4.lookup_u32(*k)),
                    }
                }
            }
            best[i] = best[i].min(s.elapsed().as_secs_f64());
            sums[i] = out.iter().fold(0, |a, x| fold(a, *x));
        }
    }
    for (i, name) in PATHS
        .iter()
        .map(|p| format!("{p:?}"))
        .chain(["single".into()])
        .enumerate()
    {
        println!(
            "{} {} {name:16} {:7.1} M/s  {:5.2}x lockstep  sum {}",
            a[2],
            a[3],
            n as f64 / best[i] / 1e6,
            best[0] / best[i],
            sums[i]
        );
    }
}
