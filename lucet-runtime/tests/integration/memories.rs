//! Multi-memory and memory64: every memory reachable, bounds-checked where
//! the guard cannot cover, and clean for the next instance of a slot.

use lucet_runtime::{Error, Limits, Linker, MmapRegion, Module, TrapCode, Val::*};

use crate::common::*;

fn load_wat(wat: &str, linker: &Linker) -> std::sync::Arc<Module> {
    Module::from_bytes(&compile_bytes(wat.as_bytes()), "memories", linker).unwrap()
}

const THREE: &str = r#"(module
  (memory $a (export "a") 1)
  (memory $b (export "b") 1 4)
  (memory $c i64 1 8)
  (data (memory $b) (i32.const 8) "\2a")
  (data (memory $c) (i64.const 16) "\07")
  (func (export "load") (param i32 i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.load8_u $a (local.get 1)))
      (else (if (result i32) (i32.eq (local.get 0) (i32.const 1))
        (then (i32.load8_u $b (local.get 1)))
        (else (i32.load8_u $c (i64.extend_i32_u (local.get 1))))))))
  (func (export "store") (param i32 i32 i32)
    (if (i32.eqz (local.get 0))
      (then (i32.store8 $a (local.get 1) (local.get 2)))
      (else (if (i32.eq (local.get 0) (i32.const 1))
        (then (i32.store8 $b (local.get 1) (local.get 2)))
        (else (i32.store8 $c (i64.extend_i32_u (local.get 1)) (local.get 2)))))))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0)))
  (func (export "grow_c") (param i64) (result i64) (memory.grow $c (local.get 0)))
  (func (export "size_b") (result i32) (memory.size $b))
  (func (export "size_c") (result i64) (memory.size $c))
  (func (export "copy_b_to_a") (param i32 i32 i32)
    (memory.copy $a $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "load_c64") (param i64) (result i32) (i32.load8_u $c (local.get 0)))
  (func (export "fill_c") (param i64 i32 i64)
    (memory.fill $c (local.get 0) (local.get 1) (local.get 2))))"#;

#[test]
fn every_memory_is_its_own() {
    let mut inst = region()
        .new_instance(load_wat(THREE, &Linker::new()))
        .unwrap();
    assert_eq!(i32(&mut inst, "load", &[I32(1), I32(8)]), 42);
    assert_eq!(i32(&mut inst, "load", &[I32(2), I32(16)]), 7);
    assert_eq!(i32(&mut inst, "load", &[I32(0), I32(8)]), 0);
    inst.run("store", &[I32(0), I32(100), I32(1)]).unwrap();
    inst.run("store", &[I32(1), I32(100), I32(2)]).unwrap();
    inst.run("store", &[I32(2), I32(100), I32(3)]).unwrap();
    for (m, v) in [(0, 1), (1, 2), (2, 3)] {
        assert_eq!(i32(&mut inst, "load", &[I32(m), I32(100)]), v);
    }
    inst.run("copy_b_to_a", &[I32(200), I32(8), I32(1)])
        .unwrap();
    assert_eq!(i32(&mut inst, "load", &[I32(0), I32(200)]), 42);
    assert_eq!(inst.heap()[200], 42, "memory 0 is the embedder's heap()");
}

