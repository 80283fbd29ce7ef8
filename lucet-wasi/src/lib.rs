//! `lucet-wasi`: WASI preview1 and 0.2 for Lucet, and the `lucet-wasi`
//! runner.
//!
//! - [`add_to_linker`] defines every `wasi_snapshot_preview1` function; an
//!   instance running a WASI program carries a [`WasiCtx`] (arguments,
//!   environment, stdio, preopened directories) in its embedder context.
//! - The `lucet-wasi` runner loads a program with `lucet_runtime::load_module`
//!   (a compiled file, or with the default `compiler` feature a `.wasm` or
//!   `.wat` file) and runs it under `lucet_runtime::RunPolicy`; a program's
//!   `proc_exit` ends its run as `lucet_runtime::Outcome::Exited`.
//! - [`component`]: WASI 0.2 for components (a `wasi:cli/command`), over
//!   the same `WasiCtx`; the runner runs command components too.
//!
//! ```no_run
//! use lucet_runtime::{load_module, Limits, Linker, MmapRegion};
//! use lucet_wasi::{add_to_linker, WasiCtxBuilder};
//!
//! let mut linker = Linker::new();
//! add_to_linker(&mut linker);
//! let module = load_module("hello.wasm".as_ref(), &linker)?;
//! let ctx = WasiCtxBuilder::new().arg("hello").build();
//! let region = MmapRegion::create(1, &Limits::default().sized_for(&module))?;
//! let mut instance = region.new_instance_builder(module).with_embed_ctx(ctx).build()?;
//! instance.run("_start", &[])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod component;
mod wasi;

pub use wasi::{
    add_to_linker, types, Descriptor, DirAccess, GuestMemory, Stream, WasiCtx, WasiCtxBuilder,
    WasiCtxError, DEFAULT_MAX_OPEN_FILES, FUNCTIONS, IOV_MAX, MAX_SUBSCRIPTIONS, MODULE, PATH_MAX,
};
