//! Dense heaps: modules compiled for a small heap reservation check bounds
//! explicitly, so that tens of thousands of instances fit in one process.

use std::sync::Arc;

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{Error, Limits, Linker, MmapRegion, Module, TrapCode, Val::*};

use crate::common::*;

const RESERVED: u64 = 1 << 20;
const GUARD: u64 = 64 << 10;

const WAT: &str = r#"(module
  (memory 1 32)
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load_far") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2))))"#;

/// The module, compiled for a 1 MiB reservation and a 64 KiB guard.
fn dense_module() -> Arc<Module> {
    let compiler = Compiler::new(CompileOptions {
        reserved_size: RESERVED,
        guard_size: GUARD,
        ..CompileOptions::default()
    })
    .unwrap();
    let elf = compiler.compile(WAT.as_bytes()).unwrap().to_elf().unwrap();
    Module::from_bytes(&elf, "dense", &Linker::new()).unwrap()
}

fn dense_limits() -> Limits {
    Limits {
        heap_memory_size: RESERVED,
        heap_address_space_size: RESERVED + GUARD,
        stack_size: 64 << 10,
        ..Limits::default()
    }
}

#[test]
fn explicit_bounds_checks_trap_at_the_current_size() {
    let region = MmapRegion::create(1, &dense_limits()).unwrap();
    let mut inst = region.new_instance(dense_module()).unwrap();
    let oob = |r: Result<lucet_runtime::RunResult, Error>| {
        let err = r.unwrap_err();
        assert_eq!(err.trap_code(), Some(TrapCode::HeapOutOfBounds), "{err}");
    };
    inst.run("store", &[I32(65532), I32(7)]).unwrap();
    assert_eq!(i32(&mut inst, "load", &[I32(65532)]), 7);
    oob(inst.run("load", &[I32(65533)]));
    oob(inst.run("load8", &[I32(65536)]));
    oob(inst.run("load", &[I32(-4)]));
    assert_eq!(i32(&mut inst, "load_far", &[I32(0)]), 7);
    oob(inst.run("load_far", &[I32(1)]));
    // Growing moves the bound.
    assert_eq!(i32(&mut inst, "grow", &[I32(1)]), 1);
    assert_eq!(i32(&mut inst, "load8", &[I32(131071)]), 0);
    oob(inst.run("load8", &[I32(131072)]));
    // Up to the reservation (16 pages), not past it, though the module's
    // maximum is 32.
    assert_eq!(i32(&mut inst, "grow", &[I32(14)]), 2);
    assert_eq!(i32(&mut inst, "grow", &[I32(1)]), -1);
    inst.run("store", &[I32(RESERVED as i32 - 4), I32(9)])
        .unwrap();
    oob(inst.run("store", &[I32(RESERVED as i32 - 3), I32(9)]));
    oob(inst.run("fill", &[I32(RESERVED as i32 - 8), I32(1), I32(9)]));
}

#[test]
fn a_module_compiled_for_the_default_heap_does_not_fit_a_dense_region() {
    let region = MmapRegion::create(1, &dense_limits()).unwrap();
    let err = region.new_instance(load("memory")).unwrap_err();
    assert!(
        err.to_string()
            .contains("compiled for 4294967296 bytes of heap reservation"),
        "{err}"
    );
}

/// Fifty thousand live instances in one process, each with its own memory.
/// They need about 100,000 memory mappings: above Linux's default
/// `vm.max_map_count`, which `.ci/run` raises. Below it, the region refuses
/// with an error naming the setting (checked here too).
#[test]
fn fifty_thousand_live_instances() {
    const N: usize = 50_000;
    let needed = N * lucet_runtime::MAPPINGS_PER_SLOT + 1000;
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(usize::MAX);
    if max < needed {
        let err = MmapRegion::create(N, &dense_limits()).unwrap_err();
        assert!(err.to_string().contains("vm.max_map_count"), "{err}");
        let msg = format!(
            "vm.max_map_count is {max}; 50,000 instances need about {needed}: \
             only the error was checked (raise it: sysctl -w vm.max_map_count=262144)"
        );
        if std::env::var("LUCET_REQUIRE_DENSE").is_ok_and(|v| v == "1") {
            panic!("{msg} (LUCET_REQUIRE_DENSE=1)");
        }
        eprintln!("warning: {msg}");
        return;
    }
    let region = MmapRegion::create(N, &dense_limits()).unwrap();
    let module = dense_module();
    let mut live = Vec::with_capacity(N);
    for i in 0..N {
        let mut inst = region.new_instance(module.clone()).unwrap();
        inst.run("store", &[I32(((i % 16) * 4096) as i32), I32(i as i32)])
            .unwrap();
        live.push(inst);
    }
    assert_eq!(region.free_slots(), 0);
    for (i, inst) in live.iter_mut().enumerate() {
        assert_eq!(
            i32(inst, "load", &[I32(((i % 16) * 4096) as i32)]),
            i as i32
        );
    }
}
