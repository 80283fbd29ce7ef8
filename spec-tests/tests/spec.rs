//! One test per script of the WebAssembly testsuites (2.0 and 3.0) and
//! configuration (the default, Cranelift's mid-end, instruction counting):
//! every directive must pass and none may be skipped.

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
                let name = format!("{prefix}{file}{suffix}");
                let (options, path) = (options.clone(), path.clone());
                trials.push(Trial::test(name, move || {
                    let r = spec_tests::run_file_with(&path, &options).map_err(Failed::from)?;
                    if r.failed > 0 || r.skipped > 0 || r.passed == 0 {
                        return Err(format!(
                            "{} passed, {} failed, {} skipped:\n{}",
                            r.passed,
                            r.failed,
                            r.skipped,
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
