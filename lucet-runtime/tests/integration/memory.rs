use lucet_runtime::{Limits, Linker, MmapRegion, Module, Val, Val::*};

use crate::common::*;

#[test]
fn loads_and_stores_of_every_width() {
    let mut inst = instance("memory");
    inst.run("store_i32", &[I32(8), I32(-2)]).unwrap();
    assert_eq!(i32(&mut inst, "load_i32", &[I32(8)]), -2);
    assert_eq!(i32(&mut inst, "load8_s", &[I32(8)]), -2);
    assert_eq!(i32(&mut inst, "load8_u", &[I32(8)]), 0xfe);
    assert_eq!(i32(&mut inst, "load16_s", &[I32(8)]), -2);
    assert_eq!(i64(&mut inst, "load32_u", &[I32(8)]), 0xffff_fffe);
    inst.run("store_i64", &[I32(100), I64(0x1122_3344_5566_7788)])
        .unwrap();
    assert_eq!(
        i64(&mut inst, "load_i64", &[I32(100)]),
        0x1122_3344_5566_7788
    );
    assert_eq!(
        i32(&mut inst, "load8_u", &[I32(100)]),
        0x88,
        "little-endian"
    );
    inst.run("store8", &[I32(65535), I32(0x1ff)]).unwrap();
    assert_eq!(i32(&mut inst, "load8_u", &[I32(65535)]), 0xff);
    inst.run("store_f64", &[I32(200), F64(1.0)]).unwrap();
    assert_eq!(
        f32(&mut inst, "load_f32", &[I32(204)]),
        f32::from_bits(0x3ff0_0000)
    );
    // Unaligned accesses are fine.
    inst.run("store_i32", &[I32(1001), I32(0x0a0b_0c0d)])
        .unwrap();
    assert_eq!(i32(&mut inst, "load_i32", &[I32(1001)]), 0x0a0b_0c0d);
    // The host sees the same bytes.
    assert_eq!(&inst.heap()[1001..1005], &[0x0d, 0x0c, 0x0b, 0x0a]);
    inst.heap_mut()[2000] = 42;
    assert_eq!(i32(&mut inst, "load8_u", &[I32(2000)]), 42);
    // offset=65532 reaches the last four bytes: 0xff was stored at 65535.
    assert_eq!(
        i32(&mut inst, "load_offset", &[I32(0)]),
        0xff00_0000u32 as i32
    );
    let err = inst.run("load_offset", &[I32(1)]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(lucet_runtime::TrapCode::HeapOutOfBounds)
    );
}

#[test]
fn grow_up_to_the_declared_maximum() {
    let mut inst = instance("memory");
    assert_eq!(i32(&mut inst, "size", &[]), 1);
    assert_eq!(inst.heap().len(), 65536);
    assert_eq!(i32(&mut inst, "grow", &[I32(0)]), 1);
    assert_eq!(i32(&mut inst, "grow", &[I32(2)]), 1);
    assert_eq!(i32(&mut inst, "size", &[]), 3);
    // New pages are zeroed and usable.
    assert_eq!(i32(&mut inst, "load_i32", &[I32(3 * 65536 - 4)]), 0);
    inst.run("store_i32", &[I32(3 * 65536 - 4), I32(9)])
        .unwrap();
    assert_eq!(i32(&mut inst, "load_i32", &[I32(3 * 65536 - 4)]), 9);
    // Past the module's maximum of 4 pages: -1, memory unchanged.
    assert_eq!(i32(&mut inst, "grow", &[I32(2)]), -1);
    assert_eq!(i32(&mut inst, "size", &[]), 3);
    assert_eq!(i32(&mut inst, "grow", &[I32(1)]), 3);
    assert_eq!(i32(&mut inst, "grow", &[I32(1)]), -1);
    assert_eq!(i32(&mut inst, "grow", &[I32(-1)]), -1);
    assert_eq!(inst.heap().len(), 4 * 65536);
}

