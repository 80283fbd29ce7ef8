//! Lucet's benchmarks, shared by the criterion benches and the `lucet-bench`
//! report: the workloads ([`workloads`]), Lucet's side ([`lucet`]), the
//! Wasmtime peer's side (`peer`, behind the `peer-wasmtime` feature),
//! interleaved sampling ([`stats`]) and the report tables ([`report`]).

pub mod lucet;
#[cfg(feature = "peer-wasmtime")]
pub mod peer;
pub mod report;
pub mod stats;
pub mod workloads;

/// Resident set size of this process, in bytes (from /proc/self/status).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Where the sightglass programs are: `$LUCET_SIGHTGLASS`, or
/// `../shared/corpora/sightglass` next to the workspace.
pub fn sightglass_dir() -> std::path::PathBuf {
    match std::env::var_os("LUCET_SIGHTGLASS") {
        Some(p) => p.into(),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpora/sightglass"),
    }
}
