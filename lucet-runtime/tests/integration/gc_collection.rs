//! The GC heap's collector: programs that allocate far more than the heap
//! holds, live data that must survive many collections intact, references
//! that only deep recursion's frames hold, and host handles across a
//! collection.

use lucet_runtime::{AnyRef, Limits, Linker, MmapRegion, Module, Val};

use crate::common::*;

fn instance_with(wat: &str, limits: Limits) -> lucet_runtime::InstanceHandle {
    let region = MmapRegion::create(1, &limits).unwrap();
    let module = Module::from_bytes(&compile_bytes(wat.as_bytes()), "gc", &Linker::new()).unwrap();
    region.new_instance(module).unwrap()
}

fn gc_heap(size: u64) -> Limits {
    Limits {
        gc_heap_size: size,
        stack_size: 8 << 20,
        ..Limits::default()
    }
}

const CHURN: &str = r#"(module
  (type $kib (array (mut i8)))
  (type $box (struct (field i64)))
  ;; Allocates `n` arrays of 1 KiB (header included), keeping only the last,
  ;; and a box made first that must survive every collection.
  (func (export "churn") (param $n i32) (result i64)
    (local $keep (ref null $kib)) (local $box (ref $box))
    (local.set $box (struct.new $box (i64.const 0x1234_5678_9abc)))
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $keep (array.new $kib (i32.const 7) (i32.const 1008)))
      (array.set $kib (local.get $keep) (i32.const 0) (i32.const 1))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))
    (i64.add (struct.get $box 0 (local.get $box))
      (i64.extend_i32_u (i32.add
        (array.get_u $kib (ref.as_non_null (local.get $keep)) (i32.const 0))
        (array.get_u $kib (ref.as_non_null (local.get $keep)) (i32.const 1007)))))))"#;

#[test]
fn a_gibibyte_of_garbage_runs_in_a_16_mib_heap() {
    let mut inst = instance_with(CHURN, gc_heap(16 << 20));
    let n = 1 << 20; // 1 Mi arrays of 1 KiB: 1 GiB
    assert_eq!(
        i64(&mut inst, "churn", &[Val::I32(n)]),
        0x1234_5678_9abc + 1 + 7
    );
    // Each half is 8 MiB: a collection about every 8,000 arrays.
    let collections = inst.gc_collections();
    assert!(
        (120..=140).contains(&collections),
        "{collections} collections"
    );
}

const LIST: &str = r#"(module
  (type $node (struct (field i64) (field (ref null $node))))
  (type $junk (array i8))
  (global $list (mut (ref null $node)) (ref.null $node))
  (func (export "build") (param $n i32)
    (local $i i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (global.set $list (struct.new $node (i64.extend_i32_u (local.get $i)) (global.get $list)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again))))
  (func (export "junk") (param $n i32)
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (drop (array.new_default $junk (i32.const 65520)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again))))
  (func (export "sum") (result i64)
    (local $at (ref null $node)) (local $sum i64)
    (local.set $at (global.get $list))
    (block $done (loop $again
      (br_if $done (ref.is_null (local.get $at)))
      (local.set $sum (i64.add (local.get $sum) (struct.get $node 0 (ref.as_non_null (local.get $at)))))
      (local.set $at (struct.get $node 1 (ref.as_non_null (local.get $at))))
      (br $again)))
    (local.get $sum)))"#;

#[test]
fn a_million_node_list_survives_a_hundred_collections() {
    // Halves of 32 MiB; the list takes 24 MiB of one.
    let mut inst = instance_with(LIST, gc_heap(64 << 20));
    let n: i64 = 1_000_000;
    inst.run("build", &[Val::I32(n as i32)]).unwrap();
    let expected = n * (n - 1) / 2;
    let mut rounds = 0;
    while inst.gc_collections() < 100 {
        // 64 KiB arrays: about 130 fill what the list leaves free.
        inst.run("junk", &[Val::I32(64)]).unwrap();
        rounds += 1;
        assert!(rounds < 10_000, "no collections");
        if rounds % 16 == 0 {
            assert_eq!(i64(&mut inst, "sum", &[]), expected);
        }
    }
    assert_eq!(i64(&mut inst, "sum", &[]), expected);
}

