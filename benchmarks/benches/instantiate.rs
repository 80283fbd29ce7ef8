//! Instantiation: the cost every edge request pays before the guest runs.

use std::time::{Duration, Instant};

use benchmarks::{lucet, workloads};
use criterion::{criterion_group, criterion_main, Criterion};

fn instantiate(c: &mut Criterion) {
    let region = lucet::region(16);
    let mut group = c.benchmark_group("instantiate+drop");
    let cases = [
        ("empty module", workloads::EMPTY.to_string()),
        ("64 KiB of data", workloads::data(64 << 10)),
        ("1 MiB of data", workloads::data(1 << 20)),
        (
            "10,000 functions and table",
            workloads::many_functions(10_000),
        ),
    ];
    for (name, wat) in &cases {
        let module = lucet::load(wat);
        group.bench_function(*name, |b| b.iter(|| lucet::instantiate(&region, &module)));
    }
    group.finish();

    let handler = lucet::load(workloads::HANDLER_64K);
    c.bench_function("instantiate+run+drop/handler touching 64 KiB", |b| {
        b.iter(|| lucet::instantiate_run(&region, &handler))
    });

    let fac = lucet::load(workloads::FAC);
    c.bench_function("instantiate+run+drop/fac(10)", |b| {
        b.iter(|| {
            let mut inst = region.new_instance(fac.clone()).expect("instantiate");
            inst.run("fac", &[lucet_runtime::Val::I64(10)])
                .expect("run");
        })
    });
}

/// Every core instantiates, runs and drops the 64 KiB handler in a loop;
/// the time reported is per instance.
fn parallel(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let region = lucet::region(threads * 2);
    let handler = lucet::load(workloads::HANDLER_64K);
    c.bench_function(
        &format!("parallel instantiate+run+drop/handler, {threads} threads, per instance"),
        |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            for _ in 0..per_thread {
                                lucet::instantiate_run(&region, &handler);
                            }
                        });
                    }
                });
                let elapsed = start.elapsed();
                // Wall time for `iters` instances (criterion divides).
                Duration::from_secs_f64(
                    elapsed.as_secs_f64() * iters as f64 / (per_thread * threads as u64) as f64,
                )
            })
        },
    );
}

criterion_group!(benches, instantiate, parallel);
criterion_main!(benches);
