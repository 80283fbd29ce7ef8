//! The WASI testsuite (`../shared/corpora/wasi-testsuite`), run by its
//! runner script (`../shared/tools/wasi-testsuite-run`) against this
//! build's `lucet-wasi`: every test must pass.

mod corpora;

use std::process::Command;

#[test]
fn every_wasi_testsuite_test_passes() {
    let tool = corpora::shared_path("LUCET_WASI_TESTSUITE_RUN", "tools/wasi-testsuite-run");
    let suite = corpora::shared_path("LUCET_WASI_TESTSUITE", "corpora/wasi-testsuite");
    if !corpora::present(&tool, "LUCET_WASI_TESTSUITE_RUN")
        || !corpora::present(&suite, "LUCET_WASI_TESTSUITE")
    {
        return;
    }
    let out = Command::new("python3")
        .arg(&tool)
        .args(["--runner", env!("CARGO_BIN_EXE_lucet-wasi")])
        .arg(&suite)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && summary.ends_with(" 0 failed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.starts_with("58 passed"), "{summary}");
}
