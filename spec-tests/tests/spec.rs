//! One test per script of the WebAssembly testsuites (2.0 and 3.0) and
//! configuration (the default, Cranelift's mid-end, instruction counting):
//! every directive must pass and none may be skipped. In the 3.0 suite,
//! directives that need GC are counted apart, and only in the scripts whose
//! entry in `FEATURES-wasm3.tsv` says they need GC.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};

/// The scripts of `dir`, or `None` (with a loud message) if it is missing.
fn scripts(dir: &Path, env: &str) -> Option<Vec<PathBuf>> {
    if !dir.is_dir() {
        let msg = format!(
            "the WebAssembly testsuite is not at {}; set {env} to its directory",
            dir.display(),
        );
        if spec_tests::corpus_required() {
            eprintln!("error: {msg} (LUCET_REQUIRE_CORPORA=1)");
            std::process::exit(1);
        }
        eprintln!("warning: {msg}; skipping its spec tests");
        return None;
    }
    let mut scripts: Vec<_> = std::fs::read_dir(dir)
        .expect("read the testsuite directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    scripts.sort();
    Some(scripts)
}

/// The scripts the 3.0 suite's feature table says need GC.
fn gc_scripts(dir: &Path) -> HashSet<String> {
    let Ok(table) = std::fs::read_to_string(dir.join("FEATURES-wasm3.tsv")) else {
        return HashSet::new();
    };
    table
        .lines()
        .filter(|l| {
            l.split('\t')
                .next_back()
                .is_some_and(|needs| needs.contains("gc:"))
        })
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    let corpora = [
        (spec_tests::corpus_dir(), spec_tests::CORPUS_ENV, ""),
        (
            spec_tests::corpus_dir_wasm3(),
            spec_tests::CORPUS_ENV_WASM3,
            "3.0/",
        ),
    ];
    for (dir, env, prefix) in corpora {
        let Some(scripts) = scripts(&dir, env) else {
            continue;
        };
        let gc = gc_scripts(&dir);
        let default = spec_tests::CompileOptions {
            standard: spec_tests::standard_of(&dir),
            ..Default::default()
        };
        let configs = [
            (default.clone(), ""),
            (
                spec_tests::CompileOptions {
                    opt_level: spec_tests::OptLevel::Speed,
                    ..default.clone()
                },
                " (opt-level speed)",
            ),
            (
                spec_tests::CompileOptions {
                    count_instructions: true,
                    ..default
                },
                " (counting instructions)",
            ),
        ];
        for (options, suffix) in configs {
            for path in &scripts {
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                let may_need_gc = gc.contains(&file);
                let name = format!("{prefix}{file}{suffix}");
                let (options, path) = (options.clone(), path.clone());
                trials.push(Trial::test(name, move || {
                    let r = spec_tests::run_file_with(&path, &options).map_err(Failed::from)?;
                    let gc_ok = may_need_gc || r.needs_gc == 0;
                    if r.failed > 0 || r.skipped > 0 || !gc_ok || r.passed + r.needs_gc == 0 {
                        return Err(format!(
                            "{} passed, {} failed, {} skipped, {} need GC:\n{}",
                            r.passed,
                            r.failed,
                            r.skipped,
                            r.needs_gc,
                            r.failures.join("\n")
                        )
                        .into());
                    }
                    Ok(())
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
