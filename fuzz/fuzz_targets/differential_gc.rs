//! wasm-smith GC modules on Lucet (with fuel) against Wasmtime with GC:
//! same results, same traps, same globals and memory. Needs the `gc`
//! feature (Wasmtime as the oracle).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = lucet_fuzz::differential::check_gc(data) {
        panic!("{e}");
    }
});
