//! The Lucet runtime's internals: regions and slots, the loader, instances,
//! the context switch, signal handling and traps.
//!
//! Embedders use the `lucet-runtime` crate, a thin layer over this one.
//! Platform code lives in `sys/`; every `unsafe` block carries its safety
//! argument.

mod builtins;
mod embed_ctx;
mod error;
mod host_roots;
mod instance;
mod limits;
mod linker;
mod load;
mod module;
mod sys;
mod type_registry;
mod val;

pub use embed_ctx::EmbedCtx;
pub use error::{Error, ExceptionInfo, TerminationDetails};
pub use instance::{
    Caller, InstanceBuilder, InstanceHandle, Interrupt, IntoHostFunc, KillError, KillSuccess,
    KillSwitch, MmapRegion, Preempted, RunResult, Vmctx, Wait, YieldedVal, MAPPINGS_PER_SLOT,
};
pub use limits::{GcAlgorithm, Limits};
pub use linker::{ComponentHost, HostFunc, HostGlobal, Linker, WasmResults, WasmTy};
pub use lucet_component as component;
pub use lucet_module::{ContentHash, FuncType, HeapType, PublicKey, RefType, TrapCode, ValType};
pub use module::{ExportType, Module};
pub use val::{AnyRef, ExternRef, GcRef, HostRef, Val, I31};
