//! Wasmtime 48 as `lucet-serve`'s engine: the same server, routes, limits,
//! queue and workers, and the same WAGI code (the engine runs the WASI
//! command that lucet-serve's WAGI ABI asks for), with
//! Wasmtime's pooling allocator (keeping 1 MiB of each memory resident, as
//! lucet-serve does), copy-on-write memory images, `InstancePre`, and epoch
//! interruption for the deadline.

use std::path::Path;
use std::time::Duration;

use lucet_serve::{Engine, HandlerError, LoadSpec, ModuleInterface, WasiCommand};
use wasmtime::{
    Config, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel,
    PoolingAllocationConfig, Store,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// How often the epoch advances: the deadline's resolution.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine: one Wasmtime engine with a pool for `instances` instances.
pub struct WasmtimeEngine {
    engine: wasmtime::Engine,
}

impl WasmtimeEngine {
    /// An engine whose pool holds `instances` instances of memories up to
    /// `max_memory` bytes; a thread advances its epoch every 10 ms.
    pub fn new(instances: u32, max_memory: usize) -> anyhow::Result<WasmtimeEngine> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(instances)
            .total_memories(instances)
            .total_tables(instances)
            .max_memory_size(max_memory)
            // As lucet-serve keeps 1 MiB of a worker's slot resident: what
            // a request touched is zeroed in place, not faulted in again.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.memory_init_cow(true);
        config.cranelift_opt_level(OptLevel::Speed);
        config.epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
        let weak = engine.weak();
        std::thread::spawn(move || {
            while let Some(e) = weak.upgrade() {
                e.increment_epoch();
                drop(e);
                std::thread::sleep(EPOCH_TICK);
            }
        });
        Ok(WasmtimeEngine { engine })
    }
}

impl Engine for WasmtimeEngine {
    type Module = WasmtimeModule;
    type Worker = ();
    // Runs here never suspend.
    type Suspended = std::convert::Infallible;

    fn deadline(&self, run: &Self::Suspended) -> std::time::Instant {
        match *run {}
    }

    fn load(&self, path: &Path, spec: &LoadSpec<'_>) -> Result<WasmtimeModule, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if spec.verify.is_some() {
            return Err("this engine does not verify signatures".into());
        }
        let wasm = wat::parse_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let module =
            Module::new(&self.engine, &wasm).map_err(|e| format!("{}: {e}", path.display()))?;
        let interface = ModuleInterface {
            imports: module
                .imports()
                .map(|i| (i.module().to_string(), i.name().to_string()))
                .collect(),
            functions: module
                .exports()
                .filter_map(|e| match e.ty() {
                    ExternType::Func(f) => Some((e.name().to_string(), func_type(&f)?)),
                    _ => None,
                })
                .collect(),
            component: None,
        };
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |c| c).map_err(|e| e.to_string())?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(WasmtimeModule { pre, interface })
    }

    fn interface(&self, module: &WasmtimeModule) -> ModuleInterface {
        module.interface.clone()
    }

    fn new_worker(&self) {}

    fn run_wasi_command(
        &self,
        _worker: &mut (),
        module: &WasmtimeModule,
        mut command: WasiCommand<'_>,
    ) -> Result<(), HandlerError> {
        if !command.dirs.is_empty() {
            return Err(HandlerError::Failed(
                "this engine does not preopen directories".into(),
            ));
        }
        let limits = command.limits;
        let stdout = MemoryOutputPipe::new(command.stdout_limit);
        let stderr = MemoryOutputPipe::new(limits.max_log_bytes);
        let wasi = WasiCtxBuilder::new()
            .args(&command.args)
            .envs(&command.env)
            .stdin(MemoryInputPipe::new(command.stdin.clone()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let mut store = Store::new(&self.engine, wasi);
        let ticks = limits.timeout.as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(ticks.max(1) as u64);
        let failed = |e: wasmtime::Error| HandlerError::Failed(e.to_string());
        let instance = module.pre.instantiate(&mut store).map_err(failed)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(failed)?;
        let ended = match start.call(&mut store, ()) {
            Ok(()) => Ok(()),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => Ok(()),
                Some(I32Exit(code)) => Err(HandlerError::Exited(*code as u32)),
                None => Err(failed(e)),
            },
        };
        drop(store);
        let copy = |to: &mut Box<dyn std::io::Write + Send>, from: &MemoryOutputPipe| {
            to.write_all(&from.contents())
                .map_err(|e| HandlerError::Failed(e.to_string()))
        };
        copy(&mut command.stderr, &stderr)?;
        ended?;
        copy(&mut command.stdout, &stdout)
    }
}

/// A loaded module: ready to instantiate, and what it imports and exports.
pub struct WasmtimeModule {
    pre: InstancePre<WasiP1Ctx>,
    interface: ModuleInterface,
}

/// A function type in Lucet's terms, if its value types are numbers.
fn func_type(f: &wasmtime::FuncType) -> Option<lucet_runtime::FuncType> {
    fn val(t: wasmtime::ValType) -> Option<lucet_runtime::ValType> {
        use lucet_runtime::ValType as L;
        Some(match t {
            wasmtime::ValType::I32 => L::I32,
            wasmtime::ValType::I64 => L::I64,
            wasmtime::ValType::F32 => L::F32,
            wasmtime::ValType::F64 => L::F64,
            wasmtime::ValType::V128 => L::V128,
            wasmtime::ValType::Ref(_) => return None,
        })
    }
    let params: Option<Vec<_>> = f.params().map(val).collect();
    let results: Option<Vec<_>> = f.results().map(val).collect();
    Some(lucet_runtime::FuncType::new(params?, results?))
}
