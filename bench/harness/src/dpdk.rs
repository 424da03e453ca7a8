//! DPDK 22.11 `rte_lpm` / `rte_lpm6` and `rte_fib` / `rte_fib6` (every lookup type each offers,
//! AVX-512 included) as benchmark baselines (cargo feature `dpdk`), through
//! the C shim in `csrc/dpdk_lpm_shim.c`. The EAL starts once per process without hugepages or
//! devices, with 512-bit vectors allowed (`--no-huge --no-pci --no-shconf --no-telemetry -l 0
//! -m 6144 --force-max-simd-bitwidth=512`).

use crate::Contender;
use ipnet::{Ipv4Net, Ipv6Net};
use std::ffi::{CString, c_char, c_int};
use std::sync::atomic::{AtomicU32, Ordering};
use vpcfwd_core::lpm::NextHop;

#[repr(C)]
struct RteLpm {
    _p: [u8; 0],
}
#[repr(C)]
struct RteLpm6 {
    _p: [u8; 0],
}

#[repr(C)]
struct RteFib {
    _p: [u8; 0],
}
#[repr(C)]
struct RteFib6 {
    _p: [u8; 0],
}

unsafe extern "C" {
    fn vf_fib4_create(name: *const c_char, max_routes: u32, tbl8s: u32, miss: u32) -> *mut RteFib;
    fn vf_fib4_add(f: *mut RteFib, ip: u32, depth: u8, nh: u32) -> c_int;
    fn vf_fib4_select(f: *mut RteFib, ty: c_int) -> c_int;
    fn vf_fib4_free(f: *mut RteFib);
    fn vf_fib4_sum(f: *mut RteFib, keys: *const u32, n: usize, bulk: u32, miss: u32) -> u64;
    fn vf_fib6_create(name: *const c_char, max_routes: u32, tbl8s: u32, miss: u32) -> *mut RteFib6;
    fn vf_fib6_add(f: *mut RteFib6, ip: *const [u8; 16], depth: u8, nh: u32) -> c_int;
    fn vf_fib6_select(f: *mut RteFib6, ty: c_int) -> c_int;
    fn vf_fib6_free(f: *mut RteFib6);
    fn vf_fib6_sum(f: *mut RteFib6, keys: *const [u8; 16], n: usize, bulk: u32, miss: u32) -> u64;
}

unsafe extern "C" {
    fn vf_dpdk_init() -> c_int;
    fn vf_lpm4_create(name: *const c_char, max_rules: u32, tbl8s: u32) -> *mut RteLpm;
    fn vf_lpm4_add(l: *mut RteLpm, ip: u32, depth: u8, nh: u32) -> c_int;
    fn vf_lpm4_free(l: *mut RteLpm);
    fn vf_lpm4_sum_single(l: *const RteLpm, keys: *const u32, n: usize) -> u64;
    fn vf_lpm4_sum_bulk(l: *const RteLpm, keys: *const u32, n: usize) -> u64;
    fn vf_lpm6_create(name: *const c_char, max_rules: u32, tbl8s: u32) -> *mut RteLpm6;
    fn vf_lpm6_add(l: *mut RteLpm6, ip: *const [u8; 16], depth: u8, nh: u32) -> c_int;
    fn vf_lpm6_free(l: *mut RteLpm6);
    fn vf_lpm6_sum_single(l: *const RteLpm6, keys: *const [u8; 16], n: usize) -> u64;
    fn vf_lpm6_sum_bulk(l: *const RteLpm6, keys: *const [u8; 16], n: usize) -> u64;
}

/// As in docs/performance.md: enough for the full Tier-1 table.
const MAX_RULES: u32 = 1 << 21;
const TBL8S_V4: u32 = 1 << 15;
const TBL8S_V6: u32 = 1 << 18;

/// Starts the EAL once per process, even when tables are built from several threads.
fn init() -> Result<(), String> {
    static EAL: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    EAL.get_or_init(|| {
        // SAFETY: called once (OnceLock); failure comes back as a negative errno.
        let r = unsafe { vf_dpdk_init() };
        if r < 0 {
            Err(format!("rte_eal_init failed: errno {}", -r))
        } else {
            Ok(())
        }
    })
    .clone()
}

fn unique_name(base: &str) -> CString {
    static N: AtomicU32 = AtomicU32::new(0);
    CString::new(format!("{base}{}", N.fetch_add(1, Ordering::Relaxed))).expect("no NUL")
}

