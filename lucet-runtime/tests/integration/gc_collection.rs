//! The GC heap's collector: programs that allocate far more than the heap
//! holds, live data that must survive many collections intact, references
//! that only deep recursion's frames hold, host handles across
//! collections, and collections from inside host calls.

use lucet_runtime::{
    FuncType, GcAlgorithm, Limits, Linker, MmapRegion, Module, RefType, Val, ValType, Vmctx,
};

use crate::common::*;

fn instance_with(wat: &str, limits: Limits) -> lucet_runtime::InstanceHandle {
    let region = MmapRegion::create(1, &limits).unwrap();
    let module = Module::from_bytes(&compile_bytes(wat.as_bytes()), "gc", &Linker::new()).unwrap();
    region.new_instance(module).unwrap()
}

/// Both collectors, each test run under each.
const ALGORITHMS: [GcAlgorithm; 2] = [GcAlgorithm::Copying, GcAlgorithm::MarkCompact];

/// Limits giving objects `space` bytes to be allocated in before a
/// collection: a GC heap of twice that for the copying collector (two
/// halves), of that for mark-compact. The same program then collects as
/// often under either.
fn gc_heap(space: u64, algorithm: GcAlgorithm) -> Limits {
    Limits {
        gc_heap_size: match algorithm {
            GcAlgorithm::Copying => 2 * space,
            GcAlgorithm::MarkCompact => space,
        },
        gc_algorithm: algorithm,
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
    for algorithm in ALGORITHMS {
        let mut inst = instance_with(CHURN, gc_heap(8 << 20, algorithm));
        let n = 1 << 20; // 1 Mi arrays of 1 KiB: 1 GiB
        assert_eq!(
            i64(&mut inst, "churn", &[Val::I32(n)]),
            0x1234_5678_9abc + 1 + 7
        );
        // 8 MiB to allocate in (a half of 16 MiB, or all of a mark-compact
        // heap of 8 MiB): a collection about every 8,000 arrays.
        let collections = inst.gc_collections();
        assert!(
            (120..=140).contains(&collections),
            "{collections} collections"
        );
    }
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
    for algorithm in ALGORITHMS {
        // Halves of 32 MiB; the list takes 24 MiB of one.
        let mut inst = instance_with(LIST, gc_heap(32 << 20, algorithm));
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
    for algorithm in ALGORITHMS {
        // 20,000 frames each holding a struct; 8 KiB of garbage per level in a
        // 1 MiB heap collects every few dozen levels, deep in the recursion.
        let mut inst = instance_with(RECURSION, gc_heap(512 << 10, algorithm));
        assert_eq!(i32(&mut inst, "down", &[Val::I32(20_000)]), 20_000);
        assert!(inst.gc_collections() > 100, "{}", inst.gc_collections());
    }
}

const HANDLES: &str = r#"(module
  (type $box (struct (field i32)))
  (type $junk (array i8))
  (func (export "make") (param i32) (result (ref $box)) (struct.new $box (local.get 0)))
  (func (export "get") (param (ref $box)) (result i32) (struct.get $box 0 (local.get 0)))
  (func (export "big") (result (ref $junk)) (array.new_default $junk (i32.const 16000)))
  (func (export "junk") (param $n i32)
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (drop (array.new_default $junk (i32.const 1000)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))))"#;

#[test]
fn host_handles_follow_their_objects_through_collections() {
    for algorithm in ALGORITHMS {
        let mut inst = instance_with(HANDLES, gc_heap(32 << 10, algorithm));
        let boxes: Vec<Val> = (0..100)
            .map(|i| call(&mut inst, "make", &[Val::I32(i)]))
            .collect();
        let first = boxes[0].clone();
        // 200 KB of garbage through halves of 32 KiB: every box moves several
        // times, and only the host's handles hold them.
        inst.run("junk", &[Val::I32(200)]).unwrap();
        assert!(inst.gc_collections() >= 5, "{}", inst.gc_collections());
        for (i, b) in boxes.iter().enumerate() {
            assert_eq!(i32(&mut inst, "get", std::slice::from_ref(b)), i as i32);
        }
        assert_eq!(first, boxes[0], "a clone follows the same object");
        assert_ne!(boxes[0], boxes[1]);
        // A reset empties the heap: the handles are refused, not dangling.
        inst.reset().unwrap();
        assert!(inst.run("get", &[first]).is_err());
    }
}

#[test]
fn a_dropped_handle_keeps_nothing_alive() {
    for algorithm in ALGORITHMS {
        let mut inst = instance_with(HANDLES, gc_heap(40 << 10, algorithm));
        let big = call(&mut inst, "big", &[]);
        assert!(inst.collect_garbage());
        assert!(inst.gc_heap_used() >= 16_000, "{}", inst.gc_heap_used());
        assert_eq!(inst.gc_collections(), 1);
        drop(big);
        assert!(inst.collect_garbage());
        assert_eq!(inst.gc_heap_used(), 0);
        // Two 16 KB arrays held by the host fill most of a 40 KiB half: the
        // garbage after them is collected around both, many times.
        let held = [call(&mut inst, "big", &[]), call(&mut inst, "big", &[])];
        inst.run("junk", &[Val::I32(50)]).unwrap();
        assert!(inst.gc_collections() >= 6, "{}", inst.gc_collections());
        assert!(inst.gc_heap_used() >= 32_000);
        drop(held);
        assert!(inst.collect_garbage());
        assert_eq!(inst.gc_heap_used(), 0);
    }
}

const HOST_CALLS: &str = r#"(module
  (type $box (struct (field i64)))
  (type $pair (struct (field (ref $box)) (field i64)))
  (import "host" "collect" (func $collect))
  (import "host" "keep" (func $keep (param anyref) (result anyref)))
  (import "host" "collected" (func $collected (result i64)))
  ;; Every level keeps a box in a local; every 100th level collects from
  ;; a host call, passes its box through the host (which collects before
  ;; returning it), and holds another box only as an operand of
  ;; struct.new across a collecting host call.
  (func $down (param $d i32) (result i64)
    (local $mine (ref $box)) (local $pair (ref null $pair)) (local $below i64)
    (local.set $mine (struct.new $box (i64.extend_i32_u (local.get $d))))
    (if (i32.eqz (i32.rem_u (local.get $d) (i32.const 100)))
      (then
        (call $collect)
        (local.set $mine (ref.cast (ref $box) (call $keep (local.get $mine))))
        (local.set $pair (struct.new $pair
          (struct.new $box (i64.const 1000000))
          (call $collected)))))
    (local.set $below
      (if (result i64) (i32.eqz (local.get $d))
        (then (i64.const 0))
        (else (call $down (i32.sub (local.get $d) (i32.const 1))))))
    (i64.add (i64.add (local.get $below) (struct.get $box 0 (local.get $mine)))
      (if (result i64) (ref.is_null (local.get $pair))
        (then (i64.const 0))
        (else (struct.get $box 0 (struct.get $pair 0 (local.get $pair)))))))
  (func (export "down") (param i32) (result i64) (call $down (local.get 0))))"#;

