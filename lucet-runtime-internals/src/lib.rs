//! The Lucet runtime's internals: regions and slots, the loader, instances,
//! the context switch, signal handling and traps.
//!
//! Embedders use the `lucet-runtime` crate, a thin layer over this one.
//! Platform code lives in `sys/`; every `unsafe` block carries its safety
//! argument.

mod builtins;
mod embed_ctx;
mod error;
mod instance;
mod limits;
mod linker;
mod module;
mod region;
mod sys;
mod type_registry;
mod val;
mod vmctx;

pub use embed_ctx::EmbedCtx;
pub use error::{Error, ExceptionInfo};
pub use instance::{
    InstanceHandle, Interrupt, KillError, KillSuccess, KillSwitch, RunResult, TerminationDetails,
    Wait, YieldedVal,
};
pub use limits::{GcAlgorithm, Limits};
pub use linker::{HostFunc, HostGlobal, IntoHostFunc, Linker, WasmResults, WasmTy};
pub use lucet_module::{
    ContentHash, FuncType, HeapType, ModuleData, PublicKey, RefType, TrapCode, ValType,
};
pub use module::Module;
pub use region::{InstanceBuilder, MmapRegion, MAPPINGS_PER_SLOT};
pub use val::{AnyRef, ExternRef, GcRef, HostRef, Val, I31};
pub use vmctx::Vmctx;
