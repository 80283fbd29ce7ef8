use lucet_runtime::{Error, Linker, MmapRegion, Module, TrapCode, Val::*, Vmctx};

use crate::common::*;

fn host_linker() -> Linker {
    let mut l = Linker::new();
    l.func("env", "host_add", |_: &mut Vmctx, a: i32, b: i32| a + b);
    l
}

#[test]
fn instances_share_memory_tables_globals_and_functions() {
    let region = MmapRegion::create(4, &Default::default()).unwrap();
    let mut exporter = region
        .new_instance(load_with("exporter", &host_linker()))
        .unwrap();
    let mut linker = host_linker();
    linker.instance_module("ex");
    let importer_module = Module::from_bytes(&compile("importer"), "importer", &linker).unwrap();
    let mut importer = region
        .new_instance_builder(importer_module)
        .link("ex", &exporter)
        .build()
        .unwrap();

    // Memory: the importer writes, the exporter reads; growth is shared.
    importer.run("store", &[I32(16), I32(1234)]).unwrap();
    assert_eq!(i32(&mut exporter, "load", &[I32(16)]), 1234);
    assert_eq!(i32(&mut importer, "grow", &[I32(2)]), 1);
    assert_eq!(i32(&mut exporter, "size", &[]), 3);
    assert_eq!(exporter.heap().len(), 3 * 65536);

    // Mutable globals are shared, not copied.
    assert_eq!(i32(&mut importer, "counter", &[]), 100);
    assert_eq!(i32(&mut exporter, "bump", &[]), 101);
    assert_eq!(i32(&mut importer, "counter", &[]), 101);
    importer.run("set_counter", &[I32(7)]).unwrap();
    assert_eq!(exporter.get_global("counter").unwrap(), I32(7));

    // Functions, including a re-exported host function.
    assert_eq!(i32(&mut importer, "quadruple", &[I32(5)]), 20);
    assert_eq!(i32(&mut importer, "add", &[I32(2), I32(3)]), 5);

    // The table: the importer's element segment wrote its own function into
    // slot 1, and either instance calls both.
    assert_eq!(i32(&mut exporter, "call_slot", &[I32(1), I32(5)]), 15);
    assert_eq!(i32(&mut importer, "call_slot", &[I32(0), I32(5)]), 10);
}

