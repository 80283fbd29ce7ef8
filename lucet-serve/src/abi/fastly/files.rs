//! Reading the files a `fastly.toml` names: whole, and refused past a
//! limit before more is read.

use std::io::Read;
use std::path::Path;

/// The bytes of `path`, refused past `limit`.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{shown}: larger than {limit} bytes"));
    }
    Ok(bytes)
}
