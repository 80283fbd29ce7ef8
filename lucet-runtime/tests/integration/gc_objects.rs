//! WebAssembly GC objects: structs and arrays in the instance's GC heap,
//! as guest code, constant expressions and the host see them; the heap's
//! limit; what a reset does to objects and to the host's handles; host
//! values in the `any` hierarchy.

use lucet_runtime::{
    AnyRef, Error, ExternRef, HostRef, InstanceHandle, Limits, Linker, MmapRegion, Module,
    TrapCode, Val,
};

use crate::common::*;

const OBJECTS: &str = r#"(module
  (type $point (struct (field $x (mut i32)) (field $y i64) (field $tag (mut i8))))
  (type $bytes (array (mut i8)))
  (type $box (struct (field $v (mut i32))))
  (data $hello "hello")
  (global $boxed (ref $box) (struct.new $box (i32.const 5)))
  (table $boxes 2 (ref null $box))
  (elem (table $boxes) (i32.const 0) (ref $box) (struct.new $box (i32.const 7)))
  (func (export "point") (param i32 i64) (result (ref $point))
    (struct.new $point (local.get 0) (local.get 1) (i32.const -1)))
  (func (export "x") (param (ref null $point)) (result i32)
    (struct.get $point $x (local.get 0)))
  (func (export "tag_s") (param (ref $point)) (result i32)
    (struct.get_s $point $tag (local.get 0)))
  (func (export "tag_u") (param (ref $point)) (result i32)
    (struct.get_u $point $tag (local.get 0)))
  (func (export "y") (param (ref $point)) (result i64)
    (struct.get $point $y (local.get 0)))
  (func (export "hello") (result (ref $bytes))
    (array.new_data $bytes $hello (i32.const 0) (i32.const 5)))
  (func (export "byte") (param (ref $bytes) i32) (result i32)
    (array.get_u $bytes (local.get 0) (local.get 1)))
  (func (export "len") (param anyref) (result i32)
    (array.len (ref.cast (ref array) (local.get 0))))
  (func (export "bump_global") (result i32)
    (struct.set $box $v (global.get $boxed)
      (i32.add (struct.get $box $v (global.get $boxed)) (i32.const 1)))
    (struct.get $box $v (global.get $boxed)))
  (func (export "bump_table") (result i32)
    (local $b (ref $box))
    (local.set $b (ref.as_non_null (table.get $boxes (i32.const 0))))
    (struct.set $box $v (local.get $b) (i32.add (struct.get $box $v (local.get $b)) (i32.const 1)))
    (struct.get $box $v (local.get $b)))
  (func (export "is_eq") (param anyref) (result i32)
    (ref.test (ref eq) (local.get 0)))
  (func (export "internalize") (param externref) (result anyref)
    (any.convert_extern (local.get 0)))
  (func (export "externalize") (param anyref) (result externref)
    (extern.convert_any (local.get 0))))"#;

fn objects_in(region: &MmapRegion) -> InstanceHandle {
    let module = Module::from_bytes(
        &compile_bytes(OBJECTS.as_bytes()),
        "objects",
        &Linker::new(),
    )
    .unwrap();
    region.new_instance(module).unwrap()
}

