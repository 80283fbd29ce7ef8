//! Runs WebAssembly specification test scripts (`.wast`) through `lucetc`
//! and the Lucet runtime, counting every directive as passed, failed or
//! skipped.

mod corpus;
mod runner;
mod values;

pub use corpus::{
    corpus_dir, corpus_dir_wasm3, corpus_required, standard_of, CORPUS_ENV, CORPUS_ENV_WASM3,
};
pub use lucet_compiler::{CompileOptions, OptLevel, Standard};
pub use runner::{run_file, run_file_with, FileReport};
