//! Faults in host code are not Lucet's: they reach the handler that was
//! installed before the runtime's, or crash the process as they would have.
//! Each case runs in a child process (this test binary, re-executed).

use crate::common::this_test_binary;

use lucet_runtime::{Limits, MmapRegion};

const CHILD_ENV: &str = "LUCET_HOST_FAULT_CHILD";

/// Dereferences null in host code after the runtime's handlers are in place.
fn fault_in_host_code() -> ! {
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    let _ = crate::common::instance("traps");
    // SAFETY: deliberately not: this is the host bug the test is about.
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 1) };
    drop(region);
    unreachable!("the write above faults");
}

extern "C" fn exit_42(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(42) };
}

fn run_child(case: &str) -> std::process::ExitStatus {
    this_test_binary()
        .args([
            "--exact",
            "host_faults::child",
            "--include-ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, case)
        .status()
        .unwrap()
}

/// The child side; does nothing unless started by the tests below.
#[test]
#[ignore = "run as a child process by the host_faults tests"]
fn child() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("default") => fault_in_host_code(),
        Ok("previous-handler") => {
            // SAFETY: installs a plain handler before the runtime's.
            unsafe { libc::signal(libc::SIGSEGV, exit_42 as *const () as libc::sighandler_t) };
            fault_in_host_code()
        }
        _ => {}
    }
}

#[test]
fn a_host_fault_crashes_the_process_as_without_lucet() {
    use std::os::unix::process::ExitStatusExt;
    let status = run_child("default");
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}");
}

#[test]
fn a_host_fault_reaches_the_previously_installed_handler() {
    let status = run_child("previous-handler");
    assert_eq!(status.code(), Some(42), "{status:?}");
}
