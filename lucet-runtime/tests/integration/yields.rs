use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lucet_runtime::{Linker, RunResult, Val::*, Vmctx};

use crate::common::*;

/// Counts drops, to prove a yielded host function's frame is unwound.
struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn linker(drops: Arc<AtomicUsize>) -> Linker {
    let mut l = Linker::new();
    l.func("env", "yield_val", |vmctx: &mut Vmctx, v: i32| -> i32 {
        vmctx.yield_val_expecting::<i32, i32>(v).unwrap_or(-1000)
    });
    l.func("env", "yield_hold", move |vmctx: &mut Vmctx| {
        let _guard = DropCounter(drops.clone());
        vmctx.yield_();
    });
    l
}

#[test]
fn yield_and_resume_with_values() {
    let mut inst = region()
        .new_instance(load_with("yield", &linker(Default::default())))
        .unwrap();
    let mut result = inst.run("generate", &[I32(5)]).unwrap();
    let mut seen = Vec::new();
    loop {
        match result {
            RunResult::Yielded(v) => {
                let v = v.downcast::<i32>().expect("an i32");
                seen.push(v);
                assert!(inst.is_yielded());
                // Running something else while yielded is refused.
                assert!(inst.run("generate", &[I32(1)]).is_err());
                result = inst.resume_with_val(v * 10).unwrap();
            }
            RunResult::Returned(r) => {
                assert_eq!(r, vec![I32(150)]);
                break;
            }
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    assert!(!inst.is_yielded());
    // A resume without a value: the host function sees none.
    let r = inst.run("generate", &[I32(1)]).unwrap();
    assert!(r.is_yielded());
    let r = inst.resume().unwrap().returned().unwrap();
    assert_eq!(r, vec![I32(-1000)]);
    assert!(inst.resume().is_err(), "nothing to resume");
}

#[test]
fn dropping_a_yielded_instance_unwinds_the_host_function() {
    let drops = Arc::new(AtomicUsize::new(0));
    let region = region();
    let module = load_with("yield", &linker(drops.clone()));
    let mut inst = region.new_instance(module.clone()).unwrap();
    assert!(inst.run("hold", &[]).unwrap().is_yielded());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(inst);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(region.free_slots(), 1);

    // The same on reset; the instance is usable afterwards.
    let mut inst = region.new_instance(module).unwrap();
    assert!(inst.run("hold", &[]).unwrap().is_yielded());
    inst.reset().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(inst.run("hold", &[]).unwrap().is_yielded());
    inst.resume().unwrap().returned().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn a_yielded_instance_resumes_on_another_thread() {
    let mut inst = region()
        .new_instance(load_with("yield", &linker(Default::default())))
        .unwrap();
    assert!(inst.run("generate", &[I32(2)]).unwrap().is_yielded());
    let mut inst = std::thread::spawn(move || {
        assert!(inst.resume_with_val(7i32).unwrap().is_yielded());
        inst
    })
    .join()
    .unwrap();
    let r = inst.resume_with_val(8i32).unwrap().returned().unwrap();
    assert_eq!(r, vec![I32(15)]);
}

#[test]
fn a_policy_run_suspends_and_resumes_under_its_deadline() {
    use lucet_runtime::{Outcome, RunPolicy, Step, Watchdog};
    use std::time::{Duration, Instant};

    let drops = Arc::new(AtomicUsize::new(0));
    let module = load_with("yield", &linker(drops.clone()));
    let watchdog = Watchdog::new();
    let policy = RunPolicy {
        deadline: Some(Instant::now() + Duration::from_secs(10)),
        fuel: None,
        time_slice: None,
    };
    // Each yield suspends the run; resuming continues it to its end.
    let mut step = policy.start(
        region().new_instance_builder(module.clone()),
        "generate",
        &[I32(3)],
        &watchdog,
    );
    let mut suspensions = 0;
    let finished = loop {
        match step {
            Step::Suspended(instance) => {
                suspensions += 1;
                step = policy.resume(instance, &watchdog);
            }
            Step::Ended(f) => break f,
            Step::Preempted(_) => panic!("preempted without a time slice"),
        }
    };
    assert_eq!(suspensions, 3);
    match finished.outcome {
        // Resumed without values: each yield gave -1000.
        Outcome::Returned(v) => assert_eq!(v, vec![I32(-3000)]),
        other => panic!("{other}"),
    }
    // A run resumed after its deadline is stopped at once, and the host
    // function it was suspended in is unwound. (The deadline is generous
    // for the start, and has passed for the resume, whatever the speed of
    // the machine: no sleeping.)
    let start = RunPolicy {
        deadline: Some(Instant::now() + Duration::from_secs(60)),
        fuel: None,
        time_slice: None,
    };
    let Step::Suspended(instance) = start.start(
        region().new_instance_builder(module),
        "hold",
        &[],
        &watchdog,
    ) else {
        panic!("not suspended");
    };
    let late = RunPolicy {
        deadline: Some(Instant::now()),
        fuel: None,
        time_slice: None,
    };
    match late.resume(instance, &watchdog) {
        Step::Ended(f) => {
            assert!(matches!(f.outcome, Outcome::TimedOut), "{}", f.outcome);
            drop(f.instance);
        }
        Step::Suspended(_) | Step::Preempted(_) => panic!("resumed past its deadline"),
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_host_function_keeps_its_context_value_across_a_yield() {
    use lucet_runtime::Vmctx;

    struct Count(u32);
    let mut l = Linker::new();
    l.func("env", "yield_val", |vmctx: &mut Vmctx, v: i32| -> i32 {
        let (count, mut caller) = vmctx.embed_ctx_and_caller_mut::<Count>().expect("a count");
        count.0 += 1;
        caller.yield_();
        count.0 += 10;
        // The module has no memory: an empty one.
        assert!(caller.memory_mut().is_empty());
        assert!(!caller.interrupt().requested());
        v
    });
    l.func("env", "yield_hold", |_: &mut Vmctx| {});
    let module = load_with("yield", &l);
    let mut inst = region()
        .new_instance_builder(module)
        .with_embed_ctx(Count(0))
        .build()
        .unwrap();
    let r = inst.run("generate", &[I32(2)]).unwrap();
    assert!(r.is_yielded());
    // While yielded, the value belongs to the host function.
    assert!(inst.get_embed_ctx::<Count>().is_none());
    assert!(inst.get_embed_ctx_mut::<Count>().is_none());
    assert!(inst.remove_embed_ctx::<Count>().is_none());
    assert!(inst.resume().unwrap().is_yielded());
    let r = inst.resume().unwrap().returned().unwrap();
    assert_eq!(r, vec![I32(3)]);
    assert_eq!(inst.get_embed_ctx::<Count>().map(|c| c.0), Some(22));
}
