//! The component rows of `lucet-bench serve`: the `wasi:http/proxy`
//! components of `examples/components/` (the Rust hello built for
//! `wasm32-wasip2`, the JavaScript hello built with `componentize-js`)
//! served by `lucet-serve` and by `wasmtime serve`, each in a process of
//! its own, loaded in turn.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};

use super::compute::{self, ChildServer};
use super::load;

/// The settings of the component rows.
pub struct Settings {
    /// Connections kept busy.
    pub connections: usize,
    /// Measured time per server, row and round.
    pub duration: Duration,
    /// Rounds per row (medians reported).
    pub rounds: usize,
    /// Worker threads of lucet-serve.
    pub workers: usize,
    /// Threads of the load generator.
    pub client_threads: usize,
    /// `wasmtime` (wasmtime-cli), if there is one.
    pub wasmtime: Option<PathBuf>,
    /// Only the servers whose name contains this.
    pub only: Option<String>,
    /// Only the rows whose name contains this.
    pub row: Option<String>,
}

/// The bundled components.
fn components_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/components")
}

struct Row {
    name: &'static str,
    file: &'static str,
    body: &'static str,
}

const ROWS: [Row; 2] = [
    Row {
        name: "Rust hello component",
        file: "hello-http.wasm",
        body: "hello from a component: GET /hello\n",
    },
    Row {
        name: "JavaScript hello component",
        file: "hello-js.wasm",
        body: "hello from a JavaScript component: GET /hello\n",
    },
];

/// Runs the rows and prints their table; returns them as JSON.
pub fn run(s: &Settings) -> Result<Vec<serde_json::Value>> {
    compute::raise_nofile_limit();
    let wanted = |name: &str| s.only.as_ref().map_or(true, |o| name.contains(o.as_str()));
    let rows: Vec<&Row> = ROWS
        .iter()
        .filter(|r| s.row.as_ref().map_or(true, |w| r.name.contains(w.as_str())))
        .collect();
    if rows.is_empty() {
        bail!("--handler leaves no component row to measure");
    }
    println!(
        "\nComponents ({} connections; {} s x {} rounds per row, medians; {} lucet-serve workers)\n",
        s.connections,
        s.duration.as_secs_f64(),
        s.rounds,
        s.workers
    );
    println!("| row | server | requests/s | p50 | p99 | p99.9 | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for row in rows {
        let file = components_dir().join(row.file);
        let path = file.to_string_lossy().into_owned();
        let mut servers: Vec<(&str, ChildServer)> = Vec::new();
        if wanted("lucet-serve") {
            let workers = s.workers.to_string();
            let child =
                compute::spawn_self(&["serve-child", "lucet", &path, "--workers", &workers])?;
            servers.push(("lucet-serve", child));
        }
        if let Some(bin) = s.wasmtime.as_ref().filter(|_| wanted("wasmtime")) {
            servers.push(("wasmtime serve", compute::spawn_wasmtime_serve(bin, &file)?));
        }
        for (name, server) in &servers {
            // Let the connections of the row before close.
            std::thread::sleep(Duration::from_millis(500));
            let mut runs: Vec<load::LoadResult> = (0..s.rounds)
                .map(|_| {
                    load::run(
                        server.addr,
                        "/hello",
                        s.connections,
                        Duration::from_millis(500),
                        s.duration,
                        row.body.len(),
                        s.client_threads,
                    )
                })
                .collect();
            let median = |v: &mut Vec<load::LoadResult>, f: fn(&load::LoadResult) -> f64| {
                let mut xs: Vec<f64> = v.iter().map(f).collect();
                xs.sort_by(f64::total_cmp);
                xs[xs.len() / 2]
            };
            let rps = median(&mut runs, |r| r.rps);
            let p50 = median(&mut runs, |r| r.p50_us);
            let p99 = median(&mut runs, |r| r.p99_us);
            let p999 = median(&mut runs, |r| r.p999_us);
            let errors: u64 = runs.iter().map(|r| r.errors).sum();
            println!(
                "| {} | {name} | {rps:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {errors} |",
                row.name,
                p50 / 1000.0,
                p99 / 1000.0,
                p999 / 1000.0,
            );
            json.push(serde_json::json!({
                "row": row.name,
                "server": name,
                "rps": rps,
                "p50_us": p50,
                "p99_us": p99,
                "p999_us": p999,
                "errors": errors,
            }));
        }
    }
    Ok(json)
}
