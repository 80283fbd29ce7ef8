//! The modules the benchmarks run, as WebAssembly text.

/// No memory, no imports, one trivial export.
pub const EMPTY: &str = r#"(module (func (export "run")))"#;

/// An infinite loop without calls, for interruption.
pub const SPIN: &str = r#"(module (func (export "run") (loop $l (br $l))))"#;

/// Factorial, recursive (the README's example).
pub const FAC: &str = include_str!("../../examples/fac.wat");

/// A memory initialized with `bytes` bytes of data (not all zero), and a
/// trivial export.
pub fn data(bytes: usize) -> String {
    let pages = bytes.div_ceil(65536) + 1;
    let mut data = String::with_capacity(bytes * 4);
    for i in 0..bytes {
        data.push_str(&format!("\\{:02x}", (i * 7 + 1) as u8));
    }
    format!(r#"(module (memory {pages}) (data (i32.const 0) "{data}") (func (export "run")))"#)
}

/// `n` functions, all in a table of `n` entries, and an export that calls
/// through it.
pub fn many_functions(n: usize) -> String {
    let mut m = String::from("(module (type $t (func (result i32)))\n");
    for i in 0..n {
        m.push_str(&format!("(func $f{i} (type $t) (i32.const {i}))\n"));
    }
    m.push_str(&format!("(table {n} funcref)\n(elem (i32.const 0)"));
    for i in 0..n {
        m.push_str(&format!(" $f{i}"));
    }
    m.push_str(")\n(func (export \"run\") (drop (call_indirect (type $t) (i32.const 0)))))");
    m
}

/// An edge handler: writes all of a 64 KiB stretch of its memory (16 pages)
/// with 8-byte stores.
pub const HANDLER_64K: &str = r#"(module
  (memory 2)
  (func (export "run")
    (local $i i32)
    (loop $l
      (i64.store (local.get $i) (i64.const 0x0101010101010101))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 65536))))))"#;

/// Calls the host `iterations` times (`env.inc`, `(i32) -> i32`).
pub const HOST_CALLS: &str = r#"(module
  (import "env" "inc" (func $inc (param i32) (result i32)))
  (func (export "run") (param $n i32) (result i32)
    (local $acc i32)
    (loop $l
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (local.get $acc)))"#;

/// Yields to the host forever (`env.yield`).
pub const YIELDS: &str = r#"(module
  (import "env" "yield" (func $yield))
  (memory 1)
  (func (export "run") (loop $l (call $yield) (br $l))))"#;

/// Traps at once.
pub const TRAP: &str = r#"(module (func (export "run") unreachable))"#;

/// Yields once (for density: every instance runs and then waits).
pub const IDLE: &str = r#"(module
  (import "env" "yield" (func $yield))
  (memory 1)
  (func (export "run") (call $yield)))"#;

/// A memory of `pages` wasm pages; `run(bytes)` dirties the first `bytes`
/// of it, one 8-byte store per 4 KiB page.
pub fn dirtier(pages: u32) -> String {
    format!(
        r#"(module
  (memory {pages})
  (func (export "run") (param $bytes i32)
    (local $at i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $at) (local.get $bytes)))
        (i64.store (local.get $at) (i64.const 1))
        (local.set $at (i32.add (local.get $at) (i32.const 4096)))
        (br $l)))))"#
    )
}

/// A large program for load benchmarks: `functions` functions shaped like
/// compiled code (loads and stores with offsets, arithmetic, a loop, a
/// call to an earlier function), one in a thousand exported. Deterministic:
/// the same text every time.
pub fn large_program(functions: usize) -> String {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut out = String::with_capacity(functions * 1800);
    out.push_str("(module (memory 16) (type $t (func (param i32 i32) (result i32)))\n");
    for i in 0..functions {
        let export = if i % 1000 == 0 {
            format!(" (export \"f{i}\")")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "(func $f{i}{export} (type $t) (local i32 i32)\n(local.set 2 (local.get 0))\n(block (loop\n"
        ));
        for _ in 0..6 {
            let a = next(4000) * 4;
            out.push_str(&format!(
                "(local.set 3 (i32.add (i32.load offset={a} (i32.and (local.get 2) (i32.const 65532))) (i32.mul (local.get 1) (i32.const {}))))\n\
                 (i32.store offset={} (i32.and (local.get 3) (i32.const 65532)) (i32.xor (local.get 3) (local.get 2)))\n\
                 (local.set 2 (i32.add (local.get 2) (i32.shr_u (local.get 3) (i32.const {}))))\n",
                next(99) + 1,
                a + 4,
                next(7) + 1
            ));
        }
        if i > 0 {
            out.push_str(&format!(
                "(local.set 2 (i32.add (local.get 2) (call $f{} (local.get 3) (i32.const 0))))\n",
                next(i as u64)
            ));
        }
        out.push_str(
            "(br_if 1 (i32.eqz (local.get 1)))\n(local.set 1 (i32.sub (local.get 1) (i32.const 1)))\n(br 0)))\n(local.get 2))\n",
        );
    }
    out.push_str(")\n");
    out
}

