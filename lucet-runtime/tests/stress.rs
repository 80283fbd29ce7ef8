//! Stress: two threads instantiate, run (return, trap, run long or forever),
//! and drop instances 100,000 times each, while a third fires kill switches
//! at random moments: before runs start, while they run, after they ended.
//! Nothing may crash or hang, every run ends the way its mode and the kills
//! allow, and resident memory stays flat after warm-up.
//!
//! A test binary of its own: the resident-memory check must see only this.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{
    Error, KillError, KillSuccess, KillSwitch, Limits, Linker, MmapRegion, Module,
    TerminationDetails, TrapCode, Val,
};

const CYCLES: usize = 100_000;
const WORKERS: usize = 2;

const WAT: &str = r#"(module
  (memory 1)
  (func (export "work") (param $mode i32) (param $n i32) (result i32)
    (local $i i32)
    ;; Touch some memory, so that resets have pages to zero.
    (i32.store (i32.and (i32.mul (local.get $n) (i32.const 4096)) (i32.const 0xffff))
               (local.get $n))
    (block $done
      (br_if $done (i32.eqz (local.get $mode)))
      (if (i32.eq (local.get $mode) (i32.const 1)) (then unreachable))
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        ;; mode 2: n iterations; mode 3: forever.
        (br_if $l (i32.or (i32.eq (local.get $mode) (i32.const 3))
                          (i32.lt_u (local.get $i) (local.get $n))))))
    (local.get $i)))"#;

fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A small deterministic generator (xorshift), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What the killer is asked to do with a switch.
struct Order {
    switch: KillSwitch,
    /// Microseconds to wait first.
    delay_us: u64,
}

#[test]
fn instances_survive_a_storm_of_runs_traps_and_kills() {
    let elf = Compiler::new(CompileOptions::default())
        .unwrap()
        .compile(WAT.as_bytes())
        .unwrap()
        .to_elf()
        .unwrap();
    let module = Module::from_bytes(&elf, "stress", &Linker::new()).unwrap();
    let region = MmapRegion::create(WORKERS * 2, &Limits::default()).unwrap();

    let (orders, inbox) = mpsc::channel::<Order>();
    let done = AtomicBool::new(false);
    let signalled = AtomicUsize::new(0);
    let terminated = AtomicUsize::new(0);
    let warm_rss = AtomicUsize::new(0);
    let warmed = AtomicUsize::new(0);

    std::thread::scope(|s| {
        // The killer: fires every switch it is given after its delay.
        let signalled = &signalled;
        s.spawn(move || {
            while let Ok(order) = inbox.recv() {
                if order.delay_us > 0 {
                    std::thread::sleep(Duration::from_micros(order.delay_us));
                }
                match order.switch.terminate() {
                    Ok(KillSuccess::Signalled) => {
                        signalled.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(KillSuccess::Cancelled)
                    | Err(KillError::NotTerminable | KillError::NotInterruptible) => {}
                }
            }
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (region, module, orders) = (&region, &module, orders.clone());
                let (terminated, warm_rss, warmed, done) = (&terminated, &warm_rss, &warmed, &done);
                s.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1));
                    for cycle in 0..CYCLES {
                        if cycle == CYCLES / 10
                            && warmed.fetch_add(1, Ordering::SeqCst) == WORKERS - 1
                        {
                            warm_rss.store(rss_kib(), Ordering::SeqCst);
                        }
                        let mut inst = region.new_instance(module.clone()).unwrap();
                        let r = rng.next();
                        let mode = (r % 4) as i32;
                        let n = ((r >> 8) % 2000) as i32;
                        // Forever must be killed; the others sometimes are,
                        // at any moment (including before the run starts).
                        let kill = mode == 3 || (r >> 20) % 4 == 0;
                        if kill {
                            let order = Order {
                                switch: inst.kill_switch(),
                                delay_us: (r >> 24) % 50,
                            };
                            orders.send(order).unwrap();
                        }
                        let result = inst.run("work", &[Val::I32(mode), Val::I32(n)]);
                        match result {
                            Err(Error::Terminated(TerminationDetails::Remote)) => {
                                assert!(kill, "mode {mode}: terminated without a kill");
                                terminated.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(r) => {
                                assert!(mode == 0 || mode == 2, "mode {mode} returned");
                                let v = r.returned().unwrap()[0].as_i32().unwrap();
                                assert_eq!(v, if mode == 0 { 0 } else { n.max(1) });
                            }
                            Err(e) => {
                                assert_eq!(mode, 1, "mode {mode}: {e}");
                                assert_eq!(e.trap_code(), Some(TrapCode::Unreachable), "{e}");
                            }
                        }
                        // A late switch on a later run of the same slot must
                        // be harmless: the next instance is unaffected.
                        if cycle % 1000 == 0 {
                            let late = inst.kill_switch();
                            drop(inst);
                            orders
                                .send(Order {
                                    switch: late,
                                    delay_us: 0,
                                })
                                .unwrap();
                        }
                    }
                    done.store(true, Ordering::SeqCst);
                })
            })
            .collect();
        drop(orders);
        for w in workers {
            w.join().unwrap();
        }
    });
    assert!(done.load(Ordering::SeqCst));
    assert!(
        terminated.load(Ordering::Relaxed) >= CYCLES / 4,
        "the forever runs were all killed"
    );
    assert!(signalled.load(Ordering::Relaxed) > 0);
    let growth = rss_kib().saturating_sub(warm_rss.load(Ordering::SeqCst));
    assert!(
        growth < 8 << 10,
        "resident memory grew by {growth} KiB after warm-up"
    );
}
