;; v128 through exports, host functions, globals and memory.
(module
  (import "env" "swap_halves" (func $swap (param v128) (result v128)))
  (memory 1)
  (global $g (mut v128) (v128.const i32x4 1 2 3 4))
  (func (export "add") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))
  (func (export "via_host") (param v128) (result v128) (call $swap (local.get 0)))
  (func (export "global") (result v128) (global.get $g))
  (func (export "roundtrip_memory") (param v128) (result v128)
    (v128.store offset=3 (i32.const 0) (local.get 0))
    (v128.load offset=3 (i32.const 0)))
  (func (export "dot") (param v128 v128) (result i32)
    (i32x4.extract_lane 0 (i32x4.dot_i16x8_s (local.get 0) (local.get 1))))
)
