//! Inputs the fuzzers found (and edge cases kept beside them), replayed:
//! every file under `regressions/compile/`, `regressions/differential/` and
//! `regressions/wasi/` must pass its target's check (and those under
//! `regressions/differential-gc/` with the `oracle-wasmtime` feature).

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn compile_regressions_pass() {
    let inputs = inputs("compile");
    assert!(!inputs.is_empty());
    for (name, data) in inputs {
        if let Err(e) = lucet_fuzz::compile::check(&data) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn differential_regressions_pass() {
    for (name, data) in inputs("differential") {
        if let Err(e) = lucet_fuzz::differential::check(&data) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn wasi_regressions_pass() {
    for (name, data) in inputs("wasi") {
        if let Err(e) = lucet_fuzz::wasi::check(&data) {
            panic!("{name}: {e}");
        }
    }
}

/// GC findings, replayed against Wasmtime (with `--features
/// oracle-wasmtime`; without it, the runtime's own tests keep each fix).
#[cfg(feature = "oracle-wasmtime")]
#[test]
fn differential_gc_regressions_pass() {
    let inputs = inputs("differential-gc");
    assert!(!inputs.is_empty());
    for (name, data) in inputs {
        if let Err(e) = lucet_fuzz::differential::check_gc(&data) {
            panic!("{name}: {e}");
        }
    }
}
