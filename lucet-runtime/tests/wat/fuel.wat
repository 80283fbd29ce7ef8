;; Code to run under a fuel limit (compiled with instruction counting).
(module
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory 1)
  ;; Entry (1) + 3 operators: 4 units.
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "forever") (loop $l (br $l)))
  (func (export "count") (param i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    (local.get $i))
  ;; Exponential recursion without a loop: only entry checks bound it.
  (func $fib (export "fib") (param i64) (result i64)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
      (then (local.get 0))
      (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                     (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
  ;; Calls through the host and back in a loop: the count survives calls.
  (func (export "host_loop") (param i32) (result i32)
    (local $acc i32)
    (loop $l
      (local.set $acc (call $host (local.get $acc)))
      (br_if $l (i32.lt_u (local.get $acc) (local.get 0))))
    (local.get $acc))
  ;; Every branch shape: if/else, br_table, block exits. With the entry's
  ;; 1, the paths cost: 0 -> 7, 1 -> 13, 2 -> 8, 3 and above -> 4.
  (func (export "branches") (param i32) (result i32)
    (local $r i32)
    (block $out
      (block $b2
        (block $b1
          (block $b0
            (br_table $b0 $b1 $b2 $out (local.get 0)))
          (local.set $r (i32.const 10))
          (br $out))
        (local.set $r
          (if (result i32) (i32.eqz (local.get 0))
            (then (i32.const 1))
            (else (i32.const 20)))))
      (local.set $r (i32.add (local.get $r) (i32.const 5))))
    (local.get $r))
  (func (export "trap") (result i32) (unreachable))
)
