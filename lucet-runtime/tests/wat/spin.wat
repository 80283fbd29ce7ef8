;; Loops that never end (or take long), and one that waits in a host call.
(module
  (import "env" "wait" (func $wait))
  (import "env" "hold" (func $hold))
  (func (export "forever") (loop $l (br $l)))
  (func (export "wait_then_forever") (call $wait) (loop $l (br $l)))
  (func (export "wait_then_return") (result i32) (call $wait) (i32.const 7))
  (func (export "hold_then_forever") (call $hold) (loop $l (br $l)))
  (func (export "count") (param i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    (local.get $i))
  (func $deep (export "recurse_forever") (param i32) (result i32)
    (call $deep (local.get 0)))
  ;; Exponential recursion without a single loop: only function entries
  ;; can stop it.
  (func $fib (param i64) (result i64)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
      (then (local.get 0))
      (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                     (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
  (func (export "wait_then_fib") (param i64) (result i64)
    (call $wait) (call $fib (local.get 0)))
)
