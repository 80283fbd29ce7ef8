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
)
