//! The sightglass benchmark programs run under `lucet-wasi --dir .
//! --default-unknown-imports` from their own directory and print exactly
//! their expected stdout and stderr. The quick ones run by default; all of
//! them with `cargo test --release -p lucet-wasi --test sightglass --
//! --include-ignored`.

mod corpora;

use std::path::Path;
use std::process::Command;

const VAR: &str = "LUCET_SIGHTGLASS";

/// This build's `lucet-wasi`; under user-mode emulation (an aarch64 build
/// tested on x86_64), started through the emulator `LUCET_TEST_EMULATOR`
/// names, since the kernel cannot run it directly.
fn lucet_wasi() -> Command {
    let exe = env!("CARGO_BIN_EXE_lucet-wasi");
    let emulator = std::env::var("LUCET_TEST_EMULATOR").unwrap_or_default();
    let mut words = emulator.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

fn check(program: &str) {
    let root = corpora::shared_path(VAR, "corpora/sightglass");
    if !corpora::present(&root, VAR) {
        return;
    }
    let wasm = root.join(program);
    let dir = wasm.parent().unwrap();
    let stem = wasm.file_stem().unwrap().to_str().unwrap();
    let out = lucet_wasi()
        .args(["--dir", ".", "--default-unknown-imports"])
        .arg(wasm.file_name().unwrap())
        .current_dir(dir)
        .output()
        .unwrap();
    let read =
        |ext: &str| std::fs::read(Path::new(dir).join(format!("{stem}.{ext}.expected"))).unwrap();
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == read("stdout"), "{program}: stdout differs");
    assert!(out.stderr == read("stderr"), "{program}: stderr differs");
}

macro_rules! programs {
    ($($(#[$attr:meta])* $name:ident => $path:expr;)*) => {$(
        #[test]
        $(#[$attr])*
        fn $name() {
            check($path);
        }
    )*};
}

programs! {
    blake3_scalar => "blake3-scalar/benchmark.wasm";
    bz2 => "bz2/benchmark.wasm";
    noop => "noop/benchmark.wasm";
    quicksort => "quicksort/benchmark.wasm";
    ackermann => "shootout/shootout-ackermann.wasm";
    base64 => "shootout/shootout-base64.wasm";
    ctype => "shootout/shootout-ctype.wasm";
    #[ignore = "slow (seconds): run with --include-ignored"]
    ed25519 => "shootout/shootout-ed25519.wasm";
    #[ignore = "slow (about a second): run with --include-ignored"]
    fib2 => "shootout/shootout-fib2.wasm";
    gimli => "shootout/shootout-gimli.wasm";
    #[ignore = "slow (about a second): run with --include-ignored"]
    heapsort => "shootout/shootout-heapsort.wasm";
    keccak => "shootout/shootout-keccak.wasm";
    matrix => "shootout/shootout-matrix.wasm";
    memmove => "shootout/shootout-memmove.wasm";
    minicsv => "shootout/shootout-minicsv.wasm";
    nestedloop => "shootout/shootout-nestedloop.wasm";
    random => "shootout/shootout-random.wasm";
    ratelimit => "shootout/shootout-ratelimit.wasm";
    #[ignore = "slow (seconds): run with --include-ignored"]
    seqhash => "shootout/shootout-seqhash.wasm";
    sieve => "shootout/shootout-sieve.wasm";
    switch => "shootout/shootout-switch.wasm";
    xblabla20 => "shootout/shootout-xblabla20.wasm";
    xchacha20 => "shootout/shootout-xchacha20.wasm";
}
