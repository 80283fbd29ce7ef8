//! Crossing between host and guest: yields, host calls, traps, and a short
//! guest run.

use benchmarks::{lucet, workloads};
use criterion::{criterion_group, criterion_main, Criterion};
use lucet_runtime::Val;

fn calls(c: &mut Criterion) {
    let region = lucet::region(4);

    let mut yielder = lucet::Yielder::new(&region);
    c.bench_function("yield+resume round trip", |b| {
        b.iter(|| yielder.round_trip())
    });
    drop(yielder);

    // 1000 host calls per run: criterion reports per run, so the round
    // trip is a thousandth of it.
    let module = lucet::load(workloads::HOST_CALLS);
    let mut inst = region.new_instance(module).expect("instantiate");
    c.bench_function("host call round trip x1000", |b| {
        b.iter(|| lucet::host_calls(&mut inst, 1000))
    });
    drop(inst);

    let trap = lucet::load(workloads::TRAP);
    let mut inst = region.new_instance(trap.clone()).expect("instantiate");
    c.bench_function("trap round trip (run to trap, same instance)", |b| {
        b.iter(|| assert!(inst.run("run", &[]).is_err()))
    });
    drop(inst);
    c.bench_function("instantiate+trap+drop", |b| {
        b.iter(|| {
            let mut inst = region.new_instance(trap.clone()).expect("instantiate");
            assert!(inst.run("run", &[]).is_err());
        })
    });

    let fac = lucet::load(workloads::FAC);
    let mut inst = region.new_instance(fac).expect("instantiate");
    c.bench_function("run/fac(10)", |b| {
        b.iter(|| inst.run("fac", &[Val::I64(10)]).expect("run"))
    });
}

criterion_group!(benches, calls);
criterion_main!(benches);
