//! Loading a module from whatever file the user gives: a compiled Lucet
//! file, or (with the default `compiler` feature) a WebAssembly binary or
//! text file, compiled in-process first.

use std::path::Path;
use std::sync::Arc;

use lucet_runtime_internals::{Linker, Module, PublicKey};

/// What kind of file a module path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// A Lucet ELF file, compiled by `lucetc`.
    Compiled,
    /// A WebAssembly binary.
    Wasm,
    /// WebAssembly text.
    Wat,
}

impl ModuleKind {
    /// Guesses the kind from the file's first bytes.
    pub fn detect(bytes: &[u8]) -> ModuleKind {
        if bytes.starts_with(b"\x7fELF") {
            ModuleKind::Compiled
        } else if bytes.starts_with(b"\0asm") {
            ModuleKind::Wasm
        } else {
            ModuleKind::Wat
        }
    }
}

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Compilation failed.
    #[cfg(feature = "compiler")]
    #[error(transparent)]
    Compile(#[from] lucet_compiler::Error),
    /// A signature is required and the file is not a compiled module.
    #[error("{0} is not a compiled Lucet module, and a signed one is required: compile and sign it with lucetc --sign")]
    NotSignable(String),
    /// This build cannot compile modules.
    #[error("{0} is not a compiled Lucet module, and this build of the runtime cannot compile: compile it with lucetc first")]
    NoCompiler(String),
    /// Loading or linking failed.
    #[error(transparent)]
    Runtime(#[from] lucet_runtime_internals::Error),
}

/// How `load_module_with` compiles a `.wasm` or `.wat` file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Count instructions, so that instances can be limited by fuel.
    pub count_instructions: bool,
    /// How long compiling a `.wasm`/`.wat` module may take (no limit if
    /// `None`).
    pub compile_budget: Option<std::time::Duration>,
    /// How long compiling any one of its functions may take.
    pub function_compile_budget: Option<std::time::Duration>,
    /// Require a compiled file signed by this key (`.wasm`/`.wat` files
    /// are then refused).
    pub verify: Option<PublicKey>,
}

/// Loads `path`: a compiled Lucet file directly, a `.wasm` or `.wat` file by
/// compiling it in-process first.
pub fn load_module(path: &Path, linker: &Linker) -> Result<Arc<Module>, LoadError> {
    load_module_with(path, linker, &LoadOptions::default())
}

/// `load_module`, compiling with `options` (a compiled file is loaded as it
/// was compiled).
pub fn load_module_with(
    path: &Path,
    linker: &Linker,
    options: &LoadOptions,
) -> Result<Arc<Module>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.display().to_string(),
        source,
    };
    let name = path.display().to_string();
    // Only the first bytes decide; a compiled file is mapped by the loader,
    // never read whole.
    let mut head = [0u8; 4];
    let n = read_prefix(path, &mut head).map_err(read_error)?;
    match (ModuleKind::detect(&head[..n]), &options.verify) {
        (ModuleKind::Compiled, None) => Ok(Module::load(path, linker)?),
        (ModuleKind::Compiled, Some(key)) => Ok(Module::load_verified(path, key, linker)?),
        (_, Some(_)) => Err(LoadError::NotSignable(name)),
        (ModuleKind::Wasm | ModuleKind::Wat, None) => {
            let bytes = std::fs::read(path).map_err(read_error)?;
            compile_and_load(&bytes, &name, linker, options)
        }
    }
}

/// Reads up to `buf.len()` bytes from the start of `path`.
fn read_prefix(path: &Path, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(feature = "compiler")]
fn compile_and_load(
    bytes: &[u8],
    name: &str,
    linker: &Linker,
    options: &LoadOptions,
) -> Result<Arc<Module>, LoadError> {
    let compiler = lucet_compiler::Compiler::new(lucet_compiler::CompileOptions {
        count_instructions: options.count_instructions,
        budget: lucet_compiler::CompileBudget {
            total: options.compile_budget,
            per_function: options.function_compile_budget,
        },
        ..lucet_compiler::CompileOptions::default()
    })?;
    let elf = compiler.compile(bytes)?.to_elf()?;
    Ok(Module::from_bytes(&elf, name, linker)?)
}

#[cfg(not(feature = "compiler"))]
fn compile_and_load(
    _bytes: &[u8],
    name: &str,
    _linker: &Linker,
    _options: &LoadOptions,
) -> Result<Arc<Module>, LoadError> {
    Err(LoadError::NoCompiler(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_file_kinds() {
        assert_eq!(ModuleKind::detect(b"\x7fELF\x02"), ModuleKind::Compiled);
        assert_eq!(ModuleKind::detect(b"\0asm\x01\0\0\0"), ModuleKind::Wasm);
        assert_eq!(ModuleKind::detect(b"(module)"), ModuleKind::Wat);
    }
}
