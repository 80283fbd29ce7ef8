;; The module examples/embed.c runs: run(n) = scale(0) + scale(1) + ... +
;; scale(n), where scale is the host's.
(module
  (import "env" "scale" (func $scale (param i32) (result i32)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32)
    (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $scale (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.le_u (local.get $i) (local.get $n))))
    (local.get $acc))
)