/// DPDK rejects depth 0: a default route becomes its two halves (/1s), added before every other
/// route so that an explicit /1 still overrides it. For several defaults the last one wins.
fn depth_ge1(
    routes: impl Iterator<Item = (u128, u8, NextHop)> + Clone,
    bits: u32,
) -> impl Iterator<Item = (u128, u8, NextHop)> {
    let default = routes.clone().filter(|r| r.1 == 0).last();
    let halves = default
        .into_iter()
        .flat_map(move |(_, _, nh)| [(0, 1, nh), (1u128 << (bits - 1), 1, nh)]);
    halves.chain(routes.filter(|r| r.1 != 0))
}

/// `rte_lpm` (DIR-24-8) holding a route table.
pub struct Dpdk4 {
    lpm: *mut RteLpm,
}

impl Dpdk4 {
    /// Creates the table and adds every route with `rte_lpm_add` (next hops must fit 24 bits).
    pub fn build(routes: &[(Ipv4Net, NextHop)]) -> Result<Self, String> {
        init()?;
        let name = unique_name("vf4_");
        // SAFETY: `name` is a valid C string; a NULL result is checked.
        let lpm = unsafe { vf_lpm4_create(name.as_ptr(), MAX_RULES, TBL8S_V4) };
        if lpm.is_null() {
            return Err("rte_lpm_create failed".into());
        }
        let d = Dpdk4 { lpm };
        for (ip, len, nh) in depth_ge1(
            routes
                .iter()
                .map(|(p, nh)| (u32::from(p.trunc().addr()) as u128, p.prefix_len(), *nh)),
            32,
        ) {
            let (ip, p) = (
                ip as u32,
                format!("{}/{len}", std::net::Ipv4Addr::from(ip as u32)),
            );
            // SAFETY: `d.lpm` is a live table created above.
            let r = unsafe { vf_lpm4_add(d.lpm, ip, len, nh) };
            if r < 0 {
                return Err(format!("rte_lpm_add {p} -> {nh}: error {r}"));
            }
        }
        Ok(d)
    }
}

impl Drop for Dpdk4 {
    fn drop(&mut self) {
        // SAFETY: created by `vf_lpm4_create`, freed once.
        unsafe { vf_lpm4_free(self.lpm) }
    }
}

impl Contender<u32> for Dpdk4 {
    fn name(&self) -> String {
        "DPDK rte_lpm".into()
    }
    fn single(&self, keys: &[u32]) -> u64 {
        // SAFETY: `keys` is a valid slice of `keys.len()` elements; the table is live.
        unsafe { vf_lpm4_sum_single(self.lpm, keys.as_ptr(), keys.len()) }
    }
    fn batch(&self, keys: &[u32]) -> Option<u64> {
        // SAFETY: as in `single`.
        Some(unsafe { vf_lpm4_sum_bulk(self.lpm, keys.as_ptr(), keys.len()) })
    }
    fn memory_bytes(&self) -> usize {
        // tbl24 (2^24 entries) + the tbl8 pool, 4 bytes an entry; the rule table is not counted.
        (1 << 24) * 4 + TBL8S_V4 as usize * 256 * 4
    }
}

/// `rte_lpm6` holding a route table; keys are converted to byte arrays once, up front.
pub struct Dpdk6 {
    lpm: *mut RteLpm6,
    keys: std::cell::RefCell<(usize, usize, Vec<[u8; 16]>)>,
}

impl Dpdk6 {
    /// Creates the table and adds every route with `rte_lpm6_add`.
    pub fn build(routes: &[(Ipv6Net, NextHop)]) -> Result<Self, String> {
        init()?;
        let name = unique_name("vf6_");
        // SAFETY: `name` is a valid C string; a NULL result is checked.
        let lpm = unsafe { vf_lpm6_create(name.as_ptr(), MAX_RULES, TBL8S_V6) };
        if lpm.is_null() {
            return Err("rte_lpm6_create failed".into());
        }
        let d = Dpdk6 {
            lpm,
            keys: Default::default(),
        };
        for (ip, len, nh) in depth_ge1(
            routes
                .iter()
                .map(|(p, nh)| (u128::from(p.trunc().addr()), p.prefix_len(), *nh)),
            128,
        ) {
            let p = format!("{}/{len}", std::net::Ipv6Addr::from(ip));
            // SAFETY: `d.lpm` is live; the key is 16 bytes.
            let r = unsafe { vf_lpm6_add(d.lpm, &ip.to_be_bytes(), len, nh) };
            if r < 0 {
                return Err(format!("rte_lpm6_add {p} -> {nh}: error {r}"));
            }
        }
        Ok(d)
    }

