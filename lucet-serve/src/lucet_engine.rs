//! Lucet as `lucet-serve`'s engine: modules compiled with Cranelift ahead
//! of time (or at load, for a `.wasm`/`.wat`), instances in each worker's
//! own slots, runs bounded by the route's deadline and fuel.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lucet_runtime::{
    Caller, ExportType, Finished, InstanceBuilder, InstanceHandle, Limits, Linker, LoadOptions,
    MmapRegion, Module, Outcome, RunPolicy, Step, Val, Vmctx, Watchdog,
};
use lucet_wasi::{DirAccess, Stream, WasiCtx, WasiCtxBuilder};

use lucet_runtime::component::{lower_flat, Budget, CoreVal, GuestMemory};
use lucet_wasi::component::{ComponentCtx, Interfaces};

use crate::engine::{
    ComponentCall, Engine, GuestCx, HostCall, LoadSpec, ModuleInterface, Step as EngineStep,
    Stopped, WasiCommand,
};
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

/// A worker's slots: per slot shape its routes need, regions of slots made
/// as they are needed. A worker runs one instance at a time but keeps
/// others suspended in their slots, so a shape may need many.
pub struct LucetWorker {
    shapes: Vec<(Limits, Vec<Arc<MmapRegion>>)>,
}

/// Slots in a worker's first region of a shape; each next region of it has
/// twice as many as the last, up to [`MAX_REGION_SLOTS`].
const FIRST_REGION_SLOTS: usize = 4;
/// The most slots in one region.
const MAX_REGION_SLOTS: usize = 1024;
/// Slot shapes a worker keeps after a reload has changed them.
const MAX_SHAPES: usize = 8;
/// How long a free slot keeps the pages its instances touched.
const IDLE_SLOT_KEEPS: Duration = Duration::from_secs(5);
/// The most slots a worker gives pages back from per tidy (each costs a
/// few system calls on the worker's thread): with a tidy every 250 ms,
/// 512 slots a second.
const TRIM_PER_TIDY: usize = 128;

impl LucetWorker {
    /// A region of `limits`' shape with a free slot.
    fn region(&mut self, limits: &Limits) -> Result<Arc<MmapRegion>, HandlerError> {
        let at = match self.shapes.iter().position(|(l, _)| l == limits) {
            Some(i) => i,
            None => {
                // A reload can change every route's limits; shapes nothing
                // uses any more are not kept beyond a few (their regions
                // live on while instances in them do).
                if self.shapes.len() >= MAX_SHAPES {
                    self.shapes.remove(0);
                }
                self.shapes.push((limits.clone(), Vec::new()));
                self.shapes.len() - 1
            }
        };
        let regions = &mut self.shapes[at].1;
        if let Some(r) = regions.iter().find(|r| r.free_slots() > 0) {
            return Ok(r.clone());
        }
        let slots = regions.last().map_or(FIRST_REGION_SLOTS, |r| {
            (r.capacity() * 2).min(MAX_REGION_SLOTS)
        });
        // Every slot keeps the pages its instances touched resident between
        // them, so that the next instance neither faults them in nor makes
        // the system zero them; slots idle for a while give them back
        // (`tidy`), so that a burst leaves no gigabytes behind.
        let region = MmapRegion::create(slots, limits)
            .map_err(|e| HandlerError::Failed(format!("cannot create a slot: {e}")))?;
        regions.push(region.clone());
        Ok(region)
    }
}