#[test]
fn collections_from_inside_host_calls_find_every_root() {
    for algorithm in ALGORITHMS {
        let mut linker = Linker::new();
        linker.func("host", "collect", |vmctx: &mut Vmctx| {
            assert!(vmctx.collect_garbage());
        });
        let any = ValType::Ref(RefType::ANYREF);
        linker.func_dynamic(
            "host",
            "keep",
            FuncType::new([any], [any]),
            |vmctx, args, results| {
                assert!(vmctx.collect_garbage());
                results[0] = args[0].clone();
            },
        );
        linker.func("host", "collected", |vmctx: &mut Vmctx| -> i64 {
            assert!(vmctx.collect_garbage());
            1
        });
        let limits = gc_heap(512 << 10, algorithm);
        let region = MmapRegion::create(1, &limits).unwrap();
        let module =
            Module::from_bytes(&compile_bytes(HOST_CALLS.as_bytes()), "gc", &linker).unwrap();
        let mut inst = region.new_instance(module).unwrap();
        let depth: i64 = 2_000;
        let every_100th = depth / 100 + 1;
        assert_eq!(
            i64(&mut inst, "down", &[Val::I32(depth as i32)]),
            depth * (depth + 1) / 2 + every_100th * 1_000_000
        );
        assert_eq!(inst.gc_collections() as i64, 3 * every_100th);
    }
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
    for algorithm in ALGORITHMS {
        // Trees of 2^11 - 1 and 2^7 - 1 nodes (24 bytes each) in halves of
        // 512 KiB: collections land in the middle of building a tree, many
        // times, and a reference missed would point into a half that a later
        // collection overwrites.
        let mut inst = instance_with(TREES, gc_heap(512 << 10, algorithm));
        let expected = (1 << 11) - 1 + 1024 * ((1 << 7) - 1);
        for _ in 0..4 {
            assert_eq!(i32(&mut inst, "nodes", &[Val::I32(10)]), expected);
        }
        assert!(inst.gc_collections() >= 20, "{}", inst.gc_collections());
    }
}

