//! The WASI testsuite (`../shared/corpora/wasi-testsuite`), run by its
//! runner script (`../shared/tools/wasi-testsuite-run`) against this
//! build's `lucet-wasi`: every test must pass.

mod corpora;

use std::process::Command;

/// The runner the script starts: this build's `lucet-wasi`, or under
/// user-mode emulation (an aarch64 build tested on x86_64, with
/// `LUCET_TEST_EMULATOR` naming the emulator) a script that starts it
/// through the emulator, since the kernel cannot run it directly.
fn runner() -> std::path::PathBuf {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lucet-wasi"));
    let emulator = std::env::var("LUCET_TEST_EMULATOR").unwrap_or_default();
    if emulator.trim().is_empty() {
        return exe;
    }
    let dir = std::env::temp_dir().join(format!("lucet-wasi-emulated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("lucet-wasi");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec {emulator} '{}' \"$@\"\n", exe.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    script
}

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
        .arg("--runner")
        .arg(runner())
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
