use std::sync::{Arc, OnceLock};

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{Error, InstanceHandle, Linker, Module, TrapCode, Val, Val::*, Vmctx};

use crate::common::*;

/// `wat`, compiled to count instructions.
fn counting(wat: &[u8], linker: &Linker) -> Arc<Module> {
    let compiler = Compiler::new(CompileOptions {
        count_instructions: true,
        ..CompileOptions::default()
    })
    .unwrap();
    let elf = compiler.compile(wat).unwrap().to_elf().unwrap();
    Module::from_bytes(&elf, "counting", linker).unwrap()
}

/// `fuel.wat`, compiled to count instructions.
fn module() -> Arc<Module> {
    static MODULE: OnceLock<Arc<Module>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let mut linker = Linker::new();
            linker.func("env", "host", |_: &mut Vmctx, x: i32| x + 1);
            counting(&std::fs::read(wat_path("fuel")).unwrap(), &linker)
        })
        .clone()
}

fn instance() -> InstanceHandle {
    region().new_instance(module()).unwrap()
}

fn out_of_fuel(r: &Result<lucet_runtime::RunResult, Error>) -> bool {
    matches!(
        r,
        Err(Error::Trap {
            code: TrapCode::OutOfFuel,
            ..
        })
    )
}

/// The fuel a run of `func(args)` uses (it must return).
fn cost(func: &str, args: &[Val]) -> u64 {
    let mut inst = instance();
    inst.set_fuel(u64::MAX / 2).unwrap();
    inst.run(func, args).unwrap();
    u64::MAX / 2 - inst.fuel().unwrap()
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let mut inst = instance();
    inst.set_fuel(1_000_000).unwrap();
    let r = inst.run("forever", &[]);
    assert!(out_of_fuel(&r), "{r:?}");
    assert_eq!(
        r.unwrap_err().to_string(),
        "trap: out of fuel in \"forever\""
    );
    assert_eq!(inst.fuel(), Some(0));
    // More fuel, and it runs again.
    inst.set_fuel(1000).unwrap();
    assert_eq!(i32(&mut inst, "add", &[I32(2), I32(3)]), 5);
}

#[test]
fn loops_whose_back_edge_is_a_cast_branch_run_out_of_fuel() {
    // The only way around each loop is br_on_cast / br_on_cast_fail: the
    // cost of the body must be counted before the branch, or the loop
    // header's check never sees it grow. (Found by the GC fuzzer.)
    let wat = br#"(module
      (type $s (struct))
      (func (export "on_cast") (param $r anyref)
        (local.get $r)
        (loop $again (param anyref)
          (br_on_cast $again anyref (ref $s))
          (drop)))
      (func (export "on_cast_fail") (param $r anyref)
        (local.get $r)
        (loop $again (param anyref)
          (br_on_cast_fail $again anyref (ref $s))
          (drop)))
      (func (export "make") (result anyref) (struct.new $s)))"#;
    let module = counting(wat, &Linker::new());
    let mut inst = region().new_instance(module).unwrap();
    let object = call(&mut inst, "make", &[]);
    let null = Val::AnyRef(lucet_runtime::AnyRef::Null);
    for (func, arg) in [("on_cast", object), ("on_cast_fail", null)] {
        inst.set_fuel(100_000).unwrap();
        let r = inst.run(func, &[arg]);
        assert!(out_of_fuel(&r), "{func}: {r:?}");
    }
}

#[test]
fn recursion_without_loops_runs_out_of_fuel() {
    let mut inst = instance();
    inst.set_fuel(100_000).unwrap();
    // fib(60) makes about 2^42 calls.
    let r = inst.run("fib", &[I64(60)]);
    assert!(out_of_fuel(&r), "{r:?}");
}

