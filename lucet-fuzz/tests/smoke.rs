//! Fixed-seed smoke runs of both fuzz oracles: the same few hundred cases
//! on every machine. (The README's "Fuzzing" section says how to run the
//! fuzzers for longer.)

use lucet_fuzz::seeded::{self, SplitMix64};
use lucet_fuzz::{compile, components, differential};

const CASES: usize = 300;

#[test]
fn the_compiler_rejects_or_compiles_arbitrary_bytes() {
    let mut rng = SplitMix64::new(0x6c75_6365_7401);
    let (mut rejected, mut compiled) = (0, 0);
    for case in 0..CASES {
        // A third pure noise (text or binary), two thirds damaged valid
        // modules, which get past the header into the sections.
        let input = match case % 3 {
            0 => {
                let len = rng.below(512) as usize;
                let mut bytes = rng.bytes(len);
                if case % 2 == 0 && bytes.len() >= 8 {
                    bytes[..8].copy_from_slice(b"\0asm\x01\0\0\0");
                }
                bytes
            }
            _ => {
                let valid = seeded::valid_module(&mut rng);
                seeded::mutate(&mut rng, valid)
            }
        };
        match compile::check(&input) {
            Ok(compile::Verdict::Rejected) => rejected += 1,
            Ok(compile::Verdict::Compiled) => compiled += 1,
            Err(e) => panic!("case {case}: {e}\ninput: {input:02x?}"),
        }
    }
    // Both paths were exercised.
    assert!(rejected >= CASES / 4, "{rejected} rejected");
    assert!(compiled >= 10, "{compiled} compiled");
}

#[test]
fn generated_modules_agree_with_the_interpreter() {
    let mut rng = SplitMix64::new(0x6c75_6365_7402);
    let (mut compared, mut calls) = (0, 0);
    for case in 0..CASES {
        let len = 256 + rng.below(8192) as usize;
        let data = rng.bytes(len);
        match differential::check(&data) {
            Ok(differential::Verdict::Compared { calls: n, .. }) => {
                compared += 1;
                calls += n;
            }
            Ok(_) => {}
            Err(e) => panic!("case {case}: {e}"),
        }
    }
    // Most cases got to the calls, and many calls were compared.
    assert!(
        compared >= CASES / 2,
        "only {compared} of {CASES} cases got to the calls"
    );
    assert!(calls >= CASES, "only {calls} calls compared");
}

#[test]
fn generated_components_compile_or_are_refused_in_one_line() {
    let mut rng = SplitMix64::new(0x6c75_6365_7403);
    let (mut generated, mut compiled) = (0, 0);
    for case in 0..CASES / 3 {
        let len = 256 + rng.below(8192) as usize;
        let data = rng.bytes(len);
        match components::check(&data) {
            Ok(None) => {}
            Ok(Some(verdict)) => {
                generated += 1;
                if verdict == compile::Verdict::Compiled {
                    compiled += 1;
                }
            }
            Err(e) => panic!("case {case}: {e}\ninput: {data:02x?}"),
        }
    }
    assert!(generated >= CASES / 6, "{generated} generated");
    // Components with no core instances, or only those Lucet merges,
    // compile.
    assert!(compiled >= 1, "{compiled} compiled of {generated}");
}
