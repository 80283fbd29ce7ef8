use lucet_runtime::{Linker, TrapCode, Val::*};

use crate::common::*;

fn linker(base: i32) -> Linker {
    let mut l = Linker::new();
    l.global("env", "base", I32(base), false);
    l
}

#[test]
fn active_segments_are_in_memory_at_instantiation() {
    let module = load_with("data", &linker(1000));
    let inst = region().new_instance(module.clone()).unwrap();
    let heap = inst.heap();
    assert_eq!(&heap[0..5], b"hello");
    assert_eq!(&heap[70000..70003], &[1, 2, 3]);
    assert_eq!(&heap[196600..196613], b"end of page 3");
    assert_eq!(&heap[1000..1009], b"relocated");
    assert!(heap[5..1000].iter().all(|b| *b == 0));
    // The constant segments were baked into a sparse image: three chunks,
    // one page each (page 17 holds 70000, page 47/48 the last one).
    let elf = compile("data");
    let image = &lucet_module::ModuleFile::parse(&elf).unwrap().data.image;
    assert!(image.stored_bytes() <= 4 * 4096, "{image:?}");
}

#[test]
fn writes_do_not_reach_the_image_or_other_instances() {
    let module = load_with("data", &linker(2000));
    let region = lucet_runtime::MmapRegion::create(2, &Default::default()).unwrap();
    let mut a = region.new_instance(module.clone()).unwrap();
    a.heap_mut()[0] = b'J';
    let b = region.new_instance(module.clone()).unwrap();
    assert_eq!(&b.heap()[0..5], b"hello");
    drop(a);
    let c = region.new_instance(module).unwrap();
    assert_eq!(&c.heap()[0..5], b"hello");
}

#[test]
fn passive_segments_and_memory_init() {
    let mut inst = region()
        .new_instance(load_with("data", &linker(0)))
        .unwrap();
    inst.run("init", &[I32(500), I32(8), I32(5)]).unwrap();
    assert_eq!(&inst.heap()[500..505], b"bytes");
    let err = inst.run("init", &[I32(0), I32(10), I32(10)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::HeapOutOfBounds));
    inst.run("drop", &[]).unwrap();
    // After data.drop the segment is empty: only zero-length inits succeed.
    inst.run("init", &[I32(0), I32(0), I32(0)]).unwrap();
    let err = inst.run("init", &[I32(0), I32(0), I32(1)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::HeapOutOfBounds));
}

#[test]
fn a_segment_out_of_bounds_fails_instantiation() {
    let err = region().new_instance(load("data_oob")).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::HeapOutOfBounds), "{err}");
    // A segment relocated out of bounds fails the same way.
    let err = region()
        .new_instance(load_with("data", &linker(4 * 65536 - 3)))
        .unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::HeapOutOfBounds), "{err}");
}

#[test]
fn the_slot_is_reusable_after_a_failed_instantiation() {
    let region = region();
    assert!(region.new_instance(load("data_oob")).is_err());
    assert_eq!(region.free_slots(), 1);
    let inst = region.new_instance(load_with("data", &linker(0))).unwrap();
    // Segments apply in order: the relocated one overwrites "hello".
    assert_eq!(&inst.heap()[0..9], b"relocated");
}

/// A slot's heap goes back to the module's initial memory whatever the
/// previous instance wrote, for every `keep_resident`: touched pages inside
/// it are zeroed in place, the rest given back, image pages reverted.
#[test]
fn a_reused_heap_is_the_initial_memory_again() {
    // A small image (copied into the heap) and a large one (mapped
    // copy-on-write), both in four pages of memory.
    let mut large = String::from("(module (memory 4) (data (i32.const 4096) \"");
    for i in 0..80 * 1024 {
        large.push_str(&format!("\\{:02x}", (i % 251 + 1) as u8));
    }
    large.push_str("\") (data (i32.const 200000) \"tail\") (func (export \"f\")))");
    let large = compile_bytes(large.as_bytes());
    let image = &lucet_module::ModuleFile::parse(&large).unwrap().data.image;
    assert!(image.stored_bytes() > 16 << 10);
    let large = lucet_runtime::Module::from_bytes(&large, "large", &Linker::new()).unwrap();
    for module in [load_with("data", &linker(1000)), large] {
        reused_heaps_are_fresh(module);
    }
}

fn reused_heaps_are_fresh(module: std::sync::Arc<lucet_runtime::Module>) {
    let fresh: Vec<u8> = region()
        .new_instance(module.clone())
        .unwrap()
        .heap()
        .to_vec();
    assert_eq!(fresh.len(), 4 * 65536);
    for keep_resident in [0, 8 << 10, 64 << 10, 100 << 10, 1 << 20] {
        let limits = lucet_runtime::Limits {
            keep_resident,
            ..Default::default()
        };
        let region = lucet_runtime::MmapRegion::create(1, &limits).unwrap();
        for round in 0..4u8 {
            let mut inst = region.new_instance(module.clone()).unwrap();
            assert!(
                inst.heap() == &fresh[..],
                "keep_resident {keep_resident}, round {round}: the heap is not the initial memory"
            );
            let heap = inst.heap_mut();
            match round {
                // Everything, image pages included.
                0 => heap.fill(0xab),
                // A few scattered pages: inside and past the window.
                1 => {
                    for at in [5, 4096 * 3 + 17, 70001, 100_000, 196_610, 262_143] {
                        heap[at] = round;
                    }
                }
                // Nothing.
                2 => {}
                _ => heap[..8192].fill(0xcd),
            }
            drop(inst);
            // Every other round, the slot gives back what it keeps
            // resident: the next instance finds the initial memory all
            // the same.
            if round % 2 == 1 {
                assert_eq!(region.trim_idle(std::time::Duration::ZERO, 8), 1);
                assert_eq!(region.trim_idle(std::time::Duration::ZERO, 8), 0);
            }
        }
    }
}
