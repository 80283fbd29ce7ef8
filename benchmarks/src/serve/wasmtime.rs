//! Wasmtime 48 as `lucet-serve`'s engine: the same server, routes, limits,
//! queue and workers, and the same WAGI (`lucet_serve::wagi`), with
//! Wasmtime's pooling allocator (keeping 1 MiB of each memory resident, as
//! lucet-serve does), copy-on-write memory images, `InstancePre`, and epoch
//! interruption for the deadline.

use std::any::Any;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lucet_serve::{wagi, Engine, GuestRequest, GuestResponse, HandlerError, LoadedModule, Route};
use wasmtime::{
    Config, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel,
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
    fn load(
        &self,
        path: &Path,
        spec: &lucet_serve::LoadSpec<'_>,
    ) -> Result<Arc<dyn LoadedModule>, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if spec.verify.is_some() {
            return Err("this engine does not verify signatures".into());
        }
        let wasm = wat::parse_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let module =
            Module::new(&self.engine, &wasm).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |c| c).map_err(|e| e.to_string())?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Arc::new(WasmtimeModule {
            engine: self.engine.clone(),
            pre,
        }))
    }

    fn new_worker(&self) -> Box<dyn Any> {
        Box::new(())
    }
}

struct WasmtimeModule {
    engine: wasmtime::Engine,
    pre: InstancePre<WasiP1Ctx>,
}

impl LoadedModule for WasmtimeModule {
    fn handle(
        &self,
        _worker: &mut dyn Any,
        route: &Route,
        request: &GuestRequest,
    ) -> Result<GuestResponse, HandlerError> {
        let limits = &route.limits;
        let capacity = limits.max_response_body as usize + limits.max_response_headers;
        let stdout = MemoryOutputPipe::new(capacity);
        let mut env = route.env.clone();
        env.extend(wagi::cgi_variables(&route.pattern, request));
        let wasi = WasiCtxBuilder::new()
            .args(&wagi::argv(
                &route.module_name,
                request.uri.query().unwrap_or(""),
            ))
            .envs(&env)
            .stdin(MemoryInputPipe::new(request.body.clone()))
            .stdout(stdout.clone())
            .build_p1();
        let mut store = Store::new(&self.engine, wasi);
        let ticks = limits.timeout.as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(ticks.max(1) as u64);
        let failed = |e: wasmtime::Error| HandlerError::Failed(e.to_string());
        let instance = self.pre.instantiate(&mut store).map_err(failed)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(failed)?;
        match start.call(&mut store, ()) {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<I32Exit>().is_some_and(|x| x.0 == 0) => {}
            Err(e) => return Err(failed(e)),
        }
        drop(store);
        wagi::parse_response(
            stdout.contents().to_vec(),
            limits.max_response_headers,
            limits.max_response_body,
        )
    }
}
