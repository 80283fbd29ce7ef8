use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{
    Error, KillError, KillSuccess, Linker, MmapRegion, Module, TerminationDetails, Val::*, Vmctx,
};

use crate::common::*;

/// Host functions for `spin.wat`: `wait` blocks until `barrier` is passed
/// twice (so a test can kill the guest while it is in the host call);
/// `hold` yields.
fn linker(barrier: Arc<Barrier>) -> Linker {
    let mut l = Linker::new();
    l.func("env", "wait", move |_: &mut Vmctx| {
        barrier.wait();
        barrier.wait();
    });
    l.func("env", "hold", |vmctx: &mut Vmctx| {
        vmctx.yield_();
    });
    l
}

fn is_remote(r: &Result<lucet_runtime::RunResult, Error>) -> bool {
    matches!(r, Err(Error::Terminated(TerminationDetails::Remote)))
}

#[test]
fn an_infinite_loop_is_stopped_from_another_thread() {
    let module = load_with("spin", &linker(Arc::new(Barrier::new(1))));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    let (tx, rx) = mpsc::channel();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let at = Instant::now();
        tx.send(at).unwrap();
        ks.terminate()
    });
    let r = inst.run("forever", &[]);
    let stopped = Instant::now();
    assert!(is_remote(&r), "{r:?}");
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    let asked = rx.recv().unwrap();
    // Promptly (the bound is loose: this is about the mechanism, on a busy
    // machine, not about speed).
    assert!(stopped.duration_since(asked) < Duration::from_secs(1));
    // The instance runs again normally.
    assert_eq!(i32(&mut inst, "count", &[I32(1000)]), 1000);
}

#[test]
fn a_run_that_has_not_started_is_cancelled() {
    let module = load_with("spin", &linker(Arc::new(Barrier::new(1))));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    assert_eq!(ks.terminate(), Ok(KillSuccess::Cancelled));
    assert!(is_remote(&inst.run("count", &[I32(5)])));
    // That was the run the switch belonged to; the next one is not affected.
    assert_eq!(i32(&mut inst, "count", &[I32(5)]), 5);
    assert_eq!(ks.terminate(), Err(KillError::NotTerminable));
}

#[test]
fn a_finished_run_cannot_be_terminated() {
    let module = load_with("spin", &linker(Arc::new(Barrier::new(1))));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    inst.run("count", &[I32(3)]).unwrap();
    assert_eq!(ks.terminate(), Err(KillError::NotTerminable));
    drop(inst);
    assert_eq!(ks.terminate(), Err(KillError::NotTerminable));
}

#[test]
fn a_guest_in_a_host_call_stops_when_the_call_returns() {
    let barrier = Arc::new(Barrier::new(2));
    let module = load_with("spin", &linker(barrier.clone()));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        barrier.wait(); // the guest is inside `wait`
        let r = ks.terminate();
        barrier.wait(); // let the host call return
        r
    });
    let r = inst.run("wait_then_forever", &[]);
    assert!(is_remote(&r), "{r:?}");
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
}

#[test]
fn a_yielded_guest_stops_when_resumed() {
    let module = load_with("spin", &linker(Arc::new(Barrier::new(1))));
    let mut inst = region().new_instance(module).unwrap();
    assert!(inst.run("hold_then_forever", &[]).unwrap().is_yielded());
    let ks = inst.kill_switch();
    assert_eq!(ks.terminate(), Ok(KillSuccess::Signalled));
    assert!(is_remote(&inst.resume()));
    assert_eq!(i32(&mut inst, "count", &[I32(2)]), 2);
}

#[test]
fn runaway_recursion_is_stopped_too() {
    let module = load_with("spin", &linker(Arc::new(Barrier::new(1))));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    ks.terminate().unwrap();
    // Cancelled before it starts.
    assert!(is_remote(&inst.run("recurse_forever", &[I32(0)])));
}

#[test]
fn loop_free_recursion_is_stopped_while_it_runs() {
    let barrier = Arc::new(Barrier::new(2));
    let module = load_with("spin", &linker(barrier.clone()));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        barrier.wait();
        barrier.wait();
        // The guest is back from `wait`, deep in fib(90): 2^60 calls.
        std::thread::sleep(Duration::from_millis(20));
        ks.terminate()
    });
    let r = inst.run("wait_then_fib", &[I64(90)]);
    assert!(is_remote(&r), "{r:?}");
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    // The instance runs again normally, and recursion still works.
    assert_eq!(i32(&mut inst, "count", &[I32(10)]), 10);
}

