// The sightglass protocol: the host times the span between `bench.start`
// and `bench.end`. Included by every program (`include!`); natively (for
// the expected output) the calls do nothing.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "bench")]
extern "C" {
    #[link_name = "start"]
    fn bench_start_import();
    #[link_name = "end"]
    fn bench_end_import();
}

fn bench_start() {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host provides `bench.start`, which takes nothing.
    unsafe {
        bench_start_import()
    }
}

fn bench_end() {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as for `bench_start`.
    unsafe {
        bench_end_import()
    }
}

// Not every program uses every helper.
#[allow(dead_code)]
/// A small, fixed pseudo-random sequence (xorshift64), so that inputs are
/// the same on every run and machine.
struct Rng(u64);

#[allow(dead_code)]
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// FNV-1a, to print a digest of a large output.
#[allow(dead_code)]
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
