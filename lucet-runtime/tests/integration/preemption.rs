//! Preemption: a run asked to yield (`KillSwitch::preempt`, or a
//! `RunPolicy` time slice) yields at its next loop header, or when the
//! host call it is in returns, and goes on where it was when resumed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{
    Error, InstanceHandle, KillSuccess, KillSwitch, Linker, MmapRegion, Module, Outcome, RunPolicy,
    RunResult, Step, TerminationDetails, TrapCode, Val, Watchdog,
};

use crate::common::*;

const LOOPS: &str = r#"(module
  (import "env" "pause" (func $pause))
  ;; The sum of 0..n.
  (func $sum (export "sum") (param $n i64) (result i64)
    (local $i i64) (local $s i64)
    (block $done (loop $l
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i64.add (local.get $s) (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "pause_then_sum") (param $n i64) (result i64)
    (call $pause)
    (call $sum (local.get $n)))
  (func (export "forever") (loop $l (br $l))))"#;

fn expected_sum(n: i64) -> i64 {
    n * (n - 1) / 2
}

/// `LOOPS` (counting instructions when `counting`), its `pause` calling
/// `pause`.
fn module(counting: bool, pause: impl Fn() + Send + Sync + 'static) -> Arc<Module> {
    let compiler = Compiler::new(CompileOptions {
        count_instructions: counting,
        ..CompileOptions::default()
    })
    .unwrap();
    let elf = compiler
        .compile(LOOPS.as_bytes())
        .unwrap()
        .to_elf()
        .unwrap();
    let mut linker = Linker::new();
    linker.func("env", "pause", move |_: &mut lucet_runtime::Vmctx| pause());
    Module::from_bytes(&elf, "loops", &linker).unwrap()
}

fn instance(counting: bool) -> InstanceHandle {
    region().new_instance(module(counting, || {})).unwrap()
}

/// Asks the run of `switch` to yield every millisecond until `stop`.
fn preempter(switch: KillSwitch, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut asked = 0;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
            if switch.preempt() {
                asked += 1;
            }
        }
        asked
    })
}

