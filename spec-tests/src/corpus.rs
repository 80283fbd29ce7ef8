//! Where the testsuite lives.

use std::path::PathBuf;

/// Environment variable naming the testsuite directory.
pub const CORPUS_ENV: &str = "LUCET_SPEC_TESTSUITE";

/// The testsuite directory: `$LUCET_SPEC_TESTSUITE`, or
/// `../shared/corpora/spec-testsuite` next to the workspace.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(CORPUS_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/spec-testsuite")
        }
    }
}

/// Whether a missing corpus is an error (`LUCET_REQUIRE_CORPORA=1`, as CI
/// sets it) rather than a loud skip.
pub fn corpus_required() -> bool {
    std::env::var("LUCET_REQUIRE_CORPORA").is_ok_and(|v| v == "1")
}
