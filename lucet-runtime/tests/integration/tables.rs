use lucet_runtime::{TrapCode, Val::*};

use crate::common::*;

#[test]
fn call_indirect_dispatches_through_the_table() {
    let mut inst = instance("tables");
    assert_eq!(i32(&mut inst, "dispatch", &[I32(0), I32(6), I32(3)]), 9);
    assert_eq!(i32(&mut inst, "dispatch", &[I32(1), I32(6), I32(3)]), 3);
    assert_eq!(i32(&mut inst, "dispatch", &[I32(2), I32(6), I32(3)]), 18);
    assert_eq!(i32(&mut inst, "unary", &[I32(3), I32(5)]), -5);
}

#[test]
fn call_indirect_traps() {
    let mut inst = instance("tables");
    // Signature mismatch: slot 3 holds a unary function.
    let err = inst.run("dispatch", &[I32(3), I32(1), I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::BadSignature), "{err}");
    // Null entry.
    let err = inst.run("dispatch", &[I32(5), I32(1), I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::IndirectCallToNull), "{err}");
    // Outside the table.
    let err = inst.run("dispatch", &[I32(8), I32(1), I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds), "{err}");
    let err = inst
        .run("dispatch", &[I32(-1), I32(1), I32(1)])
        .unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds), "{err}");
    // The instance keeps working.
    assert_eq!(i32(&mut inst, "dispatch", &[I32(0), I32(1), I32(1)]), 2);
}

#[test]
fn reference_instructions() {
    let mut inst = instance("tables");
    assert_eq!(i32(&mut inst, "size", &[]), 8);
    assert_eq!(i32(&mut inst, "is_null", &[I32(0)]), 0);
    assert_eq!(i32(&mut inst, "is_null", &[I32(4)]), 1);
    inst.run("set_negate", &[I32(4)]).unwrap();
    assert_eq!(i32(&mut inst, "unary", &[I32(4), I32(9)]), -9);
    inst.run("clear", &[I32(4)]).unwrap();
    assert_eq!(i32(&mut inst, "is_null", &[I32(4)]), 1);
    let err = inst.run("is_null", &[I32(8)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds));
}

#[test]
fn table_grow_fill_copy_init() {
    let mut inst = instance("tables");
    assert_eq!(i32(&mut inst, "grow", &[I32(4)]), 8);
    assert_eq!(i32(&mut inst, "size", &[]), 12);
    assert_eq!(i32(&mut inst, "grow", &[I32(5)]), -1, "maximum is 16");
    assert_eq!(i32(&mut inst, "grow", &[I32(4)]), 12);
    assert_eq!(i32(&mut inst, "is_null", &[I32(15)]), 1);
    // Copy add/sub to the grown part and call them there.
    inst.run("copy", &[I32(14), I32(0), I32(2)]).unwrap();
    assert_eq!(i32(&mut inst, "dispatch", &[I32(15), I32(7), I32(2)]), 5);
    // Passive segment (sub, add) into slots 10 and 11.
    inst.run("init", &[I32(10), I32(0), I32(2)]).unwrap();
    assert_eq!(i32(&mut inst, "dispatch", &[I32(10), I32(7), I32(2)]), 5);
    assert_eq!(i32(&mut inst, "dispatch", &[I32(11), I32(7), I32(2)]), 9);
    let err = inst.run("init", &[I32(15), I32(0), I32(2)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds));
    inst.run("drop", &[]).unwrap();
    let err = inst.run("init", &[I32(0), I32(0), I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds));
    inst.run("fill_null", &[I32(0), I32(16)]).unwrap();
    let err = inst.run("dispatch", &[I32(0), I32(1), I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::IndirectCallToNull));
    let err = inst.run("fill_null", &[I32(10), I32(7)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::TableOutOfBounds));
}

/// Appends the LEB128 encoding of `v`.
fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    leb(out, body.len() as u32);
    out.extend_from_slice(body);
}

