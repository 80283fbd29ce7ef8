//! `lucet-wasi`: running WebAssembly programs under Lucet.
//!
//! [`load_module`] accepts what users have at hand — a compiled Lucet file,
//! or (with the default `compiler` feature) a `.wasm` binary or `.wat` text,
//! compiled in-process — and loads it against a [`Linker`].

mod load;

pub use load::{load_module, LoadError, ModuleKind};

pub use lucet_runtime::Linker;
