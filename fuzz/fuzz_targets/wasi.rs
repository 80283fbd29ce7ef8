//! Every WASI call with arbitrary arguments against a memory and a scratch
//! directory: errnos, never a panic, a bounded host allocation, nothing
//! outside the directory touched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lucet_fuzz::wasi::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = wasi::check(data) {
        panic!("{e}");
    }
});
