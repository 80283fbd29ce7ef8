//! Functions with more results than there are return registers: the rest
//! travel through a return area the caller provides. Every way of calling
//! one must agree: from the host, directly, through a table, by reference,
//! as a tail call, from a host function, across instances, and as an
//! exception's payload.

use lucet_runtime::{FuncType, Limits, Linker, MmapRegion, Module, Val, ValType};

use crate::common::*;

/// Twenty results of four types: `$many` returns `x + i` for result `i`,
/// in the result's type.
const MANY: &str = r#"(module
  (type $many (func (param i32) (result i32 i64 f32 f64 i32 i64 f32 f64 i32 i64
                                        f32 f64 i32 i64 f32 f64 i32 i64 v128 i32)))
  (table 1 funcref)
  (elem (i32.const 0) $many)
  (elem declare func $many)
  (tag $t (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64
                 f32 f64 i32 i64 f32 f64 i32 i64 v128 i32))
  (func $many (export "many") (type $many)
    (i32.add (local.get 0) (i32.const 0))
    (i64.add (i64.extend_i32_s (local.get 0)) (i64.const 1))
    (f32.add (f32.convert_i32_s (local.get 0)) (f32.const 2))
    (f64.add (f64.convert_i32_s (local.get 0)) (f64.const 3))
    (i32.add (local.get 0) (i32.const 4))
    (i64.add (i64.extend_i32_s (local.get 0)) (i64.const 5))
    (f32.add (f32.convert_i32_s (local.get 0)) (f32.const 6))
    (f64.add (f64.convert_i32_s (local.get 0)) (f64.const 7))
    (i32.add (local.get 0) (i32.const 8))
    (i64.add (i64.extend_i32_s (local.get 0)) (i64.const 9))
    (f32.add (f32.convert_i32_s (local.get 0)) (f32.const 10))
    (f64.add (f64.convert_i32_s (local.get 0)) (f64.const 11))
    (i32.add (local.get 0) (i32.const 12))
    (i64.add (i64.extend_i32_s (local.get 0)) (i64.const 13))
    (f32.add (f32.convert_i32_s (local.get 0)) (f32.const 14))
    (f64.add (f64.convert_i32_s (local.get 0)) (f64.const 15))
    (i32.add (local.get 0) (i32.const 16))
    (i64.add (i64.extend_i32_s (local.get 0)) (i64.const 17))
    (i32x4.add (i32x4.splat (local.get 0)) (v128.const i32x4 18 18 18 18))
    (i32.add (local.get 0) (i32.const 19)))
  (func (export "direct") (type $many)
    (call $many (local.get 0)))
  (func (export "indirect") (type $many)
    (call_indirect (type $many) (local.get 0) (i32.const 0)))
  (func (export "by_ref") (type $many)
    (call_ref $many (local.get 0) (ref.func $many)))
  (func (export "tail") (type $many)
    (return_call $many (local.get 0)))
  (func (export "tail_indirect") (type $many)
    (return_call_indirect (type $many) (local.get 0) (i32.const 0)))
  (func (export "tail_ref") (type $many)
    (return_call_ref $many (local.get 0) (ref.func $many)))
  (func (export "caught") (type $many)
    (block $h (result i32 i64 f32 f64 i32 i64 f32 f64 i32 i64
                      f32 f64 i32 i64 f32 f64 i32 i64 v128 i32)
      (try_table (catch $t $h)
        (throw $t (call $many (local.get 0))))
      (unreachable))))"#;

/// The results `$many` gives for `x`.
fn expected(x: i32) -> Vec<Val> {
    (0..20)
        .map(|i| match (i, i % 4) {
            (18, _) => Val::V128(u128::from_le_bytes(
                [(x + 18).to_le_bytes(); 4].concat().try_into().unwrap(),
            )),
            (19, _) | (_, 0) => Val::I32(x + i),
            (_, 1) => Val::I64((x + i).into()),
            (_, 2) => Val::F32((x + i) as f32),
            _ => Val::F64((x + i).into()),
        })
        .collect()
}

fn results(inst: &mut lucet_runtime::InstanceHandle, name: &str, x: i32) -> Vec<Val> {
    inst.run(name, &[Val::I32(x)])
        .and_then(|r| r.returned())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_kind_of_call_returns_all_twenty_results() {
    let region = region();
    let module = Module::from_bytes(&compile_bytes(MANY.as_bytes()), "many", &Linker::new())
        .expect("module loads");
    let mut inst = region.new_instance(module).unwrap();
    for name in [
        "many",
        "direct",
        "indirect",
        "by_ref",
        "tail",
        "tail_indirect",
        "tail_ref",
        "caught",
    ] {
        assert_eq!(results(&mut inst, name, 100), expected(100), "{name}");
        assert_eq!(results(&mut inst, name, -7), expected(-7), "{name}");
    }
}

#[test]
fn host_functions_and_other_instances_return_all_twenty_results() {
    let region = MmapRegion::create(2, &Limits::default()).unwrap();
    let first = region
        .new_instance(
            Module::from_bytes(&compile_bytes(MANY.as_bytes()), "many", &Linker::new()).unwrap(),
        )
        .unwrap();
    let many_ty = first.module().export_func_type("many").unwrap().clone();
    assert_eq!(many_ty.results.len(), 20);
    let mut linker = Linker::new();
    linker.instance_module("first");
    linker.func_dynamic(
        "host",
        "many",
        FuncType::new([ValType::I32], many_ty.results.clone()),
        |_, args, results| {
            let Val::I32(x) = args[0] else { unreachable!() };
            results.clone_from_slice(&expected(x));
        },
    );
    let wat = r#"(module
      (type $many (func (param i32) (result i32 i64 f32 f64 i32 i64 f32 f64 i32 i64
                                            f32 f64 i32 i64 f32 f64 i32 i64 v128 i32)))
      (import "first" "many" (func $other (type $many)))
      (import "host" "many" (func $host (type $many)))
      (func (export "other") (type $many) (call $other (local.get 0)))
      (func (export "host") (type $many) (call $host (local.get 0)))
      (func (export "tail_other") (type $many) (return_call $other (local.get 0)))
      (func (export "tail_host") (type $many) (return_call $host (local.get 0))))"#;
    let module = Module::from_bytes(&compile_bytes(wat.as_bytes()), "caller", &linker).unwrap();
    let mut second = region
        .new_instance_builder(module)
        .link("first", &first)
        .build()
        .unwrap();
    for name in ["other", "host", "tail_other", "tail_host"] {
        assert_eq!(results(&mut second, name, 3), expected(3), "{name}");
    }
}
