//! One test per script of the WebAssembly testsuite and optimization level
//! (the default, and Cranelift's mid-end): every directive must pass and
//! none may be skipped.

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
    let levels = [
        (spec_tests::OptLevel::None, ""),
        (spec_tests::OptLevel::Speed, " (opt-level speed)"),
    ];
    let trials = levels
        .into_iter()
        .flat_map(|level| scripts.iter().map(move |path| (level, path.clone())))
        .map(|((opt_level, suffix), path)| {
            let name = format!("{}{suffix}", path.file_name().unwrap().to_string_lossy());
            Trial::test(name, move || {
                let r = spec_tests::run_file_with(&path, opt_level).map_err(Failed::from)?;
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