/// Binary trees (the benchmarks game's), in WebAssembly GC: `run(max)`
/// builds and checks a stretch tree of depth `max + 1`, keeps a tree of
/// depth `max` alive while it builds and checks `2^(max - d + 4)` trees of
/// each depth `d` from 4 to `max` in steps of 2, and returns the total
/// node count it checked ([`binary_trees_checksum`]).
pub const BINARY_TREES: &str = r#"(module
  (type $node (struct (field $l (ref null $node)) (field $r (ref null $node))))
  (func $make (param $d i32) (result (ref $node))
    (if (result (ref $node)) (i32.eqz (local.get $d))
      (then (struct.new $node (ref.null $node) (ref.null $node)))
      (else
        (struct.new $node
          (call $make (i32.sub (local.get $d) (i32.const 1)))
          (call $make (i32.sub (local.get $d) (i32.const 1)))))))
  (func $check (param $t (ref $node)) (result i32)
    (local $l (ref null $node))
    (local.set $l (struct.get $node $l (local.get $t)))
    (if (result i32) (ref.is_null (local.get $l))
      (then (i32.const 1))
      (else
        (i32.add (i32.const 1)
          (i32.add (call $check (ref.as_non_null (local.get $l)))
            (call $check (ref.as_non_null (struct.get $node $r (local.get $t)))))))))
  (func (export "run") (param $max i32) (result i32)
    (local $long (ref null $node)) (local $d i32) (local $iters i32) (local $i i32)
    (local $sum i32)
    (local.set $sum (call $check (call $make (i32.add (local.get $max) (i32.const 1)))))
    (local.set $long (call $make (local.get $max)))
    (local.set $d (i32.const 4))
    (block $done (loop $depths
      (br_if $done (i32.gt_u (local.get $d) (local.get $max)))
      (local.set $iters
        (i32.shl (i32.const 1) (i32.add (i32.sub (local.get $max) (local.get $d)) (i32.const 4))))
      (local.set $i (i32.const 0))
      (block $trees_done (loop $trees
        (br_if $trees_done (i32.ge_u (local.get $i) (local.get $iters)))
        (local.set $sum (i32.add (local.get $sum) (call $check (call $make (local.get $d)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $trees)))
      (local.set $d (i32.add (local.get $d) (i32.const 2)))
      (br $depths)))
    (i32.add (local.get $sum) (call $check (ref.as_non_null (local.get $long))))))"#;

/// What [`BINARY_TREES`]' `run(max)` returns.
pub fn binary_trees_checksum(max: u32) -> i32 {
    let nodes = |d: u32| (1i64 << (d + 1)) - 1;
    let mut sum = nodes(max + 1) + nodes(max);
    let mut d = 4;
    while d <= max {
        sum += (1i64 << (max - d + 4)) * nodes(d);
        d += 2;
    }
    sum as i32
}

/// A linked list in WebAssembly GC: `run(n)` builds a list of `n` nodes
/// (an `i64` and the next node: 24 bytes each), then walks it and returns
/// the sum of its values, `n (n - 1) / 2`.
pub const LINKED_LIST: &str = r#"(module
  (type $node (struct (field i64) (field (ref null $node))))
  (func (export "run") (param $n i32) (result i64)
    (local $list (ref null $node)) (local $i i32) (local $sum i64)
    (block $built (loop $build
      (br_if $built (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $list (struct.new $node (i64.extend_i32_u (local.get $i)) (local.get $list)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $build)))
    (block $done (loop $walk
      (br_if $done (ref.is_null (local.get $list)))
      (local.set $sum (i64.add (local.get $sum) (struct.get $node 0 (ref.as_non_null (local.get $list)))))
      (local.set $list (struct.get $node 1 (ref.as_non_null (local.get $list))))
      (br $walk)))
    (local.get $sum)))"#;

/// Allocates 1 MiB of GC objects and keeps them alive (in a global):
/// 1,024 arrays of 1 KiB, header included.
pub const GC_MEBIBYTE: &str = r#"(module
  (type $kib (array (mut i8)))
  (type $all (array (mut (ref null $kib))))
  (global $kept (mut (ref null $all)) (ref.null $all))
  (func (export "run")
    (local $i i32) (local $a (ref $all))
    (local.set $a (array.new_default $all (i32.const 1024)))
    (global.set $kept (local.get $a))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (i32.const 1024)))
      (array.set $all (local.get $a) (local.get $i)
        (array.new_default $kib (i32.const 1008)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))))"#;