impl Engine for LucetEngine {
    type Module = Arc<Module>;
    type Worker = LucetWorker;
    type Suspended = LucetRun;

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
            component: module.component().map(|abi| (**abi).clone()),
        }
    }

    fn define_component_host(&mut self, interfaces: Interfaces) {
        self.linker.component_host(Arc::new(interfaces));
    }

    fn start_component(
        &self,
        worker: &mut LucetWorker,
        module: &Arc<Module>,
        call: ComponentCall<'_>,
    ) -> EngineStep<LucetRun, ComponentCtx> {
        let limits = call.limits;
        let region = match worker.region(&region_limits(module, limits)) {
            Ok(r) => r,
            Err(e) => return EngineStep::Ended(Err(e), None),
        };
        // The arguments are handles and numbers: they lower to core values
        // without touching guest memory.
        let Some(lift) = module
            .component()
            .and_then(|abi| abi.lifts.iter().find(|l| (call.entry)(&l.export)))
        else {
            let e = "the component exports no function this route calls".to_string();
            return EngineStep::Ended(Err(HandlerError::Failed(e)), None);
        };
        let mut args = Vec::new();
        for ((_, ty), value) in lift.signature.params.iter().zip(&call.args) {
            match lower_flat(&mut NoMemory, ty, value, &mut Budget::new(0)) {
                Ok(core) => args.extend(core.into_iter().map(|v| match v {
                    CoreVal::I32(x) => Val::I32(x),
                    CoreVal::I64(x) => Val::I64(x),
                    CoreVal::F32(x) => Val::F32(x),
                    CoreVal::F64(x) => Val::F64(x),
                })),
                Err(e) => {
                    let e = HandlerError::Failed(format!("cannot pass the request: {e}"));
                    return EngineStep::Ended(Err(e), None);
                }
            }
        }
        let deadline = Instant::now() + limits.timeout;
        let policy = RunPolicy {
            deadline: Some(deadline),
            fuel: limits.fuel,
            time_slice: Some(TIME_SLICE),
        };
        let builder = region
            .new_instance_builder(module.clone())
            .with_embed_ctx(call.ctx);
        let post_return = lift.post_return.clone();
        let suspended = |instance, preempted| {
            EngineStep::Suspended(LucetRun {
                instance,
                deadline,
                timeout: limits.timeout,
                fuel: limits.fuel,
                preempted,
                post_return: post_return.clone(),
            })
        };
        match policy.start(builder, &lift.export, &args, &self.watchdog) {
            Step::Suspended(instance) => suspended(instance, false),
            Step::Preempted(instance) => suspended(instance, true),
            Step::Ended(finished) => {
                let finished = lucet_wasi::component::after_return(
                    &policy,
                    finished,
                    post_return.as_deref(),
                    &self.watchdog,
                );
                let (result, instance) = ended(finished, limits.timeout);
                EngineStep::Ended(result, take_state(instance))
            }
        }
    }

    fn new_worker(&self) -> LucetWorker {
        LucetWorker { shapes: Vec::new() }
    }

    fn tidy(&self, worker: &mut LucetWorker) {
        let mut budget = TRIM_PER_TIDY;
        for (_, regions) in &worker.shapes {
            for region in regions {
                budget -= region.trim_idle(IDLE_SLOT_KEEPS, budget);
                if budget == 0 {
                    return;
                }
            }
        }
    }

    fn run_wasi_command(
        &self,
        worker: &mut LucetWorker,
        module: &Arc<Module>,
        command: WasiCommand<'_>,
    ) -> Result<(), HandlerError> {
        match self.start(worker, module, command, None, |b| b) {
            Started::Ended(result, _) => result,
            // WASI's calls never yield: nothing resumes this run, and
            // dropping it frees the slot.
            Started::Suspended(_) => Err(HandlerError::Failed("the handler yielded".into())),
        }
    }

    fn define_host_calls<S: Send + 'static>(&mut self, calls: &'static [HostCall<S>]) {
        for call in calls {
            assert!(
                call.params.len() <= MAX_HOST_CALL_PARAMS,
                "{}.{} has more than {MAX_HOST_CALL_PARAMS} parameters",
                call.module,
                call.name
            );
            let f = call.call;
            let (module, name) = (call.module, call.name);
            self.linker.func_dynamic(
                module,
                name,
                call.func_type(),
                move |vmctx: &mut Vmctx, args: &[Val], results: &mut [Val]| {
                    let Some((state, caller)) = vmctx.embed_ctx_and_caller_mut::<S>() else {
                        vmctx.terminate(format!(
                            "{module}.{name} was called by a handler not run under its ABI"
                        ))
                    };
                    let mut raw = [0u64; MAX_HOST_CALL_PARAMS];
                    let n = args.len().min(MAX_HOST_CALL_PARAMS);
                    for (r, v) in raw.iter_mut().zip(args) {
                        *r = raw_bits(v);
                    }
                    let status = f(state, &mut Guest(caller), &raw[..n]);
                    results[0] = Val::I32(status);
                },
            );
        }
    }

    fn start_wasi_command_with<S: Send + 'static>(
        &self,
        worker: &mut LucetWorker,
        module: &Arc<Module>,
        command: WasiCommand<'_>,
        state: S,
    ) -> EngineStep<LucetRun, S> {
        let slice = Some(TIME_SLICE);
        match self.start(worker, module, command, slice, |b| b.with_embed_ctx(state)) {
            Started::Ended(result, instance) => EngineStep::Ended(result, take_state(instance)),
            Started::Suspended(run) => EngineStep::Suspended(run),
        }
    }

    fn resume<S: Send + 'static>(
        &self,
        _: &mut LucetWorker,
        run: LucetRun,
    ) -> EngineStep<LucetRun, S> {
        let policy = RunPolicy {
            deadline: Some(run.deadline),
            fuel: None,
            time_slice: Some(TIME_SLICE),
        };
        let LucetRun {
            instance,
            deadline,
            timeout,
            fuel,
            post_return,
            ..
        } = run;
        let suspended = |instance, preempted| {
            EngineStep::Suspended(LucetRun {
                instance,
                deadline,
                timeout,
                fuel,
                preempted,
                post_return: post_return.clone(),
            })
        };
        match policy.resume(instance, &self.watchdog) {
            Step::Suspended(instance) => suspended(instance, false),
            Step::Preempted(instance) => suspended(instance, true),
            Step::Ended(finished) => {
                let finished = lucet_wasi::component::after_return(
                    &policy,
                    finished,
                    post_return.as_deref(),
                    &self.watchdog,
                );
                let (result, instance) = ended(finished, timeout);
                EngineStep::Ended(result, take_state(instance))
            }
        }
    }

    fn deadline(&self, run: &LucetRun) -> Instant {
        run.deadline
    }

    fn is_ready(&self, run: &LucetRun) -> bool {
        run.preempted
    }

    fn renew(&self, run: &mut LucetRun) {
        run.deadline = Instant::now() + run.timeout;
        if let Some(fuel) = run.fuel {
            // The module counts instructions: it was started with fuel.
            let _ = run.instance.set_fuel(fuel);
        }
    }
}

