;; Compiled with instruction counting (lucetc --count-instructions).
(module
  (func (export "spin")
    (loop $l
      br $l))

  ;; 0 + 1 + ... + (n - 1)
  (func (export "sum") (param $n i32) (result i32)
    (local $i i32)
    (local $acc i32)
    (block $done
      (loop $l
        local.get $i
        local.get $n
        i32.ge_u
        br_if $done
        local.get $acc
        local.get $i
        i32.add
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $l))
    local.get $acc)
)
