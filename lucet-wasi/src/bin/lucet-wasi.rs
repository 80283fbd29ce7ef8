//! `lucet-wasi`: run a WebAssembly program under Lucet, with WASI.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use lucet_runtime::{Error, Limits, Linker, MmapRegion, Val};
use lucet_runtime::{Finished, LoadError, Outcome, RunPolicy, Watchdog};
use lucet_wasi::WasiCtxBuilder;

/// Run a WebAssembly program: a compiled Lucet file, a .wasm binary or .wat
/// text (compiled in-process). The program's exit code is the process's.
#[derive(Parser)]
#[command(
    version,
    override_usage = "lucet-wasi [OPTIONS] MODULE [ARGS]...",
    after_help = "Examples:\n  lucet-wasi --dir . program.wasm input.txt\n  lucet-wasi --dir /srv/data::/data --env LANG=C program.lucet\n  lucet-wasi --invoke fac examples/fac.wat 10"
)]
struct Args {
    /// Give the program a host directory: HOST (under its own name) or
    /// HOST::GUEST. Nothing outside it is reachable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable for the program.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<String>,
    /// Give the program this process's environment (before any --env).
    #[arg(long)]
    inherit_env: bool,
    /// Call this exported function instead of `_start`; ARGS are its
    /// parameters, and each result is printed on its own line.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Most linear memory the program may use (e.g. 64MiB, 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_heap_size: u64,
    /// The program's GC heap, for WebAssembly GC structs and arrays (e.g.
    /// 16MiB); live objects may fill half of it (the collector copies them
    /// to the other half), and an allocation past that traps.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    gc_heap_size: u64,
    /// Most tables the program may define.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_tables)]
    max_tables: u32,
    /// Most elements the program's tables may hold together (8 bytes of
    /// host memory each); `table.grow` past it fails.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_table_elements)]
    max_table_elements: u64,
    /// Most file descriptors the program may have open at once (stdio and
    /// --dir included); past it, opening fails with EMFILE.
    #[arg(long, value_name = "N", default_value_t = lucet_wasi::DEFAULT_MAX_OPEN_FILES)]
    max_open_files: usize,
    /// Native stack for guest code (e.g. 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB")]
    stack_size: u64,
    /// Run the module only if it is a compiled file signed by this minisign
    /// public key (`lucetc --keygen`, `lucetc --sign`).
    #[arg(long, value_name = "PUBLIC_KEY")]
    verify: Option<PathBuf>,
    /// Stop the program if it runs longer than this (e.g. 100ms, 2s),
    /// counted from the start, compilation of a `.wasm`/`.wat` included.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Fail if compiling a `.wasm`/`.wat` module takes longer than this
    /// (or than `--timeout`, if shorter).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "60s")]
    compile_budget: Duration,
    /// Fail if compiling any one function takes longer than this.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    function_compile_budget: Duration,
    /// Stop the program once it has executed about this many WebAssembly
    /// instructions (.wasm/.wat are compiled to count them; a compiled file
    /// must come from lucetc --count-instructions).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Make function imports that nothing provides return zeros.
    #[arg(long)]
    default_unknown_imports: bool,
    /// The module (.lucet, compiled; .wasm or .wat), then the arguments for
    /// the program (or, with --invoke, for the function). Everything after
    /// the module is the program's, options included.
    #[arg(
        value_name = "MODULE",
        required = true,
        num_args = 1..,
        allow_hyphen_values = true,
        trailing_var_arg = true
    )]
    command: Vec<String>,
}

impl Args {
    /// The module's path.
    fn module(&self) -> PathBuf {
        PathBuf::from(&self.command[0])
    }

    /// The arguments after the module.
    fn guest_args(&self) -> &[String] {
        &self.command[1..]
    }
}

/// Most `--gc-heap-size` may ask for: address space taken up front.
const MAX_GC_HEAP_SIZE: u64 = 1 << 40;

fn gc_heap_size(size: u64) -> Result<u64> {
    if size > MAX_GC_HEAP_SIZE {
        bail!("--gc-heap-size is at most 1TiB");
    }
    Ok(size.next_multiple_of(4096))
}

fn wasi_ctx(args: &Args) -> Result<lucet_wasi::WasiCtx> {
    let program = args.module().display().to_string();
    let mut b = WasiCtxBuilder::new()
        .arg(&program)
        .max_open_files(args.max_open_files);
    if args.invoke.is_none() {
        b = b.args(args.guest_args());
    }
    if args.inherit_env {
        b = b.inherit_env();
    }
    for kv in &args.envs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--env {kv:?}: expected KEY=VALUE"))?;
        b = b.env(k, v);
    }
    for d in &args.dirs {
        let (host, guest) = match d.split_once("::") {
            Some((h, g)) => (h, g),
            None => (d.as_str(), d.as_str()),
        };
        b = b.preopened_dir(host, guest)?;
    }
    Ok(b.build())
}

fn invoke_params(module: &lucet_runtime::Module, name: &str, args: &[String]) -> Result<Vec<Val>> {
    let ty = module
        .export_func_type(name)
        .ok_or_else(|| anyhow!("the module exports no function {name:?}"))?;
    if ty.params.len() != args.len() {
        bail!(
            "{name} takes {} argument(s) of type {ty}, {} given",
            ty.params.len(),
            args.len()
        );
    }
    ty.params
        .iter()
        .zip(args)
        .map(|(t, a)| Val::parse(a, *t).map_err(|e| anyhow!(e)))
        .collect()
}