#[test]
fn grow_is_bounded_by_the_region_limit() {
    let limits = Limits {
        heap_memory_size: 4 * 65536,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let mut inst = region.new_instance(load("memory_unbounded")).unwrap();
    assert_eq!(i32(&mut inst, "grow", &[I32(3)]), 1);
    assert_eq!(i32(&mut inst, "grow", &[I32(1)]), -1);
    assert_eq!(i32(&mut inst, "size", &[]), 4);
    inst.run("poke", &[I32(4 * 65536 - 1)]).unwrap();
    let err = inst.run("poke", &[I32(4 * 65536)]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(lucet_runtime::TrapCode::HeapOutOfBounds)
    );
}

#[test]
fn bulk_memory_instructions() {
    let mut inst = instance("memory");
    inst.run("fill", &[I32(10), I32(3), I32(5)]).unwrap();
    assert_eq!(i32(&mut inst, "sum", &[I32(0), I32(100)]), 15);
    inst.run("copy", &[I32(12), I32(10), I32(5)]).unwrap();
    assert_eq!(&inst.heap()[10..18], &[3, 3, 3, 3, 3, 3, 3, 0]);
    // Out of bounds: trap, nothing written.
    let err = inst.run("fill", &[I32(65530), I32(1), I32(7)]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(lucet_runtime::TrapCode::HeapOutOfBounds)
    );
    assert_eq!(inst.heap()[65530], 0);
    let err = inst.run("copy", &[I32(0), I32(65535), I32(2)]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(lucet_runtime::TrapCode::HeapOutOfBounds)
    );
    // Zero-length at the very end is fine.
    inst.run("fill", &[I32(65536), I32(1), I32(0)]).unwrap();
}

#[test]
fn memory_is_fresh_in_every_instance() {
    let region = region();
    let module = load("memory");
    let mut a = region.new_instance(module.clone()).unwrap();
    a.run("store_i32", &[I32(0), I32(77)]).unwrap();
    a.run("grow", &[I32(1)]).unwrap();
    drop(a);
    let mut b = region.new_instance(module).unwrap();
    assert_eq!(i32(&mut b, "load_i32", &[I32(0)]), 0);
    assert_eq!(i32(&mut b, "size", &[]), 1);
}

/// Memory grown by one instance is neither readable by the next instance
/// of the slot nor accessible past its memory's size until it grows
/// again, and then reads as zero: whether the grown pages lie inside the
/// resident window (zeroed in place and made inaccessible) or past it
/// (given back).
#[test]
fn grown_memory_is_fresh_and_inaccessible_in_the_next_instance() {
    let module = load("memory");
    for keep_resident in [0, 64 << 10, 100 << 10, 1 << 20] {
        let limits = Limits {
            keep_resident,
            ..Default::default()
        };
        let region = MmapRegion::create(1, &limits).unwrap();
        for round in 0..3 {
            let mut inst = region.new_instance(module.clone()).unwrap();
            let what = format!("keep_resident {keep_resident}, round {round}");
            assert_eq!(i32(&mut inst, "size", &[]), 1, "{what}");
            let err = inst.run("load8_u", &[I32(65536)]).unwrap_err();
            assert_eq!(
                err.trap_code(),
                Some(lucet_runtime::TrapCode::HeapOutOfBounds),
                "{what}"
            );
            assert_eq!(i32(&mut inst, "grow", &[I32(3)]), 1, "{what}");
            for at in [65536, 100_000, 4 * 65536 - 4] {
                assert_eq!(i32(&mut inst, "load_i32", &[I32(at)]), 0, "{what}, at {at}");
                inst.run("store_i32", &[I32(at), I32(-1)]).unwrap();
            }
        }
    }
}

/// An `f64.load` that ends exactly at the end of memory, fed to
/// `f64.copysign`: Cranelift 0.112's x64 backend sank the load into a
/// 16-byte one, which faulted past the end of memory.
#[test]
fn a_load_ending_at_the_end_of_memory_is_in_bounds() {
    let elf = compile_bytes(
        br#"(module (memory 1)
             (func (export "f") (result i32)
               i32.const 0 f64.const 0 i32.const 32
               f64.load offset=65491 align=1
               f64.copysign
               f64.store align=1
               i32.const 0))"#,
    );
    let module = Module::from_bytes(&elf, "copysign", &Linker::new()).unwrap();
    let mut inst = region().new_instance(module).unwrap();
    assert_eq!(call(&mut inst, "f", &[]), Val::I32(0));
}

