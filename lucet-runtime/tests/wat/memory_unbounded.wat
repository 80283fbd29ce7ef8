;; A memory without a declared maximum: growth is bounded by the region.
(module
  (memory 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "poke") (param i32) (i32.store8 (local.get 0) (i32.const 7)))
)
