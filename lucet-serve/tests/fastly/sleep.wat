;; A Compute app that waits 300 ms on a timer (`fastly_async_io.select` with
;; no handles, as JavaScript's setTimeout does), then answers `slept` with
;; what the select returned (u32::MAX: the timeout passed) as 4
;; little-endian bytes after it.
(module
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_async_io" "select"
    (func $select (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response, 4: body, 8: nwritten, 12: select's result, 64: "slept".
  (data (i32.const 64) "slept")
  (func (export "_start")
    (drop (call $resp_new (i32.const 0)))
    (drop (call $body_new (i32.const 4)))
    (if (call $select (i32.const 0) (i32.const 0) (i32.const 300) (i32.const 12))
      (then unreachable))
    (i32.store (i32.const 69) (i32.load (i32.const 12)))
    (drop (call $body_write (i32.load (i32.const 4)) (i32.const 64)
      (i32.const 9) (i32.const 0) (i32.const 8)))
    (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
      (i32.const 0)))))
