//! One FIB, one batch path, one key set, nothing else: for `valgrind --tool=callgrind`
//! (instruction and branch-miss counts where timings are too noisy).
//! `lpm_probe TABLE v4|v6 uniform|inside KEYS lockstep|pipelined|avx512|vector|single|none`
use std::path::Path;
use vpcfwd_bench::{fold, keys_v4, keys_v6, routes_v4, routes_v6, table};
use vpcfwd_core::lpm::{BatchPath, Fib4, Fib6};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let t = table::read(Path::new(&a[1])).expect("table");
    let inside = a[3] == "inside";
    let n: usize = a[4].parse().expect("keys");
    let path = match a[5].as_str() {
        "lockstep" => Some(BatchPath::Lockstep),
        "pipelined" => Some(BatchPath::Pipelined),
        "avx512" => Some(BatchPath::PipelinedAvx512),
        "vector" => Some(BatchPath::Vector),
        _ => None,
    };
    let mut acc = 0u64;
    let start = std::time::Instant::now();
    if a[2] == "v6" {
        let mut r = routes_v6(&t);
        if std::env::var_os("SHORT").is_some() {
            // Without the prefixes past /64: the top-64-bit trie.
            r.retain(|(p, _)| p.prefix_len() <= 64);
        }
        let fib = Fib6::build(&r);
        eprintln!("long prefixes {}", fib.has_long_prefixes());
        let keys = keys_v6(&r, n, inside, 7);
        let mut out = [None; 64];
        for c in keys.chunks(64) {
            match path {
                Some(p) => {
                    fib.lookup_batch_u128_path(p, c, &mut out[..c.len()]);
                }
                None if a[5] == "none" => {
                    for (o, k) in out.iter_mut().zip(c) {
                        *o = Some(*k as u32);
                    }
                }
                None => {
                    for (o, k) in out.iter_mut().zip(c) {
                        *o = fib.lookup_u128(*k);
                    }
                }
            }
            acc = out[..c.len()].iter().fold(acc, |a, x| fold(a, *x));
        }
    } else {
        let r = routes_v4(&t);
        let fib = Fib4::build(&r);
        let keys = keys_v4(&r, n, inside, 7);
        let mut out = [None; 64];
        for c in keys.chunks(64) {
            match path {
                Some(p) => {
                    fib.lookup_batch_u32_path(p, c, &mut out[..c.len()]);
                }
                None if a[5] == "none" => {
                    for (o, k) in out.iter_mut().zip(c) {
                        *o = Some(*k);
                    }
                }
                None => {
                    for (o, k) in out.iter_mut().zip(c) {
                        *o = fib.lookup_u32(*k);
                    }
                }
            }
            acc = out[..c.len()].iter().fold(acc, |a, x| fold(a, *x));
        }
    }
    println!("{acc} {:?}", start.elapsed());
}
