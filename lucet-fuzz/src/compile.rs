//! Arbitrary bytes into the compiler.

use std::sync::OnceLock;

use std::time::Duration;

use lucet_compiler::{CompileBudget, CompileOptions, Compiler, Error as CompileError};
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
    /// Compiling took longer than the budget: an input that makes the
    /// compiler super-linear.
    #[error("{0}")]
    OverBudget(String),
    /// The compiler's error is more than one line.
    #[error("the error is more than one line: {0:?}")]
    MultiLineError(String),
}

/// The budget inputs are compiled under. Inputs are at most a few
/// kilobytes; the compiler takes milliseconds on them, and the size limits
/// and the register allocator choice should hold every function far below
/// this even with coverage instrumentation.
pub const BUDGET: CompileBudget = CompileBudget {
    total: Some(Duration::from_secs(20)),
    per_function: Some(Duration::from_secs(5)),
};

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| {
        Compiler::new(CompileOptions {
            budget: BUDGET,
            ..CompileOptions::default()
        })
        .expect("default options")
    })
}

/// Compiles `data` (as a wasm binary, or as text when it is not one) under
/// [`BUDGET`] and loads the result: an error is fine, a panic, an
/// unloadable file or a compilation over its budget is a finding.
pub fn check(data: &[u8]) -> Result<Verdict, Finding> {
    let compiled = match compiler().compile(data) {
        Ok(c) => c,
        Err(e @ CompileError::OverBudget(_)) => return Err(Finding::OverBudget(e.to_string())),
        Err(e) if e.to_string().contains('\n') => {
            return Err(Finding::MultiLineError(e.to_string()))
        }
        Err(_) => return Ok(Verdict::Rejected),
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
