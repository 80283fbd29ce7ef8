;; Linear memory: loads and stores of every width, size and grow, bulk memory.
(module
  (memory (export "memory") 1 4)
  (func (export "store_i32") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load_i32") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store_i64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "load_i64") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "store_f64") (param i32 f64) (f64.store (local.get 0) (local.get 1)))
  (func (export "load_f32") (param i32) (result f32) (f32.load (local.get 0)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (export "load8_u") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load16_s") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "load32_u") (param i32) (result i64) (i64.load32_u (local.get 0)))
  ;; A load with a large static offset.
  (func (export "load_offset") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  ;; Sums `len` bytes from `ptr`.
  (func (export "sum") (param $ptr i32) (param $len i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $acc (i32.add (local.get $acc) (i32.load8_u (local.get $ptr))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (local.get $acc))
)
