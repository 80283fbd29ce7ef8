//! `spec-tests [--opt-level none|speed|speed_and_size] [--count-instructions]
//! [--standard 2.0|3.0] [PATH ...]`: runs WebAssembly testsuite scripts
//! (default: the whole 2.0 corpus) and prints passed/failed/skipped counts
//! per file. Scripts are validated at the standard their directory tests
//! (`FEATURES-wasm2.tsv` marks the 2.0 corpus), unless `--standard` says.
//! Directives that need WebAssembly GC are counted apart; the run fails on
//! any failed or skipped directive.

use std::path::PathBuf;
use std::process::ExitCode;

fn wast_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wast"))
                .collect();
            in_dir.sort();
            files.extend(in_dir);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(files)
}

fn main() -> ExitCode {
    let mut verbose = false;
    let mut standard = None;
    let mut options = spec_tests::CompileOptions::default();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-v" | "--verbose" => verbose = true,
            "--opt-level" => {
                options.opt_level = match args.next().as_deref() {
                    Some("none") => spec_tests::OptLevel::None,
                    Some("speed") => spec_tests::OptLevel::Speed,
                    Some("speed_and_size") => spec_tests::OptLevel::SpeedAndSize,
                    other => {
                        eprintln!(
                            "error: --opt-level takes none, speed or speed_and_size (got {})",
                            other.unwrap_or("nothing")
                        );
                        return ExitCode::FAILURE;
                    }
                }
            }
            "--count-instructions" => options.count_instructions = true,
            "--standard" => {
                standard = match args.next().as_deref() {
                    Some("2.0") => Some(spec_tests::Standard::Wasm2),
                    Some("3.0") => Some(spec_tests::Standard::Wasm3),
                    other => {
                        eprintln!(
                            "error: --standard takes 2.0 or 3.0 (got {})",
                            other.unwrap_or("nothing")
                        );
                        return ExitCode::FAILURE;
                    }
                }
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        paths.push(spec_tests::corpus_dir());
    }
    let files = match wast_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for f in &files {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let options = spec_tests::CompileOptions {
            standard: standard.unwrap_or_else(|| {
                spec_tests::standard_of(f.parent().unwrap_or(std::path::Path::new(".")))
            }),
            ..options.clone()
        };
        match spec_tests::run_file_with(f, &options) {
            Ok(r) => {
                println!(
                    "{name}: {} passed, {} failed, {} skipped",
                    r.passed, r.failed, r.skipped
                );
                if verbose {
                    for line in &r.failures {
                        println!("  {line}");
                    }
                }
                passed += r.passed;
                failed += r.failed;
                skipped += r.skipped;
            }
            Err(e) => {
                println!("{name}: error: {e}");
                failed += 1;
            }
        }
    }
    println!(
        "{} files: {passed} passed, {failed} failed, {skipped} skipped",
        files.len()
    );
    if failed > 0 || skipped > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
