//! Where the testsuite lives.

use std::path::{Path, PathBuf};

use lucet_compiler::Standard;

/// Environment variable naming the 2.0 testsuite directory.
pub const CORPUS_ENV: &str = "LUCET_SPEC_TESTSUITE";

/// The 2.0 testsuite directory: `$LUCET_SPEC_TESTSUITE`, or
/// `../shared/corpora/spec-testsuite` next to the workspace.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(CORPUS_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/spec-testsuite")
        }
    }
}

/// The standard a testsuite directory tests: the 2.0 corpus carries
/// `FEATURES-wasm2.tsv`; anything else is taken as WebAssembly 3.0.
pub fn standard_of(dir: &Path) -> Standard {
    if dir.join("FEATURES-wasm2.tsv").is_file() {
        Standard::Wasm2
    } else {
        Standard::Wasm3
    }
}

/// The 3.0 testsuite directory: `$LUCET_SPEC_TESTSUITE_WASM3`, or
/// `../shared/corpora/spec-testsuite-wasm3` next to the workspace.
pub fn corpus_dir_wasm3() -> PathBuf {
    match std::env::var_os(CORPUS_ENV_WASM3) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpora/spec-testsuite-wasm3"),
    }
}

/// Environment variable naming the 3.0 testsuite directory.
pub const CORPUS_ENV_WASM3: &str = "LUCET_SPEC_TESTSUITE_WASM3";

/// Whether a missing corpus is an error (`LUCET_REQUIRE_CORPORA=1`, as CI
/// sets it) rather than a loud skip.
pub fn corpus_required() -> bool {
    std::env::var("LUCET_REQUIRE_CORPORA").is_ok_and(|v| v == "1")
}
