//! The peer: Wasmtime 48 in its fastest documented configuration for this
//! workload — the pooling instance allocator, copy-on-write memory images,
//! `InstancePre`, and modules precompiled ahead of time and deserialized.

use std::path::Path;
use std::time::Instant;

use wasmtime::{
    Caller, Config, Engine, Error, InstanceAllocationStrategy, InstancePre, Linker, Module,
    OptLevel, PoolingAllocationConfig, Result, Store,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// An engine with a pool for `instances` live instances whose memories
/// grow to at most 4 MiB (Lucet's benchmark regions have the same limit).
pub fn engine(instances: u32) -> Engine {
    engine_with_memory(instances, 4 << 20)
}

/// An engine with a pool for `instances` live instances whose memories
/// grow to at most `max_memory` bytes.
pub fn engine_with_memory(instances: u32, max_memory: usize) -> Engine {
    engine_with(instances, max_memory, false)
}

/// `engine_with_memory`, counting fuel if `consume_fuel` (programs then run
/// without a limit, as Lucet's `--count-instructions` rows do).
pub fn engine_with(instances: u32, max_memory: usize, consume_fuel: bool) -> Engine {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(instances)
        .total_memories(instances)
        .total_tables(instances)
        .table_elements(20_000)
        .max_memory_size(max_memory);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.memory_init_cow(true);
    config.cranelift_opt_level(OptLevel::Speed);
    config.consume_fuel(consume_fuel);
    Engine::new(&config).expect("engine")
}

/// Precompiles `wasm` (binary or text) for `engine`.
pub fn precompile(engine: &Engine, wasm: &[u8]) -> Vec<u8> {
    let wasm = wat::parse_bytes(wasm).expect("wat");
    engine.precompile_module(&wasm).expect("precompile")
}

/// A module precompiled and deserialized, as a server would load it.
pub fn load(engine: &Engine, wat: &str) -> Module {
    let bytes = precompile(engine, wat.as_bytes());
    // SAFETY: the bytes were just produced by `precompile_module` of this
    // engine.
    unsafe { Module::deserialize(engine, &bytes) }.expect("deserialize")
}

/// The host functions the workloads import.
pub fn linker(engine: &Engine) -> Linker<()> {
    let mut l = Linker::new(engine);
    l.func_wrap("env", "inc", |x: i32| x.wrapping_add(1))
        .expect("inc");
    l.func_wrap("env", "yield", || {}).expect("yield");
    l
}

/// `load` then `instantiate_pre` with [`linker`].
pub fn pre(engine: &Engine, wat: &str) -> InstancePre<()> {
    linker(engine)
        .instantiate_pre(&load(engine, wat))
        .expect("instantiate_pre")
}

/// Instantiates (in a fresh store) and drops.
pub fn instantiate(engine: &Engine, pre: &InstancePre<()>) {
    let mut store = Store::new(engine, ());
    pre.instantiate(&mut store).expect("instantiate");
}

/// Instantiates, runs `run` and drops.
pub fn instantiate_run(engine: &Engine, pre: &InstancePre<()>) -> Result<()> {
    let mut store = Store::new(engine, ());
    let inst = pre.instantiate(&mut store)?;
    inst.get_typed_func::<(), ()>(&mut store, "run")?
        .call(&mut store, ())
}

/// The host state of a sightglass run.
pub struct Host {
    wasi: WasiP1Ctx,
    start: Option<Instant>,
    end: Option<Instant>,
}

/// A sightglass program, ready to run.
pub struct Program {
    engine: Engine,
    pre: InstancePre<Host>,
}

impl Program {
    /// Loads precompiled `bytes`.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Program> {
        // SAFETY: `bytes` come from `precompile` with this engine.
        let module = unsafe { Module::deserialize(engine, bytes) }?;
        let mut linker: Linker<Host> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| &mut h.wasi)?;
        linker.func_wrap("bench", "start", |mut c: Caller<'_, Host>| {
            c.data_mut().start = Some(Instant::now());
        })?;
        linker.func_wrap("bench", "end", |mut c: Caller<'_, Host>| {
            c.data_mut().end = Some(Instant::now());
        })?;
        Ok(Program {
            engine: engine.clone(),
            pre: linker.instantiate_pre(&module)?,
        })
    }

    /// Runs `_start` with `dir` preopened as `.`.
    pub fn run(&self, name: &str, dir: &Path) -> Result<crate::Outcome> {
        let stdout = MemoryOutputPipe::new(64 << 20);
        let stderr = MemoryOutputPipe::new(64 << 20);
        let wasi = WasiCtxBuilder::new()
            .arg(name)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .preopened_dir(dir, ".", FsPerms::ReadWrite)?
            .build_p1();
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi,
                start: None,
                end: None,
            },
        );
        // `get_fuel` fails unless the engine counts fuel.
        if store.get_fuel().is_ok() {
            store.set_fuel(u64::MAX)?;
        }
        let t = Instant::now();
        let inst = self.pre.instantiate(&mut store)?;
        let instantiate_ns = t.elapsed().as_nanos() as f64;
        let start = inst.get_typed_func::<(), ()>(&mut store, "_start")?;
        match start.call(&mut store, ()) {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<I32Exit>().is_some_and(|x| x.0 == 0) => {}
            Err(e) => return Err(e),
        }
        let h = store.data();
        let bench_ns = match (h.start, h.end) {
            (Some(s), Some(e)) => e.duration_since(s).as_nanos() as f64,
            _ => {
                return Err(Error::msg(format!(
                    "{name} did not call bench.start and bench.end"
                )))
            }
        };
        drop(store);
        Ok(crate::Outcome {
            instantiate_ns,
            bench_ns,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
        })
    }
}

