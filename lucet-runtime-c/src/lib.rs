//! The C API of the Lucet runtime: `include/lucet.h`, generated from this
//! crate by cbindgen (`tests/header.rs` checks it is current).
//!
//! Every exported function checks its pointers (NULL is an error, never
//! dereferenced), returns a `lucet_error` (the message is
//! `lucet_error_message()`, per thread) and runs its body under
//! `catch_unwind`, so no Rust panic reaches C. C host functions never have a
//! Rust unwind pass through their frames (`vmctx.rs`).
//!
//! One module per job: `error` (codes, messages, the boundary), `val`
//! (values), `linker` (host functions from C, WASI), `module`, `region`,
//! `instance` (runs, yields, fuel, kill switches), `vmctx` (what host
//! functions may do), `wasi` (WASI contexts).
//!
//! The crate has no Rust API: its surface is the C functions and types
//! (`#[no_mangle]`, found by cbindgen in the private modules). Embedders
//! written in Rust use `lucet-runtime`.

mod error;
mod instance;
mod linker;
mod module;
mod region;
mod val;
mod vmctx;
mod wasi;
