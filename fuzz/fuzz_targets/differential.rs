//! wasm-smith modules on Lucet (with fuel) against the wasmi interpreter:
//! same results, same traps, same globals and memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = lucet_fuzz::differential::check(data) {
        panic!("{e}");
    }
});
