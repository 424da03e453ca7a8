//! Builds the DPDK LPM shim when the `dpdk` feature is on; does nothing otherwise.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    {
        println!("cargo:rerun-if-changed=csrc/dpdk_lpm_shim.c");
        let need = "feature `dpdk` needs libdpdk-dev (apt-get install -y libdpdk-dev)";
        // Include paths first; the link flags are emitted after the shim so that the linker
        // (`--as-needed`) sees DPDK's libraries after the object that uses them.
        let lib = pkg_config::Config::new()
            .cargo_metadata(false)
            .probe("libdpdk")
            .expect(need);
        let mut b = cc::Build::new();
        b.file("csrc/dpdk_lpm_shim.c")
            .opt_level(3)
            .flag("-include")
            .flag("rte_config.h");
        b.flag("-march=native");
        for p in &lib.include_paths {
            b.include(p);
        }
        b.compile("vf_dpdk_lpm_shim");
        pkg_config::Config::new().probe("libdpdk").expect(need);
    }
}
