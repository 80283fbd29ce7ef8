//! Lucet: run WebAssembly modules compiled ahead of time by `lucetc`, in
//! pooled, isolated instances.
//!
//! ```no_run
//! use lucet_runtime::{Limits, Linker, MmapRegion, Module, Val, Vmctx};
//!
//! // Host functions the module may import.
//! let mut linker = Linker::new();
//! linker.func("env", "double", |_: &mut Vmctx, x: i32| x * 2);
//!
//! // A compiled module (see `lucetc`), loaded once, instantiated many times.
//! let module = Module::load("fac.lucet", &linker)?;
//! let region = MmapRegion::create(1000, &Limits::default())?;
//! let mut instance = region.new_instance(module)?;
//! let results = instance.run("fac", &[Val::I64(10)])?.returned()?;
//! assert_eq!(results, vec![Val::I64(3628800)]);
//! # Ok::<(), lucet_runtime::Error>(())
//! ```
//!
//! - [`Module`]: a compiled file, loaded (its content hash checked, code
//!   mapped read+execute, imports resolved against a [`Linker`]);
//!   [`Module::load_verified`] also requires a signature by a [`PublicKey`].
//!   [`load_module`] takes whatever file a user has: a compiled file, or
//!   (with the default `compiler` feature) a `.wasm` or `.wat` file,
//!   compiled in-process.
//! - [`MmapRegion`]: address space for a fixed number of instances, each in
//!   its own slot sized by [`Limits`] ([`Limits::sized_for`] fits them to a
//!   module).
//! - [`InstanceHandle`]: a live instance; `run`, `resume`, `reset`; dropping
//!   it returns the slot.
//! - [`Vmctx`]: what a host function sees of its caller.
//!
//! - [`RunPolicy`]: one run bounded by a deadline (enforced by a shared
//!   [`Watchdog`] through the instance's kill switch) and fuel, and how it
//!   ended ([`Outcome`]); every host ABI's runner goes through it.
//!
//! Guest faults come back as [`Error::Trap`]; a guest never crashes the host.

mod load;
mod policy;

pub use load::{load_module, load_module_with, LoadError, LoadOptions, ModuleKind};
pub use lucet_runtime_internals::{
    component, AnyRef, Caller, ComponentHost, ContentHash, EmbedCtx, Error, ExceptionInfo,
    ExportType, ExternRef, FuncType, GcAlgorithm, GcRef, HeapType, HostFunc, HostGlobal, HostRef,
    InstanceBuilder, InstanceHandle, Interrupt, IntoHostFunc, KillError, KillSuccess, KillSwitch,
    Limits, Linker, MmapRegion, Module, Preempted, PublicKey, RefType, RunResult,
    TerminationDetails, TrapCode, Val, ValType, Vmctx, Wait, WasmResults, WasmTy, YieldedVal, I31,
    MAPPINGS_PER_SLOT,
};
pub use policy::{Armed, ExitCode, Finished, Outcome, RunPolicy, Step, Watchdog};

/// A region of instance slots: the type embedders share between threads.
pub type Region = MmapRegion;