/// A run suspended in its slot.
pub struct LucetRun {
    instance: InstanceHandle,
    deadline: Instant,
    timeout: Duration,
    /// The route's fuel, if it has a limit.
    fuel: Option<u64>,
    /// Whether it was preempted (ready to go on), rather than suspended
    /// by a host call (waiting for its waker).
    preempted: bool,
    /// A component's post-return function for the export it runs, to
    /// call once that returns.
    post_return: Option<String>,
}

/// How long a guest of a run that can be suspended (a Compute app's) may
/// compute before it is preempted, so that its worker serves others
/// meanwhile: about what an edge request's whole compute takes, so that
/// most never are.
const TIME_SLICE: Duration = Duration::from_millis(10);

/// How [`LucetEngine::start`] left a run.
enum Started {
    Ended(Result<(), HandlerError>, Option<InstanceHandle>),
    Suspended(LucetRun),
}

/// The ABI's state, taken back from an instance whose run ended.
fn take_state<S: Send + 'static>(instance: Option<InstanceHandle>) -> Option<S> {
    instance.and_then(|mut i| i.remove_embed_ctx::<S>())
}

/// A run's end: the handler's result, and the instance (its WASI context
/// gone, so that standard error is flushed to the log before the caller
/// reads what the command wrote).
fn ended(
    finished: Finished,
    timeout: Duration,
) -> (Result<(), HandlerError>, Option<InstanceHandle>) {
    let Finished {
        outcome,
        mut instance,
    } = finished;
    if let Some(i) = instance.as_mut() {
        drop(i.remove_embed_ctx::<WasiCtx>());
    }
    let result = match handler_error(outcome, timeout) {
        Some(e) => Err(e),
        None => Ok(()),
    };
    (result, instance)
}

