//! Engines: what loads a route's module and runs a request in a fresh
//! instance of it. The server core (HTTP, limits, the queue, the workers)
//! knows only these traits; [`LucetEngine`] is Lucet's, and the benchmarks
//! put Wasmtime behind the same server through them.

use std::any::Any;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lucet_runtime::{Limits, Linker, MmapRegion, Module};
use lucet_runtime::{LoadOptions, RunPolicy, Watchdog};

use crate::abi::{self, Guest, GuestRequest, GuestResponse, HandlerAbi, HandlerError};
use crate::app::Route;
use crate::limits::RouteLimits;

/// How a route wants its module loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadSpec<'a> {
    /// Compile (a `.wasm`/`.wat`) to count instructions: the route has fuel.
    pub count_instructions: bool,
    /// Require a compiled file signed by the minisign public key in this
    /// file.
    pub verify: Option<&'a Path>,
}

/// Loads handler modules and gives each worker thread its own state.
pub trait Engine: Send + Sync + 'static {
    /// Loads the handler at `path` as `spec` says; the error is one line.
    fn load(&self, path: &Path, spec: &LoadSpec<'_>) -> Result<Arc<dyn LoadedModule>, String>;

    /// The state of one worker thread (its instance slots), made on that
    /// thread when it starts.
    fn new_worker(&self) -> Box<dyn Any>;
}

/// A loaded handler module, shared by every worker.
pub trait LoadedModule: Send + Sync {
    /// Handles `request` in a fresh instance, within `route`'s limits, on
    /// the worker whose state is `worker` (from [`Engine::new_worker`]).
    fn handle(
        &self,
        worker: &mut dyn Any,
        route: &Route,
        request: &GuestRequest,
    ) -> Result<GuestResponse, HandlerError>;
}

/// Lucet: modules compiled with Cranelift ahead of time (or at load, for a
/// `.wasm`/`.wat`), instances in each worker's own slots.
pub struct LucetEngine {
    linker: Linker,
    watchdog: Arc<Watchdog>,
}

impl Default for LucetEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl LucetEngine {
    /// An engine whose handlers import WASI preview1.
    pub fn new() -> LucetEngine {
        let mut linker = Linker::new();
        lucet_wasi::add_to_linker(&mut linker);
        LucetEngine {
            linker,
            watchdog: Arc::new(Watchdog::new()),
        }
    }
}

impl Engine for LucetEngine {
    fn load(&self, path: &Path, spec: &LoadSpec<'_>) -> Result<Arc<dyn LoadedModule>, String> {
        let verify = spec
            .verify
            .map(lucet_runtime::PublicKey::from_file)
            .transpose()
            .map_err(|e| lucet_module::escape_control(&e.to_string()))?;
        let options = LoadOptions {
            count_instructions: spec.count_instructions,
            compile_budget: Some(Duration::from_secs(60)),
            function_compile_budget: Some(Duration::from_secs(10)),
            verify,
        };
        let module =
            lucet_runtime::load_module_with(path, &self.linker, &options).map_err(|e| {
                let text = lucet_module::escape_control(&e.to_string());
                match e {
                    lucet_runtime::LoadError::Read { .. } => text,
                    _ => format!("{}: {text}", path.display()),
                }
            })?;
        let abi = abi::by_name("wagi").expect("the WAGI ABI exists");
        abi.check(&module)
            .map_err(|m| format!("{}: {m}", path.display()))?;
        Ok(Arc::new(LucetModule { module, abi }))
    }

    fn new_worker(&self) -> Box<dyn Any> {
        Box::new(LucetWorker {
            regions: Vec::new(),
            watchdog: self.watchdog.clone(),
        })
    }
}

/// A module loaded by [`LucetEngine`], with the ABI its requests go through.
struct LucetModule {
    module: Arc<Module>,
    abi: Arc<dyn HandlerAbi>,
}

impl LoadedModule for LucetModule {
    fn handle(
        &self,
        worker: &mut dyn Any,
        route: &Route,
        request: &GuestRequest,
    ) -> Result<GuestResponse, HandlerError> {
        let worker = worker
            .downcast_mut::<LucetWorker>()
            .expect("a Lucet module runs on a Lucet worker");
        let limits = region_limits(&self.module, &route.limits);
        let region = worker.region(&limits)?;
        let guest = Guest {
            builder: region.new_instance_builder(self.module.clone()),
            policy: RunPolicy {
                deadline: Some(Instant::now() + route.limits.timeout),
                fuel: route.limits.fuel,
            },
            watchdog: &worker.watchdog,
        };
        self.abi.handle(route, request, guest)
    }
}

/// A worker's slots: a region of one slot per slot shape its routes need,
/// made when first needed (a worker runs one request at a time).
struct LucetWorker {
    regions: Vec<(Limits, Arc<MmapRegion>)>,
    watchdog: Arc<Watchdog>,
}

impl LucetWorker {
    fn region(&mut self, limits: &Limits) -> Result<Arc<MmapRegion>, HandlerError> {
        if let Some((_, r)) = self.regions.iter().find(|(l, _)| l == limits) {
            return Ok(r.clone());
        }
        let region = MmapRegion::create(1, limits)
            .map_err(|e| HandlerError::Failed(format!("cannot create a slot: {e}")))?;
        // A reload can change every route's limits; shapes nothing uses any
        // more are not kept beyond a few.
        if self.regions.len() >= 8 {
            self.regions.remove(0);
        }
        self.regions.push((limits.clone(), region.clone()));
        Ok(region)
    }
}

/// Bytes of a slot's heap kept resident between requests.
const KEEP_RESIDENT: u64 = 1 << 20;

/// The slot an instance of `module` needs under `limits`.
fn region_limits(module: &Module, limits: &RouteLimits) -> Limits {
    Limits {
        heap_memory_size: limits.max_heap_size,
        stack_size: limits.stack_size,
        // A worker's slot serves request after request: what a handler
        // touches in its first MiB stays resident and is zeroed in place,
        // not faulted in again by the next request.
        keep_resident: KEEP_RESIDENT,
        ..Limits::default()
    }
    .sized_for(module)
}
