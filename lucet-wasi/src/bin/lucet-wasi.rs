//! `lucet-wasi`: run a WebAssembly module under Lucet.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use lucet_runtime::{Limits, Linker, MmapRegion, RunResult, Val};
use lucet_wasi::LoadError;

/// Run a WebAssembly module: a compiled Lucet file, a .wasm binary or .wat
/// text (compiled in-process).
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:\n  lucet-wasi --invoke fac examples/fac.wat 10\n  lucet-wasi program.lucet"
)]
struct Args {
    /// Call this exported function instead of `_start`; ARGS are its
    /// parameters, and each result is printed on its own line.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Most linear memory the module may use (e.g. 64MiB, 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = lucet_module::parse_size, default_value = "4GiB")]
    max_heap_size: u64,
    /// Native stack for guest code (e.g. 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = lucet_module::parse_size, default_value = "1MiB")]
    stack_size: u64,
    /// The module: .lucet (compiled), .wasm or .wat.
    module: PathBuf,
    /// Arguments for the invoked function.
    #[arg(allow_hyphen_values = true)]
    args: Vec<String>,
}

fn page_align(size: u64) -> u64 {
    size.next_multiple_of(lucet_module::WASM_PAGE_SIZE)
}

fn run(args: Args) -> Result<ExitCode> {
    let linker = Linker::new();
    let module = lucet_wasi::load_module(&args.module, &linker).map_err(|e| match e {
        LoadError::Read { .. } => anyhow!(e),
        e => anyhow!("{}: {e}", args.module.display()),
    })?;

    let heap_space = module.metadata().memory.as_ref().map_or(8 << 30, |m| {
        (m.heap.reserved_size + m.heap.guard_size).max(8 << 30)
    });
    let limits = Limits {
        heap_memory_size: page_align(args.max_heap_size).min(heap_space),
        heap_address_space_size: heap_space,
        stack_size: args.stack_size.next_multiple_of(4096),
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits)?;
    let mut instance = region.new_instance(module.clone())?;

    let (name, params) = match &args.invoke {
        Some(name) => {
            let ty = module
                .export_func_type(name)
                .ok_or_else(|| anyhow!("the module exports no function {name:?}"))?;
            if ty.params.len() != args.args.len() {
                bail!(
                    "{name} takes {} argument(s) of type {ty}, {} given",
                    ty.params.len(),
                    args.args.len()
                );
            }
            let params = ty
                .params
                .iter()
                .zip(&args.args)
                .map(|(t, a)| Val::parse(a, *t).map_err(|e| anyhow!(e)))
                .collect::<Result<Vec<_>>>()?;
            (name.clone(), params)
        }
        None => {
            if module.export_func_type("_start").is_none() {
                bail!("the module has no _start function; use --invoke NAME to call an export");
            }
            ("_start".to_string(), Vec::new())
        }
    };

    match instance.run(&name, &params)? {
        RunResult::Returned(results) => {
            if args.invoke.is_some() {
                for r in results {
                    println!("{r}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RunResult::Yielded(_) => bail!("the module yielded, which lucet-wasi does not support"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
