//! Engines: what loads a route's module and runs it in fresh instances on
//! the worker threads. The server core (HTTP, limits, the queue, the
//! workers) knows only the [`Engine`] trait; each handler ABI (`abi/`) is
//! written once against what an engine can run, such as a WASI command
//! ([`WasiCommand`]), or a WASI command that also imports an ABI's own
//! host calls ([`HostCall`]). `lucet_engine.rs` is Lucet's engine; the
//! benchmarks put Wasmtime behind the same server through this trait.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use lucet_module::{FuncType, ValType};
use lucet_runtime::component::{ComponentAbi, Val as ComponentVal};
use lucet_wasi::component::{ComponentCtx, Interfaces};

use crate::limits::RouteLimits;
use crate::request::HandlerError;
use crate::route::OpenDir;

/// How a route wants its module loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadSpec<'a> {
    /// Compile (a `.wasm`/`.wat`) to count instructions: the route has fuel.
    pub count_instructions: bool,
    /// Require a compiled file signed by the minisign public key in this
    /// file.
    pub verify: Option<&'a Path>,
}

/// What a loaded module imports and exports: what picking and checking its
/// handler ABI needs to know of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleInterface {
    /// Every import, as `(module, name)`.
    pub imports: Vec<(String, String)>,
    /// Every exported function, with its type.
    pub functions: Vec<(String, FuncType)>,
    /// When the module was compiled from a component: its imports and
    /// exports at the component level.
    pub component: Option<ComponentAbi>,
}

impl ModuleInterface {
    /// Whether the module imports anything from `module`.
    pub fn imports_from(&self, module: &str) -> bool {
        self.imports.iter().any(|(m, _)| m == module)
    }

    /// The type of the exported function `name`.
    pub fn function(&self, name: &str) -> Option<&FuncType> {
        self.functions
            .iter()
            .find_map(|(n, ty)| (n == name).then_some(ty))
    }
}

/// A WASI preview1 command to run in a fresh instance of a module, within
/// a route's limits (its deadline and fuel): what WAGI asks of an engine.
pub struct WasiCommand<'a> {
    /// argv.
    pub args: Vec<String>,
    /// The environment, in order (a later duplicate wins).
    pub env: Vec<(String, String)>,
    /// Standard input.
    pub stdin: Bytes,
    /// Standard output. It refuses writes past `stdout_limit` bytes.
    pub stdout: Box<dyn Write + Send>,
    /// The most the command may write to standard output (for engines that
    /// buffer it themselves).
    pub stdout_limit: usize,
    /// Standard error.
    pub stderr: Box<dyn Write + Send>,
    /// Directories to preopen.
    pub dirs: &'a [OpenDir],
    /// The route's limits.
    pub limits: &'a RouteLimits,
}

/// A component's export to call in a fresh instance, with the resources
/// its arguments name already in `ctx`: what the `wasi:http` ABI asks of
/// an engine.
pub struct ComponentCall<'a> {
    /// Which export to call: the first the component has that this
    /// accepts (`wasi:http/incoming-handler@0.2.x#handle`).
    pub entry: fn(&str) -> bool,
    /// Its arguments, component values (handles into `ctx`'s table).
    pub args: Vec<ComponentVal>,
    /// The instance's host side: its resources, and its program's WASI
    /// context (standard output and error, environment).
    pub ctx: ComponentCtx,
    /// The route's limits.
    pub limits: &'a RouteLimits,
}

/// What a host call sees of the guest that called it.
pub trait GuestCx {
    /// The guest's linear memory (its first memory); empty if it has none.
    fn memory(&mut self) -> &mut [u8];

    /// Suspends the guest in its slot until its run's waker is woken (see
    /// [`Engine::start_wasi_command_with`]), or its deadline passes; the
    /// worker runs other instances meanwhile. `Err(Stopped)`: the run is
    /// being stopped (its deadline passed), and the host call must return
    /// at once (what it returns does not matter: the run ends). A run that
    /// is abandoned while suspended (its client left) unwinds the host call
    /// instead. Linear memory may have grown: borrow it again afterwards.
    fn suspend(&mut self) -> Result<(), Stopped>;
}

/// A suspended run was resumed to be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Where a run stands: ended (with the ABI's state, unless no instance
/// could be made), or suspended in its slot until resumed.
pub enum Step<R, S> {
    Ended(Result<(), HandlerError>, Option<S>),
    Suspended(R),
}

/// One host function of a handler ABI: the import `module.name`, taking
/// `params` and returning one `i32`, served by `call` with the request's
/// state `S` (which the ABI gives the run, see
/// [`Engine::run_wasi_command_with`]). Arguments arrive as raw bits: an
/// `i32` in the low 32 bits, an `i64` in all 64.
pub struct HostCall<S> {
    /// The import module.
    pub module: &'static str,
    /// The import name.
    pub name: &'static str,
    /// The parameter types (`i32` and `i64` only).
    pub params: &'static [ValType],
    /// The implementation.
    pub call: fn(&mut S, &mut dyn GuestCx, &[u64]) -> i32,
}

