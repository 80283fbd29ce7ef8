;; A Compute app that registers a dynamic backend named `dyn` for the
;; target in its request's `x-target` header, sends `GET /dyn-path` to it
;; and answers with the response. If the registration fails, it answers
;; `register failed: S`, S being the status as one character ('0' + S).
(module
  (import "fastly_http_req" "body_downstream_get"
    (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "header_value_get"
    (func $header (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "register_dynamic_backend"
    (func $register (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send"
    (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send_downstream (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: downstream request, 4: its body, 8: target length, 12: new
  ;; request, 16: its body, 20: response, 24: its body, 28: bytes written,
  ;; 32: status; 64: "x-target", 80: "dyn", 96: "http://dyn/dyn-path",
  ;; 128: "register failed: S", 256: the target.
  (data (i32.const 64) "x-target")
  (data (i32.const 80) "dyn")
  (data (i32.const 96) "http://dyn/dyn-path")
  (data (i32.const 128) "register failed: ?")
  (func (export "_start")
    (local $status i32)
    (if (call $downstream (i32.const 0) (i32.const 4)) (then unreachable))
    (if (call $header (i32.load (i32.const 0)) (i32.const 64) (i32.const 8)
          (i32.const 256) (i32.const 128) (i32.const 8))
      (then unreachable))
    (local.set $status (call $register (i32.const 80) (i32.const 3) (i32.const 256)
      (i32.load (i32.const 8)) (i32.const 0) (i32.const 0)))
    (if (local.get $status)
      (then
        (i32.store8 (i32.const 145) (i32.add (i32.const 48) (local.get $status)))
        (drop (call $resp_new (i32.const 20)))
        (drop (call $body_new (i32.const 24)))
        (drop (call $body_write (i32.load (i32.const 24)) (i32.const 128)
          (i32.const 18) (i32.const 0) (i32.const 28)))
        (drop (call $send_downstream (i32.load (i32.const 20)) (i32.load (i32.const 24))
          (i32.const 0)))
        (return)))
    (if (call $req_new (i32.const 12)) (then unreachable))
    (if (call $uri_set (i32.load (i32.const 12)) (i32.const 96) (i32.const 19))
      (then unreachable))
    (if (call $body_new (i32.const 16)) (then unreachable))
    (if (call $send (i32.load (i32.const 12)) (i32.load (i32.const 16)) (i32.const 80)
          (i32.const 3) (i32.const 20) (i32.const 24))
      (then unreachable))
    (drop (call $send_downstream (i32.load (i32.const 20)) (i32.load (i32.const 24))
      (i32.const 0)))))
