//! The Compute rows of `lucet-bench serve`: each row's servers started in
//! processes of their own ([`compute`]), loaded in turn, and reported as a
//! table (and JSON).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use super::compute::{self, ChildServer, RssSampler};
use super::load;

/// The settings of the Compute rows.
pub struct Settings {
    /// Connections for the hello and streaming rows.
    pub connections: usize,
    /// Connections (and requests held at once) for the proxy rows.
    pub crowd: usize,
    /// Measured time per server, row and round.
    pub duration: Duration,
    /// Rounds of the load rows (medians reported); the burst row runs once.
    pub rounds: usize,
    /// Worker threads of lucet-serve.
    pub workers: usize,
    /// Threads of the load generator.
    pub client_threads: usize,
    /// Viceroy's binary, if there is one.
    pub viceroy: Option<PathBuf>,
    /// Only the servers whose name contains this.
    pub only: Option<String>,
    /// Only the rows whose name contains this.
    pub row: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum App {
    Rust,
    Js,
}

enum Kind {
    /// Keep `connections` busy for the duration.
    Load,
    /// All at once, once.
    Burst,
}

struct RowSpec {
    name: String,
    app: App,
    path: String,
    expect_len: usize,
    connections: usize,
    kind: Kind,
}

struct Server {
    name: &'static str,
    app: Option<App>,
    child: ChildServer,
    /// Its own origin, alive as long as it is.
    _origin: ChildServer,
}

impl Server {
    fn serves(&self, app: App) -> bool {
        self.app.map_or(true, |a| a == app)
    }
}

/// Runs the rows and prints their table; returns them as JSON.
pub fn run(s: &Settings) -> Result<Vec<serde_json::Value>> {
    compute::raise_nofile_limit();
    let dir = std::env::temp_dir().join(format!("lucet-bench-compute-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Each server has an origin in a process (and with descriptors) of
    // its own: 8,000 held requests cost the client 8,000 sockets and the
    // origin as many again, and the connections a server keeps open to
    // its origin after its rows would otherwise take the next server's.
    let mut next_origin = 0;
    let mut own_origin = || -> Result<(ChildServer, PathBuf)> {
        let origin = compute::spawn_self(&["serve-child", "origin"])?;
        let dir = dir.join(format!("origin-{next_origin}"));
        next_origin += 1;
        std::fs::create_dir_all(&dir)?;
        let toml = compute::write_fastly_toml(&dir, origin.addr)?;
        Ok((origin, toml))
    };
    let apps = compute::apps_dir();
    let rust_app = apps.join("rust_app.wasm");
    let js_app = apps.join("js_app.wasm");
    let stream_kib = 1024;
    let rows = [
        RowSpec {
            name: "Rust hello".into(),
            app: App::Rust,
            path: "/hello".into(),
            expect_len: compute::RUST_HELLO.len(),
            connections: s.connections,
            kind: Kind::Load,
        },
        RowSpec {
            name: "JavaScript hello".into(),
            app: App::Js,
            path: "/hello".into(),
            expect_len: compute::JS_HELLO.len(),
            connections: s.connections,
            kind: Kind::Load,
        },
        RowSpec {
            name: format!("Rust proxy, 100 ms origin, {} connections", s.crowd),
            app: App::Rust,
            path: "/proxy/ms/100".into(),
            expect_len: compute::ORIGIN_BODY.len(),
            connections: s.crowd,
            kind: Kind::Load,
        },
        RowSpec {
            name: "Rust 1 MiB streamed".into(),
            app: App::Rust,
            path: format!("/stream?chunks={stream_kib}"),
            expect_len: stream_kib << 10,
            connections: s.connections,
            kind: Kind::Load,
        },
        RowSpec {
            name: format!("Rust proxy, {} held at once on a 1 s origin", s.crowd),
            app: App::Rust,
            path: "/proxy/ms/1000".into(),
            expect_len: compute::ORIGIN_BODY.len(),
            connections: s.crowd,
            kind: Kind::Burst,
        },
    ];
    let rows: Vec<RowSpec> = rows
        .into_iter()
        .filter(|r| s.row.as_ref().map_or(true, |w| r.name.contains(w.as_str())))
        .collect();
    let wanted = |name: &str| s.only.as_ref().map_or(true, |o| name.contains(o.as_str()));
    let path_arg = |p: &PathBuf| p.to_string_lossy().into_owned();
    let mut servers = Vec::new();
    for (app, file) in [(App::Rust, &rust_app), (App::Js, &js_app)] {
        if !rows.iter().any(|r| r.app == app) {
            continue;
        }
        if wanted("lucet-serve") {
            let (origin, toml) = own_origin()?;
            let workers = s.workers.to_string();
            let child = compute::spawn_self(&[
                "serve-child",
                "lucet",
                &path_arg(file),
                "--fastly-toml",
                &path_arg(&toml),
                "--workers",
                &workers,
            ])?;
            servers.push(Server {
                name: "lucet-serve",
                app: Some(app),
                child,
                _origin: origin,
            });
        }
        if let Some(bin) = s.viceroy.as_ref().filter(|_| wanted("viceroy")) {
            let (origin, toml) = own_origin()?;
            servers.push(Server {
                name: "Viceroy",
                app: Some(app),
                child: compute::spawn_viceroy(bin, file, &toml)?,
                _origin: origin,
            });
        }
    }
    if wanted("plain hyper") && rows.iter().any(|r| r.app == App::Rust) {
        let (origin, _) = own_origin()?;
        let origin_arg = origin.addr.to_string();
        let threads = s.workers.to_string();
        servers.push(Server {
            name: "plain hyper",
            app: Some(App::Rust),
            child: compute::spawn_self(&[
                "serve-child",
                "plain",
                "--origin",
                &origin_arg,
                "--workers",
                &threads,
            ])?,
            _origin: origin,
        });
    }
    if servers.is_empty() || rows.is_empty() {
        bail!("--only/--handler leave no Compute row to measure");
    }
    println!(
        "\nCompute apps ({} connections; proxy rows {}; {} s x {} rounds per load row, medians; {} lucet-serve workers)\n",
        s.connections,
        s.crowd,
        s.duration.as_secs_f64(),
        s.rounds,
        s.workers
    );
    println!("| row | server | requests/s | p50 | p99 | p99.9 | errors | peak memory (PSS) per request in flight |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for row in &rows {
        for server in servers.iter().filter(|sv| sv.serves(row.app)) {
            let m = measure(server, row, s)?;
            let memory = match m.memory_per_request_kib {
                Some(k) => format!("{k:.0} KiB"),
                None => "?".into(),
            };
            let rate = match row.kind {
                Kind::Load => format!("{:.0}", m.rps),
                Kind::Burst => format!("all in {:.2} s", m.elapsed_s),
            };
            println!(
                "| {} | {} | {rate} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {memory} |",
                row.name,
                server.name,
                m.p50_us / 1000.0,
                m.p99_us / 1000.0,
                m.p999_us / 1000.0,
                m.errors,
            );
            json.push(serde_json::json!({
                "row": row.name,
                "server": server.name,
                "rps": m.rps,
                "elapsed_s": m.elapsed_s,
                "p50_us": m.p50_us,
                "p99_us": m.p99_us,
                "p999_us": m.p999_us,
                "errors": m.errors,
                "memory_per_request_kib": m.memory_per_request_kib,
            }));
        }
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json)
}

struct Measured {
    rps: f64,
    elapsed_s: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    errors: u64,
    memory_per_request_kib: Option<f64>,
}

fn measure(server: &Server, row: &RowSpec, s: &Settings) -> Result<Measured> {
    let addr: SocketAddr = server.child.addr;
    let pid = server.child.pid();
    // Let the connections of the row before close.
    std::thread::sleep(Duration::from_millis(500));
    let idle = compute::memory_kib(pid);
    let sampler = RssSampler::start(pid);
    let m = match row.kind {
        Kind::Load => {
            let warmup = Duration::from_millis(if row.connections > 1000 { 3000 } else { 500 });
            let mut runs: Vec<load::LoadResult> = (0..s.rounds)
                .map(|_| {
                    load::run(
                        addr,
                        &row.path,
                        row.connections,
                        warmup,
                        s.duration,
                        row.expect_len,
                        s.client_threads,
                    )
                })
                .collect();
            let median = |v: &mut Vec<load::LoadResult>, f: fn(&load::LoadResult) -> f64| {
                let mut xs: Vec<f64> = v.iter().map(f).collect();
                xs.sort_by(f64::total_cmp);
                xs[xs.len() / 2]
            };
            Measured {
                rps: median(&mut runs, |r| r.rps),
                elapsed_s: 0.0,
                p50_us: median(&mut runs, |r| r.p50_us),
                p99_us: median(&mut runs, |r| r.p99_us),
                p999_us: median(&mut runs, |r| r.p999_us),
                errors: runs.iter().map(|r| r.errors).sum(),
                memory_per_request_kib: None,
            }
        }
        Kind::Burst => {
            let b = compute::burst(
                addr,
                &row.path,
                row.connections,
                row.expect_len,
                Duration::from_secs(60),
                s.client_threads,
            );
            if b.errors > 0 {
                eprintln!("{} / {}: failures {:?}", server.name, row.name, b.failures);
            }
            Measured {
                rps: 0.0,
                elapsed_s: b.elapsed.as_secs_f64(),
                p50_us: b.p50_us,
                p99_us: b.p99_us,
                p999_us: b.p999_us,
                errors: b.errors,
                memory_per_request_kib: None,
            }
        }
    };
    let peak = sampler.finish();
    Ok(Measured {
        memory_per_request_kib: idle
            .map(|idle| peak.saturating_sub(idle) as f64 / row.connections as f64),
        ..m
    })
}
