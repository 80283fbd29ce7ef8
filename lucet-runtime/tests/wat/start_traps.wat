;; A start function that traps: instantiation fails.
(module
  (func $start unreachable)
  (start $start)
)
