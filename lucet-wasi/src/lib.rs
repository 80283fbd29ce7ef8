//! `lucet-wasi`: WASI preview1 for Lucet, and the `lucet-wasi` runner.
//!
//! - [`add_to_linker`] defines every `wasi_snapshot_preview1` function; an
//!   instance running a WASI program carries a [`WasiCtx`] (arguments,
//!   environment, stdio, preopened directories) in its embedder context.
//! - [`load_module`] accepts what users have at hand — a compiled Lucet
//!   file, or (with the default `compiler` feature) a `.wasm` binary or
//!   `.wat` text, compiled in-process.
//! - [`RunPolicy`] runs a program under a deadline and fuel and says how it
//!   ended ([`Outcome`]); the `lucet-wasi` runner and `lucet-serve` both
//!   run guests through it.
//!
//! ```no_run
//! use lucet_runtime::{Limits, Linker, MmapRegion};
//! use lucet_wasi::{add_to_linker, load_module, WasiCtxBuilder};
//!
//! let mut linker = Linker::new();
//! add_to_linker(&mut linker);
//! let module = load_module("hello.wasm".as_ref(), &linker)?;
//! let ctx = WasiCtxBuilder::new().arg("hello").build();
//! let region = MmapRegion::create(1, &Limits::default())?;
//! let mut instance = region.new_instance_builder(module).with_embed_ctx(ctx).build()?;
//! instance.run("_start", &[])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod load;
mod policy;
mod wasi;

pub use load::{load_module, load_module_with, LoadError, LoadOptions, ModuleKind};
pub use policy::{Armed, Finished, Outcome, RunPolicy, Watchdog};
pub use wasi::{
    add_to_linker, types, Descriptor, DirAccess, ExitCode, GuestMemory, Stream, WasiCtx,
    WasiCtxBuilder, WasiCtxError, DEFAULT_MAX_OPEN_FILES, FUNCTIONS, IOV_MAX, MAX_SUBSCRIPTIONS,
    MODULE, PATH_MAX,
};

pub use lucet_runtime::Linker;
