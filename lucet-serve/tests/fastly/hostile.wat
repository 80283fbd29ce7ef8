;; A Compute app that misuses the ABI on purpose, and sends back what each
;; misuse returned: one status byte per check, then the number of bodies it
;; could open before the limit, as 4 little-endian bytes. The checks, in
;; order:
;;   0  a body write from a buffer past the end of memory   (inval, 2)
;;   1  a handle written to a misaligned address             (badalign, 6)
;;   2  a read from a handle never opened                    (badf, 3)
;;   3  a header value with a line break                     (inval, 2)
;;   4  opening bodies until refused                          (limitexceeded, 13)
;;   5  a read from the downstream body after it was closed  (badf, 3)
(module
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "header_insert"
    (func $resp_header_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream"
    (func $send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write"
    (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "read"
    (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (import "fastly_http_req" "body_downstream_get"
    (func $downstream (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: response handle, 4: body handle, 8: scratch handle, 12: nwritten,
  ;; 16: downstream request, 20: downstream body,
  ;; 64..: the report, 128: header name, 136: header value.
  (data (i32.const 128) "x-bad")
  (data (i32.const 136) "a\0ab\nc")
  (func (export "_start")
    (local $status i32) (local $count i32)
    (drop (call $resp_new (i32.const 0)))
    (drop (call $body_new (i32.const 4)))
    (drop (call $downstream (i32.const 16) (i32.const 20)))
    ;; 0: a buffer past the end of memory.
    (i32.store8 (i32.const 64)
      (call $body_write (i32.load (i32.const 4)) (i32.const 0xfffffff0)
        (i32.const 100) (i32.const 0) (i32.const 12)))
    ;; 1: a misaligned out-pointer.
    (i32.store8 (i32.const 65) (call $body_new (i32.const 9)))
    ;; 2: a handle never opened.
    (i32.store8 (i32.const 66)
      (call $body_read (i32.const 999999) (i32.const 256) (i32.const 16)
        (i32.const 12)))
    ;; 3: a header value with a line break.
    (i32.store8 (i32.const 67)
      (call $resp_header_insert (i32.load (i32.const 0)) (i32.const 128)
        (i32.const 5) (i32.const 140) (i32.const 4)))
    ;; 4: bodies until refused.
    (block $done
      (loop $more
        (local.set $status (call $body_new (i32.const 8)))
        (br_if $done (local.get $status))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $more)))
    (i32.store8 (i32.const 68) (local.get $status))
    ;; Room for the report's body: close one.
    (drop (call $body_close (i32.load (i32.const 8))))
    ;; 5: the downstream body, closed, then read.
    (drop (call $body_close (i32.load (i32.const 20))))
    (i32.store8 (i32.const 69)
      (call $body_read (i32.load (i32.const 20)) (i32.const 256)
        (i32.const 16) (i32.const 12)))
    (i32.store (i32.const 70) (local.get $count))
    (drop (call $body_write (i32.load (i32.const 4)) (i32.const 64)
      (i32.const 10) (i32.const 0) (i32.const 12)))
    (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
      (i32.const 0)))))