#[test]
fn a_trap_in_linked_code_names_the_function_where_it_happened() {
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let exporter = region
        .new_instance(load_with("exporter", &host_linker()))
        .unwrap();
    let mut linker = host_linker();
    linker.instance_module("ex");
    let module = Module::from_bytes(&compile("importer"), "importer", &linker).unwrap();
    let mut importer = region
        .new_instance_builder(module)
        .link("ex", &exporter)
        .build()
        .unwrap();
    match importer.run("trap_in_exporter", &[]) {
        Err(Error::Trap { code, function, .. }) => {
            assert_eq!(code, TrapCode::Unreachable);
            assert_eq!(function, "trap");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // Stack overflow while in the exporter's code is still a trap.
    let err = importer.run("recurse_in_exporter", &[I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::StackOverflow), "{err}");
    assert_eq!(i32(&mut importer, "quadruple", &[I32(1)]), 4);
}

#[test]
fn import_types_and_limits_are_checked() {
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let exporter = region
        .new_instance(load_with("exporter", &host_linker()))
        .unwrap();
    let mut linker = Linker::new();
    linker.instance_module("ex");
    let cases = [
        (
            r#"(module (import "ex" "double" (func (param i64) (result i32))))"#,
            "import ex.double: module expects (i64) -> i32, host provides (i32) -> i32",
        ),
        (
            r#"(module (import "ex" "memory" (memory 2)))"#,
            "import ex.memory: module expects memory 2.., host provides memory 1..4",
        ),
        (
            r#"(module (import "ex" "memory" (memory 1 2)))"#,
            "import ex.memory: module expects memory 1..2, host provides memory 1..4",
        ),
        (
            r#"(module (import "ex" "counter" (global i32)))"#,
            "import ex.counter: module expects i32, host provides (mut i32)",
        ),
        (
            r#"(module (import "ex" "table" (table 4 externref)))"#,
            "import ex.table: module expects table 4.. externref, host provides table 4.. funcref",
        ),
        (
            r#"(module (import "ex" "double" (global i32)))"#,
            "import ex.double: module expects global i32, host provides a function",
        ),
        (
            r#"(module (import "ex" "nope" (func)))"#,
            "unknown import ex.nope",
        ),
    ];
    for (wat, expected) in cases {
        // Imports from instances are checked when they are bound.
        let module = Module::from_bytes(&compile_bytes(wat.as_bytes()), "m", &linker).unwrap();
        let err = region
            .new_instance_builder(module)
            .link("ex", &exporter)
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // An import from a module nothing will provide is refused at load.
    let err = Module::from_bytes(
        &compile_bytes(br#"(module (import "other" "f" (func)))"#),
        "m",
        &linker,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "unknown import other.f");
    assert_eq!(region.free_slots(), 1, "no slot taken by a failed binding");
}

#[test]
fn linked_instances_live_until_the_last_handle_is_dropped() {
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let exporter = region
        .new_instance(load_with("exporter", &host_linker()))
        .unwrap();
    let mut linker = host_linker();
    linker.instance_module("ex");
    let module = Module::from_bytes(&compile("importer"), "importer", &linker).unwrap();
    let mut importer = region
        .new_instance_builder(module.clone())
        .link("ex", &exporter)
        .build()
        .unwrap();
    drop(exporter);
    // The importer still reaches the exporter's memory and functions.
    assert_eq!(region.free_slots(), 0);
    assert_eq!(i32(&mut importer, "quadruple", &[I32(3)]), 12);
    importer.run("store", &[I32(0), I32(1)]).unwrap();
    drop(importer);
    assert_eq!(region.free_slots(), 2, "both torn down together");
    // The module is not tied to the instances it was linked to: without an
    // exporter it cannot be instantiated, with a new one it can.
    let err = region.new_instance(module.clone()).unwrap_err();
    assert!(err.to_string().starts_with("unknown import ex."), "{err}");
    let exporter = region
        .new_instance(load_with("exporter", &host_linker()))
        .unwrap();
    let mut importer = region
        .new_instance_builder(module)
        .link("ex", &exporter)
        .build()
        .unwrap();
    assert_eq!(i32(&mut importer, "quadruple", &[I32(3)]), 12);
}

#[test]
fn linked_instances_stay_on_their_thread() {
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let exporter = region
        .new_instance(load_with("exporter", &host_linker()))
        .unwrap();
    let mut linker = host_linker();
    linker.instance_module("ex");
    let module = Module::from_bytes(&compile("importer"), "importer", &linker).unwrap();
    let importer = region
        .new_instance_builder(module)
        .link("ex", &exporter)
        .build()
        .unwrap();
    let mut exporter = std::thread::spawn(move || {
        let mut exporter = exporter;
        let err = exporter.run("size", &[]).unwrap_err();
        assert!(err.to_string().contains("thread that linked them"), "{err}");
        exporter
    })
    .join()
    .unwrap();
    assert_eq!(i32(&mut exporter, "size", &[]), 1);
    drop(importer);
}

#[test]
fn an_imported_function_keeps_its_exporters_subtype() {
    // The exporter's function is of $sub; the importer imports it as
    // $super ($sub <: $super) and calls it through a table as a $sub.
    let exporter_wat = r#"(module
      (type $super (sub (func (result i32))))
      (type $sub (sub $super (func (result i32))))
      (func (export "f") (type $sub) (i32.const 7)))"#;
    let importer_wat = r#"(module
      (type $super (sub (func (result i32))))
      (type $sub (sub $super (func (result i32))))
      (import "ex" "f" (func $f (type $super)))
      (table 1 funcref)
      (elem (i32.const 0) func $f)
      (func (export "as_sub") (result i32)
        (call_indirect (type $sub) (i32.const 0)))
      (func (export "as_super") (result i32)
        (call_indirect (type $super) (i32.const 0))))"#;
    let region = MmapRegion::create(2, &Default::default()).unwrap();
    let load = |wat: &str, name: &str, linker: &Linker| {
        Module::from_bytes(&compile_bytes(wat.as_bytes()), name, linker).unwrap()
    };
    let exporter = region
        .new_instance(load(exporter_wat, "exporter", &Linker::new()))
        .unwrap();
    let mut linker = Linker::new();
    linker.instance_module("ex");
    let mut importer = region
        .new_instance_builder(load(importer_wat, "importer", &linker))
        .link("ex", &exporter)
        .build()
        .unwrap();
    assert_eq!(i32(&mut importer, "as_super", &[]), 7);
    assert_eq!(
        i32(&mut importer, "as_sub", &[]),
        7,
        "the funcref is the exporter's $sub"
    );
}
