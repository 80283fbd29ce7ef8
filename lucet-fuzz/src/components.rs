//! wasm-smith components into the compiler: each one compiles into a
//! module the runtime loads (its imports bound to zero-returning
//! stand-ins), or is refused with one line (what Lucet does not support
//! yet, such as nested components' instances, says so); never a panic.

use crate::compile::{self, Finding, Verdict};

/// The component wasm-smith makes from `data` (`None` when the bytes run
/// out before one is made), through [`compile::check`].
pub fn check(data: &[u8]) -> Result<Option<Verdict>, Finding> {
    let mut u = arbitrary::Unstructured::new(data);
    let component = match wasm_smith::Component::new(wasm_smith::Config::default(), &mut u) {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    compile::check(&component.to_bytes()).map(Some)
}
