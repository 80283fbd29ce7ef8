//! Tail calls run in constant stack space: within a module, through tables
//! and references, to host functions, and between linked instances.

use lucet_runtime::{Limits, Linker, MmapRegion, Module, Val::*, Vmctx};

use crate::common::*;

/// A region with a small guest stack: a chain of a million ordinary calls
/// would overflow it many times over.
fn small_stack_region(slots: usize) -> std::sync::Arc<MmapRegion> {
    let limits = Limits {
        stack_size: 64 << 10,
        ..Limits::default()
    };
    MmapRegion::create(slots, &limits).unwrap()
}

fn load_wat(wat: &str, linker: &Linker) -> std::sync::Arc<Module> {
    Module::from_bytes(&compile_bytes(wat.as_bytes()), "tail", linker).unwrap()
}

const LOOPS: &str = r#"(module
  (type $t (func (param i64 i64) (result i64)))
  (table 2 (ref null $t))
  (elem (table 0) (i32.const 0) (ref $t) (ref.func $even) (ref.func $odd))
  (func $count (export "count") (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (local.get 1))
      (else (return_call $count (i64.sub (local.get 0) (i64.const 1))
                                (i64.add (local.get 1) (i64.const 1))))))
  (func $even (export "even") (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (local.get 1))
      (else (return_call_indirect (type $t)
              (i64.sub (local.get 0) (i64.const 1)) (local.get 1) (i32.const 1)))))
  (func $odd (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.sub (i64.const 0) (local.get 1)))
      (else (return_call_ref $t
              (i64.sub (local.get 0) (i64.const 1)) (local.get 1)
              (table.get (i32.const 0)))))))"#;

#[test]
fn a_million_tail_calls_fit_in_a_small_stack() {
    let region = small_stack_region(1);
    let mut inst = region
        .new_instance(load_wat(LOOPS, &Linker::new()))
        .unwrap();
    let n = 1_000_000;
    assert_eq!(i64(&mut inst, "count", &[I64(n), I64(0)]), n);
    // Alternating return_call_indirect and return_call_ref.
    assert_eq!(i64(&mut inst, "even", &[I64(n), I64(7)]), 7);
    assert_eq!(i64(&mut inst, "even", &[I64(n + 1), I64(7)]), -7);
}

#[test]
fn tail_calls_to_host_functions_return_their_result() {
    let mut linker = Linker::new();
    linker.func("env", "twice", |_: &mut Vmctx, x: i32| x * 2);
    let wat = r#"(module
      (import "env" "twice" (func $twice (param i32) (result i32)))
      (func (export "f") (param i32) (result i32)
        (return_call $twice (i32.add (local.get 0) (i32.const 1)))))"#;
    let region = small_stack_region(1);
    let mut inst = region.new_instance(load_wat(wat, &linker)).unwrap();
    assert_eq!(i32(&mut inst, "f", &[I32(20)]), 42);
}

#[test]
fn tail_calls_between_instances_use_constant_stack() {
    // A ping-pong of a million hops between two linked instances, each
    // tail-calling the other's function through a table.
    let region = small_stack_region(2);
    let counter = r#"(module
      (table (export "next") 1 funcref)
      (type $t (func (param i64) (result i64)))
      (func $hop (export "hop") (param i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0))
          (then (i64.const 7))
          (else (return_call_indirect (type $t)
                  (i64.sub (local.get 0) (i64.const 1)) (i32.const 0))))))"#;
    let first = region
        .new_instance(load_wat(counter, &Linker::new()))
        .unwrap();
    let mut linker = Linker::new();
    linker.instance_module("first");
    // The second instance imports the first's table and puts its own `hop`
    // in its own table; each table points at the other instance's `hop`.
    let second_wat = r#"(module
      (import "first" "next" (table $first 1 funcref))
      (import "first" "hop" (func $first_hop (param i64) (result i64)))
      (table $mine 1 funcref)
      (type $t (func (param i64) (result i64)))
      (elem (table $first) (i32.const 0) func $hop)
      (elem (table $mine) (i32.const 0) func $first_hop)
      (func $hop (export "hop") (param i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0))
          (then (i64.const 9))
          (else (return_call_indirect $mine (type $t)
                  (i64.sub (local.get 0) (i64.const 1)) (i32.const 0))))))"#;
    let mut second = region
        .new_instance_builder(load_wat(second_wat, &linker))
        .link("first", &first)
        .build()
        .unwrap();
    let n = 1_000_000;
    // Even hops end in the second instance, odd ones in the first.
    assert_eq!(i64(&mut second, "hop", &[I64(n)]), 9);
    assert_eq!(i64(&mut second, "hop", &[I64(n + 1)]), 7);
}
