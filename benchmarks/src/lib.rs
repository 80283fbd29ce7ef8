//! Lucet's benchmarks, shared by the criterion benches and the `lucet-bench`
//! report: the workloads ([`workloads`]), Lucet's side ([`lucet`]), the
//! Wasmtime peer's side (`peer`, behind the `peer-wasmtime` feature),
//! interleaved sampling ([`stats`]) and the report tables ([`report`]).

pub mod load;
pub mod lucet;
#[cfg(feature = "peer-wasmtime")]
pub mod peer;
pub mod report;
pub mod serve;
pub mod stats;
pub mod workloads;

/// What one run of a program measured and printed.
pub struct Outcome {
    pub instantiate_ns: f64,
    pub bench_ns: f64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// How long after a request from another thread an endless run stops:
/// `request` runs on a new thread 500 µs into `run` (which must return
/// only when stopped), and the result is the time from just before the
/// request to `run`'s return, in nanoseconds. `run` says whether it was
/// stopped (rather than failing otherwise); `request` whether it took.
pub fn stop_latency_ns(
    run: impl FnOnce() -> bool,
    request: impl FnOnce() -> bool + Send + 'static,
) -> Option<f64> {
    let requester = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_micros(500));
        let asked = std::time::Instant::now();
        (asked, request())
    });
    let stopped_ok = run();
    let stopped = std::time::Instant::now();
    let (asked, took) = requester.join().expect("requesting thread");
    (stopped_ok && took).then(|| stopped.duration_since(asked).as_nanos() as f64)
}

/// Resident set size of this process, in bytes (from /proc/self/status).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Where the real programs of `benchmarks/programs` are, built (by its
/// `build.sh`) with their expected output.
pub fn programs_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("programs/wasm")
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
