;; A Compute app that reads the first chunk of the client's body (one
;; `fastly_http_body.read` of at most 64 bytes) and answers at once with
;; `got:` and what it read, without reading the rest; or `read failed`
;; if the read fails.
(module
  (import "fastly_http_req" "body_downstream_get"
    (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_body" "read"
    (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: request, 4: its body, 8: response, 12: its body, 16: bytes read,
  ;; 20: bytes written, 64: "got:" then what was read, 192: "read failed".
  (data (i32.const 64) "got:")
  (data (i32.const 192) "read failed")
  (func (export "_start")
    (if (call $downstream (i32.const 0) (i32.const 4)) (then unreachable))
    (drop (call $resp_new (i32.const 8)))
    (drop (call $body_new (i32.const 12)))
    (if (call $body_read (i32.load (i32.const 4)) (i32.const 68) (i32.const 64)
          (i32.const 16))
      (then
        (drop (call $body_write (i32.load (i32.const 12)) (i32.const 192)
          (i32.const 11) (i32.const 0) (i32.const 20))))
      (else
        (drop (call $body_write (i32.load (i32.const 12)) (i32.const 64)
          (i32.add (i32.const 4) (i32.load (i32.const 16))) (i32.const 0)
          (i32.const 20)))))
    (drop (call $send (i32.load (i32.const 8)) (i32.load (i32.const 12))
      (i32.const 0)))))
