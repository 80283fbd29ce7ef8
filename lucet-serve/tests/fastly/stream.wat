;; A Compute app that streams its response: it sends the head with
;; `send_downstream(streaming = 1)`, writes `first`, waits 500 ms on a timer,
;; writes `second`, and closes the body (which finishes the response).
(module
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (import "fastly_async_io" "select"
    (func $select (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response, 4: body, 8: nwritten, 12: select's result.
  (data (i32.const 64) "first")
  (data (i32.const 80) "second")
  (func (export "_start")
    (drop (call $resp_new (i32.const 0)))
    (drop (call $body_new (i32.const 4)))
    (if (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 1))
      (then unreachable))
    (if (call $body_write (i32.load (i32.const 4)) (i32.const 64) (i32.const 5)
          (i32.const 0) (i32.const 8))
      (then unreachable))
    (if (call $select (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 12))
      (then unreachable))
    (if (call $body_write (i32.load (i32.const 4)) (i32.const 80) (i32.const 6)
          (i32.const 0) (i32.const 8))
      (then unreachable))
    (if (call $body_close (i32.load (i32.const 4)))
      (then unreachable))))