/// A module whose initial memory exceeds the reservation it is compiled for
/// is valid: it compiles, and instantiating it fails, naming the sizes.
#[test]
fn initial_memory_larger_than_the_reservation_fails_at_instantiation() {
    let compiler = lucet_compiler::Compiler::new(lucet_compiler::CompileOptions {
        reserved_size: 1 << 20,
        guard_size: 64 << 10,
        ..Default::default()
    })
    .unwrap();
    let elf = compiler
        .compile(b"(module (memory 32) (data (i32.const 0x1fffff) \"x\"))")
        .unwrap()
        .to_elf()
        .unwrap();
    let module = Module::from_bytes(&elf, "big", &Linker::new()).unwrap();
    let err = region().new_instance(module).unwrap_err();
    assert!(err.to_string().contains("--reserved-size"), "{err}");
}

/// Bulk memory operations that end exactly at the end of a full 4 GiB
/// memory are in bounds (their end is 2^32, computed in 64 bits), and one
/// byte more is not; also for memory64, where the index itself can wrap.
#[test]
fn bulk_operations_at_the_end_of_a_4_gib_memory() {
    let limits = lucet_runtime::Limits {
        heap_memory_size: 4 << 30,
        ..lucet_runtime::Limits::default()
    };
    let region = lucet_runtime::MmapRegion::create(1, &limits).unwrap();
    for index in ["i32", "i64"] {
        let wat = format!(
            r#"(module
              (memory {index} 65536)
              (data $d "AB")
              (func (export "fill") (param {index} i32 {index})
                (memory.fill (local.get 0) (local.get 1) (local.get 2)))
              (func (export "copy") (param {index} {index} {index})
                (memory.copy (local.get 0) (local.get 1) (local.get 2)))
              (func (export "init") (param {index} i32 i32)
                (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
              (func (export "load") (param {index}) (result i32)
                (i32.load8_u (local.get 0))))"#
        );
        let module = lucet_runtime::Module::from_bytes(
            &compile_bytes(wat.as_bytes()),
            "full",
            &lucet_runtime::Linker::new(),
        )
        .unwrap();
        let mut inst = region.new_instance(module).unwrap();
        let addr = |a: u64| match index {
            "i32" => I32(a as u32 as i32),
            _ => I64(a as i64),
        };
        let last = 0xFFFF_FFFF;
        inst.run("fill", &[addr(last), I32(0x41), addr(1)]).unwrap();
        assert_eq!(i32(&mut inst, "load", &[addr(last)]), 0x41);
        inst.run("copy", &[addr(0), addr(last), addr(1)]).unwrap();
        assert_eq!(i32(&mut inst, "load", &[addr(0)]), 0x41);
        inst.run("init", &[addr(last), I32(1), I32(1)]).unwrap();
        assert_eq!(i32(&mut inst, "load", &[addr(last)]), 0x42);
        let oob = |r: Result<lucet_runtime::RunResult, lucet_runtime::Error>| {
            assert_eq!(
                r.unwrap_err().trap_code(),
                Some(lucet_runtime::TrapCode::HeapOutOfBounds)
            )
        };
        oob(inst.run("fill", &[addr(last), I32(0), addr(2)]));
        oob(inst.run("copy", &[addr(last), addr(0), addr(2)]));
        oob(inst.run("copy", &[addr(0), addr(last), addr(2)]));
        oob(inst.run("init", &[addr(last), I32(0), I32(2)]));
        if index == "i64" {
            // Zero bytes at the end are fine; past it, or wrapping, not.
            inst.run("fill", &[addr(1 << 32), I32(0), addr(0)]).unwrap();
            oob(inst.run("fill", &[addr((1 << 32) + 1), I32(0), addr(0)]));
            oob(inst.run("fill", &[addr(u64::MAX), I32(0), addr(2)]));
            oob(inst.run("copy", &[addr(0), addr(u64::MAX), addr(2)]));
            oob(inst.run("init", &[addr(u64::MAX), I32(0), I32(2)]));
        }
        // Nothing was written by the traps.
        assert_eq!(i32(&mut inst, "load", &[addr(last)]), 0x42);
    }
}
