;; A Compute app that promises to take a further request and then does not.
;; It answers `fresh` (so every request it answers is its instance's first)
;; and makes the promise (`fastly_http_downstream.next_request`), which
;; sends the answer once the promise waits. Then it sleeps
;; 500 ms on a timer without waiting on the promise, and ends: for a POST,
;; after abandoning the promise (`next_request_abandon`); for any other
;; method, by returning with the promise still open. A request handed to
;; the promise meanwhile is never taken by this instance.
(module
  (import "fastly_http_req" "body_downstream_get"
    (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "method_get"
    (func $method_get (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request"
    (func $next_request (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request_abandon"
    (func $abandon (param i32) (result i32)))
  (import "fastly_async_io" "select"
    (func $select (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response, 4: body, 8: nwritten, 12: select's result, 16: promise,
  ;; 20: request, 24: request body, 28: method length, 32: method (16 bytes),
  ;; 64: "fresh".
  (data (i32.const 64) "fresh")
  (func (export "_start")
    (if (call $downstream (i32.const 20) (i32.const 24)) (then unreachable))
    (if (call $method_get (i32.load (i32.const 20)) (i32.const 32) (i32.const 16)
          (i32.const 28))
      (then unreachable))
    (if (call $resp_new (i32.const 0)) (then unreachable))
    (if (call $body_new (i32.const 4)) (then unreachable))
    (if (call $body_write (i32.load (i32.const 4)) (i32.const 64) (i32.const 5)
          (i32.const 0) (i32.const 8))
      (then unreachable))
    (if (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))
      (then unreachable))
    (if (call $next_request (i32.const 0) (i32.const 0) (i32.const 16))
      (then unreachable))
    (if (call $select (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 12))
      (then unreachable))
    ;; "POST" starts with 'P'.
    (if (i32.eq (i32.load8_u (i32.const 32)) (i32.const 80))
      (then (if (call $abandon (i32.load (i32.const 16))) (then unreachable))))))