/// A future that is pending once, then ready: a host call that suspends
/// its caller (Wasmtime runs it on a fiber) and completes when resumed.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// A waker that does nothing: suspended runs are polled once and held.
fn noop_waker() -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable, Waker};
    const VTABLE: RawWakerVTable = RawWakerVTable::new(|_| RAW, |_| {}, |_| {}, |_| {});
    const RAW: RawWaker = RawWaker::new(std::ptr::null(), &VTABLE);
    // SAFETY: every function of the vtable ignores the data pointer.
    unsafe { Waker::from_raw(RAW) }
}

/// A run suspended inside its `env.yield` host call.
pub type Suspended = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// Instances of one module, each run until its `run` export is suspended
/// inside `env.yield` — on a fiber from the pool, as Lucet's yielded
/// instances sit on their slot's stack.
pub struct SuspendedInstances {
    pre: InstancePre<()>,
    held: Vec<Suspended>,
}

impl SuspendedInstances {
    /// Room for `instances` instances of `wat` with `stack_size`-byte
    /// fiber stacks.
    pub fn new(wat: &str, instances: u32, stack_size: usize) -> Result<SuspendedInstances> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(instances)
            .total_memories(instances)
            .total_tables(instances)
            .total_stacks(instances)
            .max_memory_size(4 << 20);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.memory_init_cow(true);
        config.async_stack_size(stack_size);
        config.max_wasm_stack(stack_size / 2);
        let engine = Engine::new(&config)?;
        let mut linker: Linker<()> = Linker::new(&engine);
        linker.func_wrap_async("env", "yield", |_caller: Caller<'_, ()>, (): ()| {
            Box::new(YieldOnce(false))
        })?;
        Ok(SuspendedInstances {
            pre: linker.instantiate_pre(&load(&engine, wat))?,
            held: Vec::with_capacity(instances as usize),
        })
    }

    /// Starts `n` more instances and leaves them suspended.
    pub fn hold(&mut self, n: usize) -> Result<()> {
        let waker = noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        for _ in 0..n {
            let pre = self.pre.clone();
            let mut run: Suspended = Box::pin(async move {
                let mut store = Store::new(pre.module().engine(), ());
                let instance = pre.instantiate_async(&mut store).await?;
                let run = instance.get_typed_func::<(), ()>(&mut store, "run")?;
                run.call_async(&mut store, ()).await
            });
            if run.as_mut().poll(&mut cx).is_ready() {
                return Err(Error::msg("the run finished instead of suspending"));
            }
            self.held.push(run);
        }
        Ok(())
    }
}

/// Time from asking to stop an infinite loop (from another thread) to the
/// call's return, in nanoseconds, `trials` times: Wasmtime's epoch
/// interruption (the engine's epoch is incremented past the store's
/// deadline).
pub fn interrupt_latencies(trials: usize) -> Result<Vec<f64>> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    let engine = Engine::new(&config)?;
    let wasm = wat::parse_str(crate::workloads::SPIN).map_err(Error::msg)?;
    let module = Module::new(&engine, wasm)?;
    let linker: Linker<()> = Linker::new(&engine);
    let pre = linker.instantiate_pre(&module)?;
    let mut out = Vec::with_capacity(trials);
    for _ in 0..trials {
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(1);
        let inst = pre.instantiate(&mut store)?;
        let run = inst.get_typed_func::<(), ()>(&mut store, "run")?;
        let killer_engine = engine.clone();
        let latency = crate::stop_latency_ns(
            || run.call(&mut store, ()).is_err(),
            move || {
                killer_engine.increment_epoch();
                true
            },
        );
        out.push(latency.ok_or_else(|| Error::msg("the infinite loop returned"))?);
    }
    Ok(out)
}

/// An engine for the GC workloads: WebAssembly GC on, with Wasmtime's
/// default collector (deferred reference counting) and GC heap.
pub fn gc_engine() -> Engine {
    let mut config = Config::new();
    config.wasm_gc(true);
    config.wasm_function_references(true);
    config.cranelift_opt_level(OptLevel::Speed);
    Engine::new(&config).expect("engine")
}

/// One instance of a GC workload, in a store of its own, kept across runs
/// (as Lucet's instance is).
pub struct GcInstance {
    store: Store<()>,
    instance: wasmtime::Instance,
}

impl GcInstance {
    /// An instance of `wat` (which imports nothing).
    pub fn new(engine: &Engine, wat: &str) -> GcInstance {
        let module = load(engine, wat);
        let mut store = Store::new(engine, ());
        let instance = Linker::new(engine)
            .instantiate(&mut store, &module)
            .expect("instantiate");
        GcInstance { store, instance }
    }

    /// Calls `run(arg) -> i32`.
    pub fn run_i32(&mut self, arg: i32) -> i32 {
        let f = self
            .instance
            .get_typed_func::<i32, i32>(&mut self.store, "run")
            .expect("run");
        f.call(&mut self.store, arg).expect("call")
    }

    /// Calls `run(arg) -> i64`.
    pub fn run_i64(&mut self, arg: i32) -> i64 {
        let f = self
            .instance
            .get_typed_func::<i32, i64>(&mut self.store, "run")
            .expect("run");
        f.call(&mut self.store, arg).expect("call")
    }
}
