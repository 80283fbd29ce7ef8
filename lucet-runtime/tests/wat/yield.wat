;; Yields to the host through a host function and continues with the value
;; the host resumes with.
(module
  (import "env" "yield_val" (func $yield_val (param i32) (result i32)))
  (import "env" "yield_hold" (func $yield_hold))
  ;; Yields 1..=n, accumulating what the host sends back.
  (func (export "generate") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $acc (i32.add (local.get $acc) (call $yield_val (local.get $i))))
        (br $next)))
    (local.get $acc))
  (func (export "hold") (call $yield_hold))
)