    /// The keys as network-order bytes, converted once per key set (outside the timed loop
    /// after the first repetition; the first conversion is negligible next to a lookup pass).
    fn with_bytes<R>(&self, keys: &[u128], f: impl FnOnce(&[[u8; 16]]) -> R) -> R {
        let mut c = self.keys.borrow_mut();
        if (c.0, c.1) != (keys.as_ptr() as usize, keys.len()) {
            c.2 = keys.iter().map(|k| k.to_be_bytes()).collect();
            c.0 = keys.as_ptr() as usize;
            c.1 = keys.len();
        }
        f(&c.2)
    }
}

impl Drop for Dpdk6 {
    fn drop(&mut self) {
        // SAFETY: created by `vf_lpm6_create`, freed once.
        unsafe { vf_lpm6_free(self.lpm) }
    }
}

impl Contender<u128> for Dpdk6 {
    fn name(&self) -> String {
        "DPDK rte_lpm6".into()
    }
    fn single(&self, keys: &[u128]) -> u64 {
        self.with_bytes(keys, |b| {
            // SAFETY: `b` is a valid slice of 16-byte keys; the table is live.
            unsafe { vf_lpm6_sum_single(self.lpm, b.as_ptr(), b.len()) }
        })
    }
    fn batch(&self, keys: &[u128]) -> Option<u64> {
        Some(self.with_bytes(keys, |b| {
            // SAFETY: as in `single`.
            unsafe { vf_lpm6_sum_bulk(self.lpm, b.as_ptr(), b.len()) }
        }))
    }
    fn memory_bytes(&self) -> usize {
        // tbl24 (2^24 entries) + the tbl8 pool, 4 bytes an entry.
        (1 << 24) * 4 + TBL8S_V6 as usize * 256 * 4
    }
}

/// The next hop `rte_fib` / `rte_fib6` return for "no route" (`default_nh`): above every next
/// hop the harness assigns (below 2^20), below the 4-byte entries' limit.
const FIB_MISS: u32 = (1 << 24) - 1;
const TBL8S_FIB4: u32 = 1 << 15;
const TBL8S_FIB6: u32 = 1 << 18;

/// `rte_fib`'s lookup types (`enum rte_fib_lookup_type`, DPDK 22.11), the default excluded.
pub const FIB4_TYPES: [(c_int, &str); 4] = [
    (1, "scalar macro"),
    (2, "scalar inline"),
    (3, "scalar uni"),
    (4, "AVX-512"),
];
/// `rte_fib6`'s (`enum rte_fib6_lookup_type`).
pub const FIB6_TYPES: [(c_int, &str); 2] = [(1, "scalar"), (2, "AVX-512")];

/// `rte_fib` (DIR-24-8, 4-byte next hops) with one lookup type selected. It has only a bulk
/// lookup: "single" is a bulk of one key, "batched" bulks of [`crate::BATCH`].
pub struct DpdkFib4 {
    fib: *mut RteFib,
    ty: &'static str,
}

