//! `lucet-bench`: Lucet against Wasmtime (the peer), measured in the same
//! run, interleaved, with the ratio per row.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use benchmarks::report::{self, Density, Row};
use benchmarks::stats::{interleaved, Stats};
use benchmarks::{lucet, workloads};
use clap::{Parser, Subcommand};

/// The allocator of the lucet-serve binary, so that the servers measured
/// here allocate as deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Compare Lucet with Wasmtime (built with `--features peer-wasmtime`).
#[derive(Parser)]
#[command(
    after_help = "Example:\n  cargo run --release -p benchmarks --features peer-wasmtime --bin lucet-bench -- instantiate --json bench.json"
)]
struct Args {
    #[command(subcommand)]
    what: What,
    /// Also write the rows as JSON to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Samples per row (medians are over samples).
    #[arg(long, global = true, default_value_t = 15)]
    samples: usize,
}

#[derive(Subcommand)]
enum What {
    /// Instantiation, short runs, host calls, yields, traps.
    Instantiate,
    /// The sightglass programs and the real programs of
    /// `benchmarks/programs`: compile, instantiate, and the span between
    /// bench.start and bench.end; output is checked.
    Execute {
        /// Runs per program.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Only the programs whose path contains this.
        #[arg(long, value_name = "TEXT")]
        only: Option<String>,
        /// Compile without interrupt checks (as `lucetc
        /// --no-interrupt-checks`): shows what the checks cost.
        #[arg(long)]
        no_interrupt_checks: bool,
        /// Compile with instruction counting (as `lucetc
        /// --count-instructions`), without a fuel limit: shows what
        /// counting costs.
        #[arg(long)]
        count_instructions: bool,
        /// Lucet's optimization level (as `lucetc --opt-level`).
        #[arg(long, value_enum, default_value_t = Opt::None)]
        opt_level: Opt,
        /// Which programs: the shared sightglass set, the real programs of
        /// `benchmarks/programs`, or both.
        #[arg(long, value_enum, default_value_t = Corpus::All)]
        corpus: Corpus,
    },
    /// Heap reset: zeroing dirty pages with memset (they stay resident)
    /// against giving them back with madvise, by dirty size; Lucet only.
    Reset,
    /// Stopping an infinite loop from another thread: time from the request
    /// (kill switch; Wasmtime: epoch increment) to the run's return.
    Interrupt {
        /// Stops measured per side.
        #[arg(long, default_value_t = 200)]
        trials: usize,
    },
    /// HTTP serving: requests per second and latency of lucet-serve, the
    /// same server with Wasmtime as the engine, and a plain hyper server
    /// answering the same bytes, each loaded in turn by the same client,
    /// for `rounds` interleaved rounds (medians reported).
    Serve {
        /// Keep-alive connections the client keeps busy.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds measured per server, handler and round.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Rounds (each server once per round and handler).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Worker threads of the servers that run WebAssembly.
        #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
        workers: usize,
        /// Threads of the load generator.
        #[arg(long, default_value_t = 1)]
        client_threads: usize,
        /// Only the servers whose name contains this (for profiling one).
        #[arg(long, value_name = "TEXT")]
        only: Option<String>,
        /// Only the handlers (and Compute rows) whose name contains this.
        #[arg(long, value_name = "TEXT")]
        handler: Option<String>,
        /// Which part: the WAGI handlers, the Compute apps, the components,
        /// or all.
        #[arg(long, value_enum, default_value_t = ServePart::All)]
        part: ServePart,
        /// Connections of the Compute proxy rows (each request in flight
        /// holds two sockets in every process on its way).
        #[arg(long, default_value_t = 8000)]
        crowd: usize,
        /// Viceroy's binary, for the Compute rows [default:
        /// $LUCET_BENCH_VICEROY, else ~/.cache/lucet-bench/viceroy-0.22.0/bin/viceroy
        /// if it exists]
        #[arg(long, value_name = "PATH")]
        viceroy: Option<PathBuf>,
        /// `wasmtime` (the wasmtime-cli binary), for the component rows
        /// [default: $LUCET_BENCH_WASMTIME, else
        /// ~/.cache/lucet-bench/wasmtime-cli-48.0.8/bin/wasmtime if it exists]
        #[arg(long, value_name = "PATH")]
        wasmtime: Option<PathBuf>,
    },
    /// (Used by `serve`.) A server for the Compute rows in this fresh
    /// process: `lucet APP` (lucet-serve), `plain` (hyper without
    /// WebAssembly) or `origin` (the origin alone, for experiments); prints
    /// its address and runs until standard input closes.
    #[command(hide = true)]
    ServeChild {
        kind: String,
        app: Option<PathBuf>,
        #[arg(long)]
        fastly_toml: Option<PathBuf>,
        #[arg(long)]
        origin: Option<std::net::SocketAddr>,
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Loading compiled files of a 1 MiB and a 24 MiB program: time (hash
    /// checked; hash and signature checked) and resident memory before the
    /// first run, against Wasmtime's `Module::deserialize_file`.
    Load,
    /// (Used by `load`.) Loads PATH eight times in this fresh process with
    /// ENGINE (`lucet`, `wasmtime`) and prints the resident bytes each load
    /// added.
    #[command(hide = true)]
    LoadRss {
        engine: String,
        path: std::path::PathBuf,
    },
    /// WebAssembly GC: binary trees and a linked list (time per run, one
    /// long-lived instance each, 256 MiB GC heap for Lucet), against
    /// Wasmtime with GC on; the reset of a Lucet instance that allocated
    /// 1 MiB of GC objects; and Lucet's copying and mark-compact
    /// collectors against each other.
    Gc {
        /// Depth of the binary trees.
        #[arg(long, default_value_t = 18)]
        depth: u32,
        /// Nodes of the linked list.
        #[arg(long, default_value_t = 1_000_000)]
        list: u32,
    },
    /// Live instances that have run and yielded: RSS per instance.
    Density {
        /// How many live instances.
        #[arg(long, default_value_t = 10_000)]
        instances: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Corpus {
    /// `../shared/corpora/sightglass`.
    Sightglass,
    /// `benchmarks/programs` (built by its `build.sh`).
    Programs,
    /// Both.
    All,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Opt {
    None,
    Speed,
    SpeedAndSize,
}

fn row(name: &str, (lucet, peer): (Stats, Option<Stats>)) -> Row {
    Row {
        name: name.to_string(),
        lucet,
        peer,
        density: None,
    }
}

/// Runs `a` (and `b`) interleaved; `b` only with the peer built in.
#[allow(unused_mut, unused_variables)]
fn measure(
    samples: usize,
    iters: u64,
    mut a: impl FnMut(),
    b: impl FnMut(),
) -> (Stats, Option<Stats>) {
    #[cfg(feature = "peer-wasmtime")]
    {
        let mut b = b;
        interleaved(samples, iters, &mut a, Some(&mut b))
    }
    #[cfg(not(feature = "peer-wasmtime"))]
    {
        interleaved(samples, iters, &mut a, None)
    }
}

#[cfg(feature = "peer-wasmtime")]
mod peer_side {
    pub use benchmarks::peer::*;
}

fn instantiate_rows(samples: usize) -> Vec<Row> {
    let region = lucet::region(64);
    #[cfg(feature = "peer-wasmtime")]
    let engine = peer_side::engine(256);

    let mut rows = Vec::new();
    let cases: Vec<(&str, String, u64)> = vec![
        (
            "instantiate/empty module",
            workloads::EMPTY.to_string(),
            2000,
        ),
        (
            "instantiate/64 KiB of data",
            workloads::data(64 << 10),
            1000,
        ),
        ("instantiate/1 MiB of data", workloads::data(1 << 20), 1000),
        (
            "instantiate/10,000 functions and table",
            workloads::many_functions(10_000),
            100,
        ),
    ];
    for (name, wat, iters) in &cases {
        let module = lucet::load(wat);
        #[cfg(feature = "peer-wasmtime")]
        let pre = peer_side::pre(&engine, wat);
        rows.push(row(
            name,
            measure(
                samples,
                *iters,
                || lucet::instantiate(&region, &module),
                || {
                    #[cfg(feature = "peer-wasmtime")]
                    peer_side::instantiate(&engine, &pre)
                },
            ),
        ));
    }

    // A component against its app's core module alone: what merging its
    // shims and adapters adds to instantiating it (Lucet both; no peer).
    let (component, app) = lucet::hello_component();
    for (name, module) in [
        ("instantiate/Rust hello component (wasi:http)", &component),
        ("instantiate/its app's core module alone", &app),
    ] {
        let (stats, _) = interleaved(
            samples,
            1000,
            &mut || lucet::instantiate(&region, module),
            None,
        );
        rows.push(row(name, (stats, None)));
    }

    let module = lucet::load(workloads::HANDLER_64K);
    #[cfg(feature = "peer-wasmtime")]
    let pre = peer_side::pre(&engine, workloads::HANDLER_64K);
    rows.push(row(
        "instantiate+run+drop/handler touching 64 KiB",
        measure(
            samples,
            500,
            || lucet::instantiate_run(&region, &module),
            || {
                #[cfg(feature = "peer-wasmtime")]
                peer_side::instantiate_run(&engine, &pre).expect("run")
            },
        ),
    ));

    let module = lucet::load(workloads::TRAP);
    #[cfg(feature = "peer-wasmtime")]
    let pre = peer_side::pre(&engine, workloads::TRAP);
    rows.push(row(
        "instantiate+trap+drop",
        measure(
            samples,
            500,
            || {
                let mut inst = region.new_instance(module.clone()).expect("instantiate");
                assert!(inst.run("run", &[]).is_err());
            },
            || {
                #[cfg(feature = "peer-wasmtime")]
                assert!(peer_side::instantiate_run(&engine, &pre).is_err())
            },
        ),
    ));

    // Host calls: 1000 per run; per-call time.
    let module = lucet::load(workloads::HOST_CALLS);
    let mut inst = region.new_instance(module).expect("instantiate");
    #[cfg(feature = "peer-wasmtime")]
    let (mut store, func) = {
        let pre = peer_side::pre(&engine, workloads::HOST_CALLS);
        let mut store = wasmtime::Store::new(&engine, ());
        let i = pre.instantiate(&mut store).expect("instantiate");
        let f = i
            .get_typed_func::<i32, i32>(&mut store, "run")
            .expect("run");
        (store, f)
    };
    let (l, p) = measure(
        samples,
        200,
        || lucet::host_calls(&mut inst, 1000),
        || {
            #[cfg(feature = "peer-wasmtime")]
            {
                func.call(&mut store, 1000).expect("call");
            }
        },
    );
    let per_call = |s: Stats| Stats {
        median: s.median / 1000.0,
        min: s.min / 1000.0,
        max: s.max / 1000.0,
    };
    rows.push(row("host call round trip", (per_call(l), p.map(per_call))));
    drop(inst);

    // Yield + resume: Lucet only (Wasmtime yields through async fibers).
    let mut y = lucet::Yielder::new(&region);
    let (l, _) = interleaved(samples, 10_000, &mut || y.round_trip(), None);
    rows.push(row("yield+resume round trip (lucet only)", (l, None)));
    drop(y);

    // Parallel instantiation on every core: time per instance.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let module = lucet::load(workloads::HANDLER_64K);
    #[cfg(feature = "peer-wasmtime")]
    let pre = std::sync::Arc::new(peer_side::pre(&engine, workloads::HANDLER_64K));
    let per_thread = 500u64;
    let lucet_parallel = || {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                let region = &region;
                let module = &module;
                s.spawn(move || {
                    for _ in 0..per_thread {
                        lucet::instantiate_run(region, module);
                    }
                });
            }
        });
        t.elapsed().as_nanos() as f64 / (threads as u64 * per_thread) as f64
    };
    #[cfg(feature = "peer-wasmtime")]
    let peer_parallel = || {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                let engine = &engine;
                let pre = pre.clone();
                s.spawn(move || {
                    for _ in 0..per_thread {
                        peer_side::instantiate_run(engine, &pre).expect("run");
                    }
                });
            }
        });
        t.elapsed().as_nanos() as f64 / (threads as u64 * per_thread) as f64
    };
    let mut ls = Vec::new();
    #[allow(unused_mut)]
    let mut ps: Vec<f64> = Vec::new();
    for _ in 0..samples {
        ls.push(lucet_parallel());
        #[cfg(feature = "peer-wasmtime")]
        ps.push(peer_parallel());
    }
    rows.push(row(
        &format!("parallel instantiate+run+drop ({threads} threads, time per instance)"),
        (Stats::of(ls), (!ps.is_empty()).then(|| Stats::of(ps))),
    ));
    rows
}

