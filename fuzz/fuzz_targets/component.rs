//! wasm-smith components into lucetc: a loadable module or a one-line
//! refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = lucet_fuzz::components::check(data) {
        panic!("{e}");
    }
});
