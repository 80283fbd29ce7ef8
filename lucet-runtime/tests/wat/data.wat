;; Data segments: active at constant offsets (baked into the memory image),
;; active at an offset read from an imported global, and passive.
(module
  (import "env" "base" (global $base i32))
  (memory (export "memory") 4)
  (data (i32.const 0) "hello")
  (data (i32.const 70000) "\01\02\03")
  (data (i32.const 196600) "end of page 3")
  (data (global.get $base) "relocated")
  (data $passive "passive bytes")
  (func (export "init") (param i32 i32 i32)
    (memory.init $passive (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (data.drop $passive))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
)