/// An instance whose objects a linked instance holds: a box in a global,
/// and boxes made in its heap after garbage, for a caller to keep.
const LINKED_EXPORTER: &str = r#"(module
  (type $box (struct (field i64)))
  (type $kib (array (mut i8)))
  (global (export "kept") (ref $box) (struct.new $box (i64.const 41)))
  (func (export "make") (param $v i64) (param $n i32) (result (ref $box))
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (drop (array.new $kib (i32.const 0) (i32.const 1008)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))
    (struct.new $box (local.get $v)))
  (func (export "kept_value") (result i64)
    (struct.get $box 0 (global.get 0))))"#;

/// Holds the exporter's objects in its table, its frames and (through the
/// import) the exporter's global, and makes garbage of its own.
const LINKED_IMPORTER: &str = r#"(module
  (type $box (struct (field i64)))
  (type $kib (array (mut i8)))
  (import "ex" "kept" (global $kept (ref $box)))
  (import "ex" "make" (func $make (param i64 i32) (result (ref $box))))
  (table $boxes 16 (ref null $box))
  ;; `n` arrays of 1 KiB of garbage in this instance's heap; the exporter's
  ;; box and a box of its own made first survive.
  (func (export "churn") (param $n i32) (result i64)
    (local $own (ref $box))
    (local.set $own (struct.new $box (i64.const 1000)))
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (drop (array.new $kib (i32.const 0) (i32.const 1008)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))
    (i64.add (struct.get $box 0 (global.get $kept)) (struct.get $box 0 (local.get $own))))
  ;; `rounds` boxes made in the exporter's heap (each after `n` KiB of its
  ;; garbage), the last 16 kept in this instance's table, one in a frame:
  ;; the sum of the kept ones' values.
  (func (export "fill") (param $rounds i32) (param $n i32) (result i64)
    (local $i i32) (local $first (ref $box)) (local $sum i64)
    (local.set $first (call $make (i64.const 7000) (i32.const 0)))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (local.get $rounds)))
      (table.set $boxes (i32.rem_u (local.get $i) (i32.const 16))
        (call $make (i64.extend_i32_u (local.get $i)) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (local.set $i (i32.const 0))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const 16)))
      (local.set $sum (i64.add (local.get $sum)
        (struct.get $box 0 (ref.as_non_null (table.get $boxes (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
    (i64.add (local.get $sum) (struct.get $box 0 (local.get $first)))))"#;

/// An importer linked to an exporter, each in a region of its own with
/// `space` bytes to allocate in under the given collectors.
fn linked_pair(
    space: u64,
    exporter_algorithm: GcAlgorithm,
    importer_algorithm: GcAlgorithm,
) -> (lucet_runtime::InstanceHandle, lucet_runtime::InstanceHandle) {
    let exporter = instance_with(LINKED_EXPORTER, gc_heap(space, exporter_algorithm));
    let region = MmapRegion::create(1, &gc_heap(space, importer_algorithm)).unwrap();
    let mut linker = Linker::new();
    linker.instance_module("ex");
    let module =
        Module::from_bytes(&compile_bytes(LINKED_IMPORTER.as_bytes()), "im", &linker).unwrap();
    let importer = region
        .new_instance_builder(module)
        .link("ex", &exporter)
        .build()
        .unwrap();
    (exporter, importer)
}

#[test]
fn linked_instances_collect_together_keeping_each_others_objects() {
    for exporter_algorithm in ALGORITHMS {
        for importer_algorithm in ALGORITHMS {
            // 256 KiB to allocate in, each; 64 MiB of garbage in each heap.
            let (mut exporter, mut importer) =
                linked_pair(256 << 10, exporter_algorithm, importer_algorithm);
            let case = format!("exporter {exporter_algorithm:?}, importer {importer_algorithm:?}");

            // The importer's heap fills: the exporter's box (its global)
            // and the importer's own (a frame) survive.
            assert_eq!(
                i64(&mut importer, "churn", &[Val::I32(65536)]),
                1041,
                "{case}"
            );
            assert!(importer.gc_collections() >= 200, "{case}");

            // The exporter's heap fills in calls from the importer, whose
            // table and frame alone keep boxes made there.
            let rounds = 4096;
            let last: i64 = (rounds - 16..rounds).sum();
            assert_eq!(
                i64(
                    &mut importer,
                    "fill",
                    &[Val::I32(rounds as i32), Val::I32(16)]
                ),
                last + 7000,
                "{case}"
            );
            assert!(exporter.gc_collections() >= 200, "{case}");
            assert_eq!(i64(&mut exporter, "kept_value", &[]), 41, "{case}");
        }
    }
}

/// Keeps a box of its own in a frame across a host call that yields or
/// collects.
const PAUSING_EXPORTER: &str = r#"(module
  (type $box (struct (field i64)))
  (import "host" "pause" (func $pause))
  (func (export "hold") (result i64)
    (local $b (ref $box))
    (local.set $b (struct.new $box (i64.const 5)))
    (call $pause)
    (struct.get $box 0 (local.get $b))))"#;

/// Calls the exporter, which collects from a host call while this
/// instance's frame below holds a box; or makes garbage.
const PAUSING_IMPORTER: &str = r#"(module
  (type $box (struct (field i64)))
  (type $kib (array (mut i8)))
  (import "ex" "hold" (func $hold (result i64)))
  (func (export "around") (result i64)
    (local $mine (ref $box))
    (local.set $mine (struct.new $box (i64.const 600)))
    (i64.add (call $hold) (struct.get $box 0 (local.get $mine))))
  (func (export "churn") (param $n i32) (result i32)
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (drop (array.new $kib (i32.const 0) (i32.const 1008)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))
    (i32.const 1)))"#;

#[test]
fn a_linked_instance_with_a_run_in_progress_holds_its_groups_collections() {
    for algorithm in ALGORITHMS {
        let mut host = Linker::new();
        host.func("host", "pause", |vmctx: &mut Vmctx| {
            // Collecting from a host call, where linked code is on the
            // stack below, works; a yield then suspends the run.
            assert!(vmctx.collect_garbage());
            vmctx.yield_();
        });
        let region = MmapRegion::create(2, &gc_heap(256 << 10, algorithm)).unwrap();
        let exporter_module =
            Module::from_bytes(&compile_bytes(PAUSING_EXPORTER.as_bytes()), "ex", &host).unwrap();
        let mut exporter = region.new_instance(exporter_module).unwrap();
        let mut linker = Linker::new();
        linker.instance_module("ex");
        let module =
            Module::from_bytes(&compile_bytes(PAUSING_IMPORTER.as_bytes()), "im", &linker).unwrap();
        let mut importer = region
            .new_instance_builder(module)
            .link("ex", &exporter)
            .build()
            .unwrap();

        // The importer's box and the exporter's survive a collection made
        // in the exporter's host call.
        assert!(importer.run("around", &[]).unwrap().is_yielded());
        assert!(importer.gc_collections() >= 1);
        assert_eq!(
            importer.resume().unwrap().returned().unwrap()[0],
            Val::I64(605)
        );

        // While the exporter's own run is yielded, its frames are out of
        // reach: the group does not collect, and a full heap is exhausted.
        assert!(exporter.run("hold", &[]).unwrap().is_yielded());
        assert!(!importer.collect_garbage());
        match importer.run("churn", &[Val::I32(4096)]) {
            Err(lucet_runtime::Error::Trap { code, .. }) => {
                assert_eq!(code, lucet_runtime::TrapCode::GcHeapExhausted)
            }
            other => panic!("expected the heap's exhaustion, got {other:?}"),
        }
        assert_eq!(
            exporter.resume().unwrap().returned().unwrap()[0],
            Val::I64(5)
        );
        assert_eq!(i32(&mut importer, "churn", &[Val::I32(4096)]), 1);
    }
}
