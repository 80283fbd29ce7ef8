//! The implementations of the `wasi_snapshot_preview1` functions, grouped
//! by what they touch. Each takes the program's [`WasiCtx`] and its memory
//! and returns a [`WasiResult`]; `wasi/mod.rs` registers them as host
//! functions.

pub mod env;
pub mod fd;
pub mod path;
pub mod poll;
pub mod sock;

use super::ctx::WasiCtx;
use super::memory::GuestMemory;
