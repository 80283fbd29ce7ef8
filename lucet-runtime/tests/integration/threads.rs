use std::sync::Arc;

use lucet_runtime::{Limits, MmapRegion, Val::*};

use crate::common::*;

/// 8 threads each create, run and drop 1,000 instances of one module in one
/// shared region, with traps mixed in.
#[test]
fn eight_threads_each_run_a_thousand_instances() {
    let region = MmapRegion::create(8, &Limits::default()).unwrap();
    let module = load("memory");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let region = Arc::clone(&region);
            let module = Arc::clone(&module);
            std::thread::spawn(move || {
                for i in 0..1000i32 {
                    let mut inst = region.new_instance(module.clone()).unwrap();
                    // Memory starts zeroed even though slots are reused.
                    assert_eq!(i32(&mut inst, "load_i32", &[I32(64)]), 0);
                    inst.run("store_i32", &[I32(64), I32(t * 10_000 + i)])
                        .unwrap();
                    assert_eq!(i32(&mut inst, "load_i32", &[I32(64)]), t * 10_000 + i);
                    if i % 10 == 0 {
                        assert!(inst.run("load_i32", &[I32(70_000)]).is_err());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(region.free_slots(), 8);
}

#[test]
fn region_and_module_are_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MmapRegion>();
    assert_send_sync::<lucet_runtime::Module>();
    fn assert_send<T: Send>() {}
    assert_send::<lucet_runtime::InstanceHandle>();
}
