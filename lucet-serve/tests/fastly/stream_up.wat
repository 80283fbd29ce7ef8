;; A Compute app that sends `POST /up` to the backend `origin` with
;; `fastly_http_req.send_async_streaming`, writes `part1,` and `part2` to
;; the request's body after the send, closes it, waits for the response
;; and answers with it.
(module
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "method_set"
    (func $method_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_async_streaming"
    (func $send_streaming (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_wait"
    (func $wait (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send_downstream (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: request, 4: its body, 8: pending request, 12: response, 16: its
  ;; body, 20: bytes written.
  (data (i32.const 64) "POST")
  (data (i32.const 80) "http://origin/up")
  (data (i32.const 112) "origin")
  (data (i32.const 128) "part1,part2")
  (func (export "_start")
    (if (call $req_new (i32.const 0)) (then unreachable))
    (if (call $body_new (i32.const 4)) (then unreachable))
    (if (call $method_set (i32.load (i32.const 0)) (i32.const 64) (i32.const 4))
      (then unreachable))
    (if (call $uri_set (i32.load (i32.const 0)) (i32.const 80) (i32.const 16))
      (then unreachable))
    (if (call $send_streaming (i32.load (i32.const 0)) (i32.load (i32.const 4))
          (i32.const 112) (i32.const 6) (i32.const 8))
      (then unreachable))
    (if (call $body_write (i32.load (i32.const 4)) (i32.const 128) (i32.const 6)
          (i32.const 0) (i32.const 20))
      (then unreachable))
    (if (call $body_write (i32.load (i32.const 4)) (i32.const 134) (i32.const 5)
          (i32.const 0) (i32.const 20))
      (then unreachable))
    (if (call $body_close (i32.load (i32.const 4))) (then unreachable))
    (if (call $wait (i32.load (i32.const 8)) (i32.const 12) (i32.const 16))
      (then unreachable))
    (drop (call $send_downstream (i32.load (i32.const 12)) (i32.load (i32.const 16))
      (i32.const 0)))))
