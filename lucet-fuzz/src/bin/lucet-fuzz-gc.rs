//! Runs the GC differential oracle (`differential::check_gc`: wasm-smith
//! GC modules on Lucet and on Wasmtime) on random inputs for a while, on
//! the stable toolchain, without coverage guidance. A finding is printed
//! with its module, its input is saved, and the exit status is 1.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use lucet_fuzz::differential::{self, Verdict};
use lucet_fuzz::seeded::SplitMix64;

#[derive(Parser)]
#[command(about = "GC modules from wasm-smith, run on Lucet and on Wasmtime until they disagree")]
struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 1800)]
    seconds: u64,
    /// The seed of the inputs (by default from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Where a finding's input is written.
    #[arg(long, default_value = "gc-finding.bin")]
    save: PathBuf,
    /// Runs the one input in this file (a saved finding) instead.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// With --replay: writes the input's module (wasm) here first.
    #[arg(long, requires = "replay")]
    module: Option<PathBuf>,
}

/// The largest input `--replay` reads (the driver makes at most 16 KiB).
const MAX_INPUT: u64 = 1 << 20;

/// A case slower than this is reported (and its input saved): fuel bounds
/// the work of both engines, so it points at a runtime or compiler cost.
const SLOW: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Tally {
    cases: u64,
    compared: u64,
    with_objects: u64,
    calls: u64,
    exhausted: u64,
    other: u64,
    slowest: Duration,
}

impl Tally {
    fn line(&self, elapsed: Duration) -> String {
        format!(
            "{:>5} s: {} cases, {} compared ({} with struct or array types), {} calls agreed, {} ran out, {} ended before the calls; slowest case {:.2?}",
            elapsed.as_secs(),
            self.cases,
            self.compared,
            self.with_objects,
            self.calls,
            self.exhausted,
            self.other,
            self.slowest
        )
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.replay {
        let size = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if size > MAX_INPUT {
            anyhow::bail!(
                "{} is {size} bytes; an input is at most {MAX_INPUT}",
                path.display()
            );
        }
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(out) = &args.module {
            let wasm = differential::gc_module_of(&data)
                .context("the input is too short to make a module")?;
            std::fs::write(out, wasm).with_context(|| format!("cannot write {}", out.display()))?;
        }
        let verdict = differential::check_gc(&data).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("{verdict:?}");
        return Ok(());
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    println!("seed {seed}, {} s", args.seconds);
    let mut rng = SplitMix64::new(seed);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut report = start + Duration::from_secs(60);
    let mut tally = Tally::default();
    while Instant::now() < end {
        let len = 256 + rng.below(16_128) as usize;
        let data = rng.bytes(len);
        tally.cases += 1;
        let case_start = Instant::now();
        if let Some(out) = &args.module {
            let wasm = differential::gc_module_of(&data)
                .context("the input is too short to make a module")?;
            std::fs::write(out, wasm).with_context(|| format!("cannot write {}", out.display()))?;
        }
        let verdict = differential::check_gc(&data);
        let took = case_start.elapsed();
        tally.slowest = tally.slowest.max(took);
        if took > SLOW {
            let path = args
                .save
                .with_extension(format!("slow-{}.bin", tally.cases));
            std::fs::write(&path, &data)
                .with_context(|| format!("cannot save the input to {}", path.display()))?;
            println!(
                "case {} took {took:.2?}; its input is in {}",
                tally.cases,
                path.display()
            );
        }
        match verdict {
            Ok(Verdict::Compared {
                calls,
                exhausted,
                objects,
            }) => {
                tally.compared += 1;
                tally.with_objects += u64::from(objects);
                tally.calls += calls as u64;
                tally.exhausted += exhausted as u64;
            }
            Ok(_) => tally.other += 1,
            Err(finding) => {
                std::fs::write(&args.save, &data)
                    .with_context(|| format!("cannot save the input to {}", args.save.display()))?;
                println!("{}", tally.line(start.elapsed()));
                anyhow::bail!(
                    "finding in case {} (input saved to {}):\n{finding}",
                    tally.cases,
                    args.save.display()
                );
            }
        }
        if Instant::now() >= report {
            println!("{}", tally.line(start.elapsed()));
            report += Duration::from_secs(60);
        }
    }
    println!("{}", tally.line(start.elapsed()));
    println!("no finding");
    Ok(())
}
