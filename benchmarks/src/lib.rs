//! Shared setup for Lucet's benchmarks: compiling test modules and loading
//! them.

use std::sync::Arc;

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{Linker, Module};

/// A module with no memory, no imports and one trivial export.
pub const EMPTY: &str = r#"(module (func (export "run")))"#;

/// Factorial, recursive.
pub const FAC: &str = include_str!("../../examples/fac.wat");

/// Compiles `wat` and loads it against `linker`.
pub fn load(wat: &str, linker: &Linker) -> Arc<Module> {
    let compiler = Compiler::new(CompileOptions::default()).expect("compiler");
    let elf = compiler
        .compile(wat.as_bytes())
        .expect("compile")
        .to_elf()
        .expect("ELF");
    Module::from_bytes(&elf, "bench", linker).expect("load")
}