#[test]
fn memories_grow_and_trap_on_their_own_bounds() {
    let mut inst = region()
        .new_instance(load_wat(THREE, &Linker::new()))
        .unwrap();
    // Past the end of $b's one page.
    match inst.run("load", &[I32(1), I32(65536)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::HeapOutOfBounds),
        other => panic!("{other:?}"),
    }
    assert_eq!(i32(&mut inst, "grow_b", &[I32(2)]), 1);
    assert_eq!(i32(&mut inst, "size_b", &[]), 3);
    assert_eq!(i32(&mut inst, "load", &[I32(1), I32(65536)]), 0);
    // Its declared maximum is 4 pages.
    assert_eq!(i32(&mut inst, "grow_b", &[I32(2)]), -1);
    // A 64-bit address far past any reservation traps, it does not wrap.
    for addr in [1u64 << 32, u64::MAX, (1 << 40) + 16] {
        match inst.run("load_c64", &[I64(addr as i64)]) {
            Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::HeapOutOfBounds),
            other => panic!("{addr:#x}: {other:?}"),
        }
    }
    assert_eq!(i64(&mut inst, "grow_c", &[I64(1)]), 1);
    assert_eq!(i64(&mut inst, "size_c", &[]), 2);
    assert_eq!(i64(&mut inst, "grow_c", &[I64(-1)]), -1);
    // A fill that ends exactly at the end is in bounds; one byte more is not.
    inst.run("fill_c", &[I64(2 * 65536 - 4), I32(9), I64(4)])
        .unwrap();
    assert_eq!(i32(&mut inst, "load_c64", &[I64(2 * 65536 - 1)]), 9);
    match inst.run("fill_c", &[I64(2 * 65536 - 4), I32(9), I64(5)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::HeapOutOfBounds),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_next_instance_sees_nothing_of_any_memory() {
    let region = region();
    let module = load_wat(THREE, &Linker::new());
    let dirty = |inst: &mut lucet_runtime::InstanceHandle| {
        for m in 0..3 {
            inst.run("store", &[I32(m), I32(300), I32(0x55)]).unwrap();
        }
        assert_eq!(i32(inst, "grow_b", &[I32(1)]), 1);
        inst.run("store", &[I32(1), I32(70000), I32(0x66)]).unwrap();
        assert_eq!(i64(inst, "grow_c", &[I64(3)]), 1);
        inst.run("store", &[I32(2), I32(200000), I32(0x77)])
            .unwrap();
    };
    let check_clean = |inst: &mut lucet_runtime::InstanceHandle| {
        for m in 0..3 {
            assert_eq!(i32(inst, "load", &[I32(m), I32(300)]), 0, "memory {m}");
        }
        assert_eq!(i32(inst, "size_b", &[]), 1);
        assert_eq!(i64(inst, "size_c", &[]), 1);
        // The initial data is back.
        assert_eq!(i32(inst, "load", &[I32(1), I32(8)]), 42);
        assert_eq!(i32(inst, "load", &[I32(2), I32(16)]), 7);
    };
    let mut inst = region.new_instance(module.clone()).unwrap();
    dirty(&mut inst);
    inst.reset().unwrap();
    check_clean(&mut inst);
    dirty(&mut inst);
    drop(inst);
    // The same module in the same slot.
    let mut inst = region.new_instance(module.clone()).unwrap();
    check_clean(&mut inst);
    dirty(&mut inst);
    drop(inst);
    // Another module with memories in the same places.
    let other = load_wat(
        r#"(module (memory 1) (memory 2) (memory i64 4)
             (func (export "peek") (param i32 i32) (result i32)
               (if (result i32) (i32.eqz (local.get 0))
                 (then (i32.load8_u 0 (local.get 1)))
                 (else (if (result i32) (i32.eq (local.get 0) (i32.const 1))
                   (then (i32.load8_u 1 (local.get 1)))
                   (else (i32.load8_u 2 (i64.extend_i32_u (local.get 1)))))))))"#,
        &Linker::new(),
    );
    let mut inst = region.new_instance(other).unwrap();
    for (m, addr) in [(0, 300), (1, 300), (1, 70000), (2, 300), (2, 200000)] {
        assert_eq!(
            i32(&mut inst, "peek", &[I32(m), I32(addr)]),
            0,
            "{m} {addr}"
        );
    }
}

#[test]
fn memories_are_imported_from_other_instances() {
    let region = MmapRegion::create(2, &Limits::default()).unwrap();
    let exporter = region
        .new_instance(load_wat(THREE, &Linker::new()))
        .unwrap();
    let mut linker = Linker::new();
    linker.instance_module("x");
    let importer = r#"(module
      (import "x" "b" (memory $b 1))
      (memory $own 1)
      (func (export "read_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
      (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0)))
      (func (export "copy") (memory.copy $own $b (i32.const 0) (i32.const 8) (i32.const 1)))
      (func (export "read_own") (result i32) (i32.load8_u $own (i32.const 0))))"#;
    let mut inst = region
        .new_instance_builder(load_wat(importer, &linker))
        .link("x", &exporter)
        .build()
        .unwrap();
    assert_eq!(i32(&mut inst, "read_b", &[I32(8)]), 42);
    assert_eq!(i32(&mut inst, "grow_b", &[I32(1)]), 1);
    let mut exporter = exporter;
    assert_eq!(i32(&mut exporter, "size_b", &[]), 2);
    inst.run("copy", &[]).unwrap();
    assert_eq!(i32(&mut inst, "read_own", &[]), 42);
}

#[test]
fn more_memories_than_the_limit_is_a_clear_error() {
    let limits = Limits {
        max_memories: 2,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let err = region
        .new_instance(load_wat(THREE, &Linker::new()))
        .unwrap_err();
    assert!(err.to_string().contains("has 3 memories"), "{err}");
}

#[test]
fn all_of_an_instances_memories_share_one_budget() {
    // Four pages for all of them: THREE starts with one page in each.
    let limits = Limits {
        heap_memory_size: 4 * 65536,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let mut inst = region
        .new_instance(load_wat(THREE, &Linker::new()))
        .unwrap();
    assert_eq!(
        i32(&mut inst, "grow_b", &[I32(1)]),
        1,
        "to four pages in all"
    );
    assert_eq!(
        i32(&mut inst, "grow_b", &[I32(1)]),
        -1,
        "b's own maximum is 4"
    );
    match inst.run("grow_c", &[I64(1)]).unwrap().returned().unwrap()[0] {
        I64(v) => assert_eq!(v, -1, "a fifth page for c is past the budget"),
        ref other => panic!("{other:?}"),
    }
    drop(inst);
    // Sixteen memories of one page each under a budget of eight: refused
    // at instantiation (each alone would fit).
    let many = format!(
        "(module {})",
        (0..16).map(|_| "(memory 1)").collect::<String>()
    );
    let limits = Limits {
        heap_memory_size: 8 * 65536,
        max_memories: 16,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let err = region
        .new_instance(load_wat(&many, &Linker::new()))
        .unwrap_err();
    assert!(
        err.to_string().contains("need 1048576 bytes together"),
        "{err}"
    );
}
