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
