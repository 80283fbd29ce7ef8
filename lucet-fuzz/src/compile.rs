//! Arbitrary bytes into the compiler.

use std::sync::OnceLock;

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{Error as RuntimeError, Linker, Module};

/// What the compiler did with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The compiler rejected the input with an error.
    Rejected,
    /// It compiled, and the runtime loaded the file.
    Compiled,
}

/// The compiler broke its contract.
#[derive(Debug, thiserror::Error)]
pub enum Finding {
    /// The compiler produced a file the runtime cannot read.
    #[error("the compiled file does not load: {0}")]
    Unloadable(String),
}

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| Compiler::new(CompileOptions::default()).expect("default options"))
}

/// Compiles `data` (as a wasm binary, or as text when it is not one) and
/// loads the result: an error is fine, a panic or an unloadable file is a
/// finding.
pub fn check(data: &[u8]) -> Result<Verdict, Finding> {
    let Ok(compiled) = compiler().compile(data) else {
        return Ok(Verdict::Rejected);
    };
    let elf = compiled
        .to_elf()
        .map_err(|e| Finding::Unloadable(format!("writing the ELF file failed: {e}")))?;
    // Function imports get zero-returning stand-ins, so that loading checks
    // everything else about the file.
    let mut linker = Linker::new();
    linker.default_unknown_imports(true);
    match Module::from_bytes(&elf, "fuzz", &linker) {
        Ok(_) => Ok(Verdict::Compiled),
        // The module asks for something no host provides: a property of
        // the input, not of the file.
        Err(RuntimeError::UnknownImport(_) | RuntimeError::ImportTypeMismatch { .. }) => {
            Ok(Verdict::Compiled)
        }
        Err(e) => Err(Finding::Unloadable(e.to_string())),
    }
}
