//! A fixed-seed smoke run of the WASI oracle, with host allocations
//! counted.

use lucet_fuzz::seeded::SplitMix64;
use lucet_fuzz::wasi::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn arbitrary_wasi_calls_get_errnos_and_stay_in_the_sandbox() {
    let mut rng = SplitMix64::new(0x6c75_6365_7402);
    let (mut calls, mut returned) = (0, 0);
    for case in 0..400 {
        let len = 64 + rng.below(2048) as usize;
        let input = rng.bytes(len);
        match wasi::check(&input) {
            Ok(v) => {
                calls += v.calls;
                returned += v.returned;
            }
            Err(e) => panic!("case {case}: {e}"),
        }
    }
    // The run reached the host: most calls returned an errno or success.
    assert!(calls > 2_000, "{calls} calls");
    assert!(returned * 2 > calls, "{returned} of {calls} returned");

    // The oracle notices a change outside the sandbox (made here, as a
    // guest that escaped would).
    let outside = std::env::temp_dir()
        .join(format!("lucet-fuzz-wasi-{}", std::process::id()))
        .join("outside/planted.txt");
    std::fs::write(&outside, b"x").unwrap();
    let e = wasi::check(&[0; 64]).unwrap_err();
    assert!(e.to_string().contains("planted.txt"), "{e}");
    std::fs::remove_file(&outside).unwrap();
}