/// Asks the run of `switch` to yield, once it is running.
fn preempt_once(switch: KillSwitch) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while !switch.preempt() {
            assert!(start.elapsed() < Duration::from_secs(10), "never running");
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// Runs `func(args)`, resuming after every preemption: its results, and
/// how many times it was preempted.
fn run_through(
    inst: &mut InstanceHandle,
    func: &str,
    args: &[Val],
) -> (Result<Vec<Val>, Error>, usize) {
    let mut preempted = 0;
    let mut result = inst.run(func, args);
    loop {
        match result {
            Ok(RunResult::Yielded(v)) if v.is_preempted() => {
                preempted += 1;
                result = inst.resume();
            }
            Ok(RunResult::Yielded(_)) => panic!("yielded by a host call"),
            Ok(RunResult::Returned(values)) => return (Ok(values), preempted),
            Err(e) => return (Err(e), preempted),
        }
    }
}

#[test]
fn a_preempted_loop_goes_on_where_it_was() {
    for counting in [false, true] {
        let mut inst = instance(counting);
        if counting {
            inst.set_fuel(u64::MAX / 2).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = preempter(inst.kill_switch(), stop.clone());
        let n: i64 = 300_000_000;
        let (result, preempted) = run_through(&mut inst, "sum", &[Val::I64(n)]);
        stop.store(true, Ordering::Relaxed);
        let asked = thread.join().unwrap();
        assert_eq!(result.unwrap(), vec![Val::I64(expected_sum(n))]);
        assert!(preempted >= 1, "never preempted");
        // Each yield answered a request (requests made before the guest
        // took the one before may share a yield).
        assert!(
            preempted <= asked,
            "{preempted} yields for {asked} requests"
        );
    }
}

#[test]
fn fuel_still_runs_out_across_preemptions() {
    let mut inst = instance(true);
    // About 8 units an iteration: enough for a tenth of the loop.
    let n: i64 = 100_000_000;
    inst.set_fuel((n as u64) * 8 / 10).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = preempter(inst.kill_switch(), stop.clone());
    let (result, _) = run_through(&mut inst, "sum", &[Val::I64(n)]);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    match result {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::OutOfFuel),
        other => panic!("expected to run out of fuel, got {other:?}"),
    }
}

#[test]
fn a_preemption_during_a_host_call_yields_when_the_call_returns() {
    let (in_call_tx, in_call_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (in_call_tx, go_rx) = (Mutex::new(in_call_tx), Mutex::new(go_rx));
    let module = module(false, move || {
        in_call_tx.lock().unwrap().send(()).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
    });
    let mut inst = region().new_instance(module).unwrap();
    let switch = inst.kill_switch();
    let asker = std::thread::spawn(move || {
        in_call_rx.recv().unwrap();
        let asked = switch.preempt();
        go_tx.send(()).unwrap();
        asked
    });
    let first = inst.run("pause_then_sum", &[Val::I64(1000)]).unwrap();
    assert!(asker.join().unwrap());
    // No guest code ran after the call: the run yielded as it returned.
    assert!(first.yielded().unwrap().is_preempted());
    let values = inst.resume().unwrap().returned().unwrap();
    assert_eq!(values, vec![Val::I64(expected_sum(1000))]);
}

#[test]
fn a_preempted_run_can_be_killed_dropped_or_not_collected() {
    let region = MmapRegion::create(1, &Default::default()).unwrap();
    let module = module(false, || {});
    let mut inst = region.new_instance(module.clone()).unwrap();
    let switch = inst.kill_switch();
    let asker = preempt_once(switch.clone());
    let yielded = inst.run("forever", &[]).unwrap().yielded().unwrap();
    asker.join().unwrap();
    assert!(yielded.is_preempted());
    // Its frames are not where a collection could find them.
    assert!(!inst.collect_garbage());
    // A kill ends it when it is resumed.
    assert_eq!(switch.terminate(), Ok(KillSuccess::Signalled));
    assert!(matches!(
        inst.resume(),
        Err(Error::Terminated(TerminationDetails::Remote))
    ));

    // Dropped while preempted: the slot serves the next instance.
    let asker = preempt_once(inst.kill_switch());
    assert!(inst
        .run("forever", &[])
        .unwrap()
        .yielded()
        .unwrap()
        .is_preempted());
    asker.join().unwrap();
    drop(inst);
    let mut next = region.new_instance(module).unwrap();
    assert_eq!(
        next.run("sum", &[Val::I64(10)])
            .unwrap()
            .returned()
            .unwrap(),
        vec![Val::I64(45)]
    );
}

#[test]
fn a_run_policy_slices_a_long_run_and_finishes_it() {
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let watchdog = Watchdog::new();
    let policy = RunPolicy {
        deadline: Some(Instant::now() + Duration::from_secs(60)),
        fuel: None,
        time_slice: Some(Duration::from_millis(5)),
    };
    let n: i64 = 300_000_000;
    let builder = region.new_instance_builder(module(false, || {}));
    let mut step = policy.start(builder, "sum", &[Val::I64(n)], &watchdog);
    let mut slices = 0;
    let finished = loop {
        match step {
            Step::Preempted(instance) => {
                slices += 1;
                step = policy.resume(instance, &watchdog);
            }
            Step::Ended(finished) => break finished,
            Step::Suspended(_) => panic!("suspended by a host call"),
        }
    };
    match finished.outcome {
        Outcome::Returned(values) => assert_eq!(values, vec![Val::I64(expected_sum(n))]),
        other => panic!("{other}"),
    }
    assert!(slices >= 2, "{slices} slices");

    // `run` goes on by itself after each slice.
    let builder = region.new_instance_builder(module(false, || {}));
    match policy
        .run(builder, "sum", &[Val::I64(n)], &watchdog)
        .outcome
    {
        Outcome::Returned(values) => assert_eq!(values, vec![Val::I64(expected_sum(n))]),
        other => panic!("{other}"),
    }
}

/// Computing with no loop at all: by recursion, by calls through a
/// table, by tail calls that go round.
const RECURSION: &str = r#"(module
  (type $unary (func (param i64) (result i64)))
  (table 1 funcref)
  (elem (i32.const 0) $fib_indirect)
  (func $fib (export "fib") (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func $fib_indirect (export "fib_indirect") (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add
        (call_indirect (type $unary) (i64.sub (local.get $n) (i64.const 1)) (i32.const 0))
        (call_indirect (type $unary) (i64.sub (local.get $n) (i64.const 2)) (i32.const 0))))))
  (func $ping (param $n i64) (result i64) (return_call $pong (i64.add (local.get $n) (i64.const 1))))
  (func $pong (param $n i64) (result i64) (return_call $ping (local.get $n)))
  (func (export "ping_pong_forever") (result i64) (call $ping (i64.const 0))))"#;

fn fib(n: i64) -> i64 {
    let (mut a, mut b) = (0, 1);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

#[test]
fn recursion_without_loops_is_preempted_too() {
    let elf = Compiler::new(CompileOptions::default())
        .unwrap()
        .compile(RECURSION.as_bytes())
        .unwrap()
        .to_elf()
        .unwrap();
    let module = Module::from_bytes(&elf, "recursion", &Linker::new()).unwrap();
    let region = MmapRegion::create(1, &Default::default()).unwrap();
    for func in ["fib", "fib_indirect"] {
        let mut inst = region.new_instance(module.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = preempter(inst.kill_switch(), stop.clone());
        // Tens of millions of calls: tens of milliseconds at least.
        let (result, preempted) = run_through(&mut inst, func, &[Val::I64(34)]);
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
        assert_eq!(result.unwrap(), vec![Val::I64(fib(34))], "{func}");
        assert!(preempted >= 1, "{func} never preempted");
    }
    // Tail calls round a cycle, for ever: preempted, then killed.
    let mut inst = region.new_instance(module).unwrap();
    let switch = inst.kill_switch();
    let asker = preempt_once(switch.clone());
    let yielded = inst
        .run("ping_pong_forever", &[])
        .unwrap()
        .yielded()
        .unwrap();
    asker.join().unwrap();
    assert!(yielded.is_preempted());
    assert_eq!(switch.terminate(), Ok(KillSuccess::Signalled));
    assert!(matches!(
        inst.resume(),
        Err(Error::Terminated(TerminationDetails::Remote))
    ));
}
