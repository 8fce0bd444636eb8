//! Build script: does nothing unless the `dpdk` feature is on. With it, finds the system DPDK
//! through pkg-config (`libdpdk`, Debian's 22.11), generates bindings for an allowlist of the
//! control-path API with bindgen, and compiles `csrc/shim.c`, which gives the `static inline`
//! fast path (bursts, mbuf helpers, rte_errno) a linkable symbol.

fn main() {
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::env;
    use std::path::PathBuf;

    /// DPDK functions called from Rust directly (cold path: init, configuration, stats).
    const FUNCTIONS: &[&str] = &[
        "rte_eal_init",
        "rte_eal_cleanup",
        "rte_strerror",
        "rte_socket_id",
        "rte_thread_register",
        "rte_eth_dev_count_avail",
        "rte_eth_find_next_owned_by",
        "rte_eth_dev_get_port_by_name",
        "rte_eth_dev_get_name_by_port",
        "rte_eth_dev_info_get",
        "rte_eth_dev_configure",
        "rte_eth_dev_adjust_nb_rx_tx_desc",
        "rte_eth_rx_queue_setup",
        "rte_eth_tx_queue_setup",
        "rte_eth_dev_start",
        "rte_eth_dev_stop",
        "rte_eth_dev_close",
        "rte_eth_dev_socket_id",
        "rte_eth_macaddr_get",
        "rte_eth_dev_get_mtu",
        "rte_eth_promiscuous_enable",
        "rte_eth_allmulticast_enable",
        "rte_eth_stats_get",
        "rte_eth_link_get_nowait",
        "rte_pktmbuf_pool_create",
        "rte_mempool_free",
        "shim_.*",
    ];

    /// Structs the allowlisted functions take; everything they reference follows.
    const TYPES: &[&str] = &[
        "rte_eth_conf",
        "rte_eth_dev_info",
        "rte_eth_rxconf",
        "rte_eth_txconf",
        "rte_ether_addr",
        "rte_eth_stats",
        "rte_eth_link",
    ];

    pub fn build() {
        let lib = pkg_config::Config::new()
            .atleast_version("22.11")
            .probe("libdpdk")
            .unwrap_or_else(|e| {
                panic!(
                    "feature `dpdk` needs the system DPDK (Debian: apt-get install libdpdk-dev \
                     pkg-config clang libclang-dev): {e}"
                )
            });
        // pkg-config's cflags carry `-include rte_config.h` and `-march=...`, which both the
        // shim and bindgen need; the pkg-config crate only reports include paths, so ask again.
        let cflags = std::process::Command::new("pkg-config")
            .args(["--cflags", "libdpdk"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let cflags: Vec<String> = split_flags(&cflags);

        let mut cc = cc::Build::new();
        cc.file("csrc/shim.c")
            .include("csrc")
            .opt_level(3)
            .warnings(true);
        for f in &cflags {
            cc.flag(f);
        }
        for p in &lib.include_paths {
            cc.include(p);
        }
        cc.compile("msrp_dpdk_shim");

        let mut b = bindgen::Builder::default()
            .header("csrc/shim.h")
            .clang_args(&cflags)
            .clang_args(
                lib.include_paths
                    .iter()
                    .map(|p| format!("-I{}", p.display())),
            )
            .clang_arg("-Icsrc")
            .allowlist_recursively(true)
            // The mbuf and mempool internals are touched only through the shim.
            .opaque_type("rte_mbuf")
            .opaque_type("rte_mempool")
            .derive_default(true)
            .derive_debug(false)
            .layout_tests(false)
            .generate_comments(false)
            .prepend_enum_name(false)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
        for f in FUNCTIONS {
            b = b.allowlist_function(f);
        }
        for t in TYPES {
            b = b.allowlist_type(t);
        }
        let bindings = b.generate().expect("bindgen failed on csrc/shim.h");
        let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("dpdk_bindings.rs");
        bindings
            .write_to_file(&out)
            .expect("writing the DPDK bindings");

        println!("cargo:rerun-if-changed=csrc/shim.c");
        println!("cargo:rerun-if-changed=csrc/shim.h");
        println!("cargo:rerun-if-changed=build.rs");
    }

    /// Splits a pkg-config flag line, keeping `-include rte_config.h` as two arguments.
    fn split_flags(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }
}
