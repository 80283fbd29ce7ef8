;; A start function that writes memory and a global, counting its runs in
;; the host.
(module
  (import "env" "started" (func $started))
  (memory 1)
  (global $ready (mut i32) (i32.const 0))
  (func $start
    (call $started)
    (i32.store (i32.const 16) (i32.const 0xc0ffee))
    (global.set $ready (i32.const 1)))
  (start $start)
  (func (export "ready") (result i32) (global.get $ready))
  (func (export "load") (result i32) (i32.load (i32.const 16)))
  (func (export "store") (param i32) (i32.store (i32.const 16) (local.get 0)))
)
