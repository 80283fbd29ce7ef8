//! Lucet's side of the benchmarks.

use std::sync::Arc;

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{GcAlgorithm, Limits, Linker, MmapRegion, Module, RunResult, Val, Vmctx};

/// Compiles `wasm` (binary or text) to a Lucet ELF file.
pub fn compile(wasm: &[u8]) -> Vec<u8> {
    compile_with(wasm, &CompileOptions::default())
}

/// Compiles `wasm` (binary or text) with `options`.
pub fn compile_with(wasm: &[u8], options: &CompileOptions) -> Vec<u8> {
    Compiler::new(options.clone())
        .expect("compiler")
        .compile(wasm)
        .expect("compile")
        .to_elf()
        .expect("ELF")
}

/// The host functions the workloads import.
pub fn linker() -> Linker {
    let mut l = Linker::new();
    l.func("env", "inc", |_: &mut Vmctx, x: i32| x.wrapping_add(1));
    l.func("env", "yield", |vmctx: &mut Vmctx| {
        vmctx.yield_();
    });
    l
}

/// Compiles and loads `wat`.
pub fn load(wat: &str) -> Arc<Module> {
    Module::from_bytes(&compile(wat.as_bytes()), "bench", &linker()).expect("load")
}

/// The Rust hello component of `examples/components/` compiled and loaded
/// (its imports bound by `lucet-wasi`'s component host, `wasi:http`'s,
/// which only `lucet-serve` has, returning zeros: they are not called),
/// and its app's core module alone (the component's first; its imports
/// return zeros).
pub fn hello_component() -> (Arc<Module>, Arc<Module>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/components/hello-http.wasm");
    let bytes = std::fs::read(path).expect("the hello component");
    let mut with_host = Linker::new();
    lucet_wasi::component::add_to_linker(&mut with_host);
    with_host.default_unknown_imports(true);
    let component =
        Module::from_bytes(&compile(&bytes), "hello-component", &with_host).expect("load");
    let app = first_core_module(&bytes);
    let mut zeros = Linker::new();
    zeros.default_unknown_imports(true);
    let app = Module::from_bytes(&compile(app), "hello-app", &zeros).expect("load");
    (component, app)
}

/// The bytes of a component's first core module.
fn first_core_module(component: &[u8]) -> &[u8] {
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let Ok(wasmparser::Payload::ModuleSection {
            unchecked_range, ..
        }) = payload
        {
            return &component[unchecked_range.start as usize..unchecked_range.end as usize];
        }
    }
    panic!("the component has no core module")
}

/// A region for `slots` instances with default limits (1 MiB heaps,
/// 8 GiB of heap address space each).
pub fn region(slots: usize) -> Arc<MmapRegion> {
    let limits = Limits {
        heap_memory_size: 4 << 20,
        ..Limits::default()
    };
    MmapRegion::create(slots, &limits).expect("region")
}

/// A region for `slots` instances with GC heaps of `gc_heap_size` bytes
/// (and 1 MiB stacks, for the recursion of tree workloads), collected by
/// the default (copying) collector.
pub fn gc_region(slots: usize, gc_heap_size: u64) -> Arc<MmapRegion> {
    gc_region_with(slots, gc_heap_size, GcAlgorithm::Copying)
}

/// [`gc_region`] with the collector `gc_algorithm`.
pub fn gc_region_with(
    slots: usize,
    gc_heap_size: u64,
    gc_algorithm: GcAlgorithm,
) -> Arc<MmapRegion> {
    let limits = Limits {
        gc_heap_size,
        gc_algorithm,
        stack_size: 1 << 20,
        ..Limits::default()
    };
    MmapRegion::create(slots, &limits).expect("region")
}

/// Runs export `run(arg)` of `inst`: its one result.
pub fn run_one(inst: &mut lucet_runtime::InstanceHandle, arg: i32) -> Val {
    let mut results = inst
        .run("run", &[Val::I32(arg)])
        .expect("run")
        .returned()
        .expect("returned");
    results.pop().expect("a result")
}

/// A region of `slots` slots whose heaps keep `keep_resident` bytes resident
/// between instances (zeroed with memset) and give the rest back.
pub fn region_keeping(slots: usize, keep_resident: u64) -> Arc<MmapRegion> {
    let limits = Limits {
        heap_memory_size: 4 << 20,
        keep_resident,
        ..Limits::default()
    };
    MmapRegion::create(slots, &limits).expect("region")
}

/// Instantiates, runs `run(bytes)` (of [`crate::workloads::dirtier`]) and
/// drops.
pub fn instantiate_dirty(region: &MmapRegion, module: &Arc<Module>, bytes: u32) {
    let mut inst = region.new_instance(module.clone()).expect("instantiate");
    inst.run("run", &[Val::I32(bytes as i32)]).expect("run");
}