#[test]
fn code_without_checks_cannot_be_stopped_while_it_runs() {
    let compiler = Compiler::new(CompileOptions {
        interruptible: false,
        ..CompileOptions::default()
    })
    .unwrap();
    let wat = std::fs::read(wat_path("spin")).unwrap();
    let elf = compiler.compile(&wat).unwrap().to_elf().unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let module = Module::from_bytes(&elf, "spin", &linker(barrier.clone())).unwrap();
    assert!(!module.is_interruptible());
    let region = MmapRegion::create(1, &Default::default()).unwrap();
    let mut inst = region.new_instance(module).unwrap();
    let ks = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        barrier.wait();
        let r = ks.terminate();
        barrier.wait();
        r
    });
    // The request is refused, and the run completes unhindered.
    assert_eq!(i32(&mut inst, "wait_then_return", &[]), 7);
    assert_eq!(killer.join().unwrap(), Err(KillError::NotInterruptible));
}

/// Code of a linked instance runs on the caller's run: killing that run
/// stops it there too.
#[test]
fn a_run_inside_linked_code_is_stopped() {
    let exporter_wat = br#"(module
      (func $spin (export "forever") (loop $l (br $l)))
      (func $fib (export "fib") (param i64) (result i64)
        (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
          (then (local.get 0))
          (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                         (call $fib (i64.sub (local.get 0) (i64.const 2))))))))"#;
    let importer_wat = br#"(module
      (import "ex" "forever" (func $forever))
      (import "ex" "fib" (func $fib (param i64) (result i64)))
      (func (export "forever") (call $forever))
      (func (export "fib") (param i64) (result i64) (call $fib (local.get 0))))"#;
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let exporter = Module::from_bytes(&compile_bytes(exporter_wat), "ex", &Linker::new())
        .and_then(|m| region.new_instance(m))
        .unwrap();
    let mut linker = Linker::new();
    linker.instance_module("ex");
    let importer = Module::from_bytes(&compile_bytes(importer_wat), "im", &linker).unwrap();
    let mut inst = region
        .new_instance_builder(importer)
        .link("ex", &exporter)
        .build()
        .unwrap();
    for (export, args) in [("forever", vec![]), ("fib", vec![I64(90)])] {
        let ks = inst.kill_switch();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ks.terminate()
        });
        let r = inst.run(export, &args);
        assert!(is_remote(&r), "{export}: {r:?}");
        assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    }
    drop(exporter);
}

#[test]
fn a_kill_during_a_host_call_ends_the_run_when_the_call_returns() {
    // The guest would return 7 right after the call; a kill that landed
    // during the call ends the run first.
    let barrier = Arc::new(Barrier::new(2));
    let module = load_with("spin", &linker(barrier.clone()));
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        barrier.wait();
        let r = ks.terminate();
        barrier.wait();
        r
    });
    let r = inst.run("wait_then_return", &[]);
    assert!(is_remote(&r), "{r:?}");
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    // The instance runs again normally.
    assert_eq!(i32(&mut inst, "count", &[I32(5)]), 5);
}

#[test]
fn host_functions_wait_interruptibly() {
    // `sleep` waits 60 s through the run's Interrupt; a kill wakes it at
    // once, and it sees the request.
    let mut linker = Linker::new();
    let (tx, rx) = mpsc::channel();
    linker.func("env", "wait", move |vmctx: &mut Vmctx| {
        let interrupt = vmctx.interrupt();
        assert!(!interrupt.requested());
        tx.send(()).unwrap();
        let waited = interrupt.sleep(Duration::from_secs(60)).unwrap();
        assert_eq!(waited, lucet_runtime::Wait::Interrupted);
        assert!(interrupt.requested());
        // Waiting again returns at once.
        assert_eq!(
            interrupt.sleep(Duration::from_secs(60)).unwrap(),
            lucet_runtime::Wait::Interrupted
        );
    });
    linker.func("env", "hold", |_: &mut Vmctx| {});
    let module = load_with("spin", &linker);
    let mut inst = region().new_instance(module).unwrap();
    let ks = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        ks.terminate()
    });
    let started = Instant::now();
    let r = inst.run("wait_then_return", &[]);
    assert!(is_remote(&r), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(killer.join().unwrap(), Ok(KillSuccess::Signalled));
    // A sleep that is not interrupted lasts its time; the next run is not
    // affected by the last one's kill.
    let mut linker = Linker::new();
    linker.func("env", "wait", |vmctx: &mut Vmctx| {
        let waited = vmctx.interrupt().sleep(Duration::from_millis(10)).unwrap();
        assert_eq!(waited, lucet_runtime::Wait::TimedOut);
    });
    linker.func("env", "hold", |_: &mut Vmctx| {});
    let mut inst = region().new_instance(load_with("spin", &linker)).unwrap();
    assert_eq!(i32(&mut inst, "wait_then_return", &[]), 7);
    assert_eq!(i32(&mut inst, "wait_then_return", &[]), 7);
}
