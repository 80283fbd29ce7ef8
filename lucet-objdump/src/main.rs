//! `lucet-objdump`: print what a compiled Lucet module contains.

mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use lucet_module::{escape_control, ModuleFile};

/// Print the metadata of a compiled Lucet module: format version, heap,
/// globals, tables, memory image, functions with their trap sites, imports
/// and exports.
#[derive(Parser)]
#[command(
    version,
    after_help = "Example:\n  lucetc examples/fac.wat -o fac.lucet\n  lucet-objdump fac.lucet"
)]
struct Args {
    /// The compiled module.
    file: PathBuf,
}

fn run(args: &Args) -> Result<String> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let file = ModuleFile::parse(&bytes)?;
    Ok(report::render(&args.file.display().to_string(), &file))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(text) => {
            // Names are escaped where they are printed; every line is
            // checked again, since a damaged file may carry anything.
            for line in text.lines() {
                println!("{}", escape_control(line));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let message = format!("{}: {e:#}", args.file.display());
            eprintln!("error: {}", escape_control(&message));
            ExitCode::FAILURE
        }
    }
}