#[test]
fn fuel_is_counted_exactly() {
    // Entry plus three operators.
    assert_eq!(cost("add", &[I32(1), I32(2)]), 4);
    // Each path through the branches costs its operators (see fuel.wat).
    assert_eq!(cost("branches", &[I32(0)]), 7);
    assert_eq!(cost("branches", &[I32(1)]), 13);
    assert_eq!(cost("branches", &[I32(2)]), 8);
    assert_eq!(cost("branches", &[I32(7)]), 4);
    // The loop costs the same per iteration: 8 operators.
    let c10 = cost("count", &[I32(10)]);
    let c20 = cost("count", &[I32(20)]);
    let c30 = cost("count", &[I32(30)]);
    assert_eq!(c30 - c20, 80);
    assert_eq!(c20 - c10, 80);
}

#[test]
fn a_budget_of_the_cost_suffices_and_half_of_it_does_not() {
    for (func, args) in [
        ("count", vec![I32(25)]),
        ("fib", vec![I64(10)]),
        ("host_loop", vec![I32(50)]),
    ] {
        let need = cost(func, &args);
        let mut inst = instance();
        inst.set_fuel(need).unwrap();
        inst.run(func, &args).unwrap();
        assert_eq!(inst.fuel(), Some(0), "{func}{args:?}");
        inst.set_fuel(need / 2).unwrap();
        let r = inst.run(func, &args);
        assert!(
            out_of_fuel(&r),
            "{func}{args:?} with {} fuel: {r:?}",
            need / 2
        );
    }
}

#[test]
fn straight_line_code_finishes_before_the_next_check() {
    // Fuel is checked at function entries and loop headers: `add` passes
    // its entry check with 3 units, overruns by one, and the next run
    // stops at entry.
    let mut inst = instance();
    inst.set_fuel(3).unwrap();
    assert_eq!(i32(&mut inst, "add", &[I32(1), I32(1)]), 2);
    assert_eq!(inst.fuel(), Some(0));
    assert!(out_of_fuel(&inst.run("add", &[I32(1), I32(1)])));
}

#[test]
fn fuel_carries_over_from_run_to_run() {
    let add = cost("add", &[I32(1), I32(1)]);
    let mut inst = instance();
    inst.set_fuel(3 * add).unwrap();
    for _ in 0..3 {
        assert_eq!(i32(&mut inst, "add", &[I32(1), I32(1)]), 2);
    }
    assert_eq!(inst.fuel(), Some(0));
    assert!(out_of_fuel(&inst.run("add", &[I32(1), I32(1)])));
}

#[test]
fn calls_through_the_host_keep_the_count() {
    let mut inst = instance();
    inst.set_fuel(1000).unwrap();
    let r = inst.run("host_loop", &[I32(1_000_000)]);
    assert!(out_of_fuel(&r), "{r:?}");
}

#[test]
fn without_a_limit_nothing_runs_out() {
    let mut inst = instance();
    assert_eq!(inst.fuel(), None);
    assert_eq!(i32(&mut inst, "count", &[I32(1_000_000)]), 1_000_000);
    // A limit, lifted again.
    inst.set_fuel(10).unwrap();
    inst.remove_fuel_limit();
    assert_eq!(inst.fuel(), None);
    assert_eq!(i32(&mut inst, "count", &[I32(1_000_000)]), 1_000_000);
    // Reset puts the instance back as it was built: unlimited.
    inst.set_fuel(10).unwrap();
    inst.reset().unwrap();
    assert_eq!(inst.fuel(), None);
}

#[test]
fn other_traps_are_reported_as_before() {
    let mut inst = instance();
    inst.set_fuel(1000).unwrap();
    let r = inst.run("trap", &[]);
    assert_eq!(r.unwrap_err().trap_code(), Some(TrapCode::Unreachable));
}

