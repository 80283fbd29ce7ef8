;; The module the C API tests (tests/c/api_test.c) run: exports for every
;; outcome of a run, and calls to host functions the test defines.
(module
  (import "host" "count" (func $count (param i32) (result i32)))
  (import "host" "yield" (func $yield (param i64) (result i64)))
  (import "host" "terminate" (func $terminate (param i64)))
  (import "host" "sum_bytes" (func $sum_bytes (param i32 i32) (result i32)))
  (import "host" "bad_result" (func $bad_result (result i32)))
  (import "host" "reenter" (func $reenter (result i32)))
  (import "host" "globals" (func $globals (result i32)))
  (import "host" "grow" (func $grow (param i32) (result i32)))
  (import "host" "many" (func $many (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "host" "offset" (global $offset i32))

  (memory (export "memory") 1 4)
  (data (i32.const 16) "\01\02\03\04")
  (global $g (export "g") (mut i32) (i32.const 5))
  (global $g64 (mut i64) (i64.const 9))
  (global $fixed (export "fixed") i32 (i32.const 3))

  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add)

  ;; (a, b, c) -> (c * 2, a + 1, b / 2): results of three types, reordered.
  (func (export "mixed") (param i64 f32 f64) (result f64 i64 f32)
    local.get 2
    f64.const 2
    f64.mul
    local.get 0
    i64.const 1
    i64.add
    local.get 1
    f32.const 2
    f32.div)

  (func (export "unreachable")
    unreachable)

  (func (export "div") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.div_s)

  (func (export "load") (param i32) (result i32)
    local.get 0
    i32.load)

  (func (export "spin")
    (loop $l
      br $l))

  (func (export "count") (param i32) (result i32)
    local.get 0
    call $count)

  ;; Yields x, then the value it was resumed with plus one; returns the
  ;; second resume value plus 100.
  (func (export "yield_twice") (param i64) (result i64)
    local.get 0
    call $yield
    i64.const 1
    i64.add
    call $yield
    i64.const 100
    i64.add)

  ;; The host ends the run: the global must keep its value.
  (func (export "terminate") (result i32)
    i64.const 77
    call $terminate
    i32.const 999
    global.set $g
    i32.const 1)

  (func (export "sum_bytes") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    call $sum_bytes)

  (func (export "bad_result") (result i32)
    call $bad_result)

  (func (export "reenter") (result i32)
    call $reenter)

  (func (export "set_g") (param i32)
    local.get 0
    global.set $g)

  (func (export "get_g") (result i32)
    global.get $g)

  (func (export "get_g64") (result i64)
    global.get $g64)

  (func (export "globals") (result i32)
    call $globals)

  (func (export "grow") (param i32) (result i32)
    local.get 0
    call $grow)

  (func (export "size") (result i32)
    memory.size)

  (func (export "many") (result i64)
    i32.const 1
    i32.const 2
    i32.const 3
    i32.const 4
    i32.const 5
    i32.const 6
    i32.const 7
    i32.const 8
    i32.const 9
    i32.const 10
    call $many)

  (func (export "offset") (result i32)
    global.get $offset)

  (func (export "v128") (result v128)
    v128.const i64x2 0 0)
)