impl DpdkFib4 {
    /// Builds the table and selects lookup type `ty`; an error if this DPDK build or CPU lacks it.
    pub fn build(routes: &[(Ipv4Net, NextHop)], ty: (c_int, &'static str)) -> Result<Self, String> {
        init()?;
        let name = unique_name("vff4_");
        // SAFETY: `name` is a valid C string; a NULL result is checked.
        let fib = unsafe { vf_fib4_create(name.as_ptr(), MAX_RULES, TBL8S_FIB4, FIB_MISS) };
        if fib.is_null() {
            return Err("rte_fib_create failed".into());
        }
        let d = DpdkFib4 { fib, ty: ty.1 };
        for (ip, len, nh) in depth_ge1(
            routes
                .iter()
                .map(|(p, nh)| (u32::from(p.trunc().addr()) as u128, p.prefix_len(), *nh)),
            32,
        ) {
            // SAFETY: `d.fib` is a live table created above.
            let r = unsafe { vf_fib4_add(d.fib, ip as u32, len, nh) };
            if r < 0 {
                let p = std::net::Ipv4Addr::from(ip as u32);
                return Err(format!("rte_fib_add {p}/{len} -> {nh}: error {r}"));
            }
        }
        // SAFETY: `d.fib` is live.
        let r = unsafe { vf_fib4_select(d.fib, ty.0) };
        if r < 0 {
            return Err(format!("rte_fib_select_lookup({}): error {r}", ty.1));
        }
        Ok(d)
    }
}

impl Drop for DpdkFib4 {
    fn drop(&mut self) {
        // SAFETY: created by `vf_fib4_create`, freed once.
        unsafe { vf_fib4_free(self.fib) }
    }
}

impl Contender<u32> for DpdkFib4 {
    fn name(&self) -> String {
        format!("DPDK rte_fib {}", self.ty)
    }
    fn single(&self, keys: &[u32]) -> u64 {
        // SAFETY: `keys` is a valid slice of `keys.len()` elements; the table is live (the
        // lookup only reads it, and reads `keys`).
        unsafe { vf_fib4_sum(self.fib, keys.as_ptr(), keys.len(), 1, FIB_MISS) }
    }
    fn batch(&self, keys: &[u32]) -> Option<u64> {
        // SAFETY: as in `single`; bulks of at most 64 keys (the shim's buffer).
        Some(unsafe {
            vf_fib4_sum(
                self.fib,
                keys.as_ptr(),
                keys.len(),
                crate::BATCH as u32,
                FIB_MISS,
            )
        })
    }
    fn memory_bytes(&self) -> usize {
        // tbl24 (2^24 entries) + the tbl8 pool, 4 bytes an entry; the RIB is not counted.
        (1 << 24) * 4 + TBL8S_FIB4 as usize * 256 * 4
    }
}

/// `rte_fib6` (trie, 4-byte next hops) with one lookup type selected; keys converted to bytes
/// once, as for [`Dpdk6`].
pub struct DpdkFib6 {
    fib: *mut RteFib6,
    ty: &'static str,
    keys: std::cell::RefCell<(usize, usize, Vec<[u8; 16]>)>,
}

impl DpdkFib6 {
    /// Builds the table and selects lookup type `ty`.
    pub fn build(routes: &[(Ipv6Net, NextHop)], ty: (c_int, &'static str)) -> Result<Self, String> {
        init()?;
        let name = unique_name("vff6_");
        // SAFETY: `name` is a valid C string; a NULL result is checked.
        let fib = unsafe { vf_fib6_create(name.as_ptr(), MAX_RULES, TBL8S_FIB6, FIB_MISS) };
        if fib.is_null() {
            return Err("rte_fib6_create failed".into());
        }
        let d = DpdkFib6 {
            fib,
            ty: ty.1,
            keys: Default::default(),
        };
        for (ip, len, nh) in depth_ge1(
            routes
                .iter()
                .map(|(p, nh)| (u128::from(p.trunc().addr()), p.prefix_len(), *nh)),
            128,
        ) {
            // SAFETY: `d.fib` is live; the key is 16 bytes.
            let r = unsafe { vf_fib6_add(d.fib, &ip.to_be_bytes(), len, nh) };
            if r < 0 {
                let p = std::net::Ipv6Addr::from(ip);
                return Err(format!("rte_fib6_add {p}/{len} -> {nh}: error {r}"));
            }
        }
        // SAFETY: `d.fib` is live.
        let r = unsafe { vf_fib6_select(d.fib, ty.0) };
        if r < 0 {
            return Err(format!("rte_fib6_select_lookup({}): error {r}", ty.1));
        }
        Ok(d)
    }

    fn with_bytes<R>(&self, keys: &[u128], f: impl FnOnce(&[[u8; 16]]) -> R) -> R {
        let mut c = self.keys.borrow_mut();
        if (c.0, c.1) != (keys.as_ptr() as usize, keys.len()) {
            c.2 = keys.iter().map(|k| k.to_be_bytes()).collect();
            c.0 = keys.as_ptr() as usize;
            c.1 = keys.len();
        }
        f(&c.2)
    }
}

impl Drop for DpdkFib6 {
    fn drop(&mut self) {
        // SAFETY: created by `vf_fib6_create`, freed once.
        unsafe { vf_fib6_free(self.fib) }
    }
}

impl Contender<u128> for DpdkFib6 {
    fn name(&self) -> String {
        format!("DPDK rte_fib6 {}", self.ty)
    }
    fn single(&self, keys: &[u128]) -> u64 {
        self.with_bytes(keys, |b| {
            // SAFETY: `b` is a valid slice of 16-byte keys; the table is live.
            unsafe { vf_fib6_sum(self.fib, b.as_ptr(), b.len(), 1, FIB_MISS) }
        })
    }
    fn batch(&self, keys: &[u128]) -> Option<u64> {
        Some(self.with_bytes(keys, |b| {
            // SAFETY: as in `single`; bulks of at most 64 keys.
            unsafe { vf_fib6_sum(self.fib, b.as_ptr(), b.len(), crate::BATCH as u32, FIB_MISS) }
        }))
    }
    fn memory_bytes(&self) -> usize {
        // tbl24 (2^24 entries) + the tbl8 pool, 4 bytes an entry.
        (1 << 24) * 4 + TBL8S_FIB6 as usize * 256 * 4
    }
}
