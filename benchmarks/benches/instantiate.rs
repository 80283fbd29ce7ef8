//! Instantiation and a short run, the two costs every edge request pays.

use criterion::{criterion_group, criterion_main, Criterion};
use lucet_runtime::{Limits, Linker, MmapRegion, Val};

fn instantiate(c: &mut Criterion) {
    let linker = Linker::new();
    let region = MmapRegion::create(16, &Limits::default()).unwrap();

    let empty = benchmarks::load(benchmarks::EMPTY, &linker);
    c.bench_function("instantiate+drop/empty", |b| {
        b.iter(|| drop(region.new_instance(empty.clone()).unwrap()))
    });

    let fac = benchmarks::load(benchmarks::FAC, &linker);
    let mut inst = region.new_instance(fac.clone()).unwrap();
    c.bench_function("run/fac(10)", |b| {
        b.iter(|| inst.run("fac", &[Val::I64(10)]).unwrap())
    });
    drop(inst);

    c.bench_function("instantiate+run+drop/fac(10)", |b| {
        b.iter(|| {
            let mut inst = region.new_instance(fac.clone()).unwrap();
            inst.run("fac", &[Val::I64(10)]).unwrap();
        })
    });
}

criterion_group!(benches, instantiate);
criterion_main!(benches);