/// Every `.wasm` under `root`, sorted.
fn wasm_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "wasm") {
                found.push(p);
            }
        }
    }
    found.sort();
    if found.is_empty() {
        bail!("no programs under {}", root.display());
    }
    Ok(found)
}

/// The programs to run, each with the name of its rows: the sightglass
/// set by its path there, the real programs as `programs/NAME.wasm`.
fn benchmark_programs(corpus: Corpus) -> Result<Vec<(String, PathBuf)>> {
    let mut programs = Vec::new();
    if corpus != Corpus::Programs {
        let root = benchmarks::sightglass_dir();
        for p in wasm_files(&root)? {
            let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            programs.push((name, p));
        }
    }
    if corpus != Corpus::Sightglass {
        let root = benchmarks::programs_dir();
        for p in wasm_files(&root)? {
            let name = format!("programs/{}", p.file_name().unwrap().to_string_lossy());
            programs.push((name, p));
        }
    }
    Ok(programs)
}

fn expected(wasm: &Path, stream: &str) -> Vec<u8> {
    let stem = wasm.file_stem().unwrap().to_string_lossy();
    std::fs::read(wasm.with_file_name(format!("{stem}.{stream}.expected"))).unwrap_or_default()
}

fn execute_rows(
    samples: usize,
    runs: usize,
    only: Option<&str>,
    corpus: Corpus,
    options: &lucet_compiler::CompileOptions,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut run_ratios: Vec<(String, f64)> = Vec::new();
    let (mut lucet_compile_total, mut peer_compile_total) = (0.0f64, 0.0f64);
    #[cfg(feature = "peer-wasmtime")]
    // The same 4 GiB memory limit as Lucet's `Program`.
    let engine = peer_side::engine_with(4, 4 << 30, options.count_instructions);
    for (name, wasm_path) in benchmark_programs(corpus)? {
        if only.is_some_and(|o| !wasm_path.to_string_lossy().contains(o)) {
            continue;
        }
        let dir = wasm_path.parent().unwrap().to_path_buf();
        let wasm = std::fs::read(&wasm_path)?;
        let compile_samples = samples.clamp(1, 3);
        let mut elf = Vec::new();
        #[allow(unused_mut, unused_variables)]
        let mut peer_bytes: Vec<u8> = Vec::new();
        let (lc, pc) = measure(
            compile_samples,
            1,
            || elf = lucet::compile_with(&wasm, options),
            || {
                #[cfg(feature = "peer-wasmtime")]
                {
                    peer_bytes = peer_side::precompile(&engine, &wasm);
                }
            },
        );
        lucet_compile_total += lc.median;
        if let Some(p) = &pc {
            peer_compile_total += p.median;
        }
        rows.push(row(&format!("compile/{name}"), (lc, pc)));

        let program = lucet::Program::new(&elf)?;
        #[cfg(feature = "peer-wasmtime")]
        let peer_program =
            peer_side::Program::new(&engine, &peer_bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (mut li, mut lb, mut pi, mut pb) = (vec![], vec![], vec![], vec![]);
        // Spans under a millisecond are at the timer's and the cache's
        // mercy: run those 20 times as often.
        let mut total_runs = runs.max(1);
        let mut i = 0;
        while i < total_runs {
            i += 1;
            let o = program.run(&name, &dir)?;
            if i == 1 && o.bench_ns < 1e6 {
                total_runs *= 20;
            }
            if o.stdout != expected(&wasm_path, "stdout")
                || o.stderr != expected(&wasm_path, "stderr")
            {
                bail!("{name}: lucet's output differs from the expected output");
            }
            li.push(o.instantiate_ns);
            lb.push(o.bench_ns);
            #[cfg(feature = "peer-wasmtime")]
            {
                let o = peer_program
                    .run(&name, &dir)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                if o.stdout != expected(&wasm_path, "stdout") {
                    bail!("{name}: wasmtime's output differs from the expected output");
                }
                pi.push(o.instantiate_ns);
                pb.push(o.bench_ns);
            }
        }
        let opt = |v: Vec<f64>| (!v.is_empty()).then(|| Stats::of(v));
        rows.push(row(
            &format!("instantiate/{name}"),
            (Stats::of(li), opt(std::mem::take(&mut pi))),
        ));
        let run = row(
            &format!("run/{name}"),
            (Stats::of(lb), opt(std::mem::take(&mut pb))),
        );
        if let Some(r) = run.ratio() {
            run_ratios.push((name.clone(), r));
        }
        rows.push(run);
        eprintln!("{name}: done");
    }
    let total = |ns| Stats {
        median: ns,
        min: ns,
        max: ns,
    };
    rows.push(row(
        "compile/all programs (sum of medians)",
        (
            total(lucet_compile_total),
            (peer_compile_total > 0.0).then(|| total(peer_compile_total)),
        ),
    ));
    let geomean = |ratios: Vec<f64>| {
        (!ratios.is_empty())
            .then(|| (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp())
    };
    fn real(n: &str) -> bool {
        n.starts_with("programs/")
    }
    // Spans of a few tens of nanoseconds (a host call in, a host call out)
    // are timer noise either way: shown, and also left out.
    fn tiny(n: &str) -> bool {
        n.contains("noop") || n.contains("nestedloop")
    }
    type Keep = Box<dyn Fn(&str) -> bool>;
    let groups: [(&str, Keep); 4] = [
        ("all programs", Box::new(|_| true)),
        ("sightglass", Box::new(|n| !real(n))),
        (
            "sightglass without noop and nestedloop",
            Box::new(|n| !real(n) && !tiny(n)),
        ),
        ("real programs", Box::new(real)),
    ];
    for (label, keep) in groups {
        let ratios = run_ratios
            .iter()
            .filter(|(n, _)| keep(n))
            .map(|(_, r)| *r)
            .collect::<Vec<_>>();
        if let Some(g) = geomean(ratios) {
            println!("geometric mean of run ratios (lucet/wasmtime), {label}: {g:.3}");
        }
    }
    Ok(rows)
}

/// Instantiate, dirty N bytes, drop — with the dirty pages zeroed by
/// memset and kept resident (keep_resident = N), and with
/// every page given back by madvise (keep_resident = 0). Two patterns:
/// every instance dirties the same N bytes (the next one finds memset
/// pages resident, and madvise'd pages must fault in again), and every
/// other instance does (the reset alone). The crossover is the dirty size
/// from which madvise wins.
fn reset_rows(samples: usize) -> Vec<Row> {
    const HEAP_PAGES: u32 = 64; // 4 MiB: room for every size below
    let module = lucet::load(&workloads::dirtier(HEAP_PAGES));
    let mut rows = Vec::new();
    for (pattern, every_other) in [("every instance", false), ("every other instance", true)] {
        let mut crossover = None;
        for kib in [4u32, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096] {
            let bytes = kib << 10;
            // Fresh slots: what earlier sizes left resident stays out.
            let memset = lucet::region_keeping(1, bytes as u64);
            let madvise = lucet::region_keeping(1, 0);
            let iters = (2_000_000 / (kib as u64 * 40)).clamp(20, 2000);
            let cycle = |region: &lucet_runtime::MmapRegion| {
                lucet::instantiate_dirty(region, &module, bytes);
                if every_other {
                    lucet::instantiate_dirty(region, &module, 0);
                }
            };
            let (a, b) = interleaved(
                samples,
                iters,
                &mut || cycle(&memset),
                Some(&mut || cycle(&madvise)),
            );
            let b = b.expect("measured");
            if crossover.is_none() && b.median < a.median {
                crossover = Some(kib);
            }
            rows.push(row(
                &format!("reset/{kib} KiB dirty by {pattern}: memset, kept resident"),
                (a, None),
            ));
            rows.push(row(
                &format!("reset/{kib} KiB dirty by {pattern}: madvise, given back"),
                (b, None),
            ));
        }
        match crossover {
            Some(kib) => println!("dirty by {pattern}: madvise is faster from {kib} KiB"),
            None => println!("dirty by {pattern}: memset is faster at every size up to 4 MiB"),
        }
    }
    rows
}

/// Resident memory per live instance, at the margin: RSS grows by this much
/// per instance from `instances / 2` to `instances` live ones (fixed costs —
/// the compiled module, the engine, the pool's address space — left out).
fn gc_rows(samples: usize, depth: u32, list: u32) -> Vec<Row> {
    use lucet_runtime::Val;
    let region = lucet::gc_region(2, 256 << 20);
    #[cfg(feature = "peer-wasmtime")]
    let engine = peer_side::gc_engine();
    let mut rows = Vec::new();

    let trees = workloads::binary_trees_checksum(depth);
    let mut inst = region
        .new_instance(lucet::load(workloads::BINARY_TREES))
        .expect("instantiate");
    #[cfg(feature = "peer-wasmtime")]
    let mut peer = peer_side::GcInstance::new(&engine, workloads::BINARY_TREES);
    rows.push(row(
        &format!("gc/binary-trees depth {depth}"),
        measure(
            samples,
            1,
            || assert_eq!(lucet::run_one(&mut inst, depth as i32), Val::I32(trees)),
            || {
                #[cfg(feature = "peer-wasmtime")]
                assert_eq!(peer.run_i32(depth as i32), trees)
            },
        ),
    ));
    drop(inst);

    let sum = i64::from(list) * (i64::from(list) - 1) / 2;
    let mut inst = region
        .new_instance(lucet::load(workloads::LINKED_LIST))
        .expect("instantiate");
    #[cfg(feature = "peer-wasmtime")]
    let mut peer = peer_side::GcInstance::new(&engine, workloads::LINKED_LIST);
    rows.push(row(
        &format!("gc/linked list of {list} nodes: build and walk"),
        measure(
            samples,
            4,
            || assert_eq!(lucet::run_one(&mut inst, list as i32), Val::I64(sum)),
            || {
                #[cfg(feature = "peer-wasmtime")]
                assert_eq!(peer.run_i64(list as i32), sum)
            },
        ),
    ));
    drop(inst);

    // Reset after 1 MiB of live GC objects: Lucet only (the time of
    // `reset` alone; the run that dirtied the heap is not timed).
    let small = lucet::gc_region(1, 4 << 20);
    let mut inst = small
        .new_instance(lucet::load(workloads::GC_MEBIBYTE))
        .expect("instantiate");
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut total = 0.0;
        for _ in 0..100 {
            inst.run("run", &[]).expect("run");
            let t = Instant::now();
            inst.reset().expect("reset");
            total += t.elapsed().as_nanos() as f64;
        }
        times.push(total / 100.0);
    }
    rows.push(row(
        "gc/reset after 1 MiB of GC objects (lucet only)",
        (Stats::of(times), None),
    ));
    rows.extend(collector_rows(samples, depth, list));
    rows
}

/// The two collectors on the same workloads in the same GC heap sizes
/// (the same memory), interleaved: Lucet only, the number of collections
/// per run in each row's name.
fn collector_rows(samples: usize, depth: u32, list: u32) -> Vec<Row> {
    use lucet_runtime::{GcAlgorithm, Val};
    let trees = workloads::binary_trees_checksum(depth);
    let sum = i64::from(list) * (i64::from(list) - 1) / 2;
    let cases: [(&str, &str, u64, u64, Val); 2] = [
        (
            "binary-trees",
            workloads::BINARY_TREES,
            64 << 20,
            depth.into(),
            Val::I32(trees),
        ),
        (
            "linked list",
            workloads::LINKED_LIST,
            64 << 20,
            list.into(),
            Val::I64(sum),
        ),
    ];
    // The smallest GC heap (in MiB steps) each collector runs the trees
    // in: the price of the copy reserve.
    let module = lucet::load(workloads::BINARY_TREES);
    for algorithm in [GcAlgorithm::Copying, GcAlgorithm::MarkCompact] {
        let fits = |mib: u64| {
            let region = lucet::gc_region_with(1, mib << 20, algorithm);
            let mut inst = region.new_instance(module.clone()).expect("instantiate");
            inst.run("run", &[Val::I32(depth as i32)]).is_ok()
        };
        match (1..=256).find(|&mib| fits(mib)) {
            Some(mib) => println!(
                "gc/collector: binary-trees ({depth}) runs in a GC heap of {mib} MiB at least with {algorithm:?}"
            ),
            None => println!("gc/collector: binary-trees ({depth}) does not run in 256 MiB with {algorithm:?}"),
        }
    }

    let mut rows = Vec::new();
    for (name, wat, heap, arg, expected) in cases {
        let module = lucet::load(wat);
        let copying = lucet::gc_region_with(1, heap, GcAlgorithm::Copying);
        let compacting = lucet::gc_region_with(1, heap, GcAlgorithm::MarkCompact);
        let mut a = copying.new_instance(module.clone()).expect("instantiate");
        let mut b = compacting.new_instance(module).expect("instantiate");
        let (ta, tb) = interleaved(
            samples,
            1,
            &mut || assert_eq!(lucet::run_one(&mut a, arg as i32), expected),
            Some(&mut || assert_eq!(lucet::run_one(&mut b, arg as i32), expected)),
        );
        let runs = samples as u64 + 1;
        let per_run = |c: u64| c as f64 / runs as f64;
        let what = format!("gc/collector: {name} ({arg}) in a {} MiB heap", heap >> 20);
        rows.push(row(
            &format!(
                "{what}, copying ({:.1} collections per run; lucet only)",
                per_run(a.gc_collections())
            ),
            (ta, None),
        ));
        rows.push(row(
            &format!(
                "{what}, mark-compact ({:.1} collections per run; lucet only)",
                per_run(b.gc_collections())
            ),
            (tb.expect("two sides"), None),
        ));
    }
    rows
}

fn density_rows(instances: usize) -> Result<Vec<Row>> {
    if instances < 2 {
        bail!("--instances must be at least 2");
    }
    let half = instances / 2;
    let marginal = |at_half: u64, at_full: u64| {
        at_full.saturating_sub(at_half) as f64 / (instances - half) as f64
    };

    let module = lucet::load(workloads::IDLE);
    let region = lucet::region(instances);
    let mut live = Vec::with_capacity(instances);
    let mut at_half = 0;
    for i in 0..instances {
        if i == half {
            at_half = benchmarks::rss_bytes();
        }
        let mut inst = region.new_instance(module.clone())?;
        if !inst.run("run", &[])?.is_yielded() {
            bail!("the idle module did not yield");
        }
        live.push(inst);
    }
    let lucet_per = marginal(at_half, benchmarks::rss_bytes());
    drop(live);
    drop(region);

    #[cfg(not(feature = "peer-wasmtime"))]
    let peer_per = None;
    #[cfg(feature = "peer-wasmtime")]
    let peer_per = {
        let peer = |e: wasmtime::Error| anyhow::anyhow!("{e:?}");
        let mut held = peer_side::SuspendedInstances::new(
            workloads::IDLE,
            instances as u32,
            lucet_runtime::Limits::default().stack_size as usize,
        )
        .map_err(peer)?;
        held.hold(half).map_err(peer)?;
        let at_half = benchmarks::rss_bytes();
        held.hold(instances - half).map_err(peer)?;
        Some(marginal(at_half, benchmarks::rss_bytes()))
    };
    let zero = Stats {
        median: 0.0,
        min: 0.0,
        max: 0.0,
    };
    Ok(vec![Row {
        name: "density/live instances suspended in a host call (RSS per instance)".to_string(),
        lucet: zero,
        peer: None,
        density: Some(Density {
            instances,
            per: "instance",
            lucet_rss_per_instance: lucet_per,
            peer_rss_per_instance: peer_per,
        }),
    }])
}

/// Time from a kill switch's `terminate` to the killed run's return, in
/// nanoseconds, `trials` times.
fn lucet_interrupt_latencies(trials: usize) -> Result<Vec<f64>> {
    let region = lucet::region(1);
    let module = lucet::load(workloads::SPIN);
    let mut out = Vec::with_capacity(trials);
    for _ in 0..trials {
        let mut inst = region.new_instance(module.clone())?;
        let kill = inst.kill_switch();
        let latency = benchmarks::stop_latency_ns(
            || {
                matches!(
                    inst.run("run", &[]),
                    Err(lucet_runtime::Error::Terminated(
                        lucet_runtime::TerminationDetails::Remote
                    ))
                )
            },
            move || kill.terminate().is_ok(),
        );
        out.push(latency.context("the infinite loop was not stopped")?);
    }
    Ok(out)
}

fn interrupt_rows(trials: usize) -> Result<Vec<Row>> {
    let lucet = Stats::of(lucet_interrupt_latencies(trials)?);
    #[cfg(feature = "peer-wasmtime")]
    let peer = Some(Stats::of(
        peer_side::interrupt_latencies(trials).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    ));
    #[cfg(not(feature = "peer-wasmtime"))]
    let peer = None;
    Ok(vec![row(
        "interrupt/infinite loop stopped from another thread (request to return)",
        (lucet, peer),
    )])
}

fn run(args: Args) -> Result<()> {
    if let What::ServeChild {
        kind,
        app,
        fastly_toml,
        origin,
        workers,
    } = &args.what
    {
        use benchmarks::serve::compute;
        return match (kind.as_str(), app, fastly_toml, origin) {
            ("lucet", Some(app), toml, _) => {
                compute::run_lucet_child(app, toml.as_deref(), *workers)
            }
            ("plain", _, _, Some(origin)) => compute::run_plain_child(*origin, *workers),
            ("origin", None, None, None) => compute::run_origin_child(),
            _ => {
                bail!(
                    "serve-child: `lucet APP [--fastly-toml F]`, `plain --origin ADDR` or `origin`"
                )
            }
        };
    }
    if let What::Serve {
        connections,
        seconds,
        rounds,
        workers,
        client_threads,
        only,
        handler,
        part,
        crowd,
        viceroy,
        wasmtime,
    } = args.what
    {
        return serve(
            ServeArgs {
                connections,
                duration: std::time::Duration::from_secs_f64(seconds),
                rounds,
                workers,
                client_threads,
                only,
                handler,
                part,
                crowd,
                viceroy,
                wasmtime,
            },
            args.json.as_deref(),
        );
    }
    if let What::LoadRss { engine, path } = &args.what {
        return benchmarks::load::print_rss_of_loads(engine, path);
    }
    let rows = match args.what {
        What::Instantiate => instantiate_rows(args.samples),
        What::Execute {
            runs,
            only,
            no_interrupt_checks,
            count_instructions,
            opt_level,
            corpus,
        } => {
            let options = lucet_compiler::CompileOptions {
                interruptible: !no_interrupt_checks,
                count_instructions,
                opt_level: match opt_level {
                    Opt::None => lucet_compiler::OptLevel::None,
                    Opt::Speed => lucet_compiler::OptLevel::Speed,
                    Opt::SpeedAndSize => lucet_compiler::OptLevel::SpeedAndSize,
                },
                ..Default::default()
            };
            execute_rows(args.samples, runs, only.as_deref(), corpus, &options)?
        }
        What::Density { instances } => density_rows(instances)?,
        What::Load => benchmarks::load::load_rows(args.samples)?,
        What::Reset => reset_rows(args.samples),
        What::Interrupt { trials } => interrupt_rows(trials)?,
        What::Gc { depth, list } => gc_rows(args.samples, depth, list),
        What::Serve { .. } | What::ServeChild { .. } | What::LoadRss { .. } => {
            unreachable!("handled above")
        }
    };
    if cfg!(not(feature = "peer-wasmtime")) {
        println!("(built without the peer-wasmtime feature: Lucet only)");
    }
    print!("{}", report::table(&rows));
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report::json(&rows))?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// One server of the serving comparison.
struct Served {
    name: &'static str,
    addr: std::net::SocketAddr,
}

/// `lucet-bench serve`'s settings.
struct ServeArgs {
    connections: usize,
    duration: std::time::Duration,
    rounds: usize,
    workers: usize,
    client_threads: usize,
    only: Option<String>,
    handler: Option<String>,
    part: ServePart,
    crowd: usize,
    viceroy: Option<PathBuf>,
    wasmtime: Option<PathBuf>,
}

/// The parts of `lucet-bench serve`.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum ServePart {
    Wagi,
    Compute,
    Components,
    All,
}

