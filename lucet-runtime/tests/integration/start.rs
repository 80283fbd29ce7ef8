use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use lucet_runtime::{Linker, TrapCode, Val::*, Vmctx};

use crate::common::*;

#[test]
fn the_start_function_runs_on_instantiation_and_reset() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let mut linker = Linker::new();
    linker.func("env", "started", move |_: &mut Vmctx| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let module = load_with("start", &linker);
    assert_eq!(runs.load(Ordering::SeqCst), 0, "loading runs nothing");
    let mut inst = region().new_instance(module).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(i32(&mut inst, "ready", &[]), 1);
    assert_eq!(i32(&mut inst, "load", &[]), 0xc0ffee);
    inst.run("store", &[I32(5)]).unwrap();
    inst.reset().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(i32(&mut inst, "load", &[]), 0xc0ffee);
}

#[test]
fn a_trapping_start_function_fails_instantiation() {
    let region = region();
    let err = region.new_instance(load("start_traps")).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::Unreachable), "{err}");
    assert_eq!(region.free_slots(), 1, "the slot was returned");
}

#[test]
fn host_functions_called_by_start_see_the_embed_context() {
    struct Seen(u32);
    let mut linker = Linker::new();
    linker.func("env", "started", |vmctx: &mut Vmctx| {
        vmctx
            .embed_ctx_mut::<Seen>()
            .expect("context set before start")
            .0 += 1;
    });
    let region = region();
    let inst = region
        .new_instance_builder(load_with("start", &linker))
        .with_embed_ctx(Seen(0))
        .build()
        .unwrap();
    assert_eq!(inst.get_embed_ctx::<Seen>().unwrap().0, 1);
}
