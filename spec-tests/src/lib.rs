//! Runs WebAssembly specification test scripts (`.wast`) through `lucetc`
//! and the Lucet runtime, counting every directive as passed, failed or
//! skipped.

mod corpus;
mod runner;
mod values;

pub use corpus::{corpus_dir, corpus_required, CORPUS_ENV};
pub use lucet_compiler::{CompileOptions, OptLevel};
pub use runner::{run_file, run_file_with, FileReport};
