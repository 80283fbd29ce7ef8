//! One test per script of the WebAssembly testsuite and configuration (the
//! default, Cranelift's mid-end, instruction counting): every directive must
//! pass and none may be skipped.

use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let dir = spec_tests::corpus_dir();
    if !dir.is_dir() {
        let msg = format!(
            "the WebAssembly testsuite is not at {}; set {} to its directory",
            dir.display(),
            spec_tests::CORPUS_ENV
        );
        if spec_tests::corpus_required() {
            eprintln!("error: {msg} (LUCET_REQUIRE_CORPORA=1)");
            std::process::exit(1);
        }
        eprintln!("warning: {msg}; skipping the spec tests");
        return;
    }
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("read the testsuite directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    scripts.sort();
    let default = spec_tests::CompileOptions::default();
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
    let trials = configs
        .iter()
        .flat_map(|config| {
            scripts
                .iter()
                .map(move |path| (config.clone(), path.clone()))
        })
        .map(|((options, suffix), path)| {
            let name = format!("{}{suffix}", path.file_name().unwrap().to_string_lossy());
            Trial::test(name, move || {
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
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
