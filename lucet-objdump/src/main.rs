//! `lucet-objdump`: print what a compiled Lucet module contains.

mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use lucet_module::{escape_control, ModuleFile};

/// Print the metadata of a compiled Lucet module: format version, heap,
/// globals, tables, memory image, functions with their trap sites, imports
/// and exports. Given a WebAssembly component, print its structure: its
/// imports and exports, core modules, core instances and canonical
/// functions.
#[derive(Parser)]
#[command(
    version,
    after_help = "Example:\n  lucetc examples/fac.wat -o fac.lucet\n  lucet-objdump fac.lucet"
)]
struct Args {
    /// The compiled module (or a component's .wasm).
    file: PathBuf,
}

fn run(args: &Args) -> Result<String> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if lucet_compiler::is_component(&bytes) {
        let summary = lucet_compiler::describe_component(&bytes)?;
        return Ok(format!(
            "component:      {}\nkind:           {}\n{summary}",
            args.file.display(),
            summary.world()
        ));
    }
    let file = ModuleFile::parse(&bytes)?;
    Ok(report::render(&args.file.display().to_string(), &file))
}

/// Writes the report to standard output. Names are escaped where they are
/// printed; every line is checked again, since a damaged file may carry
/// anything.
fn print(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in text.lines() {
        writeln!(out, "{}", escape_control(line))?;
    }
    out.flush()
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(text) => match print(&text) {
            Ok(()) => ExitCode::SUCCESS,
            // The reader has gone (`lucet-objdump f | head`): nothing more
            // is wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the report: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            let message = format!("{}: {e:#}", args.file.display());
            eprintln!("error: {}", escape_control(&message));
            ExitCode::FAILURE
        }
    }
}
