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