fn trap_code(r: Result<lucet_runtime::RunResult, Error>) -> TrapCode {
    match r {
        Err(Error::Trap { code, .. }) => code,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn structs_and_arrays_keep_their_fields_and_travel_through_the_host() {
    let mut inst = objects_in(&region());
    let p = call(&mut inst, "point", &[Val::I32(3), Val::I64(-9)]);
    let Val::AnyRef(AnyRef::Object(o)) = &p else {
        panic!("expected an object, got {p:?}");
    };
    assert!(o.is_struct());
    assert_eq!(p.to_string(), "ref.struct");
    assert_eq!(i32(&mut inst, "x", std::slice::from_ref(&p)), 3);
    assert_eq!(i64(&mut inst, "y", std::slice::from_ref(&p)), -9);
    // The i8 field keeps 8 bits and extends them as asked.
    assert_eq!(i32(&mut inst, "tag_s", std::slice::from_ref(&p)), -1);
    assert_eq!(i32(&mut inst, "tag_u", std::slice::from_ref(&p)), 255);
    assert_eq!(
        trap_code(inst.run("x", &[Val::AnyRef(AnyRef::Null)])),
        TrapCode::NullReference
    );

    let hello = call(&mut inst, "hello", &[]);
    assert_eq!(hello.to_string(), "ref.array");
    assert_eq!(i32(&mut inst, "len", std::slice::from_ref(&hello)), 5);
    assert_eq!(
        i32(&mut inst, "byte", &[hello.clone(), Val::I32(1)]),
        i32::from(b'e')
    );
    assert_eq!(
        trap_code(inst.run("byte", &[hello.clone(), Val::I32(5)])),
        TrapCode::ArrayOutOfBounds
    );
    // An array is no point: the host's value is checked against the
    // parameter's type, and a cast in the guest checks it too.
    assert!(inst.run("x", std::slice::from_ref(&hello)).is_err());
    assert_eq!(
        trap_code(inst.run("len", std::slice::from_ref(&p))),
        TrapCode::CastFailure
    );
    assert_eq!(i32(&mut inst, "is_eq", std::slice::from_ref(&p)), 1);
}

#[test]
fn handles_are_refused_after_a_reset_and_by_other_instances() {
    let region = MmapRegion::create(2, &Limits::default()).unwrap();
    let mut inst = objects_in(&region);
    let mut other = objects_in(&region);
    let p = call(&mut inst, "point", &[Val::I32(1), Val::I64(2)]);
    assert!(
        other.run("x", std::slice::from_ref(&p)).is_err(),
        "an object of another instance"
    );
    inst.reset().unwrap();
    let err = inst.run("x", std::slice::from_ref(&p)).unwrap_err();
    assert!(
        !matches!(err, Error::Trap { .. }),
        "refused, not run: {err}"
    );
    // New objects of the new heap work.
    let q = call(&mut inst, "point", &[Val::I32(4), Val::I64(2)]);
    assert_eq!(i32(&mut inst, "x", &[q]), 4);
}

#[test]
fn objects_of_constant_expressions_are_new_in_each_instance() {
    let region = region();
    let mut inst = objects_in(&region);
    assert_eq!(i32(&mut inst, "bump_global", &[]), 6);
    assert_eq!(i32(&mut inst, "bump_global", &[]), 7);
    assert_eq!(i32(&mut inst, "bump_table", &[]), 8);
    assert_eq!(i32(&mut inst, "bump_table", &[]), 9);
    // A reset makes new objects: nothing of the old heap is left.
    inst.reset().unwrap();
    assert_eq!(i32(&mut inst, "bump_global", &[]), 6);
    assert_eq!(i32(&mut inst, "bump_table", &[]), 8);
    // And so does the next instance in the same slot.
    drop(inst);
    let mut next = objects_in(&region);
    assert_eq!(i32(&mut next, "bump_table", &[]), 8);
}

#[test]
fn host_values_keep_their_identity_through_the_any_hierarchy() {
    let mut inst = objects_in(&region());
    for value in [0, 42, HostRef::MAX] {
        let host = ExternRef::host(value).unwrap();
        let any = call(&mut inst, "internalize", &[Val::ExternRef(host.clone())]);
        assert_eq!(any, Val::AnyRef(AnyRef::Host(HostRef::new(value).unwrap())));
        // A host value is an `any`, but not an `eq`.
        assert_eq!(i32(&mut inst, "is_eq", std::slice::from_ref(&any)), 0);
        assert_eq!(
            call(&mut inst, "externalize", std::slice::from_ref(&any)),
            Val::ExternRef(host)
        );
    }
    assert_eq!(ExternRef::host(HostRef::MAX + 1), None);
    let p = call(&mut inst, "point", &[Val::I32(1), Val::I64(2)]);
    let e = call(&mut inst, "externalize", std::slice::from_ref(&p));
    assert!(matches!(e, Val::ExternRef(ExternRef::Any(_))), "{e:?}");
    assert_eq!(call(&mut inst, "internalize", &[e]), p);
}

const ALLOCATOR: &str = r#"(module
  (type $kib (array i8))
  (type $cell (struct (field (ref $kib)) (field (ref null $cell))))
  (global $made (export "made") (mut i32) (i32.const 0))
  (global $kept (mut (ref null $cell)) (ref.null $cell))
  ;; Keeps every array it makes: the heap fills up with live objects.
  (func (export "fill")
    (loop $again
      (global.set $kept
        (struct.new $cell (array.new_default $kib (i32.const 1000)) (global.get $kept)))
      (global.set $made (i32.add (global.get $made) (i32.const 1)))
      (br $again))))"#;

#[test]
fn a_heap_full_of_live_objects_traps_and_a_reset_empties_it() {
    let limits = Limits {
        gc_heap_size: 64 << 10,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let module = Module::from_bytes(
        &compile_bytes(ALLOCATOR.as_bytes()),
        "alloc",
        &Linker::new(),
    )
    .unwrap();
    let mut inst = region.new_instance(module).unwrap();
    let made = |inst: &InstanceHandle| inst.get_global("made").unwrap().as_i32().unwrap();
    assert_eq!(trap_code(inst.run("fill", &[])), TrapCode::GcHeapExhausted);
    // A collection ran first, and found everything alive.
    assert!(inst.gc_collections() >= 1);
    let first = made(&inst);
    // 1,040 bytes a round (an array of 1,016, a cell of 24) in a half of
    // 32 KiB.
    assert_eq!(first, (32 << 10) / 1040);
    inst.reset().unwrap();
    assert_eq!(inst.gc_collections(), 0);
    assert_eq!(trap_code(inst.run("fill", &[])), TrapCode::GcHeapExhausted);
    assert_eq!(made(&inst), first, "the reset heap holds as much again");
}
