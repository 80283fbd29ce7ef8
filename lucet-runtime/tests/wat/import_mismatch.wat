;; Imports env.foo as (i32) -> i32.
(module
  (import "env" "foo" (func (param i32) (result i32)))
)