/// Instantiates and drops.
pub fn instantiate(region: &MmapRegion, module: &Arc<Module>) {
    drop(region.new_instance(module.clone()).expect("instantiate"));
}

/// Instantiates, runs `run` and drops.
pub fn instantiate_run(region: &MmapRegion, module: &Arc<Module>) {
    let mut inst = region.new_instance(module.clone()).expect("instantiate");
    inst.run("run", &[]).expect("run");
}

/// A live instance of `YIELDS`, yielded; each call resumes it once (it
/// yields again).
pub struct Yielder {
    inst: lucet_runtime::InstanceHandle,
}

impl Yielder {
    pub fn new(region: &MmapRegion) -> Yielder {
        let mut inst = region
            .new_instance(load(crate::workloads::YIELDS))
            .expect("instantiate");
        assert!(inst.run("run", &[]).expect("run").is_yielded());
        Yielder { inst }
    }

    pub fn round_trip(&mut self) {
        let r = self.inst.resume().expect("resume");
        debug_assert!(matches!(r, RunResult::Yielded(_)));
    }
}

/// Runs `HOST_CALLS` with `n` calls.
pub fn host_calls(inst: &mut lucet_runtime::InstanceHandle, n: i32) {
    let r = inst.run("run", &[Val::I32(n)]).expect("run");
    debug_assert!(!r.is_yielded());
}

/// A sightglass program under Lucet, ready to run.
pub struct Program {
    module: Arc<Module>,
    region: Arc<MmapRegion>,
}

/// When a program called `bench.start` and `bench.end`.
#[derive(Default)]
struct BenchSpan {
    start: Option<std::time::Instant>,
    end: Option<std::time::Instant>,
}

/// A `Write` whose bytes a benchmark can read back.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Program {
    /// Loads a compiled program with WASI and the `bench` functions.
    pub fn new(elf: &[u8]) -> anyhow::Result<Program> {
        let mut linker = Linker::new();
        lucet_wasi::add_to_linker(&mut linker);
        // The span is the guest's: the clock is read after the embedder
        // context lookup at the start, and before it at the end.
        linker.func("bench", "start", |vmctx: &mut Vmctx| {
            if let Some(s) = vmctx.embed_ctx_mut::<BenchSpan>() {
                s.start = Some(std::time::Instant::now());
            }
        });
        linker.func("bench", "end", |vmctx: &mut Vmctx| {
            let now = std::time::Instant::now();
            if let Some(s) = vmctx.embed_ctx_mut::<BenchSpan>() {
                s.end = Some(now);
            }
        });
        let module = Module::from_bytes(elf, "sightglass", &linker)?;
        let limits = Limits {
            heap_memory_size: 4 << 30,
            stack_size: 1 << 20,
            ..Limits::default()
        };
        Ok(Program {
            module,
            region: MmapRegion::create(1, &limits)?,
        })
    }

    /// Runs `_start` with `dir` preopened as `.`.
    pub fn run(&self, name: &str, dir: &std::path::Path) -> anyhow::Result<crate::Outcome> {
        let stdout = Captured::default();
        let stderr = Captured::default();
        let ctx = lucet_wasi::WasiCtxBuilder::new()
            .arg(name)
            .stdout(lucet_wasi::Stream::Writer(Box::new(stdout.clone())))
            .stderr(lucet_wasi::Stream::Writer(Box::new(stderr.clone())))
            .preopened_dir(dir, ".")?
            .build();
        let t = std::time::Instant::now();
        let mut inst = self
            .region
            .new_instance_builder(self.module.clone())
            .with_embed_ctx(ctx)
            .with_embed_ctx(BenchSpan::default())
            .build()?;
        let instantiate_ns = t.elapsed().as_nanos() as f64;
        match inst.run("_start", &[]) {
            Ok(_) => {}
            Err(lucet_runtime::Error::Terminated(d))
                if d.provided::<lucet_runtime::ExitCode>() == Some(&lucet_runtime::ExitCode(0)) => {
            }
            Err(e) => return Err(e.into()),
        }
        let span = inst.get_embed_ctx::<BenchSpan>().expect("span");
        let bench_ns = match (span.start, span.end) {
            (Some(s), Some(e)) => e.duration_since(s).as_nanos() as f64,
            _ => anyhow::bail!("{name} did not call bench.start and bench.end"),
        };
        drop(inst);
        Ok(crate::Outcome {
            instantiate_ns,
            bench_ns,
            stdout: stdout.take(),
            stderr: stderr.take(),
        })
    }
}