/// `wasmtime` (wasmtime-cli): the one given, `$LUCET_BENCH_WASMTIME`, or
/// the bench setup's (benchmarks/README.md) if it is there.
fn wasmtime_binary(given: Option<PathBuf>) -> Option<PathBuf> {
    given
        .or_else(|| std::env::var_os("LUCET_BENCH_WASMTIME").map(PathBuf::from))
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let p = Path::new(&home).join(".cache/lucet-bench/wasmtime-cli-48.0.8/bin/wasmtime");
            p.exists().then_some(p)
        })
}

/// Viceroy's binary: the one given, `$LUCET_BENCH_VICEROY`, or the bench
/// setup's (README) if it is there.
fn viceroy_binary(given: Option<PathBuf>) -> Option<PathBuf> {
    given
        .or_else(|| std::env::var_os("LUCET_BENCH_VICEROY").map(PathBuf::from))
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let p = Path::new(&home).join(".cache/lucet-bench/viceroy-0.22.0/bin/viceroy");
            p.exists().then_some(p)
        })
}

fn serve(a: ServeArgs, json: Option<&Path>) -> Result<()> {
    let mut rows = match a.part {
        ServePart::Wagi | ServePart::All => serve_wagi(&a)?,
        _ => Vec::new(),
    };
    if matches!(a.part, ServePart::Compute | ServePart::All) {
        let viceroy = viceroy_binary(a.viceroy.clone());
        if viceroy.is_none() {
            println!(
                "\n(no Viceroy binary: see the README's bench setup; Compute rows without it)"
            );
        }
        rows.extend(benchmarks::serve::compute_rows::run(
            &benchmarks::serve::compute_rows::Settings {
                connections: a.connections,
                crowd: a.crowd,
                duration: a.duration,
                rounds: a.rounds,
                workers: a.workers,
                client_threads: a.client_threads,
                viceroy,
                only: a.only.clone(),
                row: a.handler.clone(),
            },
        )?);
    }
    if matches!(a.part, ServePart::Components | ServePart::All) {
        let wasmtime = wasmtime_binary(a.wasmtime.clone());
        if wasmtime.is_none() {
            println!(
                "\n(no wasmtime binary: see benchmarks/README.md's bench setup; component rows without it)"
            );
        }
        rows.extend(benchmarks::serve::component_rows::run(
            &benchmarks::serve::component_rows::Settings {
                connections: a.connections,
                duration: a.duration,
                rounds: a.rounds,
                workers: a.workers,
                client_threads: a.client_threads,
                wasmtime,
                only: a.only.clone(),
                row: a.handler.clone(),
            },
        )?);
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn serve_wagi(a: &ServeArgs) -> Result<Vec<serde_json::Value>> {
    use benchmarks::serve::{self, load};
    let ServeArgs {
        connections,
        duration,
        rounds,
        workers,
        client_threads,
        ..
    } = *a;
    let mut handlers = serve::handlers();
    if let Some(h) = &a.handler {
        handlers.retain(|x| x.name.contains(h.as_str()));
    }
    let dir = std::env::temp_dir().join(format!("lucet-bench-serve-{}", std::process::id()));
    let files = serve::write_handlers(&dir, &handlers)?;
    let config = serve::config(&handlers, &files, workers);
    let (_lucet, lucet_addr) = serve::start_lucet(config.clone())?;
    let mut servers = vec![Served {
        name: "lucet-serve (Lucet)",
        addr: lucet_addr,
    }];
    #[cfg(feature = "peer-wasmtime")]
    let _wasmtime = {
        let engine = serve::wasmtime::WasmtimeEngine::new(4 * workers as u32 + 16, 128 << 20)?;
        let server = lucet_serve::Server::start_with(config.clone(), engine)?;
        servers.push(Served {
            name: "lucet-serve (Wasmtime)",
            addr: server.addr(),
        });
        server
    };
    let no_wasm = serve::NoWasm {
        answers: files
            .iter()
            .zip(&handlers)
            .map(|(f, h)| (f.clone(), h.content_type, h.body.clone().into()))
            .collect(),
    };
    let no_wasm = lucet_serve::Server::start_with(config.clone(), no_wasm)?;
    servers.push(Served {
        name: "lucet-serve (no WebAssembly)",
        addr: no_wasm.addr(),
    });
    let plain = serve::plain::start(&handlers)?;
    servers.push(Served {
        name: "plain hyper",
        addr: plain.addr,
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(only) = &a.only {
        // The first row stays lucet-serve (the ratios' base) unless it is
        // filtered out too.
        servers.retain(|s| s.name.contains(only.as_str()));
    }
    if servers.is_empty() || handlers.is_empty() {
        bail!("--only/--handler leave nothing to measure");
    }
    let warmup = std::time::Duration::from_millis(500);
    // results[handler][server] = one LoadResult per round.
    let mut results = vec![vec![Vec::new(); servers.len()]; handlers.len()];
    for _ in 0..rounds {
        for (h, handler) in handlers.iter().enumerate() {
            for (i, server) in servers.iter().enumerate() {
                let r = load::run(
                    server.addr,
                    handler.path,
                    connections,
                    warmup,
                    duration,
                    handler.body.len(),
                    client_threads,
                );
                if r.errors > 0 {
                    bail!(
                        "{} / {}: {} failed requests",
                        server.name,
                        handler.name,
                        r.errors
                    );
                }
                results[h][i].push(r);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{connections} connections, {} s x {rounds} rounds per row, {workers} workers; medians\n",
        duration.as_secs_f64()
    );
    println!("| handler | server | requests/s | p50 | p99 | p99.9 | Lucet rps ÷ this | Lucet p99 ÷ this |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows_json = Vec::new();
    for (h, handler) in handlers.iter().enumerate() {
        let summary: Vec<(f64, f64, f64, f64)> = results[h]
            .iter()
            .map(|rs| {
                let pick =
                    |f: fn(&load::LoadResult) -> f64| median(&mut rs.iter().map(f).collect());
                (
                    pick(|r| r.rps),
                    pick(|r| r.p50_us),
                    pick(|r| r.p99_us),
                    pick(|r| r.p999_us),
                )
            })
            .collect();
        let (base_rps, _, base_p99, _) = summary[0];
        for (server, (rps, p50, p99, p999)) in servers.iter().zip(&summary) {
            println!(
                "| {} | {} | {rps:.0} | {p50:.0} µs | {p99:.0} µs | {p999:.0} µs | {:.2} | {:.2} |",
                handler.name,
                server.name,
                base_rps / rps,
                base_p99 / p99,
            );
            rows_json.push(serde_json::json!({
                "handler": handler.name,
                "server": server.name,
                "rps": rps,
                "p50_us": p50,
                "p99_us": p99,
                "p999_us": p999,
            }));
        }
    }
    if cfg!(not(feature = "peer-wasmtime")) {
        println!("\n(built without the peer-wasmtime feature: no Wasmtime engine)");
    }
    Ok(rows_json)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