/// The module LLVM emits for an indirect call with reference types on: the
/// table index of `call_indirect` is a 5-byte padded LEB128.
#[test]
fn call_indirect_with_a_multi_byte_table_index() {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    // Types: 0 = () -> i32.
    section(&mut m, 1, &[1, 0x60, 0, 1, 0x7f]);
    // Functions: two of type 0.
    section(&mut m, 3, &[2, 0, 0]);
    // Table: funcref, min 1.
    section(&mut m, 4, &[1, 0x70, 0, 1]);
    // Export "call" = function 1.
    section(&mut m, 7, &[1, 4, b'c', b'a', b'l', b'l', 0, 1]);
    // Elements: table 0 at offset 0: function 0.
    section(&mut m, 9, &[1, 0, 0x41, 0, 0x0b, 1, 0]);
    // Code.
    let f0 = [0u8, 0x41, 42, 0x0b]; // i32.const 42
    let f1 = [
        0u8, 0x41, 0, // i32.const 0
        0x11, 0, 0x80, 0x80, 0x80, 0x80, 0x00, // call_indirect type 0, table 0 (padded)
        0x0b,
    ];
    let mut code = vec![2];
    for f in [&f0[..], &f1[..]] {
        leb(&mut code, f.len() as u32);
        code.extend_from_slice(f);
    }
    section(&mut m, 10, &code);

    let elf = compile_bytes(&m);
    let module = lucet_runtime::Module::from_bytes(&elf, "padded", &Default::default()).unwrap();
    let mut inst = region().new_instance(module).unwrap();
    assert_eq!(i32(&mut inst, "call", &[]), 42);
}

/// A slot keeps an instance's tables for the next instance of the same
/// module: whatever the previous instance did, the next one starts from the
/// module's initial tables and segments.
#[test]
fn tables_are_fresh_in_every_instance_of_a_reused_slot() {
    let region = region();
    let tables = load("tables");
    let other = load("memory");
    for round in 0..3 {
        let mut inst = region.new_instance(tables.clone()).unwrap();
        assert_eq!(i32(&mut inst, "size", &[]), 8, "round {round}");
        assert_eq!(i32(&mut inst, "is_null", &[I32(4)]), 1, "round {round}");
        assert_eq!(
            i32(&mut inst, "dispatch", &[I32(0), I32(6), I32(3)]),
            9,
            "round {round}"
        );
        // The passive segment is available again.
        inst.run("init", &[I32(6), I32(0), I32(2)]).unwrap();
        // Mutate everything a later instance could observe.
        inst.run("set_negate", &[I32(4)]).unwrap();
        inst.run("fill_null", &[I32(0), I32(4)]).unwrap();
        assert_eq!(i32(&mut inst, "grow", &[I32(8)]), 8);
        inst.run("drop", &[]).unwrap();
        drop(inst);
        if round == 1 {
            // Another module in between.
            drop(region.new_instance(other.clone()).unwrap());
        }
    }
}

/// `table.set` in generated code marks the table written, like the
/// runtime's table operations do.
#[test]
fn a_table_written_only_by_table_set_is_restored() {
    let region = region();
    let tables = load("tables");
    let mut inst = region.new_instance(tables.clone()).unwrap();
    inst.run("set_negate", &[I32(4)]).unwrap();
    inst.run("clear", &[I32(0)]).unwrap();
    drop(inst);
    let mut inst = region.new_instance(tables).unwrap();
    assert_eq!(i32(&mut inst, "is_null", &[I32(4)]), 1);
    assert_eq!(i32(&mut inst, "dispatch", &[I32(0), I32(6), I32(3)]), 9);
}

/// Tables with initializers and typed references, and globals of the 3.0
/// types, come back to their initial state for every instance of a slot.
#[test]
fn typed_tables_and_globals_are_initial_for_every_instance() {
    let wat = r#"(module
      (type $f (func (result i32)))
      (func $one (type $f) (i32.const 1))
      (func $two (type $f) (i32.const 2))
      (elem declare func $two)
      (table $t 2 10 (ref $f) (ref.func $one))
      (global $g (mut (ref null $f)) (ref.null $f))
      (global $n (mut i64) (i64.add (i64.const 40) (i64.const 2)))
      (func (export "call") (param i32) (result i32) (call_ref $f (table.get $t (local.get 0))))
      (func (export "size") (result i32) (table.size $t))
      (func (export "dirty")
        (table.set $t (i32.const 1) (ref.func $two))
        (drop (table.grow $t (ref.func $two) (i32.const 3)))
        (global.set $g (ref.func $two))
        (global.set $n (i64.const 0)))
      (func (export "g_is_null") (result i32) (ref.is_null (global.get $g)))
      (func (export "n") (result i64) (global.get $n)))"#;
    let module = lucet_runtime::Module::from_bytes(
        &compile_bytes(wat.as_bytes()),
        "typed",
        &lucet_runtime::Linker::new(),
    )
    .unwrap();
    let region = region();
    let check = |inst: &mut lucet_runtime::InstanceHandle| {
        assert_eq!(i32(inst, "size", &[]), 2);
        assert_eq!(i32(inst, "call", &[I32(1)]), 1);
        assert_eq!(i32(inst, "g_is_null", &[]), 1);
        assert_eq!(i64(inst, "n", &[]), 42);
    };
    let mut inst = region.new_instance(module.clone()).unwrap();
    check(&mut inst);
    inst.run("dirty", &[]).unwrap();
    assert_eq!(i32(&mut inst, "call", &[I32(1)]), 2);
    assert_eq!(i32(&mut inst, "size", &[]), 5);
    inst.reset().unwrap();
    check(&mut inst);
    inst.run("dirty", &[]).unwrap();
    drop(inst);
    let mut inst = region.new_instance(module).unwrap();
    check(&mut inst);
}

