//! WASI 0.2 for components: the host side of the interfaces a
//! `wasi:cli/command` imports (`wasi:io`, `wasi:clocks`, `wasi:random`,
//! `wasi:cli`), over the same [`WasiCtx`](crate::WasiCtx) as preview1.
//!
//! A module compiled from a component imports the functions it lowers by
//! interface and name; [`add_to_linker`] makes the linker bind them
//! ([`Interfaces`] is the linker's `ComponentHost`), and each instance
//! carries a [`ComponentCtx`] in its embedder context: its resources and
//! its program's `WasiCtx`. Embedders add interfaces of their own to
//! [`interfaces()`] (as `lucet-serve` adds `wasi:http`).
//!
//! ```no_run
//! use lucet_runtime::{load_module, Limits, Linker, MmapRegion};
//! use lucet_wasi::component::{add_to_linker, command_entry, ComponentCtx};
//! use lucet_wasi::WasiCtxBuilder;
//!
//! let mut linker = Linker::new();
//! add_to_linker(&mut linker);
//! let module = load_module("hello.wasm".as_ref(), &linker)?;
//! let entry = command_entry(module.component().expect("a component")).expect("a command");
//! let ctx = ComponentCtx::new(WasiCtxBuilder::new().arg("hello").build());
//! let region = MmapRegion::create(1, &Limits::default().sized_for(&module))?;
//! let mut instance = region.new_instance_builder(module.clone()).with_embed_ctx(ctx).build()?;
//! instance.run(&entry.export, &[])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cli;
mod clocks;
mod ctx;
mod filesystem;
mod host;
mod io;
mod sockets;
mod values;

use std::sync::Arc;

use lucet_runtime::component::{ComponentAbi, Lift};
use lucet_runtime::{Finished, Linker, Outcome, RunPolicy, Watchdog};

pub use ctx::{ComponentCtx, Resource, DEFAULT_MAX_RESOURCES};
pub use host::{Args, HostError, HostResult, Interfaces, MAX_CALL_BYTES};
pub use io::{
    ready_indices, HostInputStream, HostOutputStream, InputStream, IoError, OutputStream, Pollable,
    Readiness, Signal, StreamError, MAX_POLLABLES, MAX_STREAM_CHUNK,
};
pub use values::{none, ok, ok_unit, result_err, some, u64_arg};

/// The interfaces of WASI 0.2 a command uses: `wasi:io`, `wasi:clocks`,
/// `wasi:random`, `wasi:cli`, `wasi:filesystem` (over the `WasiCtx`'s
/// preopened directories) and `wasi:sockets` (which grants no network).
pub fn interfaces() -> Interfaces {
    let mut interfaces = Interfaces::new();
    io::add(&mut interfaces);
    cli::add(&mut interfaces);
    clocks::add(&mut interfaces);
    filesystem::add(&mut interfaces);
    sockets::add(&mut interfaces);
    interfaces
}

/// Makes `linker` bind components' imports to [`interfaces()`].
pub fn add_to_linker(linker: &mut Linker) {
    linker.component_host(Arc::new(interfaces()));
}

/// Ends a call of a lifted function that returned: its post-return
/// function (`Lift::post_return`), if the component has one, is called with what the call returned (so the guest
/// frees what its results held), under `policy`. A post-return that fails
/// is the call's outcome.
pub fn after_return(
    policy: &RunPolicy,
    finished: Finished,
    post_return: Option<&str>,
    watchdog: &Watchdog,
) -> Finished {
    let Finished {
        mut outcome,
        mut instance,
    } = finished;
    if let (Outcome::Returned(values), Some(post), Some(i)) =
        (&outcome, post_return, instance.as_mut())
    {
        let called = policy.call(i, post, values, watchdog);
        if !matches!(called, Outcome::Returned(_)) {
            outcome = called;
        }
    }
    Finished { outcome, instance }
}

/// The function a `wasi:cli/command` runs: its export of
/// `wasi:cli/run@0.2.x#run`, if it has one.
pub fn command_entry(abi: &ComponentAbi) -> Option<&Lift> {
    abi.lifts.iter().find(|l| {
        l.export
            .strip_prefix("wasi:cli/run@0.2.")
            .is_some_and(|rest| rest.ends_with("#run"))
    })
}