const RECURSION: &str = r#"(module
  (type $frame (struct (field i32)))
  (type $junk (array i8))
  ;; Each level keeps a struct only in its frame, makes garbage, recurses,
  ;; and checks its struct after the callee returns.
  (func $down (export "down") (param $depth i32) (result i32)
    (local $mine (ref $frame))
    (local.set $mine (struct.new $frame (local.get $depth)))
    (drop (array.new_default $junk (i32.const 4000)))
    (if (i32.gt_u (local.get $depth) (i32.const 0))
      (then (drop (call $down (i32.sub (local.get $depth) (i32.const 1))))))
    (drop (array.new_default $junk (i32.const 4000)))
    (if (i32.ne (struct.get $frame 0 (local.get $mine)) (local.get $depth))
      (then unreachable))
    (struct.get $frame 0 (local.get $mine))))"#;

#[test]
fn every_frame_of_a_deep_recursion_keeps_its_references() {
    // 20,000 frames each holding a struct; 8 KiB of garbage per level in a
    // 1 MiB heap collects every few dozen levels, deep in the recursion.
    let mut inst = instance_with(RECURSION, gc_heap(1 << 20));
    assert_eq!(i32(&mut inst, "down", &[Val::I32(20_000)]), 20_000);
    assert!(inst.gc_collections() > 100, "{}", inst.gc_collections());
}

#[test]
fn host_handles_are_refused_after_a_collection() {
    let wat = r#"(module
      (type $box (struct (field i32)))
      (type $junk (array i8))
      (func (export "make") (result (ref $box)) (struct.new $box (i32.const 3)))
      (func (export "get") (param (ref $box)) (result i32) (struct.get $box 0 (local.get 0)))
      (func (export "junk") (param $n i32)
        (block $done (loop $again
          (br_if $done (i32.eqz (local.get $n)))
          (drop (array.new_default $junk (i32.const 1000)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again)))))"#;
    let mut inst = instance_with(wat, gc_heap(64 << 10));
    let b = call(&mut inst, "make", &[]);
    assert!(matches!(b, Val::AnyRef(AnyRef::Object(_))));
    assert_eq!(i32(&mut inst, "get", &[b]), 3);
    inst.run("junk", &[Val::I32(100)]).unwrap();
    assert!(inst.gc_collections() > 0);
    assert!(inst.run("get", &[b]).is_err());
}

const TREES: &str = r#"(module
  (type $node (struct (field (ref null $node)) (field (ref null $node))))
  ;; The left subtree is only an operand (of struct.new) while the right
  ;; one is built: the collections during that must find it there.
  (func $make (param $d i32) (result (ref null $node))
    (if (result (ref null $node)) (i32.eqz (local.get $d))
      (then (struct.new $node (ref.null $node) (ref.null $node)))
      (else
        (struct.new $node
          (call $make (i32.sub (local.get $d) (i32.const 1)))
          (call $make (i32.sub (local.get $d) (i32.const 1)))))))
  (func $count (param $t (ref null $node)) (result i32)
    (if (result i32) (ref.is_null (local.get $t))
      (then (i32.const 0))
      (else (i32.add (i32.const 1)
        (i32.add
          (call $count (struct.get $node 0 (ref.as_non_null (local.get $t))))
          (call $count (struct.get $node 1 (ref.as_non_null (local.get $t)))))))))
  ;; Binary trees: a tree of depth `d` kept alive while 1,024 trees of
  ;; depth `d - 4` are built and counted; all the nodes counted.
  (func (export "nodes") (param $d i32) (result i32)
    (local $long (ref null $node)) (local $i i32) (local $sum i32)
    (local.set $long (call $make (local.get $d)))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const 1024)))
      (local.set $sum (i32.add (local.get $sum)
        (call $count (call $make (i32.sub (local.get $d) (i32.const 4))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (i32.add (local.get $sum) (call $count (local.get $long)))))"#;

#[test]
fn references_only_on_the_operand_stack_survive_collections() {
    // Trees of 2^11 - 1 and 2^7 - 1 nodes (24 bytes each) in halves of
    // 512 KiB: collections land in the middle of building a tree, many
    // times, and a reference missed would point into a half that a later
    // collection overwrites.
    let mut inst = instance_with(TREES, gc_heap(1 << 20));
    let expected = (1 << 11) - 1 + 1024 * ((1 << 7) - 1);
    for _ in 0..4 {
        assert_eq!(i32(&mut inst, "nodes", &[Val::I32(10)]), expected);
    }
    assert!(inst.gc_collections() >= 20, "{}", inst.gc_collections());
}
