//! Lucet as `lucet-serve`'s engine: modules compiled with Cranelift ahead
//! of time (or at load, for a `.wasm`/`.wat`), instances in each worker's
//! own slots, runs bounded by the route's deadline and fuel.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lucet_runtime::{
    ExportType, Finished, Limits, Linker, LoadOptions, MmapRegion, Module, Outcome, RunPolicy,
    Watchdog,
};
use lucet_wasi::{DirAccess, Stream, WasiCtxBuilder};

use crate::engine::{Engine, LoadSpec, ModuleInterface, WasiCommand};
use crate::limits::RouteLimits;
use crate::request::HandlerError;

/// Lucet's engine. Its linker defines WASI preview1 for the ABIs that run
/// WASI programs.
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
    /// An engine whose handlers may import WASI preview1.
    pub fn new() -> LucetEngine {
        let mut linker = Linker::new();
        lucet_wasi::add_to_linker(&mut linker);
        LucetEngine {
            linker,
            watchdog: Arc::new(Watchdog::new()),
        }
    }
}

/// A worker's slots: a region of one slot per slot shape its routes need,
/// made when first needed (a worker runs one request at a time).
pub struct LucetWorker {
    regions: Vec<(Limits, Arc<MmapRegion>)>,
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

impl Engine for LucetEngine {
    type Module = Arc<Module>;
    type Worker = LucetWorker;

    fn load(&self, path: &Path, spec: &LoadSpec<'_>) -> Result<Arc<Module>, String> {
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
        lucet_runtime::load_module_with(path, &self.linker, &options).map_err(|e| {
            let text = lucet_module::escape_control(&e.to_string());
            match e {
                lucet_runtime::LoadError::Read { .. } => text,
                _ => format!("{}: {text}", path.display()),
            }
        })
    }

    fn interface(&self, module: &Arc<Module>) -> ModuleInterface {
        ModuleInterface {
            imports: module
                .imports()
                .map(|(m, n)| (m.to_string(), n.to_string()))
                .collect(),
            functions: module
                .exports()
                .filter_map(|(name, ty)| match ty {
                    ExportType::Func(ty) => Some((name.to_string(), ty.clone())),
                    _ => None,
                })
                .collect(),
        }
    }

    fn new_worker(&self) -> LucetWorker {
        LucetWorker {
            regions: Vec::new(),
        }
    }

    fn run_wasi_command(
        &self,
        worker: &mut LucetWorker,
        module: &Arc<Module>,
        command: WasiCommand<'_>,
    ) -> Result<(), HandlerError> {
        let limits = command.limits;
        let region = worker.region(&region_limits(module, limits))?;
        let mut ctx = WasiCtxBuilder::new()
            .args(command.args)
            .envs(command.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stream::Reader(Box::new(Cursor::new(command.stdin))))
            .stdout(Stream::Writer(command.stdout))
            .stderr(Stream::Writer(command.stderr));
        for d in command.dirs {
            let dir = d
                .dir
                .try_clone()
                .map_err(|e| HandlerError::Failed(format!("cannot share {}: {e}", d.guest)))?;
            let access = if d.writable {
                DirAccess::ReadWrite
            } else {
                DirAccess::ReadOnly
            };
            ctx = ctx.preopened(dir, d.guest.clone(), access);
        }
        let policy = RunPolicy {
            deadline: Some(Instant::now() + limits.timeout),
            fuel: limits.fuel,
        };
        let builder = region
            .new_instance_builder(module.clone())
            .with_embed_ctx(ctx.build());
        let Finished { outcome, instance } = policy.run(builder, "_start", &[], &self.watchdog);
        // The slot goes back, and standard error is flushed to the log,
        // before the caller reads what the command wrote.
        drop(instance);
        match handler_error(outcome, limits.timeout) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The end of a run that gave no response, as an error; `None` for a run
/// that returned or exited with status 0.
fn handler_error(outcome: Outcome, limit: Duration) -> Option<HandlerError> {
    let escape = |s: &str| lucet_module::escape_control(s);
    Some(match outcome {
        Outcome::Returned(_) | Outcome::Exited(0) => return None,
        Outcome::Exited(code) => HandlerError::Exited(code),
        Outcome::TimedOut => HandlerError::TimedOut(limit),
        Outcome::OutOfFuel => HandlerError::OutOfFuel,
        Outcome::Trapped {
            code,
            function,
            offset,
        } => HandlerError::Trapped {
            code,
            function: escape(&function),
            offset,
        },
        Outcome::Yielded => HandlerError::Failed("the handler yielded".into()),
        Outcome::Failed(e) => HandlerError::Failed(escape(&e.to_string())),
    })
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
