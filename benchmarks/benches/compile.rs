//! Compile throughput: WebAssembly bytes in, a loadable ELF file out.

use benchmarks::{lucet, workloads};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn compile(c: &mut Criterion) {
    let mut inputs: Vec<(String, Vec<u8>)> = vec![(
        "2,000 small functions".to_string(),
        wat::parse_str(workloads::many_functions(2_000)).expect("wat"),
    )];
    // Real programs, when the corpus is there.
    for name in ["shootout/shootout-keccak.wasm", "bz2/benchmark.wasm"] {
        let path = benchmarks::sightglass_dir().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            inputs.push((name.to_string(), bytes));
        } else if std::env::var_os("LUCET_REQUIRE_CORPORA").is_some() {
            panic!("missing corpus file {}", path.display());
        }
    }
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for (name, wasm) in &inputs {
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        group.bench_function(name.as_str(), |b| b.iter(|| lucet::compile(wasm)));
    }
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
