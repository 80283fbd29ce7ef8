//! WebAssembly GC's type system as far as it needs no heap: recursive
//! groups canonicalised across modules, declared subtypes in imports and
//! `call_indirect`, `i31ref` values through the host, and casts.

use lucet_runtime::{
    AnyRef, Error, InstanceHandle, Linker, MmapRegion, Module, TrapCode, Val, I31,
};

use crate::common::*;

const EXPORTER: &str = r#"(module
  (rec (type $super (sub (func (param i32) (result i32))))
       (type $other (sub (func (param i64)))))
  (type $sub (sub $super (func (param i32) (result i32))))
  (func (export "double") (type $sub) (i32.mul (local.get 0) (i32.const 2))))"#;

/// The same groups in another module, which calls through the supertype.
const IMPORTER: &str = r#"(module
  (rec (type $super (sub (func (param i32) (result i32))))
       (type $other (sub (func (param i64)))))
  (type $unrelated (sub (func (param i32) (result i32))))
  (import "ex" "double" (func $double (type $super)))
  (table 1 funcref)
  (elem (i32.const 0) func $double)
  (func (export "via_super") (param i32) (result i32)
    (call_indirect (type $super) (local.get 0) (i32.const 0)))
  (func (export "via_unrelated") (param i32) (result i32)
    (call_indirect (type $unrelated) (local.get 0) (i32.const 0))))"#;

/// An instance of `importer`, linked against an instance of `EXPORTER`
/// under the name `ex`.
fn linked_to_exporter(importer: &str) -> Result<InstanceHandle, Error> {
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let exporter_module =
        Module::from_bytes(&compile_bytes(EXPORTER.as_bytes()), "ex", &Linker::new()).unwrap();
    let exporter = region.new_instance(exporter_module).unwrap();
    let mut linker = Linker::new();
    linker.instance_module("ex");
    let module = Module::from_bytes(&compile_bytes(importer.as_bytes()), "im", &linker).unwrap();
    region
        .new_instance_builder(module)
        .link("ex", &exporter)
        .build()
}

#[test]
fn declared_subtypes_satisfy_imports_and_indirect_calls_across_modules() {
    let mut importer = linked_to_exporter(IMPORTER).unwrap();
    assert_eq!(i32(&mut importer, "via_super", &[Val::I32(21)]), 42);
    match importer.run("via_unrelated", &[Val::I32(1)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::BadSignature),
        other => panic!("expected a signature trap, got {other:?}"),
    }
}

#[test]
fn an_import_of_a_structurally_equal_but_distinct_type_is_refused() {
    // `$lone` has the function's signature, but is not in a group of the
    // same shape, so it is another type.
    let importer = r#"(module
      (type $lone (sub (func (param i32) (result i32))))
      (import "ex" "double" (func (type $lone))))"#;
    let Err(err) = linked_to_exporter(importer) else {
        panic!("expected a type mismatch");
    };
    assert!(err.to_string().contains("ex.double"), "{err}");
}

const I31S: &str = r#"(module
  (global $g (mut i31ref) (ref.i31 (i32.const -7)))
  (func (export "make") (param i32) (result i31ref) (ref.i31 (local.get 0)))
  (func (export "get_s") (param anyref) (result i32)
    (i31.get_s (ref.cast i31ref (local.get 0))))
  (func (export "get_u") (param i31ref) (result i32) (i31.get_u (local.get 0)))
  (func (export "global") (result i32) (i31.get_s (global.get $g)))
  (func (export "is_struct") (param anyref) (result i32)
    (ref.test (ref struct) (local.get 0)))
  (func (export "as_struct") (param anyref) (result anyref)
    (ref.cast (ref null struct) (local.get 0))))"#;

#[test]
fn i31_references_travel_through_the_host_and_casts_check_them() {
    let module =
        Module::from_bytes(&compile_bytes(I31S.as_bytes()), "i31", &Linker::new()).unwrap();
    let mut inst = region().new_instance(module).unwrap();
    let made = call(&mut inst, "make", &[Val::I32(-1)]);
    assert_eq!(made, Val::AnyRef(AnyRef::I31(I31::wrapping(-1))));
    // Only 31 bits are kept: the top bit of the i32 is gone.
    assert_eq!(i32(&mut inst, "get_s", std::slice::from_ref(&made)), -1);
    assert_eq!(
        i32(&mut inst, "get_u", std::slice::from_ref(&made)),
        0x7fff_ffff
    );
    let big = Val::AnyRef(AnyRef::I31(I31::wrapping(0x4000_0000)));
    assert_eq!(i32(&mut inst, "get_s", &[big]), -0x4000_0000);
    assert_eq!(i32(&mut inst, "global", &[]), -7);
    assert_eq!(i32(&mut inst, "is_struct", std::slice::from_ref(&made)), 0);
    // Null passes a nullable cast; an i31 is no struct.
    assert_eq!(
        call(&mut inst, "as_struct", &[Val::AnyRef(AnyRef::Null)]),
        Val::AnyRef(AnyRef::Null)
    );
    match inst.run("as_struct", std::slice::from_ref(&made)) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::CastFailure),
        other => panic!("expected a cast failure, got {other:?}"),
    }
    // A null i31ref has no integer.
    match inst.run("get_u", &[Val::AnyRef(AnyRef::Null)]) {
        Err(Error::Trap { code, .. }) => assert_eq!(code, TrapCode::NullReference),
        other => panic!("expected a null reference trap, got {other:?}"),
    }
    // The host's values are checked against the parameter's type.
    assert!(inst.run("get_u", &[Val::I32(1)]).is_err());
}
