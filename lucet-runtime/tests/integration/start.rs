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

#[test]
fn a_deferred_start_function_runs_on_request() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let mut linker = Linker::new();
    linker.func("env", "started", move |_: &mut Vmctx| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let region = region();
    let mut inst = region
        .new_instance_builder(load_with("start", &linker))
        .defer_start()
        .build()
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let e = inst.run("ready", &[]).unwrap_err();
    assert!(e.to_string().contains("run_start"), "{e}");
    inst.run_start().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(i32(&mut inst, "ready", &[]), 1);
    assert!(inst.run_start().is_err(), "runs once");
    // A module without a start function needs nothing, but may be asked.
    drop(inst);
    let mut plain = region
        .new_instance_builder(load("arith"))
        .defer_start()
        .build()
        .unwrap();
    plain.run_start().unwrap();
}

#[test]
fn a_deferred_start_function_that_traps_leaves_the_instance_unusable() {
    let region = region();
    let mut inst = region
        .new_instance_builder(load("start_traps"))
        .defer_start()
        .build()
        .unwrap();
    let e = inst.run_start().unwrap_err();
    assert_eq!(e.trap_code(), Some(TrapCode::Unreachable), "{e}");
    let e = inst.run("anything", &[]).unwrap_err();
    assert!(e.to_string().contains("start function failed"), "{e}");
    // Reset runs it again (and it traps again).
    assert!(inst.reset().is_err());
}

#[test]
fn a_start_function_that_never_ends_is_stopped_by_its_kill_switch() {
    let module = load("start_forever");
    let region = region();
    let mut inst = region
        .new_instance_builder(module)
        .defer_start()
        .build()
        .unwrap();
    let kill = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        kill.terminate()
    });
    let e = inst.run_start().unwrap_err();
    assert!(
        matches!(
            e,
            lucet_runtime::Error::Terminated(lucet_runtime::TerminationDetails::Remote)
        ),
        "{e}"
    );
    assert!(killer.join().unwrap().is_ok());
}
