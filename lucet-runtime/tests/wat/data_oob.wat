;; A data segment past the end of memory: instantiation must fail.
(module
  (memory 1)
  (data (i32.const 65530) "too long for the page")
)
