//! Shared lookup of the corpora in `../shared/corpora` (or environment
//! overrides), loud when missing and fatal with `LUCET_REQUIRE_CORPORA=1`.

use std::path::PathBuf;

/// `$var`, or `../shared/<default>` next to the workspace.
pub fn shared_path(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared")
            .join(default),
    }
}

/// Whether `path` exists; if not, says so, and panics when corpora are
/// required.
pub fn present(path: &std::path::Path, var: &str) -> bool {
    if path.exists() {
        return true;
    }
    let msg = format!("{} not found; set {var} to its location", path.display());
    if std::env::var("LUCET_REQUIRE_CORPORA").is_ok_and(|v| v == "1") {
        panic!("{msg} (LUCET_REQUIRE_CORPORA=1)");
    }
    eprintln!("warning: {msg}; skipping");
    false
}