impl LucetEngine {
    /// Runs `command` in a fresh instance whose builder `extend` may add
    /// to, until it ends, a host call suspends it, or (with a
    /// `time_slice`) it is preempted.
    fn start(
        &self,
        worker: &mut LucetWorker,
        module: &Arc<Module>,
        command: WasiCommand<'_>,
        time_slice: Option<Duration>,
        extend: impl FnOnce(InstanceBuilder<'_>) -> InstanceBuilder<'_>,
    ) -> Started {
        let limits = command.limits;
        let region = match worker.region(&region_limits(module, limits)) {
            Ok(r) => r,
            Err(e) => return Started::Ended(Err(e), None),
        };
        let mut ctx = WasiCtxBuilder::new()
            .args(command.args)
            .envs(command.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stream::Reader(Box::new(Cursor::new(command.stdin))))
            .stdout(Stream::Writer(command.stdout))
            .stderr(Stream::Writer(command.stderr));
        for d in command.dirs {
            let dir = match d.dir.try_clone() {
                Ok(dir) => dir,
                Err(e) => {
                    let e = HandlerError::Failed(format!("cannot share {}: {e}", d.guest));
                    return Started::Ended(Err(e), None);
                }
            };
            let access = if d.writable {
                DirAccess::ReadWrite
            } else {
                DirAccess::ReadOnly
            };
            ctx = ctx.preopened(dir, d.guest.clone(), access);
        }
        let deadline = Instant::now() + limits.timeout;
        let policy = RunPolicy {
            deadline: Some(deadline),
            fuel: limits.fuel,
            time_slice,
        };
        let builder = region
            .new_instance_builder(module.clone())
            .with_embed_ctx(ctx.build());
        let suspended = |instance, preempted| {
            Started::Suspended(LucetRun {
                instance,
                deadline,
                timeout: limits.timeout,
                fuel: limits.fuel,
                preempted,
                post_return: None,
            })
        };
        match policy.start(extend(builder), "_start", &[], &self.watchdog) {
            Step::Suspended(instance) => suspended(instance, false),
            Step::Preempted(instance) => suspended(instance, true),
            Step::Ended(finished) => {
                let (result, instance) = ended(finished, limits.timeout);
                Started::Ended(result, instance)
            }
        }
    }
}

/// The most parameters a [`HostCall`] may have.
const MAX_HOST_CALL_PARAMS: usize = 16;

/// A value's raw bits, as [`HostCall`]s take them.
fn raw_bits(v: &Val) -> u64 {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        Val::F32(x) => u64::from(x.to_bits()),
        Val::F64(x) => x.to_bits(),
        _ => 0,
    }
}

/// Guest memory for values that need none (handles, numbers).
struct NoMemory;

impl GuestMemory for NoMemory {
    fn bytes(&self) -> &[u8] {
        &[]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut []
    }
    fn alloc(&mut self, _: u32, _: u32) -> Result<u32, lucet_runtime::component::AbiError> {
        Err(lucet_runtime::component::AbiError::Realloc(
            "arguments that need guest memory are not passed yet".into(),
        ))
    }
}

/// The calling guest, as host calls see it.
struct Guest<'a>(Caller<'a>);

impl GuestCx for Guest<'_> {
    fn memory(&mut self) -> &mut [u8] {
        self.0.memory_mut()
    }

    fn suspend(&mut self) -> Result<(), Stopped> {
        self.0.yield_();
        if self.0.interrupt().requested() {
            return Err(Stopped);
        }
        Ok(())
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

/// Bytes of a slot's heap kept resident between requests: room for the
/// initial memory of a JavaScript Compute app (about 7.5 MiB, a 2.9 MiB
/// image in it) and its growth. Only pages a handler touches are kept, in
/// the few slots per worker that serve request after request.
const KEEP_RESIDENT: u64 = 16 << 20;

/// The slot an instance of `module` needs under `limits`.
fn region_limits(module: &Module, limits: &RouteLimits) -> Limits {
    Limits {
        heap_memory_size: limits.max_heap_size,
        stack_size: limits.stack_size,
        // A worker's slot serves request after request: what a handler
        // touches in its first 16 MiB stays resident and is zeroed in
        // place, not faulted in again by the next request.
        keep_resident: KEEP_RESIDENT,
        ..Limits::default()
    }
    .sized_for(module)
}