#[test]
fn modules_without_counting_cannot_take_fuel() {
    let region = region();
    let mut inst = region.new_instance(load("arith")).unwrap();
    let e = inst.set_fuel(100).unwrap_err();
    assert!(matches!(e, Error::FuelUnsupported(_)), "{e}");
    assert!(e.to_string().contains("--count-instructions"), "{e}");
    assert_eq!(inst.fuel(), None);
    drop(inst);
    let e = region
        .new_instance_builder(load("arith"))
        .with_fuel(100)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::FuelUnsupported(_)), "{e}");
    // The slot was not lost.
    region.new_instance(load("arith")).unwrap();
}

#[test]
fn fuel_given_at_build_bounds_the_start_function() {
    let module = counting(
        br#"(module
              (global $n (mut i32) (i32.const 0))
              (func $start (loop $l (global.set $n (i32.add (global.get $n) (i32.const 1)))
                                    (br_if $l (i32.lt_u (global.get $n) (i32.const 1000)))))
              (start $start)
              (func (export "forever") (loop $l (br $l))))"#,
        &Linker::new(),
    );
    let region = region();
    // Too little for the start function's 1000 iterations.
    let r = region
        .new_instance_builder(module.clone())
        .with_fuel(500)
        .build();
    assert_eq!(r.unwrap_err().trap_code(), Some(TrapCode::OutOfFuel));
    // Enough: the start function's use is taken from it.
    let mut inst = region
        .new_instance_builder(module)
        .with_fuel(100_000)
        .build()
        .unwrap();
    let left = inst.fuel().unwrap();
    assert!(left < 100_000 - 1000, "{left}");
    assert!(out_of_fuel(&inst.run("forever", &[])));
    assert_eq!(inst.fuel(), Some(0));
    // Reset gives the instance back the fuel it was built with.
    inst.reset().unwrap();
    assert_eq!(inst.fuel(), Some(left));
}

#[test]
fn a_killed_run_keeps_what_it_spent() {
    // The kill ends the loop at a header without a trap; the count it kept
    // in a register is written back first, so the fuel spent in the loop
    // is not lost.
    let mut inst = instance();
    inst.set_fuel(u64::MAX / 2).unwrap();
    run_killed_after_20ms(&mut inst, "forever");
    let spent = u64::MAX / 2 - inst.fuel().unwrap();
    // 20 ms of a two-operator loop is millions of units.
    assert!(spent > 10_000, "spent {spent}");
}

#[test]
fn a_program_that_keeps_its_gc_heap_full_cannot_collect_without_end() {
    // A heap kept nearly full by one big array: were every allocation of
    // `churn` a full collection moving the array, the run would take
    // seconds of uncounted work within a small fuel budget.
    let wat = br#"(module
      (type $big (array (mut i64)))
      (type $small (struct (field i64)))
      (global $keep (mut (ref null $big)) (ref.null $big))
      (func (export "fill") (param $n i32)
        (global.set $keep (array.new_default $big (local.get $n))))
      (func (export "churn") (param $n i32)
        (loop $l
          (drop (struct.new $small (i64.const 1)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))"#;
    let module = counting(wat, &Linker::new());
    let limits = lucet_runtime::Limits {
        gc_heap_size: 1 << 20,
        ..lucet_runtime::Limits::default()
    };
    let region = lucet_runtime::MmapRegion::create(1, &limits).unwrap();
    let run = |fill: i32| {
        let mut inst = region.new_instance(module.clone()).unwrap();
        inst.run("fill", &[I32(fill)]).unwrap();
        let before = inst.gc_collections();
        inst.set_fuel(1_000_000).unwrap();
        let r = inst.run("churn", &[I32(50_000)]);
        (r, inst.gc_collections() - before)
    };
    // With room to spare, 50,000 allocations (and the cheap collections
    // they need) fit.
    let (r, collections) = run(1);
    assert!(r.is_ok(), "{r:?} after {collections} collections");
    // With the heap all but full (a 500 KB array in a 512 KiB half), the
    // first collection that frees too little ends the run.
    let (r, collections) = run(64_000);
    match r {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::GcHeapExhausted),
        other => panic!("{other:?} after {collections} collections"),
    }
    assert_eq!(collections, 1);
}