#[test]
fn table64_segment_offsets_are_checked_in_64_bits() {
    // Offsets that are in bounds once truncated to 32 bits (2^32 + 1, and
    // 2^36 for an empty segment, which must trap too) are not.
    let region = region();
    for (offset, items) in [("0x100000001", "$f"), ("0x1000000000", "")] {
        let wat = format!(
            r#"(module
              (table i64 4 funcref)
              (func $f)
              (elem (i64.const {offset}) func {items}))"#
        );
        let module = lucet_runtime::Module::from_bytes(
            &compile_bytes(wat.as_bytes()),
            "table64",
            &lucet_runtime::Linker::new(),
        )
        .unwrap();
        let err = region.new_instance(module).unwrap_err();
        assert_eq!(
            err.trap_code(),
            Some(TrapCode::TableOutOfBounds),
            "offset {offset}: {err}"
        );
    }
}

fn table_region(
    max_tables: u32,
    max_table_elements: u64,
) -> std::sync::Arc<lucet_runtime::MmapRegion> {
    let limits = lucet_runtime::Limits {
        max_tables,
        max_table_elements,
        ..lucet_runtime::Limits::default()
    };
    lucet_runtime::MmapRegion::create(2, &limits).unwrap()
}

fn table_module(
    wat: &str,
    linker: &lucet_runtime::Linker,
) -> std::sync::Arc<lucet_runtime::Module> {
    lucet_runtime::Module::from_bytes(&compile_bytes(wat.as_bytes()), "tables", linker).unwrap()
}

#[test]
fn tables_beyond_the_limits_are_refused_at_instantiation() {
    // 100 tables of 10 million elements: 8 GB of host memory if allowed.
    let mut wat = String::from("(module");
    for _ in 0..100 {
        wat.push_str(" (table 10000000 funcref)");
    }
    wat.push(')');
    let module = table_module(&wat, &lucet_runtime::Linker::new());
    let err = region().new_instance(module.clone()).unwrap_err();
    assert!(
        matches!(err, lucet_runtime::Error::LimitsExceeded(_)),
        "{err}"
    );
    assert!(err.to_string().contains("1000000000 elements"), "{err}");
    // The count is a limit of its own.
    let err = table_region(99, u64::from(u32::MAX))
        .new_instance(module)
        .unwrap_err();
    assert!(err.to_string().contains("defines 100 tables"), "{err}");
}

#[test]
fn table_grow_stays_within_the_element_budget() {
    let region = table_region(10, 1000);
    let wat = r#"(module
      (table $a (export "a") 100 funcref)
      (table $b 100 funcref)
      (func (export "grow_a") (param i32) (result i32)
        (table.grow $a (ref.null func) (local.get 0)))
      (func (export "grow_b") (param i32) (result i32)
        (table.grow $b (ref.null func) (local.get 0))))"#;
    let module = table_module(wat, &lucet_runtime::Linker::new());
    let mut inst = region.new_instance(module.clone()).unwrap();
    // 200 of 1000 in use: 801 more is one too many, 800 fit, in any table.
    assert_eq!(i32(&mut inst, "grow_a", &[I32(801)]), -1);
    assert_eq!(i32(&mut inst, "grow_a", &[I32(500)]), 100);
    assert_eq!(i32(&mut inst, "grow_b", &[I32(301)]), -1);
    assert_eq!(i32(&mut inst, "grow_b", &[I32(300)]), 100);
    assert_eq!(i32(&mut inst, "grow_a", &[I32(1)]), -1);
    // An importer's growth counts against the table's owner.
    let mut linker = lucet_runtime::Linker::new();
    linker.instance_module("owner");
    let importer = table_module(
        r#"(module
          (import "owner" "a" (table $a 0 funcref))
          (func (export "grow") (param i32) (result i32)
            (table.grow $a (ref.null func) (local.get 0))))"#,
        &linker,
    );
    let mut other = region
        .new_instance_builder(importer)
        .link("owner", &inst)
        .build()
        .unwrap();
    assert_eq!(i32(&mut other, "grow", &[I32(1)]), -1);
    // A fresh instance starts with its initial tables again.
    drop(other);
    drop(inst);
    let mut inst = region.new_instance(module).unwrap();
    assert_eq!(i32(&mut inst, "grow_a", &[I32(800)]), 100);
}
