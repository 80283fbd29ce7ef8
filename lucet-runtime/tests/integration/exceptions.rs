//! Exception handling: throws caught in the same function, in callers, in
//! other instances; exceptions that escape a run; traps that are never
//! caught; exception objects reclaimed, bounded, and never seen by the next
//! instance of a slot.

use lucet_runtime::{
    Error, ExceptionInfo, Limits, Linker, MmapRegion, Module, TrapCode, Val, Val::*,
};

use crate::common::*;

fn load_wat(wat: &str, linker: &Linker) -> std::sync::Arc<Module> {
    Module::from_bytes(&compile_bytes(wat.as_bytes()), "exceptions", linker).unwrap()
}

const CATCHER: &str = r#"(module
  (tag $e (export "e") (param i32))
  (tag $other (param i64))
  (table $kept 1 exnref)
  (func $thrower (export "throw") (param i32)
    (throw $e (local.get 0)))
  ;; Caught in a caller, with its payload.
  (func (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (call $thrower (local.get 0)))
      (i32.const -1)))
  ;; Caught in the same function; the inner try_table's catch_all wins.
  (func (export "nested") (result i32)
    (block $outer (result i32)
      (block $inner
        (try_table (catch $e $outer)
          (try_table (catch_all $inner) (throw $e (i32.const 5))))
        (i32.const -1)
        (return))
      (i32.const 99)))
  ;; A tag that does not match goes on to the next handler out.
  (func (export "mismatch") (result i64)
    (block $h (result i64)
      (try_table (catch $other $h)
        (block $e_handler (result i32)
          (try_table (catch $e $e_handler) (throw $other (i64.const 8)))
          (unreachable))
        (drop))
      (i64.const -1)))
  ;; catch_ref, kept in a table, and thrown again later.
  (func (export "keep") (param i32) (local $x exnref)
    (block $h (result i32 exnref)
      (try_table (catch_ref $e $h) (throw $e (local.get 0)))
      (unreachable))
    (local.set $x)
    (drop)
    (table.set $kept (i32.const 0) (local.get $x)))
  (func (export "rethrow_kept") (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (throw_ref (table.get $kept (i32.const 0))))
      (i32.const -1)))
  ;; A million throws, each caught: the setjmp/longjmp pattern.
  (func (export "many") (param i32) (result i32)
    (local $sum i32)
    (loop $l
      (block $h (result i32)
        (try_table (catch $e $h) (throw $e (local.get 0)))
        (i32.const 0))
      (local.set $sum (i32.add (local.get $sum)))
      (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (local.get $sum))
  ;; Traps are not exceptions: catch_all does not see them.
  (func (export "trap") (result i32)
    (block $h
      (try_table (catch_all $h) (unreachable)))
    (i32.const 1)))"#;

fn catcher() -> lucet_runtime::InstanceHandle {
    region()
        .new_instance(load_wat(CATCHER, &Linker::new()))
        .unwrap()
}

#[test]
fn throws_are_caught_with_their_payload() {
    let mut inst = catcher();
    assert_eq!(i32(&mut inst, "catch", &[I32(42)]), 42);
    assert_eq!(i32(&mut inst, "nested", &[]), 99);
    assert_eq!(i64(&mut inst, "mismatch", &[]), 8);
    inst.run("keep", &[I32(17)]).unwrap();
    assert_eq!(i32(&mut inst, "rethrow_kept", &[]), 17);
}

#[test]
fn an_exception_that_nothing_catches_ends_the_run_as_an_error() {
    let mut inst = catcher();
    match inst.run("throw", &[I32(7)]) {
        Err(Error::UncaughtException(ExceptionInfo { tag, payload })) => {
            assert_eq!(tag, Some(0));
            assert_eq!(payload, vec![Val::I32(7)]);
        }
        other => panic!("expected an uncaught exception, got {other:?}"),
    }
    // The instance goes on.
    assert_eq!(i32(&mut inst, "catch", &[I32(3)]), 3);
}

#[test]
fn traps_are_never_caught() {
    let mut inst = catcher();
    match inst.run("trap", &[]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::Unreachable),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn caught_exceptions_are_collected_and_kept_ones_survive() {
    let mut inst = catcher();
    inst.run("keep", &[I32(23)]).unwrap();
    assert_eq!(i32(&mut inst, "many", &[I32(1_000_000)]), 1784293664);
    // The heap stayed bounded by collections (the default limit is 1 MiB
    // of exceptions, about 16,000), and the kept exception survived them.
    assert!(
        inst.live_exceptions() < 20_000,
        "{}",
        inst.live_exceptions()
    );
    assert_eq!(i32(&mut inst, "rethrow_kept", &[]), 23);
}

#[test]
fn exceptions_cross_linked_instances() {
    let region = MmapRegion::create(2, &Limits::default()).unwrap();
    let thrower = region
        .new_instance(load_wat(CATCHER, &Linker::new()))
        .unwrap();
    let mut linker = Linker::new();
    linker.instance_module("t");
    let importer = r#"(module
      (import "t" "e" (tag $e (param i32)))
      (import "t" "throw" (func $throw (param i32)))
      (tag $own (param i32))
      (func (export "catch_theirs") (param i32) (result i32)
        (block $h (result i32)
          (try_table (catch $own $h) (catch $e $h) (call $throw (local.get 0)))
          (i32.const -1)))
      (func (export "throw_own") (throw $own (i32.const 1))))"#;
    let mut inst = region
        .new_instance_builder(load_wat(importer, &linker))
        .link("t", &thrower)
        .build()
        .unwrap();
    assert_eq!(i32(&mut inst, "catch_theirs", &[I32(11)]), 11);
    // Its own tag is not the imported one: an uncaught exception of a tag
    // the called module defines.
    match inst.run("throw_own", &[]) {
        Err(Error::UncaughtException(info)) => assert_eq!(info.tag, Some(1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn live_exceptions_are_bounded_by_the_limit() {
    let wat = r#"(module
      (tag $e (param i32))
      (table $t 0 exnref)
      (func (export "hoard") (param i32) (local $x exnref)
        (loop $l
          (block $h (result exnref)
            (try_table (catch_all_ref $h) (throw $e (local.get 0)))
            (unreachable))
          (local.set $x)
          (drop (table.grow $t (local.get $x) (i32.const 1)))
          (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))"#;
    let limits = Limits {
        max_exception_bytes: 64 << 10,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let mut inst = region.new_instance(load_wat(wat, &Linker::new())).unwrap();
    // A few hundred fit; a million do not.
    inst.run("hoard", &[I32(100)]).unwrap();
    match inst.run("hoard", &[I32(1_000_000)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::ExceptionStorageExhausted),
        other => panic!("expected the exception storage to run out, got {other:?}"),
    }
}

#[test]
fn the_next_instance_in_a_slot_has_no_exceptions() {
    let region = region();
    let module = load_wat(CATCHER, &Linker::new());
    let mut inst = region.new_instance(module.clone()).unwrap();
    inst.run("keep", &[I32(1)]).unwrap();
    i32(&mut inst, "many", &[I32(100)]);
    assert!(inst.live_exceptions() > 0);
    inst.reset().unwrap();
    assert_eq!(inst.live_exceptions(), 0);
    // The kept exnref is gone with the table.
    match inst.run("rethrow_kept", &[]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::NullReference),
        other => panic!("{other:?}"),
    }
    inst.run("keep", &[I32(2)]).unwrap();
    drop(inst);
    let inst = region.new_instance(module).unwrap();
    assert_eq!(inst.live_exceptions(), 0);
}

#[test]
fn counting_instructions_across_a_throw() {
    let compiler = lucet_compiler::Compiler::new(lucet_compiler::CompileOptions {
        count_instructions: true,
        ..Default::default()
    })
    .unwrap();
    let elf = compiler
        .compile(CATCHER.as_bytes())
        .unwrap()
        .to_elf()
        .unwrap();
    let module = Module::from_bytes(&elf, "counted", &Linker::new()).unwrap();
    let mut inst = region().new_instance(module).unwrap();
    inst.set_fuel(1_000_000).unwrap();
    assert_eq!(i32(&mut inst, "many", &[I32(1000)]), 500500);
    let left = inst.fuel().unwrap();
    assert!(left < 1_000_000 - 1000 * 5, "{left}");
    match inst.run("many", &[I32(1_000_000)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::OutOfFuel),
        other => panic!("{other:?}"),
    }
}

#[test]
fn throws_into_an_all_but_full_exception_heap_end_the_run() {
    // `hoard` keeps exceptions alive until the heap is full; then each
    // throw of `churn` would be a full collection freeing only itself.
    let wat = r#"(module
      (tag $e (param i32))
      (table $t 0 exnref)
      (func (export "hoard") (param i32) (local $x exnref)
        (loop $l
          (block $h (result exnref)
            (try_table (catch_all_ref $h) (throw $e (local.get 0)))
            (unreachable))
          (local.set $x)
          (drop (table.grow $t (local.get $x) (i32.const 1)))
          (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))
      (func (export "kept") (result i32) (table.size $t))
      (func (export "churn") (param i32)
        (loop $l
          (block $h
            (try_table (catch_all $h) (throw $e (local.get 0))))
          (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))"#;
    let limits = Limits {
        max_exception_bytes: 64 << 10,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let module = load_wat(wat, &Linker::new());
    // How many fit at all.
    let mut probe = region.new_instance(module.clone()).unwrap();
    assert!(probe.run("hoard", &[I32(1_000_000)]).is_err());
    let full = i32(&mut probe, "kept", &[]);
    drop(probe);
    // One short of full: every throw of `churn` collects, and frees
    // too little to go on.
    let mut inst = region.new_instance(module).unwrap();
    inst.run("hoard", &[I32(full - 1)]).unwrap();
    match inst.run("churn", &[I32(2_000)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::ExceptionStorageExhausted),
        other => panic!("expected the exception storage to count as full, got {other:?}"),
    }
    drop(inst);
    // With room to spare, the same throws are collected as they go.
    let mut roomy = region.new_instance(load_wat(wat, &Linker::new())).unwrap();
    roomy.run("hoard", &[I32(full / 4)]).unwrap();
    roomy.run("churn", &[I32(2_000)]).unwrap();
}