/// A result as `--invoke` prints it: a funcref of the instance's own
/// functions by index, other references by kind, never an address.
fn show(instance: &lucet_runtime::InstanceHandle, v: &Val) -> String {
    match instance.funcref_index(v) {
        Some(index) => format!("ref.func {index}"),
        None => v.to_string(),
    }
}

fn run(args: Args) -> Result<ExitCode> {
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    lucet_wasi::component::add_to_linker(&mut linker);
    linker.default_unknown_imports(args.default_unknown_imports);
    // The deadline covers compilation too.
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let load_options = lucet_runtime::LoadOptions {
        count_instructions: args.fuel.is_some(),
        compile_budget: Some(
            args.timeout
                .map_or(args.compile_budget, |t| t.min(args.compile_budget)),
        ),
        function_compile_budget: Some(args.function_compile_budget),
        verify: args
            .verify
            .as_deref()
            .map(lucet_runtime::PublicKey::from_file)
            .transpose()?,
    };
    let path = args.module();
    let module =
        lucet_runtime::load_module_with(&path, &linker, &load_options).map_err(|e| match e {
            LoadError::Read { .. } => anyhow!(e),
            // A component for a world lucet-wasi does not run.
            e if e.to_string().contains("unknown import wasi:http/") => anyhow!(
                "{}: {e} (an HTTP component: serve it with lucet-serve)",
                path.display()
            ),
            e => anyhow!("{}: {e}", path.display()),
        })?;

    let limits = Limits {
        heap_memory_size: args.max_heap_size,
        stack_size: args.stack_size,
        gc_heap_size: gc_heap_size(args.gc_heap_size)?,
        max_tables: args.max_tables,
        max_table_elements: args.max_table_elements,
        ..Limits::default()
    }
    .sized_for(&module);
    let command = match module.component() {
        Some(abi) => {
            if args.invoke.is_some() {
                bail!("--invoke calls a module's exports; this is a component, run as a command");
            }
            let entry = lucet_wasi::component::command_entry(abi).ok_or_else(|| {
                anyhow!("the component exports no wasi:cli/run function: it is not a command")
            })?;
            Some(entry.clone())
        }
        None => None,
    };
    let (name, params) = match &args.invoke {
        _ if command.is_some() => (
            command
                .as_ref()
                .map(|l| l.export.clone())
                .unwrap_or_default(),
            Vec::new(),
        ),
        Some(name) => (
            name.clone(),
            invoke_params(&module, name, args.guest_args())?,
        ),
        None => {
            if module.export_func_type("_start").is_none() {
                bail!("the module has no _start function; use --invoke NAME to call an export");
            }
            ("_start".to_string(), Vec::new())
        }
    };
    let ctx = wasi_ctx(&args)?;
    let region = MmapRegion::create(1, &limits)?;
    let watchdog = Watchdog::new();
    let policy = RunPolicy {
        deadline,
        fuel: args.fuel,
        time_slice: None,
    };
    let builder = region.new_instance_builder(module.clone());
    let builder = match command {
        Some(_) => builder.with_embed_ctx(lucet_wasi::component::ComponentCtx::new(ctx)),
        None => builder.with_embed_ctx(ctx),
    };
    let finished = policy.run(builder, &name, &params, &watchdog);
    let finished = match &command {
        Some(lift) => lucet_wasi::component::after_return(
            &policy,
            finished,
            lift.post_return.as_deref(),
            &watchdog,
        ),
        None => finished,
    };
    let Finished { outcome, instance } = finished;
    match outcome {
        // A command's `run` returns `result`: 0 for ok, 1 for err.
        Outcome::Returned(results) if command.is_some() => match results.first() {
            Some(Val::I32(0)) => Ok(ExitCode::SUCCESS),
            _ => Ok(ExitCode::FAILURE),
        },
        Outcome::Returned(results) => {
            if args.invoke.is_some() {
                // Results are shown while the instance lives, so that a
                // funcref can be named by its function's index.
                for r in &results {
                    match &instance {
                        Some(i) => println!("{}", show(i, r)),
                        None => println!("{r}"),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        // Exit statuses are 8 bits, as on every Unix.
        Outcome::Exited(code) => Ok(ExitCode::from(code as u8)),
        Outcome::Yielded => bail!("the module yielded, which lucet-wasi does not support"),
        Outcome::TimedOut => {
            let limit = args.timeout.unwrap_or_default();
            bail!("timeout: the program ran longer than {limit:?} and was stopped")
        }
        Outcome::OutOfFuel => {
            let fuel = args.fuel.unwrap_or_default();
            bail!("out of fuel: the program executed more than {fuel} instructions and was stopped")
        }
        Outcome::Trapped {
            code,
            function,
            offset,
        } => Err(Error::Trap {
            code,
            function,
            offset,
        }
        .into()),
        Outcome::Failed(e) => Err(e.into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            // The message may quote the module's own names.
            eprintln!("error: {}", lucet_module::escape_control(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// A size as users write it: `65536`, `64KiB`, `64K`, `4GiB` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s)
        .map_err(|e| format!("invalid size {s:?}: {e}"))
}
