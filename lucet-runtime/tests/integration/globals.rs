use lucet_runtime::{Error, Linker, Val::*};

use crate::common::*;

fn linker() -> Linker {
    let mut l = Linker::new();
    l.global("env", "imported", I64(1 << 40), false);
    l.global("env", "counter", I32(10), true);
    l
}

#[test]
fn get_and_set_globals_of_every_type() {
    let mut inst = region()
        .new_instance(load_with("globals", &linker()))
        .unwrap();
    assert_eq!(i32(&mut inst, "get32", &[]), -7);
    inst.run("set32", &[I32(99)]).unwrap();
    assert_eq!(i32(&mut inst, "get32", &[]), 99);
    // Initialized from the imported global.
    assert_eq!(i64(&mut inst, "get64", &[]), 1 << 40);
    inst.run("add64", &[I64(5)]).unwrap();
    assert_eq!(i64(&mut inst, "get64", &[]), (1 << 40) + 5);
    assert_eq!(f32(&mut inst, "getf32", &[]), 1.5);
    inst.run("setf32", &[F32(-0.0)]).unwrap();
    assert_eq!(f32(&mut inst, "getf32", &[]).to_bits(), (-0.0f32).to_bits());
    assert_eq!(f64(&mut inst, "getf64", &[]), -2.25);
    inst.run("setf64", &[F64(1e300)]).unwrap();
    assert_eq!(f64(&mut inst, "getf64", &[]), 1e300);
    assert_eq!(i32(&mut inst, "get_const", &[]), 42);
    // The imported mutable global.
    assert_eq!(i32(&mut inst, "bump", &[]), 11);
    assert_eq!(i32(&mut inst, "bump", &[]), 12);
}

#[test]
fn exported_globals_from_the_host() {
    let mut inst = region()
        .new_instance(load_with("globals", &linker()))
        .unwrap();
    assert_eq!(inst.get_global("g32").unwrap(), I32(-7));
    inst.set_global("g32", I32(5)).unwrap();
    assert_eq!(i32(&mut inst, "get32", &[]), 5);
    assert_eq!(inst.get_global("const").unwrap(), I32(42));
    assert!(matches!(
        inst.set_global("const", I32(1)),
        Err(Error::TypeMismatch(_))
    ));
    assert!(matches!(
        inst.set_global("g32", I64(1)),
        Err(Error::TypeMismatch(_))
    ));
    assert!(matches!(
        inst.get_global("nope"),
        Err(Error::ExportNotFound(_))
    ));
}

#[test]
fn globals_are_reinitialized_per_instance_and_on_reset() {
    let region = region();
    let module = load_with("globals", &linker());
    let mut a = region.new_instance(module.clone()).unwrap();
    a.run("set32", &[I32(1)]).unwrap();
    a.run("bump", &[]).unwrap();
    a.reset().unwrap();
    assert_eq!(i32(&mut a, "get32", &[]), -7);
    assert_eq!(i32(&mut a, "bump", &[]), 11);
    drop(a);
    let mut b = region.new_instance(module).unwrap();
    assert_eq!(i32(&mut b, "get32", &[]), -7);
}

#[test]
fn imported_globals_are_type_checked() {
    let mut l = Linker::new();
    l.global("env", "imported", I32(1), false);
    l.global("env", "counter", I32(10), true);
    let err = lucet_runtime::Module::from_bytes(&compile("globals"), "globals", &l).unwrap_err();
    assert_eq!(
        err.to_string(),
        "import env.imported: module expects i64, host provides i32"
    );
    let mut l = Linker::new();
    l.global("env", "imported", I64(1), false);
    l.global("env", "counter", I32(10), false);
    let err = lucet_runtime::Module::from_bytes(&compile("globals"), "globals", &l).unwrap_err();
    assert_eq!(
        err.to_string(),
        "import env.counter: module expects (mut i32), host provides i32"
    );
}
