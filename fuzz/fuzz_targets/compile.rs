//! Arbitrary bytes into lucetc: an error or a loadable module, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = lucet_fuzz::compile::check(data) {
        panic!("{e}");
    }
});