impl<S> HostCall<S> {
    /// Its WebAssembly type.
    pub fn func_type(&self) -> FuncType {
        FuncType::new(self.params.iter().copied(), [ValType::I32])
    }
}

/// Loads handler modules and runs them. `Module` is shared by every worker;
/// `Worker` is one worker thread's own state (its instance slots).
pub trait Engine: Send + Sync + 'static {
    /// A loaded module.
    type Module: Send + Sync + 'static;
    /// A worker thread's state.
    type Worker: 'static;
    /// A run suspended in its slot (see [`GuestCx::suspend`]).
    type Suspended: 'static;

    /// Loads the handler at `path` as `spec` says; the error is one line.
    fn load(&self, path: &Path, spec: &LoadSpec<'_>) -> Result<Self::Module, String>;

    /// What `module` imports and exports.
    fn interface(&self, module: &Self::Module) -> ModuleInterface;

    /// The state of one worker thread, made on that thread when it starts.
    fn new_worker(&self) -> Self::Worker;

    /// Runs `command` in a fresh instance of `module` on `worker`; `Ok`
    /// when it returned or exited with status 0.
    fn run_wasi_command(
        &self,
        worker: &mut Self::Worker,
        module: &Self::Module,
        command: WasiCommand<'_>,
    ) -> Result<(), HandlerError>;

    /// Makes the functions of `interfaces` importable by the components
    /// this engine loads from now on. Engines that cannot run components
    /// keep the default, which defines nothing.
    fn define_component_host(&mut self, interfaces: Interfaces) {
        let _ = interfaces;
    }

    /// Starts a component's export in a fresh instance of `module` on
    /// `worker`, as [`start_wasi_command_with`](Self::start_wasi_command_with)
    /// starts a command: a run that computes past its time slice, or whose
    /// host call suspends it, is suspended; [`resume`](Self::resume) it
    /// (its state is a `ComponentCtx`). When it ends, its `ComponentCtx`
    /// comes back (unless no instance could be made). Engines that cannot
    /// run components keep the default, which runs nothing.
    fn start_component(
        &self,
        worker: &mut Self::Worker,
        module: &Self::Module,
        call: ComponentCall<'_>,
    ) -> Step<Self::Suspended, ComponentCtx> {
        let _ = (worker, module, call);
        Step::Ended(
            Err(HandlerError::Failed(
                "this engine does not run components".into(),
            )),
            None,
        )
    }

    /// Makes `calls` importable by the modules this engine loads from now
    /// on. A call made by an instance whose run has no state `S` ends the
    /// run with an error. Engines that cannot define host functions keep
    /// the default, which defines nothing (modules importing them do not
    /// load).
    fn define_host_calls<S: Send + 'static>(&mut self, calls: &'static [HostCall<S>]) {
        let _ = calls;
    }

    /// Starts `command` as [`run_wasi_command`](Self::run_wasi_command)
    /// does, with `state` available to the host calls of
    /// [`define_host_calls`](Self::define_host_calls). A host call that
    /// suspends the guest suspends the run: [`resume`](Self::resume) it on
    /// the same worker when the waker the ABI gave its host calls is woken,
    /// or once its deadline has passed (it then ends as timed out). When the
    /// run ends, `state` comes back. Engines that cannot suspend keep the
    /// default, which runs nothing.
    fn start_wasi_command_with<S: Send + 'static>(
        &self,
        worker: &mut Self::Worker,
        module: &Self::Module,
        command: WasiCommand<'_>,
        state: S,
    ) -> Step<Self::Suspended, S> {
        let _ = (worker, module, command);
        Step::Ended(
            Err(HandlerError::Failed(
                "this engine defines no host calls".into(),
            )),
            Some(state),
        )
    }

    /// Continues a suspended run, whose state is an `S`.
    fn resume<S: Send + 'static>(
        &self,
        worker: &mut Self::Worker,
        run: Self::Suspended,
    ) -> Step<Self::Suspended, S> {
        let _ = (worker, run);
        Step::Ended(
            Err(HandlerError::Failed(
                "this engine cannot resume runs".into(),
            )),
            None,
        )
    }

    /// When a suspended run's deadline passes.
    fn deadline(&self, run: &Self::Suspended) -> std::time::Instant;

    /// Whether a suspended run can go on at once, waiting for nothing: its
    /// guest used its time slice and was preempted, so that the worker
    /// runs others before it goes on. Engines that do not preempt keep the
    /// default: never.
    fn is_ready(&self, run: &Self::Suspended) -> bool {
        let _ = run;
        false
    }

    /// Starts a suspended run's deadline and fuel again from now, as the
    /// route's limits give them (a reused instance has taken its next
    /// request). Engines that cannot suspend keep the default, which does
    /// nothing.
    fn renew(&self, run: &mut Self::Suspended) {
        let _ = run;
    }

    /// Housekeeping between runs, which a worker does about every
    /// [`TIDY_INTERVAL`](crate::engine::TIDY_INTERVAL): giving back what
    /// idle slots hold. The default does nothing.
    fn tidy(&self, worker: &mut Self::Worker) {
        let _ = worker;
    }
}

/// How often a worker tidies ([`Engine::tidy`]).
pub(crate) const TIDY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
